"""Every lifecycle rule in ``lifecycle/rules.py``: each refusal, and each command's events when allowed.

The deciders are pure, so most tests build an :class:`EpisodeState` directly and call ``decide``; the happy
paths that involve the store (corrections, the timeline) go through the facade on both builtin stores.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from alliancekit.domain import (
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalProgressNote,
    GoalRevision,
    Participant,
    ParticipantRole,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import Attendance, ClosingReason, FitOutcome, GoalStatus, RequestPoint, Stage
from alliancekit.errors import LifecycleError, NotFoundError, ValidationError
from alliancekit.events.types import (
    ClinicianTransferred,
    ConsultationRecorded,
    EndingPlanned,
    EpisodeClosed,
    EpisodePutOnHold,
    EpisodeResumed,
    FitDecided,
    GoalAgreed,
    GoalRevised,
    RecordedScore,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.rules import TRANSITIONS, decide, transition_table_markdown
from alliancekit.lifecycle.state import EpisodeState, GoalState, SessionRef, fold
from alliancekit.practice import Practice

from .conftest import (
    CANARY,
    DAY0,
    active_episode,
    attended,
    clinician,
    consultation,
    day,
    footprint,
    goal_setting_episode,
    goals,
    maintenance,
    missed,
    new_episode,
    ors,
    planned_ending,
    proceed,
    srs,
    stored_snapshot,
    unplanned_ending,
)

GOAL = "goal-a"
RUPTURE = "rupture-a"


def state(stage: Stage = Stage.ACTIVE, **changes: Any) -> EpisodeState:
    """A state in ``stage`` with the history that stage implies (consultation, consent, fit, one goal)."""
    base = EpisodeState(
        episode_id="ep-1",
        client_ref="client-1",
        clinic_id="clinic-1",
        clinician_id="clin-1",
        opened_on=DAY0,
        stage=stage,
        version=5,
        last_activity_on=day(2),
    )
    if stage is not Stage.CONSULTATION:
        base = attrs.evolve(
            base,
            consultation_on=day(0),
            treatment_consent=True,
            measures_consent=True,
            fit=FitOutcome.PROCEED,
            fit_on=day(1),
        )
    if stage in (Stage.ACTIVE, Stage.ON_HOLD, Stage.ENDING, Stage.CLOSED):
        base = attrs.evolve(base, goals={GOAL: GoalState(GoalStatus.ACTIVE)})
    if stage is Stage.ON_HOLD:
        base = attrs.evolve(base, stage_before_hold=Stage.ACTIVE)
    if stage is Stage.CLOSED:
        base = attrs.evolve(base, closing_reason=ClosingReason.ENDED, closed_on=day(2))
    return attrs.evolve(base, **changes)


def refusal(st: EpisodeState, command: c.Command) -> LifecycleError:
    with pytest.raises(LifecycleError) as caught:
        decide(st, command)
    assert CANARY not in str(caught.value)
    return caught.value


# --------------------------------------------------------------------------------- one valid command each


def rupture_note(**changes: Any) -> RuptureNote:
    fields: dict[str, Any] = {
        "noted_on": day(3),
        "kind": "withdrawal",
        "markers": ("minimal-response",),
        "likely_cause": "task-disagreement",
        "description": CANARY,
        "client_view": CANARY,
    }
    fields.update(changes)
    return RuptureNote(**fields)


def review(**changes: Any) -> Review:
    fields: dict[str, Any] = {
        "held_on": day(3),
        "decision": "continue",
        "progress_towards_goals": CANARY,
        "goal_progress": (GoalProgressNote(GOAL, "improving", CANARY),),
    }
    fields.update(changes)
    return Review(**fields)


def ref(attendance: Attendance = Attendance.ATTENDED) -> SessionRef:
    return SessionRef(day(3), attendance, 1, "event-of-session")


SAMPLES: dict[type[c.Command], c.Command] = {
    c.RecordConsultation: c.RecordConsultation(consultation(day(0))),
    c.DecideFit: c.DecideFit(proceed(day(1))),
    c.AgreeGoals: c.AgreeGoals(goals(1), day(3), ("goal-b",)),
    c.ReviseGoal: c.ReviseGoal(GoalRevision(GOAL, reason=CANARY, status="achieved"), day(3)),
    c.RecordSession: c.RecordSession("session-1", attended(day(3)), ()),
    c.CorrectSession: c.CorrectSession("session-1", ref(), attended(day(3)), (), CANARY, ()),
    c.RecordReview: c.RecordReview("review-1", review(), 6),
    c.NoteRupture: c.NoteRupture(RUPTURE, rupture_note(), False),
    c.RecordRepair: c.RecordRepair(RUPTURE, RepairAttempt(day(3), ("invite-client-view",), True, CANARY)),
    c.PutOnHold: c.PutOnHold(day(3), CANARY),
    c.Resume: c.Resume(day(3)),
    c.TransferClinician: c.TransferClinician("clin-2", day(3), CANARY),
    c.PlanEnding: c.PlanEnding(day(3), day(30)),
    c.CloseEpisode: c.CloseEpisode(unplanned_ending(day(3))),
    c.RecordProcessNote: c.RecordProcessNote("note-1", "clin-1", day(3), CANARY),
    c.AddAddendum: c.AddAddendum("s-1", None, "add-1", day(3), CANARY, CANARY),
    c.AttachDisagreement: c.AttachDisagreement("st-1", "ev-1", False, day(3), CANARY),
    c.SetLockbox: c.SetLockbox("lb-1", "classes", ("sessions",), (), (), day(3)),
    c.LiftLockbox: c.LiftLockbox("lb-1", False, day(3)),
    c.AcknowledgeAlert: c.AcknowledgeAlert("alert-1", day(3)),
    c.ResolveAlert: c.ResolveAlert("alert-1", day(3), CANARY),
    c.AddParticipant: c.AddParticipant(
        Participant("client-2", ParticipantRole.PARTNER, Consent(treatment=True, measures=True)), day(3)
    ),
    c.JoinGroup: c.JoinGroup("group-1", ("clin-1",), day(3)),
    c.SetProtocol: c.SetProtocol(None, day(3)),
    c.ChangePopulation: c.ChangePopulation("adolescent", day(3)),
    c.ChangeMeasuresConsent: c.ChangeMeasuresConsent(False, day(3)),
    c.RequestAdministration: c.RequestAdministration(
        "request-1",
        "phq-9",
        "1.0",
        RequestPoint.START,
        "link",
        day(3),
        datetime(2026, 1, 9, tzinfo=UTC),
        None,
        True,
    ),
    c.RevokeRequest: c.RevokeRequest("request-1", day(3), True),
    c.RecordClientResponse: c.RecordClientResponse(
        "request-1", RequestPoint.BETWEEN, 1, day(3), Administration("phq-9", "1.0", "end", {}), (), None
    ),
}


def test_every_command_has_a_transition_and_a_sample() -> None:
    assert {t.command for t in TRANSITIONS} == set(SAMPLES)
    assert len(TRANSITIONS) == len(SAMPLES)


def test_transition_table_markdown_lists_every_command() -> None:
    table = transition_table_markdown()
    for t in TRANSITIONS:
        assert f"`{t.command.__name__}`" in table
        assert t.refusal in table


# ------------------------------------------------------------------------------------------ stage refusals

STAGE_CASES = [
    pytest.param(t, stage, id=f"{t.command.__name__}-in-{stage.value}")
    for t in TRANSITIONS
    for stage in Stage
    if stage not in t.allowed_in
]


@pytest.mark.parametrize(("transition", "stage"), STAGE_CASES)
def test_stage_refusal(transition: Any, stage: Stage) -> None:
    """Each command outside the stages the table allows is refused, with the table's words."""
    st = state(stage, open_ruptures={RUPTURE: 0})
    error = refusal(st, SAMPLES[transition.command])
    if stage is Stage.CLOSED:
        assert error.rule == "episode-closed"
        assert "closed" in str(error)
    elif stage is Stage.ON_HOLD and transition.command in (c.RecordSession, c.RecordReview, c.NoteRupture):
        assert error.rule == "episode-on-hold"
        assert str(error) == "the episode is on hold: resume it before recording this"
    elif transition.command is c.CloseEpisode and stage is Stage.CONSULTATION:
        assert error.rule == "stage"
        assert "fit decision" in str(error)
    else:
        assert error.rule == "stage"
        assert str(error) == transition.refusal


