"""The redesign's store duties on PostgreSQL: event hashes and stream heads kept, scoped command keys, audit
entries chained per shard by SQL byte for byte as :mod:`alliancekit.integrity.chain` does, shard heads,
race-free seals (threads and processes), read-only opening, the migration from version 1, and values
PostgreSQL cannot hold refused with errors of the hierarchy.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import psycopg
import pytest
from alliancekit_postgres import PostgresStore, open_postgres
from alliancekit_postgres.schema import LATEST_VERSION, MIGRATIONS
from alliancekit_postgres.testing import release_when_ready
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import (
    AccessDenied,
    AlliancekitError,
    ConflictError,
    DuplicateCommand,
    NotAnAlliancekitStore,
    StoreError,
    StoreNeedsMigration,
    ValidationError,
)
from alliancekit.integrity import chain
from alliancekit.integrity.verify import verify_record
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    CommandRecord,
    Commit,
    ShardHead,
    StoredEvent,
)
from alliancekit.store.scan import scan_record

CLINIC = "clinic-a"
KEY = b"k" * 32
_T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_DAY = date(2026, 3, 2)


# --------------------------------------------------------------------------------------------- builders


def audit_entry(entry_id: str, shard: int, *, clinic: str = CLINIC, **fields: Any) -> AuditRecord:
    record = AuditRecord(
        entry_id,
        _T0,
        "clin-1",
        "clinician",
        clinic,
        "treatment",
        "test",
        "episode",
        "ep",
        "allowed",
        shard=shard,
    )
    return attrs.evolve(record, **fields)


def commit(
    episode_id: str,
    expected: int,
    count: int = 1,
    *,
    head: str = chain.GENESIS,
    clinic: str = CLINIC,
    command: tuple[str, str, str] | None = None,
    payload: dict[str, object] | None = None,
    client_ref: str | None = None,
) -> Commit:
    """A commit as the core builds it: events chained after ``head``, the audit entry in the episode's shard
    naming the head it wrote, the command's record bound to a request hash."""
    new_version = expected + count
    events = chain.chain_events(
        [
            StoredEvent(
                episode_id=episode_id,
                seq=expected + i,
                event_id=f"{episode_id}-e{expected + i}",
                type="synthetic",
                schema_version=1,
                occurred_at=_T0 + timedelta(seconds=expected + i),
                recorded_at=_T0 + timedelta(seconds=expected + i, microseconds=7),
                actor_id="clin-1",
                actor_role="clinician",
                clinic_id=clinic,
                payload_json=json.dumps(
                    payload if payload is not None else {"n": expected + i},
                    sort_keys=True,
                    separators=(",", ":"),
                    ensure_ascii=False,
                ),
            )
            for i in range(1, count + 1)
        ],
        head,
    )
    new_head = events[-1].hash
    row = CaseloadRow(
        episode_id=episode_id,
        clinic_id=clinic,
        clinician_id="clin-1",
        client_ref=client_ref if client_ref is not None else f"ref-{episode_id}",
        stage="active",
        version=new_version,
        opened_on=_DAY,
        last_session_on=None,
        sessions_attended=new_version,
        latest_scores_json="{}",
        open_alerts=0,
        next_review_at=6,
        review_due=False,
        closed_on=None,
    )
    audit = [
        audit_entry(
            f"{episode_id}-a{new_version}",
            chain.shard_of(episode_id),
            clinic=clinic,
            record_id=episode_id,
            writes=f"{new_version}:{new_head}",
        )
    ]
    record = None
    if command is not None:
        name, key, request_hash = command
        record = CommandRecord(clinic, name, key, request_hash, episode_id, new_version)
    snapshot = json.dumps({"episode_id": episode_id, "version": new_version})
    return Commit(episode_id, expected, events, snapshot, row, (), audit, record, new_head)


@pytest.fixture
def store(pg) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
    s = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=12)
    yield s
    s.close()


def check_audit(records: Sequence[AuditRecord]) -> None:
    """Every shard's chain links from GENESIS and every hash is chain.entry_hash of what reads back."""
    by_shard: dict[int, list[AuditRecord]] = {}
    for r in records:
        by_shard.setdefault(r.shard, []).append(r)
    for shard, entries in by_shard.items():
        prev = chain.GENESIS
        for position, entry in enumerate(entries, start=1):
            assert (entry.shard, entry.position, entry.prev_hash) == (shard, position, prev)
            assert entry.hash == chain.entry_hash(entry, position, prev)
            prev = entry.hash


