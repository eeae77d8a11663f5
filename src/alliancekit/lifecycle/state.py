"""An episode's current state: a fold over its events, small enough to keep as one snapshot row.

The state holds what the lifecycle rules and the caseload need, not the whole record: the timeline is read
from the events. ``apply`` is pure and total over every event type; a test checks that the stored snapshot
always equals the fold of the stored events.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from datetime import date
from functools import singledispatch
from typing import Any

import attrs

from alliancekit.domain.frozen_map import EMPTY, FrozenMap, frozen_map
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import (
    AlertSeverity,
    AlertStatus,
    Attendance,
    ClosingReason,
    EndingReason,
    FitOutcome,
    GoalStatus,
    ParticipantRole,
    Rater,
    RequestPoint,
    Stage,
)
from alliancekit.events.types import (
    AdministrationRequested,
    AdministrationRequestRevoked,
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    ClinicianTransferred,
    ConsultationRecorded,
    DisagreementAttached,
    EndingPlanned,
    EpisodeClosed,
    EpisodeOpened,
    EpisodePutOnHold,
    EpisodeResumed,
    Event,
    FitDecided,
    GoalAgreed,
    GoalRevised,
    GroupJoined,
    LockboxLifted,
    LockboxSet,
    MeasuresConsentChanged,
    ParticipantAdded,
    PopulationChanged,
    ProcessNoteRecorded,
    ProtocolSet,
    RecordedScore,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    ScoresAsCorrected,
    SessionAddendumAdded,
    SessionCorrected,
    SessionRecorded,
)

# where ScorePoint was defined before a session's correction carried it: still importable from here
from alliancekit.events.types import ScorePoint as ScorePoint
from alliancekit.protocols.definition import MeasurementProtocol


@attrs.frozen
class GoalState:
    status: GoalStatus
    revisions: int = 0


@attrs.frozen
class LockboxState:
    """A lockbox directive in force: what it withholds (scope and classes) and from whom (no recipients:
    everyone). Item directives name events, which only the stream can resolve."""

    scope: str
    classes: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()


@attrs.frozen
class AlertState:
    """An open alert (raised or acknowledged); resolved alerts leave the state and stay in the timeline.

    ``raised_on`` is the day the alert was raised (the day of the session or review that raised it) and
    ``message`` the rule's fixed text (no client words, no scores); ``None`` only in a snapshot written
    before they were kept (an older shape, which the library folds from the events instead).
    """

    rule_id: str = attrs.field(repr=hidden)
    severity: AlertSeverity = attrs.field(repr=hidden)
    status: AlertStatus = AlertStatus.RAISED
    measure_id: str | None = attrs.field(default=None, repr=hidden)
    raised_on: date | None = None
    message: str | None = attrs.field(default=None, repr=hidden)
    participant: str | None = attrs.field(default=None, repr=hidden)
    """The participant the alert is about, in an episode with several (``None``: the identified client)."""

    @property
    def key(self) -> str:
        """The rule, measure and participant the alert is raised for: one open alert per key."""
        return alert_key(self.rule_id, self.measure_id, self.participant)


def alert_key(rule_id: str, measure_id: str | None, participant: str | None = None) -> str:
    """One active alert per rule, measure and participant: the key the engine checks before raising."""
    key = rule_id if measure_id is None else f"{rule_id}:{measure_id}"
    return key if participant is None else f"{key}@{participant}"


@attrs.frozen
class ParticipantState:
    """A participant other than the identified client: their role, the day they joined and whether they
    consent to measures (as given when they joined, then as last changed)."""

    role: ParticipantRole
    measures_consent: bool
    measures_consent_changed_on: date | None = None
    """The day their consent to measures was last changed (``None``: as given when they joined). A measure
    about them dated before it is refused."""
    joined_on: date | None = None
    """The day they joined the episode (``participant-added``): a measure about them, or a change of their
    consent, dated before it is refused. ``None`` only in a snapshot written before it was kept (an older
    shape, which the library folds from the events instead)."""


@attrs.frozen
class TrackedScores:
    """One measure as rated by one rater about one participant (anything but the identified client's own
    ratings, which ``first_scores``/``latest_scores`` keep as they always have)."""

    measure_id: str
    about: str = attrs.field(repr=hidden)
    """The participant it is about (host reference)."""
    rater: Rater
    first: ScorePoint
    latest: ScorePoint
    previous: ScorePoint | None = None


def track_key(measure_id: str, about: str, rater: Rater | str) -> str:
    """The key of a :class:`TrackedScores` in :attr:`EpisodeState.tracks`: ``measure|about|rater``."""
    return f"{measure_id}|{about}|{Rater(rater).value}"


@attrs.frozen
class SessionRef:
    """A recorded session as a correction needs it; looked up from the stream, not kept in the state."""

    held_on: date
    attendance: Attendance
    number: int
    event_id: str
    group_session_id: str | None = None
    """The group session it is a part of as the session stands now (its latest correction's, else as
    recorded): what the access policy is told a correction changes."""
    group_session_minted: bool = False
    """``group_session_id`` is the one ``record_group_session`` made for this part (a correction that
    changes the id makes it ``False``)."""
    recorded_by: str = ""
    """The id of the actor who recorded the session."""


@attrs.frozen
class EpisodeState:
    """Where an episode stands. ``version`` is the number of events folded into it."""

    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    clinic_id: str
    clinician_id: str
    opened_on: date
    stage: Stage = Stage.CONSULTATION
    version: int = 0
    closing_reason: ClosingReason | None = attrs.field(default=None, repr=hidden)
    ending_reason: EndingReason | None = attrs.field(default=None, repr=hidden)
    ending_planned: bool | None = attrs.field(default=None, repr=hidden)
    closed_on: date | None = None
    consultation_on: date | None = None
    treatment_consent: bool = False
    measures_consent: bool = False
    """Whether the identified client consents to measures: as given at the consultation (``False`` until it
    is recorded), then as last changed (``measures-consent-changed``)."""
    measures_consent_changed_on: date | None = None
    """The day the client's consent to measures was last changed after the consultation (``None``: as given
    there). A measure about them dated before it is refused."""
    fit: FitOutcome | None = attrs.field(default=None, repr=hidden)
    fit_on: date | None = None
    goals: Mapping[str, GoalState] = attrs.field(default=EMPTY)
    sessions_scheduled: int = 0
    sessions_attended: int = 0
    consecutive_missed: int = 0
    last_session_on: date | None = None
    last_attended_on: date | None = None
    first_scores: Mapping[str, ScorePoint] = attrs.field(default=EMPTY)
    """Each measure's first score in the episode (intake)."""
    latest_scores: Mapping[str, ScorePoint] = attrs.field(default=EMPTY)
    previous_scores: Mapping[str, ScorePoint] = attrs.field(default=EMPTY)
    open_ruptures: Mapping[str, int] = attrs.field(default=EMPTY)
    open_rupture_dates: Mapping[str, date] = attrs.field(default=EMPTY)
    """Unresolved ruptures: id -> the date each was noted (a repair cannot predate it)."""
    """Unresolved ruptures: id -> sessions scheduled when noted."""
    ruptures_noted: int = 0
    reviews: int = 0
    last_review_at_session: int = 0
    attended_at_last_review: int = 0
    review_requested: bool = False
    """A red or urgent alert asked for a review; the next review clears it."""
    modality_counts: Mapping[str, int] = attrs.field(default=EMPTY)
    """Attended sessions by modality."""
    alerts: Mapping[str, AlertState] = attrs.field(default=EMPTY)
    """Open alerts by id (bounded: at most one active per rule and measure)."""
    alert_keys_raised: tuple[str, ...] = attrs.field(default=(), repr=hidden)
    """Every rule-and-measure key that has ever raised an alert here (for once-per-episode rules)."""
    stage_before_hold: Stage | None = None
    last_activity_on: date | None = None
    lockbox: Mapping[str, LockboxState] = attrs.field(default=EMPTY)
    """The client's lockbox directives in force, by id."""
    participants: Mapping[str, ParticipantState] = attrs.field(repr=hidden, default=EMPTY)
    """Clients taking part besides the identified client, by host reference (empty: a single client)."""
    tracks: Mapping[str, TrackedScores] = attrs.field(repr=hidden, default=EMPTY)
    """Scores of the other participants and of collateral raters, by :func:`track_key`."""
    group_id: str | None = None
    """The therapy group the client belongs to, if any."""
    facilitator_ids: tuple[str, ...] = ()
    """The group's facilitators (one or two clinicians)."""
    administered_at: Mapping[str, int] = attrs.field(default=EMPTY)
    """Each measure's last administration (the client's own rating) by the attended-session count it was
    given at: what the measurement protocol's schedule counts from."""
    ending_planned_on: date | None = None
    """The day the ending was planned (the last time, if planned again)."""
    protocol: MeasurementProtocol | None = None
    """The episode's own measurement protocol (the ``protocol-set`` event); ``None``: its clinic's."""
    protocol_from: int = 0
    """Attended sessions when the episode's protocol was last set: occasions before it are not missed."""
    population: str | None = None
    """The norm population named when the episode was opened (``Measure.norm_for``); ``None``: each
    measure's default population."""

    @property
    def is_open(self) -> bool:
        """Whether the episode is in any stage but closed."""
        return self.stage is not Stage.CLOSED

    @property
    def participant_refs(self) -> tuple[str, ...]:
        """Every participant's host reference, the identified client first."""
        return (self.client_ref, *self.participants)

    def has_participant(self, client_ref: str) -> bool:
        """Whether ``client_ref`` is the identified client's or another participant's reference."""
        return client_ref == self.client_ref or client_ref in self.participants

    def __attrs_post_init__(self) -> None:
        # Every map read-only however the state was made (the fold, a snapshot, attrs.evolve, a caller):
        # one check of all of them at once, not a converter call per field (the fold makes a state per
        # event). The fold hands over FrozenMaps already; anything else is wrapped here.
        maps = _STATE_MAPS(self)
        if set(map(type, maps)) != _ALL_FROZEN:
            for name, value in zip(_MAP_FIELDS, maps, strict=True):
                object.__setattr__(self, name, frozen_map(value))