ALLOWED_CASES = [
    pytest.param(t, stage, id=f"{t.command.__name__}-in-{stage.value}")
    for t in TRANSITIONS
    for stage in t.allowed_in
]


@pytest.mark.parametrize(("transition", "stage"), ALLOWED_CASES)
def test_stage_allows_what_the_table_says(transition: Any, stage: Stage) -> None:
    """Inside its stages a command is not refused for the stage (it may still be for its content)."""
    st = state(stage, open_ruptures={RUPTURE: 0})
    if transition.command is c.RecordConsultation:
        st = attrs.evolve(st, consultation_on=None)
    if transition.command is c.DecideFit:
        st = attrs.evolve(st, consultation_on=day(0), treatment_consent=True)
    rule = None
    try:
        decide(st, SAMPLES[transition.command])
    except LifecycleError as error:
        rule = error.rule
    except (NotFoundError, ValidationError):
        pass  # refused for its content (the sample names records this bare state lacks), not its stage
    assert rule not in ("stage", "episode-closed", "episode-on-hold")


# ----------------------------------------------------------------------------------- consultation and fit


def test_consultation_happy_path() -> None:
    st = state(Stage.CONSULTATION)
    events = decide(st, SAMPLES[c.RecordConsultation])
    assert [type(e) for e in events] == [ConsultationRecorded]
    after = fold(st, events)
    assert after.consultation_on == day(0)
    assert after.treatment_consent is True
    assert after.stage is Stage.CONSULTATION


def test_consultation_recorded_twice_is_refused() -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0))
    assert refusal(st, SAMPLES[c.RecordConsultation]).rule == "consultation-recorded"


def test_consultation_before_the_episode_opened_is_refused() -> None:
    st = state(Stage.CONSULTATION)
    error = refusal(st, c.RecordConsultation(consultation(day(-1))))
    assert error.rule == "date-order"
    assert "before the episode was opened" in str(error)


