"""Lifecycle rules as pure functions: (state, command) -> new events, or a refusal in a clinician's words.

:data:`TRANSITIONS` is the table of which command is allowed in which stage and what it leads to; the docs
print it (``docs/reference/lifecycle.md`` is generated from it, and a test fails if the two drift). Rules that
are not about the stage (dates in order, goals that exist, a plan at a planned ending) follow in each
command's decider.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

import attrs

from alliancekit.domain.records import Administration, Session
from alliancekit.domain.vocab import (
    CONFRONTATION_MARKERS,
    WITHDRAWAL_MARKERS,
    AlertStatus,
    Attendance,
    ClosingReason,
    FitOutcome,
    ParticipantRole,
    RuptureKind,
    Stage,
)
from alliancekit.errors import LifecycleError, NotFoundError, ValidationError
from alliancekit.events.catalog import LOCKBOX_CLASSES
from alliancekit.events.types import (
    AdministrationRequested,
    AdministrationRequestRevoked,
    AlertAcknowledged,
    AlertResolved,
    ClientResponseRecorded,
    ClinicianTransferred,
    ConsultationRecorded,
    DisagreementAttached,
    EndingPlanned,
    EpisodeClosed,
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
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionAddendumAdded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.corrected_scores import scores_as_corrected
from alliancekit.lifecycle.state import EpisodeState

OPEN = (Stage.CONSULTATION, Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ON_HOLD, Stage.ENDING)
TREATING = (Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ENDING)
ANY = (*OPEN, Stage.CLOSED)


@attrs.frozen
class Transition:
    """One row of the transition table."""

    command: type[c.Command]
    allowed_in: tuple[Stage, ...]
    leads_to: str
    """Where the episode goes, in words (some commands branch on their content)."""
    refusal: str
    """What a clinician is told when the stage is wrong."""


TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        c.RecordConsultation,
        (Stage.CONSULTATION,),
        "consultation (stays)",
        "the consultation is already past: a fit decision has been made",
    ),
    Transition(
        c.DecideFit,
        (Stage.CONSULTATION,),
        "goal-setting (proceed); closed (refer, not proceed)",
        "a fit decision has already been made for this episode",
    ),
    Transition(
        c.AgreeGoals,
        (Stage.GOAL_SETTING, Stage.ACTIVE),
        "active",
        "cannot agree goals before a fit decision to proceed",
    ),
    Transition(
        c.ReviseGoal,
        (Stage.ACTIVE, Stage.ON_HOLD, Stage.ENDING),
        "(stays)",
        "goals can only be revised once they have been agreed",
    ),
    Transition(
        c.RecordSession, TREATING, "(stays)", "cannot record a session before a fit decision to proceed"
    ),
    Transition(c.CorrectSession, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(
        c.RecordReview,
        (Stage.ACTIVE, Stage.ENDING),
        "(stays)",
        "a progress review needs agreed goals and an active episode",
    ),
    Transition(c.NoteRupture, TREATING, "(stays)", "a rupture can only be noted while therapy is under way"),
    Transition(
        c.RecordRepair,
        (*TREATING, Stage.ON_HOLD),
        "(stays)",
        "a repair can only be recorded while the episode is open",
    ),
    Transition(
        c.PutOnHold,
        (Stage.GOAL_SETTING, Stage.ACTIVE),
        "on-hold",
        "only an episode in goal setting or active therapy can be put on hold",
    ),
    Transition(
        c.Resume, (Stage.ON_HOLD,), "the stage it was in before the hold", "the episode is not on hold"
    ),
    Transition(c.TransferClinician, OPEN, "(stays)", "a closed episode cannot be transferred"),
    Transition(
        c.PlanEnding, (Stage.ACTIVE,), "ending", "an ending can only be planned during active therapy"
    ),
    Transition(
        c.CloseEpisode,
        (Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ON_HOLD, Stage.ENDING),
        "closed",
        "the episode cannot be closed from this stage",
    ),
    Transition(c.AddParticipant, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.JoinGroup, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.RecordProcessNote, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.AddAddendum, ANY, "(stays)", "never refused by stage"),
    Transition(c.AttachDisagreement, ANY, "(stays)", "never refused by stage"),
    Transition(c.SetLockbox, ANY, "(stays)", "never refused by stage"),
    Transition(c.LiftLockbox, ANY, "(stays)", "never refused by stage"),
    Transition(c.RequestAdministration, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.RevokeRequest, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.RecordClientResponse, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.AcknowledgeAlert, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.ResolveAlert, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.SetProtocol, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.ChangePopulation, OPEN, "(stays)", "a closed episode cannot be changed"),
    Transition(c.ChangeMeasuresConsent, OPEN, "(stays)", "a closed episode cannot be changed"),
)

_BY_COMMAND = {t.command: t for t in TRANSITIONS}


def _refuse(rule: str, message: str) -> LifecycleError:
    return LifecycleError(rule, message)


def _check_stage(state: EpisodeState, command: c.Command) -> None:
    transition = _BY_COMMAND[type(command)]
    if state.stage in transition.allowed_in:
        return
    if state.stage is Stage.CLOSED:
        raise _refuse("episode-closed", "the episode is closed: nothing more can be recorded in it")
    if state.stage is Stage.ON_HOLD and type(command) in (c.RecordSession, c.RecordReview, c.NoteRupture):
        raise _refuse("episode-on-hold", "the episode is on hold: resume it before recording this")
    if type(command) is c.CloseEpisode and state.stage is Stage.CONSULTATION:
        raise _refuse("stage", "an episode still in consultation closes through the fit decision")
    raise _refuse("stage", transition.refusal)


def _not_before(on: date, floor: date | None, what: str, floor_name: str) -> None:
    if floor is not None and on < floor:
        raise _refuse("date-order", f"{what} cannot be dated before {floor_name}")


def decide(state: EpisodeState, command: c.Command) -> list[Event]:
    """The events that ``command`` adds to the episode, or a :class:`LifecycleError` saying why not."""
    _check_stage(state, command)
    return _close_open_alerts(state, list(_DECIDERS[type(command)](state, command)))


#: The note on alerts still open when their episode closes.
CLOSING_NOTE = "resolved when the episode closed"


def _close_open_alerts(state: EpisodeState, events: list[Event]) -> list[Event]:
    """Resolve the open alerts in the closing commit, each with :data:`CLOSING_NOTE`, just before the
    episode closes: an alert of a closed episode could otherwise never be resolved."""
    for i, event in enumerate(events):
        if isinstance(event, EpisodeClosed) and state.alerts:
            resolved = [AlertResolved(alert_id, event.on, CLOSING_NOTE) for alert_id in state.alerts]
            return [*events[:i], *resolved, *events[i:]]
    return events


def _consultation(state: EpisodeState, cmd: c.RecordConsultation) -> list[Event]:
    if state.consultation_on is not None:
        raise _refuse("consultation-recorded", "the consultation has already been recorded")
    _not_before(cmd.consultation.held_on, state.opened_on, "the consultation", "the episode was opened")
    return [ConsultationRecorded(cmd.consultation)]


def _fit(state: EpisodeState, cmd: c.DecideFit) -> list[Event]:
    decision = cmd.decision
    if state.consultation_on is None:
        raise _refuse("consultation-missing", "a fit decision needs the consultation recorded first")
    _not_before(decision.decided_on, state.consultation_on, "the fit decision", "the consultation")
    if decision.outcome is FitOutcome.PROCEED and not state.treatment_consent:
        raise _refuse("consent", "a fit decision to proceed needs the client's consent to treatment")
    if decision.outcome is FitOutcome.REFER and not decision.referred_to:
        raise _refuse("referral-target", "a referral must say to whom the client is referred")
    events: list[Event] = [FitDecided(decision)]
    if decision.outcome is FitOutcome.REFER:
        events.append(EpisodeClosed(ClosingReason.REFERRED_AT_CONSULTATION, decision.decided_on))
    elif decision.outcome is FitOutcome.NOT_PROCEED:
        events.append(EpisodeClosed(ClosingReason.NOT_PROCEEDING, decision.decided_on))
    return events


def _goals(state: EpisodeState, cmd: c.AgreeGoals) -> list[Event]:
    if not cmd.goals:
        raise _refuse("goals-empty", "at least one goal must be agreed")
    _not_before(cmd.agreed_on, state.fit_on, "goals", "the fit decision")
    for goal in cmd.goals:
        if not goal.description.strip():
            raise _refuse("goal-description", "each goal needs a description in the client's words")
    return [
        GoalAgreed(goal_id, goal.description, goal.tasks, cmd.agreed_on)
        for goal_id, goal in zip(cmd.goal_ids, cmd.goals, strict=True)
    ]


def _revise(state: EpisodeState, cmd: c.ReviseGoal) -> list[Event]:
    if cmd.revision.goal_id not in state.goals:
        raise NotFoundError("goal", cmd.revision.goal_id)
    _not_before(cmd.revised_on, state.fit_on, "a goal revision", "the fit decision")
    return [GoalRevised(cmd.revision, cmd.revised_on)]


#: The rule of a reference to someone who does not take part in the episode.
NOT_A_PARTICIPANT = "participant-not-in-episode"
#: Why a session's second administration of a measure is refused (rule ``unique``).
ONCE_PER_SESSION = "a measure is given once per session for each person, rater and timing"


#: The rule of a measure about someone who has not consented to measures.
CONSENT_MEASURES = "consent-measures"


def check_client_consent(state: EpisodeState, about: str | None, field: str, on: date | None = None) -> None:
    """Refuse a measure about the identified client (``about`` ``None`` or their reference) unless their
    consent to measures is in force: given at the consultation (before it is recorded there is no consent to
    rely on; an imported history records its consultation first) and not withdrawn since, or given later,
    when the measure (dated ``on``; ``None``: today) is not dated before the day they agreed."""
    if about is not None and about != state.client_ref:
        return
    if not state.measures_consent:
        if state.consultation_on is None:
            detail = "the client's consent to measures is given at the consultation, not yet recorded"
        elif state.measures_consent_changed_on is not None:
            detail = "the client has withdrawn their consent to measures"
        else:
            detail = "the client has not consented to measures"
        raise ValidationError(field, CONSENT_MEASURES, detail)
    _not_before_consent(on, state.measures_consent_changed_on, field, "the client")


def check_participant_joined(state: EpisodeState, about: str, field: str, on: date) -> None:
    """Refuse a measure about another participant (``about``, one of the episode's) dated before the day
    they joined: their consent to measures was given then, so the refusal is the one of a measure dated
    before their consent (rule ``consent-measures``, naming the field, never them)."""
    if not _joined_by(state, about, on):
        detail = "the measure is dated before that participant joined the episode"
        raise ValidationError(field, CONSENT_MEASURES, detail)


def _joined_by(state: EpisodeState, ref: str, on: date) -> bool:
    """Whether another participant (``ref``, one of the episode's) had joined it by ``on``: not when ``on``
    is before their join day (unknown only in a snapshot of an older shape, which is folded again)."""
    joined_on = state.participants[ref].joined_on
    return joined_on is None or on >= joined_on


def check_participant_consent(state: EpisodeState, about: str, field: str, on: date | None = None) -> None:
    """Refuse a measure about another participant (``about``, one of the episode's) unless their consent
    to measures is in force: given when they joined and not withdrawn since, or given later, when the
    measure (dated ``on``) is not dated before the day they agreed. The same rule and error as the
    client's: the measure is not allowed for this person, whatever the episode's stage."""
    participant = state.participants[about]
    if not participant.measures_consent:
        detail = (
            "that participant has withdrawn their consent to measures"
            if participant.measures_consent_changed_on is not None
            else "that participant has not consented to measures"
        )
        raise ValidationError(field, CONSENT_MEASURES, detail)
    _not_before_consent(on, participant.measures_consent_changed_on, field, "that participant")


def _not_before_consent(on: date | None, agreed_on: date | None, field: str, who: str) -> None:
    if on is not None and agreed_on is not None and on < agreed_on:
        raise ValidationError(
            field, CONSENT_MEASURES, f"the measure is dated before {who} consented to measures"
        )


def check_participants(state: EpisodeState, session: Session, kept: Sequence[Administration] = ()) -> None:
    """Everyone a session names (present, rated, rating) takes part in the episode, none is present or
    measured on a day before they joined, everyone a measure is about (the identified client too) consents
    to measures, and no measure is given twice to the same person, by the same rater, at the same
    point of the session. ``kept``: a corrected session's measures as they stand, recorded with consent; a
    correction may keep them after it is withdrawn (not on a day before the participant joined)."""
    for i, ref in enumerate(session.attended_by):
        if not state.has_participant(ref):
            raise ValidationError(f"session.attended_by[{i}]", NOT_A_PARTICIPANT)
        # present at a session before they joined: not in the episode on that day
        if ref in state.participants and not _joined_by(state, ref, session.held_on):
            detail = "the session is dated before that participant joined the episode"
            raise ValidationError(f"session.attended_by[{i}]", NOT_A_PARTICIPANT, detail)
    # A measure given twice (a form sent twice, a row imported twice) would make one session both the
    # intake and the latest score: a change never measured, in the alerts and the outcomes. Checked here, on
    # the way in, not on the records: sessions stored before the check must still read.
    given: set[tuple[object, ...]] = set()
    for i, admin in enumerate(session.administrations):
        key = (admin.measure_id, admin.about, admin.rater, admin.rater_ref, admin.timing)
        if key in given:
            raise ValidationError(f"session.administrations[{i}]", "unique", ONCE_PER_SESSION)
        given.add(key)
    for i, admin in enumerate(session.administrations):
        about, field = admin.about, f"session.administrations[{i}].about"
        if about is None or about == state.client_ref:
            if admin not in kept:
                check_client_consent(state, about, field, session.held_on)
            continue
        if not state.has_participant(about):
            raise ValidationError(field, NOT_A_PARTICIPANT)
        # a kept measure too: one dated before they joined was never taken with their consent, and a
        # correction may move the session's day
        check_participant_joined(state, about, field, session.held_on)
        if admin not in kept:
            check_participant_consent(state, about, field, session.held_on)


def _session(state: EpisodeState, cmd: c.RecordSession) -> list[Event]:
    session = cmd.session
    _not_before(session.held_on, state.consultation_on, "a session", "the consultation")
    check_participants(state, session)
    if session.group_session_id is not None and state.group_id is None:
        raise _refuse("group-member", "a group session is recorded for members of a group only")
    if session.attendance is not Attendance.ATTENDED and session.administrations:
        raise _refuse("measures-without-attendance", "measures can only be given in an attended session")
    attended = session.attendance is Attendance.ATTENDED
    return [
        SessionRecorded(
            session_id=cmd.session_id,
            number=state.sessions_scheduled + 1,
            attended_number=state.sessions_attended + 1 if attended else None,
            session=session,
            scores=cmd.scores,
            group_session_minted=cmd.group_session_minted and session.group_session_id is not None,
        )
    ]


def _correct(state: EpisodeState, cmd: c.CorrectSession) -> list[Event]:
    original = cmd.original
    if original is None:
        raise NotFoundError("session", cmd.session_id)
    if cmd.session.attendance is not original.attendance:
        raise _refuse(
            "correction-attendance", "a correction cannot change attendance: record it as a new fact"
        )
    _not_before(cmd.session.held_on, state.consultation_on, "a session", "the consultation")
    check_participants(state, cmd.session, _standing(cmd))
    # what the correction makes of the episode's scores, from the stream (the state alone cannot say)
    points = scores_as_corrected(state.client_ref, cmd.scored, cmd.session_id, cmd.session, cmd.scores)
    return [SessionCorrected(cmd.session_id, original.number, cmd.session, cmd.scores, cmd.reason, points)]


def _standing(cmd: c.CorrectSession) -> tuple[Administration, ...]:
    """The measures of the corrected session as it stands (as recorded or last corrected)."""
    standing: tuple[Administration, ...] = ()
    for event in cmd.scored:
        if isinstance(event, SessionRecorded | SessionCorrected) and event.session_id == cmd.session_id:
            standing = event.session.administrations
    return standing


def _review(state: EpisodeState, cmd: c.RecordReview) -> list[Event]:
    _not_before(cmd.review.held_on, state.consultation_on, "a review", "the consultation")
    for note in cmd.review.goal_progress:
        if note.goal_id not in state.goals:
            raise NotFoundError("goal", note.goal_id)
    due = review_due(state, cmd.review_every)
    return [ReviewRecorded(cmd.review_id, cmd.review, scheduled=due, scores=cmd.scores)]


def review_due(state: EpisodeState, every: int) -> bool:
    """A review is due once ``every`` sessions have been attended since the last one, or when a red or
    urgent alert asked for one (see :mod:`alliancekit.feedback`)."""
    if state.review_requested:
        return True
    return state.sessions_attended > 0 and state.sessions_attended - state.attended_at_last_review >= every


def _rupture(state: EpisodeState, cmd: c.NoteRupture) -> list[Event]:
    note = cmd.note
    _not_before(note.noted_on, state.consultation_on, "a rupture note", "the consultation")
    if not note.markers:
        raise _refuse("rupture-markers", "a rupture note needs at least one marker")
    if not 1 <= note.salience <= 5:
        raise _refuse("rupture-salience", "rupture salience is rated from 1 to 5")
    if note.session_id is not None and not cmd.session_found:
        raise NotFoundError("session", note.session_id)
    expected = WITHDRAWAL_MARKERS if note.kind is RuptureKind.WITHDRAWAL else CONFRONTATION_MARKERS
    if not set(note.markers) <= expected:
        raise _refuse("rupture-markers", f"the markers do not all belong to a {note.kind.value} rupture")
    return [RuptureNoted(cmd.rupture_id, note, at_session=state.sessions_scheduled)]


def _repair(state: EpisodeState, cmd: c.RecordRepair) -> list[Event]:
    # one the actor's view leaves out is answered as an unknown id: the answer confirms nothing
    if not cmd.seen or cmd.rupture_id not in state.open_ruptures:
        raise _refuse("rupture-not-open", "that rupture is not open: it was resolved or never noted")
    _not_before(
        cmd.attempt.attempted_on, state.open_rupture_dates.get(cmd.rupture_id), "a repair", "the rupture"
    )
    if not cmd.attempt.strategies:
        raise _refuse("repair-strategies", "a repair attempt needs at least one strategy")
    _not_before(cmd.attempt.attempted_on, state.consultation_on, "a repair attempt", "the consultation")
    return [RuptureRepairRecorded(cmd.rupture_id, cmd.attempt)]


def _hold(state: EpisodeState, cmd: c.PutOnHold) -> list[Event]:
    _not_before(cmd.on, state.last_activity_on, "the hold", "the latest entry in the record")
    return [EpisodePutOnHold(cmd.on, cmd.reason)]


def _resume(state: EpisodeState, cmd: c.Resume) -> list[Event]:
    _not_before(cmd.on, state.last_activity_on, "resuming", "the hold")
    return [EpisodeResumed(cmd.on)]


def _transfer(state: EpisodeState, cmd: c.TransferClinician) -> list[Event]:
    if cmd.to_clinician_id == state.clinician_id:
        raise _refuse("transfer-same", "the episode is already with that clinician")
    if not cmd.to_clinician_id:
        raise _refuse("transfer-target", "a transfer must name the clinician who takes over")
    _not_before(cmd.on, state.opened_on, "the transfer", "the episode was opened")
    return [ClinicianTransferred(state.clinician_id, cmd.to_clinician_id, cmd.on, cmd.reason)]


def _plan_ending(state: EpisodeState, cmd: c.PlanEnding) -> list[Event]:
    _not_before(cmd.on, state.last_activity_on, "planning the ending", "the latest entry in the record")
    if cmd.target_date is not None:
        _not_before(cmd.target_date, cmd.on, "the target ending date", "the day the ending was planned")
    return [EndingPlanned(cmd.on, cmd.target_date)]


def _close(state: EpisodeState, cmd: c.CloseEpisode) -> list[Event]:
    ending = cmd.ending
    _not_before(ending.ended_on, state.last_session_on, "the ending", "the last session")
    _not_before(ending.ended_on, state.last_activity_on, "the ending", "the latest entry in the record")
    _not_before(ending.ended_on, state.consultation_on, "the ending", "the consultation")
    if ending.planned:
        if state.stage is not Stage.ENDING:
            raise _refuse("ending-not-planned", "a planned ending must be planned first (plan the ending)")
        if ending.maintenance_plan is None and not (ending.no_plan_reason or "").strip():
            raise _refuse(
                "maintenance-plan",
                "an ending needs a maintenance plan or a stated reason why none was made",
            )
    return [EpisodeClosed(ClosingReason.ENDED, ending.ended_on, ending)]


def _add_participant(state: EpisodeState, cmd: c.AddParticipant) -> list[Event]:
    participant = cmd.participant
    if state.has_participant(participant.client_ref):
        raise _refuse("participant-present", "that client already takes part in this episode")
    if participant.role is ParticipantRole.CLIENT:
        raise _refuse("participant-role", "an episode has one identified client: give the others their role")
    _not_before(cmd.added_on, state.opened_on, "a participant", "the episode was opened")
    return [ParticipantAdded(participant, cmd.added_on)]


#: A group is run by one facilitator or two (co-therapists).
MAX_FACILITATORS = 2


def _join_group(state: EpisodeState, cmd: c.JoinGroup) -> list[Event]:
    if state.group_id is not None:
        raise _refuse("group-member", "the client already belongs to a group in this episode")
    if not 1 <= len(cmd.facilitator_ids) <= MAX_FACILITATORS or len(set(cmd.facilitator_ids)) != len(
        cmd.facilitator_ids
    ):
        raise ValidationError("facilitator_ids", "range", "one or two different clinicians")
    _not_before(cmd.joined_on, state.opened_on, "joining a group", "the episode was opened")
    return [GroupJoined(cmd.group_id, cmd.facilitator_ids, cmd.joined_on)]


def _process_note(state: EpisodeState, cmd: c.RecordProcessNote) -> list[Event]:
    if not cmd.text.strip():
        raise _refuse("process-note-empty", "a process note needs some text")
    return [ProcessNoteRecorded(cmd.note_id, cmd.author_id, cmd.written_on, cmd.text)]


def _addendum(state: EpisodeState, cmd: c.AddAddendum) -> list[Event]:
    if cmd.original is None:
        raise NotFoundError("session", cmd.session_id)
    if not cmd.text.strip():
        raise _refuse("addendum-empty", "an addendum needs some text")
    _not_before(cmd.added_on, cmd.original.held_on, "an addendum", "the session it adds to")
    return [SessionAddendumAdded(cmd.session_id, cmd.addendum_id, cmd.added_on, cmd.text, cmd.reason)]


def _disagreement(state: EpisodeState, cmd: c.AttachDisagreement) -> list[Event]:
    if not cmd.target_found:
        raise NotFoundError("event", cmd.target_event_id)
    if not cmd.statement.strip():
        raise _refuse("statement-empty", "a statement of disagreement needs some text")
    return [DisagreementAttached(cmd.statement_id, cmd.target_event_id, cmd.received_on, cmd.statement)]


#: What a lockbox directive withholds: the whole ``record``, the classes of items it names (``class``), or
#: the items (events) it names (``item``).
SCOPES = ("record", "class", "item")


def check_directive(scope: str, classes: Sequence[str], event_ids: Sequence[str]) -> None:
    """Refuse a directive that names nothing, or an unknown scope or class."""
    if scope not in SCOPES:
        raise ValidationError("scope", "enum", ", ".join(SCOPES))
    if scope == "class":
        if not classes:
            raise ValidationError("classes", "required", "a class directive names at least one class")
        for i, name in enumerate(classes):
            if name not in LOCKBOX_CLASSES:
                raise ValidationError(f"classes[{i}]", "enum", ", ".join(LOCKBOX_CLASSES))
    if scope == "item" and not event_ids:
        raise ValidationError("event_ids", "required", "an item directive names at least one item")


def _lockbox(state: EpisodeState, cmd: c.SetLockbox) -> list[Event]:
    check_directive(cmd.scope, cmd.classes, cmd.event_ids)
    if cmd.directive_id in state.lockbox:
        # a host's id maker that repeats itself: the new directive would replace the one in force (its
        # setter too, who may then lift it), not add to it
        raise ValidationError("ids", "directive-in-force", "a new directive's id names none in force")
    return [LockboxSet(cmd.directive_id, cmd.scope, cmd.classes, cmd.event_ids, cmd.recipients, cmd.set_on)]


def _lift(state: EpisodeState, cmd: c.LiftLockbox) -> list[Event]:
    if not cmd.known:
        raise NotFoundError("lockbox directive", cmd.directive_id)
    return [LockboxLifted(cmd.directive_id, cmd.lifted_on)]


def _protocol(state: EpisodeState, cmd: c.SetProtocol) -> list[Event]:
    _not_before(cmd.on, state.opened_on, "a measurement protocol", "the episode was opened")
    return [ProtocolSet(cmd.protocol, cmd.on)]


def _population(state: EpisodeState, cmd: c.ChangePopulation) -> list[Event]:
    _not_before(cmd.on, state.opened_on, "a change of norm population", "the episode was opened")
    if cmd.population == state.population:
        raise _refuse("same-population", "the episode's scores are already read against that population")
    return [PopulationChanged(cmd.population, cmd.on)]


def _measures_consent(state: EpisodeState, cmd: c.ChangeMeasuresConsent) -> list[Event]:
    what = "a change of consent to measures"
    if cmd.participant is not None and cmd.participant != state.client_ref:
        # another participant's consent, first given when they joined (before or after the consultation)
        participant = state.participants.get(cmd.participant)
        if participant is None:
            raise ValidationError("participant", NOT_A_PARTICIPANT)
        # they joined on or after the opening (which stands in only for a state that cannot say when)
        _not_before(cmd.on, participant.joined_on or state.opened_on, what, "that participant joined")
        _not_before(cmd.on, participant.measures_consent_changed_on, what, "the last one")
        if cmd.measures == participant.measures_consent:
            raise _refuse("same-consent", "that participant's consent to measures is already as recorded")
        return [MeasuresConsentChanged(cmd.measures, cmd.on, cmd.participant)]
    if state.consultation_on is None:
        raise _refuse(
            "consultation-missing", "the client's consent to measures is first given at the consultation"
        )
    _not_before(cmd.on, state.consultation_on, what, "the consultation")
    _not_before(cmd.on, state.measures_consent_changed_on, what, "the last one")
    if cmd.measures == state.measures_consent:
        raise _refuse("same-consent", "the client's consent to measures is already as recorded")
    return [MeasuresConsentChanged(cmd.measures, cmd.on)]


def _acknowledge(state: EpisodeState, cmd: c.AcknowledgeAlert) -> list[Event]:
    # one the actor's view leaves out is answered as an unknown id: the answer confirms nothing
    alert = state.alerts.get(cmd.alert_id) if cmd.seen else None
    if alert is None:
        raise _refuse("alert-not-open", "that alert is not open: it was resolved or never raised")
    if alert.status is AlertStatus.ACKNOWLEDGED:
        raise _refuse("alert-acknowledged", "that alert has already been acknowledged")
    return [AlertAcknowledged(cmd.alert_id, cmd.on)]


def _resolve(state: EpisodeState, cmd: c.ResolveAlert) -> list[Event]:
    if not cmd.seen or cmd.alert_id not in state.alerts:
        raise _refuse("alert-not-open", "that alert is not open: it was resolved or never raised")
    if not cmd.note.strip():
        raise _refuse("resolution-note", "resolving an alert needs a note saying what was done")
    return [AlertResolved(cmd.alert_id, cmd.on, cmd.note)]


def _request(state: EpisodeState, cmd: c.RequestAdministration) -> list[Event]:
    check_client_consent(state, None, "measure")  # a request asks the client about themselves
    _session_found(cmd.session_id, cmd.session_known)
    return [
        AdministrationRequested(
            cmd.request_id,
            cmd.measure_id,
            cmd.version,
            cmd.point,
            cmd.channel,
            cmd.requested_on,
            cmd.expires_at,
            cmd.session_id,
        )
    ]


def _session_found(session_id: str | None, known: bool) -> None:
    """A session a request or a response names must be one the episode has (and the actor's view shows):
    else a failed lookup, audited by the runner as not found."""
    if session_id is not None and not known:
        raise NotFoundError("session", session_id)


def _revoke_request(state: EpisodeState, cmd: c.RevokeRequest) -> list[Event]:
    if not cmd.revocable:
        raise _refuse("request-not-open", "that request is not open: it was used, revoked or never made")
    return [AdministrationRequestRevoked(cmd.request_id, cmd.revoked_on)]


def _client_response(state: EpisodeState, cmd: c.RecordClientResponse) -> list[Event]:
    check_client_consent(state, cmd.administration.about, "administration.about", cmd.responded_on)
    _session_found(cmd.session_id, cmd.session_known)
    return [
        ClientResponseRecorded(
            cmd.request_id,
            cmd.point,
            cmd.at_session,
            cmd.responded_on,
            cmd.administration,
            cmd.scores,
            cmd.session_id,
            cmd.responded_at,
        )
    ]


_DECIDERS: dict[type[c.Command], Callable[[EpisodeState, Any], Sequence[Event]]] = {
    c.RecordConsultation: _consultation,
    c.DecideFit: _fit,
    c.AgreeGoals: _goals,
    c.ReviseGoal: _revise,
    c.RecordSession: _session,
    c.CorrectSession: _correct,
    c.RecordReview: _review,
    c.NoteRupture: _rupture,
    c.RecordRepair: _repair,
    c.PutOnHold: _hold,
    c.Resume: _resume,
    c.TransferClinician: _transfer,
    c.PlanEnding: _plan_ending,
    c.CloseEpisode: _close,
    c.AddParticipant: _add_participant,
    c.JoinGroup: _join_group,
    c.RecordProcessNote: _process_note,
    c.AddAddendum: _addendum,
    c.AttachDisagreement: _disagreement,
    c.SetLockbox: _lockbox,
    c.LiftLockbox: _lift,
    c.AcknowledgeAlert: _acknowledge,
    c.SetProtocol: _protocol,
    c.ChangePopulation: _population,
    c.ChangeMeasuresConsent: _measures_consent,
    c.ResolveAlert: _resolve,
    c.RequestAdministration: _request,
    c.RevokeRequest: _revoke_request,
    c.RecordClientResponse: _client_response,
}


def transition_table_markdown() -> str:
    """The transition table as Markdown, for the docs (a test keeps the docs page in step)."""
    lines = [
        "| command | allowed in | leads to | refused elsewhere with |",
        "|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        stages = ", ".join(stage.value for stage in t.allowed_in)
        lines.append(f'| `{t.command.__name__}` | {stages} | {t.leads_to} | "{t.refusal}" |')
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the docs table
    import pathlib
    import re

    page = pathlib.Path("docs/reference/lifecycle.md")
    text = page.read_text(encoding="utf-8")
    table = transition_table_markdown()
    page.write_text(
        re.sub(
            r"(<!-- transitions:start -->\n).*?(<!-- transitions:end -->)",
            rf"\g<1>{table}\g<2>",
            text,
            flags=re.S,
        ),
        encoding="utf-8",
    )