#: The state's map fields (those defaulting to EMPTY; a test checks that every Mapping field does), read
#: at once in C.
_MAP_FIELDS = tuple(field.name for field in attrs.fields(EpisodeState) if field.default is EMPTY)
_STATE_MAPS = operator.attrgetter(*_MAP_FIELDS)
_ALL_FROZEN = {FrozenMap}


def start(episode_id: str, clinic_id: str, opened: EpisodeOpened) -> EpisodeState:
    """The state right after an ``episode-opened`` event."""
    return EpisodeState(
        episode_id=episode_id,
        client_ref=opened.client_ref,
        clinic_id=clinic_id,
        clinician_id=opened.clinician_id,
        opened_on=opened.opened_on,
        version=1,
        last_activity_on=opened.opened_on,
        population=opened.population,
    )


def fold(state: EpisodeState, events: Iterable[Event]) -> EpisodeState:
    for event in events:
        # the fold registered for the event's own class, read from apply's live registry (what apply's
        # dispatch returns for it), without the dispatch's per-call cache lookup; else apply decides
        own = _folds.get(type(event))
        state = apply(event, state) if own is None else own(event, state)
    return state


#: EpisodeState's fields in order, and all their values read at once in C: ``attrs.evolve`` walks the class's
#: fields on every call, and the fold runs on every command.
_STATE_FIELDS = tuple(field.name for field in attrs.fields(EpisodeState))
_STATE_VALUES = operator.attrgetter(*_STATE_FIELDS)
_STATE_INDEX = {name: i for i, name in enumerate(_STATE_FIELDS)}