def test_fit_needs_the_consultation() -> None:
    st = state(Stage.CONSULTATION)
    assert refusal(st, SAMPLES[c.DecideFit]).rule == "consultation-missing"


def test_fit_before_the_consultation_is_refused() -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(2), treatment_consent=True)
    error = refusal(st, c.DecideFit(proceed(day(1))))
    assert error.rule == "date-order"
    assert str(error) == "the fit decision cannot be dated before the consultation"


def test_fit_to_proceed_needs_consent_to_treatment() -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0), treatment_consent=False)
    error = refusal(st, SAMPLES[c.DecideFit])
    assert error.rule == "consent"
    assert "consent" in str(error)


def test_fit_without_consent_may_still_refer_or_not_proceed() -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0), treatment_consent=False)
    refer = FitDecision(outcome="refer", decided_on=day(1), referred_to=CANARY, referral_reason=CANARY)
    assert [type(e) for e in decide(st, c.DecideFit(refer))] == [FitDecided, EpisodeClosed]
    no = FitDecision(outcome="not-proceed", decided_on=day(1))
    assert [type(e) for e in decide(st, c.DecideFit(no))] == [FitDecided, EpisodeClosed]


@pytest.mark.parametrize("target", [None, ""])
def test_referral_must_name_a_target(target: str | None) -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0), treatment_consent=True)
    decision = FitDecision(outcome="refer", decided_on=day(1), referred_to=target, referral_reason=CANARY)
    assert refusal(st, c.DecideFit(decision)).rule == "referral-target"


def test_fit_proceed_moves_to_goal_setting() -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0), treatment_consent=True)
    events = decide(st, SAMPLES[c.DecideFit])
    assert [type(e) for e in events] == [FitDecided]
    after = fold(st, events)
    assert after.stage is Stage.GOAL_SETTING
    assert after.fit is FitOutcome.PROCEED


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [("refer", ClosingReason.REFERRED_AT_CONSULTATION), ("not-proceed", ClosingReason.NOT_PROCEEDING)],
)
def test_fit_refer_or_not_proceed_closes_the_episode(outcome: str, reason: ClosingReason) -> None:
    st = state(Stage.CONSULTATION, consultation_on=day(0), treatment_consent=True)
    decision = FitDecision(outcome=outcome, decided_on=day(1), referred_to="another service")
    events = decide(st, c.DecideFit(decision))
    assert [type(e) for e in events] == [FitDecided, EpisodeClosed]
    closed = events[1]
    assert isinstance(closed, EpisodeClosed)
    assert closed.closing_reason is reason
    assert closed.on == day(1)
    after = fold(st, events)
    assert after.stage is Stage.CLOSED
    assert after.closing_reason is reason
    assert after.closed_on == day(1)
    assert not after.is_open


# ----------------------------------------------------------------------------------------------- goals


def test_goals_happy_path_starts_active_therapy() -> None:
    st = state(Stage.GOAL_SETTING)
    command = c.AgreeGoals(goals(2), day(2), ("g1", "g2"))
    events = decide(st, command)
    assert [type(e) for e in events] == [GoalAgreed, GoalAgreed]
    assert [e.goal_id for e in events if isinstance(e, GoalAgreed)] == ["g1", "g2"]
    after = fold(st, events)
    assert after.stage is Stage.ACTIVE
    assert set(after.goals) == {"g1", "g2"}


def test_more_goals_may_be_agreed_in_active_therapy() -> None:
    after = fold(state(Stage.ACTIVE), decide(state(Stage.ACTIVE), SAMPLES[c.AgreeGoals]))
    assert set(after.goals) == {GOAL, "goal-b"}
    assert after.stage is Stage.ACTIVE


def test_goals_empty_is_refused() -> None:
    assert refusal(state(Stage.GOAL_SETTING), c.AgreeGoals((), day(2), ())).rule == "goals-empty"


@pytest.mark.parametrize("description", ["", "   "])
def test_goal_without_description_is_refused(description: str) -> None:
    command = c.AgreeGoals((GoalDraft(description, (CANARY,)),), day(2), ("g1",))
    assert refusal(state(Stage.GOAL_SETTING), command).rule == "goal-description"


def test_goals_before_the_fit_decision_are_refused() -> None:
    error = refusal(state(Stage.GOAL_SETTING), c.AgreeGoals(goals(1), day(0), ("g1",)))
    assert error.rule == "date-order"


def test_revise_goal_happy_path_keeps_history() -> None:
    st = state(Stage.ACTIVE)
    events = decide(st, SAMPLES[c.ReviseGoal])
    assert [type(e) for e in events] == [GoalRevised]
    after = fold(st, events)
    assert after.goals[GOAL] == GoalState(GoalStatus.ACHIEVED, revisions=1)


def test_revise_goal_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        decide(state(Stage.ACTIVE), c.ReviseGoal(GoalRevision("no-such-goal", reason=CANARY), day(3)))
    assert caught.value.kind == "goal"
    assert CANARY not in str(caught.value)


