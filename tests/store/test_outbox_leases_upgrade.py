"""A database from before the outbox kept when a lease began (SQLite migration 9): a lease taken before the
upgrade runs to its end as it did, and a lease taken after it begins again when the clock steps back."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION, OUTBOX_LEASES_FROM
from alliancekit.testing.outbox import T0, commit_with_outbox

TICK = timedelta(microseconds=1)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _claimed(store: SQLiteStore, channel: str, seconds: float, delta: timedelta = timedelta()) -> list[str]:
    now = _at(seconds) + delta
    return [r.message_id for r in store.claim_outbox("A", [channel], now, now + timedelta(seconds=30), 10)]


def test_a_lease_from_before_the_upgrade_runs_to_its_end_and_a_later_one_begins_again(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    store = SQLiteStore(path)
    store.append(commit_with_outbox("ep-1", 0, [("old", "email", _at(0)), ("new", "pager", _at(0))]))
    assert _claimed(store, "email", 1) == ["old"]  # leased until _at(31)
    store.close()
    with sqlite3.connect(path) as conn:  # the database as migration 8 left it
        conn.execute("DROP INDEX outbox_leases")
        conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
        conn.execute(f"PRAGMA user_version = {OUTBOX_LEASES_FROM - 1}")
    conn.close()
    store = SQLiteStore(path)  # migrates
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _claimed(store, "pager", 1) == ["new"]  # leased until _at(31), its start kept
        # An hour back: the lease with a start begins again here, for its 30 seconds; the one without runs on.
        assert _claimed(store, "pager", -3600) == []
        assert _claimed(store, "email", -3600) == []
        assert _claimed(store, "pager", -3570, -TICK) == []
        assert _claimed(store, "pager", -3570) == ["new"]
        assert _claimed(store, "email", 31, -TICK) == []
        assert _claimed(store, "email", 31) == ["old"]
    finally:
        store.close()
