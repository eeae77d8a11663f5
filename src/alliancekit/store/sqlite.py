"""The SQLite store: the embedded default. Builtin plugin for the ``sqlite:`` scheme and bare paths.

Durability and concurrency settings, and why:

* WAL journal, so readers never block the writer and a reader sees a consistent snapshot;
* ``synchronous=FULL``, so a commit that returned survives power loss, not just a process crash;
* write transactions queue on an exclusive lock of a file beside the database (``<name>-writer``, taken
  with ``flock`` where the platform has it, and a thread lock within the process): a waiting writer sleeps
  in the kernel and is woken when the lock is free, where SQLite's busy handler polls with growing sleeps
  (p99 49 ms at 4 writer processes before, single-digit milliseconds with the lock). ``busy_timeout`` stays
  for writers that do not take it (a migration, an older alliancekit);
* WAL checkpoints run on a thread beside the writers (:mod:`alliancekit.store.sqlite_checkpoint`), not
  inside the commit that crosses SQLite's threshold while every other writer waits on its lock;
* write transactions begin ``IMMEDIATE``, so the version check and the insert happen under the write lock
  and two writers cannot both pass the check (the loser gets a ConflictError, never a lost update); the
  audit shard heads are read and moved, and checkpoints sealed (``seal``), under the same lock.

Opened read-only (``SQLiteStore(path, read_only=True)``), the file is opened with ``mode=ro``: nothing is
created, migrated or switched (no ``journal_mode`` write), and every write method raises ``StoreError``. It
reads a database from ``READABLE_FROM`` on as it is: a version-2 file has no practice metadata yet, so
``load_meta`` returns ``None`` there; a file from before migration 10 has no audit recipients, so its
entries read as naming none (as they were hashed). On a filesystem mounted read-only it is opened
``immutable`` (nothing can change it there, and SQLite could not make its shared-memory file), unless its
write-ahead log holds transactions, which an immutable read would skip: that open is refused, naming the
log.

Each thread gets its own connection (``sqlite3`` connections must not be shared between threads).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import sys
import tempfile
import threading
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs

from alliancekit.domain.checks import NO_CLINIC
from alliancekit.errors import (
    ConflictError,
    DuplicateCommand,
    InvalidToken,
    NotAnAlliancekitStore,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    StoreNeedsMigration,
    StoreTooNew,
    ValidationError,
)
from alliancekit.integrity import chain
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.security import private_files
from alliancekit.store import structure
from alliancekit.store.definitions import BACKFILL_KEY, absent, of_commits
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    CommandRecord,
    Commit,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    RequestRecord,
    RequestWrite,
    ShardHead,
    Snapshot,
    StoredDefinition,
    StoredEvent,
)
from alliancekit.store.registry import StoreRegistrar, sqlite_file
from alliancekit.store.request_rows import REQUEST_COLUMNS, request_fields, request_from_row
from alliancekit.store.rows import decoded, number, part
from alliancekit.store.sqlite_checkpoint import WalCheckpointer
from alliancekit.store.sqlite_schema import (
    APPLICATION_ID,
    AUDIT_RECIPIENT_FROM,
    BACKFILL_AUDITED_FROM,
    CLINIC_CHAINS_FROM,
    DEFINITIONS_FROM,
    LATEST_VERSION,
    MIGRATIONS,
    MISSED_MEASURES_FROM,
    OUTBOX_WAITS_FROM,
    POPULATION_FROM,
    READABLE_FROM,
    STRUCTURE,
    UNDER_LOCKBOX_FROM,
)
from alliancekit.store.structure import SchemaFound
from alliancekit.store.upgrade import adoption_entry, backfill_mark_entry, snapshot_v2

if sys.platform != "win32":  # POSIX: writers of every process queue on one file lock
    import fcntl

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000

_INSERT_EVENT = (
    "INSERT INTO events (episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at,"
    " actor_id, actor_role, clinic_id, corrects, payload, prev_hash, hash)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
# The episodes row is written with the version check folded in: one statement per commit in the common case.
#
# * A new episode is an INSERT (its primary key refuses a second writer).
# * An existing one is an UPDATE in place ``WHERE episode_id = ? AND version = <expected>``: no row updated
#   means another writer moved the stream on. This runs under the BEGIN IMMEDIATE write lock, so the
#   version cannot change between the check and the write.
#
# Most commands change neither the clinician of record nor the closing date, the columns of the caseload
# index, and SQLite rewrites an index entry whenever one of its columns is in the SET list, even to the
# same value. So the common UPDATE leaves them out of SET (and requires them unchanged in WHERE), which
# saves a WAL page per commit; transfers and closings fall through to the UPDATE that sets everything.
# The INSERT's columns are the key and the indexed columns, then exactly the UPDATEs' SET list, so one
# tuple of values (``_episode_update_values``) serves all three statements.
_INSERT_EPISODE = (
    "INSERT INTO episodes (episode_id, clinic_id, clinician_id, closed_on, client_ref, stage, version,"
    " opened_on, last_session_on, sessions_attended, latest_scores, open_alerts, next_review_at, review_due,"
    " open_alerts_json, highest_severity, outcome_measure, first_outcome, latest_outcome, outcome_sessions,"
    " modality, ending_reason, lockbox, missed_measures, population, head, state)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE_EPISODE = (
    "UPDATE episodes SET client_ref = ?, stage = ?, version = ?, opened_on = ?, last_session_on = ?,"
    " sessions_attended = ?, latest_scores = ?, open_alerts = ?, next_review_at = ?, review_due = ?,"
    " open_alerts_json = ?, highest_severity = ?, outcome_measure = ?, first_outcome = ?, latest_outcome = ?,"
    " outcome_sessions = ?, modality = ?, ending_reason = ?, lockbox = ?, missed_measures = ?,"
    " population = ?, head = ?, state = ? WHERE episode_id = ? AND version = ?"
    " AND clinic_id = ? AND clinician_id = ? AND closed_on IS ?"
)
_UPDATE_EPISODE_INDEXED = (
    "UPDATE episodes SET client_ref = ?, stage = ?, version = ?, opened_on = ?, last_session_on = ?,"
    " sessions_attended = ?, latest_scores = ?, open_alerts = ?, next_review_at = ?, review_due = ?,"
    " open_alerts_json = ?, highest_severity = ?, outcome_measure = ?, first_outcome = ?, latest_outcome = ?,"
    " outcome_sessions = ?, modality = ?, ending_reason = ?, lockbox = ?, missed_measures = ?,"
    " population = ?, head = ?, state = ?, clinic_id = ?, clinician_id = ?, closed_on = ?"
    " WHERE episode_id = ? AND version = ?"
)
_INSERT_OUTBOX = (
    "INSERT INTO outbox (message_id, episode_id, kind, channel, body, created_at, next_attempt_at,"
    " wait_began_at) VALUES (?,?,?,?,?,?,?,?)"
)
_OUTBOX_COLUMNS = (
    "message_id, episode_id, kind, channel, body, created_at, state, attempts, next_attempt_at,"
    " lease_owner, lease_expires_at, last_error"
)
#: The audit table's columns before migration 10 (``backfill_2`` reads and writes the table before it).
_AUDIT_COLUMNS_2 = (
    "shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose, action, record_type,"
    " record_id, outcome, client_ref, detail, writes, prev_hash, hash"
)
_AUDIT_COLUMNS = _AUDIT_COLUMNS_2 + ", recipient, chain"
#: What a read-only open of a database from before ``audit.recipient`` reads in its place: none named; and
#: from before ``audit.chain``: every entry in the shared part.
_AUDIT_COLUMNS_NO_RECIPIENT = _AUDIT_COLUMNS_2 + ", '', ''"
_AUDIT_COLUMNS_NO_CHAIN = _AUDIT_COLUMNS_2 + ", recipient, ''"
#: Rows a page of :meth:`SQLiteStore.iter_audit_records` holds (a few megabytes of rows at most).
_AUDIT_PAGE_ROWS = 5000
_INSERT_AUDIT = f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_INSERT_AUDIT_2 = f"INSERT INTO audit ({_AUDIT_COLUMNS_2}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"  # noqa: S608
_INSERT_COMMAND = (
    "INSERT INTO commands (clinic_id, command, key, request_hash, episode_id, version) VALUES (?,?,?,?,?,?)"
)
#: A clinic's shard's last entry, found through the (chain, shard, position) index; and every chain's every
#: shard's (SQLite returns the bare columns of the row holding the max).
_SHARD_HEAD = "SELECT position, hash FROM audit WHERE chain = ? AND shard = ? ORDER BY position DESC LIMIT 1"
_CHAIN_HEADS = (
    "SELECT chain, shard, max(position), hash FROM audit GROUP BY chain, shard ORDER BY chain, shard"
)
_CLINIC_HEADS = (
    "SELECT chain, shard, max(position), hash FROM audit WHERE chain = ? GROUP BY shard ORDER BY shard"
)
#: Before migration 13 (``backfill_2``, ``backfill_11``, a read-only open of an older file): one set of
#: shard chains.
_SHARD_HEAD_2 = "SELECT position, hash FROM audit WHERE shard = ? ORDER BY position DESC LIMIT 1"
_SHARD_HEADS_2 = "SELECT '', shard, max(position), hash FROM audit GROUP BY shard ORDER BY shard"
_CLOSED_OUTCOMES = (
    "SELECT clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,"
    " modality, ending_reason, lockbox, {population} FROM episodes INDEXED BY episodes_closed_outcomes"
    " WHERE closed_on IS NOT NULL"
)
_EVENT_COLUMNS = (
    "episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at, actor_id, actor_role,"
    " clinic_id, payload, corrects, prev_hash, hash"
)
_CASELOAD_COLUMNS = (
    "episode_id, clinic_id, clinician_id, client_ref, stage, version, opened_on, last_session_on,"
    " sessions_attended, latest_scores, open_alerts, next_review_at, review_due, closed_on,"
    " open_alerts_json, highest_severity, outcome_measure, first_outcome, latest_outcome, outcome_sessions,"
    " modality, ending_reason, lockbox"
)
#: The closed rows that carry lockbox directives (``Store.caseload(closed_under_lockbox=True)``).
_CLOSED_UNDER_LOCKBOX = "closed_on IS NOT NULL AND lockbox <> '{}'"
#: The rows of other clinicians that carry lockbox directives (``Store.caseload(others_under_lockbox=True)``).
_OTHERS_UNDER_LOCKBOX = "clinician_id <> ? AND lockbox <> '{}'"
#: The caseload's last columns: ``missed_measures``, or none missed on a database from before it; then
#: ``population``, or the snapshot's on a database from before that column (a read-only open).
_MISSED_COLUMN = ", missed_measures"
_NONE_MISSED = ", '[]'"
_POPULATION_COLUMN = "population"
_SNAPSHOT_POPULATION = "json_extract(state, '$.population')"


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _event_row(e: StoredEvent) -> tuple[Any, ...]:
    return (
        e.episode_id,
        e.seq,
        e.event_id,
        e.type,
        e.schema_version,
        chain.time_text(e.occurred_at),
        chain.time_text(e.recorded_at),
        e.actor_id,
        e.actor_role,
        e.clinic_id,
        e.corrects,
        e.payload_json,
        e.prev_hash,
        e.hash,
    )


def _episode_insert_row(c: Commit) -> tuple[Any, ...]:
    r = c.caseload
    return (r.episode_id, r.clinic_id, r.clinician_id, _iso(r.closed_on), *_episode_update_values(c))


def _episode_update_values(c: Commit) -> tuple[Any, ...]:
    """The values both UPDATE statements set first, in their order."""
    r = c.caseload
    return (
        r.client_ref,
        r.stage,
        r.version,
        r.opened_on.isoformat(),
        _iso(r.last_session_on),
        r.sessions_attended,
        r.latest_scores_json,
        r.open_alerts,
        r.next_review_at,
        int(r.review_due),
        r.open_alerts_json,
        r.highest_severity,
        r.outcome_measure,
        r.first_outcome,
        r.latest_outcome,
        r.outcome_sessions,
        r.modality,
        r.ending_reason,
        r.lockbox_json,
        r.missed_measures_json,
        r.population,
        c.head,
        c.snapshot_json,
    )


def _audit_row(a: AuditRecord, position: int, prev_hash: str, digest: str) -> tuple[Any, ...]:
    """The row of ``a`` at ``position`` of its clinic's shard, after ``prev_hash``, hashed ``digest``
    (:func:`alliancekit.integrity.chain.chained`); its chain is its clinic's."""
    return (
        a.shard,
        position,
        a.entry_id,
        chain.time_text(a.at),
        a.actor_id,
        a.actor_role,
        a.clinic_id,
        a.purpose,
        a.action,
        a.record_type,
        a.record_id,
        a.outcome,
        a.client_ref,
        a.detail,
        a.writes,
        prev_hash,
        digest,
        a.recipient,
        a.clinic_id,
    )


