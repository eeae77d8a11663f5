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

Reads that must agree with each other run in :meth:`PostgresStore.read_transaction`: one connection pinned
to the thread, one ``REPEATABLE READ, READ ONLY`` transaction (verification reads the whole record in one).
:meth:`PostgresStore.iter_audit_records` pages through the audit log in one such transaction.

Audit entries are chained per shard (:data:`~alliancekit.integrity.chain.AUDIT_SHARDS` chains per clinic):
a commit's entry goes to its episode's shard, and the write locks (``FOR UPDATE``) only the heads of the
shards it appends to, in shard order, as the commit's last step (a batch's: as its transaction's last
step, every commit's entries together). Writers of one clinic on episodes of
different shards do not queue behind one head. The hashes are computed by the ``link_audit`` function in SQL,
byte for byte :func:`alliancekit.integrity.chain.entry_hash` (the tests prove it), so a commit stays one
round trip.

Sealing (:meth:`PostgresStore.seal`) takes a transaction-scoped advisory lock on the clinic, reads the shard
heads and the last checkpoint, calls ``make`` and inserts what it returns, in one transaction: concurrent
sealers, in threads or processes, queue and the checkpoints' MAC chain never forks. Writers do not take that
lock, so sealing never stops them.

Fair retries (:meth:`PostgresStore.exclusive`): every commit takes a second advisory lock on (schema, clinic),
the writers' lock, shared and for its transaction, before it touches a row; writers never wait for each other
on it. ``exclusive`` takes it exclusive for a session, on a connection it pins to the calling thread until the
block ends: commits in flight finish first, later ones wait, and the thread's own operations in the block run
on that session (its commits take the shared lock the session holds already). The runner retries a command
that lost a race in there, so the retry cannot lose again. The seal lock is another key: neither waits for
the other.

Read-only stores (``read_only=True``) run every transaction in read-only mode
(``default_transaction_read_only``), never create or migrate the schema, and refuse every write method with
:class:`~alliancekit.errors.StoreError`. They read a schema one version behind (from ``READABLE_FROM``): its
practice metadata reads as absent, and the open caseload with the closed rows under a lockbox, and one
clinician's caseload with the other clinicians' rows under a lockbox, are filtered from the whole caseload
(the readers of migrations 7 and 8 are missing there), and audit entries from before migration 12 read as
naming no recipient (as they were hashed).

Outbox claiming is one statement too: ``SELECT ... FOR UPDATE SKIP LOCKED`` of the clinic's due messages and
the lease ``UPDATE`` in one function, so concurrent dispatchers take different messages.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import unquote_plus

import attrs
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.adapt import Loader
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from alliancekit.domain.checks import check_clinic
from alliancekit.errors import (
    AccessDenied,
    ConflictError,
    DuplicateCommand,
    InvalidToken,
    MeasureDefinitionChanged,
    NotAnAlliancekitStore,
    StoreBusy,
    StoreError,
    StoreNeedsMigration,
    StoreTooNew,
    UnreadableRow,
    ValidationError,
)
from alliancekit.integrity.chain import AUDIT_SHARDS
from alliancekit.store.definitions import absent
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
    ShardHead,
    Snapshot,
    StoredDefinition,
    StoredEvent,
)
from alliancekit.store.registry import shown_location
from alliancekit.store.request_rows import request_fields, request_from_row
from alliancekit.store.rows import decoded, number, part
from alliancekit.store.structure import SchemaFound
from alliancekit_postgres.schema import (
    AUDIT_RECIPIENT_FROM,
    BACKFILL_AUDITED_FROM,
    CASELOAD_LOCKBOX_FROM,
    DEFINITION_CHANGED_SQLSTATE,
    DEFINITIONS_FROM,
    FIND_CODE_FROM,
    LATEST_VERSION,
    OTHERS_UNDER_LOCKBOX_FROM,
    OUTBOX_DUE_FROM,
    OUTBOX_WAITS_FROM,
    POPULATION_FROM,
    READABLE_FROM,
    STALE_VERSION_SQLSTATE,
    Creation,
    audit_array,
    current_version,
    discard_creation,
    migrate_connection,
    structure_found,
    utc,
)

T = TypeVar("T")

DEFAULT_SCHEMA = "alliancekit"
DEFAULT_POOL_MAX = 10
#: Times a transaction aborted by a serialization failure or deadlock is tried again.
DEFAULT_RETRIES = 5
#: Location query parameters the store takes for itself; the rest go to libpq.
LOCATION_OPTIONS = ("clinic", "schema", "pool_min", "pool_max", "retries")
#: Seconds libpq waits for a connection to be made, unless the location sets ``connect_timeout`` itself.
DEFAULT_CONNECT_TIMEOUT = 10
#: Advisory-lock class of the per-clinic seal lock (the migration lock is 0x416B).
_SEAL_NAMESPACE = 0x416C
#: Advisory-lock class of the per-clinic writers' lock: every commit takes it shared for its transaction,
#: :meth:`PostgresStore.exclusive` takes it exclusive for its session.
_WRITERS_NAMESPACE = 0x416D

#: SQLSTATEs of values PostgreSQL cannot store or take: untranslatable character (a JSON ``\u0000``), bad
#: text representation (a lone surrogate escaped in JSON), character not in repertoire, out of range.
#: The rule names are the core's (``alliancekit.domain.checks``), which refuses such text first.
_UNSTORABLE = {"22P05": "control-character", "22021": "unicode", "22P02": "unicode", "22003": "range"}

_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)

#: The columns of a page of :meth:`PostgresStore.iter_audit_records`: those of
#: ``audit_records_with_recipient``, then the row's ctid (the tie-break the next page starts after).
_AUDIT_COLUMNS = (
    "a.entry_id, a.at, a.actor_id, a.actor_role, a.clinic_id::text, a.purpose, a.action, a.record_type,"
    " a.record_id, a.outcome, a.client_ref, a.detail, a.writes, a.shard, a.position, a.prev_hash, a.hash,"
)
_AUDIT_PAGE_COLUMNS = _AUDIT_COLUMNS + " a.recipient, a.ctid::text"
#: The same on a schema from before ``audit.recipient`` (a read-only store): every entry names none.
_AUDIT_PAGE_COLUMNS_NO_RECIPIENT = _AUDIT_COLUMNS + " '', a.ctid::text"
#: Where a page's ctid is (the page's last column).
_CTID = 18
#: Rows a page of :meth:`PostgresStore.iter_audit_records` holds (a few megabytes of rows at most).
_AUDIT_PAGE_ROWS = 5000

