"""Verifying every clinic of an SQLite file checks the file's structure (``PRAGMA quick_check``, which
reads every page) once, not once a clinic; a commit since the check, by another connection or by the
store itself, makes the next verification check again."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, open_practice
from alliancekit.domain import Purpose, Role
from alliancekit.store.sqlite import SQLiteStore

CLINICS = ("clinic-a", "clinic-b", "clinic-c")


class CountingStore(SQLiteStore):
    """An SQLite store that notes each ``quick_check`` its connections run (SQLite's own trace callback)."""

    def __init__(self, path: Path, **options: bool) -> None:
        self.statements: list[str] = []
        super().__init__(path, **options)

    def _take(self) -> sqlite3.Connection:
        conn = super()._take()
        conn.set_trace_callback(self.statements.append)
        return conn

    def quick_checks(self) -> int:
        return sum("quick_check" in statement for statement in self.statements)


def admin(clinic: str) -> Actor:
    return Actor("it-1", Role.ADMINISTRATOR, clinic, Purpose.OPERATIONS)


def add_episode(path: Path, clinic: str, ref: str) -> None:
    with open_practice(path) as practice:
        me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic_id=clinic)
        practice.start_episode(me, client_ref=ref, clinician_id=f"clin-{clinic}", opened_on=date(2026, 1, 5))


@pytest.fixture
def clinics(tmp_path: Path) -> Path:
    path = tmp_path / "clinics.sqlite"
    for clinic in CLINICS:
        add_episode(path, clinic, f"host-{clinic}")
    return path


@pytest.mark.parametrize("read_only", [True, False])
def test_verifying_every_clinic_checks_the_file_once(clinics: Path, read_only: bool) -> None:
    store = CountingStore(clinics, read_only=read_only)
    with contextlib.closing(store), open_practice(store, read_only=read_only) as practice:
        reports = [practice.verify(admin(clinic)) for clinic in CLINICS]
    assert all(report.ok for report in reports)
    assert store.quick_checks() == 1


def test_a_commit_by_another_connection_makes_the_next_verification_check_again(clinics: Path) -> None:
    store = CountingStore(clinics, read_only=True)
    with contextlib.closing(store), open_practice(store, read_only=True) as practice:
        assert practice.verify(admin("clinic-a")).ok
        assert store.quick_checks() == 1
        add_episode(clinics, "clinic-b", "host-later")
        assert practice.verify(admin("clinic-b")).ok
        assert store.quick_checks() == 2
        assert practice.verify(admin("clinic-c")).ok
        assert store.quick_checks() == 2


def test_a_commit_by_the_store_itself_makes_the_next_verification_check_again(clinics: Path) -> None:
    store = CountingStore(clinics)
    with contextlib.closing(store), open_practice(store) as practice:
        assert practice.verify(admin("clinic-a")).ok
        me = Actor("clin-clinic-a", Role.CLINICIAN, clinic_id="clinic-a")
        practice.start_episode(
            me, client_ref="host-mine", clinician_id="clin-clinic-a", opened_on=date(2026, 2, 2)
        )
        assert practice.verify(admin("clinic-a")).ok
        assert store.quick_checks() == 2
