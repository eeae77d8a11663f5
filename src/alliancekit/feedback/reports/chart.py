"""A client's progress chart: outcome scores against the expected band and the clinical cutoff, every
alliance measure beside them, ruptures, reviews, missed sessions and alerts marked on the same session axis
(an alert is marked at the session that raised it, and said in words in the chart's text and its table).

:func:`progress_chart` gathers the data from the one episode's events; :func:`chart_vega_lite` turns it
into a Vega-Lite specification (the portable form a host's web page renders) and :func:`chart_svg` into a
static SVG drawn by this module (no browser, no network, no dependency; see docs/guides/feedback.md for
why the project draws its own SVG rather than depending on ``vl-convert-python``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import AlertSeverity, Attendance, RequestPoint
from alliancekit.events.types import (
    AlertRaised,
    ClientResponseRecorded,
    RecordedScore,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.config import Comparison
from alliancekit.feedback.expectation import Zone
from alliancekit.feedback.reports import palette
from alliancekit.feedback.reports.palette import ZONE_STYLES
from alliancekit.measures.definition import Measure, MeasureKind
from alliancekit.measures.norms import ClinicalIf
from alliancekit.measures.stored import StoredMeasures
from alliancekit.projections import primary_outcome

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"

#: An alert's severity as the chart says it: in words of how pressing it is, since the severities' names
#: (amber, red) are colours and the chart's words never lean on a colour.
SEVERITY_WORDS: Mapping[AlertSeverity, str] = MappingProxyType(
    {
        AlertSeverity.URGENT: "urgent",
        AlertSeverity.RED: "serious",
        AlertSeverity.AMBER: "caution",
        AlertSeverity.INFO: "information",
    }
)


@attrs.frozen
class Point:
    session: int
    """The session the score counts at (as the feedback counts it)."""
    total: float = attrs.field(repr=False)  # a score: kept out of the repr
    zone: Zone = attrs.field(default=Zone.GREY, repr=hidden)
    on: date | None = attrs.field(default=None, repr=hidden)
    """The clinic's day of the score: the session's, or the day the client answered."""
    by_client: bool = False
    """Filled in by the client themselves (a link, a kiosk, or on paper), not given in the session."""
    offset: float = 0.0
    """Where it is drawn from ``session``: -0.5 before it, +0.5 after it (a response between sessions)."""

    @property
    def x(self) -> float:
        """The point's place on the session axis."""
        return self.session + self.offset


@attrs.frozen
class BandPoint:
    session: int
    expected: float
    low: float
    high: float
    limit: float


@attrs.frozen
class Marker:
    session: int
    kind: str
    """``rupture``, ``repair``, ``review``, ``missed`` or ``alert``."""
    label: str = attrs.field(repr=hidden)
    """What happened, in words; an alert's is its severity and the rule's fixed message."""

    @property
    def x(self) -> float:
        """Its place on the session axis: something before the first session (a review, an alert raised by a
        response the client filled in) at the axis's left edge, where that response is drawn."""
        return max(self.session, 0.5)

    @property
    def when(self) -> str:
        return "before the first session" if self.session < 1 else f"session {self.session}"


@attrs.frozen
class Series:
    measure_id: str
    title: str
    range_min: float
    range_max: float
    higher_is_better: bool
    cutoff: float | None
    points: tuple[Point, ...]
    concern_at_cutoff: bool = False
    """For alliance: whether a total equal to the cutoff is a concern (the practice's
    ``FeedbackConfig.alliance_comparison``), so the chart says what the alliance alert says."""
    who: str = attrs.field(default="", repr=hidden)
    """Whose ratings, in an episode with several participants or raters (empty: the client's own)."""
    clinical_if: ClinicalIf | None = None
    """Which side of ``cutoff`` is the clinical range (the episode's norm, ``Measure.norm_for``)."""

    def clinical(self, total: float) -> bool | None:
        """Whether ``total`` is in the clinical range (``None`` without a cutoff)."""
        if self.cutoff is None or self.clinical_if is None:
            return None
        return self.clinical_if.is_clinical(total, self.cutoff)

    def below_cutoff(self, total: float) -> bool:
        """Whether ``total`` is on the concern side of the cutoff (``False`` without a cutoff)."""
        if self.cutoff is None:
            return False
        return total <= self.cutoff if self.concern_at_cutoff else total < self.cutoff


@attrs.frozen
class ProgressChart:
    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    sessions: int
    outcome: Series | None
    alliance: Series | None
    band: tuple[BandPoint, ...]
    band_source: str | None
    markers: tuple[Marker, ...]
    others: tuple[Series, ...] = ()
    """The other participants' own ratings and collateral reports, each on the panel of its measure."""
    measures: tuple[Series, ...] = ()
    """The client's own scores of every other measure but alliance (symptom measures such as the PHQ-9,
    further outcome measures), each on a panel of its own, in the order first scored."""

    uncharted: tuple[tuple[str, tuple[Point, ...]], ...] = ()
    """The client's scores of measures whose definition is not installed (a plugin removed), by measure id:
    without its range and cutoff a measure cannot be drawn, but its scores are still listed."""
    uncharted_others: tuple[tuple[str, str, tuple[Point, ...]], ...] = ()
    """Another participant's or rater's scores of a measure not installed: (measure id, whose, points)."""
    further_alliance: tuple[Series, ...] = ()
    """The episode's other alliance measures (a WAI-SR or a GSRS beside the SRS), each on an alliance panel
    of its own below ``alliance``."""

    @property
    def alliances(self) -> tuple[Series, ...]:
        """Every alliance panel, the first (``alliance``) first."""
        return (*((self.alliance,) if self.alliance is not None else ()), *self.further_alliance)

    @property
    def panels(self) -> tuple[Series, ...]:
        """Every panel, top to bottom: outcome, further measures, alliance."""
        return (*((self.outcome,) if self.outcome is not None else ()), *self.measures, *self.alliances)

    @property
    def uncharted_ids(self) -> list[str]:
        """The measures not installed whose scores are listed, not drawn."""
        return sorted({m_id for m_id, _ in self.uncharted} | {m_id for m_id, _, _ in self.uncharted_others})

    @property
    def empty(self) -> bool:
        return not self.panels and not self.uncharted_ids

    @property
    def extent(self) -> int:
        """The last session the axis shows: the last scheduled, or the next one a response counts at."""
        series = [*self.panels, *self.others]
        return max([self.sessions, *(p.session for s in series for p in s.points)])


