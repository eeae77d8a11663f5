"""``alliancekit demo`` replaces only a database it made itself, and checks its arguments first."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main

D = date(2026, 1, 19)
_SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, "demo-clinic")
_ADMIN = Actor("adm-1", Role.ADMINISTRATOR, "demo-clinic")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def real_practice(tmp_path: Path) -> Path:
    """A practice the demo did not make: one episode in a clinic of its own."""
    db = tmp_path / "clinic.sqlite"
    with open_practice(db) as practice:
        practice.start_episode(
            Actor("clin-a", Role.CLINICIAN, "north"),
            client_ref="client-1",
            clinician_id="clin-a",
            opened_on=D,
        )
    return db


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_real_practice_is_refused_and_left_as_it_was(
    real_practice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _digest(real_practice)
    code, err = run(capsys, "demo", "--db", str(real_practice), "--clients", "12", "--quiet")
    assert code == 2
    assert "an alliancekit practice the demo did not make (it holds the clinics north)" in err
    assert "Pass --force to replace it" in err
    assert _digest(real_practice) == before
    with open_practice(real_practice, read_only=True) as practice:
        assert practice.clinics() == ["north"]


def test_force_replaces_a_practice_the_demo_did_not_make(
    real_practice: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(capsys, "demo", "--db", str(real_practice), "--clients", "12", "--quiet", "--force")
    assert code == 0, err
    with open_practice(real_practice, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_an_earlier_demo_is_replaced_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "--seed", "1", "-q")[0] == 0
    first = _digest(db)
    assert run(capsys, "demo", "--db", str(db), "--clients", "13", "--seed", "2", "-q")[0] == 0
    assert _digest(db) != first
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_a_real_practice_whose_clinic_is_called_demo_clinic_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "clinic.sqlite"
    with open_practice(db) as practice:  # the demo's clinic id, but not made by the demo: no mark
        practice.start_episode(
            Actor("clin-a", Role.CLINICIAN, "demo-clinic"),
            client_ref="c-1",
            clinician_id="clin-a",
            opened_on=D,
        )
    before = _digest(db)
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet")
    assert code == 2
    assert "the demo did not make (it holds the clinics demo-clinic)" in err
    assert _digest(db) == before
    with open_practice(db, read_only=True) as practice:
        assert not practice.is_demo()
    code, err = run(capsys, "demo", "--db", str(db), "--clients", "12", "--quiet", "--force")
    assert code == 0, err
    with open_practice(db) as practice:
        assert practice.is_demo()
        assert "c-1" not in {row.client_ref for row in practice.caseload(_SUPERVISOR, include_closed=True)}


def test_the_demo_marks_what_it_made_and_the_mark_is_audited(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    with open_practice(db) as practice:
        assert practice.is_demo()
        marks = [e for e in practice.audit_entries(_ADMIN) if e.action == "mark-demo"]
    assert [(e.actor_id, e.outcome) for e in marks] == [("demo-admin", "allowed")]


def test_a_file_that_is_not_alliancekits_is_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.sqlite"
    notes.write_bytes(b"someone else's file")
    code, err = run(capsys, "demo", "--db", str(notes), "--force", "-q")
    assert code == 2
    assert "not an alliancekit database; the demo never replaces other files" in err
    assert notes.read_bytes() == b"someone else's file"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--clients", "11"], "--clients: at least 12"),
        (["--clients", "0"], "--clients: at least 12"),
        (["--out", "{file}"], "exists and is not a directory"),
    ],
)
def test_arguments_are_checked_before_any_file_is_touched(
    argv: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    before = _digest(db)
    afile = tmp_path / "a-file"
    afile.write_text("x")
    code, err = run(capsys, "demo", "--db", str(db), "-q", *(a.format(file=afile) for a in argv))
    assert code == 2
    assert says in err
    assert _digest(db) == before  # the earlier demo is still there, whole


def test_twelve_clients_is_the_least_the_demo_takes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "demo", "--db", str(tmp_path / "d.sqlite"), "--clients", "12", "-q")[0] == 0


def test_an_empty_file_is_filled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "empty.sqlite"
    db.write_bytes(b"")
    assert run(capsys, "demo", "--db", str(db), "--clients", "12", "-q")[0] == 0
    with open_practice(db, read_only=True) as practice:
        assert practice.clinics() == ["demo-clinic"]


def test_a_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "demo", "--db", str(tmp_path), "-q")
    assert code == 2
    assert "not a file" in err
