"""The secured part of the facade: a mixin of :class:`~alliancekit.Practice`.

It holds the calls that exist for security and privacy (process notes, addenda and statements of
disagreement, the lockbox, exports, break-glass reads, the client's view, the audit log, key rotation) and
the seams every public call goes through: :meth:`SecuredFacade._authorize` (the access policy; refusals
audited and raised) and :meth:`SecuredFacade._audit` (one audit entry, written before a read returns).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_date as _check_date
from alliancekit.domain.checks import check_ref as _check_ref
from alliancekit.domain.checks import check_text as _check_text
from alliancekit.domain.records import MaintenancePlan
from alliancekit.errors import AccessDenied, MissingActor, NotFoundError, ValidationError
from alliancekit.events.types import (
    DisagreementAttached,
    EpisodeClosed,
    Event,
    GoalAgreed,
    GoalRevised,
    LockboxLifted,
    LockboxSet,
    ProcessNoteRecorded,
    SessionAddendumAdded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.integrity import chain
from alliancekit.integrity.verify import IntegrityReport, verify_record
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.state import EpisodeState, SessionRef
from alliancekit.security import audit_chain, encryption
from alliancekit.security.lockbox import NEVER_SHARED, Directive, active_directives, apply_lockbox
from alliancekit.security.policy import AccessPolicy, AccessRequest, Action, Decision
from alliancekit.security.views import (
    ClientGoal,
    ClientScore,
    ClientView,
    ProcessNote,
    SessionHistory,
    SharedRecord,
    Timeline,
)
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord, CaseloadRow, Store, StoredEvent
from alliancekit.store.scan import scan_record

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Recorded, TimelineEntry


class SecuredFacade:
    """Mixin of :class:`~alliancekit.Practice`; see the module docstring."""

    if TYPE_CHECKING:  # provided by Practice
        store: Store
        policy: AccessPolicy
        cipher: encryption.FieldCipher | None
        checkpoint_every: int
        _audit_key: bytes | None
        _since_checkpoint: int
        _ids: Callable[[str], str]
        _clock: Callable[[], datetime]
        _states: dict[str, EpisodeState]

        def _load(self, episode_id: str) -> EpisodeState: ...
        def _fold_stored(self, events: Sequence[StoredEvent]) -> str: ...
        def _project_snapshot(self, state_json: str) -> CaseloadRow: ...
        def _new_id(self, kind: str, idempotency_key: str | None, index: int = 0) -> str: ...
        def _find_session(self, episode_id: str, session_id: str) -> SessionRef | None: ...
        def _decode(self, stored: StoredEvent) -> Event: ...
        def _timeline_entry(self, stored: StoredEvent) -> TimelineEntry: ...
        def _run(
            self,
            actor: Actor,
            episode_id: str,
            command: c.Command,
            action: str,
            idempotency_key: str | None,
            *,
            record_id: str | None = None,
            corrects: str | None = None,
        ) -> Recorded: ...

    # ------------------------------------------------------------------- process notes, addenda, lockbox

    def record_process_note(
        self,
        actor: Actor,
        episode_id: str,
        *,
        written_on: date,
        text: str,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Record a private process note: readable by its author only (:meth:`process_notes`), never in the
        timeline, an export, a report, a notification, the caseload or the client's view."""
        self._authorize_episode(actor, Action.RECORD_PROCESS_NOTE, episode_id)
        _check_date("written_on", written_on)
        _check_text("text", text, required=True)
        note_id = self._new_id("process-note", idempotency_key)
        command = c.RecordProcessNote(note_id, actor.id, written_on, text)
        return self._run(
            actor, episode_id, command, Action.RECORD_PROCESS_NOTE, idempotency_key, record_id=note_id
        )

    def process_notes(self, actor: Actor, episode_id: str) -> list[ProcessNote]:
        """The process notes ``actor`` wrote in this episode, oldest first (nobody else's, ever)."""
        self._authorize_episode(actor, Action.READ_PROCESS_NOTES, episode_id, audit=True)
        notes = []
        for stored in self.store.load_events(episode_id):
            if stored.type != ProcessNoteRecorded.TYPE:
                continue
            event = self._decode(stored)
            assert isinstance(event, ProcessNoteRecorded)  # noqa: S101 - by its type name
            if event.author_id == actor.id:
                notes.append(ProcessNote(event.note_id, event.written_on, stored.recorded_at, event.text))
        return notes

    def add_addendum(
        self,
        actor: Actor,
        episode_id: str,
        session_id: str,
        *,
        text: str,
        reason: str,
        added_on: date,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Add to a signed session record without changing it: the addendum points at the original."""
        self._authorize_episode(actor, Action.ADD_ADDENDUM, episode_id)
        _check_text("text", text, required=True)
        _check_text("reason", reason, required=True)
        _check_date("added_on", added_on)
        original = self._find_session(episode_id, session_id)
        addendum_id = self._new_id("addendum", idempotency_key)
        command = c.AddAddendum(session_id, original, addendum_id, added_on, text, reason)
        return self._run(
            actor,
            episode_id,
            command,
            Action.ADD_ADDENDUM,
            idempotency_key,
            record_id=addendum_id,
            corrects=original.event_id if original else None,
        )

    def attach_disagreement(
        self,
        actor: Actor,
        episode_id: str,
        target_event_id: str,
        *,
        statement: str,
        received_on: date,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Attach the client's statement of disagreement to a record (an event of the episode's timeline).

        The client may do this themselves, or their clinician on their behalf. The record is not changed.
        """
        self._authorize_episode(actor, Action.ATTACH_DISAGREEMENT, episode_id)
        _check_ref("target_event_id", target_event_id)
        _check_text("statement", statement, required=True)
        _check_date("received_on", received_on)
        found = any(
            e.event_id == target_event_id and e.type not in NEVER_SHARED
            for e in self.store.load_events(episode_id)
        )
        statement_id = self._new_id("statement", idempotency_key)
        command = c.AttachDisagreement(statement_id, target_event_id, found, received_on, statement)
        return self._run(
            actor,
            episode_id,
            command,
            Action.ATTACH_DISAGREEMENT,
            idempotency_key,
            record_id=statement_id,
            corrects=target_event_id if found else None,
        )

    def set_lockbox(
        self,
        actor: Actor,
        episode_id: str,
        *,
        scope: str,
        classes: Sequence[str] = (),
        event_ids: Sequence[str] = (),
        recipients: Sequence[str] = (),
        on: date,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Record the client's directive to withhold the ``record``, some ``class`` es or some ``item`` s
        (event ids) from sharing: from everyone, or only from ``recipients``. Returns the directive's id."""
        self._authorize_episode(actor, Action.SET_LOCKBOX, episode_id)
        _check_date("on", on)
        lists = {"classes": classes, "event_ids": event_ids, "recipients": recipients}
        for name, values in lists.items():
            if isinstance(values, str) or len(values) > 200:
                raise ValidationError(name, "type", "a list of at most 200 ids")
            for i, value in enumerate(values):
                _check_ref(f"{name}[{i}]", value)
        directive_id = self._new_id("lockbox", idempotency_key)
        command = c.SetLockbox(directive_id, scope, tuple(classes), tuple(event_ids), tuple(recipients), on)
        return self._run(
            actor, episode_id, command, Action.SET_LOCKBOX, idempotency_key, record_id=directive_id
        )

    def lift_lockbox(
        self,
        actor: Actor,
        episode_id: str,
        directive_id: str,
        *,
        on: date,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Lift a lockbox directive: what it withheld is shared again from now on."""
        self._authorize_episode(actor, Action.LIFT_LOCKBOX, episode_id)
        _check_ref("directive_id", directive_id)
        _check_date("on", on)
        known = any(d.directive_id == directive_id for d in self._directives(episode_id))
        return self._run(
            actor,
            episode_id,
            c.LiftLockbox(directive_id, known, on),
            Action.LIFT_LOCKBOX,
            idempotency_key,
            record_id=directive_id,
        )

    # ------------------------------------------------------------------------------------------- queries

    def session_history(self, actor: Actor, episode_id: str, session_id: str) -> SessionHistory:
        """A session as signed, with its corrections, addenda and the client's statements of disagreement."""
        self._authorize_episode(actor, Action.READ_SESSION_HISTORY, episode_id, audit=True)
        entries = self._timeline(episode_id, None, lockbox=False)
        original = next(
            (e for e in entries if isinstance(e.event, SessionRecorded) and e.event.session_id == session_id),
            None,
        )
        if original is None:
            raise NotFoundError("session", session_id)
        about = {original.event_id}
        corrections, addenda, disagreements = [], [], []
        for entry in entries:
            if entry.corrects not in about:
                continue
            if isinstance(entry.event, SessionCorrected):
                corrections.append(entry)
                about.add(entry.event_id)
            elif isinstance(entry.event, SessionAddendumAdded):
                addenda.append(entry)
                about.add(entry.event_id)
            elif isinstance(entry.event, DisagreementAttached):
                disagreements.append(entry)
        return SessionHistory(session_id, original, tuple(corrections), tuple(addenda), tuple(disagreements))

    def client_view(self, actor: Actor, episode_id: str) -> ClientView:
        """The client-facing record: agreed goals as they stand, scores over time, the maintenance plan."""
        self._authorize_episode(actor, Action.READ_CLIENT_VIEW, episode_id, audit=True)
        goals: dict[str, ClientGoal] = {}
        scores: dict[tuple[str, int], ClientScore] = {}
        numbers: dict[str, int] = {}
        plan: MaintenancePlan | None = None
        for entry in self._timeline(episode_id, None, lockbox=False):
            event = entry.event
            if isinstance(event, GoalAgreed):
                goals[event.goal_id] = ClientGoal(event.goal_id, "active", event.description)
            elif isinstance(event, GoalRevised) and event.revision.goal_id in goals:
                old, rev = goals[event.revision.goal_id], event.revision
                goals[rev.goal_id] = ClientGoal(
                    rev.goal_id,
                    rev.status.value if rev.status else old.status,
                    rev.description if rev.description is not None else old.description,
                )
            elif isinstance(event, SessionRecorded):
                numbers[event.session_id] = event.number
                for score in event.scores:
                    key = (score.measure_id, event.number)
                    scores[key] = ClientScore(score.measure_id, event.session.held_on, score.total)
            elif isinstance(event, SessionCorrected):
                for score in event.scores:
                    key = (score.measure_id, event.number)
                    if key in scores:
                        scores[key] = attrs.evolve(scores[key], total=score.total)
            elif isinstance(event, EpisodeClosed) and event.ending is not None:
                plan = event.ending.maintenance_plan
        ordered = tuple(scores[k] for k in sorted(scores, key=lambda k: (k[1], k[0])))
        return ClientView(episode_id, tuple(goals.values()), ordered, plan)

    def shared_record(
        self,
        actor: Actor,
        episode_id: str,
        *,
        recipient: str | None = None,
        override_reason: str | None = None,
    ) -> SharedRecord:
        """The record as exported or shared: process notes never, the lockbox honoured for ``recipient``.

        Every export goes through here. ``override_reason`` overrides the lockbox (the policy decides who
        may; the override and its reason are audited).
        """
        state = self._authorize_episode(actor, Action.EXPORT, episode_id, audit=override_reason is None)
        if recipient is not None:
            _check_ref("recipient", recipient)
        if override_reason is not None:
            _check_text("override_reason", override_reason, required=True)
            decision = self._authorize(
                actor, Action.OVERRIDE_LOCKBOX, "episode", episode_id, state, reason=override_reason
            )
            self._audit(
                actor,
                Action.OVERRIDE_LOCKBOX,
                "episode",
                episode_id,
                decision.outcome,
                state,
                detail=override_reason,
            )
        entries = self._timeline(episode_id, recipient, lockbox=override_reason is None)
        return SharedRecord(episode_id, state.client_ref, tuple(entries), entries.withheld)

    def break_glass(self, actor: Actor, episode_id: str, *, reason: str) -> Timeline:
        """An emergency read of an episode outside one's caseload: needs ``Purpose.EMERGENCY`` and a
        reason, and is always audited (with the reason). The client's lockbox still applies."""
        self._require_actor(actor, Action.BREAK_GLASS, "episode", episode_id)
        _check_text("reason", reason, required=True)
        state = self._load(episode_id)
        decision = self._authorize(actor, Action.BREAK_GLASS, "episode", episode_id, state, reason=reason)
        self._audit(actor, Action.BREAK_GLASS, "episode", episode_id, decision.outcome, state, detail=reason)
        return self._timeline(episode_id, actor.id, lockbox=True)

    # ----------------------------------------------------------------------------------------- audit log

    def audit_entries(
        self,
        actor: Actor,
        *,
        client_ref: str | None = None,
        actor_id: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[AuditRecord]:
        """Audit entries about one client, by one actor, or in a period (``since``/``until`` inclusive).

        What an auditor, or a client's request for the record of who accessed their data, needs.
        """
        self._require_actor(actor, Action.READ_AUDIT, "audit", client_ref or "(all)")
        decision = self._authorize(actor, Action.READ_AUDIT, "audit", client_ref or "(all)", None)
        self._audit(actor, Action.READ_AUDIT, "audit", client_ref or "(all)", decision.outcome, None)
        # an auditor sees their clinic's entries, and the refusals of calls made without any actor
        visible = (r for r in self.store.audit_records() if r.clinic_id in (actor.clinic_id, "(none)"))
        return audit_chain.select(visible, client_ref=client_ref, actor_id=actor_id, since=since, until=until)

    def audit_checkpoint(self, actor: Actor) -> AuditCheckpoint | None:
        """Seal the audit log now; returns the checkpoint (``None`` without an audit key).

        Keep the returned checkpoint outside the database to detect a tail cut together with its
        checkpoints (pass it to :meth:`verify_audit` as ``expected_head``).
        """
        self._require_actor(actor, Action.CHECKPOINT_AUDIT, "audit", "(log)")
        self._authorize(actor, Action.CHECKPOINT_AUDIT, "audit", "(log)", None)
        return self._checkpoint()

    def verify_audit(self, actor: Actor, *, expected_head: AuditCheckpoint | None = None) -> IntegrityReport:
        """Verify the whole record: event chains, snapshots, projections, the audit shards, the audit
        log's references to the streams, and, with this Practice's audit key, the seals.

        Returns an :class:`~alliancekit.integrity.verify.IntegrityReport`; nothing is written.
        """
        self._require_actor(actor, Action.READ_AUDIT, "audit", "(log)")
        self._authorize(actor, Action.READ_AUDIT, "audit", "(log)", None)
        episodes, audit, checkpoints = scan_record(self.store)
        return verify_record(
            episodes,
            audit,
            checkpoints,
            key=self._audit_key,
            expected_head=expected_head,
            fold=self._fold_stored,
            project=self._project_snapshot,
        )

    def rotate_encryption(
        self, actor: Actor, *, batch_size: int = 200, progress: Callable[[int], None] | None = None
    ) -> int:
        """Re-encrypt every free-text field under the cipher's primary key; returns the fields rewritten.

        Safe to interrupt: each batch is committed on its own, and running it again carries on where it
        stopped (fields already under the primary key are left alone).
        """
        self._require_actor(actor, Action.ROTATE_KEYS, "keys", "(all)")
        decision = self._authorize(actor, Action.ROTATE_KEYS, "keys", "(all)", None)
        self._audit(actor, Action.ROTATE_KEYS, "keys", "(all)", decision.outcome, None)
        if self.cipher is None:
            raise ValidationError("cipher", "required", "the practice was opened without a cipher")
        return encryption.rotate(self.store, self.cipher, batch_size=batch_size, progress=progress)

    # ---------------------------------------------------------------------------------------- internals

    def _require_actor(self, actor: object, action: str, record_type: str, record_id: object) -> None:
        """Refuse (and audit) a call without an actor, before anything is read."""
        if isinstance(actor, Actor):
            return
        ident = record_id if isinstance(record_id, str) and record_id.isprintable() else "(invalid)"
        entry_id = self._ids("audit")
        anonymous = AuditRecord(
            entry_id=entry_id,
            at=self._clock(),
            actor_id="(none)",
            actor_role="(none)",
            clinic_id="(none)",
            purpose="(none)",
            action=action,
            record_type=record_type,
            record_id=ident[:200],
            outcome="refused",
            shard=chain.shard_of(entry_id),
        )
        self.store.append_audit([anonymous])
        self._audited(1)
        raise MissingActor(action)

    def _authorize(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        episode: EpisodeState | None,
        *,
        clinician_id: str | None = None,
        reason: str | None = None,
    ) -> Decision:
        """Ask the policy; a refusal is audited and raised as :class:`AccessDenied`."""
        self._require_actor(actor, action, record_type, record_id)
        request = AccessRequest(actor, action, record_type, record_id, episode, clinician_id, reason)
        decision: object = self.policy.decide(request)
        if not isinstance(decision, Decision):  # a plugin's policy is not type-checked with us
            decision = Decision.refuse("the access policy gave no decision")
        if not decision.allowed:
            self._audit(actor, action, record_type, record_id, "refused", episode)
            raise AccessDenied(action, decision.reason)
        return decision

    def _authorize_episode(
        self, actor: Actor, action: str, episode_id: str, *, audit: bool = False
    ) -> EpisodeState:
        """Check the actor, then the policy on the episode's state; for reads, audit before returning.

        A write is checked on the state this practice last saw (no read when it has one); the command is
        checked again on the state it is decided on (``Practice._run``), so a stale state cannot let a
        write through.
        """
        self._require_actor(actor, action, "episode", episode_id)
        _check_ref("episode_id", episode_id)
        cached = None if audit else self._states.get(episode_id)
        state = cached if cached is not None else self._load(episode_id)
        decision = self._authorize(actor, action, "episode", episode_id, state)
        if audit:
            self._audit(actor, action, "episode", episode_id, decision.outcome, state)
        return state

    def _audit(
        self,
        actor: Actor,
        action: str,
        record_type: str,
        record_id: str,
        outcome: str,
        state: EpisodeState | None,
        *,
        detail: str = "",
    ) -> None:
        """Write one audit entry on its own (reads, refusals); a failure here fails the call."""
        entry_id = self._ids("audit")
        entry = AuditRecord(
            entry_id=entry_id,
            at=self._clock(),
            actor_id=actor.id,
            actor_role=actor.role.value,
            clinic_id=actor.clinic_id,
            purpose=actor.purpose.value,
            action=action,
            record_type=record_type,
            record_id=record_id,
            outcome=outcome or "allowed",
            client_ref=state.client_ref if state is not None else "",
            detail=detail,
            shard=chain.shard_of(entry_id),
        )
        self.store.append_audit([entry])
        self._audited(1)

    def _audited(self, count: int) -> None:
        self._since_checkpoint += count
        if self._audit_key is not None and self._since_checkpoint >= self.checkpoint_every:
            self._checkpoint()

    def _checkpoint(self) -> AuditCheckpoint | None:
        if self._audit_key is None:
            return None
        key, now = self._audit_key, self._clock()
        checkpoint = self.store.seal(
            lambda heads, previous: chain.make_checkpoint(key, heads, previous, now) if heads else None
        )
        self._since_checkpoint = 0
        return checkpoint

    def _timeline(self, episode_id: str, recipient: str | None, *, lockbox: bool) -> Timeline:
        stored = self.store.load_events(episode_id)
        if not stored:
            raise NotFoundError("episode", episode_id)
        entries = [self._timeline_entry(e) for e in stored]
        out = Timeline()
        if lockbox:
            directives = active_directives((e.event_id, e.event) for e in entries)
            kept, out.withheld = apply_lockbox(entries, directives, recipient)
            out.extend(kept)
        else:
            out.extend(e for e in entries if e.type not in NEVER_SHARED)
        return out

    def _directives(self, episode_id: str) -> list[Directive]:
        pairs = [
            (e.event_id, self._decode(e))
            for e in self.store.load_events(episode_id)
            if e.type in (LockboxSet.TYPE, LockboxLifted.TYPE)
        ]
        return active_directives(pairs)
