"""``import --create`` that fails before it commits anything removes the database it created, and only that:
a first run refused at its first row, or stopped by Ctrl-C before its first checkpoint, leaves no empty
database behind (the same command creates it anew); a file that was there before is kept, and so is a new
database once a batch is committed (its checkpoint resumes the import)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import FrameType

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.practice import practice_files

EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
MAPPING = str(EXAMPLES / "openfit-style.toml")
SOURCE = EXAMPLES / "openfit-style.csv"


def _bad_first_row(tmp_path: Path) -> Path:
    """The sample with its first data row's date made invalid: the import stops before any unit."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[2] = "31/02/2024"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", encoding="utf-8")
    return bad


def _import(db: Path, source: Path, *extra: str) -> list[str]:
    return ["import", "csv", "--create", "--db", str(db), "--mapping", MAPPING, *extra, str(source)]


def test_a_first_run_refused_at_its_first_row_removes_the_database_it_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.sqlite"
    code = main(_import(db, _bad_first_row(tmp_path)))
    err = capsys.readouterr().err
    assert code == 1
    assert "row 2, Session Date: date-format" in err
    assert f"alliancekit: the new database {db} was removed (nothing was imported)" in err
    assert not any(file.exists() for file in practice_files(db))
    assert main(_import(db, SOURCE)) == 0  # the same command, the file fixed, creates it anew


def test_an_empty_file_that_was_there_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "mine.sqlite"
    db.write_bytes(b"")
    assert main(_import(db, _bad_first_row(tmp_path))) == 1
    assert "was removed" not in capsys.readouterr().err
    assert db.exists()


def test_a_refusal_after_a_committed_batch_keeps_the_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The error is on a later row: the units before it are committed and checkpointed, so kept."""
    lines = SOURCE.read_text(encoding="utf-8").splitlines()
    cells = lines[-1].split(",")
    cells[2] = "31/02/2024"
    late = tmp_path / "late.csv"
    late.write_text("\n".join([*lines[:-1], ",".join(cells)]) + "\n", encoding="utf-8")
    db = tmp_path / "new.sqlite"
    assert main(_import(db, late, "--batch-size", "1")) == 1
    assert "was removed" not in capsys.readouterr().err
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics()


@pytest.mark.skipif(sys.platform == "win32", reason="a trace function stands for a POSIX signal's landing")
def test_a_run_interrupted_before_its_first_commit_removes_the_database_it_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C lands while the first batch is being written (raised here by a trace function at the
    writer's first line, where a signal would land): nothing is committed, so nothing is kept."""
    db = tmp_path / "new.sqlite"
    writer = os.path.join("imports", "writer.py")

    def interrupt_in_the_writer(frame: FrameType, event: str, arg: object) -> object:
        if frame.f_code.co_filename.endswith(writer) and frame.f_code.co_name == "_write":
            raise KeyboardInterrupt
        return interrupt_in_the_writer

    sys.settrace(interrupt_in_the_writer)
    try:
        code = main(_import(db, SOURCE))
    finally:
        sys.settrace(None)
    err = capsys.readouterr().err
    assert code == 130
    assert err == f"alliancekit: interrupted; the new database {db} was removed (nothing was imported)\n"
    assert not any(file.exists() for file in practice_files(db))