def test_revise_goal_before_the_fit_decision_is_refused() -> None:
    command = c.ReviseGoal(GoalRevision(GOAL, reason=CANARY), day(0))
    assert refusal(state(Stage.ACTIVE), command).rule == "date-order"


# -------------------------------------------------------------------------------------------- sessions


def test_session_happy_path_counts_and_scores() -> None:
    st = state(Stage.ACTIVE)
    score = RecordedScore("ors", "1", 20.0)
    events = decide(st, c.RecordSession("s1", attended(day(3)), (score,)))
    assert len(events) == 1
    recorded = events[0]
    assert isinstance(recorded, SessionRecorded)
    assert (recorded.number, recorded.attended_number) == (1, 1)
    after = fold(st, events)
    assert (after.sessions_scheduled, after.sessions_attended) == (1, 1)
    assert after.latest_scores["ors"].total == 20.0
    missed_events = decide(after, c.RecordSession("s2", missed(day(4)), ()))
    assert isinstance(missed_events[0], SessionRecorded)
    assert (missed_events[0].number, missed_events[0].attended_number) == (2, None)
    after2 = fold(after, missed_events)
    assert (after2.sessions_scheduled, after2.sessions_attended, after2.consecutive_missed) == (2, 1, 1)


def test_session_in_goal_setting_is_allowed() -> None:
    assert [type(e) for e in decide(state(Stage.GOAL_SETTING), SAMPLES[c.RecordSession])] == [SessionRecorded]


def test_session_before_the_consultation_is_refused() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(2))
    error = refusal(st, c.RecordSession("s1", attended(day(1)), ()))
    assert error.rule == "date-order"
    assert str(error) == "a session cannot be dated before the consultation"


def test_session_before_a_fit_decision_is_refused_in_clinician_words() -> None:
    error = refusal(state(Stage.CONSULTATION, consultation_on=day(0)), SAMPLES[c.RecordSession])
    assert str(error) == "cannot record a session before a fit decision to proceed"


@pytest.mark.parametrize("attendance", ["cancelled", "no-show"])
def test_measures_without_attendance_are_refused(attendance: str, memory_practice: Practice) -> None:
    session = Session(
        held_on=day(3), modality="video", attendance=attendance, administrations=(ors(memory_practice),)
    )
    error = refusal(state(Stage.ACTIVE), c.RecordSession("s1", session, ()))
    assert error.rule == "measures-without-attendance"


# ----------------------------------------------------------------------------------------- corrections


def test_correction_happy_path_keeps_counts_and_replaces_scores() -> None:
    st = state(Stage.ACTIVE)
    recorded = decide(st, c.RecordSession("s1", attended(day(3)), (RecordedScore("ors", "1", 20.0),)))
    st = fold(st, recorded)
    command = c.CorrectSession(
        "s1",
        SessionRef(day(3), Attendance.ATTENDED, 1, "e1"),
        attended(day(3)),
        (RecordedScore("ors", "1", 24.0),),
        CANARY,
        tuple(recorded),
    )
    events = decide(st, command)
    assert [type(e) for e in events] == [SessionCorrected]
    corrected = events[0]
    assert isinstance(corrected, SessionCorrected)
    assert (corrected.session_id, corrected.number) == ("s1", 1)
    after = fold(st, events)
    assert after.latest_scores["ors"].total == 24.0
    assert after.first_scores["ors"].total == 24.0
    assert (after.sessions_scheduled, after.sessions_attended) == (1, 1)
    assert after.version == st.version + 1


def test_correction_of_an_unknown_session_is_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        decide(state(Stage.ACTIVE), c.CorrectSession("nope", None, attended(day(3)), (), CANARY, ()))
    assert caught.value.kind == "session"


def test_correction_cannot_change_attendance() -> None:
    command = c.CorrectSession("s1", ref(Attendance.NO_SHOW), attended(day(3)), (), CANARY, ())
    assert refusal(state(Stage.ACTIVE), command).rule == "correction-attendance"


def test_correction_cannot_date_a_session_before_the_consultation() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(2))
    command = c.CorrectSession("s1", ref(), attended(day(1)), (), CANARY, ())
    assert refusal(st, command).rule == "date-order"


# --------------------------------------------------------------------------------------------- reviews


def test_review_happy_path_scheduled_and_unscheduled() -> None:
    st = state(Stage.ACTIVE, sessions_scheduled=6, sessions_attended=6)
    events = decide(st, SAMPLES[c.RecordReview])
    assert [type(e) for e in events] == [ReviewRecorded]
    assert isinstance(events[0], ReviewRecorded)
    assert events[0].scheduled is True
    after = fold(st, events)
    assert (after.reviews, after.last_review_at_session) == (1, 6)
    again = decide(after, c.RecordReview("review-2", review(held_on=day(4)), 6))
    assert isinstance(again[0], ReviewRecorded)
    assert again[0].scheduled is False


def test_review_of_an_unknown_goal_is_not_found() -> None:
    command = c.RecordReview("r1", review(goal_progress=(GoalProgressNote("nope", "improving"),)), 6)
    with pytest.raises(NotFoundError) as caught:
        decide(state(Stage.ACTIVE), command)
    assert caught.value.kind == "goal"


