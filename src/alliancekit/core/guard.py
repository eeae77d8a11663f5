"""The guard: who may do what, what the client's lockbox withholds, and the audit trail of both.

Every public call of the facade, every export, report and CLI command passes here first. It is the only
place that asks the access policy and the only producer of audit entries and checkpoints, so a refusal,
a read and a write are audited the same way on every path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import NO_CLINIC
from alliancekit.domain.vocab import Purpose, Role
from alliancekit.errors import AccessDenied, MissingActor, NotFoundError, PluginCall
from alliancekit.integrity.chain import REHASH_RECORD, make_checkpoint, rehashed, shard_of
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.security.encryption import FieldCipher, seal_reason
from alliancekit.security.lockbox import (
    NOTHING_HIDDEN,
    Hidden,
    directives_apply,
    directives_of,
    hidden_from,
    lockbox_view,
    set_by_client,
    summary_withheld,
)
from alliancekit.security.participants import participant_reader, visible_entries
from alliancekit.security.policy import AccessPolicy, AccessRequest, Action, Decision
from alliancekit.store.group_commit import AuditBatch, GroupCommit
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord, ShardHead, Store, StoredEvent
from alliancekit.store.reader import RecordReader

#: The outcome of an entry whose call named an episode, or a record of one, that does not exist (a failed
#: access attempt: probing for ids is in the log of the prober's clinic).
NOT_FOUND = "not-found"
#: The outcome of an entry whose keyed command was answered again with its first result (nothing written).
REPLAYED = "replayed"
#: Record types whose ids the library makes (random, naming no one): kept in the entry of a call without
#: an actor, which every clinic's auditor reads.
_OPAQUE_IDS = frozenset({"episode", "group"})
#: What the library passes for a call that names no one record (kept in such an entry too).
_MARKERS = frozenset({"(all)", "(clinic)", "(invalid)", "(log)", "(practice)", "(record)", "(stored)"})


class Guard:
    """Access decisions, lockbox decisions and the audit log of one practice."""

    def __init__(
        self,
        store: Store,
        reader: RecordReader,
        policy: AccessPolicy,
        *,
        clock: Callable[[], datetime],
        ids: Callable[[str], str],
        audit_key: bytes | None,
        checkpoint_every: int,
        policy_supplier: str | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        self._store = store
        self._reader = reader
        self.policy = policy
        #: the plugin that supplied the policy, named when it raises (``None``: the host's or the default)
        self.policy_supplier = policy_supplier
        self._clock = clock
        self._ids = ids
        self._audit_key = audit_key
        #: the practice's cipher: an entry's stated reason is the actor's words, encrypted like an event's
        self._cipher = cipher
        self.checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self._lock = threading.Lock()
        self._group = GroupCommit(store.append_audit)
        self._local = threading.local()

    # -- deciding -------------------------------------------------------------------------------------

    def require_actor(self, actor: object, action: str, record_type: str, record_id: object) -> Actor:
        """The actor, or a refusal audited (as made by nobody) before anything is read.

        A call without an actor belongs to no clinic, so every clinic's auditor sees its entry: the entry
        names a record only by an id the library made (an episode's, a group's) or a marker such as
        ``(all)``, never a host's reference passed there (it may be another clinic's client's). On a
        clinic-scoped store (its ``clinic_scope``), which holds one clinic's log and no other, the entry is
        that clinic's: the call was made on its store.
        """
        if isinstance(actor, Actor):
            return actor
        ident = record_id[:200] if isinstance(record_id, str) and record_id.isprintable() else "(invalid)"
        if record_type not in _OPAQUE_IDS and ident not in _MARKERS:
            ident = "(unnamed)"
        self.record(
            [
                AuditRecord(
                    entry_id=self._ids("audit"),
                    at=self._clock(),
                    actor_id="(none)",
                    actor_role="(none)",
                    clinic_id=getattr(self._store, "clinic_scope", None) or NO_CLINIC,
                    purpose="(none)",
                    action=action,
                    record_type=record_type,
                    record_id=ident,
                    outcome="refused",
                    shard=shard_of(ident),
                )
            ]
        )
        raise MissingActor(action)

    def allow(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        episode: EpisodeState | None = None,
        *,
        clinician_id: str | None = None,
        reason: str | None = None,
        audit_as: str | None = None,
        group_session_id: str | None = None,
        recipient: str = "",
        clinics: frozenset[str] | None = None,
        audit_refusal: bool = True,
    ) -> Decision:
        """Ask the policy; a refusal is audited (as ``audit_as``, by default the action, naming
        ``recipient`` for an export, in the actor's clinic) and raised as :class:`AccessDenied`.

        A refused reach into another clinic's episode is answered as an id that names no episode is (a
        ``not-found`` entry, :class:`NotFoundError`), so that no one learns which ids another clinic holds:
        on a store scoped to one clinic (PostgreSQL's row-level security) such an id is not found either.
        ``audit_refusal=False`` is for a question that answers nothing when refused, asked of a store opened
        read-only (which can write no entry): the refusal is raised without one.
        """
        request = AccessRequest(
            actor, action, record_type, record_id, episode, clinician_id, reason, group_session_id, clinics
        )
        decision = self.decide(request)
        if not isinstance(decision, Decision):  # a plugin's policy is not type-checked with us
            decision = Decision.refuse("the access policy gave no decision")
        if decision.allowed:
            return decision
        audited = audit_as or action
        if episode is not None and episode.clinic_id != actor.clinic_id:
            # entered as an unknown id is (see `state`), naming no other clinic's client
            if audit_refusal:
                self.not_found(actor, audited, "episode", episode.episode_id, recipient=recipient)
            raise NotFoundError("episode", episode.episode_id)
        if audit_refusal:
            self.audit(
                actor, audited, record_type, record_id, episode, outcome="refused", recipient=recipient
            )
        raise AccessDenied(audited, decision.reason)

    def permits(
        self, actor: Actor, action: str, episode: EpisodeState, group_session_id: str | None = None
    ) -> bool:
        """The policy's answer on a state that is only a guess: nothing is audited, and a refusal is
        decided again (and audited) on the fresh state."""
        request = AccessRequest(
            actor, action, "episode", episode.episode_id, episode, group_session_id=group_session_id
        )
        decision = self.decide(request)
        return isinstance(decision, Decision) and decision.allowed

    def permits_caseload(self, actor: Actor, clinician_id: str) -> bool:
        """Whether the policy lets ``actor`` read ``clinician_id``'s caseload, asked without auditing: for a
        row of theirs that the caseload of another clinician brings only because of the reader's lockbox
        (the read that brings it is decided and audited itself)."""
        request = AccessRequest(actor, Action.READ_CASELOAD, "caseload", clinician_id, None, clinician_id)
        decision = self.decide(request)
        return isinstance(decision, Decision) and decision.allowed

    def decide(self, request: AccessRequest) -> object:
        """The policy's answer (not type-checked: a plugin's policy is not checked with us); a plugin's
        policy that raises is a :class:`~alliancekit.errors.PluginError` naming it."""
        if self.policy_supplier is None:  # the host's own policy or the default: its errors are its own
            return self.policy.decide(request)
        with PluginCall("access policy decide", self.policy_supplier):
            return self.policy.decide(request)

    def state(
        self, actor: Actor, action: str, episode_id: str, *, recipient: str = ""
    ) -> tuple[EpisodeState, str]:
        """The episode's current state and stream head, for ``actor`` to ``action`` it: every read and command
        naming an episode looks it up here. An unknown id is audited (``not-found``, in the actor's clinic's
        log, naming no client; an export's entry names its ``recipient``) and raised as
        :class:`NotFoundError`."""
        try:
            return self._reader.state(episode_id)
        except NotFoundError:
            self.not_found(actor, action, "episode", episode_id, recipient=recipient)
            raise

    def not_found(self, actor: Actor, action: str, kind: str, ident: str, *, recipient: str = "") -> None:
        """Audit a call that named a record that does not exist, before its :class:`NotFoundError` is raised:
        an episode (:meth:`state`), or a record of one the actor may act on (a session, a goal, an event, a
        lockbox directive: one their view leaves out is answered alike). One ``not-found`` entry in the
        actor's clinic's log, naming the kind of record and the id asked for, never a client; an export's
        names its ``recipient``. The one decision of how a failed lookup is audited, on every path."""
        self.audit(actor, action, kind, ident, outcome=NOT_FOUND, recipient=recipient)

    def read_episode(self, actor: Actor, action: str, episode_id: str, *, reason: str = "") -> EpisodeState:
        """Authorise a read of the episode on its current state and audit it (with the stated ``reason``, if
        any) before anything returns."""
        state, outcome = self.decide_read(actor, action, episode_id, reason=reason)
        self.audit(actor, action, "episode", episode_id, state, outcome=outcome, reason=reason)
        return state

    def decide_read(
        self, actor: Actor, action: str, episode_id: str, *, reason: str = ""
    ) -> tuple[EpisodeState, str]:
        """:meth:`read_episode` but its entry: the state and the outcome to audit the read with, for a read
        that names a record of the episode too and audits that one's absence instead (:meth:`not_found`)."""
        state, _ = self.state(actor, action, episode_id)
        decision = self.allow(actor, action, "episode", episode_id, state, reason=reason or None)
        return state, decision.outcome

    @staticmethod
    def treating(actor: Actor, state: EpisodeState) -> bool:
        """The clinician of record acting for treatment: the one reader the lockbox does not apply to."""
        return _treating(actor, state.clinician_id)

    @staticmethod
    def own_record(actor: Actor, state: EpisodeState) -> bool:
        """The client reading their own record: their lockbox is about sharing it with others."""
        return _own_record(actor, state.client_ref)

    def lockbox_applies(self, actor: Actor, state: EpisodeState) -> bool:
        """Whether a directive in force applies to what ``actor`` reads of the episode."""
        return not _exempt(actor, state.clinician_id, state.client_ref) and directives_apply(
            state.lockbox, actor.id
        )

    @staticmethod
    def row_lockbox_applies(actor: Actor, clinician_id: str, client_ref: str, lockbox_json: str) -> bool:
        """:meth:`lockbox_applies` for a projection row (a caseload row, a closed outcome)."""
        return (
            lockbox_json != "{}"
            and not _exempt(actor, clinician_id, client_ref)
            and directives_apply(directives_of(lockbox_json), actor.id)
        )

    def own_view(self, actor: Actor, state: EpisodeState, entries: Sequence[Any]) -> tuple[list[Any], bool]:
        """The timeline ``entries`` (the episode's, in order) that ``actor``'s own view of the episode shows,
        and whether a directive withheld any: the one decision of every read of entries by the reader
        themselves (their timeline, a session's history, a break-glass read, their client view) and of
        what a command of theirs may name (:meth:`hidden`).

        A participant of an episode with several reads without what is another participant's, under the
        directives another participant or the clinician set (:func:`visible_entries`); the treating
        clinician and the client of a one-person episode read it whole, what is never shared aside (a
        directive is about sharing the record with others); anyone else under the directives applying to
        them (:func:`lockbox_view`).
        """
        reader = participant_reader(actor.role, actor.id, state)
        if reader is not None:
            return visible_entries(entries, state, reader)
        exempt = _exempt(actor, state.clinician_id, state.client_ref)
        return lockbox_view(entries, reader=None if exempt else actor.id)

    def hidden(self, actor: Actor, state: EpisodeState, entries: Callable[[], Sequence[Any]]) -> Hidden:
        """What ``actor``'s own view of the episode (:meth:`own_view`) leaves out: a command of theirs
        naming one of those events or records is answered as one naming an unknown id. ``entries`` gives
        the episode's timeline entries in order, called only when something may be left out."""
        if participant_reader(actor.role, actor.id, state) is None and not self.lockbox_applies(actor, state):
            return NOTHING_HIDDEN
        timeline = entries()
        kept, _ = self.own_view(actor, state, timeline)
        return hidden_from(timeline, kept)

    @staticmethod
    def may_lift(
        actor: Actor, state: EpisodeState, directive_id: str, entries: Callable[[], Sequence[Any]]
    ) -> bool:
        """Whether ``actor`` (allowed by the policy to lift directives) may lift ``directive_id``: one in
        force that is theirs to lift. A participant of an episode with several lifts only a directive they
        set: one another participant or the clinician set binds them, and lifting it would show them what it
        withholds, so it is answered as an id never set. The clinician of record lifts any, and so does the
        client of a one-person episode (the clinician's are set on their behalf, and their own reads are
        not bound). ``entries`` gives the episode's timeline entries, called only for a participant."""
        if directive_id not in state.lockbox:
            return False
        if participant_reader(actor.role, actor.id, state) is None:
            return True
        return set_by_client(entries()).get(directive_id) == actor.id

    def summary_withheld(self, actor: Actor, state: EpisodeState) -> bool:
        """Whether the episode's scores and alerts must be withheld from ``actor`` in a summary."""
        return not _exempt(actor, state.clinician_id, state.client_ref) and summary_withheld(
            state.lockbox, actor.id
        )

    @staticmethod
    def row_withheld(actor: Actor, clinician_id: str, client_ref: str, lockbox_json: str) -> bool:
        """:meth:`summary_withheld` for a projection row (a caseload row, a closed outcome)."""
        return (
            lockbox_json != "{}"
            and not _exempt(actor, clinician_id, client_ref)
            and summary_withheld(directives_of(lockbox_json), actor.id)
        )

    # -- auditing -------------------------------------------------------------------------------------

    def entry(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        state: EpisodeState | None = None,
        *,
        outcome: str = "allowed",
        detail: str = "",
        reason: str = "",
        writes: str = "",
        at: datetime | None = None,
        recipient: str = "",
        clinic: str | None = None,
    ) -> AuditRecord:
        """One audit entry: the only constructor of the entries of a practice's calls (a schema migration
        records its own adoption of the streams, :func:`alliancekit.store.upgrade.adoption_entry`).

        ``recipient`` is whom an export or a share goes to (its id, checked by the caller, or
        ``(unnamed)``: :func:`~alliancekit.security.lockbox.audited_recipient`); empty for other calls.
        ``clinic`` is the clinic whose log the entry goes into, by default the actor's: a backup copying
        several clinics' records is entered in each of their logs. ``detail`` is a fixed word of the
        library's (why a request was refused); ``reason`` is what the actor typed (a break-glass read, a
        lockbox override), kept in ``detail`` too, but encrypted with the practice's cipher when it has one
        (:func:`~alliancekit.security.encryption.seal_reason`): it may name the client.
        """
        log_clinic = actor.clinic_id if clinic is None else clinic
        entry_id = self._ids("audit")
        return AuditRecord(
            entry_id=entry_id,
            at=self._clock() if at is None else at,
            actor_id=actor.id,
            actor_role=actor.role.value,
            clinic_id=log_clinic,
            purpose=actor.purpose.value,
            action=action,
            record_type=record_type,
            record_id=record_id,
            outcome=outcome or "allowed",
            # an entry is filed in the actor's clinic: another clinic's client (a refused reach across
            # clinics) is not named in this clinic's log
            client_ref=state.client_ref if state is not None and state.clinic_id == log_clinic else "",
            detail=seal_reason(self._cipher, entry_id, reason) if reason else detail,
            writes=writes,
            # A command's entry goes to its episode's shard (one writer of an episode at a time); reads
            # spread over every shard, so readers and writers of a clinic do not queue on one chain head.
            shard=shard_of(record_id if writes else entry_id),
            recipient=recipient,
        )

    def audit(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        state: EpisodeState | None = None,
        *,
        outcome: str = "allowed",
        detail: str = "",
        reason: str = "",
        recipient: str = "",
    ) -> None:
        """Write one entry on its own (a read, a refusal); a failure here fails the call."""
        entry = self.entry(
            actor,
            action,
            record_type,
            record_id,
            state,
            outcome=outcome,
            detail=detail,
            reason=reason,
            recipient=recipient,
        )
        self.record([entry])

    def audit_across(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        clinics: frozenset[str],
        *,
        outcome: str,
    ) -> None:
        """Enter a call that reaches several clinics' records (a backup, a key rotation, a refit: decided
        on ``clinics`` with :meth:`allow`) in each of their logs, in one transaction: every clinic's log
        has the entry, or none has. With no clinic reached, in the actor's."""
        self.record(
            [
                self.entry(actor, action, record_type, record_id, outcome=outcome, clinic=clinic)
                for clinic in sorted(clinics) or [actor.clinic_id]
            ]
        )

    def rehash_entries(self, actor: Actor, rewrites: Sequence[tuple[StoredEvent, str]]) -> list[AuditRecord]:
        """A key rotation's attestations for ``rewrites`` (stored events, each with its new payload): an
        entry, in the event's clinic's log, for each event whose hash the rewrite changes (text encrypted
        from clear), naming the event's id and the digest it now hashes to
        (:func:`~alliancekit.integrity.chain.rehashed`): ids and digests, never its content. The store
        writes them in the rewrite's transaction (``replace_payloads``)."""
        entries = []
        for event, payload in rewrites:
            digest = rehashed(event, payload)
            if digest is not None:
                entry = self.entry(
                    actor,
                    Action.ROTATE_KEYS,
                    REHASH_RECORD,
                    event.event_id,
                    detail=digest,
                    clinic=event.clinic_id,
                )
                entries.append(entry)
        return entries

    def record(self, entries: Sequence[AuditRecord]) -> None:
        """Write entries that belong to no commit; return once they are durable.

        Concurrent callers share one transaction (:class:`GroupCommit`); inside :meth:`batched` this
        thread's entries are held for the batch's next write instead.
        """
        if not entries:
            return
        batch: AuditBatch | None = getattr(self._local, "batch", None)
        if batch is not None:
            batch.add(entries)
            return
        self._write(entries)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the store's writers' lock for this thread across the block, where the store has one
        (``exclusive``): the runner retries a command that lost a race in here, so it cannot lose again.

        This thread's entries are written on their own meanwhile, not through the group: the writer of a
        group, in another thread, may be waiting for this very lock, and would never finish the group this
        thread waited on.
        """
        exclusive = getattr(self._store, "exclusive", None)
        if exclusive is None:
            yield
            return
        outer = getattr(self._local, "alone", False)
        with exclusive():
            self._local.alone = True
            try:
                yield
            finally:
                self._local.alone = outer

    @contextlib.contextmanager
    def batched(self) -> Iterator[AuditBatch]:
        """Hold this thread's audit entries and write them in one transaction per ``AUDIT_BATCH``,
        the rest when the block ends (also when it raises): the block returns only once every entry is
        durable. Only for a report or an export that hands nothing to anyone before the block ends."""
        outer: AuditBatch | None = getattr(self._local, "batch", None)
        if outer is not None:  # nested: the outer block writes them
            yield outer
            return
        batch = AuditBatch(self._write)
        self._local.batch = batch
        try:
            yield batch
        finally:
            self._local.batch = None
            batch.flush()

    def _write(self, entries: Sequence[AuditRecord]) -> None:
        if getattr(self._local, "alone", False):
            self._store.append_audit(entries)
        else:
            self._group.write(entries)
        self.committed(len(entries))

    def committed(self, count: int) -> None:
        """Count entries written (in a commit or alone) and seal every ``checkpoint_every``."""
        if self._audit_key is None:
            return  # nothing to seal with: no count to keep
        with self._lock:
            self._since_checkpoint += count
            due = self._since_checkpoint >= self.checkpoint_every
            if due:
                self._since_checkpoint = 0
        if due:
            self.seal()

    def seal(self, clinic: str | None = None) -> AuditCheckpoint | None:
        """Write a checkpoint over every audit shard's head (``None`` without an audit key).

        The store reads the heads and the last checkpoint and writes the new one in one transaction, so
        sealers in other threads and processes queue rather than fork the checkpoints' chain. On a store
        that chains the audit log per clinic (``audit_chains_per_clinic``), each clinic's chains get a
        checkpoint of their own; with ``clinic``, only that clinic's, which is returned.
        """
        key = self._audit_key
        if key is None:
            return None
        now = self._clock()
        unchanged: list[AuditCheckpoint] = []

        def make(heads: Sequence[ShardHead], previous: AuditCheckpoint | None) -> AuditCheckpoint | None:
            if not heads:
                return None
            if previous is not None and previous.heads == tuple(sorted(heads)):
                unchanged.append(previous)  # nothing written since: the last checkpoint still seals it all
                return None
            return make_checkpoint(key, heads, previous, now)

        with self._lock:
            self._since_checkpoint = 0
        if clinic is not None and getattr(self._store, "audit_chains_per_clinic", False):
            written = self._store.seal(make, clinic=clinic)  # type: ignore[call-arg]
        else:
            written = self._store.seal(make)
        return written if written is not None else (unchanged[0] if unchanged else None)

    @property
    def audit_key(self) -> bytes | None:
        return self._audit_key

    @property
    def pending(self) -> int:
        """Entries written since the last checkpoint this guard made (counted with an audit key only)."""
        return self._since_checkpoint


def _treating(actor: Actor, clinician_id: str) -> bool:
    return actor.role is Role.CLINICIAN and actor.id == clinician_id and actor.purpose is Purpose.TREATMENT


def _own_record(actor: Actor, client_ref: str) -> bool:
    return actor.role is Role.CLIENT and actor.id == client_ref


def _exempt(actor: Actor, clinician_id: str, client_ref: str) -> bool:
    """Whom the lockbox does not apply to: the treating clinician, and the client reading their own record
    (a directive is about sharing the record with others)."""
    return _treating(actor, clinician_id) or _own_record(actor, client_ref)
