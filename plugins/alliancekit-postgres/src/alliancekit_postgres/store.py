"""The PostgreSQL store: one database for a group practice or many clinics, one clinic per store.

Choosing the clinic
-------------------

A store acts for exactly one clinic, named when it is opened: ``?clinic=<id>`` in the location, or
``clinic_id=`` to :class:`PostgresStore`. A host serving many clinics opens one store (one connection pool)
and takes a view per clinic with :meth:`PostgresStore.for_clinic`; views share the pool and cost nothing.
Every transaction begins with ``set_config('alliancekit.clinic_id', <clinic>, true)`` (transaction-local,
so a pooled connection never carries one clinic's setting into the next transaction), and the row-level
security policies let it see and write that clinic's rows only. A row of another clinic is invisible to
reads and refused on write (:class:`~alliancekit.errors.AccessDenied`). This protects against a query
that forgets its clinic filter; it does not protect against code that sets another clinic on purpose
(the setting is the application's to choose), which is why the clinic is fixed per store object.

Writes
------

Every operation is one statement calling one of the schema's functions (``append_commit``, ``load_snapshot``,
...), so it is one network round trip and its own transaction: the function sets the clinic, then writes or
reads under the row-level security policies. A commit writes, in that order, the episode row (conditionally
on the expected version, else SQLSTATE ``AK409``), the idempotency key, the events, outbox and audit rows.
Serialization failures and deadlocks (40001, 40P01) are retried a bounded number of times with a short
back-off, then raised as :class:`~alliancekit.errors.StoreBusy`.
Parameters are always bound; the schema name is composed with :mod:`psycopg.sql`.

Outbox claiming is one statement too: ``SELECT ... FOR UPDATE SKIP LOCKED`` of the clinic's due messages and
the lease ``UPDATE`` in one function, so concurrent dispatchers take different messages.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from alliancekit.errors import (
    AccessDenied,
    ConflictError,
    DuplicateCommand,
    StoreBusy,
    StoreError,
    ValidationError,
)
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
from alliancekit_postgres.schema import (
    LATEST_VERSION,
    STALE_VERSION_SQLSTATE,
    current_version,
    migrate_connection,
)

T = TypeVar("T")

DEFAULT_SCHEMA = "alliancekit"
DEFAULT_POOL_MAX = 10
#: Times a transaction aborted by a serialization failure or deadlock is tried again.
DEFAULT_RETRIES = 5
#: Location query parameters the store takes for itself; the rest go to libpq.
LOCATION_OPTIONS = ("clinic", "schema", "pool_min", "pool_max", "retries")

_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)

# Each statement calls one of the schema's functions (see schema.py): one statement, one round trip, with the
# clinic set inside the same transaction. Only the schema identifier is composed in; values are bound.
_SQL_TEXT = {
    "append": "SELECT {s}.append_commit(" + ", ".join(["%s"] * 29) + ")",
    "closed_outcomes": "SELECT * FROM {s}.closed_outcomes(%s)",
    "claim_outbox": "SELECT * FROM {s}.claim_outbox(%s, %s, %s, %s, %s, %s)",
    "outbox_delivered": "SELECT {s}.outbox_delivered(%s, %s)",
    "outbox_failed": "SELECT {s}.outbox_failed(%s, %s, %s, %s, %s, %s)",
    "outbox_requeue": "SELECT {s}.outbox_requeue(%s, %s, %s)",
    "outbox_status": "SELECT * FROM {s}.outbox_status(%s)",
    "outbox_records": "SELECT * FROM {s}.outbox_records(%s, %s, %s)",
    "append_audit": "SELECT {s}.append_audit(%s, %s)",
    "version": "SELECT * FROM {s}.episode_version(%s, %s)",
    "snapshot": "SELECT * FROM {s}.load_snapshot(%s, %s)",
    "events": "SELECT * FROM {s}.load_events(%s, %s, %s)",
    "caseload": "SELECT * FROM {s}.caseload(%s, %s, %s)",
    "episode_ids": "SELECT * FROM {s}.episode_ids(%s)",
    "find_command": "SELECT * FROM {s}.find_command(%s, %s)",
    "audit": "SELECT * FROM {s}.audit_records(%s)",
    "audit_head": "SELECT * FROM {s}.audit_head(%s)",
    "append_checkpoint": "SELECT {s}.append_checkpoint(%s, %s, %s, %s, %s)",
    "audit_checkpoints": "SELECT * FROM {s}.audit_checkpoints(%s)",
    "replace_payloads": "SELECT {s}.replace_payloads(%s, %s)",
}


class _Database:
    """The pool and the compiled statements, shared by every clinic view of one store."""

    def __init__(self, conninfo: str, schema: str, pool_min: int, pool_max: int, retries: int) -> None:
        self.schema = schema
        self.retries = retries
        ident = sql.Identifier(schema)
        # Composed once: the schema identifier is quoted by psycopg.sql, never formatted in by hand.
        self.sql = {name: sql.SQL(text).format(s=ident).as_string(None) for name, text in _SQL_TEXT.items()}
        self.closed = False
        self.pool = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=max(pool_min, pool_max),
            # Autocommit: every operation is one statement, hence its own transaction.
            kwargs={"autocommit": True},
            configure=_configure,
            open=False,
            name="alliancekit",
        )


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")


class PostgresStore:
    """A store in one PostgreSQL schema, acting for one clinic. Safe to share between threads.

    :param conninfo: a libpq connection string or URI (without alliancekit's own options).
    :param clinic_id: the clinic this store reads and writes for.
    :param schema: the schema holding the tables; created and migrated on open if the role may.
    :param migrate: run pending migrations on open (default). With ``False`` a schema that is behind is an
        error: for deployments where an owner role migrates with :func:`migrate` and the application role
        has data privileges only.
    """

    def __init__(
        self,
        conninfo: str,
        *,
        clinic_id: str,
        schema: str = DEFAULT_SCHEMA,
        pool_min: int = 1,
        pool_max: int = DEFAULT_POOL_MAX,
        retries: int = DEFAULT_RETRIES,
        migrate: bool = True,
        _db: _Database | None = None,
    ) -> None:
        _check_clinic(clinic_id)
        self.clinic_id = clinic_id
        if _db is not None:
            self._db, self._owner = _db, False
            return
        if not schema or not schema.isidentifier():
            raise ValidationError("schema", "identifier", "letters, digits and underscores")
        self._db, self._owner = _Database(conninfo, schema, pool_min, pool_max, retries), True
        try:
            self._db.pool.open(wait=True, timeout=30)
            self._prepare(migrate)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        # No connection string: it may hold a password.
        return f"PostgresStore(schema={self._db.schema!r}, clinic_id={self.clinic_id!r})"

    @property
    def schema(self) -> str:
        return self._db.schema

    def for_clinic(self, clinic_id: str) -> PostgresStore:
        """A view of the same database acting for ``clinic_id``; it shares this store's pool.

        Closing a view does nothing; closing the store that opened the pool closes every view.
        """
        return PostgresStore("", clinic_id=clinic_id, _db=self._db)

    # -- connections and schema -----------------------------------------------------------------------------

    def _prepare(self, migrate: bool) -> None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if row is not None and row[0]:
                raise StoreError(
                    "the store connected as a superuser or a BYPASSRLS role, which row-level security does"
                    " not apply to: connect as an ordinary role"
                )
            try:
                version = current_version(conn, self._db.schema)
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL schema check failed: {type(exc).__name__}") from exc
            if version == LATEST_VERSION:
                return
            if not migrate and (version or 0) < LATEST_VERSION:
                raise StoreError(
                    f"schema {self._db.schema!r} is at version {version or 0}, this plugin needs "
                    f"{LATEST_VERSION}: run alliancekit_postgres.migrate() as the schema owner"
                )
            try:
                migrate_connection(conn, self._db.schema)
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL migration failed: {type(exc).__name__}") from exc

    def schema_version(self) -> int:
        with self._connection() as conn:
            return current_version(conn, self._db.schema) or 0

    def _connection(self) -> Any:
        if self._db.closed:
            raise StoreError("the store is closed")
        try:
            return self._db.pool.connection(timeout=30)
        except PoolTimeout as exc:  # pragma: no cover - raised on enter, see _run
            raise StoreBusy("no database connection became free") from exc

    def _run(self, what: str, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``operation`` on a pooled connection, retrying serialization failures and deadlocks."""
        for attempt in range(self._db.retries + 1):
            try:
                with self._connection() as conn:
                    return operation(conn)
            except _RETRYABLE as exc:
                if attempt == self._db.retries:
                    raise StoreBusy(
                        f"PostgreSQL {what} gave up after {attempt + 1} attempts ({exc.sqlstate})"
                    ) from exc
                # Back off a little, with jitter, so that colliding writers do not collide again in step.
                time.sleep(0.002 * 2**attempt * (0.5 + random.random()))  # noqa: S311 - jitter, not secrets
            except PoolTimeout as exc:
                raise StoreBusy("no database connection became free") from exc
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL {what} failed: {type(exc).__name__} ({exc.sqlstate})") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writes ---------------------------------------------------------------------------------------------

    def append(self, commit: Commit) -> None:
        if commit.caseload.clinic_id != self.clinic_id:
            # Said plainly here; row-level security would refuse it anyway (or find no row to update).
            raise AccessDenied("append", "the episode belongs to another clinic than this store's")
        try:
            self._run("write", lambda conn: self._append(conn, commit))
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, pg_errors.UniqueViolation):
                if cause.diag.constraint_name == "commands_pkey" and commit.idempotency_key is not None:
                    raise DuplicateCommand(commit.idempotency_key) from None
                if cause.diag.constraint_name in ("events_pkey", "episodes_pkey"):
                    raise self._conflict(commit) from None
            if isinstance(cause, psycopg.Error) and cause.sqlstate == STALE_VERSION_SQLSTATE:
                raise self._conflict(commit) from None
            if isinstance(cause, pg_errors.InsufficientPrivilege):
                raise AccessDenied("append", "row-level security refused a row of this commit") from None
            raise

    def _append(self, conn: psycopg.Connection[Any], commit: Commit) -> None:
        row = commit.caseload
        clinic = row.clinic_id
        conn.execute(
            self._db.sql["append"],
            (
                self.clinic_id,
                clinic,
                commit.idempotency_key,
                commit.episode_id,
                commit.expected_version,
                commit.new_version,
                commit.snapshot_json,
                row.clinician_id,
                row.client_ref,
                row.stage,
                row.opened_on,
                row.last_session_on,
                row.sessions_attended,
                row.latest_scores_json,
                row.open_alerts,
                row.next_review_at,
                row.review_due,
                row.closed_on,
                row.open_alerts_json,
                row.highest_severity,
                row.outcome_measure,
                row.first_outcome,
                row.latest_outcome,
                row.outcome_sessions,
                row.modality,
                row.ending_reason,
                _json_array(_event_object(e) for e in commit.events),
                _json_array(_outbox_object(m) for m in commit.outbox),
                _json_array(_audit_object(a) for a in commit.audit),
            ),
        )

    def _conflict(self, commit: Commit) -> ConflictError:
        rows = self._read("version", (self.clinic_id, commit.episode_id))
        actual = 0 if not rows else int(rows[0][0])
        return ConflictError(commit.episode_id, commit.expected_version, actual)

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return

        def write(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                self._db.sql["append_audit"], (self.clinic_id, _json_array(_audit_object(a) for a in records))
            )

        try:
            self._run("audit write", write)
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.InsufficientPrivilege):
                raise AccessDenied("append_audit", "row-level security refused an audit row") from None
            raise

    # -- reads ----------------------------------------------------------------------------------------------

    def _read(self, name: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One read: a single statement (its own transaction, clinic set inside it), one round trip."""
        query = self._db.sql[name]
        return self._run("read", lambda conn: conn.execute(query, params).fetchall())

    def load_snapshot(self, episode_id: str) -> tuple[int, str] | None:
        rows = self._read("snapshot", (self.clinic_id, episode_id))
        return None if not rows else (int(rows[0][0]), str(rows[0][1]))

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        rows = self._read("events", (self.clinic_id, episode_id, after))
        return [
            StoredEvent(
                episode_id=r[0],
                seq=r[1],
                event_id=r[2],
                type=r[3],
                schema_version=r[4],
                occurred_at=r[5],
                recorded_at=r[6],
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
        if clinic_id is not None and clinic_id != self.clinic_id:
            return []  # another clinic's rows do not exist for this store (row-level security says the same)
        rows = self._read("caseload", (self.clinic_id, clinician_id, open_only))
        return [
            CaseloadRow(
                episode_id=r[0],
                clinic_id=r[1],
                clinician_id=r[2],
                client_ref=r[3],
                stage=r[4],
                version=r[5],
                opened_on=r[6],
                last_session_on=r[7],
                sessions_attended=r[8],
                latest_scores_json=r[9],
                open_alerts=r[10],
                next_review_at=r[11],
                review_due=r[12],
                closed_on=r[13],
                open_alerts_json=r[14],
                highest_severity=r[15],
                outcome_measure=r[16],
                first_outcome=r[17],
                latest_outcome=r[18],
                outcome_sessions=r[19],
                modality=r[20],
                ending_reason=r[21],
            )
            for r in rows
        ]

    def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]:
        """Closed episodes' outcome columns (the practice-outcomes report), from a covering index."""
        if clinic_id is not None and clinic_id != self.clinic_id:
            return []
        return [ClosedOutcome(*r) for r in self._read("closed_outcomes", (self.clinic_id,))]

    def episode_ids(self) -> Iterator[str]:
        return iter([r[0] for r in self._read("episode_ids", (self.clinic_id,))])

    def find_command(self, idempotency_key: str) -> tuple[str, int] | None:
        rows = self._read("find_command", (self.clinic_id, idempotency_key))
        return None if not rows else (str(rows[0][0]), int(rows[0][1]))

    def audit_records(self) -> list[AuditRecord]:
        """This clinic's audit rows in chain order (each clinic has its own chain)."""
        return [
            AuditRecord(
                entry_id=r[0],
                at=r[1],
                actor_id=r[2],
                actor_role=r[3],
                clinic_id=r[4],
                purpose=r[5],
                action=r[6],
                record_type=r[7],
                record_id=r[8],
                outcome=r[9],
                client_ref=r[10],
                detail=r[11],
                position=int(r[12]),
                prev_hash=r[13],
                hash=r[14],
            )
            for r in self._read("audit", (self.clinic_id,))
        ]

    def audit_head(self) -> tuple[int, str] | None:
        rows = self._read("audit_head", (self.clinic_id,))
        return None if not rows else (int(rows[0][0]), str(rows[0][1]))

    def append_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        params = (self.clinic_id, checkpoint.position, checkpoint.hash, checkpoint.mac, checkpoint.at)
        query = self._db.sql["append_checkpoint"]
        self._run("checkpoint write", lambda conn: conn.execute(query, params))

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        return [
            AuditCheckpoint(position=int(r[0]), hash=r[1], mac=r[2], at=r[3])
            for r in self._read("audit_checkpoints", (self.clinic_id,))
        ]

    def replace_payloads(self, updates: Sequence[tuple[str, int, str]]) -> None:
        """Rewrite event payloads (re-encryption under a new key) in one transaction."""
        objects = _json_array(
            _with_raw({"episode_id": episode_id, "seq": seq}, "payload", payload)
            for episode_id, seq, payload in updates
        )
        query = self._db.sql["replace_payloads"]
        self._run("payload rewrite", lambda conn: conn.execute(query, (self.clinic_id, objects)))

    # -- outbox delivery (alliancekit.notify.dispatcher) -------------------------------------------------

    def claim_outbox(
        self, owner: str, channels: Sequence[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxRecord]:
        """Lease this clinic's due messages (``FOR UPDATE SKIP LOCKED``); oldest due first."""
        params = (self.clinic_id, owner, list(channels), now, lease_until, limit)
        query = self._db.sql["claim_outbox"]
        rows = self._run("outbox claim", lambda conn: conn.execute(query, params).fetchall())
        return sorted((_outbox_record(r) for r in rows), key=lambda m: (m.next_attempt_at, m.message_id))

    def outbox_delivered(self, owner: str, message_ids: Sequence[str], at: datetime) -> int:
        return int(self._call("outbox_delivered", (self.clinic_id, list(message_ids))))

    def outbox_failed(
        self, owner: str, message_id: str, *, error: str, next_attempt_at: datetime, at: datetime
    ) -> bool:
        params = (self.clinic_id, owner, message_id, error, next_attempt_at, False)
        return bool(self._call("outbox_failed", params))

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        return bool(self._call("outbox_failed", (self.clinic_id, owner, message_id, error, at, True)))

    def outbox_requeue(self, message_id: str, now: datetime) -> bool:
        return bool(self._call("outbox_requeue", (self.clinic_id, message_id, now)))

    def outbox_status(self) -> OutboxStatus:
        [(pending, delivered, dead, oldest)] = self._read("outbox_status", (self.clinic_id,))
        return OutboxStatus(int(pending), int(delivered), int(dead), oldest)

    def outbox_records(self, state: OutboxState | None = None, limit: int = 1000) -> list[OutboxRecord]:
        wanted = None if state is None else OutboxState(state).value
        return [_outbox_record(r) for r in self._read("outbox_records", (self.clinic_id, wanted, limit))]

    def _call(self, name: str, params: tuple[Any, ...]) -> Any:
        """One write statement whose function returns a single value."""
        query = self._db.sql[name]

        def call(conn: psycopg.Connection[Any]) -> Any:
            row = conn.execute(query, params).fetchone()
            return None if row is None else row[0]

        return self._run("outbox write", call)

    def close(self) -> None:
        """Close the pool (only the store that opened it does; a clinic view's ``close`` does nothing)."""
        if self._owner and not self._db.closed:
            self._db.closed = True
            self._db.pool.close()


def _json_array(objects: Iterator[str]) -> str:
    return "[" + ",".join(objects) + "]"


def _with_raw(envelope: dict[str, Any], key: str, raw_json: str) -> str:
    """``envelope`` as a JSON object with ``raw_json`` (already JSON text, from the core) spliced in."""
    return json.dumps(envelope, separators=(",", ":"))[:-1] + f',"{key}":' + raw_json + "}"


def _event_object(e: StoredEvent) -> str:
    envelope = {
        "clinic_id": e.clinic_id,
        "episode_id": e.episode_id,
        "seq": e.seq,
        "event_id": e.event_id,
        "type": e.type,
        "schema_version": e.schema_version,
        "occurred_at": e.occurred_at.isoformat(),
        "recorded_at": e.recorded_at.isoformat(),
        "actor_id": e.actor_id,
        "actor_role": e.actor_role,
        "corrects": e.corrects,
    }
    return _with_raw(envelope, "payload", e.payload_json)


def _outbox_record(r: tuple[Any, ...]) -> OutboxRecord:
    return OutboxRecord(
        message_id=r[0],
        episode_id=r[1],
        kind=r[2],
        channel=r[3],
        body_json=r[4],
        created_at=r[5],
        state=OutboxState(r[6]),
        attempts=int(r[7]),
        next_attempt_at=r[8],
        lease_owner=r[9],
        lease_expires_at=r[10],
        last_error=r[11],
    )


def _outbox_object(m: OutboxRecord) -> str:
    envelope = {
        "message_id": m.message_id,
        "episode_id": m.episode_id,
        "kind": m.kind,
        "channel": m.channel,
        "created_at": m.created_at.isoformat(),
        "next_attempt_at": None if m.next_attempt_at is None else m.next_attempt_at.isoformat(),
        "body": m.body_json,  # as a JSON string: stored as the exact text it is
    }
    return json.dumps(envelope, separators=(",", ":"))


def _audit_object(a: AuditRecord) -> str:
    # The chain hashes the time as it will read back: aware, in UTC (a naive time is taken as UTC).
    at = a.at.replace(tzinfo=UTC) if a.at.tzinfo is None else a.at.astimezone(UTC)
    return json.dumps(
        {
            "clinic_id": a.clinic_id,
            "entry_id": a.entry_id,
            "at": at.isoformat(),
            "at_iso": at.isoformat(),
            "client_ref": a.client_ref,
            "detail": a.detail,
            "actor_id": a.actor_id,
            "actor_role": a.actor_role,
            "purpose": a.purpose,
            "action": a.action,
            "record_type": a.record_type,
            "record_id": a.record_id,
            "outcome": a.outcome,
        },
        separators=(",", ":"),
    )


def _check_clinic(clinic_id: object) -> None:
    if not isinstance(clinic_id, str) or not clinic_id or len(clinic_id) > 200 or not clinic_id.isprintable():
        raise ValidationError(
            "clinic", "reference", "a non-empty printable clinic id of at most 200 characters"
        )


# ------------------------------------------------------------------------------------------------ locations


def parse_location(location: str) -> tuple[str, dict[str, str]]:
    """Split ``postgresql://...?clinic=...&schema=...`` into a libpq URI and alliancekit's options.

    The options are removed from the URI (libpq rejects parameters it does not know); everything else,
    ``sslmode`` and friends included, is passed through.
    """
    parts = urlsplit(location)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValidationError("location", "scheme", "postgresql:// or postgres://")
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in LOCATION_OPTIONS:
            ours[key] = value
        else:
            rest.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(rest))), ours


