"""``PostgresStore.exclusive``: the clinic's writers' lock, held across a read, a decision and a commit.

Two stores on one schema stand for two processes (each has its own pool). Whether a commit waits is read
from ``pg_locks`` (a waiting request is there, not granted), never from how long anything took.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.store import _WRITERS_NAMESPACE

from alliancekit.errors import ConflictError, StoreError
from alliancekit.store.protocol import AuditCheckpoint, ShardHead
from alliancekit.testing.store import StoreContract

CLINIC = StoreContract.CLINIC
OTHER_CLINIC = StoreContract.OTHER_CLINIC
_LOCKS = (
    "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted) FROM pg_locks"
    " WHERE locktype = 'advisory' AND classid = %s"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)

_END_HOLDER = (
    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s"
    " AND mode = 'ExclusiveLock' AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


@pytest.fixture
def two(pg) -> Iterator[tuple[PostgresStore, PostgresStore]]:  # type: ignore[no-untyped-def]
    """Two stores (two pools, as two processes have) on one new schema, for the same clinic."""
    schema = pg.new_schema()
    first = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    second = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    yield first, second
    second.close()
    first.close()


@pytest.fixture
def admin(pg) -> Iterator[psycopg.Connection]:  # type: ignore[no-untyped-def]
    with pg.admin() as conn:
        yield conn


def _writers_locks(admin: psycopg.Connection) -> tuple[int, int]:
    """(granted, waiting) writers' lock requests in this database."""
    row = admin.execute(_LOCKS, (_WRITERS_NAMESPACE,)).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _version(store: PostgresStore, episode_id: str) -> int:
    found = store.load_snapshot(episode_id)
    assert found is not None
    return found.version


def test_a_commit_waits_for_the_holder_which_cannot_lose_the_race(
    two: tuple[PostgresStore, PostgresStore], admin: psycopg.Connection
) -> None:
    holder, other = two
    contract = StoreContract()
    holder.append(contract.commit("ep-1", 0, 2))
    outcome: list[ConflictError | None] = []

    def commit_beside() -> None:
        try:
            other.append(contract.commit("ep-1", 2, 1, tag="other"))
        except ConflictError as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    with holder.exclusive():
        expected = _version(holder, "ep-1")  # the decision's read, on the holder's session
        beside = threading.Thread(target=commit_beside)
        beside.start()
        # Until the other commit is seen waiting for the lock, or has finished (which it must not).
        while _writers_locks(admin)[1] == 0 and beside.is_alive():
            threading.Event().wait(0.005)
        assert beside.is_alive(), f"a commit went through under another's exclusive: {outcome}"
        with holder.exclusive():  # nested: the lock is this thread's already
            holder.append(contract.commit("ep-1", expected, 1, tag="holder"))
    beside.join()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConflictError)
    assert [e.event_id for e in holder.load_events("ep-1", 2)] == ["ep-1-holder-e3"]
    assert _writers_locks(admin) == (0, 0)


def test_the_lock_is_released_when_the_block_raises_and_the_pool_carries_none(
    two: tuple[PostgresStore, PostgresStore], admin: psycopg.Connection
) -> None:
    holder, other = two
    contract = StoreContract()

    def block() -> None:
        with holder.exclusive():
            holder.append(contract.commit("ep-1", 0, 2))
            assert _writers_locks(admin) == (1, 0)
            raise RuntimeError("the block failed")

    with pytest.raises(RuntimeError):
        block()
    assert _writers_locks(admin) == (0, 0)
    other.append(contract.commit("ep-1", 2, 1))  # nothing left to wait for
    holder.append(contract.commit("ep-1", 3, 1))  # the connection the block used is back in the pool
    assert _version(other, "ep-1") == 4


def test_a_closed_session_releases_the_lock_and_is_not_pooled(
    two: tuple[PostgresStore, PostgresStore], admin: psycopg.Connection
) -> None:
    holder, other = two
    contract = StoreContract()

    def block() -> None:
        with holder.exclusive():
            # The server ends the holder's session (a failover, an administrator) in the block. Only that
            # session: pg_locks is server-wide, and other tests' writers take locks of this class in their
            # own databases at the same time.
            admin.execute(_END_HOLDER, (_WRITERS_NAMESPACE,))
            holder.append(contract.commit("ep-1", 0, 2))

    with pytest.raises(StoreError):
        block()
    # The session's end released the lock (the other commit waits, if at all, for its exit to finish).
    other.append(contract.commit("ep-1", 0, 2))
    assert _writers_locks(admin) == (0, 0)
    holder.append(contract.commit("ep-1", 2, 1))  # on a sound connection: the broken one was discarded
    assert _version(holder, "ep-1") == 3


def test_sealing_and_other_clinics_do_not_wait_for_the_writers_lock(
    two: tuple[PostgresStore, PostgresStore], admin: psycopg.Connection
) -> None:
    holder, other = two
    contract = StoreContract()
    at = contract.commit("ep-0", 0, 1).events[0].recorded_at

    def make(heads: object, last: AuditCheckpoint | None) -> AuditCheckpoint:
        return AuditCheckpoint(1 if last is None else last.seq + 1, (ShardHead(0, 1, "h"),), "r", "m", at)

    with holder.exclusive():
        holder.append(contract.commit("ep-1", 0, 2))
        assert other.seal(make) is not None  # another session seals: another lock
        assert holder.seal(make) is not None  # and so does the holder's own
        elsewhere = other.for_clinic(OTHER_CLINIC)
        elsewhere.append(contract.commit("ep-9", 0, 1, clinic_id=OTHER_CLINIC))  # another clinic's lock
        assert _writers_locks(admin) == (1, 0)
    assert [c.seq for c in other.audit_checkpoints()] == [1, 2]
    assert _version(elsewhere, "ep-9") == 1


def test_a_read_only_store_refuses_exclusive(pg, two: tuple[PostgresStore, PostgresStore]) -> None:  # type: ignore[no-untyped-def]
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=two[0].schema, read_only=True)
    try:
        with pytest.raises(StoreError, match="read-only"), reader.exclusive():
            pass
    finally:
        reader.close()