def _evolve(state: EpisodeState, changes: Mapping[str, Any]) -> EpisodeState:
    """``attrs.evolve`` for EpisodeState (which has no converters or private fields), for less."""
    values = list(_STATE_VALUES(state))
    for name, value in changes.items():
        # a map the fold built: read-only before the state holds it (what __attrs_post_init__ would do)
        values[_STATE_INDEX[name]] = frozen_map(value) if type(value) is dict else value
    return EpisodeState(*values)


def _touch(state: EpisodeState, on: date, **changes: Any) -> EpisodeState:
    last = state.last_activity_on
    changes["version"] = state.version + 1
    changes["last_activity_on"] = on if last is None or on > last else last
    return _evolve(state, changes)


@singledispatch
def apply(event: Event, state: EpisodeState) -> EpisodeState:
    raise TypeError(f"no fold for event type {type(event).__name__}")  # pragma: no cover


#: apply's implementations by class: a live view (a fold registered later is seen at once).
_folds = apply.registry


@apply.register
def _(event: EpisodeOpened, state: EpisodeState) -> EpisodeState:
    raise TypeError("episode-opened only starts a stream")  # pragma: no cover


@apply.register
def _(event: ConsultationRecorded, state: EpisodeState) -> EpisodeState:
    consultation = event.consultation
    return _touch(
        state,
        consultation.held_on,
        consultation_on=consultation.held_on,
        treatment_consent=consultation.consent.treatment,
        measures_consent=consultation.consent.measures,
    )