def test_review_before_the_consultation_is_refused() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(5))
    assert refusal(st, SAMPLES[c.RecordReview]).rule == "date-order"


# -------------------------------------------------------------------------------- ruptures and repairs


def test_rupture_happy_path_opens_it() -> None:
    st = state(Stage.ACTIVE, sessions_scheduled=3)
    events = decide(st, SAMPLES[c.NoteRupture])
    assert [type(e) for e in events] == [RuptureNoted]
    assert isinstance(events[0], RuptureNoted)
    assert events[0].at_session == 3
    after = fold(st, events)
    assert after.open_ruptures == {RUPTURE: 3}
    assert after.ruptures_noted == 1


def test_rupture_resolved_in_the_session_is_noted_but_not_open() -> None:
    command = c.NoteRupture(RUPTURE, rupture_note(resolved=True, repairs=("give-rationale",)), False)
    after = fold(state(Stage.ACTIVE), decide(state(Stage.ACTIVE), command))
    assert after.open_ruptures == {}
    assert after.ruptures_noted == 1


def test_rupture_needs_markers() -> None:
    command = c.NoteRupture(RUPTURE, rupture_note(markers=()), False)
    assert refusal(state(Stage.ACTIVE), command).rule == "rupture-markers"


@pytest.mark.parametrize(
    ("kind", "marker"),
    [("withdrawal", "complaint-about-therapist"), ("confrontation", "minimal-response")],
)
def test_rupture_markers_must_match_its_kind(kind: str, marker: str) -> None:
    command = c.NoteRupture(RUPTURE, rupture_note(kind=kind, markers=(marker,)), False)
    error = refusal(state(Stage.ACTIVE), command)
    assert error.rule == "rupture-markers"
    assert kind in str(error)


def test_confrontation_rupture_with_its_own_markers_is_accepted() -> None:
    note = rupture_note(kind="confrontation", markers=("complaint-about-progress", "controlling-therapist"))
    assert [type(e) for e in decide(state(Stage.ACTIVE), c.NoteRupture(RUPTURE, note, False))] == [
        RuptureNoted
    ]


@pytest.mark.parametrize("salience", [0, 6, -1])
def test_rupture_salience_is_1_to_5(salience: int) -> None:
    command = c.NoteRupture(RUPTURE, rupture_note(salience=salience), False)
    assert refusal(state(Stage.ACTIVE), command).rule == "rupture-salience"


def test_rupture_in_an_unknown_session_is_not_found() -> None:
    command = c.NoteRupture(RUPTURE, rupture_note(session_id="no-such-session"), False)
    with pytest.raises(NotFoundError) as caught:
        decide(state(Stage.ACTIVE), command)
    assert caught.value.kind == "session"


def test_rupture_before_the_consultation_is_refused() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(5))
    assert refusal(st, SAMPLES[c.NoteRupture]).rule == "date-order"


def test_repair_happy_path_resolves_the_rupture() -> None:
    st = state(Stage.ACTIVE, open_ruptures={RUPTURE: 0})
    events = decide(st, SAMPLES[c.RecordRepair])
    assert [type(e) for e in events] == [RuptureRepairRecorded]
    assert fold(st, events).open_ruptures == {}
    unresolved = c.RecordRepair(RUPTURE, RepairAttempt(day(3), ("give-rationale",), False))
    assert fold(st, decide(st, unresolved)).open_ruptures == {RUPTURE: 0}


def test_repair_allowed_while_on_hold() -> None:
    st = state(Stage.ON_HOLD, open_ruptures={RUPTURE: 0})
    assert [type(e) for e in decide(st, SAMPLES[c.RecordRepair])] == [RuptureRepairRecorded]


@pytest.mark.parametrize("open_ruptures", [{}, {"other-rupture": 1}])
def test_repair_of_a_rupture_that_is_not_open(open_ruptures: dict[str, int]) -> None:
    st = state(Stage.ACTIVE, open_ruptures=open_ruptures)
    assert refusal(st, SAMPLES[c.RecordRepair]).rule == "rupture-not-open"


def test_repair_needs_a_strategy() -> None:
    st = state(Stage.ACTIVE, open_ruptures={RUPTURE: 0})
    command = c.RecordRepair(RUPTURE, RepairAttempt(day(3), (), True))
    assert refusal(st, command).rule == "repair-strategies"


# ------------------------------------------------------------------------------------- hold and resume


@pytest.mark.parametrize("before", [Stage.GOAL_SETTING, Stage.ACTIVE])
def test_resume_returns_to_the_stage_before_the_hold(before: Stage) -> None:
    st = state(before)
    held = fold(st, decide(st, c.PutOnHold(day(3), CANARY)))
    assert held.stage is Stage.ON_HOLD
    assert held.stage_before_hold is before
    events = decide(held, c.Resume(day(4)))
    assert [type(e) for e in events] == [EpisodeResumed]
    resumed = fold(held, events)
    assert resumed.stage is before
    assert resumed.stage_before_hold is None


def test_hold_event() -> None:
    events = decide(state(Stage.ACTIVE), SAMPLES[c.PutOnHold])
    assert [type(e) for e in events] == [EpisodePutOnHold]


