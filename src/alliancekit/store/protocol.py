"""What a storage backend must do: one atomic write per command, and the reads the facade needs.

The write is a :class:`Commit`: the command's new events with the stream version the command was decided
against, the episode's new snapshot, its caseload projection row, and the outbox and audit rows. A backend
writes all of it in one transaction or none of it, and raises :class:`~alliancekit.errors.ConflictError`
when the stream has moved past ``expected_version``. ``alliancekit.testing`` ships the contract suite that
proves a backend does this.

Payloads and snapshots arrive as JSON text, serialised once by the core, so backends store them as they are
(TEXT in SQLite, JSONB in PostgreSQL). A backend returns the same JSON *value*, not necessarily the same
bytes (JSONB normalises spacing and key order), so anything that hashes payloads must hash a canonical
form, not the stored text.

A backend may be *scoped to one clinic* (the PostgreSQL plugin, under row-level security): it then reads and
writes that clinic's rows only, and every query behaves as if the other clinics' rows did not exist. Such a
backend names its clinic in a ``clinic_scope`` attribute (an unscoped backend has none, or ``None``): the
whole-store reads that take no clinic (the audit log and checkpoints, which verification reads whole) then
give another clinic's reader nothing, as ``caseload(clinic_id=<another>)`` does.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from typing import NamedTuple, Protocol, runtime_checkable

import attrs

from alliancekit.domain.reprs import hidden, without_client_ids


@attrs.frozen
class StoredEvent:
    """An event as stored: its envelope and its payload as JSON text."""

    episode_id: str
    seq: int
    """Position in the episode's stream, from 1; the stream version after this event."""
    event_id: str
    type: str
    schema_version: int
    occurred_at: datetime
    recorded_at: datetime
    actor_id: str
    actor_role: str
    clinic_id: str
    payload_json: str = attrs.field(repr=False)
    corrects: str | None = None
    """The id of the event this one corrects, if it is a correction."""
    prev_hash: str = ""
    """The hash of the event before this one in its stream (``GENESIS`` for the first); set by the core."""
    hash: str = ""
    """:func:`alliancekit.integrity.chain.event_hash` of this event after ``prev_hash``; set by the core."""

    __repr__ = without_client_ids  # a client actor's id is their client reference


class Snapshot(NamedTuple):
    """An episode's snapshot row: the stream version, the folded state as JSON, and the stream head."""

    version: int
    state_json: str
    head: str
    """The hash of the event at ``version`` (the last one)."""


@attrs.frozen
class CommandRecord:
    """What a keyed command wrote, kept so that repeating it returns the same result.

    The key is scoped to the clinic and the command; ``request_hash`` binds it to the request, so the same
    key with a different request is refused instead of being taken for a repeat.
    """

    clinic_id: str
    command: str
    key: str
    request_hash: str
    episode_id: str
    version: int


@attrs.frozen
class CaseloadRow:
    """One open or closed episode as the caseload query shows it."""

    episode_id: str
    clinic_id: str
    clinician_id: str
    client_ref: str = attrs.field(repr=hidden)
    stage: str
    version: int
    opened_on: date
    last_session_on: date | None
    sessions_attended: int
    latest_scores_json: str = attrs.field(repr=False)  # scores: kept out of the repr
    """``{measure_id: total}`` as JSON."""
    open_alerts: int
    next_review_at: int | None
    """Attended-session count at which the next scheduled review falls due; ``None`` when none will."""
    review_due: bool
    """Every N attended sessions, or when a red or urgent alert asked for a review."""
    closed_on: date | None
    # -- added by the feedback engine (defaults keep older callers working) ---------------------------
    open_alerts_json: str = attrs.field(default="[]", repr=hidden)
    """The open alerts, most severe first: ``[{"id", "rule", "severity", "status", "measure"?}]``."""
    highest_severity: str | None = attrs.field(default=None, repr=hidden)
    """The most severe open alert's severity (info, amber, red, urgent), or ``None``."""
    outcome_measure: str | None = None
    """The primary outcome measure: the outcome-kind measure scored first in the episode."""
    first_outcome: float | None = attrs.field(default=None, repr=False)
    """Its first (intake) total."""
    latest_outcome: float | None = attrs.field(default=None, repr=False)
    """Its latest total (the final one once the episode is closed)."""
    outcome_sessions: int | None = None
    """Session index of the latest total counted from the intake's session (1 = the same session)."""
    modality: str | None = None
    """The modality of most attended sessions (in-person, video, phone)."""
    ending_reason: str | None = attrs.field(default=None, repr=hidden)
    """Why therapy ended (goals-met, dropout, ...), once closed with an ending."""
    lockbox_json: str = "{}"
    """The client's lockbox directives in force: ``{id: {"scope", "classes", "recipients"}}`` (canonical
    JSON), so a reader's summary can be decided without the snapshot."""
    missed_measures_json: str = "[]"
    """The measures whose last occasion under the episode's measurement protocol passed without them
    (sorted ids, JSON; see :mod:`alliancekit.protocols.schedule`)."""
    population: str | None = None
    """The episode's norm population (``child``, ``adolescent``; ``None``: each measure's default), so the
    practice-outcomes report and the expectation fit read each episode against its own norm
    (``Measure.norm_for``) without the snapshot."""

    @property
    def missed_measures(self) -> tuple[str, ...]:
        """:attr:`missed_measures_json` as ids."""
        return tuple(json.loads(self.missed_measures_json))