def check_checkpoints(checkpoints: Sequence[AuditCheckpoint], records: Sequence[AuditRecord]) -> None:
    """The MAC chain, each root, and each sealed head present among the entries: by hand, and by
    :func:`alliancekit.integrity.verify.verify_record` (audit entries only: these tests write no episodes)."""
    report = verify_record([], records, checkpoints, key=KEY, fold=_no_episodes, project=_no_episodes)
    assert report.ok, report.describe()
    assert report.seals_checked
    assert (report.audit_entries, report.checkpoints) == (len(records), len(checkpoints))
    stored = {(r.shard, r.position): r.hash for r in records}
    previous_mac = ""
    for seq, checkpoint in enumerate(checkpoints, start=1):
        assert checkpoint.seq == seq
        assert checkpoint.root == chain.merkle_root(checkpoint.heads)
        assert checkpoint.mac == chain.seal_mac(KEY, seq, checkpoint.root, previous_mac)
        for head in checkpoint.heads:
            assert stored[(head.shard, head.position)] == head.hash
        previous_mac = checkpoint.mac


def snap(store: PostgresStore, episode_id: str) -> tuple[int, Commit] | None:
    """The snapshot as (version, the commit whose snapshot and head it holds), compared as JSON values."""
    snapshot = store.load_snapshot(episode_id)
    if snapshot is None:
        return None
    version, state_json, head = snapshot
    return version, _Same(json.loads(state_json), head)  # type: ignore[return-value]


@attrs.frozen(eq=False)
class _Same:
    state: object
    head: str

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Commit) and (self.state, self.head) == (
            json.loads(other.snapshot_json),
            other.head,
        )

    __hash__ = None  # type: ignore[assignment]


def _no_episodes(_: object) -> Any:
    raise AssertionError("no episode to fold or project")


def seal_now(store: PostgresStore) -> AuditCheckpoint | None:
    return store.seal(lambda heads, last: chain.make_checkpoint(KEY, heads, last, datetime.now(UTC)))


# ------------------------------------------------------------------------------------- events and heads


def test_events_keep_their_hashes_and_the_snapshot_its_head(store: PostgresStore) -> None:
    first = commit("ep-1", 0, 2)
    store.append(first)
    second = commit("ep-1", 2, 1, head=first.head)
    store.append(second)
    events = store.load_events("ep-1")
    assert [(e.prev_hash, e.hash) for e in events] == [
        (e.prev_hash, e.hash) for e in [*first.events, *second.events]
    ]
    assert events[0].prev_hash == chain.GENESIS
    assert events[1].prev_hash == events[0].hash
    for event in events:  # what reads back recomputes (JSONB reorders keys; the hash is over canonical JSON)
        assert event.hash == chain.event_hash(event, event.prev_hash)
    assert snap(store, "ep-1") == (3, second)
    assert store.load_snapshot("ep-1").head == events[-1].hash  # type: ignore[union-attr]
    assert store.load_snapshot("ep-2") is None


def test_a_stale_version_writes_nothing_and_keeps_the_head(store: PostgresStore) -> None:
    first = commit("ep-1", 0, 2)
    store.append(first)
    with pytest.raises(ConflictError):
        store.append(commit("ep-1", 1, 1, head=first.events[0].hash))
    assert snap(store, "ep-1") == (2, first)
    assert len(store.audit_records()) == 1


# ------------------------------------------------------------------------------------------ command keys


def test_command_keys_are_scoped_to_clinic_and_command(store: PostgresStore) -> None:
    store.append(commit("ep-1", 0, command=("record-session", "k-1", "h-1")))
    # The same key for another command, and in another clinic, is another key.
    store.append(commit("ep-2", 0, command=("start-episode", "k-1", "h-2")))
    south = store.for_clinic("clinic-b")
    south.append(commit("ep-3", 0, clinic="clinic-b", command=("record-session", "k-1", "h-3")))
    assert store.find_command(CLINIC, "record-session", "k-1") == CommandRecord(
        CLINIC, "record-session", "k-1", "h-1", "ep-1", 1
    )
    assert store.find_command(CLINIC, "start-episode", "k-1") == CommandRecord(
        CLINIC, "start-episode", "k-1", "h-2", "ep-2", 1
    )
    assert south.find_command("clinic-b", "record-session", "k-1") == CommandRecord(
        "clinic-b", "record-session", "k-1", "h-3", "ep-3", 1
    )
    # Another clinic's keys do not exist for this store, asked by name or not.
    assert store.find_command("clinic-b", "record-session", "k-1") is None
    assert store.find_command(CLINIC, "record-session", "k-2") is None


def test_a_used_command_key_is_a_duplicate_and_writes_nothing(store: PostgresStore) -> None:
    first = commit("ep-1", 0, command=("record-session", "k-1", "h-1"))
    store.append(first)
    audit = store.audit_records()
    # The same triple on the same episode (next version) and on another episode: refused, nothing written.
    with pytest.raises(DuplicateCommand):
        store.append(commit("ep-1", 1, head=first.head, command=("record-session", "k-1", "h-other")))
    with pytest.raises(DuplicateCommand):
        store.append(commit("ep-2", 0, command=("record-session", "k-1", "h-1")))
    assert snap(store, "ep-1") == (1, first)
    assert store.load_snapshot("ep-2") is None
    assert store.audit_records() == audit
    assert store.find_command(CLINIC, "record-session", "k-1") == CommandRecord(
        CLINIC, "record-session", "k-1", "h-1", "ep-1", 1
    )


