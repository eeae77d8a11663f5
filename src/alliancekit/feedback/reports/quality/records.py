"""The plain records the quality reports compute on, and what they share.

The report modules beside this one are pure: they take :class:`EpisodeRecord` values (built from the
facade's reads by :mod:`.collect`, or by hand in a test) and return frozen results. Every result says what
it could not compute and why (:class:`Unavailable`), so an empty practice or a missing measure is a stated
reason, never a silent zero.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.feedback.reports.outcomes import Rate

PHQ9 = "phq-9"
GAD7 = "gad-7"


def whole_points(total: object) -> int:
    """A PHQ-9 or GAD-7 total as the integer the specifications compare.

    Totals are sums of integer item scores; the library may carry them as ``float`` or ``Decimal``, so the
    conversion is tolerant of either and of representation noise (1e-6), and refuses anything else: a
    fractional total would mean the record is not a PHQ-9/GAD-7 sum.
    """
    if isinstance(total, bool) or not isinstance(total, int | float | Decimal):
        raise ValueError("a measure total must be a number")
    value = Decimal(str(total)) if isinstance(total, float) else Decimal(total)
    nearest = value.to_integral_value()
    if abs(value - nearest) > Decimal("0.000001"):
        raise ValueError("a PHQ-9 or GAD-7 total must be a whole number")
    return int(nearest)


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months; the 29th-31st fall back to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@attrs.frozen
class ScoreRecord:
    """A PHQ-9 or GAD-7 total on the day of the (attended) session that gave it."""

    measure_id: str
    total: int = attrs.field(repr=hidden)
    on: date
    session: int


@attrs.frozen
class ReviewRecord:
    on: date
    decision: str = attrs.field(repr=hidden)
    scheduled: bool
    scores_reviewed: tuple[str, ...] = ()
    """The measures whose scores the review recorded as looked at."""


@attrs.frozen
class AlertRecord:
    rule_id: str = attrs.field(repr=hidden)
    severity: str = attrs.field(repr=hidden)
    raised_on: date
    acknowledged_on: date | None = None
    resolved_on: date | None = None


@attrs.frozen
class PlanChange:
    """A change to the plan of care as the lifecycle records it: a goal revised, or a review's decision
    to adjust the approach, revisit goals, add support, refer or plan the ending."""

    on: date
    kind: str = attrs.field(repr=hidden)


@attrs.frozen
class EpisodeRecord:
    """What the quality reports need of one episode, read through the facade."""

    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    clinician_id: str
    opened_on: date
    closed_on: date | None = None
    ending_reason: str | None = attrs.field(default=None, repr=hidden)
    """``None`` while open, or when closed at the consultation (never started therapy)."""
    attended: tuple[date, ...] = ()
    """Days of attended sessions."""
    scores: tuple[ScoreRecord, ...] = ()
    """PHQ-9 and GAD-7 totals (the measures the specifications compare)."""
    given: tuple[tuple[str, date], ...] = ()
    """Every measure administered in an attended session: (measure id, day)."""
    reviews: tuple[ReviewRecord, ...] = ()
    alerts: tuple[AlertRecord, ...] = ()
    plan_changes: tuple[PlanChange, ...] = ()
    withheld: bool = False
    """The client's lockbox kept part of the record from this reader (scores may be missing)."""

    def scores_of(self, measure_id: str) -> tuple[ScoreRecord, ...]:
        return tuple(sorted((s for s in self.scores if s.measure_id == measure_id), key=_when))

    @property
    def finished(self) -> bool:
        """Closed with an ending (not at the consultation)."""
        return self.closed_on is not None and self.ending_reason is not None


def _when(score: ScoreRecord) -> tuple[date, int]:
    return score.on, score.session


@attrs.frozen
class Unavailable:
    """Something a report could not compute, and why (``subject``: an episode, a client or ``practice``)."""

    subject: str
    reason: str


WITHHELD = "part of the record is withheld by the client's lockbox from this reader: it may be missing here"


def withheld_notes(episodes: Iterable[EpisodeRecord]) -> list[Unavailable]:
    """One statement per episode the client's lockbox kept (partly) from this reader."""
    return [Unavailable(e.episode_id, WITHHELD) for e in episodes if e.withheld]


def phq9_by_client(episodes: Iterable[EpisodeRecord]) -> dict[str, list[ScoreRecord]]:
    """Every client's PHQ-9 totals over all their episodes, in time order (clients without one too)."""
    by_client: dict[str, list[ScoreRecord]] = defaultdict(list)
    for episode in episodes:
        by_client[episode.client_ref].extend(episode.scores_of(PHQ9))
    for scores in by_client.values():
        scores.sort(key=_when)
    return by_client


def attended_by_client(episodes: Iterable[EpisodeRecord]) -> dict[str, list[date]]:
    """Every client's attended-session days over all their episodes, in time order."""
    seen: dict[str, list[date]] = defaultdict(list)
    for episode in episodes:
        seen[episode.client_ref].extend(episode.attended)
    for days in seen.values():
        days.sort()
    return seen


def no_phq9(by_client: Mapping[str, list[ScoreRecord]]) -> list[Unavailable]:
    """Why a PHQ-9 measure has nothing to compute on: no episodes, or no PHQ-9 at all."""
    if not by_client:
        return [Unavailable("practice", "no episodes: there is nothing to measure")]
    if not any(by_client.values()):
        return [Unavailable("practice", "no PHQ-9 is recorded: the measure needs PHQ-9 totals")]
    return []


def rate_json(rate: Rate) -> dict[str, Any]:
    return {"numerator": rate.numerator, "denominator": rate.denominator, "value": rate.value}


def window_json(start: date, end: date) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat()}
