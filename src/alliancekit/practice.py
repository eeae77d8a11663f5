"""The public facade: open a practice, make commands as an actor, query episodes and caseloads.

Every command follows one path: read the episode's snapshot (one row), check the input, let the pure
lifecycle rules decide the new events, fold them into the new state, and hand the store one
:class:`~alliancekit.store.Commit` with the events, snapshot, caseload row and audit row. If another writer
got there first the store raises a conflict; the command is decided again on the fresh state, a bounded
number of times.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_date as _check_date
from alliancekit.domain.checks import check_ref as _check_ref
from alliancekit.domain.checks import check_text as _check_text
from alliancekit.domain.records import (
    Administration,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalRevision,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import Purpose, Role
from alliancekit.errors import (
    AlliancekitError,
    ConflictError,
    DuplicateCommand,
    NotFoundError,
    ValidationError,
)
from alliancekit.events import converter
from alliancekit.events.types import EpisodeOpened, Event, RecordedScore, SessionRecorded, event_class
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.engine import EngineContext, evaluate
from alliancekit.feedback.expectation import Expectations, Outcome, scores_against_expectation
from alliancekit.feedback.rules import AlertRule, alert_rules
from alliancekit.integrity import chain
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.rules import decide
from alliancekit.lifecycle.state import AlertState, EpisodeState, SessionRef, fold, start
from alliancekit.measures.definition import MeasureKind
from alliancekit.notify.dispatcher import Dispatcher, DispatchPolicy, DispatchSummary
from alliancekit.notify.outbox import Subscriptions, messages_for
from alliancekit.plugins.manager import PluginHost, get_plugin_host
from alliancekit.projections import caseload_row
from alliancekit.security import encryption
from alliancekit.security.facade import SecuredFacade
from alliancekit.security.policy import AccessPolicy, Action, policy_for
from alliancekit.security.views import Timeline
from alliancekit.store.protocol import (
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    CommandRecord,
    Commit,
    OutboxStatus,
    Store,
    StoredEvent,
)

#: How many times a command is decided again after a concurrent writer moved the episode on.
DEFAULT_CONFLICT_RETRIES = 8
#: Attended sessions between scheduled progress reviews (see :class:`FeedbackConfig`).
DEFAULT_REVIEW_EVERY = FeedbackConfig().review_every

#: Decoded episode states kept per Practice (see ``Practice._load``).
_STATE_CACHE_SIZE = 4096

#: First backoff bound after a conflict, doubled on each retry (at most about 0.5 s in all at the default
#: retries: enough for two writers hammering one episode on a loaded machine, in the tests).
_BACKOFF_SECONDS = 0.002
_jitter = random.Random()  # noqa: S311 - timing jitter, not security
#: Audit entries between two checkpoints written by one Practice (when it has an audit key).
DEFAULT_CHECKPOINT_EVERY = 100

_ID_NAMESPACE = uuid.UUID("5d1a8f0e-6a0b-4c61-9d0e-a11a9ce0a11a")


@attrs.frozen
class Recorded:
    """What a command wrote: the episode, its new version, and the id of the record it created."""

    episode_id: str
    version: int
    record_id: str | None = None
    duplicate: bool = False
    """True when an earlier command with the same idempotency key had already written this."""


@attrs.frozen
class TimelineEntry:
    """One event of an episode's timeline, with who recorded it and when."""

    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor_id: str
    actor_role: str
    corrects: str | None
    event: Event = attrs.field(repr=False)


