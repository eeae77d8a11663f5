"""The PostgreSQL store streams its audit entries (``iter_audit_records``) as the SQLite store does: keyset
pages in shard then position order, the ctid breaking ties, every page (and, under verification, the whole
scan) of one REPEATABLE READ snapshot. Against the real server, with real concurrent writers."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import attrs
import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres import store as pg_store
from alliancekit_postgres.testing import PgServer
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import StoreError
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import AuditRecord
from alliancekit.testing.concurrency import active_episode

CLINIC = "clinic-a"
KEY = b"postgres-stream-test-seal-key-" + b"k" * 8
HOST = make_plugin_host(load_entry_points=False)
_T0 = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)


def _practice(pg: PgServer, schema: str, writer: str = "r") -> Practice:
    """A practice on ``schema`` whose ids are ``writer``'s own and the same on every run: random ids would
    put a run's few episodes in one audit shard now and then (crc32 of the id, 16 shards)."""
    ticks = iter(range(10**9))
    made = itertools.count()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    return Practice(
        store,
        plugins=HOST,
        audit_key=KEY,
        checkpoint_every=5,
        clock=lambda: _T0 + timedelta(seconds=next(ticks)),
        ids=lambda kind: f"{writer}-{kind}-{next(made)}",
    )


def _record(pg: PgServer, episodes: int = 3) -> str:
    """A schema with ``episodes`` episodes written by two clinicians, sealed every 5 entries."""
    schema = pg.new_schema()
    with _practice(pg, schema) as practice:
        for n in range(episodes):
            active_episode(practice, Actor(f"clin-{n % 2}", Role.CLINICIAN, CLINIC))
    return schema


def _reader(pg: PgServer, schema: str) -> PostgresStore:
    return PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)


def _ordered(store: PostgresStore) -> list[AuditRecord]:
    return sorted(store.audit_records(), key=lambda r: (r.shard, r.position))


def _verify(pg: PgServer, schema: str) -> IntegrityReport:
    with Practice(_reader(pg, schema), plugins=HOST, audit_key=KEY) as practice:
        return practice.verify(Actor("adm-1", Role.ADMINISTRATOR, CLINIC))


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_stream_pages_at_their_boundaries(
    pg: PgServer, monkeypatch: pytest.MonkeyPatch, extra: int
) -> None:
    schema = _record(pg)
    store = _reader(pg, schema)
    try:
        entries = _ordered(store)
        assert len({r.shard for r in entries}) > 1  # pages cross from shard to shard
        # pages of one entry fewer than the log, exactly the log (then an empty page), and one more
        monkeypatch.setattr(pg_store, "_AUDIT_PAGE_ROWS", len(entries) + extra)
        assert list(store.iter_audit_records()) == entries
        monkeypatch.setattr(pg_store, "_AUDIT_PAGE_ROWS", 1)
        assert list(store.iter_audit_records()) == entries
        # another clinic's view of the same pool streams nothing of this clinic
        assert list(store.for_clinic("clinic-b").iter_audit_records()) == []
    finally:
        store.close()


@pytest.mark.parametrize("page", [1, 2, 3])
def test_a_duplicated_position_is_not_skipped_at_a_page_edge(
    pg: PgServer, admin: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """A tamperer who drops the primary key can add a second entry at a position; however the pages fall,
    the stream yields it, and verification finds it out of place."""
    schema = _record(pg)
    store = _reader(pg, schema)
    entries = _ordered(store)
    store.close()
    first = entries[0]
    s = sql.Identifier(schema)
    admin.execute(sql.SQL("ALTER TABLE {}.audit DROP CONSTRAINT audit_pkey").format(s))
    admin.execute(  # an exact copy of the first entry, stored after every other row (a greater ctid)
        sql.SQL("INSERT INTO {s}.audit SELECT * FROM {s}.audit WHERE shard = %s AND position = 1").format(
            s=s
        ),
        (first.shard,),
    )
    monkeypatch.setattr(pg_store, "_AUDIT_PAGE_ROWS", page)
    store = _reader(pg, schema)
    try:
        streamed = list(store.iter_audit_records())
    finally:
        store.close()
    assert streamed == [first, *entries]  # the copy right after its original, nothing else moved
    report = _verify(pg, schema)
    finding = report.finding("audit")
    assert finding is not None, report.describe()
    assert finding.problem == "entry out of place (deleted, inserted or moved)"


def test_the_pages_are_one_snapshot_while_another_connection_writes(
    pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of one entry: a writer commits to every shard after the first page is read; the stream goes on
    in the snapshot of its first page (each page in its own transaction would take the new entries)."""
    schema = _record(pg)
    monkeypatch.setattr(pg_store, "_AUDIT_PAGE_ROWS", 1)
    store = _reader(pg, schema)
    writer = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        before = _ordered(store)
        stream = store.iter_audit_records()
        head = next(stream)
        template = before[-1]
        writer.append_audit(
            [
                attrs.evolve(template, entry_id=f"read-{shard}", shard=shard, writes="")
                for shard in sorted({r.shard for r in before} | {0})
            ]
        )
        assert len(_ordered(writer)) > len(before)  # committed, and seen by a new read
        assert [head, *stream] == before
    finally:
        writer.close()
        store.close()


def test_verify_with_a_writer_committing_meanwhile_reports_no_break(
    pg: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A practice keeps starting episodes (events, caseload rows, audit entries, seals) while the record is
    verified in small pages: each verification sees one snapshot, so it finds nothing."""
    schema = _record(pg, episodes=2)
    monkeypatch.setattr(pg_store, "_AUDIT_PAGE_ROWS", 2)
    stop = threading.Event()
    written = [0]
    failed: list[BaseException] = []

    def write() -> None:
        try:
            with _practice(pg, schema, writer="w") as practice:
                while not stop.is_set():
                    active_episode(practice, Actor("clin-w", Role.CLINICIAN, CLINIC))
                    written[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failed.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        reports = []
        while len(reports) < 6 or written[0] < 6:
            assert not failed, failed
            reports.append(_verify(pg, schema))
    finally:
        stop.set()
        thread.join()
    assert not failed, failed
    assert [r.findings for r in reports] == [()] * len(reports), reports
    assert reports[-1].episodes > reports[0].episodes  # the writer's episodes were verified as they came


def test_a_read_transaction_inside_exclusive_ends_before_its_commits(pg: PgServer) -> None:
    """Inside ``exclusive`` the read transaction runs on the block's pinned session; once it ends, the
    thread commits there again. A write inside the read transaction is refused, and nothing is written."""
    schema = _record(pg, episodes=1)
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        before = _ordered(store)
        extra = attrs.evolve(before[-1], entry_id="read-x", writes="")
        with store.exclusive():
            with store.read_transaction():
                assert list(store.iter_audit_records()) == before
                with pytest.raises(StoreError, match="read-only"):
                    store.append_audit([extra])
            store.append_audit([extra])
        after = _ordered(store)
        assert len(after) == len(before) + 1  # the refused write left nothing behind
        assert [r.entry_id for r in after].count("read-x") == 1
    finally:
        store.close()
