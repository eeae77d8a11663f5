"""The SQLite store: the embedded default. Builtin plugin for the ``sqlite:`` scheme and bare paths.

Durability and concurrency settings, and why:

* WAL journal, so readers never block the writer and a reader sees a consistent snapshot;
* ``synchronous=FULL``, so a commit that returned survives power loss, not just a process crash;
* ``busy_timeout``, so a second process waits for the write lock instead of failing at once;
* write transactions begin ``IMMEDIATE``, so the version check and the insert happen under the write lock
  and two writers cannot both pass the check (the loser gets a ConflictError, never a lost update).

Each thread gets its own connection (``sqlite3`` connections must not be shared between threads).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from alliancekit.errors import (
    ConflictError,
    DuplicateCommand,
    NotAnAlliancekitStore,
    StoreError,
    StoreTooNew,
    ValidationError,
)
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.security.audit_chain import link
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    Commit,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    StoredEvent,
)
from alliancekit.store.registry import StoreRegistrar, split_location
from alliancekit.store.sqlite_schema import APPLICATION_ID, LATEST_VERSION, MIGRATIONS

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000

_INSERT_EVENT = (
    "INSERT INTO events (episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at,"
    " actor_id, actor_role, clinic_id, corrects, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
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
    " modality, ending_reason, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE_EPISODE = (
    "UPDATE episodes SET client_ref = ?, stage = ?, version = ?, opened_on = ?, last_session_on = ?,"
    " sessions_attended = ?, latest_scores = ?, open_alerts = ?, next_review_at = ?, review_due = ?,"
    " open_alerts_json = ?, highest_severity = ?, outcome_measure = ?, first_outcome = ?, latest_outcome = ?,"
    " outcome_sessions = ?, modality = ?, ending_reason = ?,"
    " state = ? WHERE episode_id = ? AND version = ?"
    " AND clinic_id = ? AND clinician_id = ? AND closed_on IS ?"
)
_UPDATE_EPISODE_INDEXED = (
    "UPDATE episodes SET client_ref = ?, stage = ?, version = ?, opened_on = ?, last_session_on = ?,"
    " sessions_attended = ?, latest_scores = ?, open_alerts = ?, next_review_at = ?, review_due = ?,"
    " open_alerts_json = ?, highest_severity = ?, outcome_measure = ?, first_outcome = ?, latest_outcome = ?,"
    " outcome_sessions = ?, modality = ?, ending_reason = ?,"
    " state = ?, clinic_id = ?, clinician_id = ?, closed_on = ? WHERE episode_id = ? AND version = ?"
)
_INSERT_OUTBOX = (
    "INSERT INTO outbox (message_id, episode_id, kind, channel, body, created_at, next_attempt_at)"
    " VALUES (?,?,?,?,?,?,?)"
)
_OUTBOX_COLUMNS = (
    "message_id, episode_id, kind, channel, body, created_at, state, attempts, next_attempt_at,"
    " lease_owner, lease_expires_at, last_error"
)
_INSERT_AUDIT = (
    "INSERT INTO audit (seq, entry_id, at, actor_id, actor_role, clinic_id, purpose, action, record_type,"
    " record_id, outcome, client_ref, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_AUDIT_COLUMNS = (
    "seq, entry_id, at, actor_id, actor_role, clinic_id, purpose, action, record_type, record_id, outcome,"
    " client_ref, detail, prev_hash, hash"
)
_CLOSED_OUTCOMES = (
    "SELECT clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,"
    " modality, ending_reason FROM episodes INDEXED BY episodes_closed_outcomes WHERE closed_on IS NOT NULL"
)
_EVENT_COLUMNS = (
    "episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at, actor_id, actor_role,"
    " clinic_id, payload, corrects"
)
_CASELOAD_COLUMNS = (
    "episode_id, clinic_id, clinician_id, client_ref, stage, version, opened_on, last_session_on,"
    " sessions_attended, latest_scores, open_alerts, next_review_at, review_due, closed_on,"
    " open_alerts_json, highest_severity, outcome_measure, first_outcome, latest_outcome, outcome_sessions,"
    " modality, ending_reason"
)


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _event_row(e: StoredEvent) -> tuple[Any, ...]:
    return (
        e.episode_id,
        e.seq,
        e.event_id,
        e.type,
        e.schema_version,
        e.occurred_at.isoformat(),
        e.recorded_at.isoformat(),
        e.actor_id,
        e.actor_role,
        e.clinic_id,
        e.corrects,
        e.payload_json,
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
        c.snapshot_json,
    )


def _audit_row(a: AuditRecord) -> tuple[Any, ...]:
    return (
        a.position,
        a.entry_id,
        a.at.isoformat(),
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
        a.prev_hash,
        a.hash,
    )


def _write_audit(conn: sqlite3.Connection, records: Sequence[AuditRecord]) -> None:
    """Chain ``records`` after the last stored entry; the caller holds the write lock (BEGIN IMMEDIATE)."""
    row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    linked = link(records, None if row is None else (int(row[0]), str(row[1])))
    conn.executemany(_INSERT_AUDIT, [_audit_row(a) for a in linked])


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


def _caseload_from_row(r: Sequence[Any]) -> CaseloadRow:
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


class SQLiteStore:
    """A store in one SQLite file. Safe to use from several threads and several processes."""

    def __init__(self, path: str | Path) -> None:
        if "\x00" in str(path):
            raise ValidationError("location", "path", "a file path without NUL characters")
        self.path = Path(path)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._prepare()

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- connections and schema ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            # A missing directory or a path that is a directory: not someone else's database.
            raise StoreError(f"cannot open {self.path.name}: {type(exc).__name__}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # journal_mode=WAL is set once by _prepare, after the file is known to be ours: it is
            # persistent, and switching someone else's database to WAL would change their file.
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise NotAnAlliancekitStore(f"{self.path.name} is not an alliancekit database") from exc
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

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
                    for statement in _statements(MIGRATIONS[number - 1]):
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {LATEST_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("PRAGMA journal_mode = WAL")  # outside the transaction: SQLite requires it
        except sqlite3.DatabaseError as exc:
            self.close()
            raise NotAnAlliancekitStore(f"{self.path.name} is not an alliancekit database") from exc
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _identity(conn: sqlite3.Connection) -> tuple[int, int]:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        return int(app_id), int(version)

    def schema_version(self) -> int:
        return self._identity(self._connect())[1]

    # -- writes --------------------------------------------------------------------------------------------

    def append(self, commit: Commit) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                _write_episode(conn, commit)
                if commit.idempotency_key is not None:
                    try:
                        conn.execute(
                            "INSERT INTO commands (idempotency_key, episode_id, version) VALUES (?,?,?)",
                            (commit.idempotency_key, commit.episode_id, commit.new_version),
                        )
                    except sqlite3.IntegrityError:
                        raise DuplicateCommand(commit.idempotency_key) from None
                conn.executemany(_INSERT_EVENT, [_event_row(e) for e in commit.events])
                if commit.outbox:
                    conn.executemany(
                        _INSERT_OUTBOX,
                        [
                            (
                                m.message_id,
                                m.episode_id,
                                m.kind,
                                m.channel,
                                m.body_json,
                                m.created_at.isoformat(),
                                _micros(m.next_attempt_at or m.created_at),
                            )
                            for m in commit.outbox
                        ],
                    )
                if commit.audit:
                    _write_audit(conn, commit.audit)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {type(exc).__name__}") from exc

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        self._write(lambda conn: _write_audit(conn, records))

    def append_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        self._write(
            lambda conn: conn.execute(
                "INSERT INTO audit_checkpoints (position, hash, mac, at) VALUES (?,?,?,?)",
                (checkpoint.position, checkpoint.hash, checkpoint.mac, checkpoint.at.isoformat()),
            )
        )

    def replace_payloads(self, updates: Sequence[tuple[str, int, str]]) -> None:
        self._write(
            lambda conn: conn.executemany(
                "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
                [(payload, episode_id, seq) for episode_id, seq, payload in updates],
            )
        )

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(conn)`` in a ``BEGIN IMMEDIATE`` transaction and return its result."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write failed: {type(exc).__name__}") from exc
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
            # another dispatcher's: the second one sees the first one's lease.
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
                "UPDATE outbox SET lease_owner = ?, lease_expires_at = ? WHERE message_id = ?",
                [(owner, until_us, i) for i in ids],
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
            " lease_owner = NULL, lease_expires_at = NULL"
            " WHERE message_id = ? AND state = 'pending' AND lease_owner = ?",
            (error, _micros(next_attempt_at), message_id, owner),
        )

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        return self._settle_failure(
            owner,
            message_id,
            "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = ?, settled_at = ?,"
            " lease_owner = NULL, lease_expires_at = NULL"
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
                    " last_error = NULL, settled_at = NULL, lease_owner = NULL, lease_expires_at = NULL"
                    " WHERE message_id = ? AND state = 'dead'",
                    (_micros(now), message_id),
                ).rowcount
                == 1
            )
        )
        return result

    def outbox_status(self) -> OutboxStatus:
        counts = dict(self._read("SELECT state, count(*) FROM outbox GROUP BY state", ()))
        oldest = self._read("SELECT min(created_at) FROM outbox WHERE state = 'pending'", ())[0][0]
        return OutboxStatus(
            pending=counts.get("pending", 0),
            delivered=counts.get("delivered", 0),
            dead=counts.get("dead", 0),
            oldest_pending_at=None if oldest is None else datetime.fromisoformat(oldest),
        )

    def outbox_records(self, state: OutboxState | None = None, limit: int = 1000) -> list[OutboxRecord]:
        if state is None:
            rows = self._read(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox ORDER BY rowid LIMIT ?",  # noqa: S608
                (limit,),
            )
        else:
            rows = self._read(
                f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE state = ? ORDER BY rowid LIMIT ?",  # noqa: S608
                (OutboxState(state).value, limit),
            )
        return [_outbox_record(r) for r in rows]

    # -- reads -----------------------------------------------------------------------------------------------

    def load_snapshot(self, episode_id: str) -> tuple[int, str] | None:
        row = self._read("SELECT version, state FROM episodes WHERE episode_id = ?", (episode_id,))
        return None if not row else (row[0][0], row[0][1])

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        rows = self._read(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE episode_id = ? AND seq > ? ORDER BY seq",  # noqa: S608
            (episode_id, after),
        )
        return [
            StoredEvent(
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
            )
            for r in rows
        ]

    def caseload(
        self, *, clinic_id: str | None = None, clinician_id: str | None = None, open_only: bool = True
    ) -> list[CaseloadRow]:
        clauses: list[str] = []
        params: list[str] = []
        if clinic_id is not None:
            clauses.append("clinic_id = ?")
            params.append(clinic_id)
        if clinician_id is not None:
            clauses.append("clinician_id = ?")
            params.append(clinician_id)
        if open_only:
            clauses.append("closed_on IS NULL")
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT {_CASELOAD_COLUMNS} FROM episodes{where} ORDER BY episode_id",  # noqa: S608
            tuple(params),
        )
        return [_caseload_from_row(r) for r in rows]

    def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]:
        """Closed episodes' outcome columns, from the covering index ``episodes_closed_outcomes``."""
        if clinic_id is None:
            rows = self._read(_CLOSED_OUTCOMES + " ORDER BY clinic_id, episode_id", ())
        else:
            rows = self._read(_CLOSED_OUTCOMES + " AND clinic_id = ? ORDER BY episode_id", (clinic_id,))
        dates: dict[str, date] = {}  # a few hundred distinct closing dates among many thousand rows

        def day(text: str) -> date:
            found = dates.get(text)
            if found is None:
                found = dates[text] = date.fromisoformat(text)
            return found

        return [ClosedOutcome(r[0], day(r[1]), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def episode_ids(self) -> Iterator[str]:
        return iter([r[0] for r in self._read("SELECT episode_id FROM episodes ORDER BY episode_id", ())])

    def find_command(self, idempotency_key: str) -> tuple[str, int] | None:
        rows = self._read(
            "SELECT episode_id, version FROM commands WHERE idempotency_key = ?", (idempotency_key,)
        )
        return None if not rows else (rows[0][0], rows[0][1])

    def audit_records(self) -> list[AuditRecord]:
        rows = self._read(f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq", ())  # noqa: S608
        return [
            AuditRecord(
                entry_id=r[1],
                at=datetime.fromisoformat(r[2]),
                actor_id=r[3],
                actor_role=r[4],
                clinic_id=r[5],
                purpose=r[6],
                action=r[7],
                record_type=r[8],
                record_id=r[9],
                outcome=r[10],
                client_ref=r[11],
                detail=r[12],
                position=r[0],
                prev_hash=r[13],
                hash=r[14],
            )
            for r in rows
        ]

    def audit_head(self) -> tuple[int, str] | None:
        rows = self._read("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", ())
        return None if not rows else (int(rows[0][0]), str(rows[0][1]))

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        rows = self._read("SELECT position, hash, mac, at FROM audit_checkpoints ORDER BY seq", ())
        return [AuditCheckpoint(r[0], r[1], r[2], datetime.fromisoformat(r[3])) for r in rows]

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check`` answer (``"ok"`` when the file is sound)."""
        return str(self._read("PRAGMA integrity_check", ())[0][0])

    def _read(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._connect().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def open_sqlite(location: str) -> SQLiteStore:
    scheme, rest = split_location(location)
    return SQLiteStore(rest if scheme == "sqlite" else location)


@hookimpl
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    register("sqlite", open_sqlite)