def chart_measures(practice: Practice) -> StoredMeasures:
    """What the charts (and the practice-outcomes report) describe a measure by: the installed plugin's
    definition, or the one stored with the data when none is installed or the installed one differs. Those
    are read at most once, from the first guarded read a report makes with it (a chart's timeline, the
    outcomes' closed episodes: ``StoredMeasures.covered_by``), so under that read's audit entry and never
    for a reader it refuses. One serves every chart of a report."""
    return StoredMeasures(practice.plugins.measures())


def progress_chart(
    practice: Practice, actor: Actor, episode_id: str, *, definitions: StoredMeasures | None = None
) -> ProgressChart:
    """The chart's data for one episode, read from that episode's events; ``definitions`` as
    :func:`chart_measures` makes them (made here when not given)."""
    state = practice.episode(actor, episode_id)  # first: a refused read reads no definition
    timeline = practice.timeline(actor, episode_id)
    registry = definitions if definitions is not None else chart_measures(practice)
    registry.covered_by(timeline)  # the stored definitions, if needed, under the timeline read's entry
    # the version each measure was last scored with: the definition it is drawn by (a stored one when its
    # plugin is gone)
    versions: dict[str, str] = {}
    # points by measure (or by measure, participant and rater), keyed so that a session's correction
    # replaces its scores while each response the client filled in is kept beside them
    scores: dict[str, dict[tuple[int, float, int], Point]] = {}
    tracked: dict[tuple[str, str | None, str], dict[tuple[int, float, int], Point]] = {}
    markers: list[Marker] = []
    scheduled = 0

    def keep(score: RecordedScore, point: Point, key: tuple[int, float, int]) -> None:
        versions[score.measure_id] = score.version
        if score.own:
            scores.setdefault(score.measure_id, {})[key] = point
        else:
            tracked.setdefault((score.measure_id, score.about, score.rater.value), {})[key] = point

    for i, entry in enumerate(timeline):
        event = entry.event
        if isinstance(event, SessionRecorded):
            scheduled = event.number
            if event.session.attendance is Attendance.ATTENDED:
                for score in event.scores:
                    keep(
                        score,
                        Point(event.number, score.total, on=event.session.held_on),
                        (event.number, 0, 0),
                    )
            else:
                markers.append(Marker(event.number, "missed", event.session.attendance.value))
        elif isinstance(event, SessionCorrected):
            # the correction replaces the session's content: a measure it no longer has goes too
            for kept in (*scores.values(), *tracked.values()):
                kept.pop((event.number, 0, 0), None)
            for score in event.scores:
                keep(score, Point(event.number, score.total, on=event.session.held_on), (event.number, 0, 0))
        elif isinstance(event, ClientResponseRecorded):
            # drawn in the session it names, else between sessions: before the session it counts at (a
            # start-of-session measure answered ahead of it), or after the last one
            offset = (
                0.0 if event.session_id is not None else -0.5 if event.point is RequestPoint.START else 0.5
            )
            for score in event.scores:
                point = Point(
                    event.at_session, score.total, on=event.responded_on, by_client=True, offset=offset
                )
                keep(score, point, (event.at_session, offset, i + 1))
        elif isinstance(event, ReviewRecorded):
            markers.append(Marker(scheduled, "review", "review" if event.scheduled else "unscheduled review"))
        elif isinstance(event, RuptureNoted):
            markers.append(Marker(event.at_session, "rupture", f"{event.note.kind.value} rupture"))
        elif isinstance(event, RuptureRepairRecorded) and event.attempt.resolved:
            markers.append(Marker(scheduled, "repair", "rupture repaired"))
        elif isinstance(event, AlertRaised):
            # the rule's fixed message, never a score or the client's words
            words = SEVERITY_WORDS[event.severity]
            markers.append(Marker(event.at_session, "alert", f"{words} alert: {event.message}"))

    # a measure every score of which a correction took out is not on the chart
    scores = {m_id: kept for m_id, kept in scores.items() if kept}
    tracked = {key: kept for key, kept in tracked.items() if kept}

    def ordered(points: dict[tuple[int, float, int], Point]) -> list[Point]:
        return [points[k] for k in sorted(points, key=lambda k: (k[0] + k[1], k[2]))]

    def measure(measure_id: str) -> Measure | None:
        return registry.scored_with(measure_id, versions.get(measure_id))

    def is_outcome(measure_id: str) -> bool:
        m = measure(measure_id)
        return m is not None and m.kind is MeasureKind.OUTCOME

    outcome_id = primary_outcome(state, is_outcome)
    # every alliance measure recorded, the client's own or only another participant's (a partner's WAI-SR)
    alliance_ids = sorted(
        {
            m_id
            for m_id in (*scores, *(key[0] for key in tracked))
            if (m := measure(m_id)) is not None and m.kind is MeasureKind.ALLIANCE
        },
        key=lambda m_id: (m_id != "srs", m_id),
    )
    band: list[BandPoint] = []
    band_source = None
    outcome = None
    if outcome_id is not None and outcome_id in scores:
        m = measure(outcome_id)
        assert m is not None  # noqa: S101 - primary_outcome only names described outcome measures
        points = ordered(scores[outcome_id])
        first_n, intake = points[0].session, points[0].total
        zoned = []
        for n in range(first_n, max(scheduled, points[-1].session) + 1):
            e = practice.expectations.expect(m, intake, n - first_n + 1, population=state.population)
            if e is None:
                continue
            band.append(BandPoint(n, e.expected, e.low, e.high, e.limit))
            band_source = e.source
        by_n = {b.session: b for b in band}
        for p in points:
            e = practice.expectations.expect(m, intake, p.session - first_n + 1, population=state.population)
            zone = e.zone(p.total) if e is not None and p.session in by_n else Zone.GREY
            zoned.append(attrs.evolve(p, zone=zone))
        outcome = _series(m, tuple(zoned), state.population)
    at_cutoff = practice.feedback.alliance_comparison is Comparison.AT_OR_BELOW
    alliances = [
        attrs.evolve(
            _series(m, tuple(ordered(scores.get(m.id, {}))), state.population), concern_at_cutoff=at_cutoff
        )
        for m_id in alliance_ids
        if (m := measure(m_id)) is not None
    ]
    # every other measure but alliance, in the order first scored (ties: by id): the client's own scores,
    # or a panel for another participant's alone (a partner's PHQ-9 has nowhere else to go)
    first_at: dict[str, float] = {}
    for m_id, kept in [*scores.items(), *((key[0], v) for key, v in tracked.items())]:
        first_at[m_id] = min(first_at.get(m_id, math.inf), ordered(kept)[0].x)
    measures = tuple(
        _series(m, tuple(ordered(scores.get(m_id, {}))), state.population)
        for m_id in sorted(first_at, key=lambda m_id: (first_at[m_id], m_id))
        if m_id != outcome_id and (m := measure(m_id)) is not None and m.kind is not MeasureKind.ALLIANCE
    )
    panels = {s.measure_id: s for s in (outcome, *alliances, *measures) if s is not None}
    others = tuple(
        attrs.evolve(
            panels[measure_id],
            points=tuple(attrs.evolve(p, zone=Zone.GREY) for p in ordered(points)),
            who=_who(state.client_ref, about, rater),
        )
        for (measure_id, about, rater), points in sorted(
            tracked.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])
        )
        if measure_id in panels
    )
    return ProgressChart(
        episode_id=episode_id,
        client_ref=state.client_ref,
        sessions=scheduled,
        outcome=outcome,
        alliance=alliances[0] if alliances else None,
        further_alliance=tuple(alliances[1:]),
        band=tuple(band),
        band_source=band_source,
        markers=tuple(markers),
        others=others,
        measures=measures,
        uncharted=tuple(
            (m_id, tuple(ordered(scores[m_id]))) for m_id in sorted(scores) if measure(m_id) is None
        ),
        # a partner's scores of a measure since removed: listed like the client's, not lost
        uncharted_others=tuple(
            (m_id, _who(state.client_ref, about, rater), tuple(ordered(points)))
            for (m_id, about, rater), points in sorted(
                tracked.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])
            )
            if measure(m_id) is None
        ),
    )