@apply.register
def _(event: FitDecided, state: EpisodeState) -> EpisodeState:
    decision = event.decision
    stage = Stage.GOAL_SETTING if decision.outcome is FitOutcome.PROCEED else state.stage
    return _touch(state, decision.decided_on, fit=decision.outcome, fit_on=decision.decided_on, stage=stage)


@apply.register
def _(event: GoalAgreed, state: EpisodeState) -> EpisodeState:
    goals = {**state.goals, event.goal_id: GoalState(GoalStatus.ACTIVE)}
    stage = Stage.ACTIVE if state.stage is Stage.GOAL_SETTING else state.stage
    return _touch(state, event.agreed_on, goals=goals, stage=stage)


@apply.register
def _(event: GoalRevised, state: EpisodeState) -> EpisodeState:
    revision = event.revision
    old = state.goals[revision.goal_id]
    new = GoalState(revision.status or old.status, old.revisions + 1)
    return _touch(state, event.revised_on, goals={**state.goals, revision.goal_id: new})


def _scores_after(
    state: EpisodeState, scores: Iterable[RecordedScore], point_on: date, number: int
) -> dict[str, Any]:
    first, latest, previous = state.first_scores, dict(state.latest_scores), dict(state.previous_scores)
    tracks: dict[str, TrackedScores] | None = None
    for score in scores:
        point = ScorePoint(score.total, point_on, number)
        if not score.own:
            tracks = dict(state.tracks) if tracks is None else tracks
            about = score.about or state.client_ref
            key = track_key(score.measure_id, about, score.rater)
            old = tracks.get(key)
            tracks[key] = (
                TrackedScores(score.measure_id, about, score.rater, point, point)
                if old is None
                else attrs.evolve(old, latest=point, previous=old.latest)
            )
            continue
        if score.measure_id not in first:  # first scores change once per measure: copy only then
            first = {**first, score.measure_id: point}
        if score.measure_id in latest:
            previous[score.measure_id] = latest[score.measure_id]
        latest[score.measure_id] = point
    changes: dict[str, Any] = {"first_scores": first, "latest_scores": latest, "previous_scores": previous}
    if tracks is not None:
        changes["tracks"] = tracks
    return changes