# ----------------------------------------------------------------------------------------- audit shards


_TRICKY = (
    "",
    "plain",
    "naïve café ☕",
    "𝄞 astral 🙂",
    "a;b:c;;1:x;",  # the separators of the digest's encoding
    "line\nbreak\ttab",
    "quote\"back\\slash'",
    "x" * 3000,
)


def test_sql_audit_hashes_equal_chain_entry_hash_byte_for_byte(store: PostgresStore) -> None:
    """``link_audit`` hashes in SQL; what it stores is exactly :func:`chain.link` of the records given."""
    berlin = timezone(timedelta(hours=1))
    records = []
    for i, text in enumerate(_TRICKY):
        for shard in (0, 7, chain.AUDIT_SHARDS - 1):
            records.append(
                audit_entry(
                    f"e-{i}-{shard}-{text[:3]}",
                    shard,
                    actor_id=f"actor {text[:20]}",
                    purpose=text[:50],
                    client_ref=text,
                    detail=text,
                    writes=f"{i}:{chain.GENESIS}" if i % 2 else "",
                    # with and without microseconds, naive (taken as UTC) and in another offset
                    at=(
                        _T0 + timedelta(microseconds=i)
                        if i % 3 == 0
                        else (_T0 + timedelta(seconds=i)).replace(tzinfo=None)
                        if i % 3 == 1
                        else (_T0 + timedelta(minutes=i)).astimezone(berlin)
                    ),
                )
            )
    store.append_audit(records[:10])
    store.append_audit(records[10:])  # continues each shard after its stored head
    stored = store.audit_records()
    assert [(r.shard, r.position) for r in stored] == sorted((r.shard, r.position) for r in stored)
    expected: list[AuditRecord] = []
    for shard in sorted({r.shard for r in records}):
        mine = [r for r in records if r.shard == shard]
        # What the store hashes: the time as it reads back, aware and in UTC.
        utc = [
            attrs.evolve(r, at=r.at.replace(tzinfo=UTC) if r.at.tzinfo is None else r.at.astimezone(UTC))
            for r in mine
        ]
        expected.extend(chain.link(utc, None))
    assert stored == expected
    check_audit(stored)
    heads = store.audit_heads()
    assert heads == [
        ShardHead(s, p, h)
        for s, p, h in (
            (r.shard, r.position, r.hash)
            for r in stored
            if r.position == max(x.position for x in stored if x.shard == r.shard)
        )
    ]
    assert [h.shard for h in heads] == [0, 7, chain.AUDIT_SHARDS - 1]


def test_audit_shards_out_of_range_are_refused(store: PostgresStore) -> None:
    for shard in (-1, chain.AUDIT_SHARDS):
        with pytest.raises(ValidationError) as caught:
            store.append_audit([audit_entry("bad", shard)])
        assert caught.value.rule == "range"
    store.append_audit([audit_entry("ok", chain.AUDIT_SHARDS - 1), audit_entry("ok0", 0)])
    assert [h.shard for h in store.audit_heads()] == [0, chain.AUDIT_SHARDS - 1]


def test_a_commit_entry_goes_to_its_shard_and_names_the_head_it_wrote(store: PostgresStore) -> None:
    assert store.audit_heads() == []
    episodes = [f"ep-{i}" for i in range(40)]
    for ep in episodes:
        store.append(commit(ep, 0))
    records = store.audit_records()
    check_audit(records)
    by_id = {r.record_id: r for r in records}
    for ep in episodes:
        snapshot = store.load_snapshot(ep)
        assert snapshot is not None
        assert by_id[ep].shard == chain.shard_of(ep)
        assert by_id[ep].writes == f"1:{snapshot.head}"
    assert {h.shard for h in store.audit_heads()} == {chain.shard_of(ep) for ep in episodes}


def test_audit_rows_of_another_clinic_are_refused(store: PostgresStore) -> None:
    with pytest.raises(AccessDenied):
        store.append_audit([audit_entry("x", 3, clinic="clinic-b")])
    assert store.audit_records() == []
    assert store.audit_heads() == []


# ------------------------------------------------------------------------------------------------ seals


def test_seal_writes_the_checkpoint_make_returns(store: PostgresStore) -> None:
    seen: list[tuple[list[ShardHead], AuditCheckpoint | None]] = []

    def look(heads: Sequence[ShardHead], last: AuditCheckpoint | None) -> AuditCheckpoint | None:
        seen.append((list(heads), last))
        return None

    assert store.seal(look) is None
    assert seen == [([], None)]
    assert store.audit_checkpoints() == []
    store.append_audit([audit_entry("r-0", 2)])
    store.append_audit([audit_entry("r-1", 5)])
    first = seal_now(store)
    assert first is not None
    assert first.seq == 1
    assert list(first.heads) == store.audit_heads()
    assert store.audit_checkpoints() == [first]
    store.append_audit([audit_entry("r-2", 5)])
    second = seal_now(store)
    assert second is not None
    assert second.seq == 2
    assert store.audit_checkpoints() == [first, second]
    check_checkpoints(store.audit_checkpoints(), store.audit_records())
    # A checkpoint that does not follow the last one is refused, and nothing is written.
    with pytest.raises(ValidationError):
        store.seal(lambda heads, last: chain.make_checkpoint(KEY, heads, None, _T0))
    assert store.audit_checkpoints() == [first, second]