def _uuid_ids(kind: str) -> str:
    """A random (version 4) UUID as 32 hex digits.

    Same ids as ``uuid.uuid4().hex``, without building a UUID object: a command makes two or three ids,
    and this is on every write's path.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


class Practice(SecuredFacade):
    """One practice's records in one store. Create it with :func:`open_practice`."""

    def __init__(
        self,
        store: Store,
        *,
        plugins: PluginHost | None = None,
        clock: Callable[[], datetime] | None = None,
        ids: Callable[[str], str] | None = None,
        review_every: int | None = None,
        conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
        policy: AccessPolicy | None = None,
        audit_key: bytes | None = None,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        cipher: encryption.FieldCipher | None = None,
        feedback: FeedbackConfig | None = None,
        subscriptions: Subscriptions | None = None,
        dispatch_policy: DispatchPolicy | None = None,
    ) -> None:
        """
        :param policy: decides every call (see :mod:`alliancekit.security.policy`); by default the policy a
            plugin supplies through ``alliancekit_access_policy``, else the default policy.
        :param audit_key: the host-held HMAC key for audit checkpoints (at least 32 bytes); without it no
            checkpoints are written and cutting the audit log's tail goes unnoticed.
        :param checkpoint_every: audit entries (written by this Practice) between checkpoints.
        :param cipher: encrypts free text at rest (:class:`alliancekit.security.encryption.FieldCipher`).
        """
        self.store = store
        self.plugins = plugins or get_plugin_host()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ids = ids or _uuid_ids
        if feedback is not None and not isinstance(feedback, FeedbackConfig):
            raise ValidationError("feedback", "type", "FeedbackConfig expected")
        feedback = feedback or FeedbackConfig()
        if review_every is not None:
            feedback = attrs.evolve(feedback, review_every=review_every)
        self.feedback = feedback
        self.review_every = feedback.review_every
        self.conflict_retries = conflict_retries
        self.expectations = Expectations(self.plugins, feedback, self._closed_outcomes, self._clock)
        self._outcome_kind: dict[str, bool] = {}
        self._rules: tuple[AlertRule, ...] | None = None
        self._measure_cache: dict[object, object] = {}
        # Decoded states by episode, trusted only at the exact stream version they were built for: the
        # store's version check means one version is one sequence of events, whoever wrote them.
        self._states: dict[str, EpisodeState] = {}
        # The stream head (last event's hash) at the version of each cached state: (version, head).
        self._heads: dict[str, tuple[int, str]] = {}
        self.policy = policy if policy is not None else policy_for(self.plugins)
        if audit_key is not None and len(audit_key) < 32:
            raise ValidationError("audit_key", "min-length", "at least 32 bytes")
        self._audit_key = audit_key
        self.checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        self.cipher = cipher
        # Which channels get which message kinds: the host's, or (None) every registered channel's own.
        self._subscriptions = subscriptions
        self.dispatch_policy = dispatch_policy or DispatchPolicy()
        self._dispatcher: Dispatcher | None = None

    def __repr__(self) -> str:
        return f"Practice({self.store!r})"

    def __enter__(self) -> Practice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Seal the audit log with a checkpoint (when there is an audit key) and release the store."""
        if self._audit_key is not None and self._since_checkpoint:
            self._checkpoint()
        self.store.close()

    # ------------------------------------------------------------------------------------------ commands

    def start_episode(
        self,
        actor: Actor,
        *,
        client_ref: str,
        clinician_id: str,
        opened_on: date,
        idempotency_key: str | None = None,
    ) -> str:
        """Open an episode of care in the consultation stage; returns the new episode's id.

        ``client_ref`` is the host's opaque reference for the client (never a name).
        """
        self._authorize(actor, Action.START_EPISODE, "episode", "(new)", None, clinician_id=clinician_id)
        _check_ref("client_ref", client_ref)
        _check_ref("clinician_id", clinician_id)
        _check_date("opened_on", opened_on)
        episode_id = self._new_id("episode", idempotency_key)
        action = "start-episode"
        if idempotency_key is not None and (
            done := self.store.find_command(actor.clinic_id, action, idempotency_key)
        ):
            return done.episode_id
        opened = EpisodeOpened(client_ref, clinician_id, opened_on)
        state = start(episode_id, actor.clinic_id, opened)
        try:
            self._commit(actor, None, state, [opened], action, idempotency_key, request=opened)
        except (DuplicateCommand, ConflictError):
            # The same keyed command, in flight twice, names the same episode: the second finds the stream
            # already started (a conflict at version 0) or the key taken. Either way it was done once.
            done = (
                self.store.find_command(actor.clinic_id, action, idempotency_key)
                if idempotency_key is not None
                else None
            )
            if done is None:
                raise
            return done.episode_id
        return episode_id

    def record_consultation(
        self, actor: Actor, episode_id: str, consultation: Consultation, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Record the consultation: concerns, questions, preferences, modality and consent."""
        self._authorize_episode(actor, Action.RECORD_CONSULTATION, episode_id)
        _expect(consultation, Consultation, "consultation")
        return self._run(
            actor, episode_id, c.RecordConsultation(consultation), "record-consultation", idempotency_key
        )

    def decide_fit(
        self, actor: Actor, episode_id: str, decision: FitDecision, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Proceed (on to goal setting), refer elsewhere, or not proceed (both close the episode)."""
        self._authorize_episode(actor, Action.DECIDE_FIT, episode_id)
        _expect(decision, FitDecision, "decision")
        return self._run(actor, episode_id, c.DecideFit(decision), "decide-fit", idempotency_key)

    def agree_goals(
        self,
        actor: Actor,
        episode_id: str,
        goals: Sequence[GoalDraft],
        *,
        agreed_on: date,
        idempotency_key: str | None = None,
    ) -> list[str]:
        """Record goals agreed with the client; the first agreement starts therapy. Returns goal ids."""
        self._authorize_episode(actor, Action.AGREE_GOALS, episode_id)
        _check_date("agreed_on", agreed_on)
        goals = tuple(goals)
        for i, goal in enumerate(goals):
            _expect(goal, GoalDraft, f"goals[{i}]")
        goal_ids = tuple(self._new_id("goal", idempotency_key, i) for i in range(len(goals)))
        self._run(actor, episode_id, c.AgreeGoals(goals, agreed_on, goal_ids), "agree-goals", idempotency_key)
        return list(goal_ids)

    def revise_goal(
        self,
        actor: Actor,
        episode_id: str,
        revision: GoalRevision,
        *,
        revised_on: date,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Revise a goal's wording, tasks or status; earlier versions stay in the timeline."""
        self._authorize_episode(actor, Action.REVISE_GOAL, episode_id)
        _expect(revision, GoalRevision, "revision")
        _check_date("revised_on", revised_on)
        return self._run(
            actor, episode_id, c.ReviseGoal(revision, revised_on), "revise-goal", idempotency_key
        )

    def record_session(
        self, actor: Actor, episode_id: str, session: Session, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Record a session, with any measures given in it (each validated and scored on the way in).

        The session record is *signed* as recorded (the envelope names who recorded it and when): it never
        changes. Later changes are corrections (:meth:`correct_session`) and addenda (:meth:`add_addendum`)
        that point at it, and the client may attach a statement of disagreement.
        """
        self._authorize_episode(actor, Action.RECORD_SESSION, episode_id)
        _expect(session, Session, "session")
        scores = self._score(session.administrations)
        session_id = self._new_id("session", idempotency_key)
        return self._run(
            actor,
            episode_id,
            c.RecordSession(session_id, session, scores),
            "record-session",
            idempotency_key,
            record_id=session_id,
        )

    def correct_session(
        self,
        actor: Actor,
        episode_id: str,
        session_id: str,
        session: Session,
        *,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Correct a recorded session. The original stays in the timeline; the correction points at it."""
        self._authorize_episode(actor, Action.CORRECT_SESSION, episode_id)
        _expect(session, Session, "session")
        _check_text("reason", reason, required=True)
        scores = self._score(session.administrations)
        original = self._find_session(episode_id, session_id)
        command = c.CorrectSession(session_id, original, session, scores, reason)
        return self._run(
            actor,
            episode_id,
            command,
            "correct-session",
            idempotency_key,
            record_id=session_id,
            corrects=original.event_id if original else None,
        )

    def record_review(
        self, actor: Actor, episode_id: str, review: Review, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Record a progress review. A review when none was due is kept, marked unscheduled."""
        self._authorize_episode(actor, Action.RECORD_REVIEW, episode_id)
        _expect(review, Review, "review")
        review_id = self._new_id("review", idempotency_key)
        _check_actor(actor)
        scores = scores_against_expectation(
            self._load(episode_id), self.plugins.measures(), self.expectations
        )
        return self._run(
            actor,
            episode_id,
            c.RecordReview(review_id, review, self.review_every, scores),
            "record-review",
            idempotency_key,
            record_id=review_id,
        )

    def note_rupture(
        self, actor: Actor, episode_id: str, note: RuptureNote, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Note a rupture in the alliance (kind, markers, likely cause, any repair already tried)."""
        self._authorize_episode(actor, Action.NOTE_RUPTURE, episode_id)
        _expect(note, RuptureNote, "note")
        rupture_id = self._new_id("rupture", idempotency_key)
        found = note.session_id is not None and self._find_session(episode_id, note.session_id) is not None
        return self._run(
            actor,
            episode_id,
            c.NoteRupture(rupture_id, note, found),
            "note-rupture",
            idempotency_key,
            record_id=rupture_id,
        )

    def record_repair(
        self,
        actor: Actor,
        episode_id: str,
        rupture_id: str,
        attempt: RepairAttempt,
        *,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Record an attempt to repair an open rupture, and whether it resolved it."""
        self._authorize_episode(actor, Action.RECORD_REPAIR, episode_id)
        _expect(attempt, RepairAttempt, "attempt")
        return self._run(
            actor,
            episode_id,
            c.RecordRepair(rupture_id, attempt),
            "record-repair",
            idempotency_key,
            record_id=rupture_id,
        )

    def put_on_hold(
        self, actor: Actor, episode_id: str, *, on: date, reason: str, idempotency_key: str | None = None
    ) -> Recorded:
        """Pause an episode (illness, travel, ...); sessions are refused until it is resumed."""
        self._authorize_episode(actor, Action.PUT_ON_HOLD, episode_id)
        _check_date("on", on)
        _check_text("reason", reason, required=True)
        return self._run(actor, episode_id, c.PutOnHold(on, reason), "put-on-hold", idempotency_key)

    def resume(
        self, actor: Actor, episode_id: str, *, on: date, idempotency_key: str | None = None
    ) -> Recorded:
        """Resume an episode on hold, in the stage it was in before."""
        self._authorize_episode(actor, Action.RESUME, episode_id)
        _check_date("on", on)
        return self._run(actor, episode_id, c.Resume(on), "resume", idempotency_key)

    def transfer(
        self,
        actor: Actor,
        episode_id: str,
        *,
        to_clinician_id: str,
        on: date,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Make another clinician the clinician of record."""
        self._authorize_episode(actor, Action.TRANSFER, episode_id)
        _check_ref("to_clinician_id", to_clinician_id)
        _check_date("on", on)
        _check_text("reason", reason, required=True)
        return self._run(
            actor, episode_id, c.TransferClinician(to_clinician_id, on, reason), "transfer", idempotency_key
        )

    def plan_ending(
        self,
        actor: Actor,
        episode_id: str,
        *,
        on: date,
        target_date: date | None = None,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Begin a planned ending: the episode moves to the ending stage."""
        self._authorize_episode(actor, Action.PLAN_ENDING, episode_id)
        _check_date("on", on)
        if target_date is not None:
            _check_date("target_date", target_date)
        return self._run(actor, episode_id, c.PlanEnding(on, target_date), "plan-ending", idempotency_key)

    def close_episode(
        self, actor: Actor, episode_id: str, ending: Ending, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Close the episode with its ending (a planned ending needs a maintenance plan or a reason)."""
        self._authorize_episode(actor, Action.CLOSE_EPISODE, episode_id)
        _expect(ending, Ending, "ending")
        return self._run(actor, episode_id, c.CloseEpisode(ending), "close-episode", idempotency_key)

    def acknowledge_alert(
        self,
        actor: Actor,
        episode_id: str,
        alert_id: str,
        *,
        on: date | None = None,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Acknowledge an open alert: the clinician of record or a supervisor of the clinic has seen it."""
        self._authorize_episode(actor, Action.ACKNOWLEDGE_ALERT, episode_id)
        _check_ref("alert_id", alert_id)
        day = self._day(on)
        command = c.AcknowledgeAlert(alert_id, day)
        return self._run(actor, episode_id, command, "acknowledge-alert", idempotency_key, record_id=alert_id)

    def resolve_alert(
        self,
        actor: Actor,
        episode_id: str,
        alert_id: str,
        *,
        note: str,
        on: date | None = None,
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Resolve an open alert with a note saying what was done (acknowledged or not)."""
        self._authorize_episode(actor, Action.RESOLVE_ALERT, episode_id)
        _check_ref("alert_id", alert_id)
        _check_text("note", note)
        day = self._day(on)
        command = c.ResolveAlert(alert_id, day, note)
        return self._run(actor, episode_id, command, "resolve-alert", idempotency_key, record_id=alert_id)

    # ------------------------------------------------------------------------------------------- queries

    def alerts(self, actor: Actor, episode_id: str) -> dict[str, AlertState]:
        """The episode's open alerts (raised or acknowledged) by id; resolved ones are in the timeline."""
        return dict(self._authorize_episode(actor, Action.READ_EPISODE, episode_id, audit=True).alerts)

    def episode(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The episode's current state (one snapshot row)."""
        return self._authorize_episode(actor, Action.READ_EPISODE, episode_id, audit=True)

    def timeline(self, actor: Actor, episode_id: str) -> Timeline:
        """Every event of the episode in order, with who recorded it and when.

        Process notes are never in it. For anyone but the clinician of record acting for treatment, the
        client's lockbox applies, and ``Timeline.withheld`` says that something was left out.
        """
        state = self._authorize_episode(actor, Action.READ_TIMELINE, episode_id, audit=True)
        treating = (
            actor.role is Role.CLINICIAN
            and actor.id == state.clinician_id
            and actor.purpose is Purpose.TREATMENT
        )
        return self._timeline(episode_id, None if treating else actor.id, lockbox=not treating)

    def caseload(
        self, actor: Actor, *, clinician_id: str | None = None, include_closed: bool = False
    ) -> list[CaseloadRow]:
        """The caseload of the actor's clinic, optionally one clinician's, from the projection table.

        A clinician's caseload is their own unless they name another clinician (which the default policy
        refuses).
        """
        self._require_actor(actor, Action.READ_CASELOAD, "caseload", clinician_id or "(clinic)")
        if clinician_id is None and actor.role is Role.CLINICIAN:
            clinician_id = actor.id
        record_id = clinician_id or actor.clinic_id
        decision = self._authorize(
            actor, Action.READ_CASELOAD, "caseload", record_id, None, clinician_id=clinician_id
        )
        self._audit(actor, Action.READ_CASELOAD, "caseload", record_id, decision.outcome, None)
        return self.store.caseload(
            clinic_id=actor.clinic_id, clinician_id=clinician_id, open_only=not include_closed
        )

    def closed_outcomes(self, actor: Actor) -> list[ClosedOutcome]:
        """The outcome columns of the actor's clinic's closed episodes (for the practice-outcomes report)."""
        self._require_actor(actor, Action.READ_CASELOAD, "practice", "(clinic)")
        self._authorize(actor, Action.READ_CASELOAD, "practice", actor.clinic_id, None)
        return self._closed_rows(actor.clinic_id)

    @property
    def today(self) -> date:
        """Today by the practice's clock (reports use it for "days since the last session")."""
        return self._clock().date()

    def rebuild_state(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The state folded from the stored events, ignoring the snapshot (checks and repairs)."""
        self._authorize_episode(actor, Action.REBUILD_STATE, episode_id, audit=True)
        stored = self.store.load_events(episode_id)
        if not stored:
            raise NotFoundError("episode", episode_id)
        first, rest = stored[0], stored[1:]
        opened = converter.structure(json.loads(first.payload_json), EpisodeOpened)
        state = start(episode_id, first.clinic_id, opened)
        return fold(state, (self._decode(e) for e in rest))

    # ------------------------------------------------------------------------------------- notifications

    @property
    def subscriptions(self) -> Subscriptions:
        """Which channels receive which message kinds (see :class:`~alliancekit.notify.Subscriptions`)."""
        if self._subscriptions is None:
            self._subscriptions = self.plugins.notifiers().default_subscriptions()
        return self._subscriptions

    def dispatcher(self) -> Dispatcher:
        """This practice's outbox dispatcher (one per Practice, created on first use)."""
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self.store, self.plugins.notifiers(), policy=self.dispatch_policy, clock=self._clock
            )
        return self._dispatcher

    def dispatch_pending(self, *, limit: int | None = None) -> DispatchSummary:
        """Deliver the outbox messages due now to their channels; returns what happened.

        Safe to call from several processes at once (each message is leased to one dispatcher). A failing
        or hanging channel only delays its own messages; see :mod:`alliancekit.notify.dispatcher`.
        """
        return self.dispatcher().dispatch_pending(limit=limit)

    def run_dispatcher(self, stop_event: threading.Event, poll_interval: float = 5.0) -> DispatchSummary:
        """Dispatch until ``stop_event`` is set (a host's worker thread or process); returns the totals."""
        return self.dispatcher().run(stop_event, poll_interval)

    def outbox_status(self) -> OutboxStatus:
        """Outbox messages by state (pending, delivered, dead) and the oldest pending one's time."""
        return self.store.outbox_status()

    def retry_message(self, message_id: str) -> bool:
        """Put a dead message back to pending, due now; False when there is no dead message with that id."""
        _check_ref("message_id", message_id)
        return self.store.outbox_requeue(message_id, self._clock())

    # ---------------------------------------------------------------------------------------- internals

    def _decode(self, stored: StoredEvent) -> Event:
        if self.cipher is None:
            return _event_of(stored)
        return self.cipher.decode(stored)

    def _encode(self, event: Event, event_id: str) -> str:
        if self.cipher is None:
            return converter.dumps_payload(event)
        return self.cipher.encode(event, event_id)

    def _timeline_entry(self, stored: StoredEvent) -> TimelineEntry:
        return TimelineEntry(
            seq=stored.seq,
            event_id=stored.event_id,
            type=stored.type,
            occurred_at=stored.occurred_at,
            recorded_at=stored.recorded_at,
            actor_id=stored.actor_id,
            actor_role=stored.actor_role,
            corrects=stored.corrects,
            event=self._decode(stored),
        )

    def _new_id(self, kind: str, idempotency_key: str | None, index: int = 0) -> str:
        if idempotency_key is None:
            return self._ids(kind)
        # A repeated command must name the same records, so ids derive from the key.
        return uuid.uuid5(_ID_NAMESPACE, f"{kind}:{index}:{idempotency_key}").hex

    def _score(self, administrations: Iterable[Administration]) -> tuple[RecordedScore, ...]:
        registry = self.plugins.measures()
        scores = []
        for admin in administrations:
            score = registry.score(admin.measure_id, admin.version, admin.answers)
            scores.append(
                RecordedScore(
                    score.measure_id,
                    score.version,
                    score.total,
                    dict(score.subscales),
                    score.band,
                    score.clinical,
                    tuple(score.risk_items),
                )
            )
        return tuple(scores)

    def _find_session(self, episode_id: str, session_id: str) -> SessionRef | None:
        """The session as first recorded, read from the stream (rare: corrections, rupture notes)."""
        for stored in self.store.load_events(episode_id):
            if stored.type != SessionRecorded.TYPE:
                continue
            recorded = self._decode(stored)
            assert isinstance(recorded, SessionRecorded)  # noqa: S101 - by its type name
            if recorded.session_id == session_id:
                s = recorded.session
                return SessionRef(s.held_on, s.attendance, recorded.number, stored.event_id)
        return None

    def _day(self, on: date | None) -> date:
        if on is None:
            return self._clock().date()
        if not isinstance(on, date):
            raise ValidationError("on", "type", "date expected")
        return on

    def _evaluate(
        self, before: EpisodeState, events: list[Event], after: EpisodeState, idempotency_key: str | None
    ) -> list[Event]:
        """The feedback engine's alerts for one command's events (see :mod:`alliancekit.feedback`)."""
        if not self.feedback.enabled:
            return []
        if self._rules is None:
            self._rules = tuple(alert_rules(self.plugins))
        context = EngineContext(
            config=self.feedback,
            rules=self._rules,
            measures=self.plugins.measures(),
            new_id=lambda i: self._new_id("alert", idempotency_key, i),
            expectations=self.expectations,
            measure_cache=self._measure_cache,
        )
        return evaluate(before, events, after, context)

    def _is_outcome(self, measure_id: str) -> bool:
        known = self._outcome_kind.get(measure_id)
        if known is None:
            try:
                known = self.plugins.measures().get(measure_id).kind is MeasureKind.OUTCOME
            except LookupError:
                known = False
            self._outcome_kind[measure_id] = known
        return known

    def _closed_outcomes(self) -> list[Outcome]:
        """Closed episodes' intake and final outcome totals, from the caseload projection (no events)."""
        return [
            Outcome(row.outcome_measure, row.first_outcome, row.latest_outcome, row.outcome_sessions)
            for row in self._closed_rows(None)
            if row.ending_reason is not None
            and row.outcome_measure is not None
            and row.first_outcome is not None
            and row.latest_outcome is not None
            and row.outcome_sessions is not None
        ]

    def _closed_rows(self, clinic_id: str | None) -> list[ClosedOutcome]:
        fast = getattr(self.store, "closed_outcomes", None)
        if fast is not None:
            rows: list[ClosedOutcome] = fast(clinic_id=clinic_id)
            return rows
        return [
            ClosedOutcome.of(row)
            for row in self.store.caseload(clinic_id=clinic_id, open_only=False)
            if row.closed_on is not None
        ]

    def _fold_stored(self, events: Sequence[StoredEvent]) -> str:
        """The state JSON folded from an episode's stored events (verification compares the snapshot)."""
        first, rest = events[0], events[1:]
        opened = converter.structure(json.loads(first.payload_json), EpisodeOpened)
        state = start(first.episode_id, first.clinic_id, opened)
        return converter.dumps(fold(state, (self._decode(e) for e in rest)))

    def _project_snapshot(self, state_json: str) -> CaseloadRow:
        """The caseload row a snapshot projects to (verification compares the stored row)."""
        state = converter.structure(json.loads(state_json), EpisodeState)
        return caseload_row(state, review_every=self.review_every, is_outcome=self._is_outcome)

    def _load(self, episode_id: str) -> EpisodeState:
        found = self.store.load_snapshot(episode_id)
        if found is None:
            raise NotFoundError("episode", episode_id)
        version, snapshot, head = found
        cached = self._states.get(episode_id)
        if cached is not None and cached.version == version:
            self._heads[episode_id] = (version, head)
            return cached
        state = converter.structure(json.loads(snapshot), EpisodeState)
        self._remember(state, head)
        return state

    def _remember(self, state: EpisodeState, head: str) -> None:
        if len(self._states) >= _STATE_CACHE_SIZE:
            self._states.clear()  # crude but bounded; a busy host re-decodes a few snapshots
            self._heads.clear()
        self._states[state.episode_id] = state
        self._heads[state.episode_id] = (state.version, head)

    def _head(self, before: EpisodeState) -> str:
        """The stream head at ``before.version``: remembered with the state, or read from the snapshot."""
        known = self._heads.get(before.episode_id)
        if known is not None and known[0] == before.version:
            return known[1]
        found = self.store.load_snapshot(before.episode_id)
        actual = 0 if found is None else found.version
        if found is None or actual != before.version:
            raise ConflictError(before.episode_id, before.version, actual)
        return found.head

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
    ) -> Recorded:
        _check_actor(actor)
        # The first try decides on the state this Practice last wrote or read, without reading the store.
        # That is safe because the store's version check is the guard: if another writer (another Practice,
        # another process) moved the episode on, the commit is refused with a conflict and nothing is
        # written. Such a try is a guess, so it neither counts as a conflict retry nor may refuse: a
        # conflict or a refusal on the cached state is decided again on a fresh read of the snapshot.
        guess = self._states.get(episode_id)
        conflicts = 0
        while True:
            # Checked on every attempt: the conflict may have come from the same keyed command in flight
            # twice, and deciding it again on the newer state would refuse it instead of reporting it done.
            if idempotency_key is not None and (
                done := self.store.find_command(actor.clinic_id, action, idempotency_key)
            ):
                return Recorded(done.episode_id, done.version, record_id, duplicate=True)
            if guess is not None:
                state, guessing, guess = guess, True, None
            else:
                state, guessing = self._load(episode_id), False
            try:
                if not guessing:
                    # A guess is the state the public method authorised on entry; a fresh state is
                    # authorised again, so a writer that lost access meanwhile is refused (and audited).
                    self._authorize(actor, action, "episode", episode_id, state)
                events = decide(state, command)
            except AlliancekitError:
                if guessing:
                    continue
                raise
            new_state = fold(state, events)
            alerts = self._evaluate(state, events, new_state, idempotency_key)
            if alerts:  # the feedback engine's alerts join the same commit
                events, new_state = [*events, *alerts], fold(new_state, alerts)
            try:
                version = self._commit(
                    actor, state, new_state, events, action, idempotency_key, corrects, request=command
                )
            except ConflictError:
                if guessing:
                    continue
                if conflicts == self.conflict_retries:
                    raise
                # Back off for a random, growing moment: retrying at once lets a writer that never pauses
                # win every race for the write lock, and this one runs out of retries (starvation).
                time.sleep(_jitter.uniform(0, _BACKOFF_SECONDS * 2**conflicts))
                conflicts += 1
                continue
            except DuplicateCommand:
                done = self.store.find_command(actor.clinic_id, action, idempotency_key or "")
                assert done is not None  # noqa: S101 - the store just said the key exists
                return Recorded(done.episode_id, done.version, record_id, duplicate=True)
            return Recorded(episode_id, version, record_id)

    def _commit(
        self,
        actor: Actor,
        before: EpisodeState | None,
        after: EpisodeState,
        events: Sequence[Event],
        action: str,
        idempotency_key: str | None,
        corrects: str | None = None,
        *,
        request: object = None,
    ) -> int:
        now = self._clock()
        base = 0 if before is None else before.version
        head = chain.GENESIS if before is None else self._head(before)
        event_ids = [self._ids("event") for _ in events]
        stored = [
            StoredEvent(
                episode_id=after.episode_id,
                seq=base + i,
                event_id=event_id,
                type=e.TYPE,
                schema_version=e.VERSION,
                occurred_at=now,
                recorded_at=now,
                actor_id=actor.id,
                actor_role=actor.role.value,
                clinic_id=after.clinic_id,
                payload_json=self._encode(e, event_id),
                corrects=corrects,
            )
            for i, (e, event_id) in enumerate(zip(events, event_ids, strict=True), start=1)
        ]
        stored = chain.chain_events(stored, head)
        new_head = stored[-1].hash if stored else head
        new_version = base + len(stored)
        audit = AuditRecord(
            entry_id=self._ids("audit"),
            at=now,
            actor_id=actor.id,
            actor_role=actor.role.value,
            clinic_id=actor.clinic_id,
            purpose=actor.purpose.value,
            action=action,
            record_type="episode",
            record_id=after.episode_id,
            outcome="allowed",
            client_ref=after.client_ref,
            writes=f"{new_version}:{new_head}",
            shard=chain.shard_of(after.episode_id),
        )
        command = None
        if idempotency_key is not None:
            # Minimal binding of the key to the request (the facade rewrite replaces it).
            request_hash = hashlib.sha256(
                f"{action}\x1f{after.episode_id}\x1f{converter.dumps(request)}".encode(
                    "utf-8", "surrogatepass"
                )
            ).hexdigest()
            command = CommandRecord(
                actor.clinic_id, action, idempotency_key, request_hash, after.episode_id, new_version
            )
        subscriptions = self.subscriptions
        outbox = (
            messages_for(list(zip(stored, events, strict=True)), after, subscriptions)
            if subscriptions
            else []
        )
        commit = Commit(
            episode_id=after.episode_id,
            expected_version=base,
            events=stored,
            snapshot_json=converter.dumps(after),
            caseload=caseload_row(after, review_every=self.review_every, is_outcome=self._is_outcome),
            outbox=outbox,
            audit=[audit],
            command=command,
            head=new_head,
        )
        self.store.append(commit)
        self._audited(len(commit.audit))
        self._remember(after, new_head)
        return commit.new_version


def open_practice(
    location: str | os.PathLike[str] | Store,
    *,
    plugins: PluginHost | None = None,
    **options: Any,
) -> Practice:
    """Open a practice on a store.

    :param location: a :class:`~alliancekit.store.Store`, a path (an SQLite file, created if missing), or a
        location string with a scheme registered by a store plugin (``memory:``, ``sqlite:/path``,
        ``postgresql://...``).
    :param plugins: the plugin host to use; the process-wide one by default.
    :param options: passed to :class:`Practice` (``clock``, ``ids``, ``review_every``, ``conflict_retries``,
        ``feedback``: a :class:`~alliancekit.feedback.FeedbackConfig` with the alert rules' thresholds;
        ``subscriptions``, ``dispatch_policy``).
    """
    host = plugins or get_plugin_host()
    if isinstance(location, str | os.PathLike):
        store = host.stores().open(location)
    elif isinstance(location, Store):
        store = location
    else:
        raise ValidationError("location", "type", "a path, a location string or a Store")
    return Practice(store, plugins=host, **options)


# -------------------------------------------------------------------------------------------- helpers


def _check_actor(actor: object) -> None:
    if not isinstance(actor, Actor):
        raise ValidationError("actor", "required", "every call is made by an Actor")


def _expect(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls):
        raise ValidationError(field, "type", f"{cls.__name__} expected")


def _event_of(stored: StoredEvent) -> Event:
    if encryption.PREFIX in stored.payload_json:
        return encryption.redact(stored)  # encrypted free text, and this practice holds no key
    return converter.structure(json.loads(stored.payload_json), event_class(stored.type))