@apply.register
def _(event: SessionRecorded, state: EpisodeState) -> EpisodeState:
    session = event.session
    attended = session.attendance is Attendance.ATTENDED
    last = state.last_session_on
    changes: dict[str, Any] = {
        "sessions_scheduled": state.sessions_scheduled + 1,
        "last_session_on": session.held_on if last is None or session.held_on > last else last,
        "consecutive_missed": 0
        if attended
        else state.consecutive_missed + (session.attendance is Attendance.NO_SHOW),
    }
    if attended:
        modality = session.modality.value
        changes["modality_counts"] = {
            **state.modality_counts,
            modality: state.modality_counts.get(modality, 0) + 1,
        }
        changes["sessions_attended"] = state.sessions_attended + 1
        changes["last_attended_on"] = session.held_on
        changes.update(_scores_after(state, event.scores, session.held_on, event.number))
        own = [score.measure_id for score in event.scores if score.own]
        if own:
            changes["administered_at"] = {
                **state.administered_at,
                **dict.fromkeys(own, state.sessions_attended + 1),
            }
    return _touch(state, session.held_on, **changes)


@apply.register
def _(event: SessionCorrected, state: EpisodeState) -> EpisodeState:
    # A correction fixes content (answers, notes, modality); counts and dates stay as first recorded.
    if event.as_corrected is None:
        return _corrected_in_place(event, state)
    changes = _scores_as_corrected(state, event.as_corrected)
    changes["version"] = state.version + 1
    return _evolve(state, changes)


def _scores_as_corrected(state: EpisodeState, corrected: Iterable[ScoresAsCorrected]) -> dict[str, Any]:
    """The state's points of each measure a correction touched, as the correction carries them (worked
    out from the stream when it was made: see :mod:`alliancekit.lifecycle.corrected_scores`)."""
    first, previous, latest = dict(state.first_scores), dict(state.previous_scores), dict(state.latest_scores)
    administered = dict(state.administered_at)
    tracks = dict(state.tracks)
    for scores in corrected:
        measure_id = scores.measure_id
        if scores.own:
            _put(first, measure_id, scores.first)
            _put(previous, measure_id, scores.previous)
            _put(latest, measure_id, scores.latest)
            _put(administered, measure_id, scores.administered_at)
            continue
        about = scores.about or state.client_ref
        key = track_key(measure_id, about, scores.rater)
        if scores.first is None or scores.latest is None:
            tracks.pop(key, None)
        else:
            tracks[key] = TrackedScores(
                measure_id, about, scores.rater, scores.first, scores.latest, scores.previous
            )
    return {
        "first_scores": first,
        "previous_scores": previous,
        "latest_scores": latest,
        "administered_at": administered,
        "tracks": tracks,
    }


def _put(values: dict[str, Any], key: str, value: object) -> None:
    if value is None:
        values.pop(key, None)
    else:
        values[key] = value


def _corrected_in_place(event: SessionCorrected, state: EpisodeState) -> EpisodeState:
    """A correction stored before ``session-corrected`` version 4, folded as it always was (so its snapshot
    still equals the fold): the totals of the points that came from the corrected session are replaced,
    and a score it took out, or added, is not seen."""
    changes: dict[str, Any] = {}
    own = [score for score in event.scores if score.own]
    for name in ("first_scores", "latest_scores", "previous_scores"):
        points = dict(getattr(state, name))
        for score in own:
            point = points.get(score.measure_id)
            if point is not None and point.session_number == event.number:
                points[score.measure_id] = attrs.evolve(point, total=score.total)
        changes[name] = points
    if len(own) < len(event.scores):
        changes["tracks"] = _corrected_tracks(state, event)
    changes["version"] = state.version + 1
    return _evolve(state, changes)