def _who(client_ref: str, about: str | None, rater: str) -> str:
    """Whose ratings a series shows, by host references (never names)."""
    subject = about or client_ref
    return subject if rater == "client" else f"{subject}, rated by {rater}"


def _others_of(chart: ProgressChart, measure_id: str) -> list[tuple[Series, str, str]]:
    """The other series drawn on one panel, each with its colour and marker shape, in turn."""
    return [
        (s, *palette.OTHER_SERIES[i % len(palette.OTHER_SERIES)])
        for i, s in enumerate(chart.others)
        if s.measure_id == measure_id
    ]


def _series(m: Measure, points: tuple[Point, ...], population: str | None) -> Series:
    """A measure's panel, its cutoff the episode's norm population's (``Measure.norm_for``)."""
    norm = m.norm_for(population)
    cutoff = None if norm is None else norm.clinical_cutoff
    return Series(
        m.id,
        m.title,
        m.range_min,
        m.range_max,
        m.higher_is_better,
        None if cutoff is None else cutoff.value,
        points,
        clinical_if=None if cutoff is None else cutoff.clinical_if,
    )


# ------------------------------------------------------------------------------------- words and shapes


def _score(value: float, *against: float | None) -> str:
    """A score (or an expected score, a bound) as every text of the chart shows it: one decimal place, rounded
    half away from zero from its exact decimal, a whole number without ``.0``; with more places, up to six,
    where one would put it level with or past a value it is compared with and is not level with (9.96
    against a cutoff of 10 reads 9.96, not 10)."""
    exact = Decimal(repr(value))
    shown = exact
    for places in range(1, 7):
        shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if all(_side(shown, a) == _side(exact, a) for a in against if a is not None):
            break
    return format(shown.normalize(), "f")


def _side(value: Decimal, against: float) -> int:
    other = Decimal(repr(against))
    return (value > other) - (value < other)


def _short(series: Series) -> str:
    """The measure's short name (its id, as clinicians write it: ORS, PHQ-9, CORE-10)."""
    return series.measure_id.upper()


def _bound_word(series: Series) -> str:
    return "lower bound" if series.higher_is_better else "upper bound"


def _cutoff_side(series: Series, low: bool) -> str:
    """``below its cutoff``, ``at or above its cutoff`` (or the other way round at the cutoff itself)."""
    at = series.concern_at_cutoff
    if low:
        return f"{'at or below' if at else 'below'} its cutoff"
    return f"{'above' if at else 'at or above'} its cutoff"


def _alliance_status(series: Series, total: float) -> str:
    if series.cutoff is None:
        return ""
    return f"{_cutoff_side(series, series.below_cutoff(total))} of {series.cutoff:g}"


def _alliance_text(series: Series, total: float) -> str:
    """A score and what it means, e.g. ``SRS 34, below its cutoff of 36``."""
    status = _alliance_status(series, total)
    return f"{_short(series)} {_score(total, series.cutoff)}" + (f", {status}" if status else "")


def _outcome_text(series: Series, point: Point, band: BandPoint | None) -> str:
    """A score and what it means, e.g. ``ORS 21, on track (expected 19.5, lower bound 14)``."""
    zoned = band is not None and point.zone is not Zone.GREY
    compared = (band.expected, band.limit) if band is not None and zoned else ()
    text = (
        f"{_short(series)} {_score(point.total, series.cutoff, *compared)}, {ZONE_STYLES[point.zone].label}"
    )
    if band is not None and zoned:
        expected, limit = _score(band.expected, point.total), _score(band.limit, point.total)
        text += f" (expected {expected}, {_bound_word(series)} {limit})"
    return text + _source(point)


_CLINICAL_RULES = {
    ClinicalIf.BELOW: "below {}",
    ClinicalIf.AT_OR_BELOW: "{} or below",
    ClinicalIf.ABOVE: "above {}",
    ClinicalIf.AT_OR_ABOVE: "{} or above",
}


def _clinical_status(series: Series, total: float) -> str:
    """``in the clinical range (10 or above)``, from the measure's own cutoff and side ("" without one)."""
    clinical = series.clinical(total)
    if clinical is None or series.clinical_if is None or series.cutoff is None:
        return ""
    rule = _CLINICAL_RULES[series.clinical_if].format(f"{series.cutoff:g}")
    return f"{'in' if clinical else 'outside'} the clinical range ({rule})"


def _measure_text(series: Series, point: Point) -> str:
    """A score of a further measure and what it means, e.g. ``PHQ-9 12, in the clinical range (10 or
    above)``."""
    status = _clinical_status(series, point.total)
    total = _score(point.total, series.cutoff)
    return f"{_short(series)} {total}" + (f", {status}" if status else "") + _source(point)


def _source(point: Point) -> str:
    """Where a score the client filled in themselves came from, and on which of the clinic's days."""
    if not point.by_client:
        return ""
    if point.offset == 0:
        where = f"in session {point.session}"
    elif point.offset < 0:
        where = f"before session {point.session}"
    else:
        where = "before the first session" if point.session == 0 else f"after session {point.session}"
    on = "" if point.on is None else f" on {point.on.isoformat()}"
    return f", filled in by the client{on}, {where}"


def _other_text(series: Series, point: Point) -> str:
    """Another participant's or rater's score, e.g. ``client-partner-1, ORS 20``."""
    return f"{series.who}, {_short(series)} {_score(point.total, series.cutoff)}{_source(point)}"