def _audit_record(r: Sequence[Any]) -> AuditRecord:
    return AuditRecord(
        shard=r[0],
        position=r[1],
        entry_id=r[2],
        at=datetime.fromisoformat(r[3]),
        actor_id=r[4],
        actor_role=r[5],
        clinic_id=r[6],
        purpose=r[7],
        action=r[8],
        record_type=r[9],
        record_id=r[10],
        outcome=r[11],
        client_ref=r[12],
        detail=r[13],
        writes=r[14],
        prev_hash=r[15],
        hash=r[16],
        recipient=r[17],
        chain=r[18],
    )


def _event_from_row(r: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        episode_id=r[0],
        seq=r[1],
        event_id=r[2],
        type=r[3],
        schema_version=r[4],
        occurred_at=datetime.fromisoformat(r[5]),
        recorded_at=datetime.fromisoformat(r[6]),
        actor_id=r[7],
        actor_role=r[8],
        clinic_id=r[9],
        payload_json=r[10],
        corrects=r[11],
        prev_hash=r[12],
        hash=r[13],
    )


def _write_audit(conn: sqlite3.Connection, records: Sequence[AuditRecord]) -> None:
    """Chain ``records`` in their clinic's chains, shard by shard after each shard's head; the caller holds
    the write lock (so two writers never read one head: each clinic's heads stay right under any number of
    writers, threads or processes)."""
    groups: dict[tuple[str, int], list[AuditRecord]] = {}
    for record in records:
        groups.setdefault((record.clinic_id, record.shard), []).append(record)
    for (clinic, shard), group in sorted(groups.items()):
        row = conn.execute(_SHARD_HEAD, (clinic, shard)).fetchone()
        head = None if row is None else ShardHead(shard, int(row[0]), str(row[1]))
        conn.executemany(_INSERT_AUDIT, [_audit_row(*linked) for linked in chain.chained(group, head)])


def _write_audit_2(conn: sqlite3.Connection, records: Sequence[AuditRecord]) -> None:
    """As :func:`_write_audit` on the table before chains per clinic (``backfill_2``, ``backfill_11``): one
    set of shard chains, no ``recipient`` (their entries name none, so they hash alike with or without it)
    and no ``chain`` (migration 13 puts these entries in the shared part)."""
    groups: dict[int, list[AuditRecord]] = {}
    for record in records:
        groups.setdefault(record.shard, []).append(record)
    for shard, group in sorted(groups.items()):
        row = conn.execute(_SHARD_HEAD_2, (shard,)).fetchone()
        head = None if row is None else ShardHead(shard, int(row[0]), str(row[1]))
        rows = [_audit_row(*linked)[:-2] for linked in chain.chained(group, head)]
        conn.executemany(_INSERT_AUDIT_2, rows)


def _insert_command(conn: sqlite3.Connection, command: CommandRecord) -> None:
    """A keyed command's record; a key already used is :class:`DuplicateCommand`."""
    try:
        conn.execute(
            _INSERT_COMMAND,
            (
                command.clinic_id,
                command.command,
                command.key,
                command.request_hash,
                command.episode_id,
                command.version,
            ),
        )
    except sqlite3.IntegrityError:
        raise DuplicateCommand(command.key) from None


def _write_definitions(conn: sqlite3.Connection, definitions: Sequence[StoredDefinition]) -> None:
    """Insert the absent ones; a changed one raises before anything of it is written (the caller holds the
    write transaction, which then rolls back)."""
    if not definitions:
        return
    stored = {}
    for key in {(d.measure_id, d.version) for d in definitions}:
        row = conn.execute(
            "SELECT sha256 FROM measure_definitions WHERE measure_id = ? AND version = ?", key
        ).fetchone()
        if row is not None:
            stored[key] = str(row[0])
    conn.executemany(
        "INSERT INTO measure_definitions (measure_id, version, sha256, definition) VALUES (?,?,?,?)",
        [(d.measure_id, d.version, d.sha256, d.definition_json) for d in absent(stored, definitions)],
    )


def _write_commit(conn: sqlite3.Connection, commit: Commit) -> None:
    """Every row of one command's commit; the caller holds the write transaction."""
    _write_definitions(conn, commit.definitions)
    _write_episode(conn, commit)
    if commit.command is not None:
        _insert_command(conn, commit.command)
    conn.executemany(_INSERT_EVENT, [_event_row(e) for e in commit.events])
    if commit.outbox:
        conn.executemany(_INSERT_OUTBOX, [_outbox_row(m) for m in commit.outbox])
    if commit.audit:
        _write_audit(conn, commit.audit)
    if commit.request is not None:
        _write_request(conn, commit.request)


_REQUEST_COLUMNS = ", ".join(REQUEST_COLUMNS)
#: A kiosk code that may be redeemed at the bound time: not yet given its token, not used, revoked or expired.
_REDEEMABLE = "token_hash IS NULL AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"


def _request_record(row: Sequence[Any]) -> RequestRecord:
    return request_from_row(row, lambda us: _EPOCH + us * _MICROSECOND)


def _write_request(conn: sqlite3.Connection, write: RequestWrite) -> None:
    """A command's change to a request, in its commit; a consume that finds no live request refuses it."""
    key = (write.clinic_id, write.request_id)
    if write.action == "create":
        assert write.record is not None  # noqa: S101 - a create carries its record
        conn.execute(
            f"INSERT INTO administration_requests ({_REQUEST_COLUMNS})"  # noqa: S608
            f" VALUES ({', '.join('?' * len(REQUEST_COLUMNS))})",
            tuple(request_fields(write.record, _micros).values()),
        )
        return
    if write.action == "revoke":
        conn.execute(
            "UPDATE administration_requests SET revoked_at = ? WHERE clinic_id = ? AND request_id = ?"
            " AND used_at IS NULL AND revoked_at IS NULL",
            (_micros(write.at), *key),
        )
    else:
        at = _micros(write.at)
        done = conn.execute(
            "UPDATE administration_requests SET used_at = ? WHERE clinic_id = ? AND request_id = ?"
            " AND used_at IS NULL AND revoked_at IS NULL AND token_hash IS NOT NULL AND expires_at > ?",
            (at, *key, at),
        ).rowcount
        if done != 1:
            raise InvalidToken()
    if write.cancel_messages:
        conn.executemany(
            "UPDATE outbox SET state = 'delivered', last_error = 'cancelled', lease_owner = NULL,"
            " lease_expires_at = NULL, settled_at = ? WHERE message_id = ? AND state = 'pending'",
            [(_micros(write.at), m) for m in write.cancel_messages],
        )


