"""The longest CSV record read (``MAX_RECORD_CHARS``, line breaks included; a quoted field over several
lines is one record): the header's line and any record at the bound are read, one character over is a row
error (row, ``row``, ``max-size``) that names no value, and the file is read no further than the bound."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from alliancekit.imports.csv_source import MAX_RECORD_CHARS

from .conftest import HEADER, import_csv, write_mapping

MAX_RECORD = f"a record of more than {MAX_RECORD_CHARS:,} characters"
#: Each padding cell stays under the CSV reader's own field limit (131,072 characters).
CELL = 100_000
DATA = "c-1,1,08/01/2024,Y,5,,,,,,,,synthetic\r\n"


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def _padding(length: int, quoted: bool) -> list[str]:
    """Blank cells (spaces; quoted, each ending in a line break) that, each after a comma, take ``length``
    characters; each under the reader's field limit."""
    count = -(-length // (CELL + 3))
    quotes = 2 if quoted else 0
    room = length - count * (1 + quotes)
    sizes = [room // count + (1 if i < room % count else 0) for i in range(count)]
    cells = [f'"{" " * (n - 1)}\n"' if quoted else " " * n for n in sizes]
    assert sum(len(c) + 1 for c in cells) == length
    return cells


def _record(length: int, quoted: bool) -> str:
    """A blank record (every cell blank) of ``length`` characters with its line break."""
    cells = _padding(length - 2, quoted)  # each after a comma (the first after an empty cell), then CRLF
    text = "," + ",".join(cells) + "\r\n"
    assert len(text) == length
    return text


@pytest.mark.parametrize("quoted", [False, True], ids=["one-line", "quoted-lines"])
@pytest.mark.parametrize("over", [0, 1], ids=["at-the-bound", "one-over"])
def test_a_record_at_the_bound_is_read_and_one_character_over_is_a_row_error(
    over: int, quoted: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "history.csv"
    text = (
        ",".join(HEADER)
        + "\r\n"
        + DATA
        + _record(MAX_RECORD_CHARS + over, quoted)
        + DATA.replace("c-1", "c-2")
    )
    source.write_text(text, encoding="utf-8", newline="")
    code, out, err = import_csv(capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), source, "--dry-run")
    if over:
        assert code == 1
        assert _errors(err) == [f"error: row 3, row: max-size ({MAX_RECORD})"]
    else:
        assert (code, _errors(err)) == (0, [])
        assert out.startswith("checked 2 units: 2 to write")


@pytest.mark.parametrize("over", [0, 1], ids=["at-the-bound", "one-over"])
def test_a_header_at_the_bound_is_read_and_one_character_over_is_a_row_error(
    over: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ",".join(HEADER)
    padding = _padding(MAX_RECORD_CHARS + over - len(base) - 2, quoted=False)
    header = base + "," + ",".join(padding) + "\r\n"
    assert len(header) == MAX_RECORD_CHARS + over
    source = tmp_path / "history.csv"
    source.write_text(
        header + DATA.replace("\r\n", "," * len(padding) + "\r\n"), encoding="utf-8", newline=""
    )
    code, out, err = import_csv(capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), source, "--dry-run")
    if over:
        assert code == 1
        assert _errors(err) == [f"error: row 1, row: max-size ({MAX_RECORD})"]
    else:
        assert (code, _errors(err)) == (0, [])
        assert out.startswith("checked 1 units: 1 to write")


@pytest.mark.parametrize("where", [1, 2], ids=["header", "data"])
def test_an_endless_line_is_refused_without_reading_it_whole(
    where: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that is one line of 96 MiB after its header (or from its start): refused at its row, while
    the memory the import takes stays well under the line's size (it reads no further than the bound)."""
    source = tmp_path / "history.csv"
    head = b"" if where == 1 else (",".join(HEADER) + "\r\n").encode()
    source.write_bytes(head + b"c-1," + b"x" * (96 * 1024 * 1024))
    tracemalloc.start()
    try:
        code, _, err = import_csv(capsys, tmp_path / "p.sqlite", write_mapping(tmp_path), source, "--dry-run")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 1
    assert _errors(err) == [f"error: row {where}, row: max-size ({MAX_RECORD})"]
    assert peak < 4 * MAX_RECORD_CHARS  # the line is 6 times the bound