def chart_summary(chart: ProgressChart) -> str:
    """The chart in one or two sentences of plain words: the latest scores and what they mean."""
    if chart.empty:
        return "No scores recorded yet."
    parts = []
    by_n = {b.session: b for b in chart.band}
    if chart.outcome is not None and chart.outcome.points:
        last = chart.outcome.points[-1]
        text = _outcome_text(chart.outcome, last, by_n.get(last.session))
        parts.append(f"Latest outcome, session {last.session}: {text}.")
    for s in (s for s in chart.measures if s.points):
        last = s.points[-1]
        parts.append(f"Latest {_short(s)}, session {last.session}: {_measure_text(s, last)}.")
    for s in (s for s in chart.alliances if s.points):
        last = s.points[-1]
        text = _alliance_text(s, last.total) + _source(last)
        parts.append(f"Latest alliance, session {last.session}: {text}.")
    if chart.uncharted_ids:
        names = ", ".join(m_id.upper() for m_id in chart.uncharted_ids)
        parts.append(f"Not charted: {names} (the measure is not installed; its scores are in the table).")
    counts = [
        (sum(mk.kind == kind for mk in chart.markers), word)
        for kind, word in (("missed", "missed session"), ("review", "review"), ("rupture", "rupture noted"))
    ]
    noted = [f"{n} {word}{'' if n == 1 else 's'}" for n, word in counts if n]
    if noted:
        parts.append("Also: " + ", ".join(noted) + ".")
    # every alert, a sentence each: a clinician reading the text alone learns what the marks say
    for mk in (mk for mk in chart.markers if mk.kind == "alert"):
        stop = "" if mk.label.endswith((".", "!", "?")) else "."
        parts.append(f"{mk.when[0].upper()}{mk.when[1:]}: {mk.label}{stop}")
    return " ".join(parts)


def chart_alerts(chart: ProgressChart) -> list[tuple[int, str]]:
    """Every alert raised in the episode, in order, as (session, severity and the rule's fixed message): the
    session is the one that raised it (0: before the first session)."""
    return [(mk.session, mk.label) for mk in chart.markers if mk.kind == "alert"]


def chart_rows(chart: ProgressChart) -> list[tuple[int, str, str]]:
    """The chart's scores as rows of text, one per session with a score: (session, outcome and further
    measures, alliance); several scores of a session (a response the client filled in beside it, further
    measures) are joined by semicolons."""
    by_n = {b.session: b for b in chart.band}
    outcome: dict[int, list[str]] = {}
    alliance: dict[int, list[str]] = {}
    if chart.outcome is not None:
        s = chart.outcome
        for p in s.points:
            outcome.setdefault(p.session, []).append(_outcome_text(s, p, by_n.get(p.session)))
    for s in chart.measures:
        for p in s.points:
            outcome.setdefault(p.session, []).append(_measure_text(s, p))
    for s in chart.alliances:
        for p in s.points:
            alliance.setdefault(p.session, []).append(_alliance_text(s, p.total) + _source(p))
    for m_id, points in chart.uncharted:
        for p in points:
            text = f"{m_id.upper()} {_score(p.total)} (measure not installed){_source(p)}"
            outcome.setdefault(p.session, []).append(text)
    for m_id, who, points in chart.uncharted_others:
        for p in points:
            text = f"{who}, {m_id.upper()} {_score(p.total)} (measure not installed){_source(p)}"
            outcome.setdefault(p.session, []).append(text)
    # the other participants' and raters' scores, as their points' tooltips say them
    alliance_ids = {s.measure_id for s in chart.alliances}
    for s in chart.others:
        column = alliance if s.measure_id in alliance_ids else outcome
        for p in s.points:
            column.setdefault(p.session, []).append(_other_text(s, p))
    return [
        (n, "; ".join(outcome.get(n, ["-"])), "; ".join(alliance.get(n, ["-"])))
        for n in sorted(outcome.keys() | alliance.keys())
    ]


# ------------------------------------------------------------------------------------------- Vega-Lite


def chart_vega_lite(chart: ProgressChart) -> dict[str, Any]:
    """A Vega-Lite v5 specification of the chart, data inline, with the SVG's panels in its order (outcome,
    further measures, every alliance measure) and its words in the tooltips. Every panel has the session axis;
    the y scales are the measures' full ranges; zones are told by colour, shape and a status in the tooltip;
    reviews, missed sessions and alerts are rules on the first panel."""
    # half a session of margin each side, as the SVG: a response between sessions is drawn half-way
    x = {
        "field": "session",
        "type": "quantitative",
        "title": "session",
        "scale": {"domain": [0.5, max(chart.extent, 1) + 0.5]},
        "axis": {"tickMinStep": 1},
    }
    panels: list[dict[str, Any]] = []
    if chart.outcome is not None:
        s = chart.outcome
        y = {"type": "quantitative", "scale": {"domain": [s.range_min, s.range_max]}}
        layers: list[dict[str, Any]] = []
        if chart.band:
            band_values = [attrs.asdict(b) for b in chart.band]
            layers += [
                {
                    "data": {"values": band_values},
                    "mark": {"type": "area", "color": palette.BAND},
                    "encoding": {
                        "x": x,
                        "y": {**y, "field": "low", "title": s.title},
                        "y2": {"field": "high"},
                    },
                },
                {
                    "data": {"values": band_values},
                    "mark": {"type": "line", "strokeDash": [4, 3], "color": palette.EXPECTED_LINE},
                    "encoding": {"x": x, "y": {**y, "field": "expected"}},
                },
                {
                    "data": {"values": band_values},
                    "mark": {"type": "line", "strokeDash": [2, 2], "color": palette.LIMIT_LINE},
                    "encoding": {"x": x, "y": {**y, "field": "limit"}},
                },
            ]
        if s.cutoff is not None:
            layers.append(_vega_cutoff(y, s.cutoff))
        by_n = {b.session: b for b in chart.band}
        values = [
            {
                "session": p.x,
                "total": p.total,
                "zone": p.zone.value,
                "status": _outcome_text(s, p, by_n.get(p.session)),
            }
            for p in s.points
        ]
        zones = list(ZONE_STYLES)
        layers += [
            {
                "data": {"values": values},
                "mark": {"type": "line", "color": palette.OUTCOME_LINE},
                "encoding": {"x": x, "y": {**y, "field": "total", "title": s.title}},
            },
            {
                "data": {"values": values},
                "mark": {"type": "point", "filled": True, "size": 70},
                "encoding": {
                    "x": x,
                    "y": {**y, "field": "total"},
                    "color": {
                        "field": "zone",
                        "type": "nominal",
                        "title": "status",
                        "scale": {
                            "domain": [z.value for z in zones],
                            "range": [ZONE_STYLES[z].colour for z in zones],
                        },
                        "legend": {"labelExpr": _vega_zone_labels()},
                    },
                    "shape": {
                        "field": "zone",
                        "type": "nominal",
                        "scale": {
                            "domain": [z.value for z in zones],
                            "range": [ZONE_STYLES[z].shape for z in zones],
                        },
                        "legend": None,
                    },
                    "tooltip": [{"field": "status", "title": "point"}],
                },
            },
        ]
        layers += _vega_others(chart, s, x, y)
        panels.append({"title": f"{s.title} against the expected response", "height": 220, "layer": layers})
    panels += [_vega_measure(chart, s, x) for s in chart.measures]
    panels += [_vega_alliance(chart, s, x) for s in chart.alliances]
    # reviews, missed sessions and alerts on the first panel, as the SVG draws them
    if panels:
        panels[0]["layer"] += _vega_session_marks(chart, x)
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": f"Progress of episode {chart.episode_id}",
        "width": 560,
        "vconcat": panels,
        "resolve": {"scale": {"color": "independent", "shape": "independent"}},
    }


