"""What a protocol makes due, and what it missed, at the exact boundaries of each kind of occasion (the
schedule is a pure function of the episode's state and the clinic's day)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from alliancekit.domain.vocab import EndingReason, Stage
from alliancekit.lifecycle.state import EpisodeState, ScorePoint
from alliancekit.protocols import MeasurementProtocol, ScheduleEntry
from alliancekit.protocols.schedule import due_measures, missed_measures

DAY = date(2026, 3, 2)
REVIEW_EVERY = 6


def _state(**changes: Any) -> EpisodeState:
    base: dict[str, Any] = {
        "episode_id": "ep-1",
        "client_ref": "client-1",
        "clinic_id": "clinic-1",
        "clinician_id": "clin-1",
        "opened_on": DAY - timedelta(days=200),
        "stage": Stage.ACTIVE,
    }
    return EpisodeState(**(base | changes))


def _given(measure: str, at: int, on: date) -> dict[str, Any]:
    """The state fields of ``measure`` last given at attended session ``at`` on ``on``."""
    return {"administered_at": {measure: at}, "latest_scores": {measure: ScorePoint(10.0, on, at)}}


def _protocol(*entries: ScheduleEntry) -> MeasurementProtocol:
    return MeasurementProtocol("p", entries)


def _due(
    protocol: MeasurementProtocol, state: EpisodeState, *, today: date = DAY, nxt: bool = True
) -> list[str]:
    found = due_measures(protocol, state, today, review_every=REVIEW_EVERY, for_next_session=nxt)
    return [d.measure for d in found]


def _overdue(protocol: MeasurementProtocol, state: EpisodeState) -> list[str]:
    found = due_measures(protocol, state, DAY, review_every=REVIEW_EVERY, for_next_session=True)
    return [d.measure for d in found if d.overdue]


def _missed(protocol: MeasurementProtocol, state: EpisodeState) -> tuple[str, ...]:
    return missed_measures(protocol, state, review_every=REVIEW_EVERY)


# -- every session --------------------------------------------------------------------------------------

EVERY_SESSION = _protocol(ScheduleEntry("ors", "session-start"), ScheduleEntry("srs", "session-end"))


def test_every_session_entries_are_due_at_the_next_session_not_between_sessions() -> None:
    state = _state(sessions_attended=2, **_given("ors", 2, DAY))
    found = due_measures(EVERY_SESSION, state, DAY, review_every=REVIEW_EVERY, for_next_session=True)
    assert [(d.measure, d.point) for d in found] == [("ors", "start"), ("srs", "end")]
    assert _due(EVERY_SESSION, state, nxt=False) == []


def test_a_session_without_its_every_session_measure_missed_it() -> None:
    state = _state(sessions_attended=2, **_given("ors", 2, DAY))
    assert _missed(EVERY_SESSION, state) == ("srs",)
    assert _overdue(EVERY_SESSION, state) == ["srs"]
    earlier = _state(sessions_attended=3, **_given("ors", 2, DAY))
    assert _missed(EVERY_SESSION, earlier) == ("ors", "srs")


def test_before_the_first_session_nothing_is_missed() -> None:
    assert _missed(EVERY_SESSION, _state(sessions_attended=0)) == ()


# -- every N sessions: N-1, N, N+1 attended sessions since the last administration ---------------------

EVERY_4 = _protocol(ScheduleEntry("phq-9", "every-sessions", 4))


@pytest.mark.parametrize(("since_next", "due"), [(3, False), (4, True), (5, True)])
def test_every_n_sessions_falls_due_at_the_nth_session(since_next: int, due: bool) -> None:
    # given at attended session 2; the next session is number 2 + since_next
    state = _state(sessions_attended=2 + since_next - 1, **_given("phq-9", 2, DAY))
    assert _due(EVERY_4, state) == (["phq-9"] if due else [])
    assert _due(EVERY_4, state, nxt=False) == []  # a session brings it, not the calendar


@pytest.mark.parametrize(("since", "missed"), [(3, False), (4, True), (5, True)])
def test_every_n_sessions_is_missed_once_the_nth_session_passed_without_it(since: int, missed: bool) -> None:
    state = _state(sessions_attended=2 + since, **_given("phq-9", 2, DAY))
    assert _missed(EVERY_4, state) == (("phq-9",) if missed else ())


def test_every_n_sessions_never_given_is_due_at_the_first_session_and_missed_after_it() -> None:
    assert _due(EVERY_4, _state(sessions_attended=0)) == ["phq-9"]
    assert _missed(EVERY_4, _state(sessions_attended=0)) == ()
    assert _missed(EVERY_4, _state(sessions_attended=1)) == ("phq-9",)


# -- every N weeks: the day before, of and after --------------------------------------------------------

EVERY_2_WEEKS = _protocol(ScheduleEntry("gad-7", "every-weeks", 2))
GIVEN_ON = DAY - timedelta(weeks=6)


@pytest.mark.parametrize(("offset", "due"), [(-1, False), (0, True), (1, True)])
def test_every_n_weeks_falls_due_on_the_day(offset: int, due: bool) -> None:
    state = _state(sessions_attended=3, last_attended_on=GIVEN_ON, **_given("gad-7", 3, GIVEN_ON))
    today = GIVEN_ON + timedelta(weeks=2, days=offset)
    assert _due(EVERY_2_WEEKS, state, today=today, nxt=False) == (["gad-7"] if due else [])
    assert _due(EVERY_2_WEEKS, state, today=today, nxt=True) == (["gad-7"] if due else [])


@pytest.mark.parametrize(("offset", "missed"), [(-1, False), (0, True), (1, True)])
def test_every_n_weeks_is_missed_by_a_session_held_on_or_after_its_day(offset: int, missed: bool) -> None:
    held = GIVEN_ON + timedelta(weeks=2, days=offset)
    state = _state(sessions_attended=4, last_attended_on=held, **_given("gad-7", 3, GIVEN_ON))
    assert _missed(EVERY_2_WEEKS, state) == (("gad-7",) if missed else ())


def test_every_n_weeks_never_given_is_due_at_once() -> None:
    assert _due(EVERY_2_WEEKS, _state(), nxt=False) == ["gad-7"]


# -- intake ---------------------------------------------------------------------------------------------

INTAKE = _protocol(ScheduleEntry("core-10", "intake"))


def test_intake_is_due_until_first_given_even_in_consultation() -> None:
    assert _due(INTAKE, _state(stage=Stage.CONSULTATION), nxt=False) == ["core-10"]
    assert _due(INTAKE, _state(sessions_attended=1, **_given("core-10", 1, DAY))) == []


def test_intake_is_missed_once_a_session_passed_without_it() -> None:
    assert _missed(INTAKE, _state(sessions_attended=0)) == ()
    assert _missed(INTAKE, _state(sessions_attended=1)) == ("core-10",)
    assert _missed(INTAKE, _state(sessions_attended=1, **_given("core-10", 1, DAY))) == ()


# -- review ---------------------------------------------------------------------------------------------

AT_REVIEW = _protocol(ScheduleEntry("wai-sr", "review"))


@pytest.mark.parametrize(("attended", "due"), [(REVIEW_EVERY - 1, False), (REVIEW_EVERY, True)])
def test_a_review_measure_is_due_while_a_review_is_due(attended: int, due: bool) -> None:
    state = _state(sessions_attended=attended)
    assert _due(AT_REVIEW, state, nxt=False) == (["wai-sr"] if due else [])


def test_a_review_asked_for_by_an_alert_makes_it_due() -> None:
    assert _due(AT_REVIEW, _state(sessions_attended=1, review_requested=True), nxt=False) == ["wai-sr"]


def test_a_review_measure_given_since_the_last_review_is_not_due_again() -> None:
    state = _state(sessions_attended=REVIEW_EVERY, review_requested=True, **_given("wai-sr", 1, DAY))
    assert _due(AT_REVIEW, state, nxt=False) == []


@pytest.mark.parametrize(("given_at", "missed"), [(REVIEW_EVERY - 1, True), (REVIEW_EVERY, False)])
def test_a_review_without_its_measure_missed_it(given_at: int, missed: bool) -> None:
    state = _state(
        sessions_attended=REVIEW_EVERY,
        reviews=1,
        attended_at_last_review=REVIEW_EVERY,
        **_given("wai-sr", given_at, DAY),
    )
    assert _missed(AT_REVIEW, state) == (("wai-sr",) if missed else ())


# -- ending ---------------------------------------------------------------------------------------------

AT_ENDING = _protocol(ScheduleEntry("ors", "ending"), ScheduleEntry("srs", "session-end"))
PLANNED = DAY - timedelta(days=10)


@pytest.mark.parametrize(("given", "due"), [(PLANNED - timedelta(days=1), True), (PLANNED, False)])
def test_an_ending_measure_is_due_once_the_ending_is_planned(given: date, due: bool) -> None:
    state = _state(
        stage=Stage.ENDING, ending_planned_on=PLANNED, sessions_attended=5, **_given("ors", 5, given)
    )
    assert _due(AT_ENDING, state, nxt=False) == (["ors"] if due else [])
    assert _due(AT_ENDING, _state(sessions_attended=5), nxt=False) == []  # not before it is planned


@pytest.mark.parametrize(("given", "missed"), [(PLANNED - timedelta(days=1), True), (PLANNED, False)])
def test_an_ending_without_its_measure_missed_it(given: date, missed: bool) -> None:
    state = _state(
        stage=Stage.CLOSED,
        ending_reason=EndingReason.GOALS_MET,
        ending_planned_on=PLANNED,
        sessions_attended=5,
        last_attended_on=DAY,
        **_given("ors", 5, given),
    )
    # closed: only the ending counts (the last session's SRS is not listed)
    assert _missed(AT_ENDING, state) == (("ors",) if missed else ())


def test_an_unplanned_ending_counts_from_the_last_attended_session() -> None:
    closed = {"stage": Stage.CLOSED, "ending_reason": EndingReason.DROPOUT, "last_attended_on": DAY}
    assert _missed(AT_ENDING, _state(**closed, **_given("ors", 5, DAY))) == ()
    assert _missed(AT_ENDING, _state(**closed, **_given("ors", 4, DAY - timedelta(days=7)))) == ("ors",)


# -- stages and the episode's own protocol --------------------------------------------------------------


@pytest.mark.parametrize("stage", [Stage.CLOSED, Stage.ON_HOLD])
def test_nothing_is_due_for_a_closed_episode_or_one_on_hold(stage: Stage) -> None:
    everything = _protocol(ScheduleEntry("core-10", "intake"), ScheduleEntry("ors", "session-start"))
    assert _due(everything, _state(stage=stage)) == []


def test_session_entries_are_not_due_before_therapy() -> None:
    assert _due(EVERY_SESSION, _state(stage=Stage.CONSULTATION)) == []


def test_no_protocol_makes_nothing_due_and_nothing_missed() -> None:
    assert due_measures(None, _state(), DAY, review_every=REVIEW_EVERY) == ()
    assert missed_measures(None, _state(sessions_attended=3), review_every=REVIEW_EVERY) == ()


@pytest.mark.parametrize(("protocol_from", "missed"), [(3, False), (2, True)])
def test_occasions_before_the_episode_protocol_was_set_are_not_missed(
    protocol_from: int, missed: bool
) -> None:
    state = _state(sessions_attended=3, protocol_from=protocol_from)
    assert _missed(EVERY_SESSION, state) == (("ors", "srs") if missed else ())