class ClosedOutcome(NamedTuple):
    """What the practice-outcomes report and the expectation fit need of one closed episode.

    A plain tuple: the report reads tens of thousands of these at once. Stores may serve them from a
    covering index through the optional ``closed_outcomes`` method (see :class:`Store`)."""

    clinician_id: str
    closed_on: date
    outcome_measure: str | None
    first_outcome: float | None
    latest_outcome: float | None
    outcome_sessions: int | None
    modality: str | None
    ending_reason: str | None
    lockbox_json: str = "{}"
    """As in :class:`CaseloadRow`: the report leaves out what a directive withholds from its reader."""
    population: str | None = None
    """As in :class:`CaseloadRow`: the norm population the episode's scores are read against."""

    @classmethod
    def of(cls, row: CaseloadRow) -> ClosedOutcome:
        """The outcome columns of a closed episode's caseload row."""
        assert row.closed_on is not None  # noqa: S101 - only closed rows are converted
        return cls(
            row.clinician_id,
            row.closed_on,
            row.outcome_measure,
            row.first_outcome,
            row.latest_outcome,
            row.outcome_sessions,
            row.modality,
            row.ending_reason,
            row.lockbox_json,
            row.population,
        )

    def __repr__(self) -> str:
        # the outcome totals are client data, as in CaseloadRow's repr
        return f"ClosedOutcome(clinician_id={self.clinician_id!r}, closed_on={self.closed_on!r})"