def _vega_alliance(chart: ProgressChart, s: Series, x: Any) -> dict[str, Any]:
    """An alliance panel: its scores and cutoff; ruptures and repairs on the first alliance panel."""
    y = {"type": "quantitative", "scale": {"domain": [s.range_min, s.range_max]}}
    statuses = [_alliance_text(s, p.total) + _source(p) for p in s.points]
    layers = _vega_scored_line(s, x, y, statuses, palette.ALLIANCE)
    ruptures = [_vega_marker(mk) for mk in chart.markers if mk.kind in ("rupture", "repair")]
    if ruptures and s is chart.alliance:
        layers.append(
            {
                "data": {"values": ruptures},
                "mark": {"type": "point", "size": 90, "filled": True},
                "encoding": {
                    "x": x,
                    "y": {"datum": s.range_max, "type": "quantitative"},
                    "color": {
                        "field": "kind",
                        "type": "nominal",
                        "scale": {
                            "domain": ["rupture", "repair"],
                            "range": [_MARK_SHAPES[k][1] for k in ("rupture", "repair")],
                        },
                    },
                    "shape": {
                        "field": "kind",
                        "type": "nominal",
                        "scale": {
                            "domain": ["rupture", "repair"],
                            "range": [_MARK_SHAPES[k][0] for k in ("rupture", "repair")],
                        },
                    },
                    "tooltip": [{"field": "label"}, {"field": "when"}],
                },
            }
        )
    layers += _vega_others(chart, s, x, y)
    return {"title": f"Alliance: {s.title}", "height": 110, "layer": layers}


def _vega_marker(mk: Marker) -> dict[str, Any]:
    """A marker's data: drawn where the SVG draws it (``session`` is its place on the axis)."""
    return {"session": mk.x, "kind": mk.kind, "label": mk.label, "when": mk.when}


def _vega_session_marks(chart: ProgressChart, x: Any) -> list[dict[str, Any]]:
    """Reviews, missed sessions and alerts: a rule at their session, told apart by colour and words."""
    kinds = ("review", "missed", "alert")
    events = [_vega_marker(mk) for mk in chart.markers if mk.kind in kinds]
    if not events:
        return []
    return [
        {
            "data": {"values": events},
            "mark": {"type": "rule", "strokeDash": [1, 3]},
            "encoding": {
                "x": x,
                "color": {
                    "field": "kind",
                    "type": "nominal",
                    "scale": {
                        "domain": list(kinds),
                        "range": [palette.REVIEW, palette.MISSED, palette.ALERT],
                    },
                },
                "tooltip": [{"field": "label"}, {"field": "when"}],
            },
        }
    ]


def _vega_measure(chart: ProgressChart, s: Series, x: Any) -> dict[str, Any]:
    """A further measure's panel: its scores (filled by whether they are in the clinical range) and cutoff."""
    y = {"type": "quantitative", "scale": {"domain": [s.range_min, s.range_max]}}
    layers = _vega_scored_line(s, x, y, [_measure_text(s, p) for p in s.points], palette.OUTCOME_LINE)
    layers += _vega_others(chart, s, x, y)
    return {"title": s.title, "height": 110, "layer": layers}


def _vega_others(chart: ProgressChart, panel: Series, x: Any, y: Any) -> list[dict[str, Any]]:
    """Each other participant's or rater's series: a dashed line with its own colour and point shape."""
    return [
        {
            "data": {
                "values": [
                    {"session": p.x, "total": p.total, "who": s.who, "status": _other_text(s, p)}
                    for p in s.points
                ]
            },
            "mark": {"type": "line", "strokeDash": [6, 2], "color": colour, "point": {"shape": shape}},
            "encoding": {
                "x": x,
                "y": {**y, "field": "total"},
                "tooltip": [{"field": "session"}, {"field": "status", "title": "score"}],
            },
        }
        for s, colour, shape in _others_of(chart, panel.measure_id)
    ]


def _vega_scored_line(
    s: Series, x: Any, y: dict[str, Any], statuses: list[str], color: str
) -> list[dict[str, Any]]:
    """A panel's scores as a line with points, each point's words (``statuses``) in its tooltip, and the
    measure's cutoff when it has one."""
    values = [
        {"session": p.x, "total": p.total, "status": status}
        for p, status in zip(s.points, statuses, strict=True)
    ]
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": values},
            "mark": {"type": "line", "point": True, "color": color},
            "encoding": {
                "x": x,
                "y": {**y, "field": "total", "title": s.title},
                "tooltip": [{"field": "session"}, {"field": "status", "title": "score"}],
            },
        }
    ]
    if s.cutoff is not None:
        layers.append(_vega_cutoff(y, s.cutoff))
    return layers


def _vega_cutoff(y: dict[str, Any], cutoff: float) -> dict[str, Any]:
    return {
        "data": {"values": [{"cutoff": cutoff}]},
        "mark": {"type": "rule", "strokeDash": [6, 4], "color": palette.CUTOFF_LINE},
        "encoding": {
            "y": {**y, "field": "cutoff"},
            "tooltip": [{"field": "cutoff", "title": "clinical cutoff"}],
        },
    }


def _vega_zone_labels() -> str:
    """A Vega expression naming each zone by its meaning in the legend."""
    cases = " : ".join(
        f"datum.label === {json.dumps(z.value)} ? {json.dumps(style.label)}"
        for z, style in ZONE_STYLES.items()
    )
    return f"{cases} : datum.label"