def test_another_clinic_seals_its_own_chain(store: PostgresStore) -> None:
    south = store.for_clinic("clinic-b")
    store.append_audit([audit_entry("n", 1)])
    south.append_audit([audit_entry("s", 2, clinic="clinic-b")])
    north_cp, south_cp = seal_now(store), seal_now(south)
    assert north_cp is not None
    assert south_cp is not None
    assert (north_cp.seq, south_cp.seq) == (1, 1)
    assert [h.shard for h in north_cp.heads] == [1]
    assert [h.shard for h in south_cp.heads] == [2]
    assert store.audit_checkpoints() == [north_cp]


def test_concurrent_sealers_in_threads_never_fork_the_chain(store: PostgresStore) -> None:
    """8 threads, 25 rounds each: write an entry, seal. Every checkpoint verifies, numbered 1..200."""
    threads_n, rounds = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(rounds):
                store.append_audit([audit_entry(f"t{n}-{i}", (n + i) % chain.AUDIT_SHARDS)])
                assert seal_now(store) is not None
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    checkpoints = store.audit_checkpoints()
    assert len(checkpoints) == threads_n * rounds
    records = store.audit_records()
    check_audit(records)
    check_checkpoints(checkpoints, records)
    # The last checkpoint sealed every entry: each shard's head is sealed at its last position.
    seal_now(store)
    assert list(store.audit_checkpoints()[-1].heads) == store.audit_heads()


_SEALER = """
import sys, time
from datetime import UTC, datetime
from pathlib import Path
from alliancekit_postgres import PostgresStore
from alliancekit.integrity import chain
from alliancekit.store.protocol import AuditRecord

dsn, schema, start = sys.argv[1], sys.argv[2], Path(sys.argv[5])
n, rounds = int(sys.argv[3]), int(sys.argv[4])
store = PostgresStore(dsn, clinic_id="clinic-a", schema=schema, pool_max=1)
start.with_name(f"ready-{n}").touch()
while not start.exists():
    time.sleep(0.005)
for i in range(rounds):
    now = datetime.now(UTC)
    store.append_audit([AuditRecord(f"p{n}-{i}", now, "clin-1", "clinician", "clinic-a", "treatment", "test",
                                    "episode", "ep", "allowed", shard=(3 * n + i) % chain.AUDIT_SHARDS)])
    store.seal(lambda heads, last: chain.make_checkpoint(b"k" * 32, heads, last, datetime.now(UTC)))
store.close()
"""