def test_hold_before_the_latest_entry_is_refused() -> None:
    st = state(Stage.ACTIVE, last_activity_on=day(10))
    assert refusal(st, c.PutOnHold(day(9), CANARY)).rule == "date-order"


def test_resume_before_the_hold_is_refused() -> None:
    st = state(Stage.ON_HOLD, last_activity_on=day(10))
    error = refusal(st, c.Resume(day(9)))
    assert error.rule == "date-order"
    assert "hold" in str(error)


@pytest.mark.parametrize(
    ("command", "rule"),
    [
        (SAMPLES[c.RecordSession], "episode-on-hold"),
        (SAMPLES[c.RecordReview], "episode-on-hold"),
        (SAMPLES[c.NoteRupture], "episode-on-hold"),
        (SAMPLES[c.PutOnHold], "stage"),
        (SAMPLES[c.AgreeGoals], "stage"),
        (SAMPLES[c.PlanEnding], "stage"),
    ],
)
def test_on_hold_refusals(command: c.Command, rule: str) -> None:
    assert refusal(state(Stage.ON_HOLD), command).rule == rule


def test_on_hold_still_allows_goal_revision_transfer_and_closing() -> None:
    st = state(Stage.ON_HOLD)
    for cmd in (SAMPLES[c.ReviseGoal], SAMPLES[c.TransferClinician], SAMPLES[c.CloseEpisode]):
        assert decide(st, cmd)


# -------------------------------------------------------------------------------------------- transfer


def test_transfer_happy_path() -> None:
    st = state(Stage.ACTIVE)
    events = decide(st, SAMPLES[c.TransferClinician])
    assert [type(e) for e in events] == [ClinicianTransferred]
    transferred = events[0]
    assert isinstance(transferred, ClinicianTransferred)
    assert (transferred.from_clinician_id, transferred.to_clinician_id) == ("clin-1", "clin-2")
    assert fold(st, events).clinician_id == "clin-2"


def test_transfer_in_consultation_is_allowed() -> None:
    assert decide(state(Stage.CONSULTATION), SAMPLES[c.TransferClinician])


def test_transfer_to_the_same_clinician_is_refused() -> None:
    error = refusal(state(Stage.ACTIVE), c.TransferClinician("clin-1", day(3), CANARY))
    assert error.rule == "transfer-same"


def test_transfer_without_a_target_is_refused() -> None:
    assert refusal(state(Stage.ACTIVE), c.TransferClinician("", day(3), CANARY)).rule == "transfer-target"


# ------------------------------------------------------------------------------------- ending and close


def test_plan_ending_happy_path() -> None:
    st = state(Stage.ACTIVE)
    events = decide(st, SAMPLES[c.PlanEnding])
    assert [type(e) for e in events] == [EndingPlanned]
    assert fold(st, events).stage is Stage.ENDING


def test_plan_ending_before_the_latest_entry_is_refused() -> None:
    st = state(Stage.ACTIVE, last_activity_on=day(10))
    assert refusal(st, c.PlanEnding(day(9))).rule == "date-order"


def test_planned_ending_with_a_plan_closes() -> None:
    st = state(Stage.ENDING)
    events = decide(st, c.CloseEpisode(planned_ending(day(5))))
    assert [type(e) for e in events] == [EpisodeClosed]
    closed = events[0]
    assert isinstance(closed, EpisodeClosed)
    assert closed.ending is not None
    after = fold(st, events)
    assert (after.stage, after.closing_reason, after.closed_on) == (Stage.CLOSED, ClosingReason.ENDED, day(5))


def test_planned_ending_with_a_reason_for_no_plan_closes() -> None:
    command = c.CloseEpisode(planned_ending(day(5), plan=False, no_plan_reason=CANARY))
    assert [type(e) for e in decide(state(Stage.ENDING), command)] == [EpisodeClosed]


@pytest.mark.parametrize("no_plan_reason", [None, "", "   "])
def test_planned_ending_without_plan_or_reason_is_refused(no_plan_reason: str | None) -> None:
    command = c.CloseEpisode(planned_ending(day(5), plan=False, no_plan_reason=no_plan_reason))
    error = refusal(state(Stage.ENDING), command)
    assert error.rule == "maintenance-plan"
    assert str(error) == "an ending needs a maintenance plan or a stated reason why none was made"


@pytest.mark.parametrize("stage", [Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ON_HOLD])
def test_planned_ending_that_was_not_planned_is_refused(stage: Stage) -> None:
    error = refusal(state(stage), c.CloseEpisode(planned_ending(day(5))))
    assert error.rule == "ending-not-planned"


@pytest.mark.parametrize("stage", [Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ON_HOLD, Stage.ENDING])
def test_unplanned_ending_closes_from_any_treating_stage(stage: Stage) -> None:
    after = fold(state(stage), decide(state(stage), SAMPLES[c.CloseEpisode]))
    assert after.stage is Stage.CLOSED


def test_ending_before_the_last_session_is_refused() -> None:
    st = state(Stage.ACTIVE, last_session_on=day(10))
    error = refusal(st, c.CloseEpisode(unplanned_ending(day(9))))
    assert error.rule == "date-order"
    assert "last session" in str(error)