def open_postgres(location: str) -> PostgresStore:
    """Open the store at a ``postgresql://`` location. ``clinic`` is required; see the module docstring.

    ``postgresql://app@db.example/practice?clinic=north&schema=alliancekit&pool_max=20``
    """
    conninfo, options = parse_location(location)
    if "clinic" not in options:
        raise ValidationError("location", "clinic-required", "add ?clinic=<clinic id> to the location")
    try:
        numbers = {k: int(options[k]) for k in ("pool_min", "pool_max", "retries") if k in options}
    except ValueError:
        raise ValidationError("location", "integer", "pool_min, pool_max and retries are integers") from None
    return PostgresStore(
        conninfo,
        clinic_id=options["clinic"],
        schema=options.get("schema", DEFAULT_SCHEMA),
        pool_min=numbers.get("pool_min", 1),
        pool_max=numbers.get("pool_max", DEFAULT_POOL_MAX),
        retries=numbers.get("retries", DEFAULT_RETRIES),
    )


def migrate(conninfo: str, *, schema: str = DEFAULT_SCHEMA, grant_to: str | None = None) -> int:
    """Create or migrate ``schema`` as the role in ``conninfo`` (the owner); returns the schema version.

    With ``grant_to``, that role gets the data privileges it needs and nothing more (no DDL, so it cannot
    switch row-level security off): open the application's stores as that role with ``migrate=False``.
    """
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            return migrate_connection(conn, schema, grant_to=grant_to)
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL migration failed: {type(exc).__name__}") from exc