@pytest.mark.slow
def test_concurrent_sealers_in_processes_never_fork_the_chain(pg, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """6 processes, 20 rounds each (write an entry, seal), released together."""
    processes_n, rounds = 6, 20
    schema = pg.new_schema()
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()  # migrate once
    start = tmp_path / "start"
    procs = [
        subprocess.Popen([sys.executable, "-c", _SEALER, pg.app_dsn, schema, str(n), str(rounds), str(start)])
        for n in range(processes_n)
    ]
    release_when_ready(procs, start)  # all connected: released at once
    assert [p.wait(timeout=300) for p in procs] == [0] * processes_n
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        checkpoints = store.audit_checkpoints()
        records = store.audit_records()
        assert len(checkpoints) == processes_n * rounds
        assert len(records) == processes_n * rounds
        check_audit(records)
        check_checkpoints(checkpoints, records)
    finally:
        store.close()


# -------------------------------------------------------------------------------------------- read-only


def test_read_only_reads_and_refuses_every_write(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    writer = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    first = commit("ep-1", 0, 2)
    writer.append(first)
    seal_now(writer)
    writer.close()
    reader = open_postgres(pg.location(schema, CLINIC, pool_max=1), read_only=True)
    try:
        assert reader.read_only
        assert snap(reader, "ep-1") == (2, first)
        assert len(reader.load_events("ep-1")) == 2
        assert len(reader.audit_records()) == 1
        assert len(reader.audit_checkpoints()) == 1
        writes: list[Callable[[], object]] = [
            lambda: reader.append(commit("ep-2", 0)),
            lambda: reader.append_audit([audit_entry("r", 1)]),
            lambda: seal_now(reader),
            lambda: reader.replace_payloads([("ep-1", 1, "{}")]),
            lambda: reader.claim_outbox("me", ["email"], _T0, _T0, 10),
            lambda: reader.outbox_delivered("me", ["m"], _T0),
            lambda: reader.outbox_failed("me", "m", error="x", next_attempt_at=_T0, at=_T0),
            lambda: reader.outbox_dead("me", "m", error="x", at=_T0),
            lambda: reader.outbox_requeue("m", _T0),
        ]
        for write in writes:
            with pytest.raises(StoreError):
                write()
        assert reader.load_snapshot("ep-2") is None
        assert len(reader.audit_records()) == 1
    finally:
        reader.close()


def test_read_only_transactions_are_refused_by_the_server_too(pg) -> None:  # type: ignore[no-untyped-def]
    """Not only the store's own check: its connections cannot write even if a write got through."""
    schema = pg.new_schema()
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        with reader._db.pool.connection() as conn:
            row = conn.execute("SHOW transaction_read_only").fetchone()
            assert row == ("on",)
        # Bypassing the store's check, the server still refuses the write, and it is a StoreError.
        entry = {
            "clinic_id": CLINIC, "shard": 1, "entry_id": "x", "at": "2026-01-01T00:00:00+00:00",
            "at_iso": "2026-01-01T00:00:00+00:00", "actor_id": "a", "actor_role": "r", "purpose": "p",
            "action": "a", "record_type": "t", "record_id": "i", "outcome": "o", "client_ref": "",
            "detail": "", "writes": "",
        }  # fmt: skip
        query, params = reader._db.sql["append_audit"], (CLINIC, json.dumps([entry]))
        with pytest.raises(StoreError, match="read-only"):
            reader._run("write", lambda conn: conn.execute(query, params))
        assert reader.audit_records() == []
    finally:
        reader.close()


def test_read_only_never_creates_or_migrates(pg, admin) -> None:  # type: ignore[no-untyped-def]
    # No schema at all, and an empty schema: a clear error, and nothing created.
    for schema in ("never_created", pg.new_schema()):
        with pytest.raises(NotAnAlliancekitStore):
            PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
        tables = admin.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s", (schema,)).fetchone()
        assert tables == (0,)
    assert admin.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'never_created'").fetchone() is None
    # A schema at version 1: refused, left at version 1.
    schema = pg.new_schema()
    s = sql.Identifier(schema)
    with pg.admin() as owner:
        owner.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(pg.app_role)))
        owner.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_migrations (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        owner.execute(sql.SQL(MIGRATIONS[0]).format(s=s))
        owner.execute(sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (1)").format(s))
    with pytest.raises(StoreNeedsMigration, match="never migrates") as caught:
        PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    assert isinstance(caught.value, AlliancekitError)
    versions = admin.execute(sql.SQL("SELECT max(version) FROM {}.schema_migrations").format(s)).fetchone()
    assert versions == (1,)


# -------------------------------------------------------------------------------- migration from v1

_V1_DIRECTIVE_D1 = (
    '{"directive_id": "d1", "scope": "class", "classes": ["sessions"], "event_ids": [], "recipients": [],'
    ' "set_on": "2026-01-06"}'
)
_V1_DIRECTIVE_D2 = (
    '{"directive_id": "d2", "scope": "record", "classes": [], "event_ids": [], "recipients": ["insurer"],'
    ' "set_on": "2026-01-07"}'
)


def test_a_version_1_schema_with_rows_migrates_and_keeps_its_rows(pg, admin) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    s = sql.Identifier(schema)
    with pg.admin() as owner:
        owner.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(pg.app_role)))
        owner.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_migrations (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        owner.execute(sql.SQL(MIGRATIONS[0]).format(s=s))
        owner.execute(sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (1)").format(s))
        # A version-1 commit: one event, a key, one audit row in the clinic's single chain.
        owner.execute("SELECT set_config('alliancekit.clinic_id', %s, false)", (CLINIC,))
        owner.execute(
            sql.SQL(
                "INSERT INTO {}.events VALUES (%s, 'old-ep', 1, 'ev-1', 'synthetic', 1, now(), now(),"
                " 'clin-1', 'clinician', NULL, '{{\"n\": 1}}')"
            ).format(s),
            (CLINIC,),
        )
        owner.execute(
            sql.SQL("INSERT INTO {}.commands VALUES (%s, 'old-key', 'old-ep', 1)").format(s), (CLINIC,)
        )
        owner.execute(
            sql.SQL(
                "INSERT INTO {}.episodes (clinic_id, episode_id, version, state, clinician_id, client_ref,"
                " stage, opened_on, sessions_attended, latest_scores, open_alerts, review_due,"
                " open_alerts_json) VALUES (%s, 'old-ep', 1, '{{\"v\": 1}}', 'clin-1', 'ref-old', 'active',"
                " '2026-01-05', 0, '{{}}', 0, false, '[]')"
            ).format(s),
            (CLINIC,),
        )
        # A closed version-1 episode whose client set two lockbox directives and lifted one. Version 1 kept
        # them in its events only: the snapshot has neither a "lockbox" nor a "_v" (shape) key.
        for seq, kind, payload in (
            (1, "lockbox-set", _V1_DIRECTIVE_D1),
            (2, "lockbox-set", _V1_DIRECTIVE_D2),
            (3, "lockbox-lifted", '{"directive_id": "d2", "lifted_on": "2026-01-08"}'),
        ):
            owner.execute(
                sql.SQL(
                    "INSERT INTO {}.events VALUES (%s, 'old-lb', %s, %s, %s, 1, now(), now(), 'clin-1',"
                    " 'clinician', NULL, %s)"
                ).format(s),
                (CLINIC, seq, f"ev-lb-{seq}", kind, payload),
            )
        owner.execute(
            sql.SQL(
                "INSERT INTO {}.episodes (clinic_id, episode_id, version, state, clinician_id, client_ref,"
                " stage, opened_on, sessions_attended, latest_scores, open_alerts, review_due,"
                " open_alerts_json, closed_on, outcome_measure) VALUES (%s, 'old-lb', 3, '{{\"v\": 3}}',"
                " 'clin-1', 'ref-lb', 'closed', '2026-01-05', 0, '{{}}', 0, false, '[]', '2026-01-09',"
                " 'PHQ-9')"
            ).format(s),
            (CLINIC,),
        )
        owner.execute(
            sql.SQL(
                "INSERT INTO {}.audit VALUES (%s, 1, 'old-entry', now(), 'clin-1', 'clinician', 'treatment',"
                " 'test', 'episode', 'old-ep', 'allowed', '', '', %s, 'old-hash')"
            ).format(s),
            (CLINIC, chain.GENESIS),
        )
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    try:
        assert store.schema_version() == LATEST_VERSION
        # Events are chained as they stood, and the episode row keeps the head.
        [event] = store.load_events("old-ep")
        assert event.event_id == "ev-1"
        assert event.prev_hash == chain.GENESIS
        assert event.hash == chain.event_hash(event, chain.GENESIS)
        snapshot = store.load_snapshot("old-ep")
        assert snapshot is not None
        assert snapshot.head == event.hash
        # The old key is kept with an empty command: it matches no command of the new scheme.
        assert store.find_command(CLINIC, "record-session", "old-key") is None
        # The old entry is re-linked into shard 0; one migrate-schema entry adopts the episode's head.
        records = store.audit_records()
        assert [(r.shard, r.position, r.entry_id) for r in records if r.shard == 0][:1] == [
            (0, 1, "old-entry")
        ]
        [adopted] = [r for r in records if r.action == "migrate-schema" and r.record_id == "old-ep"]
        assert (adopted.record_id, adopted.shard, adopted.writes) == (
            "old-ep",
            chain.shard_of("old-ep"),
            f"1:{event.hash}",
        )
        assert sorted(r.record_id for r in records if r.action == "migrate-schema") == ["old-ep", "old-lb"]
        check_audit(records)
        # Snapshots are upgraded to shape 2 with the directives in force, which the row keeps in "lockbox"
        # (returned by the caseload and by the closed outcomes, read from their covering index).
        in_force = '{"d1":{"classes":["sessions"],"recipients":[],"scope":"class"}}'
        assert json.loads(snapshot.state_json) == {"v": 1, "lockbox": {}, "_v": 2}
        locked = store.load_snapshot("old-lb")
        assert locked is not None
        assert json.loads(locked.state_json) == {"v": 3, "lockbox": json.loads(in_force), "_v": 2}
        rows = {r.episode_id: r for r in store.caseload(open_only=False)}
        assert (rows["old-ep"].lockbox_json, rows["old-lb"].lockbox_json) == ("{}", in_force)
        [outcome] = store.closed_outcomes()
        assert (outcome.closed_on, outcome.outcome_measure, outcome.lockbox_json) == (
            date(2026, 1, 9),
            "PHQ-9",
            in_force,
        )
        stored = admin.execute(
            sql.SQL("SELECT episode_id::text, lockbox FROM {}.episodes ORDER BY 1").format(s)
        ).fetchall()
        assert stored == [("old-ep", "{}"), ("old-lb", in_force)]
        # The originals stay as they were, under their legacy name.
        legacy = admin.execute(sql.SQL("SELECT entry_id, hash FROM {}.audit_v1").format(s)).fetchall()
        assert legacy == [("old-entry", "old-hash")]
        # Row-level security is forced again on every table.
        forced = admin.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> 'schema_migrations'"
            " AND NOT c.relforcerowsecurity",
            (schema,),
        ).fetchone()
        assert forced == (0,)
        # The whole record verifies (fold and projection taken as stored: this checks chains and references).
        episodes, audit, checkpoints, _definitions, _ = scan_record(store)
        states = {e: v.state_json for e in rows if (v := store.load_snapshot(e)) is not None}
        by_state = {json.dumps(json.loads(v)): rows[e] for e, v in states.items()}
        report = verify_record(
            list(episodes),
            audit,
            checkpoints,
            key=None,
            fold=lambda events: states[events[0].episode_id],
            project=lambda state: by_state[json.dumps(json.loads(state))],
        )
        assert report.ok, report.describe()
        store.append(commit("ep-1", 0))
        check_audit(store.audit_records())
    finally:
        store.close()


# -------------------------------------------------------------------------- values PostgreSQL cannot hold


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"payload": {"note": "a\x00b"}}, "control-character"),
        ({"payload": {"note\x00": "key"}}, "control-character"),
        ({"client_ref": "ref\x00"}, "control-character"),
        ({"payload": {"note": "lone \udc80"}}, "unicode"),
        ({"client_ref": "ref\ud800"}, "unicode"),
    ],
)
def test_unstorable_text_is_a_validation_error_and_writes_nothing(
    store: PostgresStore, change: dict[str, object], rule: str
) -> None:
    bad = commit("ep-1", 0, **change)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        store.append(bad)
    assert caught.value.rule == rule
    assert caught.value.__cause__ is None  # the driver's message would quote the value
    assert "\x00" not in str(caught.value)
    assert "ref" not in str(caught.value)
    assert store.load_snapshot("ep-1") is None
    assert store.audit_records() == []