def _corrected_tracks(state: EpisodeState, event: SessionCorrected) -> dict[str, TrackedScores]:
    tracks = dict(state.tracks)
    for score in event.scores:
        if score.own:
            continue
        key = track_key(score.measure_id, score.about or state.client_ref, score.rater)
        track = tracks.get(key)
        if track is None:
            continue
        fixed = {
            name: attrs.evolve(point, total=score.total)
            for name in ("first", "latest", "previous")
            if (point := getattr(track, name)) is not None and point.session_number == event.number
        }
        tracks[key] = attrs.evolve(track, **fixed)
    return tracks


@apply.register
def _(event: ClientResponseRecorded, state: EpisodeState) -> EpisodeState:
    on = event.responded_on
    changes = _scores_after(state, event.scores, on, event.at_session)
    own = [score.measure_id for score in event.scores if score.own]
    if own:
        # A protocol counts administrations by attended session: a response before a session that is
        # not yet recorded counts at that session, any other at the last one attended.
        upcoming = event.point is RequestPoint.START and event.session_id is None
        changes["administered_at"] = {
            **state.administered_at,
            **dict.fromkeys(own, state.sessions_attended + upcoming),
        }
    return _touch(state, on, **changes)


@apply.register
def _(event: ReviewRecorded, state: EpisodeState) -> EpisodeState:
    return _touch(
        state,
        event.review.held_on,
        reviews=state.reviews + 1,
        last_review_at_session=state.sessions_scheduled,
        attended_at_last_review=state.sessions_attended,
        review_requested=False,
    )


@apply.register
def _(event: RuptureNoted, state: EpisodeState) -> EpisodeState:
    open_ruptures = dict(state.open_ruptures)
    dates = dict(state.open_rupture_dates)
    if not event.note.resolved:
        open_ruptures[event.rupture_id] = event.at_session
        dates[event.rupture_id] = event.note.noted_on
    return _touch(
        state,
        event.note.noted_on,
        open_ruptures=open_ruptures,
        open_rupture_dates=dates,
        ruptures_noted=state.ruptures_noted + 1,
    )


@apply.register
def _(event: RuptureRepairRecorded, state: EpisodeState) -> EpisodeState:
    open_ruptures = dict(state.open_ruptures)
    dates = dict(state.open_rupture_dates)
    if event.attempt.resolved:
        open_ruptures.pop(event.rupture_id, None)
        dates.pop(event.rupture_id, None)
    return _touch(state, event.attempt.attempted_on, open_ruptures=open_ruptures, open_rupture_dates=dates)


@apply.register
def _(event: EpisodePutOnHold, state: EpisodeState) -> EpisodeState:
    return _touch(state, event.on, stage=Stage.ON_HOLD, stage_before_hold=state.stage)


@apply.register
def _(event: EpisodeResumed, state: EpisodeState) -> EpisodeState:
    return _touch(state, event.on, stage=state.stage_before_hold or Stage.ACTIVE, stage_before_hold=None)


@apply.register
def _(event: ClinicianTransferred, state: EpisodeState) -> EpisodeState:
    return _touch(state, event.on, clinician_id=event.to_clinician_id)


@apply.register
def _(event: EndingPlanned, state: EpisodeState) -> EpisodeState:
    return _touch(state, event.on, stage=Stage.ENDING, ending_planned_on=event.on)


@apply.register
def _(event: EpisodeClosed, state: EpisodeState) -> EpisodeState:
    ending = event.ending
    return _touch(
        state,
        event.on,
        stage=Stage.CLOSED,
        closing_reason=event.closing_reason,
        ending_reason=None if ending is None else ending.reason,
        ending_planned=None if ending is None else ending.planned,
        closed_on=event.on,
    )


@apply.register
def _(event: ParticipantAdded, state: EpisodeState) -> EpisodeState:
    p = event.participant
    joined = ParticipantState(p.role, p.consent.measures, joined_on=event.added_on)
    return _touch(state, event.added_on, participants={**state.participants, p.client_ref: joined})


