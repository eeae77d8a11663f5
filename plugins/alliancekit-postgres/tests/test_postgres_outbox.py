"""The PostgreSQL store passes the outbox contract: claims with FOR UPDATE SKIP LOCKED, leases, retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import LATEST_VERSION, OUTBOX_DUE_FROM, OUTBOX_LEASES_FROM, OUTBOX_WAITS_FROM
from alliancekit_postgres.testing import PgServer
from psycopg import sql

from alliancekit.testing.outbox import T0, OutboxStoreContract, commit_with_outbox

TICK = timedelta(microseconds=1)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class TestPostgresStoreOutbox(OutboxStoreContract):
    @pytest.fixture
    def outbox_store(self, pg) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=pg.new_schema(), pool_max=8)
        yield store
        store.close()

    @pytest.fixture
    def outbox_store_twin(self, pg, outbox_store: PostgresStore) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        # A second pool on the same schema, as another dispatcher process would have.
        twin = PostgresStore(
            pg.app_dsn, clinic_id=outbox_store.clinic_id, schema=outbox_store.schema, pool_max=8
        )
        yield twin
        twin.close()


def _claimed(store: PostgresStore, channel: str, at: datetime) -> list[str]:
    return [r.message_id for r in store.claim_outbox("A", [channel], at, at + timedelta(seconds=30), 10)]


def test_a_schema_from_before_the_waits_keeps_its_messages_after_the_upgrade(
    pg: PgServer, admin: psycopg.Connection
) -> None:
    """Migration 9 on a schema that had none of it: rows written before keep working, and a pending message
    due at its creation is due at once after it, whatever the clock did. (It runs again safely, too.)"""
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)
    try:
        messages = [("at-once", "email", _at(0)), ("failed", "pager", _at(0)), ("reminder", "email", _at(0))]
        store.append(commit_with_outbox("ep-1", 0, messages, due={"reminder": _at(100)}))
        assert _claimed(store, "pager", _at(1)) == ["failed"]
        assert store.outbox_failed("A", "failed", error="OSError", next_attempt_at=_at(61), at=_at(1))
    finally:
        store.close()
    s = sql.Identifier(schema)  # back to the schema as migration 8 left it (the column, its index, trigger)
    admin.execute(sql.SQL("ALTER TABLE {}.outbox DROP COLUMN wait_began_at CASCADE").format(s))
    admin.execute(sql.SQL("DROP TRIGGER outbox_wait_from_creation ON {}.outbox").format(s))
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s), (OUTBOX_WAITS_FROM,)
    )
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)  # migrates
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _claimed(store, "email", _at(-3600)) == ["at-once"]  # an hour back: due at once all the same
        assert store.outbox_delivered("A", ["at-once"], _at(-3599)) == 1
        assert _claimed(store, "pager", _at(61) - TICK) == []  # a failure's start was not kept: its time
        assert _claimed(store, "pager", _at(61)) == ["failed"]
        assert _claimed(store, "email", _at(100) - TICK) == []  # a reminder's time is its own
        assert _claimed(store, "email", _at(100)) == ["reminder"]
    finally:
        store.close()


def test_a_lease_from_before_the_upgrade_runs_to_its_end_and_a_later_one_begins_again(
    pg: PgServer, admin: psycopg.Connection
) -> None:
    """Migration 10 on a schema without it: a lease taken before keeps its end (it has no start), and a lease
    taken after the upgrade begins again when the clock steps back. (It runs again safely, too.)"""
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)
    try:
        store.append(commit_with_outbox("ep-1", 0, [("old", "email", _at(0)), ("new", "pager", _at(0))]))
        assert _claimed(store, "email", _at(1)) == ["old"]  # leased until _at(31)
    finally:
        store.close()
    s = sql.Identifier(schema)  # back to the schema as migration 9 left it (no lease start, no index)
    admin.execute(sql.SQL("ALTER TABLE {}.outbox DROP COLUMN lease_began_at CASCADE").format(s))
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s), (OUTBOX_LEASES_FROM,)
    )
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)  # migrates
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _claimed(store, "pager", _at(1)) == ["new"]  # leased until _at(31), its start kept
        # An hour back: the lease with a start begins again here, for its 30 seconds; the one without runs on.
        assert _claimed(store, "pager", _at(-3600)) == []
        assert _claimed(store, "email", _at(-3600)) == []
        assert _claimed(store, "pager", _at(-3570) - TICK) == []
        assert _claimed(store, "pager", _at(-3570)) == ["new"]
        assert _claimed(store, "email", _at(31) - TICK) == []
        assert _claimed(store, "email", _at(31)) == ["old"]
    finally:
        store.close()


def test_a_schema_from_before_the_due_status_reads_without_it(
    pg: PgServer, admin: psycopg.Connection
) -> None:
    """Migration 11's reader (the first pending message's due time) on a schema from before it: a read-only
    store gives the counts and the oldest message's creation, with no due time; opening it writable adds
    the reader, and a reminder written first is dated by when it is due."""
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)
    try:
        messages = [("reminder", "email", _at(0)), ("at-once", "email", _at(5))]
        store.append(commit_with_outbox("ep-1", 0, messages, due={"reminder": _at(100)}))
        assert _claimed(store, "email", _at(5)) == ["at-once"]
        assert store.outbox_delivered("A", ["at-once"], _at(6)) == 1
        status = store.outbox_status()
        assert (status.pending, status.delivered, status.oldest_pending_at, status.next_due_at) == (
            1,
            1,
            _at(0),
            _at(100),
        )
    finally:
        store.close()
    s = sql.Identifier(schema)
    admin.execute(sql.SQL("DROP FUNCTION {}.outbox_status_due").format(s))
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s), (OUTBOX_DUE_FROM,)
    )
    reader = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1, read_only=True)
    try:
        assert reader.schema_version() == OUTBOX_DUE_FROM - 1
        status = reader.outbox_status()
        assert (status.pending, status.delivered, status.oldest_pending_at, status.next_due_at) == (
            1,
            1,
            _at(0),
            None,
        )
    finally:
        reader.close()
    store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=schema, pool_max=1)  # migrates again
    try:
        assert store.schema_version() == LATEST_VERSION
        assert store.outbox_status().next_due_at == _at(100)
    finally:
        store.close()