class OutboxState(enum.StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"
    """Not delivered yet: due at ``next_attempt_at``, unless a dispatcher holds an unexpired lease on it."""
    DELIVERED = "delivered"
    DEAD = "dead"
    """Gave up after the configured number of attempts; ``outbox_requeue`` puts it back to pending."""


@attrs.frozen
class OutboxRecord:
    """A notification for one channel, written in the same commit as the fact it tells of.

    ``message_id`` is unique and doubles as the idempotency key a receiver uses to drop a repeated delivery.
    ``body_json`` holds the minimum necessary (references and codes, never client words or scores); see
    :mod:`alliancekit.notify.outbox`. A request's message also holds the client's link, which only the
    dispatcher reads (``Practice.outbox_records`` returns the body without it). The delivery fields after
    ``created_at`` are kept by the store: a new record is written pending, with no attempts, due at
    ``next_attempt_at`` (``created_at`` when ``None``).

    A message due at its ``created_at`` is due at once, and a failed one is due a delay after its failure:
    the store keeps when such a wait began, so that a clock stepped back (or a dispatcher's clock behind
    the writer's) does not hold the message until the clock passes the stamp again (see
    :meth:`Store.claim_outbox`). A message due at a later time of its own (a reminder) keeps that time. The
    store keeps when a lease began too, so that such a clock does not stretch a lease by the step.
    """

    message_id: str
    episode_id: str
    kind: str
    channel: str
    body_json: str = attrs.field(repr=False)
    created_at: datetime
    state: OutboxState = OutboxState.PENDING
    attempts: int = 0
    """Delivery attempts that ended (delivered, failed or timed out); a crash mid-attempt does not count."""
    next_attempt_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    """The kind of the last failure (an exception class name, ``timeout``): never a message text."""


@attrs.frozen
class OutboxStatus:
    """Counts of outbox messages by state, when the oldest pending one was written and when the first
    pending one is due."""

    pending: int = 0
    delivered: int = 0
    dead: int = 0
    oldest_pending_at: datetime | None = None
    """The ``created_at`` of the oldest pending message: when it was written, not when it is due (a
    reminder is written with its request, days before it is due)."""
    next_due_at: datetime | None = None
    """The earliest ``next_attempt_at`` of the pending messages (``None`` without any, or from a store that
    cannot tell): in the past, the most overdue message has waited since then; in the future, nothing
    pending is due before then. What says whether the dispatcher keeps up, where ``oldest_pending_at``
    would take a reminder due next week for a message left undelivered since its request."""


@attrs.frozen
class AuditRecord:
    """Who did what to which record, when, why, and whether it was allowed."""

    entry_id: str
    at: datetime
    actor_id: str
    actor_role: str
    clinic_id: str
    purpose: str
    action: str
    record_type: str
    record_id: str
    outcome: str
    """``allowed`` (or how the policy names an allowed call: ``break-glass``, ``lockbox-override``),
    ``refused`` (the policy, or a call without an actor), ``not-found`` (the call named an episode, or a
    record of one, that does not exist: a failed access attempt, filed in the actor's clinic, naming the
    kind of record and the id asked for, and no client) or ``replayed`` (a
    keyed command answered again with its first result, writing nothing else)."""
    client_ref: str = attrs.field(default="", repr=hidden)
    """The host's reference of the client whose record it is, when there is one (for access requests)."""
    detail: str = attrs.field(default="", repr=False)
    """A stated reason (break-glass, lockbox override), the actor's words, never shown in a repr: stored
    encrypted when the practice has a cipher (:func:`alliancekit.security.encryption.seal_reason`); or a
    fixed word of the library's (why a request was refused)."""
    writes: str = ""
    """``<version>:<head hash>`` of the episode stream the entry's command wrote; empty for reads."""
    shard: int = 0
    """Which audit chain the entry belongs to (:func:`alliancekit.integrity.chain.shard_of`)."""
    position: int = 0
    """1-based place in its shard's chain; set by the store, under its write lock, with the two hashes."""
    prev_hash: str = ""
    hash: str = ""
    recipient: str = ""
    """Whom an export or a share went to: the recipient id the host named, or ``(unnamed)`` when it named
    none (:data:`alliancekit.security.lockbox.UNNAMED`); empty for every other entry, and for entries
    written before the field existed. A host's name of a recipient, checked as an id, never client data.
    Hashed only when not empty (:func:`alliancekit.integrity.chain.entry_hash`), so older entries hash as
    they did. Last, so that records built positionally keep their meaning."""
    chain: str = ""
    """Whose chains hold the entry, in a store that keeps audit chains per clinic in one database (SQLite):
    that clinic's id (the entry's ``clinic_id``, ``(none)`` for a call made without an actor). Empty in a
    store with one set of chains (a clinic-scoped store's own, the memory store's) and for the entries an
    SQLite file held before it kept chains per clinic (the shared part, checked whole). Set by the store,
    never hashed: an entry moved to another chain breaks both chains' positions."""

    __repr__ = without_client_ids  # a client actor's id is their client reference


class ShardHead(NamedTuple):
    """The last entry of one audit shard: its shard, position and hash, and the chain it heads."""

    shard: int
    position: int
    hash: str
    chain: str = ""
    """Whose audit chains the shard is in: the :attr:`AuditRecord.chain` of its entries (a clinic's id,
    ``(none)`` for calls made without an actor, empty for a store's one set of chains and an SQLite
    file's shared part). Not sealed: a checkpoint's Merkle root is over shard, position and hash, and the
    checkpoint names the chain; last, so that heads built positionally keep their meaning.

    Why a clinic-scoped store (the PostgreSQL plugin's) names its chains ``""`` and not its clinic: its
    chains hold its clinic's entries and those of the calls made in it without an actor (``clinic_id``
    ``(none)``) alike, so no one clinic id is theirs. Verification refuses an entry whose chain is neither
    empty nor its own ``clinic_id`` ("moved to another clinic's chain"), which is what tells an SQLite
    file's entry moved between clinics' chains; named by the clinic, every no-actor entry of such a store
    would be reported as moved. Naming them alike would take that check accepting ``(none)`` entries in any
    clinic's chain, which an SQLite file's moved no-actor entry would then meet only as a broken link."""


@attrs.frozen
class AuditCheckpoint:
    """An HMAC seal over every audit shard's head (see :mod:`alliancekit.integrity.chain`)."""

    seq: int
    """1-based number of the checkpoint; each one's MAC is chained to the one before."""
    heads: tuple[ShardHead, ...]
    root: str
    """The Merkle root of ``heads``."""
    mac: str
    at: datetime
    chain: str = ""
    """The audit chains it seals (:attr:`AuditRecord.chain`): a clinic's, or empty for a store's one set
    of chains (and an SQLite file's shared part). Each chain's checkpoints are numbered and MAC-chained on
    their own."""


@attrs.frozen
class RequestRecord:
    """An administration request (a link or a kiosk code) as stored: bound to one episode, measure and
    point, single-use and expiring. Only hashes of its secrets are kept, never the token or code."""

    clinic_id: str
    request_id: str
    episode_id: str
    measure_id: str
    version: str
    point: str
    """``start`` or ``end`` of a session, or ``between`` sessions."""
    created_at: datetime
    expires_at: datetime
    """Refused from this instant on (a request is live while ``now < expires_at``)."""
    token_hash: str | None = attrs.field(default=None, repr=False)
    """SHA-256 of the link's token; for a kiosk code, of the one-use token it was redeemed for (``None``
    until then)."""
    code_hash: str | None = attrs.field(default=None, repr=False)
    """For a kiosk code: SHA-256 of the clinic and the code."""
    session_id: str | None = None
    language: str | None = None
    remind_at: datetime | None = None
    """When the reminder message is due (it waits in the outbox until then); ``None``: no reminder."""
    revoked_at: datetime | None = None
    used_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        """Not used, not revoked and not expired at ``now``."""
        return self.used_at is None and self.revoked_at is None and now < self.expires_at


@attrs.frozen
class RequestWrite:
    """What a command does to an administration request, in the same transaction as its events.

    ``create`` inserts ``record``; ``revoke`` marks the request revoked; ``consume`` marks it used, and the
    store refuses the whole commit with :class:`~alliancekit.errors.InvalidToken` unless the request was
    still live at ``at`` (not used, not revoked, ``at < expires_at``, and holding a token): two submissions
    of one token can never both commit.
    """

    action: str
    clinic_id: str
    request_id: str
    at: datetime
    record: RequestRecord | None = None
    cancel_messages: tuple[str, ...] = ()
    """Outbox messages still pending (the request's reminder) that a consume or revoke settles unsent: they
    are marked delivered with ``last_error`` ``cancelled`` (the outbox has no cancelled state)."""


@attrs.frozen
class StoredDefinition:
    """A measure definition kept with the data: the exact JSON document the registry loaded (canonical
    text, see :mod:`alliancekit.store.definitions`) and its SHA-256, so that an export can still describe
    an administration after the measure's plugin is gone. Published instruments, never client data."""

    measure_id: str
    version: str
    sha256: str
    """Hex SHA-256 of ``definition_json`` (UTF-8)."""
    definition_json: str = attrs.field(repr=False)


@attrs.frozen
class Commit:
    """Everything one command writes, atomically."""

    episode_id: str
    expected_version: int
    """The stream version the command was decided against (0 for a new episode)."""
    events: Sequence[StoredEvent]
    snapshot_json: str = attrs.field(repr=False)
    caseload: CaseloadRow
    outbox: Sequence[OutboxRecord] = ()
    audit: Sequence[AuditRecord] = ()
    command: CommandRecord | None = None
    """A keyed command's record: a second commit with the same clinic, command and key is refused with
    ``DuplicateCommand``."""
    head: str = ""
    """The stream head after this commit (the last event's hash), kept with the snapshot."""
    request: RequestWrite | None = None
    """An administration request created, revoked or consumed by this command (see :class:`RequestWrite`)."""
    definitions: Sequence[StoredDefinition] = ()
    """Definitions of measures this commit's administrations used that the store may not hold yet. A store
    keeping them (:class:`DefinitionStore`) inserts each one that is absent; one already stored under the
    same id and version with another SHA-256 refuses the whole commit with
    :class:`~alliancekit.errors.MeasureDefinitionChanged`."""

    @property
    def new_version(self) -> int:
        return self.expected_version + len(self.events)


@runtime_checkable
class Store(Protocol):
    """The storage protocol. Implementations must be safe to share between threads of one process."""

    def append(self, commit: Commit) -> None:
        """Write ``commit`` in one transaction.

        :raises ConflictError: the stream's version is not ``commit.expected_version``; nothing written.
        :raises DuplicateCommand: ``commit.idempotency_key`` was already used; nothing written.
        :raises StoreError: the backend failed; nothing written.
        """

    def append_batch(self, commits: Sequence[Commit]) -> None:
        """Write ``commits`` in order in one transaction, as :meth:`append` would one by one: all or none.

        Several commits may follow one another on an episode (each ``expected_version`` the one before's
        new version). Only the episode's last commit in ``commits`` carries its real snapshot and caseload
        row; the others may carry placeholders (``"{}"`` and a row whose ids and version alone mean
        anything), which a backend may write and overwrite or skip: only the last one's must stand.

        :raises ConflictError: a stream's version is not the commit's ``expected_version``; nothing written.
        :raises DuplicateCommand: a commit's key was already used (also within ``commits``); nothing written.
        :raises StoreError: the backend failed; nothing written.
        """

    def load_snapshot(self, episode_id: str) -> Snapshot | None:
        """The episode's snapshot row, or ``None`` if there is no such episode."""

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        """The episode's events with ``seq > after``, in order."""

    def caseload(
        self,
        *,
        clinic_id: str | None = None,
        clinician_id: str | None = None,
        open_only: bool = True,
        closed_under_lockbox: bool = False,
        others_under_lockbox: bool = False,
    ) -> list[CaseloadRow]:
        """Caseload rows, filtered, ordered by episode id.

        Each flag lifts one filter for the rows that carry directives (``lockbox_json`` other than
        ``"{}"``), whose place in a reader's list only the reader's guard can decide:

        * with ``open_only`` and ``closed_under_lockbox``, the closed rows that carry directives come with
          the open ones (a reader from whom a directive withholds the closing sees such an episode open);
        * with ``clinician_id`` and ``others_under_lockbox``, the rows of the clinic's other clinicians
          that carry directives come with the clinician's own (a reader from whom a directive withholds a
          transfer sees such an episode as the earlier clinician's), open only with ``open_only`` unless
          ``closed_under_lockbox`` brings their closed ones too. Without ``clinician_id`` it changes nothing.

        A store should find those rows without reading the clinic's other rows (an index on the rows with
        directives: they are few).
        """

    def episode_ids(self) -> Iterator[str]:
        """Every episode id, in order (exports and maintenance walk this)."""

    # Optional, not part of the protocol check: a store may add
    #
    #     def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]
    #
    # returning the closed episodes' outcome columns (ordered by episode id) from a covering index. The
    # practice-outcomes report and the expectation fit use it when present and fall back to
    # ``caseload(open_only=False)`` otherwise.

    def find_command(self, clinic_id: str, command: str, key: str) -> CommandRecord | None:
        """The record of the keyed command, if one was committed."""

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        """Write audit rows that belong to no commit (reads, refusals), in their own transaction.

        Here and in :meth:`append`, audit rows are chained per shard with
        :func:`alliancekit.integrity.chain.link` inside the write transaction, after the shard's head read
        under the shard's write lock.
        """

    def audit_records(self) -> list[AuditRecord]:
        """Every audit row: in the order written where the backend keeps it (memory, SQLite), else by
        shard then position. Within a shard, always in position order.

        A backend may also offer ``iter_audit_records()`` (optional, found with ``getattr``): the same
        entries by shard then position, read a page at a time, so that verification does not hold the
        whole log (:func:`alliancekit.store.scan.scan_record`)."""

    def audit_heads(self) -> list[ShardHead]:
        """The head of every shard that has entries, ordered by shard (by chain, then shard, in a store
        that keeps audit chains per clinic), each naming its chain (:attr:`ShardHead.chain`); the heads
        :meth:`seal` gives ``make`` name theirs too, and a checkpoint's heads read back name its chain."""

    def seal(
        self, make: Callable[[Sequence[ShardHead], AuditCheckpoint | None], AuditCheckpoint | None]
    ) -> AuditCheckpoint | None:
        """Write a checkpoint atomically: read the shard heads and the last checkpoint, call ``make`` with
        them, and store what it returns (nothing when ``None``), all in one write transaction, so that
        concurrent sealers (threads or processes) queue and the checkpoints' chain never forks.

        A store that keeps several clinics' audit chains in one database says so with a true
        ``audit_chains_per_clinic`` attribute (the builtin stores; optional, found with ``getattr``). Its
        ``seal`` then calls ``make`` once per chain, with that chain's heads and last checkpoint, and stores
        each checkpoint with its ``chain`` set; it also takes ``clinic=`` (seal that clinic's chains only,
        returning its checkpoint), and its ``audit_records``, ``iter_audit_records`` and
        ``audit_checkpoints`` take ``chains=`` (read those chains only; ``""`` is the shared part), which
        :func:`alliancekit.store.scan.scan_record` uses to give a clinic's report its own chains; its
        ``audit_records`` also takes ``clinics=`` (the entries whose ``clinic_id`` is one of those only),
        with which an auditor's listing reads no other clinic's entries
        (:meth:`alliancekit.store.reader.RecordReader.clinic_audit_records`)."""

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        """Every checkpoint, in ``seq`` order."""

    def replace_payloads(
        self, updates: Sequence[tuple[str, int, str]], *, audit: Sequence[AuditRecord] = ()
    ) -> None:
        """Rewrite the payload JSON of events ``(episode_id, seq, payload_json)`` and append the audit
        entries ``audit`` (as :meth:`append_audit` does), in one transaction: all or nothing.

        Only for re-encrypting free text under a new key (the plaintext does not change); the entries are
        the rotation's attestations of the events whose hash the rewrite changes (text encrypted from clear,
        :func:`alliancekit.integrity.chain.rehashed`), which must never be written without them.
        """

    # -- outbox delivery (used by :mod:`alliancekit.notify.dispatcher`) -----------------------------------

    def claim_outbox(
        self, owner: str, channels: Sequence[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxRecord]:
        """Lease up to ``limit`` due messages for ``channels`` to ``owner`` until ``lease_until``.

        Due means: pending, ``next_attempt_at <= now``, and no lease or an expired one
        (``lease_expires_at <= now``). Oldest due first. The select and the lease are one atomic step, so two
        dispatchers never lease the same message at once (SQLite: inside ``BEGIN IMMEDIATE``; PostgreSQL:
        ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` in one transaction). Returns the leased
        records, carrying the new lease.

        First, in the same step, a wait that began after ``now`` (the message was written, failed or
        requeued at a clock reading later than ``now``: the clock went back) begins again at ``now``, as
        long as it was: a message due at once is due now, a failed one after its delay (at most
        ``DispatchPolicy.max_delay``) rather than after the step as well. A message due at a time of its own
        (written with a ``next_attempt_at`` other than its ``created_at``) keeps it.

        Likewise a lease that began after ``now`` (the store keeps when each lease began: this claim's
        ``now``) begins again at ``now`` for its length (``lease_expires_at`` minus its start) and keeps its
        holder. A lease's length is what bounds how long a dispatcher that died holding it blocks the
        message; that bound must hold on the clock as it reads now, so a step back of hours cannot add hours.
        The lease is begun again rather than treated as expired because its holder may be alive and still
        delivering: taken over at once, the message would go twice in the normal case. A dispatcher whose
        clock is a little behind another's shortens that one's leases by the difference only. The holder
        keeps the rights of a lease (``outbox_failed``, ``outbox_dead``); once the lease has run out and
        another dispatcher has claimed the message, those are the new holder's, and ``outbox_delivered``
        applies once, whoever records it first. A lease taken before the store kept lease starts (an older
        schema upgraded) runs to its end.
        """

    def outbox_delivered(self, owner: str, message_ids: Sequence[str], at: datetime) -> int:
        """Mark messages delivered (attempts + 1, lease cleared), in one transaction; returns how many.

        Applies to messages still pending, whoever holds their lease now: the message *was* delivered, so a
        dispatcher whose lease had run out still records it and another one will not deliver it again.
        """

    def outbox_failed(
        self, owner: str, message_id: str, *, error: str, next_attempt_at: datetime, at: datetime
    ) -> bool:
        """Record a failed attempt: attempts + 1, ``last_error``, lease cleared, due at ``next_attempt_at``
        (its wait begins at ``at``).

        Only while ``owner`` holds the lease and the message is pending; returns whether it applied.
        """

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        """Record a last failed attempt and make the message dead (same conditions as ``outbox_failed``)."""

    def outbox_requeue(self, message_id: str, now: datetime) -> bool:
        """Put a dead message back to pending, due ``now`` (at once), attempts reset; False unless it was
        dead."""

    def outbox_status(self) -> OutboxStatus:
        """Counts by state, the oldest pending message's ``created_at`` and the earliest pending
        ``next_attempt_at`` (``next_due_at``)."""

    def outbox_records(
        self, state: OutboxState | None = None, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        """Outbox messages (in one state, or all), oldest first, at most ``limit``.

        ``after`` (a message id, the last of a page) gives the next page: only the messages written after
        that one, whatever its state now; none when there is no such message. A message keeps its place as
        its state changes, so paging on visits each message once.
        """

    # -- practice metadata --------------------------------------------------------------------------------

    def load_meta(self, key: str) -> str | None:
        """The JSON text saved under ``key`` for this practice, or ``None`` (never saved, or a read-only
        store on a schema from before metadata was kept).

        Metadata is a few small records *about* the practice (the fitted expectation model, the demo mark),
        never client data. A clinic-scoped backend keeps them per clinic (the clinic is part of the key).
        """

    def save_meta(self, key: str, value_json: str) -> None:
        """Save ``value_json`` under ``key``, replacing what was there, in its own transaction.

        :raises StoreError: the store was opened read-only, or the backend failed; nothing written.
        """

    def close(self) -> None:
        """Release connections and files."""


@runtime_checkable
class RequestStore(Protocol):
    """What a store adds to keep administration requests (links and kiosk codes).

    Separate from :class:`Store` so that a store without it still opens; every builtin store and the
    PostgreSQL plugin have it, and :class:`alliancekit.testing.requests.RequestStoreContract` proves it.
    Request rows are written by :meth:`Store.append` (``Commit.request``); these are the other steps.
    """

    def find_request(self, token_hash: str) -> RequestRecord | None:
        """The request whose token hashes to ``token_hash`` (a clinic-scoped store: in its clinic only)."""

    def get_request(self, clinic_id: str, request_id: str) -> RequestRecord | None:
        """The request by its id."""

    def find_code(self, clinic_id: str, code_hash: str, at: datetime) -> RequestRecord | None:
        """The live, unredeemed kiosk code ``code_hash`` at ``at``, as :meth:`redeem_code` would find it,
        read only: a redemption that is refused after this read (the episode closed, the measure's plugin
        gone, the policy) writes nothing. ``None`` when there is no such code."""

    def redeem_code(
        self, clinic_id: str, code_hash: str, token_hash: str, at: datetime
    ) -> RequestRecord | None:
        """Atomically give the live, unredeemed kiosk code ``code_hash`` its one-use token; ``None`` when no
        such code is live at ``at`` (unknown, redeemed, used, revoked or expired)."""

    def count_failure(self, clinic_id: str, source: str, window: datetime) -> int:
        """Add one failed kiosk attempt by ``source`` in the window starting at ``window``; returns the
        window's count after it (atomic: concurrent processes each see their own increment)."""

    def failures(self, clinic_id: str, source: str, window: datetime) -> int:
        """Failed kiosk attempts by ``source`` in the window starting at ``window``."""


@runtime_checkable
class DefinitionStore(Protocol):
    """What a store adds to keep measure definitions with the data (``Commit.definitions``).

    Separate from :class:`Store` so that a store without it still opens (its exports then need every
    measure's plugin); every builtin store and the PostgreSQL plugin have it, and the store contract suite
    proves it. A clinic-scoped backend keeps them per clinic.
    """

    def measure_definitions(self) -> list[StoredDefinition]:
        """Every stored definition, ordered by measure id then version text."""

    def save_definitions(self, definitions: Sequence[StoredDefinition]) -> None:
        """Insert the absent ones in one transaction (recording an upgraded store's registered measures).

        :raises MeasureDefinitionChanged: one is stored with other content; nothing written.
        :raises StoreError: read-only, or the backend failed; nothing written.
        """
