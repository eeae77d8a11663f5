"""A database from before the outbox kept when a wait began (SQLite migration 8): its messages keep working,
and its pending messages due at their creation are due at once whatever the clock did, after the upgrade."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION, OUTBOX_WAITS_FROM
from alliancekit.testing.outbox import T0, commit_with_outbox

TICK = timedelta(microseconds=1)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _claimed(store: SQLiteStore, channel: str, seconds: float, delta: timedelta = timedelta()) -> list[str]:
    now = _at(seconds) + delta
    return [r.message_id for r in store.claim_outbox("A", [channel], now, now + timedelta(seconds=30), 10)]


def test_an_older_database_keeps_its_messages_and_its_at_once_ones_survive_a_clock_step(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    store = SQLiteStore(path)
    messages = [("at-once", "email", _at(0)), ("failed", "pager", _at(0)), ("reminder", "email", _at(0))]
    store.append(commit_with_outbox("ep-1", 0, messages, due={"reminder": _at(100)}))
    assert _claimed(store, "pager", 1) == ["failed"]
    assert store.outbox_failed("A", "failed", error="OSError", next_attempt_at=_at(61), at=_at(1))
    store.close()
    with sqlite3.connect(path) as conn:  # the database as migration 7 left it
        conn.execute("DROP INDEX outbox_waits")
        conn.execute("ALTER TABLE outbox DROP COLUMN wait_began_at")
        conn.execute("DROP INDEX outbox_leases")  # and migration 9's
        conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
        conn.execute(f"PRAGMA user_version = {OUTBOX_WAITS_FROM - 1}")
    conn.close()
    store = SQLiteStore(path)  # migrates
    try:
        assert store.schema_version() == LATEST_VERSION
        # Queued at once before the upgrade: due at once after it, even with the clock an hour back.
        assert _claimed(store, "email", -3600) == ["at-once"]
        assert store.outbox_delivered("A", ["at-once"], _at(-3599)) == 1
        # The others keep the times they had: a failure's start was not kept, a reminder's time is its own.
        assert _claimed(store, "pager", 61, -TICK) == []
        assert _claimed(store, "pager", 61) == ["failed"]
        assert _claimed(store, "email", 100, -TICK) == []
        assert _claimed(store, "email", 100) == ["reminder"]
    finally:
        store.close()
