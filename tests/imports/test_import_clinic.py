"""Which clinic an import writes into: a ``--clinic`` the practice does not hold is taken for a typo (it would
start a clinic of its own and split the history) unless ``--new-clinic`` says it is meant."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from .conftest import CLINIC, import_csv, row, run, sessions, write_csv, write_mapping


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def practice_with_north(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, Path]:
    """A practice holding one clinic (north), and a second history to import."""
    mapping = write_mapping(tmp_path)
    first = write_csv(tmp_path, [row("c-1", "2025-01-06", phq9="12")], name="first.csv")
    db = tmp_path / "practice.sqlite"
    code, _, err = import_csv(capsys, db, mapping, first)
    assert code == 0, err
    second = write_csv(tmp_path, [row("c-2", "2025-02-03", phq9="9")], name="second.csv")
    return db, mapping, second


def _import_into(
    capsys: pytest.CaptureFixture[str], db: Path, mapping: Path, source: Path, *more: str
) -> tuple[int, str, str]:
    argv = ["import", "csv", "--db", str(db), "--mapping", str(mapping), *more, str(source)]
    return run(capsys, *argv)


@pytest.mark.parametrize("dry_run", [(), ("--dry-run",)], ids=["import", "dry-run"])
def test_a_clinic_the_practice_does_not_hold_is_refused_and_nothing_is_written(
    practice_with_north: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str], dry_run: tuple[str, ...]
) -> None:
    db, mapping, second = practice_with_north
    before = _digest(db)
    code, out, err = _import_into(capsys, db, mapping, second, "--clinic", "nrth", *dry_run)
    assert code == 2
    assert "--clinic: no such clinic in this practice (it holds: north)" in err
    assert "--new-clinic" in err
    assert "nrth" not in err + out  # the value typed is never echoed (it may be a client's name)
    assert _digest(db) == before
    assert sessions(db, "nrth") == {}


def test_new_clinic_imports_into_a_new_clinic_and_the_same_command_resumes(
    practice_with_north: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping, second = practice_with_north
    argv = ("--clinic", "south", "--new-clinic")
    code, _, err = _import_into(capsys, db, mapping, second, *argv)
    assert code == 0, err
    assert sessions(db, "south") == {"c-2": [("2025-02-03", "attended", (("phq-9", 9),))]}
    assert set(sessions(db, CLINIC)) == {"c-1"}
    # the clinic now exists: the same command line runs again and writes nothing twice
    code, _, err = _import_into(capsys, db, mapping, second, *argv)
    assert code == 0, err
    assert sessions(db, "south") == {"c-2": [("2025-02-03", "attended", (("phq-9", 9),))]}


def test_a_clinic_the_practice_holds_needs_no_new_clinic(
    practice_with_north: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping, second = practice_with_north
    code, _, err = _import_into(capsys, db, mapping, second, "--clinic", CLINIC)
    assert code == 0, err
    assert set(sessions(db, CLINIC)) == {"c-1", "c-2"}


def test_any_clinic_starts_a_new_practice_without_new_clinic(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = write_mapping(tmp_path)
    source = write_csv(tmp_path, [row("c-1", "2025-01-06", phq9="12")])
    db = tmp_path / "practice.sqlite"
    code, _, err = _import_into(capsys, db, mapping, source, "--create", "--clinic", "east")
    assert code == 0, err
    assert set(sessions(db, "east")) == {"c-1"}


def test_new_clinic_without_clinic_is_a_usage_error_that_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = write_mapping(tmp_path)
    source = write_csv(tmp_path, [row("c-1", "2025-01-06", phq9="12")])
    db = tmp_path / "practice.sqlite"
    code, _, err = _import_into(capsys, db, mapping, source, "--create", "--new-clinic")
    assert code == 2
    assert "--new-clinic: name the new clinic with --clinic" in err
    assert not db.exists()
