"""Which scores an alert was computed from: what a share withholds it with.

An alert comes with the command that raised it, and the lockbox withholds it with that event. Some rules
also compare the new score with an earlier one (a reliable deterioration with the intake, an alliance drop
with the session before): shared, such an alert says something of that earlier score, so it is withheld
with the event that gave it too. ``alert-raised`` does not record which scores were compared, and running
the rule again at read time would need the rules, measures and settings of the day it fired; so the
points are decided from the stream. A rule reads the first, previous and latest points of the state after
its command, and those points are the fold of the episode's scored events alone (sessions, their
corrections, the client's responses): folding those before the alert gives the points it compared.

Other rules compare no score but read what earlier events left: the ruptures still open (an alert about
an unresolved rupture does not name it), the sessions since the last one attended and the latest
session's date (missed sessions, a long gap), the sessions attended and the red or urgent alerts since the
last review (a review due), the measurement protocol's schedule (a measure missed). Shared, such an alert
says something of what a withheld event there was (that a rupture exists, that a session was held or
missed), so it is withheld when a withheld event lies in the span its rule read, decided from the stream
as the lockbox goes (:class:`WithheldSoFar`): a withheld event before the span (a session before the last
review) leaves it shared. Where the span cannot be told (the schedule reads counts since the protocol was
set, since the last review and since each measure was given), it fails closed.

Which of these each built-in rule reads is declared here (:data:`COMPARED`, one entry per rule: a test
holds them equal). A plugin's rule is not known at read time (no rule registry reaches a read), so its
alert fails closed: it is withheld when any withheld event carried a score of its measure (of any measure,
for an alert about none).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from alliancekit.domain.vocab import AlertSeverity, Attendance, Rater
from alliancekit.events.types import (
    AlertRaised,
    ClientResponseRecorded,
    EndingPlanned,
    EpisodeClosed,
    EpisodeOpened,
    Event,
    ProtocolSet,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback import builtin
from alliancekit.feedback.rules import SCORED_EVENTS, track_of
from alliancekit.lifecycle.state import EpisodeState, fold, start

__all__ = ["COMPARED", "SCORE_KINDS", "Compared", "ScoresSoFar", "WithheldSoFar", "points_of"]

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
    OPEN_RUPTURES = "open-ruptures"
    """The ruptures noted and not yet resolved when the alert was raised: the alert does not name the one
    that reached its threshold (nor is the threshold of the day known at read time), so every one."""
    SINCE_ATTENDED = "since-attended"
    """The sessions since the last one attended, that one included (the no-shows in a row), and the
    latest session's date before the new one (the gap)."""
    SINCE_REVIEW = "since-review"
    """The sessions attended and the red or urgent alerts raised (which ask for a review) since the last
    review, that review included."""
    SCHEDULE = "schedule"
    """What the measurement protocol's schedule reads: counts since the protocol was set, since the last
    review and since each measure was given, the dates of the last session and score, the ending. No one
    span: any withheld event of those before the alert withholds it (fail closed)."""


COMPARED: Mapping[str, Compared] = {
    builtin.RISK_ITEM_ENDORSED: Compared.NOTHING,
    builtin.RELIABLE_DETERIORATION: Compared.INTAKE,
    builtin.OUTCOME_FAR_BELOW_EXPECTED: Compared.INTAKE,  # the expected response from the intake score
    builtin.OUTCOME_BELOW_EXPECTED: Compared.INTAKE,
    builtin.NO_RELIABLE_CHANGE: Compared.INTAKE,
    builtin.ALLIANCE_BELOW_CUTOFF: Compared.NOTHING,  # against the measure's cutoff
    builtin.ALLIANCE_DROPPED: Compared.PREVIOUS,
    builtin.SPLIT_ALLIANCE: Compared.NOTHING,  # the participants' ratings of the one session
    builtin.RUPTURE_UNRESOLVED: Compared.OPEN_RUPTURES,
    builtin.MISSED_SESSIONS: Compared.SINCE_ATTENDED,
    builtin.MEASURE_MISSED: Compared.SCHEDULE,
    builtin.REVIEW_DUE: Compared.SINCE_REVIEW,
}
"""What each built-in rule read besides its command's new scores: an earlier score, or a span of earlier
events (see :mod:`alliancekit.feedback.builtin`)."""
#: The kinds that compare an earlier score (the others read a span of events: :class:`WithheldSoFar`).
SCORE_KINDS = frozenset({Compared.INTAKE, Compared.PREVIOUS})
#: The events the measurement protocol's schedule is folded from (:data:`Compared.SCHEDULE`).
_SCHEDULED = (
    SessionRecorded,
    SessionCorrected,
    ClientResponseRecorded,
    ReviewRecorded,
    ProtocolSet,
    EndingPlanned,
    EpisodeClosed,
)


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