def _write_batch(conn: sqlite3.Connection, commits: Sequence[Commit]) -> None:
    """Every row of a batch of commits; the caller holds the write transaction.

    As :func:`_write_commit` one by one, but an episode's row is written once, at its first commit's
    expected version with its last commit's snapshot and caseload row, and each table's rows go in with
    one ``executemany``."""
    firsts: dict[str, Commit] = {}
    lasts: dict[str, Commit] = {}
    for commit in commits:
        episode_id = commit.episode_id
        before = lasts.get(episode_id)
        if before is not None and commit.expected_version != before.new_version:
            raise ConflictError(episode_id, commit.expected_version, before.new_version)
        firsts.setdefault(episode_id, commit)
        lasts[episode_id] = commit
    _write_definitions(conn, of_commits(commits))
    for episode_id, first in firsts.items():
        last = lasts[episode_id]
        _write_episode(conn, attrs.evolve(last, expected_version=first.expected_version, events=()))
    for commit in commits:
        if commit.command is not None:
            _insert_command(conn, commit.command)
    conn.executemany(_INSERT_EVENT, [_event_row(e) for commit in commits for e in commit.events])
    conn.executemany(_INSERT_OUTBOX, [_outbox_row(m) for commit in commits for m in commit.outbox])
    _write_audit(conn, [a for commit in commits for a in commit.audit])
    for commit in commits:  # after the outbox: a request may settle a reminder written in this batch
        if commit.request is not None:
            _write_request(conn, commit.request)


def _outbox_row(m: OutboxRecord) -> tuple[Any, ...]:
    due = m.next_attempt_at or m.created_at
    due_us = _micros(due)
    return (
        m.message_id,
        m.episode_id,
        m.kind,
        m.channel,
        m.body_json,
        m.created_at.isoformat(),
        due_us,
        due_us if due == m.created_at else None,  # due at once: a wait of nothing, from its creation
    )


def _checkpoint_row(c: AuditCheckpoint) -> tuple[Any, ...]:
    heads = json.dumps([[h.shard, h.position, h.hash] for h in c.heads], separators=(",", ":"))
    return (c.chain, c.seq, heads, c.root, c.mac, c.at.isoformat())


def _checkpoint_record(r: Sequence[Any]) -> AuditCheckpoint:
    heads = tuple(ShardHead(int(s), int(p), str(h), str(r[0])) for s, p, h in json.loads(r[2]))
    return AuditCheckpoint(
        seq=r[1], heads=heads, root=r[3], mac=r[4], at=datetime.fromisoformat(r[5]), chain=r[0]
    )


_CHECKPOINT_COLUMNS = "chain, seq, heads, root, mac, at"
#: A read-only open of a database from before migration 13: every checkpoint seals the shared part.
_CHECKPOINT_COLUMNS_NO_CHAIN = "'', seq, heads, root, mac, at"


def _backfill_2(conn: sqlite3.Connection) -> None:
    """Give the rows of a version-1 database what migration 2 expects of them, inside its transaction.

    Events are hash-chained as they stand and each episode's head kept on its row; its snapshot gains the
    lockbox directives in force (:func:`alliancekit.store.upgrade.snapshot_v2`); the version-1 audit
    rows (moved to shard 0) are re-linked with the version-2 entry hash; and one ``migrate-schema`` entry
    per episode names the head it adopted, so every head is referenced from the audit log. Tamper evidence
    starts here: what was changed before the migration cannot be told apart.
    """
    now = datetime.now(UTC)
    adopted: list[AuditRecord] = []
    episodes = conn.execute(
        "SELECT episode_id, clinic_id, client_ref, state FROM episodes ORDER BY episode_id"
    ).fetchall()
    for episode_id, clinic_id, client_ref, state_json in episodes:
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE episode_id = ? ORDER BY seq",  # noqa: S608
            (episode_id,),
        ).fetchall()
        head = chain.GENESIS
        updates = []
        events = [_event_from_row(row) for row in rows]
        for event in events:
            digest = chain.event_hash(event, head)
            updates.append((head, digest, event.episode_id, event.seq))
            head = digest
        conn.executemany(
            "UPDATE events SET prev_hash = ?, hash = ? WHERE episode_id = ? AND seq = ?", updates
        )
        snapshot, lockbox = snapshot_v2(state_json, events)
        conn.execute(
            "UPDATE episodes SET head = ?, state = ?, lockbox = ? WHERE episode_id = ?",
            (head, snapshot, lockbox, episode_id),
        )
        adopted.append(adoption_entry(episode_id, clinic_id, client_ref, len(rows), head, now))
    old = [
        _audit_from_row(r)
        for r in conn.execute(
            f"SELECT {_AUDIT_COLUMNS_NO_RECIPIENT} FROM audit ORDER BY shard, position"  # noqa: S608
        )
    ]
    conn.execute("DELETE FROM audit")
    _write_audit_2(conn, old)
    _write_audit_2(conn, adopted)


#: Python steps run right after a migration's SQL, in the same transaction.
def _backfill_8(conn: sqlite3.Connection) -> None:
    """Pending messages due at their creation wait from it (migration 8); the others keep their time."""
    rows = conn.execute(
        "SELECT message_id, created_at, next_attempt_at FROM outbox WHERE state = 'pending'"
    ).fetchall()
    conn.executemany(
        "UPDATE outbox SET wait_began_at = next_attempt_at WHERE message_id = ?",
        [(r[0],) for r in rows if _micros(datetime.fromisoformat(r[1])) == r[2]],
    )


def _backfill_11(conn: sqlite3.Connection) -> None:
    """Record the mark of migration 6, if the file has it, in the audit log (migration 11): one entry under
    no clinic (the mark is the whole file's), chained after its shard's head."""
    if conn.execute("SELECT 1 FROM practice_meta WHERE key = ?", (BACKFILL_KEY,)).fetchone() is None:
        return
    # the audit table as it is at this migration: chains per clinic come later (migration 13), unless the
    # file already has them (a newer file whose version reads lower, as tests fabricate an older one)
    write = _write_audit if _chains_there(conn) else _write_audit_2
    write(conn, [backfill_mark_entry(NO_CLINIC, datetime.now(UTC), BACKFILL_AUDITED_FROM)])


_BACKFILLS: dict[int, Callable[[sqlite3.Connection], None]] = {
    2: _backfill_2,
    OUTBOX_WAITS_FROM: _backfill_8,
    BACKFILL_AUDITED_FROM: _backfill_11,
}


def _chains_there(conn: sqlite3.Connection) -> bool:
    """Whether migration 13 has run (``audit.chain`` is there): it is then not run again, as tests fabricate
    an older version by lowering ``user_version`` alone, and running it again would put every clinic's
    chains in the shared part."""
    return any(row[1] == "chain" for row in conn.execute("PRAGMA table_info(audit)"))


#: Migrations that are not safe to run again, with how to tell one has run.
_APPLIED: dict[int, Callable[[sqlite3.Connection], bool]] = {CLINIC_CHAINS_FROM: _chains_there}


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _write_episode(conn: sqlite3.Connection, commit: Commit) -> None:
    """Insert or update the episode's row; ConflictError if the stream is not at the expected version."""
    r = commit.caseload
    if commit.expected_version == 0:
        try:
            conn.execute(_INSERT_EPISODE, _episode_insert_row(commit))
            return
        except sqlite3.IntegrityError:
            exists = conn.execute("SELECT 1 FROM episodes WHERE episode_id = ?", (commit.episode_id,))
            if exists.fetchone() is None:
                raise  # not a second writer: a genuine constraint failure
    else:
        values, key = _episode_update_values(commit), (commit.episode_id, commit.expected_version)
        indexed = (r.clinic_id, r.clinician_id, _iso(r.closed_on))
        if conn.execute(_UPDATE_EPISODE, (*values, *key, *indexed)).rowcount:
            return
        if conn.execute(_UPDATE_EPISODE_INDEXED, (*values, *indexed, *key)).rowcount:
            return
    row = conn.execute("SELECT version FROM episodes WHERE episode_id = ?", (commit.episode_id,)).fetchone()
    raise ConflictError(commit.episode_id, commit.expected_version, 0 if row is None else row[0])