# ------------------------------------------------------------------------------------------------ SVG
#
# Drawn for a narrow screen first: the viewBox is 340 units wide and the SVG is as wide as its container, so
# on a 375 px phone one unit is about one CSS pixel and the 13-unit labels read at about 13 px; the report
# lays charts out in columns at least that wide on larger screens. Each drawn mark carries
# ``data-mark="<key>"`` and the legend lists exactly the keys drawn (``data-legend``).

_W, _LEFT, _RIGHT = 340, 38, 10
_TITLE_H, _AXIS_H = 24, 42
_OUT_H, _ALL_H = 170, 96
_X_LABEL_GAP, _Y_LABEL_GAP = 26, 20
_SVG_STYLE = (
    f"<style>.t{{font:600 14px sans-serif;fill:{palette.TEXT}}}"
    f".s{{font:13px sans-serif;fill:{palette.MUTED}}}</style>"
)


#: The shape and colour of the alliance panel's marks (zones have theirs in ``palette.ZONE_STYLES``).
_MARK_SHAPES = {
    "alliance": ("circle", palette.ALLIANCE),
    "alliance-low": ("square", palette.ALLIANCE),
    "measure": ("circle", palette.OUTCOME_LINE),
    "measure-clinical": ("square", palette.OUTCOME_LINE),
    "rupture": ("triangle-down", palette.RUPTURE),
    "repair": ("triangle-up", palette.REPAIR),
}


def _f(value: float) -> str:
    return f"{value:.1f}"


class _Axis:
    """Sessions 1..n across (half a session of margin each side), a measure's full range up."""

    def __init__(self, sessions: int, top: float, height: float, lo: float, hi: float) -> None:
        self.sessions = max(sessions, 1)
        self.top, self.height, self.lo, self.hi = top, height, lo, hi
        self.width = _W - _LEFT - _RIGHT

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def x(self, session: float) -> float:
        return _LEFT + (session - 0.5) / self.sessions * self.width

    def y(self, value: float) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * self.height


_STEPS = (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000)


def _step(span: float, length: float, gap: float) -> int:
    """The smallest round step that leaves at least ``gap`` units between labels."""
    return next((s for s in _STEPS if length * s / span >= gap), _STEPS[-1])


def _y_ticks(lo: float, hi: float, height: float) -> list[float]:
    step = _step(hi - lo, height, _Y_LABEL_GAP)
    first = math.ceil(lo / step) * step
    return [float(v) for v in range(int(first), math.floor(hi) + 1, step)]


def _x_ticks(sessions: int, width: float) -> list[int]:
    step = _step(max(sessions, 1), width, _X_LABEL_GAP)
    return [1] + [n for n in range(step, sessions + 1, step) if n != 1]