def test_ending_before_the_consultation_is_refused() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(10))
    assert refusal(st, c.CloseEpisode(unplanned_ending(day(9)))).rule == "date-order"


def test_closed_episode_refuses_every_clinical_command() -> None:
    """Everything but the record-keeping commands that stay open after closing (addenda, the client's
    statement of disagreement, lockbox directives: DESIGN §8) is refused on a closed episode."""
    st = state(Stage.CLOSED)
    still_open = {t.command for t in TRANSITIONS if Stage.CLOSED in t.allowed_in}
    assert still_open == {c.AddAddendum, c.AttachDisagreement, c.SetLockbox, c.LiftLockbox}
    for command_type, command in SAMPLES.items():
        if command_type not in still_open:
            assert refusal(st, command).rule == "episode-closed"


# ------------------------------------------------------------------------ happy paths through the facade


def test_whole_lifecycle_through_the_facade(practice: Practice, actor: Any) -> None:
    ep, goal_ids = active_episode(practice, actor)
    practice.record_session(actor, ep, attended(day(3), ors(practice, 0.4), srs(practice)))
    practice.record_session(actor, ep, missed(day(10)))
    practice.revise_goal(
        actor, ep, GoalRevision(goal_ids[0], reason=CANARY, description=CANARY), revised_on=day(11)
    )
    rupture = practice.note_rupture(actor, ep, rupture_note(noted_on=day(11))).record_id
    assert rupture is not None
    practice.record_repair(actor, ep, rupture, RepairAttempt(day(12), ("acknowledge-own-part",), True))
    practice.record_review(
        actor, ep, review(held_on=day(12), goal_progress=(GoalProgressNote(goal_ids[1], "improving"),))
    )
    practice.put_on_hold(actor, ep, on=day(13), reason=CANARY)
    practice.resume(actor, ep, on=day(20))
    practice.transfer(actor, ep, to_clinician_id="clin-2", on=day(20), reason=CANARY)
    actor = clinician(ident="clin-2")  # the clinician of record now; the first one is refused from here
    practice.plan_ending(actor, ep, on=day(21), target_date=day(40))
    done = practice.close_episode(actor, ep, planned_ending(day(40)))
    st = practice.episode(actor, ep)
    assert st.stage is Stage.CLOSED
    assert st.clinician_id == "clin-2"
    assert st.version == done.version == len(practice.timeline(actor, ep))
    assert practice.rebuild_state(maintenance(), ep) == stored_snapshot(practice, ep) == st
    types = [entry.type for entry in practice.timeline(actor, ep)]
    assert types == [
        "episode-opened",
        "consultation-recorded",
        "fit-decided",
        "goal-agreed",
        "goal-agreed",
        "session-recorded",
        "session-recorded",
        "goal-revised",
        "rupture-noted",
        "rupture-repair-recorded",
        "review-recorded",
        "episode-put-on-hold",
        "episode-resumed",
        "clinician-transferred",
        "ending-planned",
        "episode-closed",
    ]
    assert {entry.actor_id for entry in practice.timeline(actor, ep)} == {"clin-1", "clin-2"}
    from alliancekit.security.policy import CLINICAL_READS, Action

    records = practice.store.audit_records()
    writes = [a for a in records if a.action not in CLINICAL_READS | {Action.REBUILD_STATE}]
    assert len(writes) == 15  # one per command (two goals: one command)


def test_fit_refer_through_the_facade_closes(practice: Practice, actor: Any) -> None:
    ep = new_episode(practice, actor)
    practice.record_consultation(actor, ep, consultation(day(0)))
    decision = FitDecision(outcome="refer", decided_on=day(1), referred_to=CANARY, referral_reason=CANARY)
    result = practice.decide_fit(actor, ep, decision)
    st = practice.episode(actor, ep)
    assert (st.stage, st.closing_reason, result.version) == (
        Stage.CLOSED,
        ClosingReason.REFERRED_AT_CONSULTATION,
        4,
    )
    assert practice.caseload(actor) == []
    assert [row.episode_id for row in practice.caseload(actor, include_closed=True)] == [ep]


def test_resume_through_the_facade_returns_to_goal_setting(practice: Practice, actor: Any) -> None:
    ep = goal_setting_episode(practice, actor)
    practice.put_on_hold(actor, ep, on=day(2), reason=CANARY)
    assert practice.episode(actor, ep).stage is Stage.ON_HOLD
    practice.resume(actor, ep, on=day(3))
    assert practice.episode(actor, ep).stage is Stage.GOAL_SETTING


def test_correction_points_at_the_original_and_keeps_it(practice: Practice, actor: Any) -> None:
    ep, _ = active_episode(practice, actor)
    first = practice.record_session(actor, ep, attended(day(3), ors(practice, 0.3), srs(practice)))
    session_id = first.record_id
    assert session_id is not None
    original_entry = practice.timeline(actor, ep)[-1]
    assert original_entry.type == "session-recorded"
    corrected = practice.correct_session(
        actor, ep, session_id, attended(day(3), ors(practice, 0.8), srs(practice)), reason=CANARY
    )
    assert corrected.record_id == session_id
    timeline = practice.timeline(actor, ep)
    assert timeline[-2] == original_entry  # the original is still there, unchanged
    correction = timeline[-1]
    assert correction.type == "session-corrected"
    assert correction.corrects == original_entry.event_id
    assert isinstance(correction.event, SessionCorrected)
    assert correction.event.session_id == session_id
    original_event = original_entry.event
    assert isinstance(original_event, SessionRecorded)
    assert original_event.scores[0].total < correction.event.scores[0].total
    st = practice.episode(actor, ep)
    assert st.latest_scores["ors"].total == correction.event.scores[0].total
    assert st.sessions_attended == 1
    assert practice.rebuild_state(maintenance(), ep) == stored_snapshot(practice, ep) == st


