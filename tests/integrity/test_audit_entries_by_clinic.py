"""``Practice.audit_entries`` reads its clinic's entries in the store's query, with the same results.

It read the whole audit log (every clinic's entries) and kept the auditor's clinic's in Python. Stores that
chain the audit log per clinic (memory, SQLite) now read that clinic's chains, those of calls made without an
actor and the shared part an older file kept, and only the rows of those two clinics; a clinic-scoped store
(PostgreSQL) holding another clinic is not read. The results are those of the old filter, entry for entry and
in order, for every filter the call takes; the store is never asked for another clinic's rows.
"""

from __future__ import annotations

import collections
import gzip
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.domain.checks import NO_CLINIC
from alliancekit.errors import MissingActor
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .conftest import HOST

NORTH, SOUTH = "north", "south"
ZONES = {NORTH: "Pacific/Auckland", SOUTH: "America/Los_Angeles"}
#: 20 hours a tick: the entries fall on several calendar days of each clinic, in its own zone.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(hours=20)
OLD_STORES = Path(__file__).parent / "old_stores"


class _Counted:
    """Counts the clinics of the audit rows the store's ``audit_records`` reads out (every call)."""

    read: collections.Counter[str]

    def audit_records(self, **filters: Any) -> list[AuditRecord]:
        rows: list[AuditRecord] = super().audit_records(**filters)  # type: ignore[misc]
        self.read.update(r.clinic_id for r in rows)
        return rows


class CountedMemory(_Counted, MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.read = collections.Counter()


class CountedSQLite(_Counted, SQLiteStore):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.read = collections.Counter()


def _old_entries(
    store: Any, clinic: str, *, about: str | None, by: str | None, first: date | None, last: date | None
) -> list[AuditRecord]:
    """What the view returned before: the whole log read, filtered and sorted in Python."""
    zone = ZoneInfo(ZONES.get(clinic, "UTC"))
    entries = [
        r
        for r in store.audit_records()
        if r.clinic_id in (clinic, "(none)")
        and (about is None or r.client_ref == about)
        and (by is None or r.actor_id == by)
        and (first is None or r.at.astimezone(zone).date() >= first)
        and (last is None or r.at.astimezone(zone).date() <= last)
    ]
    return sorted(entries, key=lambda r: (r.at, r.shard, r.position))


def _practice(store: Any) -> Practice:
    ticks = iter(range(10**9))
    return Practice(store, plugins=HOST, clock=lambda: T0 + STEP * next(ticks), clinic_time_zones=ZONES)


def _write_both_clinics(practice: Practice) -> None:
    for clinic in (NORTH, SOUTH):
        for n in (1, 2):
            me = Actor(f"clin-{n}", Role.CLINICIAN, clinic)
            ref = f"client-{n}"
            ep = practice.start_episode(me, client_ref=ref, clinician_id=me.id, opened_on=date(2026, 2, 2))
            practice.episode(me, ep)
    with pytest.raises(MissingActor):
        practice.caseload(None)  # type: ignore[arg-type]


#: (client_ref, actor_id, since, until) the listing is asked with.
FILTERS: list[tuple[str | None, str | None, date | None, date | None]] = [
    (None, None, None, None),
    ("client-1", None, None, None),
    (None, "clin-2", None, None),
    (None, None, date(2026, 3, 5), None),
    (None, None, None, date(2026, 3, 8)),
    ("client-2", "clin-2", date(2026, 3, 3), date(2026, 3, 12)),
]


def _check(practice: Practice, store: Any, clinics: Sequence[str]) -> None:
    seen: list[int] = []
    for clinic in clinics:
        admin = Actor(f"adm-{clinic}", Role.ADMINISTRATOR, clinic)
        for about, by, first, last in FILTERS:
            store.read.clear()
            got = practice.audit_entries(admin, client_ref=about, actor_id=by, since=first, until=last)
            read = dict(store.read)
            assert got == _old_entries(store, clinic, about=about, by=by, first=first, last=last)
            assert set(read) <= {clinic, NO_CLINIC}, read  # no other clinic's row was read
            assert read.get(clinic, 0) >= 1
            seen.append(len(got))
    assert all(seen), repr(seen)  # every filter found something: the comparison compares entries


STORES: dict[str, Callable[[Path], Any]] = {
    "memory": lambda _: CountedMemory(),
    "sqlite": lambda tmp: CountedSQLite(tmp / "p.sqlite"),
}


@pytest.mark.parametrize("kind", sorted(STORES))
def test_the_listing_reads_only_its_clinic_and_returns_what_it_did(kind: str, tmp_path: Path) -> None:
    store = STORES[kind](tmp_path)
    with _practice(store) as practice:
        _write_both_clinics(practice)
        assert {
            r.clinic_id for r in _old_entries(store, NORTH, about=None, by=None, first=None, last=None)
        } == {
            NORTH,
            NO_CLINIC,
        }
        _check(practice, store, (NORTH, SOUTH))


def test_an_upgraded_file_reads_its_shared_part_by_clinic_too(tmp_path: Path) -> None:
    """A file from before chains per clinic keeps both clinics' earlier entries in one shared part: the
    listing reads that part's rows of its own clinic only."""
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        gzip.decompress((OLD_STORES / "v10-shared-chains-2ab21ee.sql.gz").read_bytes()).decode()
    )
    conn.close()
    store = CountedSQLite(path)
    with _practice(store) as practice:
        _write_both_clinics(practice)
        shared = {r.clinic_id for r in store.audit_records(chains=("",))}
        assert {NORTH, SOUTH} <= shared
        _check(practice, store, (NORTH, SOUTH))