# Each statement calls one of the schema's functions (see schema.py): one statement, one round trip, with the
# clinic set inside the same transaction. Only the schema identifier is composed in; values are bound.
_SQL_TEXT = {
    # The writers' lock (shared) is taken before append_commit touches a row: the function in FROM runs
    # before the target list is computed. See PostgresStore.exclusive.
    "append": "SELECT {s}.append_commit(" + ", ".join(["%s"] * 37) + ")"  # noqa: S608 - placeholders only
    " FROM pg_advisory_xact_lock_shared(%s, hashtext(%s))",
    "writers_shared": "SELECT pg_advisory_xact_lock_shared(%s, hashtext(%s))",
    "writers_exclusive": "SELECT pg_advisory_lock(%s, hashtext(%s))",
    "writers_release": "SELECT pg_advisory_unlock(%s, hashtext(%s))",
    "closed_outcomes": "SELECT * FROM {s}.closed_outcomes(%s)",
    "claim_outbox": "SELECT * FROM {s}.claim_outbox(%s, %s, %s, %s, %s, %s)",
    "outbox_delivered": "SELECT {s}.outbox_delivered(%s, %s)",
    "outbox_failed": "SELECT {s}.outbox_failed_at(%s, %s, %s, %s, %s, %s, %s)",
    "outbox_requeue": "SELECT {s}.outbox_requeue(%s, %s, %s)",
    "outbox_status": "SELECT * FROM {s}.outbox_status(%s)",
    "outbox_records": "SELECT * FROM {s}.outbox_records(%s, %s, %s)",
    "outbox_records_after": "SELECT * FROM {s}.outbox_records_after(%s, %s, %s, %s)",
    "outbox_status_due": "SELECT * FROM {s}.outbox_status_due(%s)",
    "append_audit": "SELECT {s}.append_audit(%s, %s)",
    "version": "SELECT * FROM {s}.episode_version(%s, %s)",
    "snapshot": "SELECT * FROM {s}.load_snapshot(%s, %s)",
    "events": "SELECT * FROM {s}.load_events(%s, %s, %s)",
    "caseload": "SELECT * FROM {s}.caseload(%s, %s, %s)",
    "caseload_lockbox": "SELECT * FROM {s}.caseload_open_or_lockbox(%s, %s)",
    "caseload_others": "SELECT * FROM {s}.caseload_with_others_under_lockbox(%s, %s, %s, %s)",
    "episode_ids": "SELECT * FROM {s}.episode_ids(%s)",
    "find_command": "SELECT * FROM {s}.find_command(%s, %s, %s)",
    "command_records": "SELECT * FROM {s}.command_records(%s)",
    "request_records": "SELECT * FROM {s}.request_records(%s)",
    "audit": "SELECT * FROM {s}.audit_records_with_recipient(%s)",
    "audit_no_recipient": "SELECT * FROM {s}.audit_records(%s)",  # a read-only store on an older schema
    "audit_heads": "SELECT * FROM {s}.audit_heads(%s)",
    "audit_checkpoints": "SELECT * FROM {s}.audit_checkpoints(%s)",
    # A page of iter_audit_records, in its read transaction, after "set_clinic" (a function's RETURN QUERY
    # would build its whole result before the first row). Keyset over the primary key (clinic_id, shard,
    # position), the ctid breaking ties: unique among the rows one snapshot sees, so a position a tamperer
    # duplicated (the key dropped) is not skipped at a page's edge.
    "set_clinic": "SELECT set_config('alliancekit.clinic_id', %s, true)",
    "audit_page": "SELECT " + _AUDIT_PAGE_COLUMNS + " FROM {s}.audit a"  # noqa: S608 - constants only
    " WHERE a.clinic_id = %s ORDER BY a.shard, a.position, a.ctid LIMIT %s",
    "audit_page_after": "SELECT " + _AUDIT_PAGE_COLUMNS + " FROM {s}.audit a"  # noqa: S608 - constants only
    " WHERE a.clinic_id = %s AND (a.shard, a.position, a.ctid) > (%s, %s, %s::tid)"
    " ORDER BY a.shard, a.position, a.ctid LIMIT %s",
    "audit_page_no_recipient": "SELECT "  # noqa: S608 - constants only
    + _AUDIT_PAGE_COLUMNS_NO_RECIPIENT
    + " FROM {s}.audit a WHERE a.clinic_id = %s ORDER BY a.shard, a.position, a.ctid LIMIT %s",
    "audit_page_after_no_recipient": "SELECT "  # noqa: S608 - constants only
    + _AUDIT_PAGE_COLUMNS_NO_RECIPIENT
    + " FROM {s}.audit a WHERE a.clinic_id = %s AND (a.shard, a.position, a.ctid) > (%s, %s, %s::tid)"
    " ORDER BY a.shard, a.position, a.ctid LIMIT %s",
    # The seal's statements, in one transaction (see PostgresStore.seal).
    "seal_lock": "SELECT set_config('alliancekit.clinic_id', %s, true),"
    " pg_advisory_xact_lock(%s, hashtext(%s))",
    "seal_heads": "SELECT h.shard, h.position, h.hash FROM {s}.audit_heads h"
    " WHERE h.clinic_id = %s AND h.position > 0 ORDER BY h.shard",
    "seal_last": "SELECT c.seq, c.heads::text, c.root, c.mac, c.at FROM {s}.audit_checkpoints c"
    " WHERE c.clinic_id = %s ORDER BY c.seq DESC LIMIT 1",
    "seal_insert": "INSERT INTO {s}.audit_checkpoints (clinic_id, seq, heads, root, mac, at)"
    " VALUES (%s, %s, %s, %s, %s, %s)",
    "replace_payloads": "SELECT {s}.replace_payloads(%s, %s)",
    "load_meta": "SELECT * FROM {s}.load_meta(%s, %s)",
    "save_meta": "SELECT {s}.save_meta(%s, %s, %s)",
    "write_request": "SELECT {s}.write_request(%s, %s, %s, %s, %s, %s)",
    "find_request": "SELECT * FROM {s}.find_request(%s, %s)",
    "get_request": "SELECT * FROM {s}.get_request(%s, %s)",
    "find_code": "SELECT * FROM {s}.find_code(%s, %s, %s)",
    "redeem_code": "SELECT * FROM {s}.redeem_code(%s, %s, %s, %s)",
    "count_failure": "SELECT {s}.count_failure(%s, %s, %s)",
    "kiosk_failures": "SELECT * FROM {s}.kiosk_failures(%s, %s, %s)",
    "save_definitions": "SELECT {s}.save_definitions(%s, %s)",
    "measure_definitions": "SELECT * FROM {s}.measure_definitions(%s)",
}
#: SQLSTATE raised by ``write_request`` when a consumed request was not live: the commit is refused.
_NOT_LIVE_SQLSTATE = "AK410"


class ConnectionLost(StoreError):
    """The connection to PostgreSQL was lost during an operation (the server restarted, the backend was
    terminated, the network failed). A read was sent once more on another connection before this is raised;
    whether a write was applied is unknown: send the command again with the same idempotency key."""

    def __init__(self, what: str, exc: psycopg.Error) -> None:
        unknown = (
            ""
            if what == "read"
            else "; whether it was written is unknown (a command sent again with its idempotency key is"
            " applied at most once)"
        )
        super().__init__(
            f"PostgreSQL {what} failed: the connection to the server was lost "
            f"({type(exc).__name__}, {exc.sqlstate or 'no SQLSTATE'}){unknown}"
        )


class _Pinned(threading.local):
    """A thread's connection while it holds writers' locks (:meth:`PostgresStore.exclusive`), per pool."""

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        #: The lock keys (schema/clinic) this thread holds exclusive on ``conn``.
        self.held: set[str] = set()


class _Database:
    """The pool and the compiled statements, shared by every clinic view of one store."""

    def __init__(
        self, conninfo: str, schema: str, pool_min: int, pool_max: int, retries: int, read_only: bool
    ) -> None:
        self.schema = schema
        self.retries = retries
        self.read_only = read_only
        ident = sql.Identifier(schema)
        # Composed once: the schema identifier is quoted by psycopg.sql, never formatted in by hand.
        self.sql = {name: sql.SQL(text).format(s=ident).as_string(None) for name, text in _SQL_TEXT.items()}
        self.closed = False
        #: Per thread: the connection every operation of a thread inside ``exclusive`` runs on.
        self.pinned = _Pinned()
        #: The schema version found on opening (below the latest only for a read-only store).
        self.version = LATEST_VERSION
        #: What opening made, when it made the store from nothing (:meth:`PostgresStore.discard_created`).
        self.creation: Creation | None = None
        self.pool = ConnectionPool(
            conninfo,
            min_size=pool_min,
            max_size=max(pool_min, pool_max),
            # Autocommit: every operation is one statement, hence its own transaction.
            kwargs={"autocommit": True},
            configure=_configure_read_only if read_only else _configure,
            open=False,
            name="alliancekit",
        )


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")


def _configure_read_only(conn: psycopg.Connection[Any]) -> None:
    # Every transaction on these connections is READ ONLY: the server refuses any write (SQLSTATE 25006).
    conn.execute("SET TIME ZONE 'UTC'")
    conn.execute("SET default_transaction_read_only = on")