def test_correction_of_unknown_session_through_the_facade(practice: Practice, actor: Any) -> None:

    ep, _ = active_episode(practice, actor)
    snapshot, events, entries, caseload = footprint(practice, ep)
    with pytest.raises(NotFoundError):
        practice.correct_session(actor, ep, "no-such-session", attended(day(3)), reason=CANARY)
    # nothing written but the failed lookup's audit entry
    assert footprint(practice, ep) == (snapshot, events, entries + 1, caseload)
    assert practice.store.audit_records()[-1].outcome == "not-found"


def test_correction_cannot_change_attendance_through_the_facade(practice: Practice, actor: Any) -> None:

    ep, _ = active_episode(practice, actor)
    session_id = practice.record_session(actor, ep, missed(day(3))).record_id
    assert session_id is not None
    before = footprint(practice, ep)
    with pytest.raises(LifecycleError) as caught:
        practice.correct_session(actor, ep, session_id, attended(day(3)), reason=CANARY)
    assert caught.value.rule == "correction-attendance"
    assert footprint(practice, ep) == before


def test_rupture_in_a_recorded_session_is_found(practice: Practice, actor: Any) -> None:
    ep, _ = active_episode(practice, actor)
    session_id = practice.record_session(actor, ep, attended(day(3))).record_id
    recorded = practice.note_rupture(actor, ep, rupture_note(session_id=session_id))
    assert recorded.record_id in practice.episode(actor, ep).open_ruptures
    with pytest.raises(NotFoundError):
        practice.note_rupture(actor, ep, rupture_note(session_id="session-that-is-not-there"))


def test_consultation_without_consent_cannot_proceed_through_the_facade(
    practice: Practice, actor: Any
) -> None:
    ep = new_episode(practice, actor)
    practice.record_consultation(
        actor,
        ep,
        Consultation(held_on=day(0), modality="phone", consent=Consent(treatment=False, measures=False)),
    )
    with pytest.raises(LifecycleError) as caught:
        practice.decide_fit(actor, ep, proceed(day(1)))
    assert caught.value.rule == "consent"


def test_planned_close_through_the_facade_needs_a_plan(practice: Practice, actor: Any) -> None:
    ep, _ = active_episode(practice, actor)
    with pytest.raises(LifecycleError) as caught:
        practice.close_episode(actor, ep, planned_ending(day(9)))
    assert caught.value.rule == "ending-not-planned"
    practice.plan_ending(actor, ep, on=day(8))
    with pytest.raises(LifecycleError) as caught:
        practice.close_episode(actor, ep, Ending(ended_on=day(9), planned=True, reason="goals-met"))
    assert caught.value.rule == "maintenance-plan"
    practice.close_episode(actor, ep, planned_ending(day(9), plan=False, no_plan_reason=CANARY))
    assert practice.episode(actor, ep).stage is Stage.CLOSED


# ---------------------------------------------------------------------- dates the deciders did not check


def test_repair_before_the_consultation_is_refused() -> None:
    st = state(Stage.ACTIVE, consultation_on=day(5), open_ruptures={RUPTURE: 0})
    command = c.RecordRepair(RUPTURE, RepairAttempt(day(4), ("give-rationale",), True))
    assert refusal(st, command).rule == "date-order"


def test_transfer_before_the_episode_was_opened_is_refused() -> None:
    error = refusal(state(Stage.CONSULTATION), c.TransferClinician("clin-2", day(-1), CANARY))
    assert error.rule == "date-order"
    assert "opened" in str(error)


def test_ending_target_before_the_planning_day_is_refused() -> None:
    error = refusal(state(Stage.ACTIVE), c.PlanEnding(day(10), day(9)))
    assert error.rule == "date-order"
    assert [type(e) for e in decide(state(Stage.ACTIVE), c.PlanEnding(day(10), day(10)))] == [EndingPlanned]


def test_repair_before_the_rupture_was_noted_is_refused() -> None:
    st = state(Stage.ACTIVE)
    st = fold(st, decide(st, c.NoteRupture(RUPTURE, rupture_note(noted_on=day(10)), False)))
    command = c.RecordRepair(RUPTURE, RepairAttempt(day(9), ("give-rationale",), True))
    assert refusal(st, command).rule == "date-order"


def test_ending_before_the_ending_was_planned_is_refused() -> None:
    st = state(Stage.ACTIVE)
    st = fold(st, decide(st, c.PlanEnding(day(20))))
    assert refusal(st, c.CloseEpisode(planned_ending(day(15)))).rule == "date-order"