def _caseload_record(r: Sequence[Any]) -> CaseloadRow:
    return CaseloadRow(
        episode_id=r[0],
        clinic_id=r[1],
        clinician_id=r[2],
        client_ref=r[3],
        stage=r[4],
        version=r[5],
        opened_on=date.fromisoformat(r[6]),
        last_session_on=_date(r[7]),
        sessions_attended=r[8],
        latest_scores_json=r[9],
        open_alerts=r[10],
        next_review_at=r[11],
        review_due=bool(r[12]),
        closed_on=_date(r[13]),
        open_alerts_json=r[14],
        highest_severity=r[15],
        outcome_measure=r[16],
        first_outcome=r[17],
        latest_outcome=r[18],
        outcome_sessions=r[19],
        modality=r[20],
        ending_reason=r[21],
        lockbox_json=r[22],
        missed_measures_json=r[23],
        population=r[24],
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _micros(value: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def _from_micros(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def _outbox_record(r: Any) -> OutboxRecord:
    return OutboxRecord(
        message_id=r[0],
        episode_id=r[1],
        kind=r[2],
        channel=r[3],
        body_json=r[4],
        created_at=datetime.fromisoformat(r[5]),
        state=OutboxState(r[6]),
        attempts=r[7],
        next_attempt_at=_from_micros(r[8]),
        lease_owner=r[9],
        lease_expires_at=_from_micros(r[10]),
        last_error=r[11],
    )


# Each row decoded through one check (alliancekit.store.rows): a value changed outside alliancekit is
# UnreadableRow, named by the row's key, never its content.
_audit_from_row = decoded(
    "audit",
    lambda r: f"shard {number(r[0])} position {number(r[1])}" + (f" of chain {part(r[18])}" if r[18] else ""),
    _audit_record,
    clinic=6,
)
_caseload_from_row = decoded("episodes", lambda r: f"episode {part(r[0])}", _caseload_record, clinic=1)
_checkpoint_from_row = decoded(
    "audit_checkpoints",
    lambda r: f"checkpoint {number(r[1])}" + (f" of chain {part(r[0])}" if r[0] else ""),
    _checkpoint_record,
    clinic=0,
)
_request_from_row = decoded(
    "administration_requests", lambda r: f"request {part(r[1])}", _request_record, clinic=0
)
# by clinic and command, never by key (a host may derive keys from what it has)
_command_from_row = decoded(
    "commands",
    lambda r: f"command {part(r[1])} of clinic {part(r[0])}",
    lambda r: CommandRecord(*r),
    clinic=0,
)
_definition_from_row = decoded(
    "measure_definitions",
    lambda r: f"measure {part(r[0])} version {part(r[1])}",
    lambda r: StoredDefinition(*r),
    shared=True,
)


class SQLiteStore:
    """A store in one SQLite file. Safe to use from several threads and several processes."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        if "\x00" in str(path):
            raise ValidationError("location", "path", "a file path without NUL characters")
        if str(path) == ":memory:":  # each thread's connection would be a database of its own
            raise ValidationError("location", "path", "a file path; a store in memory is memory:")
        self.path = Path(path)
        self.read_only = bool(read_only)
        self._local = threading.local()
        self._connections: set[sqlite3.Connection] = set()
        """Each thread's open connection (one per thread): :meth:`close` closes and forgets them."""
        self._busy: dict[sqlite3.Connection, int] = {}
        """The connections a thread is in a call on (:meth:`_held`), with its depth."""
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # a connection left _busy
        self._closers = 0  # threads in close() waiting on _idle: only then is a release announced
        self._writer = threading.Lock()  # one writer of this store's threads at a time
        self._writer_fd: int | None = None
        self._version = LATEST_VERSION
        self._checkpointer: WalCheckpointer | None = None
        self._checked: tuple[sqlite3.Connection, int, int] | None = None
        """The connection, its ``data_version`` and its ``total_changes`` when :meth:`check_file` passed."""
        try:
            self._open()
        except StoreError as exc:  # names the file for its caller (the CLI's --db), not only in its words
            if exc.location is None:
                exc.location = str(self.path)
            raise

    def _open(self) -> None:
        """Check the file (read-only), or make or upgrade it (for writing)."""
        if self.read_only:
            self._check_readable()
            return
        try:
            for side in dict.fromkeys((*database_files(self.path), *database_files(self.path.resolve()))):
                private_files.refuse_planted(side)  # SQLite would write the records into them
            private_files.create_empty(self.path)  # a new database (and its journals) is owner-only
        except PermissionError as exc:  # another user's link or file in the way
            name = Path(str(exc.filename)).name
            raise StoreError(f"cannot open {name} for writing: {exc.strerror}") from None
        self._prepare()
        page_size = int(self._connect().execute("PRAGMA page_size").fetchone()[0])
        self._checkpointer = WalCheckpointer(self.path, page_size)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- connections and schema ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        """This thread's connection: opened on its first call, and again after :meth:`close` closed it."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn in self._connections or conn in self._busy):
            return conn
        try:
            if self.read_only:
                uri = f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode=ro"
                if _on_read_only_filesystem(self.path) and not _pending_log(self.path):
                    # nothing can change it there, and SQLite could not make its shared-memory file
                    uri += "&immutable=1"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            # A missing directory or a path that is a directory: not someone else's database.
            raise StoreError(f"cannot open {self.path}: {self._unopenable(exc)}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # journal_mode=WAL is set once by _prepare, after the file is known to be ours: it is
            # persistent, and switching someone else's database to WAL would change their file.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.read_only:
                conn.execute("PRAGMA query_only = ON")
            else:  # checkpoints run beside the writers (sqlite_checkpoint), not inside a commit
                conn.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException as exc:
            conn.close()  # not yet among this store's connections: close() would not find it
            if isinstance(exc, sqlite3.DatabaseError):
                problem = self._open_problem(exc)  # the file or the disk: says nothing of whose the file is
                if problem is not None:
                    raise StoreError(problem) from exc
                if _code(exc) == _SQLITE_CORRUPT:
                    raise self._damaged() from exc
                raise NotAnAlliancekitStore(f"{self.path.name} is not an alliancekit database") from exc
            raise
        self._local.conn = conn
        with self._lock:
            self._connections.add(conn)
        return conn

    def _take(self) -> sqlite3.Connection:
        """This thread's connection, marked in use until :meth:`_release`: :meth:`close` waits for it before
        it closes the connection (closing it under another thread's statement crashes the interpreter)."""
        while True:
            conn = self._connect()
            with self._lock:
                busy = self._busy
                if conn in busy:
                    busy[conn] += 1
                    return conn
                if conn in self._connections:  # not closed meanwhile
                    busy[conn] = 1
                    return conn

    def _release(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            depth = self._busy.pop(conn) - 1
            if depth:
                self._busy[conn] = depth
            elif self._closers:
                self._idle.notify_all()

    @contextlib.contextmanager
    def _held(self) -> Iterator[sqlite3.Connection]:
        """:meth:`_take` for the block. (The reads every command makes take and release in line: a
        generator-based context costs a few microseconds a call.)"""
        conn = self._take()
        try:
            yield conn
        finally:
            self._release(conn)

    def _check_readable(self) -> None:
        """For a read-only store: the file exists, is a non-empty alliancekit database at a schema this
        alliancekit reads (``READABLE_FROM`` to the latest)."""
        name = self.path.name
        if not self.path.is_file():
            raise NotAnAlliancekitStore(f"{name}: no such file (a read-only open never creates one)")
        if self.path.stat().st_size == 0:
            raise NotAnAlliancekitStore(f"{name} is empty, not an alliancekit database")
        try:
            conn = self._connect()
            app_id, version = self._identity(conn)
        except sqlite3.DatabaseError as exc:
            self.close()
            if _code(exc) == _SQLITE_CORRUPT:  # an alliancekit database torn or truncated: not someone else's
                raise self._damaged() from exc
            raise NotAnAlliancekitStore(f"{name} is not an alliancekit database") from exc
        except BaseException:
            self.close()
            raise
        problem: StoreError | None = None
        if app_id != APPLICATION_ID:
            problem = NotAnAlliancekitStore(f"{name} is not an alliancekit database")
        elif version > LATEST_VERSION:
            problem = StoreTooNew(
                f"{name} has schema version {version}; this alliancekit knows up to {LATEST_VERSION}: "
                "upgrade alliancekit"
            )
        elif version < READABLE_FROM:
            problem = StoreNeedsMigration(
                f"{name} has schema version {version}, older than this alliancekit's {LATEST_VERSION}: open "
                "it for writing once to migrate it (a read-only open never migrates)"
            )
        if problem is not None:
            self.close()
            raise problem
        try:
            # the tables there, not the version stated alone: lowering it must not hide later tables' checks
            self._version = self._structure(conn, version).read_as
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._failed(exc, "read") from exc

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path.name} was opened read-only: writes are refused")

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Hold the writers' lock: this store's threads, then every process's (an ``flock`` on
        ``<name>-writer``), so writers queue in the kernel rather than poll SQLite's write lock."""
        with self._writer:
            if sys.platform == "win32":  # pragma: no cover - there the busy handler queues the writers
                yield
                return
            if self._writer_fd is None:
                lock_path = self.path.with_name(self.path.name + "-writer")
                try:
                    # never through a link: another user could plant one beside a database in a shared
                    # directory, to have a file made (or a lock shared) where they choose
                    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                    self._writer_fd = os.open(lock_path, flags, 0o600)
                except OSError as exc:
                    if _on_read_only_filesystem(self.path):  # SQLite opened it: its -shm file was there
                        raise StoreError(self._read_only_filesystem()) from exc
                    raise StoreError(f"cannot open the writers' lock of {self.path.name}") from exc
            fd = self._writer_fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _prepare(self) -> None:
        """Check the file is ours (or empty) and bring its schema up to date."""
        conn = self._connect()
        try:
            app_id, version = self._identity(conn)
            if app_id == APPLICATION_ID and version == LATEST_VERSION:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                app_id, version = self._identity(conn)
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if app_id != APPLICATION_ID and (app_id != 0 or tables):
                    raise NotAnAlliancekitStore(f"{self.path.name} is not an alliancekit database")
                if version > LATEST_VERSION:
                    raise StoreTooNew(
                        f"{self.path.name} has schema version {version}; this alliancekit knows up to "
                        f"{LATEST_VERSION}: upgrade alliancekit"
                    )
                for number in range(version + 1, LATEST_VERSION + 1):
                    if number in _APPLIED and _APPLIED[number](conn):
                        continue
                    for statement in _statements(MIGRATIONS[number - 1]):
                        if not _column_there(conn, statement):
                            conn.execute(statement)
                    if number in _BACKFILLS:
                        _BACKFILLS[number](conn)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # SQLite has rolled back itself on some errors (a full disk)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA journal_mode = WAL")  # outside the transaction: SQLite requires it
        except sqlite3.DatabaseError as exc:
            self.close()
            if _code(exc) in _BUSY:  # another process holds the write lock (a long migration, a backup tool)
                raise self._busy_error() from exc
            if _code(exc) == _SQLITE_CORRUPT:
                raise self._damaged() from exc
            problem = self._disk_problem(exc)  # a full disk says nothing of whose the file is
            if problem is not None:
                raise StoreError(problem) from exc
            raise NotAnAlliancekitStore(f"{self.path.name} is not an alliancekit database") from exc
        except BaseException:
            self.close()
            raise

    def _unopenable(self, exc: sqlite3.Error) -> str:
        """Why SQLite could not open the file at all, in a user's words (never its message)."""
        if self.path.is_dir():
            return "it is a directory"
        if not self.path.parent.is_dir():
            a_file = any(p.exists() and not p.is_dir() for p in self.path.parents)
            return f"{'not a' if a_file else 'no such'} directory: {self.path.parent}"
        return _DISK_PROBLEMS.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF, "the file cannot be opened")

    def _open_problem(self, exc: sqlite3.Error) -> str | None:
        """Why the file cannot be opened (None: an error of the data), in a user's words, naming the file."""
        why = _DISK_PROBLEMS.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
        if why is None:
            return None
        journal = journal_beside(self.path)
        if self.read_only and _code(exc) == _READONLY and journal is not None:
            # SQLite must roll an unfinished transaction back (a hot journal) before it may read the file,
            # and a read-only open cannot: the file is not read-only, the open is
            return (
                f"cannot open {self.path} read-only: {journal.name} is beside it, the journal of a "
                "transaction that was not finished (a writer stopped mid-write), which SQLite must roll back "
                "before the file can be read, and a read-only open never writes; open the file (or a copy of "
                "both files) for writing once, which rolls it back"
            )
        if not _on_read_only_filesystem(self.path):
            if _directory_locked(self.path):
                return (
                    f"cannot open {self.path}: its directory is not writable, and SQLite keeps the "
                    "database's -wal and -shm files beside it (make the directory writable, or copy the file "
                    "to a writable place to read it)"
                )
            return f"cannot open {self.path}: {why}"
        if not self.read_only:
            return self._read_only_filesystem()
        return (
            f"cannot open {self.path}: it is on a read-only filesystem with a write-ahead log not yet merged "
            f"({self.path.name}-wal): copy both files to a writable place to read it"
        )

    def _read_only_filesystem(self) -> str:
        return (
            f"cannot open {self.path} for writing: it is on a read-only filesystem (it can be checked "
            "there with alliancekit verify; a command that reads clinical content writes its audit entry)"
        )

    def _disk_problem(self, exc: sqlite3.Error) -> str | None:
        """What went wrong with the file or the disk, naming the file (never SQLite's message, which may
        quote a value); None for an error of the data."""
        why = _DISK_PROBLEMS.get(getattr(exc, "sqlite_errorcode", -1) & 0xFF)
        return None if why is None else f"cannot write {self.path}: {why}"

    def _damaged(self, what: str = "SQLite finds the database file malformed") -> StoreCorrupt:
        """The file is malformed: said as such, not as someone else's file, and never in SQLite's words."""
        return StoreCorrupt(
            f"{self.path.name} is damaged: {what} (a torn copy, a truncated file, a disk fault or a change "
            "outside alliancekit); restore it from a backup"
        )

    def _busy_error(self) -> StoreBusy:
        return StoreBusy(
            f"{self.path.name} is locked by another process's write transaction: gave up after waiting "
            f"{BUSY_TIMEOUT_MS / 1000:g} s; nothing was written, try again"
        )

    def _failed(self, exc: sqlite3.Error, doing: str) -> StoreError:
        """A read or write that SQLite refused, as this hierarchy's error (never SQLite's message, which may
        quote a value): a damaged file, a lock held too long, the disk, else SQLite's exception type."""
        if _code(exc) == _SQLITE_CORRUPT:
            return self._damaged()
        if _undecodable(exc):
            return self._damaged("a stored text is not valid UTF-8")
        if _code(exc) in _BUSY:
            return self._busy_error()
        if doing == "write":
            problem = self._disk_problem(exc)
            if problem is not None:
                return StoreError(problem)
        return StoreError(f"SQLite {doing} failed: {type(exc).__name__}")

    @staticmethod
    def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app_id), int(version)

    def schema_versions(self) -> tuple[int, int]:
        """The schema version the file states, and this alliancekit's: the first is lower only on a
        read-only open of a file an older release wrote (an open for writing migrates it first), or whose
        version was lowered by hand (read as its tables are, :meth:`schema_found`, and a backup copied as it
        stands then fails verification's ``schema`` check rather than being upgraded)."""
        return self.schema_version(), LATEST_VERSION

    def schema_version(self) -> int:
        with self._held() as conn:
            return self._identity(conn)[1]

    def schema_found(self) -> SchemaFound:
        """The ``user_version`` the file states and what its tables say of it (verification compares
        them, :mod:`alliancekit.store.structure`)."""
        with self._held() as conn:
            try:
                return self._structure(conn, self._identity(conn)[1])
            except sqlite3.DatabaseError as exc:
                raise self._failed(exc, "read") from exc

    @staticmethod
    def _structure(conn: sqlite3.Connection, stated: int) -> SchemaFound:
        """What the file's tables, their columns and its indexes say of its ``stated`` version."""
        names = conn.execute(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'index')"
        ).fetchall()
        present = {str(name) for name, _type in names}
        for table in [str(name) for name, kind in names if kind == "table"]:
            quoted = table.replace('"', '""')
            present.update(f"{table}.{row[1]}" for row in conn.execute(f'PRAGMA table_info("{quoted}")'))
        return structure.found(stated, STRUCTURE, present, LATEST_VERSION)

    # -- writes --------------------------------------------------------------------------------------------

    def append(self, commit: Commit) -> None:
        self._write(lambda conn: _write_commit(conn, commit))

    def append_batch(self, commits: Sequence[Commit]) -> None:
        if commits:
            self._write(lambda conn: _write_batch(conn, commits))

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        if records:
            self._write(lambda conn: _write_audit(conn, records))

    @property
    def audit_chains_per_clinic(self) -> bool:
        """Whether the audit log is chained, and sealed, per clinic (:attr:`AuditRecord.chain`): ``seal``
        then takes a clinic, and the audit reads the chains to read (``scan_record``). False for a
        read-only open of a file from before migration 13 (all of it is the shared part)."""
        return self._version >= CLINIC_CHAINS_FROM

    def seal(
        self,
        make: Callable[[Sequence[ShardHead], AuditCheckpoint | None], AuditCheckpoint | None],
        *,
        clinic: str | None = None,
    ) -> AuditCheckpoint | None:
        """For each audit chain (``clinic``'s only, when given), read its heads and its last checkpoint,
        call ``make``, insert its checkpoint in that chain: under one ``BEGIN IMMEDIATE``, so sealers in
        other threads and processes queue behind this one. Returns the last checkpoint written (``None``:
        ``make`` wrote none)."""

        def work(conn: sqlite3.Connection) -> AuditCheckpoint | None:
            chains: dict[str, list[ShardHead]] = {} if clinic is None else {clinic: []}
            query, params = (_CHAIN_HEADS, ()) if clinic is None else (_CLINIC_HEADS, (clinic,))
            for r in conn.execute(query, params):
                name = str(r[0])
                chains.setdefault(name, []).append(ShardHead(int(r[1]), int(r[2]), str(r[3]), name))
            written = None
            for name, heads in (chains or {"": []}).items():  # an empty log: one chain with no heads
                row = conn.execute(
                    f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE chain = ?"  # noqa: S608
                    " ORDER BY seq DESC LIMIT 1",
                    (name,),
                ).fetchone()
                checkpoint = make(heads, None if row is None else _checkpoint_from_row(row))
                if checkpoint is not None:
                    written = checkpoint = attrs.evolve(checkpoint, chain=name)
                    conn.execute(
                        f"INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS}) VALUES (?,?,?,?,?,?)",  # noqa: S608
                        _checkpoint_row(checkpoint),
                    )
            return written

        result: AuditCheckpoint | None = self._write(work)
        return result

    def replace_payloads(
        self, updates: Sequence[tuple[str, int, str]], *, audit: Sequence[AuditRecord] = ()
    ) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
                [(payload, episode_id, seq) for episode_id, seq, payload in updates],
            )
            _write_audit(conn, audit)

        self._write(work)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writers' lock across what this thread reads, decides and writes in the block.

        The runner retries a command that lost a race for an episode in here: optimistic writes alone let
        a writer that never pauses win every race, and the other run out of retries (starvation); under
        the lock its second try cannot lose. The writes in the block commit one by one, as outside it."""
        self._writable()
        if getattr(self._local, "exclusive", False):
            yield
            return
        with self._write_lock():
            self._local.exclusive = True
            try:
                yield
            finally:
                self._local.exclusive = False

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a ``BEGIN IMMEDIATE`` transaction and return its result."""
        self._writable()
        held = getattr(self._local, "exclusive", False)  # the lock is this thread's already
        try:
            with contextlib.nullcontext() if held else self._write_lock(), self._held() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
        except sqlite3.Error as exc:
            raise self._failed(exc, "write") from exc
        if self._checkpointer is not None:
            self._checkpointer.committed()
        return result

    # -- outbox delivery ----------------------------------------------------------------------------------

    def claim_outbox(
        self, owner: str, channels: Sequence[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxRecord]:
        channels = list(dict.fromkeys(channels))
        if not channels or limit <= 0:
            return []
        now_us, until_us = _micros(now), _micros(lease_until)
        marks = ",".join("?" * len(channels))

        def claim(conn: sqlite3.Connection) -> list[OutboxRecord]:
            # Under the write lock (BEGIN IMMEDIATE) the select and the lease cannot interleave with
            # another dispatcher's: the second one sees the first one's lease. Waits and leases that began
            # after now (the clock went back) begin again now, as long as they were.
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ? + next_attempt_at - wait_began_at, wait_began_at = ?"
                " WHERE state = 'pending' AND wait_began_at > ?",
                (now_us, now_us, now_us),
            )
            conn.execute(
                "UPDATE outbox SET lease_expires_at = ? + lease_expires_at - lease_began_at,"
                " lease_began_at = ? WHERE state = 'pending' AND lease_expires_at IS NOT NULL"
                " AND lease_began_at > ?",
                (now_us, now_us, now_us),
            )
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT message_id FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?"  # noqa: S608
                    f" AND channel IN ({marks}) AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
                    " ORDER BY next_attempt_at, message_id LIMIT ?",
                    (now_us, *channels, now_us, limit),
                )
            ]
            if not ids:
                return []
            conn.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_expires_at = ?, lease_began_at = ?"
                " WHERE message_id = ?",
                [(owner, until_us, now_us, i) for i in ids],
            )
            placeholders = ",".join("?" * len(ids))
            rows = conn.execute(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE message_id IN ({placeholders})"  # noqa: S608
                " ORDER BY next_attempt_at, message_id",
                ids,
            ).fetchall()
            return [_outbox_record(r) for r in rows]

        result: list[OutboxRecord] = self._write(claim)
        return result

    def outbox_delivered(self, owner: str, message_ids: Sequence[str], at: datetime) -> int:
        if not message_ids:
            return 0
        at_us = _micros(at)

        def mark(conn: sqlite3.Connection) -> int:
            done = 0
            for message_id in message_ids:
                done += conn.execute(
                    "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, lease_owner = NULL,"
                    " lease_expires_at = NULL, last_error = NULL, settled_at = ?"
                    " WHERE message_id = ? AND state = 'pending'",
                    (at_us, message_id),
                ).rowcount
            return done

        result: int = self._write(mark)
        return result

    def outbox_failed(
        self, owner: str, message_id: str, *, error: str, next_attempt_at: datetime, at: datetime
    ) -> bool:
        return self._settle_failure(
            owner,
            message_id,
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?,"
            " wait_began_at = ?, lease_owner = NULL, lease_expires_at = NULL"
            " WHERE message_id = ? AND state = 'pending' AND lease_owner = ?",
            (error, _micros(next_attempt_at), _micros(at), message_id, owner),
        )

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        return self._settle_failure(
            owner,
            message_id,
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, settled_at = ?,"
            " wait_began_at = NULL, lease_owner = NULL, lease_expires_at = NULL"
            " WHERE message_id = ? AND state = 'pending' AND lease_owner = ?",
            (error, _micros(at), message_id, owner),
        )

    def _settle_failure(self, owner: str, message_id: str, sql: str, params: tuple[Any, ...]) -> bool:
        result: bool = self._write(lambda conn: conn.execute(sql, params).rowcount == 1)
        return result

    def outbox_requeue(self, message_id: str, now: datetime) -> bool:
        result: bool = self._write(
            lambda conn: (
                conn.execute(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = ?,"
                    " wait_began_at = ?, last_error = NULL, settled_at = NULL,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE message_id = ? AND state = 'dead'",
                    (_micros(now), _micros(now), message_id),
                ).rowcount
                == 1
            )
        )
        return result

    def outbox_status(self) -> OutboxStatus:
        counts = dict(self._read("SELECT state, count(*) FROM outbox GROUP BY state", ()))
        # next_attempt_at is written with every message (its created_at when it has no time of its own)
        [(oldest, due)] = self._read(
            "SELECT min(created_at), min(next_attempt_at) FROM outbox WHERE state = 'pending'", ()
        )
        return OutboxStatus(
            pending=counts.get("pending", 0),
            delivered=counts.get("delivered", 0),
            dead=counts.get("dead", 0),
            oldest_pending_at=None if oldest is None else datetime.fromisoformat(oldest),
            next_due_at=_from_micros(due),
        )

    def outbox_records(
        self, state: OutboxState | None = None, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        # A message keeps its rowid as its state changes: the page after one starts past its rowid (none
        # when there is no such message: the comparison with NULL is never true).
        where = " WHERE rowid > (SELECT rowid FROM outbox WHERE message_id = ?)" if after is not None else ""
        params: tuple[Any, ...] = () if after is None else (after,)
        if state is not None:
            where += " AND state = ?" if where else " WHERE state = ?"
            params += (OutboxState(state).value,)
        rows = self._read(
            f"SELECT {_OUTBOX_COLUMNS} FROM outbox{where} ORDER BY rowid LIMIT ?",  # noqa: S608
            (*params, limit),
        )
        return [_outbox_record(r) for r in rows]

    # -- reads -----------------------------------------------------------------------------------------------

    def load_snapshot(self, episode_id: str) -> Snapshot | None:
        row = self._read("SELECT version, state, head FROM episodes WHERE episode_id = ?", (episode_id,))
        return None if not row else Snapshot(row[0][0], row[0][1], row[0][2])

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        rows = self._read(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE episode_id = ? AND seq > ? ORDER BY seq",  # noqa: S608
            (episode_id, after),
        )
        return [_event_from_row(r) for r in rows]

    def caseload(
        self,
        *,
        clinic_id: str | None = None,
        clinician_id: str | None = None,
        open_only: bool = True,
        closed_under_lockbox: bool = False,
        others_under_lockbox: bool = False,
    ) -> list[CaseloadRow]:
        clinic: list[str] = []
        clinic_params: list[str] = []
        if clinic_id is not None:
            clinic.append("clinic_id = ?")
            clinic_params.append(clinic_id)
        clauses, params = list(clinic), list(clinic_params)
        if clinician_id is not None:
            clauses.append("clinician_id = ?")
            params.append(clinician_id)
        select = f"SELECT {_CASELOAD_COLUMNS}{self._missed}, {self._population} FROM episodes"  # noqa: S608

        def where(terms: list[str]) -> str:
            return f" WHERE {' AND '.join(terms)}" if terms else ""

        # Each leg of one statement (one snapshot) on an index: with the flag, the closed rows with
        # directives are found on the closed outcomes' partial index (it carries the directives), and the
        # other clinicians' rows with directives on the partial index of the rows under a lockbox, so the
        # rows without any are never read.
        legs: list[tuple[str, list[str]]]
        if not open_only:
            legs = [(select + where(clauses), params)]
        elif not closed_under_lockbox:
            legs = [(select + where([*clauses, "closed_on IS NULL"]), params)]
        else:
            legs = [
                (select + where([*clauses, "closed_on IS NULL"]), params),
                (select + where([*clauses, _CLOSED_UNDER_LOCKBOX]), params),
            ]
        if clinician_id is not None and others_under_lockbox:
            indexed = " INDEXED BY episodes_under_lockbox" if self._version >= UNDER_LOCKBOX_FROM else ""
            terms = [*clinic, _OTHERS_UNDER_LOCKBOX]
            if open_only and not closed_under_lockbox:
                terms.append("closed_on IS NULL")
            legs.append((select + indexed + where(terms), [*clinic_params, clinician_id]))
        query = " UNION ALL ".join(leg for leg, _ in legs)
        rows = self._read(query + " ORDER BY episode_id", tuple(p for _, ps in legs for p in ps))
        return [_caseload_from_row(r) for r in rows]

    def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]:
        """Closed episodes' outcome columns, from the covering index ``episodes_closed_outcomes``."""
        select = _CLOSED_OUTCOMES.format(population=self._population)
        if clinic_id is None:
            rows = self._read(select + " ORDER BY clinic_id, episode_id", ())
        else:
            rows = self._read(select + " AND clinic_id = ? ORDER BY episode_id", (clinic_id,))
        dates: dict[str, date] = {}  # a few hundred distinct closing dates among many thousand rows

        def day(text: str) -> date:
            found = dates.get(text)
            if found is None:
                found = dates[text] = date.fromisoformat(text)
            return found

        return [ClosedOutcome(r[0], day(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]) for r in rows]

    def episode_ids(self) -> Iterator[str]:
        return iter([r[0] for r in self._read("SELECT episode_id FROM episodes ORDER BY episode_id", ())])

    def episode_clinics(self) -> list[str]:
        """The clinics named by the caseload rows, as stored: read without decoding a row (one changed
        outside alliancekit must not stop the choice of whose record to verify)."""
        return [r[0] for r in self._read("SELECT DISTINCT clinic_id FROM episodes ORDER BY clinic_id", ())]

    def find_command(self, clinic_id: str, command: str, key: str) -> CommandRecord | None:
        rows = self._read(
            "SELECT request_hash, episode_id, version FROM commands"
            " WHERE clinic_id = ? AND command = ? AND key = ?",
            (clinic_id, command, key),
        )
        if not rows:
            return None
        return CommandRecord(clinic_id, command, key, rows[0][0], rows[0][1], rows[0][2])

    def command_records(self) -> list[CommandRecord]:
        """Every keyed command's record, by clinic, command and key (verification only)."""
        rows = self._read(
            "SELECT clinic_id, command, key, request_hash, episode_id, version FROM commands"
            " ORDER BY clinic_id, command, key",
            (),
        )
        return [_command_from_row(row) for row in rows]

    @property
    def _audit_columns(self) -> str:
        # a read-only open of a database from before a column: every entry names no recipient, and every
        # entry is in the shared part
        if self._version >= CLINIC_CHAINS_FROM:
            return _AUDIT_COLUMNS
        return (
            _AUDIT_COLUMNS_NO_CHAIN if self._version >= AUDIT_RECIPIENT_FROM else _AUDIT_COLUMNS_NO_RECIPIENT
        )

    def _chain_filter(self, chains: Sequence[str] | None) -> tuple[str, tuple[str, ...]]:
        """The condition reading only ``chains`` (everything for ``None``, and on a database from before
        chains per clinic, whose entries are all in the shared part)."""
        if chains is None or self._version < CLINIC_CHAINS_FROM:
            return "", ()
        names = tuple(dict.fromkeys(chains))
        return f"chain IN ({','.join('?' * len(names))})", names

    def audit_records(
        self, *, chains: Sequence[str] | None = None, clinics: Sequence[str] | None = None
    ) -> list[AuditRecord]:
        """Every audit entry in the order written; ``chains``: those of these chains only (``""``: the
        shared part a file kept before chains per clinic); ``clinics``: those of these clinics only."""
        where, params = self._chain_filter(chains)
        if clinics is not None:
            names = tuple(dict.fromkeys(clinics))
            where = " AND ".join(w for w in (where, f"clinic_id IN ({','.join('?' * len(names))})") if w)
            params = (*params, *names)
        where = f" WHERE {where}" if where else ""
        rows = self._read(f"SELECT {self._audit_columns} FROM audit{where} ORDER BY rowid", params)  # noqa: S608
        return [_audit_from_row(r) for r in rows]

    def iter_audit_records(self, *, chains: Sequence[str] | None = None) -> Iterator[AuditRecord]:
        """The audit entries by chain, shard then position (``chains``: of these chains only), a page at a
        time: verification walks a log of millions of entries without holding it (inside
        ``read_transaction`` every page is of one snapshot). Keyset pages over the (chain, shard, position)
        index, each query starting where the last ended; the rowid breaks ties, so that a position a
        tamperer duplicated (with the table rebuilt without its UNIQUE constraint) is not skipped at a
        page's edge but reported out of place."""
        where, params = self._chain_filter(chains)
        per_clinic = self._version >= CLINIC_CHAINS_FROM
        key = "chain, shard, position, rowid" if per_clinic else "shard, position, rowid"
        order = f"ORDER BY {key} LIMIT ?"
        page = f"SELECT {self._audit_columns}, rowid FROM audit"  # noqa: S608
        rows = self._read(f"{page}{f' WHERE {where}' if where else ''} {order}", (*params, _AUDIT_PAGE_ROWS))
        after = f"({key}) > ({'?, ?, ?, ?' if per_clinic else '?, ?, ?'})"
        where = f" WHERE {where} AND {after}" if where else f" WHERE {after}"
        while rows:
            yield from (_audit_from_row(r) for r in rows)
            if len(rows) < _AUDIT_PAGE_ROWS:
                return
            last = rows[-1]
            mark = (last[18], last[0], last[1], last[-1]) if per_clinic else (last[0], last[1], last[-1])
            rows = self._read(f"{page}{where} {order}", (*params, *mark, _AUDIT_PAGE_ROWS))

    def audit_heads(self) -> list[ShardHead]:
        """The head of every shard of every chain that has entries, by chain then shard."""
        rows = self._read(_CHAIN_HEADS if self._version >= CLINIC_CHAINS_FROM else _SHARD_HEADS_2, ())
        return [ShardHead(int(r[1]), int(r[2]), str(r[3]), str(r[0])) for r in rows]

    def audit_checkpoints(self, *, chains: Sequence[str] | None = None) -> list[AuditCheckpoint]:
        """Every checkpoint, by chain then ``seq`` (``chains``: of these chains only)."""
        where, params = self._chain_filter(chains)
        if self._version >= CLINIC_CHAINS_FROM:
            select, order = f"SELECT {_CHECKPOINT_COLUMNS}", "chain, seq"
        else:
            select, order = f"SELECT {_CHECKPOINT_COLUMNS_NO_CHAIN}", "seq"
        where = f" WHERE {where}" if where else ""
        rows = self._read(f"{select} FROM audit_checkpoints{where} ORDER BY {order}", params)
        return [_checkpoint_from_row(r) for r in rows]

    # -- administration requests ----------------------------------------------------------------------------

    def _requests(self, where: str, params: tuple[Any, ...]) -> list[RequestRecord]:
        if self._version < 4:  # a read-only open of an older database: no requests table yet
            return []
        rows = self._read(f"SELECT {_REQUEST_COLUMNS} FROM administration_requests WHERE {where}", params)  # noqa: S608
        return [_request_from_row(r) for r in rows]

    def request_records(self) -> list[RequestRecord]:
        """Every administration request, by clinic and id (verification only)."""
        return self._requests("1 ORDER BY clinic_id, request_id", ())

    def find_request(self, token_hash: str) -> RequestRecord | None:
        found = self._requests("token_hash = ?", (token_hash,))
        return found[0] if found else None

    def get_request(self, clinic_id: str, request_id: str) -> RequestRecord | None:
        found = self._requests("clinic_id = ? AND request_id = ?", (clinic_id, request_id))
        return found[0] if found else None

    def find_code(self, clinic_id: str, code_hash: str, at: datetime) -> RequestRecord | None:
        where = f"clinic_id = ? AND code_hash = ? AND {_REDEEMABLE}"
        found = self._requests(where, (clinic_id, code_hash, _micros(at)))
        return found[0] if found else None

    def redeem_code(
        self, clinic_id: str, code_hash: str, token_hash: str, at: datetime
    ) -> RequestRecord | None:
        now = _micros(at)

        def redeem(conn: sqlite3.Connection) -> RequestRecord | None:
            row = conn.execute(
                f"UPDATE administration_requests SET token_hash = ? WHERE clinic_id = ? AND code_hash = ?"  # noqa: S608
                f" AND {_REDEEMABLE} RETURNING {_REQUEST_COLUMNS}",
                (token_hash, clinic_id, code_hash, now),
            ).fetchone()
            return None if row is None else _request_from_row(row)

        result: RequestRecord | None = self._write(redeem)
        return result

    def count_failure(self, clinic_id: str, source: str, window: datetime) -> int:
        def count(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "INSERT INTO kiosk_failures (clinic_id, source, window_start, failures) VALUES (?, ?, ?, 1)"
                " ON CONFLICT (clinic_id, source, window_start) DO UPDATE SET failures = failures + 1"
                " RETURNING failures",
                (clinic_id, source, _micros(window)),
            ).fetchone()
            return int(row[0])

        result: int = self._write(count)
        return result

    def failures(self, clinic_id: str, source: str, window: datetime) -> int:
        if self._version < 4:
            return 0
        rows = self._read(
            "SELECT failures FROM kiosk_failures WHERE clinic_id = ? AND source = ? AND window_start = ?",
            (clinic_id, source, _micros(window)),
        )
        return int(rows[0][0]) if rows else 0

    @property
    def _missed(self) -> str:
        # a read-only open of a database from before the column: none missed
        return _MISSED_COLUMN if self._version >= MISSED_MEASURES_FROM else _NONE_MISSED

    @property
    def _population(self) -> str:
        # a read-only open of a database from before the column: the snapshot's (shape 5 holds it; an
        # older shape holds none, as its episodes name none)
        return _POPULATION_COLUMN if self._version >= POPULATION_FROM else _SNAPSHOT_POPULATION

    def load_meta(self, key: str) -> str | None:
        if self._version < 3:  # a read-only open of a version-2 database: no metadata table yet
            return None
        rows = self._read("SELECT value FROM practice_meta WHERE key = ?", (key,))
        return str(rows[0][0]) if rows else None

    @property
    def holds_definitions(self) -> bool:
        """Whether the schema keeps measure definitions: false for a read-only open of an older database,
        whose administrations then have none stored (verification does not ask for them)."""
        return self._version >= DEFINITIONS_FROM

    @property
    def audits_backfill_mark(self) -> bool:
        """Whether the schema records the backfill mark in the audit log: false for a read-only open of a
        database from before (its mark has no entry, and verification does not ask for one)."""
        return self._version >= BACKFILL_AUDITED_FROM

    def measure_definitions(self) -> list[StoredDefinition]:
        if self._version < DEFINITIONS_FROM:  # a read-only open of an older database: none stored
            return []
        rows = self._read(
            "SELECT measure_id, version, sha256, definition FROM measure_definitions"
            " ORDER BY measure_id, version",
            (),
        )
        return [_definition_from_row(row) for row in rows]

    def save_definitions(self, definitions: Sequence[StoredDefinition]) -> None:
        self._write(lambda conn: _write_definitions(conn, definitions))

    def save_meta(self, key: str, value_json: str) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO practice_meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value_json),
            )
        )

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Reads of this thread inside the block see one snapshot of the database (a deferred ``BEGIN``)."""
        with self._held() as conn:
            try:
                conn.execute("BEGIN")
            except sqlite3.Error as exc:
                raise self._failed(exc, "read") from exc
            ended = False
            try:
                yield
                ended = True
            finally:
                try:
                    if conn.in_transaction:
                        conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    # ending a read of a damaged file fails too: the error the block raised is the one to
                    # report (not replaced by SQLite's own exception, nor printed as "Exception ignored")
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    if ended:
                        raise self._failed(exc, "read") from exc

    def clinics_held(self) -> list[str]:
        """Every clinic with a row in this database (an episode, an event, a command, a request, an audit
        entry): whose records a copy of the whole file holds. An entry made by no actor (``(none)``) is no
        clinic's. Reads every table with a ``clinic_id`` column, so a table added later is counted too."""
        conn = self._take()
        try:
            return _clinics_held(conn)
        except sqlite3.Error as exc:
            raise self._failed(exc, "read") from exc
        finally:
            self._release(conn)

    def back_up(
        self,
        target: Path,
        *,
        check: Callable[[str], None] | None = None,
        clinics: Collection[str] | None = None,
    ) -> None:
        """Write a consistent copy of this database to ``target``, published whole or not at all.

        SQLite's online backup API copies every page in one step, from one read snapshot, while writers in
        other threads and processes carry on. The copy is made in a hidden owner-only sibling of ``target``
        (mode 0600: it holds the same records), in rollback-journal mode (so that a read-only open of it
        makes no side files; the first open for writing turns it back to WAL), synced, checked with
        :meth:`check_file` and then with ``check(staged_path)`` (which raises to refuse it), and only then
        renamed onto ``target`` (never onto a database with a ``-wal`` or ``-journal`` file beside it, which
        SQLite would apply to the copy: :class:`~alliancekit.errors.StoreError`). With ``clinics`` (those
        whose records the backup was decided and audited for), a copy holding another clinic's rows (one
        that wrote its first record meanwhile) is refused with :class:`~alliancekit.errors.StoreError`: take
        the backup again. On any error (a full disk, a damaged source, Ctrl-C) the sibling is removed and
        ``target`` is left as it was. Raises :class:`~alliancekit.errors.StoreError` (the disk),
        :class:`~alliancekit.errors.StoreCorrupt` (this database or the copy is damaged)."""
        target = Path(target)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=target.parent)  # mode 0600
        os.close(fd)
        staged = Path(name)
        try:
            try:
                with contextlib.closing(sqlite3.connect(staged, isolation_level=None)) as copy:
                    with self._held() as conn:
                        conn.backup(copy)
                    copy.execute("PRAGMA journal_mode = DELETE")
            except sqlite3.Error as exc:
                if _disk_problem_of(exc) is not None:
                    raise StoreError(f"cannot write {target}: {_disk_problem_of(exc)}") from exc
                raise self._failed(exc, "read") from exc
            with os.fdopen(os.open(staged, os.O_RDONLY | os.O_CLOEXEC)) as synced:
                os.fsync(synced.fileno())
            copied = SQLiteStore(staged, read_only=True)
            try:
                copied.check_file()
                if clinics is not None and not set(copied.clinics_held()) <= set(clinics):
                    raise StoreError("the store gained a clinic while it was copied: take the backup again")
            except StoreCorrupt as exc:  # a copy page for page: the damage is this database's
                raise self._damaged() from exc
            finally:
                copied.close()
            if check is not None:
                check(str(staged))
            if (
                journal := journal_beside(target)
            ) is not None:  # checked last: it may have appeared meanwhile
                raise StoreError(
                    f"cannot replace {target}: {journal.name} is beside it (a database in use, or not closed "
                    "cleanly), which SQLite would apply to the copy; name another file"
                )
            os.replace(staged, target)
        except BaseException:
            for side in database_files(staged):
                with contextlib.suppress(OSError):
                    side.unlink()
            raise
        for side in database_files(staged)[1:]:  # a read-only check leaves none; a host's check might
            with contextlib.suppress(OSError):
                side.unlink()
        with contextlib.suppress(OSError):  # the rename itself made durable
            directory = os.open(target.parent, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def check_file(self) -> None:
        """Raise :class:`~alliancekit.errors.StoreCorrupt` unless SQLite's ``PRAGMA quick_check`` finds the
        file's structure sound (every page of every table and index readable and well formed; it does not
        compare an index with its table, which ``integrity_check`` also does, at several times the cost).

        The check reads every page, so it is not repeated while the file is unchanged: a second call on the
        same connection passes at once when no connection has committed since the check passed (SQLite's
        ``data_version``, for the others' commits, and the connection's own ``total_changes``). Verifying
        every clinic of a file thus checks it once, not once a clinic."""
        conn = self._take()
        try:
            state = (conn, int(conn.execute("PRAGMA data_version").fetchone()[0]), conn.total_changes)
            if state == self._checked:
                return
            sound = conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.Error as exc:
            raise self._failed(exc, "read") from exc
        finally:
            self._release(conn)
        if not sound:
            raise self._damaged()
        self._checked = state

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check`` answer (``"ok"`` when the file is sound)."""
        return str(self._read("PRAGMA integrity_check", ())[0][0])

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        conn = self._take()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._failed(exc, "read") from exc
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close every thread's connection, each once no other thread is in a call on it (a call begun
        meanwhile opens a connection of its own: the store may be used again)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
        mine = getattr(self._local, "conn", None)  # this thread's own calls are not under way: it is here
        with self._lock:
            closing, self._connections = self._connections, set()
            self._closers += 1
            try:
                while any(conn in self._busy and conn is not mine for conn in closing):
                    self._idle.wait()
            finally:
                self._closers -= 1
            for conn in closing:
                conn.close()
        with self._writer:
            if self._writer_fd is not None:
                os.close(self._writer_fd)
                self._writer_fd = None


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


_ADD_COLUMN = re.compile(r"ALTER TABLE (\w+) ADD COLUMN (\w+) ")


def _column_there(conn: sqlite3.Connection, statement: str) -> bool:
    """Whether ``statement`` adds a column the table has already (SQLite has no ``ADD COLUMN IF NOT
    EXISTS``): a migration that only adds one (10) is then safe to run again, as tests fabricate an older
    version by lowering ``user_version`` alone. A file at a version never has a later one's columns."""
    match = _ADD_COLUMN.match(statement)
    if match is None:
        return False
    table, column = match.groups()
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


#: The files kept beside a database: SQLite's journals and this store's writers' lock file.
SIDE_FILES = ("-wal", "-shm", "-journal", "-writer")


def database_files(path: Path) -> tuple[Path, ...]:
    """The database file and the files kept beside it: what removing the database removes."""
    return (path, *(path.with_name(path.name + suffix) for suffix in SIDE_FILES))


def journal_beside(path: Path) -> Path | None:
    """A ``-wal`` or ``-journal`` file beside ``path`` (a database in use, or not closed cleanly), else
    ``None``. SQLite applies such a file to whatever database is next opened at ``path``: a copy renamed
    onto it would be read with another database's pages."""
    for side in database_files(path)[1:]:
        if side.name.endswith(("-wal", "-journal")) and side.exists():
            return side
    return None


#: SQLite's primary result codes about the file or the disk rather than the data, in a user's words.
_DISK_PROBLEMS = {
    3: "permission denied",  # SQLITE_PERM
    8: "the file is read-only",  # SQLITE_READONLY
    10: "a disk I/O error",  # SQLITE_IOERR
    13: "the disk is full",  # SQLITE_FULL
    14: "the file cannot be opened",  # SQLITE_CANTOPEN
}


#: SQLite's primary result code for a file it may not write (SQLITE_READONLY).
_READONLY = 8
#: SQLite's primary result code for a malformed database file (SQLITE_CORRUPT).
_SQLITE_CORRUPT = 11
#: SQLITE_BUSY and SQLITE_LOCKED: another connection held the lock past the busy timeout.
_BUSY = (5, 6)


def _undecodable(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` is Python's refusal of a stored text that is not UTF-8 (bytes changed on disk where a
    page's checksum-free structure still holds: SQLite's integrity check passes). Its message quotes the
    text, so it is recognised by its fixed beginning and never shown."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("Could not decode to UTF-8")


def _code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code of ``exc`` (-1 when it has none)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return -1 if code is None else int(code) & 0xFF


def _clinics_held(conn: sqlite3.Connection) -> list[str]:
    """The clinics with a row in a table of ``conn``'s database with a ``clinic_id`` column (one snapshot)."""
    held: set[str] = set()
    begun = not conn.in_transaction  # inside a read transaction already: its snapshot
    if begun:
        conn.execute("BEGIN")
    try:
        tables = [str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            if any(column[1] == "clinic_id" for column in conn.execute(f'PRAGMA table_info("{table}")')):
                held.update(str(row[0]) for row in conn.execute(f'SELECT DISTINCT clinic_id FROM "{table}"'))  # noqa: S608 - a table's own name
    finally:
        if begun:
            conn.execute("COMMIT")
    return sorted(held - {NO_CLINIC, ""})


def _disk_problem_of(exc: sqlite3.Error) -> str | None:
    """What ``exc`` says of the file or the disk, in a user's words; None for an error of the data."""
    return _DISK_PROBLEMS.get(_code(exc))


def _on_read_only_filesystem(path: Path) -> bool:
    """Whether ``path`` is on a filesystem mounted read-only (a forensic copy, a snapshot, a container's
    read-only volume)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no such file yet, or no statvfs (Windows)
        return False


def _directory_locked(path: Path) -> bool:
    """Whether ``path`` can be read but its directory not written, where the database has no shared-memory
    file yet: SQLite cannot make it, so even a read-only open fails (as SQLITE_READONLY or CANTOPEN)."""
    shm = path.with_name(path.name + "-shm")
    return os.access(path, os.R_OK) and not os.access(path.parent, os.W_OK | os.X_OK) and not shm.exists()


def _pending_log(path: Path) -> bool:
    """Whether the database has a write-ahead log with transactions in it: an immutable read ignores them."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def open_sqlite(location: str, *, read_only: bool = False) -> SQLiteStore:
    path = sqlite_file(location)
    assert path is not None  # noqa: S101 - the registry calls this opener for sqlite locations only
    return SQLiteStore(path, read_only=read_only)


@hookimpl
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    register("sqlite", open_sqlite)
