"""The public facade: open a practice, make commands as an actor, query episodes and caseloads.

Every command follows one path: read the episode's snapshot (one row), check the input, let the pure
lifecycle rules decide the new events, fold them into the new state, and hand the store one
:class:`~alliancekit.store.Commit` with the events, snapshot, caseload row and audit row. If another writer
got there first the store raises a conflict; the command is decided again on the fresh state, a bounded
number of times.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs

from alliancekit.domain.actors import Actor
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
from alliancekit.errors import ConflictError, DuplicateCommand, NotFoundError, ValidationError
from alliancekit.events import converter
from alliancekit.events.types import EpisodeOpened, Event, RecordedScore, SessionRecorded, event_class
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.rules import decide
from alliancekit.lifecycle.state import EpisodeState, SessionRef, fold, start
from alliancekit.notify.dispatcher import Dispatcher, DispatchPolicy, DispatchSummary
from alliancekit.notify.outbox import Subscriptions, messages_for
from alliancekit.plugins.manager import PluginHost, get_plugin_host
from alliancekit.projections import caseload_row
from alliancekit.store.protocol import AuditRecord, CaseloadRow, Commit, OutboxStatus, Store, StoredEvent

#: How many times a command is decided again after a concurrent writer moved the episode on.
DEFAULT_CONFLICT_RETRIES = 5
#: Sessions between scheduled progress reviews.
DEFAULT_REVIEW_EVERY = 6

#: Decoded episode states kept per Practice (see ``Practice._load``).
_STATE_CACHE_SIZE = 4096

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
    return uuid.uuid4().hex


class Practice:
    """One practice's records in one store. Create it with :func:`open_practice`."""

    def __init__(
        self,
        store: Store,
        *,
        plugins: PluginHost | None = None,
        clock: Callable[[], datetime] | None = None,
        ids: Callable[[str], str] | None = None,
        review_every: int = DEFAULT_REVIEW_EVERY,
        conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
        subscriptions: Subscriptions | None = None,
        dispatch_policy: DispatchPolicy | None = None,
    ) -> None:
        self.store = store
        self.plugins = plugins or get_plugin_host()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ids = ids or _uuid_ids
        self.review_every = review_every
        self.conflict_retries = conflict_retries
        # Decoded states by episode, trusted only at the exact stream version they were built for: the
        # store's version check means one version is one sequence of events, whoever wrote them.
        self._states: dict[str, EpisodeState] = {}
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
        _check_actor(actor)
        _check_ref("client_ref", client_ref)
        _check_ref("clinician_id", clinician_id)
        if not isinstance(opened_on, date):
            raise ValidationError("opened_on", "type", "date expected")
        episode_id = self._new_id("episode", idempotency_key)
        if idempotency_key is not None and (done := self.store.find_command(idempotency_key)):
            return done[0]
        opened = EpisodeOpened(client_ref, clinician_id, opened_on)
        state = start(episode_id, actor.clinic_id, opened)
        try:
            self._commit(actor, None, state, [opened], "start-episode", idempotency_key)
        except DuplicateCommand:
            done = self.store.find_command(idempotency_key or "")
            assert done is not None  # noqa: S101 - the store just said the key exists
            return done[0]
        return episode_id

    def record_consultation(
        self, actor: Actor, episode_id: str, consultation: Consultation, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Record the consultation: concerns, questions, preferences, modality and consent."""
        _expect(consultation, Consultation, "consultation")
        return self._run(
            actor, episode_id, c.RecordConsultation(consultation), "record-consultation", idempotency_key
        )

    def decide_fit(
        self, actor: Actor, episode_id: str, decision: FitDecision, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Proceed (on to goal setting), refer elsewhere, or not proceed (both close the episode)."""
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
        """Record goals agreed with the client ; the first agreement starts therapy. Returns goal ids."""
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
        _expect(revision, GoalRevision, "revision")
        return self._run(
            actor, episode_id, c.ReviseGoal(revision, revised_on), "revise-goal", idempotency_key
        )

    def record_session(
        self, actor: Actor, episode_id: str, session: Session, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Record a session, with any measures given in it (each validated and scored on the way in)."""
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
        _expect(session, Session, "session")
        _check_text("reason", reason, required=True)
        _check_actor(actor)
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
        _expect(review, Review, "review")
        review_id = self._new_id("review", idempotency_key)
        return self._run(
            actor,
            episode_id,
            c.RecordReview(review_id, review, self.review_every),
            "record-review",
            idempotency_key,
            record_id=review_id,
        )

    def note_rupture(
        self, actor: Actor, episode_id: str, note: RuptureNote, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Note a rupture in the alliance (kind, markers, likely cause, any repair already tried)."""
        _expect(note, RuptureNote, "note")
        _check_actor(actor)
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
        _check_text("reason", reason, required=True)
        return self._run(actor, episode_id, c.PutOnHold(on, reason), "put-on-hold", idempotency_key)

    def resume(
        self, actor: Actor, episode_id: str, *, on: date, idempotency_key: str | None = None
    ) -> Recorded:
        """Resume an episode on hold, in the stage it was in before."""
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
        _check_ref("to_clinician_id", to_clinician_id)
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
        return self._run(actor, episode_id, c.PlanEnding(on, target_date), "plan-ending", idempotency_key)

    def close_episode(
        self, actor: Actor, episode_id: str, ending: Ending, *, idempotency_key: str | None = None
    ) -> Recorded:
        """Close the episode with its ending (a planned ending needs a maintenance plan or a reason)."""
        _expect(ending, Ending, "ending")
        return self._run(actor, episode_id, c.CloseEpisode(ending), "close-episode", idempotency_key)

    # ------------------------------------------------------------------------------------------- queries

    def episode(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The episode's current state (one snapshot row)."""
        _check_actor(actor)
        return self._load(episode_id)

    def timeline(self, actor: Actor, episode_id: str) -> list[TimelineEntry]:
        """Every event of the episode in order, with who recorded it and when."""
        _check_actor(actor)
        stored = self.store.load_events(episode_id)
        if not stored:
            raise NotFoundError("episode", episode_id)
        return [_timeline_entry(e) for e in stored]

    def caseload(
        self, actor: Actor, *, clinician_id: str | None = None, include_closed: bool = False
    ) -> list[CaseloadRow]:
        """The caseload of the actor's clinic, optionally one clinician's, from the projection table."""
        _check_actor(actor)
        return self.store.caseload(
            clinic_id=actor.clinic_id, clinician_id=clinician_id, open_only=not include_closed
        )

    def rebuild_state(self, episode_id: str) -> EpisodeState:
        """The state folded from the stored events, ignoring the snapshot (checks and repairs)."""
        stored = self.store.load_events(episode_id)
        if not stored:
            raise NotFoundError("episode", episode_id)
        first, rest = stored[0], stored[1:]
        opened = converter.structure(json.loads(first.payload_json), EpisodeOpened)
        state = start(episode_id, first.clinic_id, opened)
        return fold(state, (_event_of(e) for e in rest))

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
            recorded = _event_of(stored)
            assert isinstance(recorded, SessionRecorded)  # noqa: S101 - by its type name
            if recorded.session_id == session_id:
                s = recorded.session
                return SessionRef(s.held_on, s.attendance, recorded.number, stored.event_id)
        return None

    def _load(self, episode_id: str) -> EpisodeState:
        found = self.store.load_snapshot(episode_id)
        if found is None:
            raise NotFoundError("episode", episode_id)
        version, snapshot = found
        cached = self._states.get(episode_id)
        if cached is not None and cached.version == version:
            return cached
        state = converter.structure(json.loads(snapshot), EpisodeState)
        self._remember(state)
        return state

    def _remember(self, state: EpisodeState) -> None:
        if len(self._states) >= _STATE_CACHE_SIZE:
            self._states.clear()  # crude but bounded; a busy host re-decodes a few snapshots
        self._states[state.episode_id] = state

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
        if idempotency_key is not None and (done := self.store.find_command(idempotency_key)):
            return Recorded(done[0], done[1], record_id, duplicate=True)
        for attempt in range(self.conflict_retries + 1):
            state = self._load(episode_id)
            events = decide(state, command)
            new_state = fold(state, events)
            try:
                version = self._commit(actor, state, new_state, events, action, idempotency_key, corrects)
            except ConflictError:
                if attempt == self.conflict_retries:
                    raise
                continue
            except DuplicateCommand:
                done = self.store.find_command(idempotency_key or "")
                assert done is not None  # noqa: S101 - the store just said the key exists
                return Recorded(done[0], done[1], record_id, duplicate=True)
            return Recorded(episode_id, version, record_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _commit(
        self,
        actor: Actor,
        before: EpisodeState | None,
        after: EpisodeState,
        events: Sequence[Event],
        action: str,
        idempotency_key: str | None,
        corrects: str | None = None,
    ) -> int:
        now = self._clock()
        base = 0 if before is None else before.version
        stored = [
            StoredEvent(
                episode_id=after.episode_id,
                seq=base + i,
                event_id=self._ids("event"),
                type=e.TYPE,
                schema_version=e.VERSION,
                occurred_at=now,
                recorded_at=now,
                actor_id=actor.id,
                actor_role=actor.role.value,
                clinic_id=after.clinic_id,
                payload_json=converter.dumps(e),
                corrects=corrects,
            )
            for i, e in enumerate(events, start=1)
        ]
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
            caseload=caseload_row(after, review_every=self.review_every),
            outbox=outbox,
            audit=[audit],
            idempotency_key=idempotency_key,
        )
        self.store.append(commit)
        self._remember(after)
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


def _check_ref(field: str, value: object) -> None:
    if not isinstance(value, str) or not value or len(value) > 200 or not value.isprintable():
        raise ValidationError(field, "reference", "a non-empty printable id of at most 200 characters")


def _check_text(field: str, value: object, *, required: bool = False) -> None:
    if not isinstance(value, str):
        raise ValidationError(field, "type", "text expected")
    if required and not value.strip():
        raise ValidationError(field, "required")
    if len(value) > 20_000:
        raise ValidationError(field, "max-length")


def _expect(value: object, cls: type, field: str) -> None:
    if not isinstance(value, cls):
        raise ValidationError(field, "type", f"{cls.__name__} expected")


def _event_of(stored: StoredEvent) -> Event:
    return converter.structure(json.loads(stored.payload_json), event_class(stored.type))


def _timeline_entry(stored: StoredEvent) -> TimelineEntry:
    return TimelineEntry(
        seq=stored.seq,
        event_id=stored.event_id,
        type=stored.type,
        occurred_at=stored.occurred_at,
        recorded_at=stored.recorded_at,
        actor_id=stored.actor_id,
        actor_role=stored.actor_role,
        corrects=stored.corrects,
        event=_event_of(stored),
    )