class WithheldSoFar:
    """What the entries withheld so far gave that a later alert may have read: their score points, and
    whether one lies in the span each counting rule reads (:class:`Compared`). The lockbox tells it of
    every entry it decides, in stream order (:meth:`decided`), and asks it of each alert
    (:meth:`alert_withheld`): the one decision stays the lockbox's."""

    def __init__(self, entries: Sequence[Any]) -> None:
        self._scores = ScoresSoFar(entries)
        self._points: set[Point] = set()  # the score points withheld events carried (points_of)
        self._any = False
        self._open_ruptures: dict[str, bool] = {}  # open rupture -> whether its note was withheld
        self._since_attended = False  # a withheld session since the last attended one (that one included)
        self._at_session = False  # ... as it stood before the latest session (what its alerts read)
        self._shared_on: date | None = None  # the latest date of a shared session, and of a withheld one
        self._withheld_on: date | None = None
        self._since_review = False
        self._schedule = False

    def decided(self, event: Event, hidden: bool) -> None:
        """Note ``event`` as shared or withheld (``hidden``)."""
        self._any = self._any or hidden
        if hidden:
            self._points |= points_of(event)
            self._schedule = self._schedule or isinstance(event, _SCHEDULED)
        if isinstance(event, SessionRecorded):
            self._session(event, hidden)
        elif isinstance(event, RuptureNoted) and not event.note.resolved:
            self._open_ruptures[event.rupture_id] = hidden
        elif isinstance(event, RuptureRepairRecorded) and event.attempt.resolved:
            self._open_ruptures.pop(event.rupture_id, None)
        elif isinstance(event, ReviewRecorded):
            self._since_review = hidden  # the span starts again at a review: withheld, it is in it
        elif isinstance(event, AlertRaised) and event.severity in (AlertSeverity.RED, AlertSeverity.URGENT):
            self._since_review = self._since_review or hidden  # it asked for a review

    def _session(self, event: SessionRecorded, hidden: bool) -> None:
        held_on = event.session.held_on
        # the gap is from the latest date before the session (sessions may be recorded out of date order)
        last_withheld = self._withheld_on is not None and (
            self._shared_on is None or self._withheld_on > self._shared_on
        )
        self._at_session = self._since_attended or last_withheld
        attended = event.session.attendance is Attendance.ATTENDED
        self._since_attended = hidden or (self._since_attended and not attended)
        self._since_review = self._since_review or (hidden and attended)
        if hidden:
            self._withheld_on = held_on if self._withheld_on is None else max(self._withheld_on, held_on)
        else:
            self._shared_on = held_on if self._shared_on is None else max(self._shared_on, held_on)

    def alert_withheld(self, alert: AlertRaised, index: int) -> bool:
        """Whether ``alert`` (``entries[index]``, raised by a shared event) read something of a withheld
        event: a score it compared, or a withheld event in the span its rule counts."""
        if not self._any:
            return False
        compared = COMPARED.get(alert.rule_id)
        if compared is Compared.OPEN_RUPTURES:
            return any(self._open_ruptures.values())
        if compared is Compared.SINCE_ATTENDED:
            return self._at_session
        if compared is Compared.SINCE_REVIEW:
            return self._since_review
        if compared is Compared.SCHEDULE:
            return self._schedule
        return _scores_withheld(alert, compared, self._scores, index, self._points)


def _scores_withheld(
    alert: AlertRaised, compared: Compared | None, scores: ScoresSoFar, index: int, withheld: set[Point]
) -> bool:
    """Whether ``alert`` (``entries[index]``) was computed from a score of a withheld event, whose points
    are ``withheld`` (:func:`points_of`)."""
    if not withheld:
        return False
    if compared is Compared.NOTHING or (compared is not None and alert.measure_id is None):
        return False
    state = None if compared is None else scores.before(index)
    if compared is None or state is None:  # a plugin's rule (or no opening to fold from): fail closed
        return any(alert.measure_id in (None, measure_id) for measure_id, _ in withheld)
    return not _compared_points(alert, compared, state).isdisjoint(withheld)
