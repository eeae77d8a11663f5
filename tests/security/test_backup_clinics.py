"""Who may back up a store that holds several clinics, and whose audit logs the backup is entered in: on
SQLite files on disk.

Before it, an administrator of one clinic copied a file that also held another clinic's records, and the
backup was entered in their own clinic's log only: the other clinic's log never showed its records copied.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, open_practice
from alliancekit.domain import Purpose, Role
from alliancekit.errors import AccessDenied, ValidationError

D = date(2026, 1, 5)


def _admin(clinic: str) -> Actor:
    return Actor(f"it-{clinic}", Role.ADMINISTRATOR, clinic_id=clinic)


SYSTEM = Actor("nightly-backup", Role.SYSTEM, clinic_id="ops", purpose=Purpose.OPERATIONS)


def _practice(path: Path, *clinics: str) -> Path:
    with open_practice(path) as practice:
        for clinic in clinics:
            me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic_id=clinic)
            practice.start_episode(me, client_ref=f"host-{clinic}", clinician_id=me.id, opened_on=D)
    return path


def _backups(path: Path) -> list[tuple[str, str, str, str]]:
    """Every back-up entry in the file: (clinic, actor, role, outcome)."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT clinic_id, actor_id, actor_role, outcome FROM audit WHERE action = 'back-up'"
            " ORDER BY clinic_id, outcome"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_an_administrator_backs_up_a_store_of_their_own_clinic_only(tmp_path: Path) -> None:
    live = _practice(tmp_path / "north.sqlite", "north")
    with open_practice(live) as practice:
        practice.back_up(_admin("north"), tmp_path / "copy.sqlite")
    assert _backups(live) == [("north", "it-north", "administrator", "allowed")]
    with open_practice(tmp_path / "copy.sqlite", read_only=True) as copy:
        assert copy.verify(_admin("north")).ok


def test_an_administrator_of_one_clinic_is_refused_a_store_of_several_and_the_refusal_audited(
    tmp_path: Path,
) -> None:
    live = _practice(tmp_path / "shared.sqlite", "north", "south")
    with open_practice(live) as practice, pytest.raises(AccessDenied, match="another clinic's records"):
        practice.back_up(_admin("north"), tmp_path / "copy.sqlite")
    assert not (tmp_path / "copy.sqlite").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]  # no staged copy either
    assert _backups(live) == [("north", "it-north", "administrator", "refused")]


def test_another_clinics_audit_entries_alone_make_the_store_theirs_too(tmp_path: Path) -> None:
    """South has no episode here, only an audit entry (a refused reach): the copy would hold it."""
    live = _practice(tmp_path / "north.sqlite", "north")
    with open_practice(live) as practice:
        with pytest.raises(AccessDenied):
            practice.audit_entries(Actor("clin-south", Role.CLINICIAN, clinic_id="south"))
        assert practice.clinics() == ["north"]
        with pytest.raises(AccessDenied):
            practice.back_up(_admin("north"), tmp_path / "copy.sqlite")
    assert not (tmp_path / "copy.sqlite").exists()


def test_the_system_actor_backs_up_a_store_of_several_clinics_audited_in_each(tmp_path: Path) -> None:
    live = _practice(tmp_path / "shared.sqlite", "north", "south")
    with open_practice(live) as practice:
        practice.back_up(SYSTEM, tmp_path / "copy.sqlite")
        for clinic in ("north", "south"):  # each clinic's own log shows its records were copied
            (entry,) = [e for e in practice.audit_entries(_admin(clinic)) if e.action == "back-up"]
            assert (entry.clinic_id, entry.actor_id, entry.outcome) == (clinic, "nightly-backup", "allowed")
    assert _backups(live) == [
        ("north", "nightly-backup", "system", "allowed"),
        ("south", "nightly-backup", "system", "allowed"),
    ]
    assert _backups(tmp_path / "copy.sqlite") == _backups(live)  # the copy holds the entries of its making
    with open_practice(tmp_path / "copy.sqlite", read_only=True) as copy:
        assert all(copy.verify(_admin(clinic)).ok for clinic in ("north", "south"))


def test_an_empty_store_is_backed_up_by_any_administrator_in_their_clinic(tmp_path: Path) -> None:
    live = _practice(tmp_path / "empty.sqlite")
    with open_practice(live) as practice:
        practice.back_up(_admin("north"), tmp_path / "copy.sqlite")
    assert _backups(live) == [("north", "it-north", "administrator", "allowed")]


class _BytesPath:
    """A path-like object whose path is bytes (``os.fspath`` allows it; ``Path`` does not)."""

    def __fspath__(self) -> bytes:
        return b"copy.sqlite"


@pytest.mark.parametrize(
    ("target", "rule"),
    [("\x00", "path"), ("copy\x00.sqlite", "path"), ("", "type"), (_BytesPath(), "type"), (3, "type")],
    ids=["nul", "nul-inside", "empty", "bytes-path-like", "not-a-path"],
)
def test_a_target_no_file_system_takes_is_refused_before_anything_is_decided_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: object, rule: str
) -> None:
    """A NUL in the path reached the copy as Python's own ``ValueError``, after the allowed entry was
    written (found by the public-API fuzz): now a ``ValidationError`` naming the target, and no entry."""
    live = _practice(tmp_path / "north.sqlite", "north")
    monkeypatch.chdir(tmp_path)
    with open_practice(live) as practice, pytest.raises(ValidationError) as refused:
        practice.back_up(_admin("north"), target)  # type: ignore[arg-type]
    assert (refused.value.field, refused.value.rule) == ("target", rule)
    assert "\x00" not in str(refused.value)
    assert _backups(live) == []
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("north.sqlite")] == []  # no copy