class PostgresStore:
    """A store in one PostgreSQL schema, acting for one clinic. Safe to share between threads.

    :param conninfo: a libpq connection string or URI (without alliancekit's own options).
    :param clinic_id: the clinic this store reads and writes for.
    :param schema: the schema holding the tables; created and migrated on open if the role may.
    :param migrate: run pending migrations on open (default). With ``False`` a schema that is behind is an
        error: for deployments where an owner role migrates with :func:`migrate` and the application role
        has data privileges only.
    :param read_only: open for reading only (verification, reports): every transaction is read-only, the
        schema is never created or migrated (a missing, foreign, older or newer schema is an error), and
        every write method raises :class:`~alliancekit.errors.StoreError`.
    :param create: with ``False``, a schema holding no store is
        :class:`~alliancekit.errors.NotAnAlliancekitStore` (as read-only) rather than created, and one older
        than read-only opens is not migrated.
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
        read_only: bool = False,
        create: bool = True,
        _db: _Database | None = None,
    ) -> None:
        _check_clinic(clinic_id)
        self.clinic_id = clinic_id
        if _db is not None:
            self._db, self._owner = _db, False
            return
        if not schema or not schema.isidentifier() or not schema.isascii():
            raise ValidationError("schema", "identifier", "letters, digits and underscores")
        conninfo = _with_connect_timeout(conninfo)
        _check_connection(conninfo)
        self._db, self._owner = _Database(conninfo, schema, pool_min, pool_max, retries, read_only), True
        try:
            try:
                self._db.pool.open(wait=True, timeout=30)
                self._prepare(migrate and not read_only, create)
            except PoolTimeout as exc:
                raise StoreError("could not connect to PostgreSQL within 30 s") from exc
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL open failed: {type(exc).__name__} ({exc.sqlstate})") from exc
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        # No connection string: it may hold a password.
        mode = ", read_only=True" if self._db.read_only else ""
        return f"PostgresStore(schema={self._db.schema!r}, clinic_id={self.clinic_id!r}{mode})"

    @property
    def schema(self) -> str:
        return self._db.schema

    @property
    def clinic_scope(self) -> str:
        """The one clinic this store acts for (:mod:`alliancekit.store.protocol`: a clinic-scoped backend):
        whole-store reads such as verification give another clinic's reader nothing."""
        return self.clinic_id

    @property
    def read_only(self) -> bool:
        return self._db.read_only

    def _writable(self, what: str) -> None:
        if self._db.read_only:
            raise StoreError(f"{what}: the store was opened read-only")

    def for_clinic(self, clinic_id: str) -> PostgresStore:
        """A view of the same database acting for ``clinic_id``; it shares this store's pool.

        Closing a view does nothing; closing the store that opened the pool closes every view.
        """
        return PostgresStore("", clinic_id=clinic_id, _db=self._db)

    # -- connections and schema -----------------------------------------------------------------------------

    def _prepare(self, migrate: bool, create: bool = True) -> None:
        with self._connection() as conn:
            row = conn.execute(
                "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if row is not None and row[0]:
                raise StoreError(
                    "the store connected as a superuser or a BYPASSRLS role, which row-level security does"
                    " not apply to: connect as an ordinary role"
                )
            encoding = conn.execute("SELECT current_setting('server_encoding')").fetchone()
            if encoding is None or encoding[0] != "UTF8":
                # The audit chain is hashed in SQL over characters: it must see the same text as Python.
                raise StoreError("the database's encoding is not UTF8: create it with ENCODING 'UTF8'")
            try:
                version = current_version(conn, self._db.schema)
                if self._db.read_only and version is not None and READABLE_FROM <= version <= LATEST_VERSION:
                    # the structure there, not the version stated alone: deleting schema_migrations rows
                    # must not hide the later tables, and the checks they carry, from a read-only store
                    self._db.version = structure_found(conn, self._db.schema, version).read_as
                    return
            except psycopg.Error as exc:
                raise _failed("schema check", exc) from exc
            if version == LATEST_VERSION:
                return
            if not create and (version is None or version < READABLE_FROM or version > LATEST_VERSION):
                self._refuse_read_only(version)  # what a read-only open refuses, a store that must exist does
            if self._db.read_only:
                self._refuse_read_only(version)
            if not migrate and (version or 0) < LATEST_VERSION:
                raise StoreError(
                    f"schema {self._db.schema!r} is at version {version or 0}, this plugin needs "
                    f"{LATEST_VERSION}: run alliancekit_postgres.migrate() as the schema owner"
                )
            created: list[Creation] = []
            try:
                migrate_connection(conn, self._db.schema, created=created)
            except psycopg.Error as exc:
                raise _failed("migration", exc) from exc
            self._db.creation = created[0] if created else None

    def discard_created(self) -> bool:
        """Remove what opening this store created, when it made the store from nothing: the schema, or the
        tables and routines it made in a schema that held none (what was there before stays). For a command
        cut short before its practice is whole (``alliancekit demo``). ``False`` when it created nothing.

        Anything written since the opening goes with it: call it only on a store nobody else has used.
        """
        creation = self._db.creation
        if creation is None or not self._owner:
            return False
        try:
            with self._connection() as conn:
                gone = discard_creation(conn, self._db.schema, creation)
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL removal failed: {type(exc).__name__} ({exc.sqlstate})") from exc
        self._db.creation = None
        return gone

    def _refuse_read_only(self, version: int | None) -> None:
        schema = self._db.schema
        if version is None:
            raise NotAnAlliancekitStore(
                f"schema {schema!r} holds no alliancekit store; a store opened read-only or with "
                "create=False never creates one"
            )
        if version > LATEST_VERSION:
            raise StoreTooNew(
                f"schema {schema!r} has version {version}; this alliancekit-postgres knows up to "
                f"{LATEST_VERSION}: upgrade it"
            )
        raise StoreNeedsMigration(
            f"schema {schema!r} is at version {version}, this plugin needs {LATEST_VERSION}; a read-only "
            "store never migrates: open it writable once, or run alliancekit_postgres.migrate()"
        )

    def schema_version(self) -> int:
        with self._connection() as conn:
            return current_version(conn, self._db.schema) or 0

    def schema_found(self) -> SchemaFound:
        """The version the schema's ``schema_migrations`` rows state and what its structure says of it
        (verification compares them, :mod:`alliancekit.store.structure`)."""
        try:
            with self._connection() as conn:
                stated = current_version(conn, self._db.schema) or 0
                return structure_found(conn, self._db.schema, stated)
        except psycopg.Error as exc:
            raise _failed("schema check", exc) from exc

    def _connection(self) -> Any:
        if self._db.closed:
            raise StoreError("the store is closed")
        pinned = self._db.pinned.conn
        if pinned is not None:  # inside exclusive: on the session holding the lock, never waiting on it
            return contextlib.nullcontext(pinned)
        try:
            return self._db.pool.connection(timeout=30)
        except PoolTimeout as exc:  # pragma: no cover - raised on enter, see _run
            raise StoreBusy("no database connection became free") from exc

    def _run(self, what: str, operation: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``operation`` on a pooled connection, retrying serialization failures and deadlocks."""
        for attempt in range(self._db.retries + 1):
            used: list[psycopg.Connection[Any]] = []
            try:
                with self._connection() as conn:
                    used.append(conn)
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
            except UnicodeEncodeError:
                # A lone surrogate: it has no UTF-8 form, so no PostgreSQL text can hold it. Not chained: the
                # codec's message quotes the text.
                raise ValidationError("text", "unicode", "a lone surrogate cannot be stored") from None
            except psycopg.DataError as exc:
                # A value PostgreSQL cannot hold (NUL in text, JSON \u0000, ...): refused like bad input.
                # Not chained either: the server's message and context quote the offending value.
                raise _unstorable(exc) from None
            except pg_errors.ReadOnlySqlTransaction as exc:
                raise StoreError(f"PostgreSQL {what} refused: the store was opened read-only") from exc
            except psycopg.Error as exc:
                if used and (used[0].broken or used[0].closed):
                    raise ConnectionLost(what, exc) from exc
                raise StoreError(f"PostgreSQL {what} failed: {type(exc).__name__} ({exc.sqlstate})") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- writes ---------------------------------------------------------------------------------------------

    def append(self, commit: Commit) -> None:
        self.append_batch([commit])

    def append_batch(self, commits: Sequence[Commit]) -> None:
        self._writable("append")
        if not commits:
            return
        for commit in commits:
            command = commit.command
            if commit.caseload.clinic_id != self.clinic_id or (
                command is not None and command.clinic_id != self.clinic_id
            ):
                # Said plainly here; row-level security would refuse it anyway (or find no row to update).
                raise AccessDenied("append", "the episode belongs to another clinic than this store's")
        # A batch links every commit's audit entries at its end, all shards in shard order: linked commit by
        # commit, its transaction would lock the shard heads out of order (a later commit's lower shard after
        # an earlier one's higher) and deadlock with writers taking them in order.
        audit = _by_shard([record for commit in commits for record in commit.audit])
        at = [0]  # the commit being written when the transaction failed

        def write(conn: psycopg.Connection[Any]) -> None:
            if len(commits) == 1:  # one statement: its own transaction on the autocommit connection
                self._append(conn, commits[0], audit)
                return
            with conn.transaction():
                for i, commit in enumerate(commits):
                    at[0] = i
                    self._append(conn, commit, ())
                if audit:
                    conn.execute(self._db.sql["append_audit"], (self.clinic_id, audit_array(audit)))

        try:
            self._run("write", write)
        except StoreError as exc:
            failed = commits[at[0]]
            cause, command = exc.__cause__, failed.command
            if isinstance(cause, psycopg.Error) and cause.sqlstate == _NOT_LIVE_SQLSTATE:
                raise InvalidToken() from None
            if isinstance(cause, psycopg.Error) and cause.sqlstate == DEFINITION_CHANGED_SQLSTATE:
                raise self._changed(failed.definitions) from None
            if isinstance(cause, pg_errors.UniqueViolation):
                if cause.diag.constraint_name == "commands_pkey" and command is not None:
                    raise DuplicateCommand(command.key) from None
                if cause.diag.constraint_name in ("events_pkey", "episodes_pkey"):
                    raise self._conflict(failed) from None
            if isinstance(cause, psycopg.Error) and cause.sqlstate == STALE_VERSION_SQLSTATE:
                raise self._conflict(failed) from None
            if isinstance(cause, pg_errors.InsufficientPrivilege):
                raise AccessDenied("append", "row-level security refused a row of this commit") from None
            raise

    @property
    def _writers_key(self) -> str:
        return f"{self._db.schema}/{self.clinic_id}"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold this clinic's writers' lock across what this thread reads, decides and writes in the block.

        The runner retries a command that lost a race for an episode in here: optimistic writes alone let
        a writer that never pauses win every race, and the other run out of retries (starvation); under
        the lock its second try cannot lose. Every commit takes the lock shared for its transaction, so
        writers do not wait for each other, only for a holder of ``exclusive``; this takes it exclusive
        for a session (``pg_advisory_lock``), once the commits in flight are done. The thread's operations
        in the block run on that session, one by one as outside it: its reads see the latest commits, and
        its commits take the shared lock the session holds already instead of waiting for themselves."""
        self._writable("exclusive")
        pinned, key = self._db.pinned, self._writers_key
        if key in pinned.held:
            yield
            return
        with contextlib.ExitStack() as stack:
            if pinned.conn is None:
                stack.enter_context(self._pin())
            params = (_WRITERS_NAMESPACE, key)
            try:
                self._run("writers' lock", lambda c: c.execute(self._db.sql["writers_exclusive"], params))
            except BaseException:
                self._end_session()  # an interrupted wait may have been granted the lock all the same
                raise
            pinned.held.add(key)
            try:
                yield
            finally:
                pinned.held.discard(key)
                self._release(params)

    @contextlib.contextmanager
    def _pin(self) -> Iterator[None]:
        """Take a connection from the pool for this thread's operations until the block ends."""
        if self._db.closed:
            raise StoreError("the store is closed")
        try:
            conn = self._db.pool.getconn(timeout=30)
        except PoolTimeout as exc:
            raise StoreBusy("no database connection became free") from exc
        self._db.pinned.conn = conn
        try:
            yield
        finally:
            self._db.pinned.conn = None
            self._db.pool.putconn(conn)  # a closed one (see _release) is discarded, not reused

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[None]:
        """Reads of this thread inside the block see one snapshot of the database: they run on one
        connection, in one ``REPEATABLE READ, READ ONLY`` transaction (verification reads the whole record
        in one, :func:`alliancekit.store.scan.scan_record`, so a writer committing meanwhile cannot make its
        parts disagree). Inside another read transaction, this is that one; inside :meth:`exclusive`, it is
        on that block's connection. For reads only: a write in the block is refused as read-only."""
        if self._db.closed:
            raise StoreError("the store is closed")
        pinned = self._db.pinned
        if pinned.conn is not None and pinned.conn.info.transaction_status != TransactionStatus.IDLE:
            yield  # already in this thread's transaction
            return
        with contextlib.ExitStack() as stack:
            if pinned.conn is None:
                stack.enter_context(self._pin())
            conn = pinned.conn
            assert conn is not None  # noqa: S101 - pinned above or by exclusive
            try:
                stack.enter_context(conn.transaction())
                # Must come first in the transaction, before the snapshot is taken by its first query.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            except psycopg.Error as exc:
                raise StoreError(f"PostgreSQL read failed: {type(exc).__name__} ({exc.sqlstate})") from exc
            yield

    def _release(self, params: tuple[int, str]) -> None:
        conn = self._db.pinned.conn
        assert conn is not None  # noqa: S101 - pinned by exclusive
        try:
            released = conn.execute(self._db.sql["writers_release"], params).fetchone()
        except psycopg.Error:  # a broken connection: its session, and so its lock, is gone or going
            released = None
        except BaseException:
            self._end_session()
            raise
        if released is None or released[0] is not True:
            self._end_session()

    def _end_session(self) -> None:
        """Close the pinned connection: its session's end releases its locks, which a connection going back
        to the pool must never carry (the pool discards a closed one)."""
        conn = self._db.pinned.conn
        if conn is not None:
            conn.close()

    def _append(self, conn: psycopg.Connection[Any], commit: Commit, audit: Sequence[AuditRecord]) -> None:
        request = commit.request
        if request is None and not commit.definitions:
            self._append_commit(conn, commit, audit)
            return
        # The definitions and the request's change join the commit's transaction: all or nothing.
        with conn.transaction():
            if commit.definitions:
                # The writers' lock first, as append_commit takes it: never wait for it holding a row.
                conn.execute(self._db.sql["writers_shared"], (_WRITERS_NAMESPACE, self._writers_key))
                self._save_definitions(conn, commit.definitions)
            self._append_commit(conn, commit, audit)
            if request is None:
                return
            record = request.record
            conn.execute(
                self._db.sql["write_request"],
                (
                    self.clinic_id,
                    request.action,
                    request.request_id,
                    request.at,
                    None if record is None else _request_object(record),
                    list(request.cancel_messages),
                ),
            )

    def _append_commit(
        self, conn: psycopg.Connection[Any], commit: Commit, audit: Sequence[AuditRecord]
    ) -> None:
        row = commit.caseload
        clinic = row.clinic_id
        command = commit.command
        conn.execute(
            self._db.sql["append"],
            (
                self.clinic_id,
                clinic,
                None if command is None else command.command,
                None if command is None else command.key,
                None if command is None else command.request_hash,
                None if command is None else command.episode_id,
                None if command is None else command.version,
                commit.episode_id,
                commit.expected_version,
                commit.new_version,
                commit.head,
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
                row.lockbox_json,
                _json_array(_event_object(e) for e in commit.events),
                _json_array(_outbox_object(m) for m in commit.outbox),
                audit_array(audit),
                row.missed_measures_json,
                row.population,
                _WRITERS_NAMESPACE,
                self._writers_key,
            ),
        )

    def _save_definitions(
        self, conn: psycopg.Connection[Any], definitions: Sequence[StoredDefinition]
    ) -> None:
        # Two of one commit or batch that disagree are refused here: one INSERT would keep the first.
        payload = json.dumps(
            [
                {
                    "measure_id": d.measure_id,
                    "version": d.version,
                    "sha256": d.sha256,
                    "definition": d.definition_json,
                }
                for d in absent({}, definitions)
            ]
        )
        conn.execute(self._db.sql["save_definitions"], (self.clinic_id, payload))

    def _changed(self, definitions: Sequence[StoredDefinition]) -> MeasureDefinitionChanged:
        """The error naming the definition the database refused as changed (or, if a batch's own two
        definitions disagree, the second of them)."""
        try:
            absent({(d.measure_id, d.version): d.sha256 for d in self.measure_definitions()}, definitions)
        except MeasureDefinitionChanged as exc:
            return exc
        first = definitions[0]
        return MeasureDefinitionChanged(first.measure_id, first.version)

    def _conflict(self, commit: Commit) -> ConflictError:
        rows = self._read("version", (self.clinic_id, commit.episode_id))
        actual = 0 if not rows else int(rows[0][0])
        return ConflictError(commit.episode_id, commit.expected_version, actual)

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        self._writable("append_audit")
        if not records:
            return
        payload = audit_array(_by_shard(records))

        def write(conn: psycopg.Connection[Any]) -> None:
            conn.execute(self._db.sql["append_audit"], (self.clinic_id, payload))

        try:
            self._run("audit write", write)
        except StoreError as exc:
            if isinstance(exc.__cause__, pg_errors.InsufficientPrivilege):
                raise AccessDenied("append_audit", "row-level security refused an audit row") from None
            raise

    # -- reads ----------------------------------------------------------------------------------------------

    def _read(self, name: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """One read: a single statement (its own transaction, clinic set inside it), one round trip."""
        if any(isinstance(p, str) and "\x00" in p for p in params):
            # No stored text holds a NUL (PostgreSQL cannot store one), so nothing matches such a key.
            return []
        query = self._db.sql[name]

        def read(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            return _fetch(conn, name, query, params)

        try:
            try:
                return self._run("read", read)
            except ConnectionLost:
                # A pooled connection the server ended (a restart, a terminated backend): a read is safe to
                # send again, once, on another connection (the pool discarded the lost one).
                return self._run("read", read)
        except ValidationError as exc:
            if exc.rule == "unicode":  # a lone surrogate in a key: nothing stored can match it either
                return []
            raise

    def load_snapshot(self, episode_id: str) -> Snapshot | None:
        rows = self._read("snapshot", (self.clinic_id, episode_id))
        return None if not rows else Snapshot(int(rows[0][0]), str(rows[0][1]), str(rows[0][2]))

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        rows = self._read("events", (self.clinic_id, episode_id, after))
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
        if clinic_id is not None and clinic_id != self.clinic_id:
            return []  # another clinic's rows do not exist for this store (row-level security says the same)
        if clinician_id is not None and others_under_lockbox:
            closed = open_only and closed_under_lockbox
            if self._db.version < OTHERS_UNDER_LOCKBOX_FROM:  # a read-only store on an older schema
                rows = self._caseload("caseload", (self.clinic_id, None, False))
                return [
                    r
                    for r in rows
                    if (r.clinician_id == clinician_id or r.lockbox_json != "{}")
                    and (not open_only or r.closed_on is None or (closed and r.lockbox_json != "{}"))
                ]
            return self._caseload("caseload_others", (self.clinic_id, clinician_id, open_only, closed))
        if not (open_only and closed_under_lockbox):
            return self._caseload("caseload", (self.clinic_id, clinician_id, open_only))
        if self._db.version < CASELOAD_LOCKBOX_FROM:  # a read-only store on an older schema
            rows = self._caseload("caseload", (self.clinic_id, clinician_id, False))
            return [r for r in rows if r.closed_on is None or r.lockbox_json != "{}"]
        return self._caseload("caseload_lockbox", (self.clinic_id, clinician_id))

    def _caseload(self, statement: str, params: tuple[Any, ...]) -> list[CaseloadRow]:
        rows = self._caseload_rows(statement, params)
        if self._db.version >= POPULATION_FROM:
            return rows
        # a read-only store on a schema from before the column: each episode's snapshot's (shape 5 holds it;
        # an older shape holds none, as its episodes name none)
        return [attrs.evolve(row, population=self._snapshot_population(row.episode_id)) for row in rows]

    def _snapshot_population(self, episode_id: str) -> str | None:
        snapshot = self.load_snapshot(episode_id)
        population = None if snapshot is None else json.loads(snapshot.state_json).get("population")
        return None if population is None else str(population)

    def _caseload_rows(self, statement: str, params: tuple[Any, ...]) -> list[CaseloadRow]:
        return [_caseload_from_row(r) for r in self._read(statement, params)]

    def episode_ids(self) -> Iterator[str]:
        return iter([r[0] for r in self._read("episode_ids", (self.clinic_id,))])

    def episode_clinics(self) -> list[str]:
        """The clinics named by the caseload rows: this store's clinic when it has one (row-level security
        shows it no other), read without decoding a row (one changed outside alliancekit must not stop the
        choice of whose record to verify)."""
        return [self.clinic_id] if self._read("episode_ids", (self.clinic_id,)) else []

    def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]:
        """Closed episodes' outcome columns (the practice-outcomes report), from a covering index."""
        if clinic_id is not None and clinic_id != self.clinic_id:
            return []
        if self._db.version < POPULATION_FROM:  # a read-only store on an older schema: the snapshots'
            return [ClosedOutcome.of(r) for r in self.caseload(open_only=False) if r.closed_on is not None]
        return [ClosedOutcome(*r) for r in self._read("closed_outcomes", (self.clinic_id,))]

    def find_command(self, clinic_id: str, command: str, key: str) -> CommandRecord | None:
        if clinic_id != self.clinic_id:
            return None  # another clinic's keys do not exist for this store
        rows = self._read("find_command", (self.clinic_id, command, key))
        if not rows:
            return None
        request_hash, episode_id, version = rows[0]
        return CommandRecord(clinic_id, command, key, str(request_hash), str(episode_id), int(version))

    def command_records(self) -> list[CommandRecord] | None:
        """This clinic's keyed commands' records, by command and key (verification only); ``None`` on a
        read-only store on a schema from before migration 13, which cannot list them."""
        if self._db.version < BACKFILL_AUDITED_FROM:
            return None
        return [
            CommandRecord(self.clinic_id, str(c), str(k), str(h), str(e), int(v))
            for c, k, h, e, v in self._read("command_records", (self.clinic_id,))
        ]

    def request_records(self) -> list[RequestRecord] | None:
        """This clinic's administration requests, by id (verification only); ``None`` as above."""
        if self._db.version < BACKFILL_AUDITED_FROM:
            return None
        return self._requests("request_records", ())

    def audit_records(self) -> list[AuditRecord]:
        """This clinic's audit entries, by shard then position (each clinic has its own shard chains)."""
        reader = "audit" if self._db.version >= AUDIT_RECIPIENT_FROM else "audit_no_recipient"
        return [_audit_from_row(r) for r in self._read(reader, (self.clinic_id,))]

    def iter_audit_records(self) -> Iterator[AuditRecord]:
        """This clinic's audit entries by shard then position, a page at a time: verification walks a log
        of millions of entries without holding it. Every page is read in one REPEATABLE READ transaction
        (:meth:`read_transaction`, this one's if the thread is in one already), so a writer committing
        meanwhile cannot make the pages disagree. Keyset pages over the primary key, each query starting
        where the last ended; the ctid breaks ties (see ``audit_page``). The stream holds a connection of
        the pool until it is exhausted or closed."""
        sql_ = self._db.sql
        with self.read_transaction():

            def page(name: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
                def read(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
                    # The clinic again before each page: another view's read in between may have set its own.
                    conn.execute(sql_["set_clinic"], (self.clinic_id,))
                    return _fetch(conn, name, sql_[name], params)

                return self._run("read", read)  # never sent again elsewhere: that would be another snapshot

            # a read-only store on a schema from before audit.recipient: every entry names none
            older = "" if self._db.version >= AUDIT_RECIPIENT_FROM else "_no_recipient"
            rows = page("audit_page" + older, (self.clinic_id, _AUDIT_PAGE_ROWS))
            while rows:
                yield from (_audit_from_row(r) for r in rows)
                if len(rows) < _AUDIT_PAGE_ROWS:
                    return
                last = rows[-1]
                rows = page(
                    "audit_page_after" + older,
                    (self.clinic_id, last[13], last[14], last[_CTID], _AUDIT_PAGE_ROWS),
                )

    def audit_heads(self) -> list[ShardHead]:
        return [
            ShardHead(int(r[0]), int(r[1]), str(r[2])) for r in self._read("audit_heads", (self.clinic_id,))
        ]

    def seal(
        self, make: Callable[[Sequence[ShardHead], AuditCheckpoint | None], AuditCheckpoint | None]
    ) -> AuditCheckpoint | None:
        """Write a checkpoint atomically for this clinic.

        One transaction: a transaction-scoped advisory lock on (schema, clinic), so that sealers in any
        thread or process queue here; the committed shard heads and the last checkpoint; ``make``; the
        insert. A checkpoint must be numbered right after the last one (the primary key refuses a repeat).
        """
        self._writable("seal")
        sql_ = self._db.sql
        scope = self.clinic_id
        lock_key = f"{self._db.schema}/{scope}"

        def run(conn: psycopg.Connection[Any]) -> AuditCheckpoint | None:
            with conn.transaction():
                conn.execute(sql_["seal_lock"], (scope, _SEAL_NAMESPACE, lock_key))
                heads = [
                    ShardHead(int(r[0]), int(r[1]), str(r[2]))
                    for r in conn.execute(sql_["seal_heads"], (scope,)).fetchall()
                ]
                rows = _fetch(conn, "seal_last", sql_["seal_last"], (scope,))
                last = None if not rows else _checkpoint_from_row((scope, *rows[0]))
                made = make(heads, last)
                if made is None:
                    return None
                checkpoint = _stored_checkpoint(made, last)
                conn.execute(
                    sql_["seal_insert"],
                    (
                        scope,
                        checkpoint.seq,
                        json.dumps([[h.shard, h.position, h.hash] for h in checkpoint.heads]),
                        checkpoint.root,
                        checkpoint.mac,
                        checkpoint.at,
                    ),
                )
                return checkpoint

        return self._run("seal", run)

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        rows = self._read("audit_checkpoints", (self.clinic_id,))
        return [_checkpoint_from_row((self.clinic_id, *r)) for r in rows]

    def replace_payloads(
        self, updates: Sequence[tuple[str, int, str]], *, audit: Sequence[AuditRecord] = ()
    ) -> None:
        """Rewrite event payloads (re-encryption under a new key) and append the rotation's audit entries,
        in one transaction."""
        self._writable("replace_payloads")
        objects = _json_array(
            _with_raw({"episode_id": episode_id, "seq": seq}, "payload", payload)
            for episode_id, seq, payload in updates
        )
        query = self._db.sql["replace_payloads"]
        entries = audit_array(_by_shard(audit)) if audit else None

        def write(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute(query, (self.clinic_id, objects))
                if entries is not None:
                    conn.execute(self._db.sql["append_audit"], (self.clinic_id, entries))

        self._run("payload rewrite", write)

    # -- outbox delivery (alliancekit.notify.dispatcher) -------------------------------------------------

    def claim_outbox(
        self, owner: str, channels: Sequence[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxRecord]:
        """Lease this clinic's due messages (``FOR UPDATE SKIP LOCKED``); oldest due first."""
        self._writable("claim_outbox")
        params = (self.clinic_id, owner, list(channels), now, lease_until, limit)
        query = self._db.sql["claim_outbox"]
        rows = self._run("outbox claim", lambda conn: conn.execute(query, params).fetchall())
        return sorted((_outbox_record(r) for r in rows), key=lambda m: (m.next_attempt_at, m.message_id))

    def outbox_delivered(self, owner: str, message_ids: Sequence[str], at: datetime) -> int:
        return int(self._call("outbox_delivered", (self.clinic_id, list(message_ids))))

    def outbox_failed(
        self, owner: str, message_id: str, *, error: str, next_attempt_at: datetime, at: datetime
    ) -> bool:
        params = (self.clinic_id, owner, message_id, error, next_attempt_at, False, at)
        return bool(self._call("outbox_failed", params))

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        return bool(self._call("outbox_failed", (self.clinic_id, owner, message_id, error, at, True, at)))

    def outbox_requeue(self, message_id: str, now: datetime) -> bool:
        return bool(self._call("outbox_requeue", (self.clinic_id, message_id, now)))

    def outbox_status(self) -> OutboxStatus:
        if self._db.version < OUTBOX_DUE_FROM:  # a read-only store on an older schema: no due times
            [(pending, delivered, dead, oldest)] = self._read("outbox_status", (self.clinic_id,))
            return OutboxStatus(int(pending), int(delivered), int(dead), oldest)
        [(pending, delivered, dead, oldest, due)] = self._read("outbox_status_due", (self.clinic_id,))
        return OutboxStatus(int(pending), int(delivered), int(dead), oldest, due)

    def outbox_records(
        self, state: OutboxState | None = None, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        wanted = None if state is None else OutboxState(state).value
        if after is None:
            rows = self._read("outbox_records", (self.clinic_id, wanted, limit))
        elif self._db.version < OUTBOX_WAITS_FROM:  # a read-only store on an older schema
            raise StoreNeedsMigration(
                f"schema {self._db.schema!r} is at version {self._db.version}: paging through the outbox"
                f" needs {OUTBOX_WAITS_FROM}; open it writable once, or run alliancekit_postgres.migrate()"
            )
        else:
            rows = self._read("outbox_records_after", (self.clinic_id, wanted, limit, after))
        return [_outbox_record(r) for r in rows]

    def _call(self, name: str, params: tuple[Any, ...]) -> Any:
        """One write statement whose function returns a single value."""
        self._writable(name)
        query = self._db.sql[name]

        def call(conn: psycopg.Connection[Any]) -> Any:
            row = conn.execute(query, params).fetchone()
            return None if row is None else row[0]

        return self._run("outbox write", call)

    # -- administration requests ----------------------------------------------------------------------------

    def _requests(self, name: str, params: tuple[Any, ...]) -> list[RequestRecord]:
        if self._db.version < 4:  # a read-only store on an older schema: no requests table yet
            return []
        return [_request_from_row(r) for r in self._read(name, (self.clinic_id, *params))]

    def find_request(self, token_hash: str) -> RequestRecord | None:
        found = self._requests("find_request", (token_hash,))
        return found[0] if found else None

    def get_request(self, clinic_id: str, request_id: str) -> RequestRecord | None:
        if clinic_id != self.clinic_id:
            return None
        found = self._requests("get_request", (request_id,))
        return found[0] if found else None

    def find_code(self, clinic_id: str, code_hash: str, at: datetime) -> RequestRecord | None:
        if self._db.version < FIND_CODE_FROM:
            # Only a read-only store is on an older schema, and it redeems nothing: refused as redeem_code is.
            self._writable("redeem_code")
        if clinic_id != self.clinic_id:
            return None
        found = self._requests("find_code", (code_hash, at))
        return found[0] if found else None

    def redeem_code(
        self, clinic_id: str, code_hash: str, token_hash: str, at: datetime
    ) -> RequestRecord | None:
        self._writable("redeem_code")
        if clinic_id != self.clinic_id:
            return None
        query = self._db.sql["redeem_code"]
        rows = self._run(
            "request write",
            lambda conn: conn.execute(query, (clinic_id, code_hash, token_hash, at)).fetchall(),
        )
        return request_from_row(rows[0]) if rows else None

    def count_failure(self, clinic_id: str, source: str, window: datetime) -> int:
        if clinic_id != self.clinic_id:
            raise AccessDenied("count_failure", "another clinic than this store's")
        return int(self._call("count_failure", (clinic_id, source, window)))

    def failures(self, clinic_id: str, source: str, window: datetime) -> int:
        if clinic_id != self.clinic_id or self._db.version < 4:
            return 0
        rows = self._read("kiosk_failures", (clinic_id, source, window))
        return int(rows[0][0]) if rows else 0

    # -- practice metadata ----------------------------------------------------------------------------------

    def load_meta(self, key: str) -> str | None:
        if self._db.version < 3:  # a read-only store on a version-2 schema: no metadata table yet
            return None
        rows = self._read("load_meta", (self.clinic_id, key))
        return str(rows[0][0]) if rows else None

    @property
    def holds_definitions(self) -> bool:
        """Whether the schema keeps measure definitions: false for a read-only store on an older schema,
        whose administrations then have none stored (verification does not ask for them)."""
        return self._db.version >= DEFINITIONS_FROM

    @property
    def audits_backfill_mark(self) -> bool:
        """Whether the schema records the backfill mark in the audit log: false for a read-only store on an
        older schema (its mark has no entry, and verification does not ask for one)."""
        return self._db.version >= BACKFILL_AUDITED_FROM

    def measure_definitions(self) -> list[StoredDefinition]:
        if self._db.version < DEFINITIONS_FROM:  # a read-only store on an older schema: none stored
            return []
        return [StoredDefinition(*row) for row in self._read("measure_definitions", (self.clinic_id,))]

    def save_definitions(self, definitions: Sequence[StoredDefinition]) -> None:
        self._writable("save_definitions")
        if not definitions:
            return
        try:
            self._run("definitions write", lambda conn: self._save_definitions(conn, definitions))
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, psycopg.Error) and cause.sqlstate == DEFINITION_CHANGED_SQLSTATE:
                raise self._changed(definitions) from None
            raise

    def save_meta(self, key: str, value_json: str) -> None:
        self._writable("save_meta")
        query = self._db.sql["save_meta"]
        self._run("metadata write", lambda conn: conn.execute(query, (self.clinic_id, key, value_json)))

    def close(self) -> None:
        """Close the pool (only the store that opened it does; a clinic view's ``close`` does nothing)."""
        if self._owner and not self._db.closed:
            self._db.closed = True
            self._db.pool.close()


def _audit_record(r: Sequence[Any]) -> AuditRecord:
    return AuditRecord(
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
        writes=r[12],
        shard=int(r[13]),
        position=int(r[14]),
        prev_hash=r[15],
        hash=r[16],
        recipient=str(r[17]) if len(r) > 17 else "",  # audit_records (an older schema's) has no recipient
    )


def _caseload_record(r: Sequence[Any]) -> CaseloadRow:
    return CaseloadRow(
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
        lockbox_json=r[22],
        # a read-only store on a schema from before the column: none missed
        missed_measures_json=r[23] if len(r) > 23 else "[]",
        population=r[24] if len(r) > 24 else None,
    )


def _checkpoint(r: Sequence[Any]) -> AuditCheckpoint:
    heads = tuple(ShardHead(int(h[0]), int(h[1]), str(h[2])) for h in json.loads(r[1]))
    return AuditCheckpoint(seq=int(r[0]), heads=heads, root=str(r[2]), mac=str(r[3]), at=r[4])


def _event_record(r: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
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
        prev_hash=r[12],
        hash=r[13],
    )


class _OutOfRange:
    """A date or time PostgreSQL holds and Python cannot ('infinity', a year past 9999), as read."""

    def __repr__(self) -> str:
        return "<out of range>"


_OUT_OF_RANGE = _OutOfRange()


def _tolerant(type_name: str) -> type[Loader]:
    """A loader of ``type_name`` (text format, the results'), psycopg's own, that reads a value psycopg cannot
    load as :data:`_OUT_OF_RANGE` instead of failing the whole result: the row's decoder then names it."""
    oid = psycopg.adapters.types[type_name].oid
    found = psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
    assert found is not None  # noqa: S101 - psycopg loads every date and time type
    inner = found

    class Tolerant(Loader):
        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            # Wrapped, not subclassed: psycopg's C loaders are called past any Python override.
            self._load = inner(oid, context).load

        def load(self, data: Any) -> Any:
            try:
                return self._load(data)
            except psycopg.DataError:
                return _OUT_OF_RANGE

    return Tolerant


_TOLERANT = {name: _tolerant(name) for name in ("date", "timestamptz")}
#: The reads whose rows go through a decoder of :func:`_rows`, which names an out-of-range value's row by
#: table and key: they read such a value as :data:`_OUT_OF_RANGE`.
_DECODED_READS = frozenset(
    {
        "events", "caseload", "caseload_others", "caseload_lockbox", "audit", "audit_no_recipient",
        "audit_page", "audit_page_after", "audit_page_no_recipient", "audit_page_after_no_recipient",
        "audit_checkpoints", "seal_last", "request_records", "find_request", "get_request", "find_code",
    }
)  # fmt: skip
#: The table of another read's rows, for the error naming it (a read not listed is named by its statement).
_READ_TABLES = {
    "closed_outcomes": "episodes",
    "outbox_status": "outbox",
    "outbox_status_due": "outbox",
    "outbox_records": "outbox",
    "outbox_records_after": "outbox",
}


def _fetch(
    conn: psycopg.Connection[Any], name: str, query: str, params: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    """The rows of read statement ``name``. A value psycopg cannot load is a row changed outside alliancekit:
    :class:`UnreadableRow` (never the write error, a DataError from ``_run``), named by key where the rows
    are decoded (:data:`_DECODED_READS`), else by table only."""
    cursor = conn.cursor()
    if name in _DECODED_READS:
        for type_name, loader in _TOLERANT.items():
            cursor.adapters.register_loader(type_name, loader)
    cursor.execute(query, params)
    try:  # loading happens here, not in execute: a DataError of the statement itself is not caught
        return cursor.fetchall()
    except psycopg.DataError:
        raise UnreadableRow(_READ_TABLES.get(name, name), "(key not readable)", "value") from None


def _rows(
    table: str, key: Callable[[Sequence[Any]], str], decode: Callable[[Sequence[Any]], T], clinic: int
) -> Callable[[Sequence[Any]], T]:
    """:func:`~alliancekit.store.rows.decoded` of ``decode``, a value read as :data:`_OUT_OF_RANGE`
    failing it as a time that is not one fails SQLite's."""

    def in_range(row: Sequence[Any]) -> T:
        if any(value is _OUT_OF_RANGE for value in row):
            raise ValueError("out of range")
        return decode(row)

    return decoded(table, key, in_range, clinic)


# Each row decoded through one check (alliancekit.store.rows), as the SQLite store's: a value changed outside
# alliancekit is UnreadableRow, named by the row's table and key, never its content.
_event_from_row = _rows("events", lambda r: f"episode {part(r[0])} event {number(r[1])}", _event_record, 9)
_caseload_from_row = _rows("episodes", lambda r: f"episode {part(r[0])}", _caseload_record, 1)
_audit_from_row = _rows(
    "audit", lambda r: f"shard {number(r[13])} position {number(r[14])}", _audit_record, 4
)
#: Of ``(clinic, *row)``: a checkpoint row names no clinic, and is the store's.
_checkpoint_from_row = _rows(
    "audit_checkpoints", lambda r: f"checkpoint {number(r[1])}", lambda r: _checkpoint(r[1:]), 0
)
_request_from_row = _rows("administration_requests", lambda r: f"request {part(r[1])}", request_from_row, 0)


def _stored_checkpoint(made: object, last: AuditCheckpoint | None) -> AuditCheckpoint:
    """``made`` checked to be the checkpoint right after ``last``, its time in UTC (as it will read back)."""
    if not isinstance(made, AuditCheckpoint):
        raise ValidationError("checkpoint", "type", "seal's make returns an AuditCheckpoint or None")
    expected = 1 if last is None else last.seq + 1
    if made.seq != expected:
        raise ValidationError("checkpoint.seq", "sequence", "a checkpoint follows the last one")
    if not isinstance(made.at, datetime):
        raise ValidationError("checkpoint.at", "type", "datetime expected")
    return attrs.evolve(made, at=utc(made.at), heads=tuple(sorted(made.heads)))


def _by_shard(records: Sequence[AuditRecord]) -> list[AuditRecord]:
    """Audit records grouped by shard in shard order (each shard's in their order), shards checked.

    ``link_audit`` locks the shard heads in this order, so two writers never wait for each other in a cycle.
    """
    for record in records:
        if not 0 <= record.shard < AUDIT_SHARDS:
            raise ValidationError("audit.shard", "range", f"0 to {AUDIT_SHARDS - 1}")
    return sorted(records, key=lambda r: r.shard)  # stable: a shard's records keep their order


def _json_array(objects: Iterator[str]) -> str:
    return "[" + ",".join(objects) + "]"


def _with_raw(envelope: dict[str, Any], key: str, raw_json: str) -> str:
    """``envelope`` as a JSON object with ``raw_json`` (already JSON text, from the core) spliced in."""
    return json.dumps(envelope, separators=(",", ":"))[:-1] + f',"{key}":' + raw_json + "}"


def _event_object(e: StoredEvent) -> str:
    envelope: dict[str, Any] = {
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
        "prev_hash": e.prev_hash,
        "hash": e.hash,
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


#: Columns ``write_request`` does not read from a created request's object: it takes the clinic and the
#: request id as arguments, and a request is created neither revoked nor used.
_NOT_IN_REQUEST_OBJECT = frozenset({"clinic_id", "request_id", "revoked_at", "used_at"})


def _request_object(r: RequestRecord) -> str:
    fields = request_fields(r, datetime.isoformat)
    return json.dumps({name: value for name, value in fields.items() if name not in _NOT_IN_REQUEST_OBJECT})


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


def _unstorable(exc: psycopg.DataError) -> ValidationError:
    """The error for a value PostgreSQL refused to store; the message names the rule, never the value."""
    if exc.sqlstate is None:  # refused by psycopg before sending: NUL in a text parameter, ...
        rule = "control-character" if "NUL" in str(exc) else "value"
    else:
        rule = _UNSTORABLE.get(exc.sqlstate, "value")
    details = {
        "control-character": "text cannot contain NUL characters",
        "unicode": "text must be valid Unicode (no lone surrogates)",
        "range": "a number is out of range",
        "value": "a value cannot be stored",
    }
    return ValidationError(
        "text" if rule in ("control-character", "unicode") else "value", rule, details[rule]
    )


def _check_clinic(clinic_id: object) -> None:
    # the id rules of every other clinic id: "north " would scope the store to a clinic no actor names, and
    # "(none)" to the entries of calls made without an actor
    check_clinic("clinic", clinic_id)


# ------------------------------------------------------------------------------------------------ locations


def _with_connect_timeout(conninfo: str) -> str:
    """``conninfo`` with :data:`DEFAULT_CONNECT_TIMEOUT` unless it sets its own ``connect_timeout``.

    A connection string libpq cannot read (a parameter it does not know, a bad percent-escape, a value of
    the wrong type) is a :class:`ValidationError` of the location, not the driver's error escaping as a
    plugin failure.
    """
    try:
        if "connect_timeout" in conninfo_to_dict(conninfo):
            return conninfo
        return make_conninfo(conninfo, connect_timeout=DEFAULT_CONNECT_TIMEOUT)
    except psycopg.ProgrammingError as exc:
        raise _unreadable_location(exc) from None


def _unreadable_location(exc: psycopg.ProgrammingError) -> ValidationError:
    """The error for a connection string libpq refused to parse. libpq quotes the offending token, which
    may be the password (``invalid percent-encoded token: "..."``) or the whole URI: quoted parts are cut
    out, and the error is not chained."""
    reason = _QUOTED.sub("", " ".join(str(exc).split())).rstrip(" :")
    return ValidationError("location", "conninfo", f"libpq cannot read it: {reason}")


#: A quoted token in a libpq message (the token may be a password, or the whole URI).
_QUOTED = re.compile(r"""\s*(?:"[^"]*"|'[^']*')""")


def _check_connection(conninfo: str) -> None:
    """Connect once, so that a connection that can never succeed fails at once with the server's reason.

    The pool retries failed connections in the background until its open timeout: a wrong password, an
    unknown database or an option libpq or the server rejects would otherwise wait out those 30 seconds
    and say only that no connection was made.
    """
    try:
        psycopg.connect(conninfo, autocommit=True).close()
    except psycopg.ProgrammingError as exc:  # the connection string itself, before any connection
        raise _unreadable_location(exc) from None
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split())  # libpq's message names the host and the cause, never a password
        raise StoreError(f"could not connect to PostgreSQL: {reason}") from None


def parse_location(location: str) -> tuple[str, dict[str, str]]:
    """Split ``postgresql://...?clinic=...&schema=...`` into a libpq URI and alliancekit's options.

    The options are removed from the URI (libpq rejects parameters it does not know); everything else is
    passed through as written: the authority (a password's percent-escapes, several hosts, ``[::1]``, none
    at all for the Unix socket, ``postgresql:///db?host=/var/run/postgresql``), the path and the other query
    parameters (``sslmode`` and friends).
    """
    scheme, sep, rest = location.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise ValidationError("location", "scheme", "postgresql:// or postgres://")
    # Not rebuilt by urllib: urlunsplit drops an empty authority (postgresql:///db became postgresql:/db,
    # which libpq refuses), and any re-encoding could change what libpq reads.
    base, _, query = rest.partition("?")
    ours: dict[str, str] = {}
    passed: list[str] = []
    for token in query.split("&") if query else ():
        key, _, value = token.partition("=")
        if unquote_plus(key) in LOCATION_OPTIONS:
            ours[unquote_plus(key)] = unquote_plus(value)
        elif token:
            # libpq decodes %XX in a URI but takes + literally: a space written as + reaches it as %20.
            passed.append(token.replace("+", "%20"))
    return f"{scheme.lower()}://{base}" + ("?" + "&".join(passed) if passed else ""), ours


def open_postgres(location: str, *, read_only: bool = False, create: bool = True) -> PostgresStore:
    """Open the store at a ``postgresql://`` location. ``clinic`` is required; see the module docstring.

    With ``read_only`` the store never creates or migrates the schema and refuses every write; with
    ``create=False`` it writes but never creates the schema (a schema holding no store is an error).

    ``postgresql://app@db.example/practice?clinic=north&schema=alliancekit&pool_max=20``
    """
    conninfo, options = parse_location(location)
    if "clinic" not in options:
        raise ValidationError("location", "clinic-required", "add ?clinic=<clinic id> to the location")
    try:
        numbers = {k: int(options[k]) for k in ("pool_min", "pool_max", "retries") if k in options}
    except ValueError:
        raise ValidationError("location", "integer", "pool_min, pool_max and retries are integers") from None
    try:
        return PostgresStore(
            conninfo,
            clinic_id=options["clinic"],
            schema=options.get("schema", DEFAULT_SCHEMA),
            pool_min=numbers.get("pool_min", 1),
            pool_max=numbers.get("pool_max", DEFAULT_POOL_MAX),
            retries=numbers.get("retries", DEFAULT_RETRIES),
            read_only=read_only,
            create=create,
        )
    except StoreError as exc:  # names the store for its caller (the CLI's --db), without its password
        if exc.location is None:
            exc.location = shown_location(location)
        raise


def _failed(what: str, exc: psycopg.Error) -> StoreError:
    """A failed schema check or migration, by the error's type (its message may quote names and values);
    a missing privilege says what the role needs, the commonest cause when a practice is first opened."""
    hint = ""
    if isinstance(exc, pg_errors.InsufficientPrivilege) and what == "schema check":
        # before anything is created or migrated: the role may not even look into the schema, which
        # neither migrate=False nor CREATE on the database helps (a read-only open, as verify's, included)
        hint = (
            " (the role may not use the schema: let its owner grant what the application needs with"
            " alliancekit_postgres.migrate(..., grant_to=ROLE), or GRANT USAGE ON SCHEMA to the role)"
        )
    elif isinstance(exc, pg_errors.InsufficientPrivilege):
        hint = (
            " (the role lacks a privilege: let the schema's owner run alliancekit_postgres.migrate(...,"
            " grant_to=ROLE) and open the store with migrate=False, or let this role create the schema:"
            " CREATE on the database, or on the schema and USAGE)"
        )
    return StoreError(f"PostgreSQL {what} failed: {type(exc).__name__}{hint}")


def migrate(conninfo: str, *, schema: str = DEFAULT_SCHEMA, grant_to: str | None = None) -> int:
    """Create or migrate ``schema`` as the role in ``conninfo`` (the owner); returns the schema version.

    With ``grant_to``, that role gets the data privileges it needs and nothing more (no DDL, so it cannot
    switch row-level security off): open the application's stores as that role with ``migrate=False``.
    """
    try:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            return migrate_connection(conn, schema, grant_to=grant_to)
    except psycopg.Error as exc:
        raise _failed("migration", exc) from exc