class _Canvas:
    """The SVG being drawn, and the legend entry of every kind of mark drawn on it."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.drawn: dict[str, tuple[str, str]] = {}
        """mark key -> (swatch kind, label)."""

    def add(self, svg: str) -> None:
        self.parts.append(svg)

    def mark(self, key: str, swatch: str, label: str, svg: str) -> None:
        """Draw ``svg`` (an element carrying ``data-mark="key"``) and put its key in the legend."""
        self.drawn.setdefault(key, (swatch, label))
        self.parts.append(svg)


def _title(text: str) -> str:
    return f"<title>{escape(text)}</title>"


def _shape(
    shape: str, x: float, y: float, colour: str, attributes: str, inner: str, *, hollow: bool = False
) -> str:
    """A filled marker of one of the five shapes, centred on (x, y), with a white outline; ``hollow``: white
    inside a coloured outline (a score the client filled in themselves)."""
    if hollow:
        common = f'fill="{palette.SURFACE}" stroke="{colour}" stroke-width="2.5" {attributes}'
    else:
        common = f'fill="{colour}" stroke="{palette.SURFACE}" stroke-width="1" {attributes}'
    if shape == "circle":
        return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="5.5" {common}>{inner}</circle>'
    if shape == "square":
        return f'<rect x="{_f(x - 5)}" y="{_f(y - 5)}" width="10" height="10" {common}>{inner}</rect>'
    points = {
        "diamond": ((0, -7), (7, 0), (0, 7), (-7, 0)),
        "triangle-up": ((0, -7), (6.5, 5), (-6.5, 5)),
        "triangle-down": ((0, 7), (6.5, -5), (-6.5, -5)),
    }[shape]
    coords = " ".join(f"{_f(x + dx)},{_f(y + dy)}" for dx, dy in points)
    return f'<polygon points="{coords}" {common}>{inner}</polygon>'


def _polyline(points: Sequence[tuple[float, float]], stroke: str, extra: str, inner: str = "") -> str:
    coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{stroke}" {extra}>{inner}</polyline>'


def _panel(c: _Canvas, top: float, height: float, title: str, series: Series, sessions: int) -> _Axis:
    """A panel's title, frame, y scale (the measure's whole range) and its own session axis."""
    axis = _Axis(sessions, top + _TITLE_H, height, series.range_min, series.range_max)
    c.add(f'<text x="2" y="{_f(top + 15)}" class="t">{escape(title)}</text>')
    c.add(
        f'<rect x="{_LEFT}" y="{_f(axis.top)}" width="{_f(axis.width)}" height="{_f(height)}"'
        f' fill="{palette.SURFACE}" stroke="{palette.BORDER}"/>'
    )
    for tick in _y_ticks(series.range_min, series.range_max, height):
        y = axis.y(tick)
        c.add(
            f'<line x1="{_LEFT}" x2="{_f(_LEFT + axis.width)}" y1="{_f(y)}" y2="{_f(y)}"'
            f' stroke="{palette.GRID}"/>'
            f'<text x="{_LEFT - 5}" y="{_f(y + 4.5)}" text-anchor="end" class="s">{tick:g}</text>'
        )
    for n in _x_ticks(axis.sessions, axis.width):
        c.add(
            f'<text x="{_f(axis.x(n))}" y="{_f(axis.bottom + 16)}" text-anchor="middle" class="s">{n}</text>'
        )
    c.add(
        f'<text x="{_f(_LEFT + axis.width / 2)}" y="{_f(axis.bottom + 34)}" text-anchor="middle" class="s">'
        "session</text>"
    )
    return axis


def _cutoff(c: _Canvas, axis: _Axis, series: Series) -> None:
    """The clinical cutoff: its value is in the legend (a label in the plot would cover points near it)."""
    if series.cutoff is None:
        return
    y = axis.y(series.cutoff)
    key = f"cutoff-{series.measure_id}"
    c.mark(
        key,
        "line-cutoff",
        f"{_short(series)} clinical cutoff ({series.cutoff:g})",
        f'<line data-mark="{key}" x1="{_LEFT}" x2="{_f(_LEFT + axis.width)}" y1="{_f(y)}" y2="{_f(y)}"'
        f' stroke="{palette.CUTOFF_LINE}" stroke-width="1.5" stroke-dasharray="6 4">'
        f"{_title(f'{_short(series)} clinical cutoff: {series.cutoff:g}')}</line>",
    )


def _outcome(c: _Canvas, chart: ProgressChart, s: Series, top: float) -> float:
    axis = _panel(c, top, _OUT_H, f"{_short(s)} score, session by session", s, chart.extent)
    if chart.band:
        upper = [(axis.x(b.session), axis.y(b.high)) for b in chart.band]
        lower = [(axis.x(b.session), axis.y(b.low)) for b in reversed(chart.band)]
        coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in upper + lower)
        c.mark(
            "band",
            "area",
            "expected range",
            f'<polygon data-mark="band" points="{coords}" fill="{palette.BAND}" stroke="none">'
            f"{_title('expected range: where most clients who started alike score')}</polygon>",
        )
        c.mark(
            "expected",
            "line-expected",
            "expected score",
            _polyline(
                [(axis.x(b.session), axis.y(b.expected)) for b in chart.band],
                palette.EXPECTED_LINE,
                'data-mark="expected" stroke-dasharray="5 3" stroke-width="2"',
                _title("expected score at each session"),
            ),
        )
        bound = _bound_word(s)
        c.mark(
            "limit",
            "line-limit",
            bound,
            _polyline(
                [(axis.x(b.session), axis.y(b.limit)) for b in chart.band],
                palette.LIMIT_LINE,
                'data-mark="limit" stroke-dasharray="2 3" stroke-width="2"',
                _title(f"{bound}: past it the client is off track"),
            ),
        )
    _cutoff(c, axis, s)
    _others(c, chart, s, axis)
    _session_marks(c, chart, axis)
    if s.points:
        c.add(
            _polyline(
                [(axis.x(p.x), axis.y(p.total)) for p in s.points],
                palette.OUTCOME_LINE,
                'stroke-width="2"',
            )
        )
        by_n = {b.session: b for b in chart.band}
        for p in s.points:
            style = ZONE_STYLES[p.zone]
            text = f"Session {p.session}: {_outcome_text(s, p, by_n.get(p.session))}"
            _point(c, axis, p, f"zone-{p.zone.value}", style.label, style.shape, style.colour, text)
    return axis.bottom + _AXIS_H


def _session_marks(c: _Canvas, chart: ProgressChart, axis: _Axis) -> None:
    """Reviews, missed sessions and alerts, on the chart's first panel (whichever measure it shows)."""
    alerts: dict[int, list[str]] = {}
    for mk in chart.markers:
        x = axis.x(mk.x)
        if mk.kind == "alert":
            alerts.setdefault(mk.session, []).append(mk.label)
        elif mk.kind == "review":
            c.mark(
                "review",
                "review",
                "review",
                f'<g data-mark="review">{_title(f"{mk.label}, {mk.when}")}'
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(axis.top)}" y2="{_f(axis.bottom)}"'
                f' stroke="{palette.REVIEW}" stroke-width="1.5" stroke-dasharray="3 3"/>'
                f'<text x="{_f(x + 3)}" y="{_f(axis.top + 13)}" class="s"'
                f' style="fill:{palette.REVIEW}">R</text></g>',
            )
        elif mk.kind == "missed":
            c.mark(
                "missed",
                "missed",
                "missed session",
                f'<text data-mark="missed" x="{_f(x)}" y="{_f(axis.bottom - 5)}" text-anchor="middle"'
                f' font-size="16" font-family="sans-serif" fill="{palette.MISSED}">&#215;'
                f"{_title(f'session {mk.session} missed: {mk.label}')}</text>",
            )
    # one mark per session, every alert it raised in its words (a review's letter is to the right)
    for n, labels in alerts.items():
        mk = Marker(n, "alert", "; ".join(labels))
        c.mark(
            "alert",
            "alert",
            "alert raised",
            # anchored at its start (left of the session), as no axis label is: the axes' labels stay findable
            f'<text data-mark="alert" x="{_f(axis.x(mk.x) - 8)}" y="{_f(axis.top + 15)}"'
            f' font-size="16" font-weight="700" font-family="sans-serif" fill="{palette.ALERT}">!'
            f"{_title(f'{mk.when}: {mk.label}')}</text>",
        )


def _point(
    c: _Canvas, axis: _Axis, p: Point, key: str, label: str, shape: str, colour: str, text: str
) -> None:
    """One score's marker with its tooltip; one the client filled in themselves is hollow, inside a mark of
    its own kind (so the legend names both what it means and where it came from)."""
    svg = _shape(
        shape, axis.x(p.x), axis.y(p.total), colour, f'data-mark="{key}"', _title(text), hollow=p.by_client
    )
    if not p.by_client:
        c.mark(key, key, label, svg)
        return
    c.drawn.setdefault(key, (key, label))
    c.mark("by-client", "by-client", "filled in by the client", f'<g data-mark="by-client">{svg}</g>')


def _measure(c: _Canvas, chart: ProgressChart, s: Series, top: float) -> float:
    """A further measure's panel (a symptom measure, another outcome measure): its scores, squares in the
    clinical range, against its cutoff."""
    axis = _panel(c, top, _ALL_H, f"{_short(s)} score, session by session", s, chart.extent)
    _cutoff(c, axis, s)
    _others(c, chart, s, axis)
    if s is chart.panels[0]:
        _session_marks(c, chart, axis)
    if s.points:
        c.add(
            _polyline(
                [(axis.x(p.x), axis.y(p.total)) for p in s.points], palette.OUTCOME_LINE, 'stroke-width="2"'
            )
        )
    for p in s.points:
        clinical = s.clinical(p.total)
        key = "measure-clinical" if clinical else "measure"
        label = (
            "score"
            if clinical is None
            else "in the clinical range"
            if clinical
            else "outside the clinical range"
        )
        shape, colour = _MARK_SHAPES[key]
        _point(c, axis, p, key, label, shape, colour, f"Session {p.session}: {_measure_text(s, p)}")
    return axis.bottom + _AXIS_H


def _others(c: _Canvas, chart: ProgressChart, panel: Series, axis: _Axis) -> None:
    """Each other participant's or rater's series: dashed, in its own colour and marker shape, named in the
    legend and in every point's tooltip."""
    for i, (s, colour, shape) in enumerate(_others_of(chart, panel.measure_id)):
        key = f"other-{panel.measure_id}-{i}"
        c.add(
            _polyline(
                [(axis.x(p.x), axis.y(p.total)) for p in s.points],
                colour,
                'stroke-width="2" stroke-dasharray="6 2"',
            )
        )
        for p in s.points:
            c.mark(
                key,
                f"other:{colour}:{shape}",
                f"{_short(s)}: {s.who}",
                _shape(
                    shape,
                    axis.x(p.x),
                    axis.y(p.total),
                    colour,
                    f'data-mark="{key}"',
                    _title(f"Session {p.session}: {_other_text(s, p)}"),
                ),
            )