@pytest.mark.parametrize("text", ["a\x00b", "lone \udc80"])
def test_unstorable_text_in_audit_rows_is_a_validation_error(store: PostgresStore, text: str) -> None:
    with pytest.raises(ValidationError):
        store.append_audit([audit_entry("ok", 1), audit_entry("bad", 2, detail=text)])
    assert store.audit_records() == []
    assert store.audit_heads() == []


@pytest.mark.parametrize("key", ["ep\x00", "ep\udc80"])
def test_lookups_with_unstorable_text_find_nothing(store: PostgresStore, key: str) -> None:
    store.append(commit("ep-1", 0, command=("c", "k", "h")))
    assert store.load_snapshot(key) is None
    assert store.load_events(key) == []
    assert store.find_command(CLINIC, "c", key) is None
    assert store.caseload(clinician_id=key) == []


# ------------------------------------------------------------------------------- writers do not queue


def _episode_in_shard(shard: int, *, not_: bool = False) -> str:
    return next(ep for ep in (f"ep-{i}" for i in range(10_000)) if (chain.shard_of(ep) == shard) is not not_)


def test_a_held_shard_head_stops_only_the_writers_of_that_shard(pg, store: PostgresStore) -> None:  # type: ignore[no-untyped-def]
    """One transaction holds shard 3's head (uncommitted): a commit to another shard goes through at
    once; a commit to shard 3 waits for it, then goes through, chained after it."""
    held = psycopg.connect(pg.app_dsn)  # not autocommit: the transaction stays open
    try:
        entry = {
            "clinic_id": CLINIC, "shard": 3, "entry_id": "held", "at": _T0.isoformat(),
            "at_iso": _T0.isoformat(), "actor_id": "a", "actor_role": "r", "purpose": "p", "action": "a",
            "record_type": "t", "record_id": "i", "outcome": "o", "client_ref": "", "detail": "",
            "writes": "",
        }  # fmt: skip
        held.execute(store._db.sql["append_audit"], (CLINIC, json.dumps([entry])))
        other, same = _episode_in_shard(3, not_=True), _episode_in_shard(3)
        t0 = time.perf_counter()
        store.append(commit(other, 0))
        assert time.perf_counter() - t0 < 5.0
        done = threading.Event()
        failures: list[BaseException] = []

        def write_same() -> None:
            try:
                store.append(commit(same, 0))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failures.append(exc)
            done.set()

        writer = threading.Thread(target=write_same)
        writer.start()
        assert not done.wait(1.0)  # queued behind the held head
        held.commit()
        assert done.wait(30.0)
        writer.join()
        assert not failures
    finally:
        held.close()
    records = store.audit_records()
    check_audit(records)
    shard3 = [r.entry_id for r in records if r.shard == 3]
    assert shard3 == ["held", f"{same}-a1"]


