"""What a measurement protocol makes due for an episode, and what it missed: pure functions of the
episode's state (and, for what is due, the clinic's day).

*Now* is what a host may ask for between sessions (a link sent today): ``every-weeks`` entries whose day
has come, ``intake`` until it is first given, ``review`` while a review is due, ``ending`` once the ending
is planned. *For the next session* adds what a session itself brings: ``session-start``, ``session-end``
and ``every-sessions`` entries whose count is reached.

A *missed* administration is an occasion that passed without the measure, judged from the recorded
sessions only (never the clock, so the caseload row stays a projection of the state):

* ``session-start`` / ``session-end``: the last attended session lacks it;
* ``every-sessions`` N: N attended sessions since its last administration (or any attended session when it
  was never given) have passed without it;
* ``every-weeks`` N: an attended session was held on or after its due day without it;
* ``intake``: sessions were attended and it was never given;
* ``review``: a review was recorded and it was not given at or after the session before it;
* ``ending``: therapy ended and it was not given on or after the day the ending was planned (the last
  attended session's day when no ending was planned).

Occasions before the episode's own protocol was set are not missed. Nothing is due for a closed episode
or one on hold; a closed episode can only have missed its ``ending`` measures.
"""

from __future__ import annotations

from datetime import date, timedelta

from alliancekit.domain.vocab import Stage
from alliancekit.lifecycle.rules import review_due
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.protocols.definition import DueMeasure, MeasurementProtocol, ScheduleEntry, When

#: Stages in which sessions are recorded: session-bound and interval entries fall due only then.
_TREATING = (Stage.GOAL_SETTING, Stage.ACTIVE, Stage.ENDING)
_SESSION_BOUND = frozenset({When.SESSION_START, When.SESSION_END, When.EVERY_SESSIONS})


def due_measures(
    protocol: MeasurementProtocol | None,
    state: EpisodeState,
    today: date,
    *,
    review_every: int,
    for_next_session: bool = False,
) -> tuple[DueMeasure, ...]:
    """The measures ``protocol`` makes due for the episode ``state`` on ``today`` (the clinic's day), in
    the protocol's order; with ``for_next_session``, those due at its next attended session."""
    if protocol is None or state.stage in (Stage.CLOSED, Stage.ON_HOLD):
        return ()
    due = []
    for entry in protocol.entries:
        if entry.when in _SESSION_BOUND and not for_next_session:
            continue
        if _is_due(entry, state, today, review_every):
            point = "end" if entry.when is When.SESSION_END else "start"
            due.append(DueMeasure(entry.measure, entry.when, point, _is_missed(entry, state, review_every)))
    return tuple(due)


def missed_measures(
    protocol: MeasurementProtocol | None, state: EpisodeState, *, review_every: int
) -> tuple[str, ...]:
    """The measures whose last occasion under ``protocol`` passed without them, sorted, each once."""
    if protocol is None:
        return ()
    closed = state.stage is Stage.CLOSED
    return tuple(
        sorted(
            {
                entry.measure
                for entry in protocol.entries
                if (not closed or entry.when is When.ENDING) and _is_missed(entry, state, review_every)
            }
        )
    )


def _last_given_on(state: EpisodeState, measure: str) -> date | None:
    point = state.latest_scores.get(measure)
    return None if point is None else point.held_on


def _is_due(entry: ScheduleEntry, state: EpisodeState, today: date, review_every: int) -> bool:
    measure, when = entry.measure, entry.when
    last = state.administered_at.get(measure)
    if when is When.INTAKE:
        return last is None
    if when is When.REVIEW:
        return review_due(state, review_every) and (last is None or last <= state.attended_at_last_review)
    if when is When.ENDING:
        planned = state.ending_planned_on
        given = _last_given_on(state, measure)
        return state.stage is Stage.ENDING and planned is not None and (given is None or given < planned)
    if state.stage not in _TREATING:
        return False
    if when in (When.SESSION_START, When.SESSION_END):
        return True
    assert entry.every is not None  # noqa: S101 - an interval entry has its interval
    if when is When.EVERY_SESSIONS:
        return last is None or state.sessions_attended + 1 - last >= entry.every
    given = _last_given_on(state, measure)  # every-weeks
    return given is None or today >= given + timedelta(weeks=entry.every)


def _is_missed(entry: ScheduleEntry, state: EpisodeState, review_every: int) -> bool:
    measure, when = entry.measure, entry.when
    last = state.administered_at.get(measure)
    attended = state.sessions_attended
    since_protocol = attended > state.protocol_from
    if when in (When.SESSION_START, When.SESSION_END):
        return since_protocol and last != attended
    if when is When.EVERY_SESSIONS:
        assert entry.every is not None  # noqa: S101 - an interval entry has its interval
        return since_protocol and (last is None or attended - last >= entry.every)
    if when is When.EVERY_WEEKS:
        assert entry.every is not None  # noqa: S101 - an interval entry has its interval
        held = state.last_attended_on
        given = _last_given_on(state, measure)
        return (
            since_protocol
            and held is not None
            and (given is None or held >= given + timedelta(weeks=entry.every))
        )
    if when is When.INTAKE:
        return since_protocol and last is None
    if when is When.REVIEW:
        reviewed_at = state.attended_at_last_review
        return (
            state.reviews > 0 and reviewed_at > state.protocol_from and (last is None or last < reviewed_at)
        )
    # ending
    if state.stage is not Stage.CLOSED or state.ending_reason is None:
        return False
    since = state.ending_planned_on or state.last_attended_on
    given = _last_given_on(state, measure)
    return since is not None and (given is None or given < since)