@apply.register
def _(event: GroupJoined, state: EpisodeState) -> EpisodeState:
    return _touch(
        state, event.joined_on, group_id=event.group_id, facilitator_ids=tuple(event.facilitator_ids)
    )


# Process notes, addenda, statements of disagreement and lockbox directives change nothing the rules or the
# caseload need: they are read from the stream. Only the version moves.


@apply.register(AdministrationRequested)
@apply.register(AdministrationRequestRevoked)
@apply.register(ProcessNoteRecorded)
@apply.register(SessionAddendumAdded)
@apply.register(DisagreementAttached)
def _only_the_version_moves(event: Event, state: EpisodeState) -> EpisodeState:
    return _evolve(state, {"version": state.version + 1})


@apply.register
def _(event: LockboxSet, state: EpisodeState) -> EpisodeState:
    directive = LockboxState(event.scope, tuple(event.classes), tuple(event.recipients))
    return _evolve(
        state, {"version": state.version + 1, "lockbox": {**state.lockbox, event.directive_id: directive}}
    )


@apply.register
def _(event: LockboxLifted, state: EpisodeState) -> EpisodeState:
    lockbox = {k: v for k, v in state.lockbox.items() if k != event.directive_id}
    return _evolve(state, {"version": state.version + 1, "lockbox": lockbox})


@apply.register
def _(event: AlertRaised, state: EpisodeState) -> EpisodeState:
    alert = AlertState(
        event.rule_id,
        event.severity,
        AlertStatus.RAISED,
        event.measure_id,
        event.raised_on,
        event.message,
        event.participant,
    )
    keys = state.alert_keys_raised
    return _evolve(
        state,
        {
            "version": state.version + 1,
            "alerts": {**state.alerts, event.alert_id: alert},
            "alert_keys_raised": keys if alert.key in keys else (*keys, alert.key),
            "review_requested": state.review_requested
            or event.severity in (AlertSeverity.RED, AlertSeverity.URGENT),
        },
    )


@apply.register
def _(event: AlertAcknowledged, state: EpisodeState) -> EpisodeState:
    alerts = dict(state.alerts)
    alerts[event.alert_id] = attrs.evolve(alerts[event.alert_id], status=AlertStatus.ACKNOWLEDGED)
    return _evolve(state, {"version": state.version + 1, "alerts": alerts})


@apply.register
def _(event: AlertResolved, state: EpisodeState) -> EpisodeState:
    alerts = dict(state.alerts)
    alerts.pop(event.alert_id, None)
    return _evolve(state, {"version": state.version + 1, "alerts": alerts})


@apply.register
def _(event: MeasuresConsentChanged, state: EpisodeState) -> EpisodeState:
    # the participant's say, not clinical activity: the day of last activity stays
    if event.participant is not None:
        changed = attrs.evolve(
            state.participants[event.participant],
            measures_consent=event.measures,
            measures_consent_changed_on=event.changed_on,
        )
        participants = {**state.participants, event.participant: changed}
        return _evolve(state, {"version": state.version + 1, "participants": participants})
    return _evolve(
        state,
        {
            "version": state.version + 1,
            "measures_consent": event.measures,
            "measures_consent_changed_on": event.changed_on,
        },
    )


@apply.register
def _(event: PopulationChanged, state: EpisodeState) -> EpisodeState:
    # how the scores are read, not clinical activity: the day of last activity stays
    return _evolve(state, {"version": state.version + 1, "population": event.population})


@apply.register
def _(event: ProtocolSet, state: EpisodeState) -> EpisodeState:
    # a schedule, not clinical activity: the day of last activity stays
    return _evolve(
        state,
        {"version": state.version + 1, "protocol": event.protocol, "protocol_from": state.sessions_attended},
    )
