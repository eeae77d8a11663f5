"""One clinician's caseload with the other clinicians' rows under a lockbox on SQLite: found on the partial
index of migration 7 (the rows without directives are never read), and on a database from before it, read
only, without the index to the same rows; a writable open adds the index."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION, UNDER_LOCKBOX_FROM

DAY = date(2026, 3, 2)
PLUGINS = make_plugin_host(load_entry_points=False)
OWN = Actor("clin-1", Role.CLINICIAN, "clinic-a")
NEW = Actor("clin-2", Role.CLINICIAN, "clinic-a")
QUERIES = [
    (clinician, open_only, closed)
    for clinician in (OWN.id, NEW.id, "nobody")
    for open_only in (True, False)
    for closed in (True, False)
]


def _reads(store: SQLiteStore) -> list[list[str]]:
    return [
        [
            r.episode_id
            for r in store.caseload(
                clinic_id="clinic-a",
                clinician_id=clinician,
                open_only=open_only,
                closed_under_lockbox=closed,
                others_under_lockbox=True,
            )
        ]
        for clinician, open_only, closed in QUERIES
    ]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """clin-1's episode transferred to clin-2 under a directive, and one each without."""
    path = tmp_path / "p.sqlite"
    with open_practice(path, plugins=PLUGINS) as p:
        moved = p.start_episode(OWN, client_ref="ref-1", clinician_id=OWN.id, opened_on=DAY)
        p.transfer(OWN, moved, to_clinician_id=NEW.id, on=DAY, reason="leave")
        p.set_lockbox(NEW, moved, scope="class", classes=["administrative"], on=DAY)
        for who in (OWN, NEW):
            p.start_episode(who, client_ref=f"ref-{who.id}", clinician_id=who.id, opened_on=DAY)
    return path


def _plan(store: SQLiteStore) -> str:
    seen: list[str] = []
    conn = store._connect()
    read = store._read

    def explain(query: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        seen.extend(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + query, params))
        return read(query, params)

    store._read = explain  # type: ignore[method-assign]
    try:
        store.caseload(clinic_id="clinic-a", clinician_id=OWN.id, others_under_lockbox=True)
    finally:
        del store._read
    return "\n".join(seen)


def test_the_other_clinicians_rows_come_from_the_partial_index(path: Path) -> None:
    store = SQLiteStore(path, read_only=True)
    try:
        assert "USING INDEX episodes_under_lockbox" in _plan(store)
        clin_1 = _reads(store)[QUERIES.index((OWN.id, True, False))]
        assert len(clin_1) == 2  # its own open episode and clin-2's under the directive
    finally:
        store.close()


def test_a_database_from_before_the_index_reads_the_same_rows(path: Path) -> None:
    store = SQLiteStore(path, read_only=True)
    expected = _reads(store)
    store.close()
    with sqlite3.connect(path) as conn:  # back to the schema before the index
        conn.execute("DROP INDEX episodes_under_lockbox")
        conn.execute("DROP INDEX outbox_waits")  # and migration 8's outbox column
        conn.execute("ALTER TABLE outbox DROP COLUMN wait_began_at")
        conn.execute("DROP INDEX outbox_leases")  # and migration 9's
        conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
        conn.execute(f"PRAGMA user_version = {UNDER_LOCKBOX_FROM - 1}")
    conn.close()
    store = SQLiteStore(path, read_only=True)  # a read-only open never migrates
    try:
        assert store.schema_version() == UNDER_LOCKBOX_FROM - 1
        assert "episodes_under_lockbox" not in _plan(store)
        assert _reads(store) == expected
    finally:
        store.close()
    store = SQLiteStore(path)  # a writable open adds the index
    try:
        assert store.schema_version() == LATEST_VERSION
        assert "USING INDEX episodes_under_lockbox" in _plan(store)
        assert _reads(store) == expected
    finally:
        store.close()