def _alliance(c: _Canvas, chart: ProgressChart, s: Series, top: float) -> float:
    axis = _panel(c, top, _ALL_H, f"Alliance: {_short(s)}", s, chart.extent)
    _cutoff(c, axis, s)
    _others(c, chart, s, axis)
    if s is chart.panels[0]:
        _session_marks(c, chart, axis)
    for mk in chart.markers:
        # ruptures are of the alliance as a whole: marked once, on the first alliance panel
        if mk.kind in ("rupture", "repair") and s is chart.alliance:
            shape, colour = _MARK_SHAPES[mk.kind]
            c.mark(
                mk.kind,
                mk.kind,
                "rupture noted" if mk.kind == "rupture" else "rupture repaired",
                _shape(
                    shape,
                    axis.x(mk.x),
                    axis.top + 8,
                    colour,
                    f'data-mark="{mk.kind}"',
                    _title(f"{mk.label}, {mk.when}"),
                ),
            )
    if s.points:
        c.add(
            _polyline(
                [(axis.x(p.x), axis.y(p.total)) for p in s.points], palette.ALLIANCE, 'stroke-width="2"'
            )
        )
        for p in s.points:
            low = s.below_cutoff(p.total)
            key = "alliance-low" if low else "alliance"
            label = f"alliance {_cutoff_side(s, low)}" if s.cutoff is not None else "alliance score"
            text = f"Session {p.session}: {_alliance_text(s, p.total)}{_source(p)}"
            _point(c, axis, p, key, label, _MARK_SHAPES[key][0], palette.ALLIANCE, text)
    return axis.bottom + _AXIS_H


_SWATCHES_FIRST = ("band", "expected", "limit")


def _swatch(kind: str, x: float, y: float) -> str:
    """The legend's picture of one kind of mark, drawn as the chart draws it, centred at (x + 8, y)."""
    cx = x + 8
    lines = {
        "line-expected": (palette.EXPECTED_LINE, "5 3"),
        "line-limit": (palette.LIMIT_LINE, "2 3"),
        "line-cutoff": (palette.CUTOFF_LINE, "6 4"),
    }
    if kind in lines:
        colour, dash = lines[kind]
        return (
            f'<line x1="{_f(x)}" x2="{_f(x + 16)}" y1="{_f(y)}" y2="{_f(y)}" stroke="{colour}"'
            f' stroke-width="2" stroke-dasharray="{dash}"/>'
        )
    if kind == "area":
        return (
            f'<rect x="{_f(x)}" y="{_f(y - 6)}" width="16" height="12" fill="{palette.BAND}"'
            f' stroke="{palette.BORDER}"/>'
        )
    if kind == "review":
        return (
            f'<text x="{_f(cx)}" y="{_f(y + 4.5)}" text-anchor="middle" class="s"'
            f' style="fill:{palette.REVIEW}">R</text>'
        )
    if kind == "alert":
        return (
            f'<text x="{_f(cx)}" y="{_f(y + 5.5)}" text-anchor="middle" font-size="16" font-weight="700"'
            f' font-family="sans-serif" fill="{palette.ALERT}">!</text>'
        )
    if kind == "missed":
        return (
            f'<text x="{_f(cx)}" y="{_f(y + 5)}" text-anchor="middle" font-size="16" font-family="sans-serif"'
            f' fill="{palette.MISSED}">&#215;</text>'
        )
    if kind.startswith("zone-"):
        style = ZONE_STYLES[Zone(kind.removeprefix("zone-"))]
        return _shape(style.shape, cx, y, style.colour, "", "")
    if kind == "by-client":
        return _shape("circle", cx, y, palette.TEXT, "", "", hollow=True)
    if kind.startswith("other:"):
        _, colour, shape = kind.split(":")
        return _shape(shape, cx, y, colour, "", "")
    shape, colour = _MARK_SHAPES[kind]
    return _shape(shape, cx, y, colour, "", "")


def _legend_order(key: str) -> tuple[int, str]:
    if key in _SWATCHES_FIRST:
        return (_SWATCHES_FIRST.index(key), "")
    if key.startswith("cutoff-"):
        return (5, key)
    if key.startswith("zone-"):
        return (10 + list(ZONE_STYLES).index(Zone(key.removeprefix("zone-"))), "")
    return (20, key)


def _legend(c: _Canvas, top: float) -> float:
    """Every kind of mark drawn, and nothing else, flowed into rows; returns the bottom."""
    x, y = 2.0, top + 10
    c.add('<g class="legend">')
    for key in sorted(c.drawn, key=_legend_order):
        kind, label = c.drawn[key]
        width = 24 + 7.4 * len(label) + 14
        if x > 2 and x + width > _W:
            x, y = 2.0, y + 22
        c.add(
            f'<g data-legend="{key}">{_swatch(kind, x, y)}'
            f'<text x="{_f(x + 22)}" y="{_f(y + 4.5)}" class="s">{escape(label)}</text></g>'
        )
        x += width
    c.add("</g>")
    return y + 14


def chart_svg(chart: ProgressChart) -> str:
    """The chart as a standalone SVG document (inline in HTML as it is): as wide as its container, drawn to
    be read on a phone, with a legend of exactly the marks it draws."""

    def head(height: float) -> str:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {_W} {_f(height)}" role="img"'
            f' preserveAspectRatio="xMinYMin meet"><title>Progress of {escape(chart.client_ref)}</title>'
            f"<desc>{escape(chart_summary(chart))}</desc>{_SVG_STYLE}"
        )

    if chart.empty:
        return head(30) + '<text x="2" y="20" class="s">No scores recorded yet.</text></svg>'
    if not chart.panels:
        names = ", ".join(m_id.upper() for m_id in chart.uncharted_ids)
        return (
            head(30)
            + f'<text x="2" y="20" class="s">Not charted: {escape(names)} not installed.</text></svg>'
        )
    c = _Canvas()
    height = 0.0
    if chart.outcome is not None:
        height = _outcome(c, chart, chart.outcome, height)
    for s in chart.measures:
        height = _measure(c, chart, s, height)
    for s in chart.alliances:
        height = _alliance(c, chart, s, height)
    height = _legend(c, height)
    return head(height) + "".join(c.parts) + "</svg>"