def _waiting_for_a_lock(admin: psycopg.Connection[Any], role: str, deadline: float = 60.0) -> None:
    """Return once a backend of ``role`` waits for a lock (polled: no assertion on how long it takes)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'"
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        row = admin.execute(query, (role,)).fetchone()
        if row is not None and row[0] > 0:
            return
        time.sleep(0.02)
    raise AssertionError("the batch never waited for the held shard head")


def test_a_batch_locks_its_shard_heads_in_shard_order_after_its_rows(pg, admin, store: PostgresStore) -> None:  # type: ignore[no-untyped-def]
    """A batch whose first commit is in a higher shard than its second must not hold the higher head while
    it waits for the lower one: linked commit by commit it did, and deadlocked with a writer holding the
    lower head and wanting the higher one (as any writer taking heads in shard order does)."""
    low, high = _episode_in_shard(2), _episode_in_shard(9)
    store.append(commit(low, 0))  # both shard heads exist, so that locking them finds their rows
    first_high = commit(high, 0)
    store.append(first_high)
    held = psycopg.connect(pg.app_dsn)  # not autocommit: the transaction stays open
    other = psycopg.connect(pg.app_dsn)
    failures: list[BaseException] = []
    batch = [commit(high, 1, head=first_high.head), commit(low, 1, head=_head(store, low))]

    def write_batch() -> None:
        try:
            store.append_batch(batch)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    heads = sql.SQL(
        "SELECT h.shard FROM {}.audit_heads h WHERE h.clinic_id = %s AND h.shard = %s FOR UPDATE NOWAIT"
    ).format(sql.Identifier(store.schema))
    writer = threading.Thread(target=write_batch)
    try:
        held.execute("SELECT set_config('alliancekit.clinic_id', %s, true)", (CLINIC,))
        assert held.execute(heads, (CLINIC, 2)).fetchall() == [(2,)]
        writer.start()
        _waiting_for_a_lock(admin, pg.app_role)
        # The batch waits for shard 2's head; shard 9's must still be free.
        other.execute("SELECT set_config('alliancekit.clinic_id', %s, true)", (CLINIC,))
        assert other.execute(heads, (CLINIC, 9)).fetchall() == [(9,)]
        other.rollback()
        held.rollback()
        writer.join(60)
    finally:
        held.close()
        other.close()
    assert not writer.is_alive()
    assert not failures
    records = store.audit_records()
    check_audit(records)
    assert [r.entry_id for r in records if r.shard == 9] == [f"{high}-a1", f"{high}-a2"]
    assert [r.entry_id for r in records if r.shard == 2] == [f"{low}-a1", f"{low}-a2"]


def _head(store: PostgresStore, episode_id: str) -> str:
    snapshot = store.load_snapshot(episode_id)
    assert snapshot is not None
    return snapshot.head


# -------------------------------------------------------------------------------- version 2 (no metadata)


def _version_2_schema(pg, admin) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A schema at version 2 holding one episode: migrations 4 (administration requests) and 3 (practice
    metadata) undone by hand."""
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        practice = Practice(store, plugins=make_plugin_host(load_entry_points=False))
        actor = Actor("clin-1", Role.CLINICIAN, CLINIC)
        episode = practice.start_episode(actor, client_ref="ref-1", clinician_id="clin-1", opened_on=_DAY)
    finally:
        store.close()
    s = sql.Identifier(schema)
    admin.execute(sql.SQL("DROP TABLE {}.administration_requests, {}.kiosk_failures").format(s, s))
    admin.execute(
        sql.SQL(
            "DROP FUNCTION {}.write_request, {}.redeem_code, {}.count_failure, {}.find_request,"
            " {}.get_request, {}.kiosk_failures"
        ).format(s, s, s, s, s, s)
    )
    admin.execute(sql.SQL("DELETE FROM {}.schema_migrations WHERE version = 4").format(s))
    admin.execute(sql.SQL("DROP TABLE {}.practice_meta").format(s))
    admin.execute(sql.SQL("DROP FUNCTION {}.save_meta, {}.load_meta").format(s, s))
    # the later migrations' records too: they run again (the missed-measures one is safe to rerun)
    admin.execute(sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= 3").format(s))
    return schema, episode


def test_read_only_reads_a_version_2_schema_without_metadata(pg, admin) -> None:  # type: ignore[no-untyped-def]
    schema, episode = _version_2_schema(pg, admin)
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        assert reader.schema_version() == 2
        assert [e.seq for e in reader.load_events(episode)] == [1]
        assert reader.load_meta("demo") is None
        with pytest.raises(StoreError):
            reader.save_meta("demo", "{}")
        with Practice(reader, plugins=make_plugin_host(load_entry_points=False)) as practice:
            assert practice.is_demo() is False
            assert practice.clinics() == [CLINIC]
    finally:
        reader.close()
    versions = admin.execute(
        sql.SQL("SELECT max(version) FROM {}.schema_migrations").format(sql.Identifier(schema))
    )
    assert versions.fetchone() == (2,)


def test_a_version_2_schema_migrates_to_keep_metadata(pg, admin) -> None:  # type: ignore[no-untyped-def]
    schema, episode = _version_2_schema(pg, admin)
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        assert store.schema_version() == LATEST_VERSION
        assert [e.seq for e in store.load_events(episode)] == [1]
        assert store.load_meta("demo") is None
        store.save_meta("demo", '{"demo":true}')
        assert store.load_meta("demo") == '{"demo":true}'
        assert store.for_clinic("elsewhere").load_meta("demo") is None
    finally:
        store.close()
    rows = admin.execute(
        sql.SQL("SELECT clinic_id, key FROM {}.practice_meta").format(sql.Identifier(schema))
    )
    # the upgrade also marked the clinic, which held an episode, for its measure definitions to be recorded
    assert sorted(rows.fetchall()) == [(CLINIC, "demo"), (CLINIC, "measure-definitions-backfill")]
