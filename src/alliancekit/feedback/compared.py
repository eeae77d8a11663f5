"""Which scores an alert was computed from: what a share withholds it with.

An alert comes with the command that raised it, and the lockbox withholds it with that event. Some rules
also compare the new score with an earlier one (a reliable deterioration with the intake, an alliance drop
with the session before): shared, such an alert says something of that earlier score, so it is withheld
with the event that gave it too. ``alert-raised`` does not record which scores were compared, and running
the rule again at read time would need the rules, measures and settings of the day it fired; so the
points are decided from the stream. A rule reads the first, previous and latest points of the state after
its command, and those points are the fold of the episode's scored events alone (sessions, their
corrections, the client's responses): folding those before the alert gives the points it compared.

Which point each built-in rule compares is declared here (:data:`COMPARED`, one entry per rule: a test
holds them equal). A plugin's rule is not known at read time (no rule registry reaches a read), so its
alert fails closed: it is withheld when any withheld event carried a score of its measure (of any measure,
for an alert about none).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from alliancekit.domain.vocab import Rater
from alliancekit.events.types import (
    AlertRaised,
    ClientResponseRecorded,
    EpisodeOpened,
    Event,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback import builtin
from alliancekit.feedback.rules import SCORED_EVENTS, track_of
from alliancekit.lifecycle.state import EpisodeState, fold, start

__all__ = ["COMPARED", "Compared", "ScoresSoFar", "compared_withheld", "points_of"]

#: A measure's score at a session, by the session's number (as a ``ScorePoint`` numbers it).
Point = tuple[str, int]


class Compared(enum.Enum):
    """The earlier score a rule compares a new one with."""

    NOTHING = "nothing"
    """The command's new scores alone (or no scores: sessions, ruptures, reviews counted)."""
    INTAKE = "intake"
    """The participant's first score of the measure, as they rated themselves (``ScoredMeasure.intake``)."""
    PREVIOUS = "previous"
    """The score before the latest of the measure about the participant (``RuleContext.previous``); the
    alert does not name the rater, so every rater's."""


COMPARED: Mapping[str, Compared] = {
    builtin.RISK_ITEM_ENDORSED: Compared.NOTHING,
    builtin.RELIABLE_DETERIORATION: Compared.INTAKE,
    builtin.OUTCOME_FAR_BELOW_EXPECTED: Compared.INTAKE,  # the expected response from the intake score
    builtin.OUTCOME_BELOW_EXPECTED: Compared.INTAKE,
    builtin.NO_RELIABLE_CHANGE: Compared.INTAKE,
    builtin.ALLIANCE_BELOW_CUTOFF: Compared.NOTHING,  # against the measure's cutoff
    builtin.ALLIANCE_DROPPED: Compared.PREVIOUS,
    builtin.SPLIT_ALLIANCE: Compared.NOTHING,  # the participants' ratings of the one session
    builtin.RUPTURE_UNRESOLVED: Compared.NOTHING,
    builtin.MISSED_SESSIONS: Compared.NOTHING,
    builtin.MEASURE_MISSED: Compared.NOTHING,
    builtin.REVIEW_DUE: Compared.NOTHING,
}
"""The earlier score each built-in rule compares (see :mod:`alliancekit.feedback.builtin`)."""


def points_of(event: Event) -> set[Point]:
    """The score points a scored event gives (a session's, as recorded or corrected, or a client's
    response counted at a session): withheld, an alert compared with one of them goes with it."""
    if isinstance(event, SessionRecorded | SessionCorrected):
        number = event.number
    elif isinstance(event, ClientResponseRecorded):
        number = event.at_session
    else:
        return set()
    return {(score.measure_id, number) for score in event.scores}


class ScoresSoFar:
    """The episode's score points as the scored events of ``entries`` (timeline entries, in stream order,
    from the opening) before a position leave them. Folded only when asked, and only forward: most reads
    withhold no scores and ask nothing."""

    def __init__(self, entries: Sequence[Any]) -> None:
        self._entries = entries
        self._state: EpisodeState | None = None
        self._folded = 0

    def before(self, index: int) -> EpisodeState | None:
        """The points before ``entries[index]`` (``None``: the entries do not start at an opening)."""
        if self._folded == 0:
            opened = self._entries[0].event if self._entries else None
            # the points depend on the scored events and the client's reference alone: no ids are needed
            self._state = start("", "", opened) if isinstance(opened, EpisodeOpened) else None
            self._folded = 1
        if self._state is not None and index > self._folded:
            scored = (e.event for e in self._entries[self._folded : index] if e.type in SCORED_EVENTS)
            self._state = fold(self._state, scored)
            self._folded = index
        return self._state


def _compared_points(alert: AlertRaised, compared: Compared, state: EpisodeState) -> set[Point]:
    """The points ``alert``'s rule compared (and the latest it compared them with), in the state it read."""
    measure_id = alert.measure_id
    if measure_id is None:
        return set()
    found: set[Point] = set()
    if compared is Compared.INTAKE:
        first, _, latest = track_of(state, measure_id, alert.participant)
        points = [first, latest]
    else:
        tracks = [track_of(state, measure_id, alert.participant, rater) for rater in Rater]
        points = [point for _, previous, latest in tracks for point in (previous, latest)]
    for point in points:
        if point is not None:
            found.add((measure_id, point.session_number))
    return found


def compared_withheld(alert: AlertRaised, scores: ScoresSoFar, index: int, withheld: set[Point]) -> bool:
    """Whether ``alert`` (``entries[index]``) was computed from a score of a withheld event, whose points
    are ``withheld`` (:func:`points_of`)."""
    if not withheld:
        return False
    compared = COMPARED.get(alert.rule_id)
    if compared is Compared.NOTHING or (compared is not None and alert.measure_id is None):
        return False
    state = None if compared is None else scores.before(index)
    if compared is None or state is None:  # a plugin's rule (or no opening to fold from): fail closed
        return any(alert.measure_id in (None, measure_id) for measure_id, _ in withheld)
    return not _compared_points(alert, compared, state).isdisjoint(withheld)
