"""A client's progress chart: outcome scores against the expected band and the clinical cutoff, alliance
beside them, ruptures, reviews, missed sessions and alerts marked on the same session axis.

:func:`progress_chart` gathers the data from the one episode's events; :func:`chart_vega_lite` turns it
into a Vega-Lite specification (the portable form a host's web page renders) and :func:`chart_svg` into a
static SVG drawn by this module (no browser, no network, no dependency; see docs/guides/feedback.md for
why the project draws its own SVG rather than depending on ``vl-convert-python``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.vocab import Attendance
from alliancekit.events.types import (
    AlertRaised,
    RecordedScore,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.expectation import Zone
from alliancekit.measures.definition import Measure, MeasureKind
from alliancekit.projections import primary_outcome

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


@attrs.frozen
class Point:
    session: int
    total: float
    zone: Zone = Zone.GREY


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
    label: str


@attrs.frozen
class Series:
    measure_id: str
    title: str
    range_min: float
    range_max: float
    higher_is_better: bool
    cutoff: float | None
    points: tuple[Point, ...]
    who: str = ""
    """Whose ratings, in an episode with several participants or raters (empty: the client's own)."""


@attrs.frozen
class ProgressChart:
    episode_id: str
    client_ref: str
    sessions: int
    outcome: Series | None
    alliance: Series | None
    band: tuple[BandPoint, ...]
    band_source: str | None
    markers: tuple[Marker, ...]
    others: tuple[Series, ...] = ()
    """The other participants' own ratings and collateral reports, each on the panel of its measure."""

    @property
    def empty(self) -> bool:
        return self.outcome is None and self.alliance is None


def progress_chart(practice: Practice, actor: Actor, episode_id: str) -> ProgressChart:
    """The chart's data for one episode, read from that episode's events."""
    state = practice.episode(actor, episode_id)
    registry = practice.plugins.measures()
    scores: dict[str, dict[int, float]] = {}
    tracked: dict[tuple[str, str | None, str], dict[int, float]] = {}
    markers: list[Marker] = []
    scheduled = 0

    def keep(score: RecordedScore, number: int) -> None:
        if score.own:
            scores.setdefault(score.measure_id, {})[number] = score.total
        else:
            tracked.setdefault((score.measure_id, score.about, score.rater.value), {})[number] = score.total

    for entry in practice.timeline(actor, episode_id):
        event = entry.event
        if isinstance(event, SessionRecorded):
            scheduled = event.number
            if event.session.attendance is Attendance.ATTENDED:
                for score in event.scores:
                    keep(score, event.number)
            else:
                markers.append(Marker(event.number, "missed", event.session.attendance.value))
        elif isinstance(event, SessionCorrected):
            for score in event.scores:
                keep(score, event.number)
        elif isinstance(event, ReviewRecorded):
            markers.append(Marker(scheduled, "review", "review" if event.scheduled else "unscheduled review"))
        elif isinstance(event, RuptureNoted):
            markers.append(Marker(event.at_session, "rupture", f"{event.note.kind.value} rupture"))
        elif isinstance(event, RuptureRepairRecorded) and event.attempt.resolved:
            markers.append(Marker(scheduled, "repair", "rupture repaired"))
        elif isinstance(event, AlertRaised):
            markers.append(Marker(event.at_session, "alert", f"{event.severity.value}: {event.rule_id}"))

    def measure(measure_id: str) -> Measure | None:
        try:
            found: Measure = registry.get(measure_id)
        except LookupError:
            return None
        return found

    def is_outcome(measure_id: str) -> bool:
        m = measure(measure_id)
        return m is not None and m.kind is MeasureKind.OUTCOME

    outcome_id = primary_outcome(state, is_outcome)
    alliance_ids = sorted(
        (m_id for m_id in scores if (m := measure(m_id)) is not None and m.kind is MeasureKind.ALLIANCE),
        key=lambda m_id: (m_id != "srs", m_id),
    )
    band: list[BandPoint] = []
    band_source = None
    outcome = None
    if outcome_id is not None and outcome_id in scores:
        m = measure(outcome_id)
        assert m is not None  # noqa: S101 - primary_outcome only names registered outcome measures
        points = sorted(scores[outcome_id].items())
        first_n, intake = points[0]
        zoned = []
        for n in range(first_n, max(scheduled, points[-1][0]) + 1):
            e = practice.expectations.expect(m, intake, n - first_n + 1)
            if e is None:
                continue
            band.append(BandPoint(n, e.expected, e.low, e.high, e.limit))
            band_source = e.source
        by_n = {b.session: b for b in band}
        for n, total in points:
            e = practice.expectations.expect(m, intake, n - first_n + 1)
            zoned.append(Point(n, total, e.zone(total) if e is not None and n in by_n else Zone.GREY))
        outcome = _series(m, tuple(zoned))
    alliance = None
    if alliance_ids:
        m = measure(alliance_ids[0])
        assert m is not None  # noqa: S101 - filtered above
        alliance = _series(m, tuple(Point(n, t) for n, t in sorted(scores[m.id].items())))
    panels = {s.measure_id for s in (outcome, alliance) if s is not None}
    others = tuple(
        attrs.evolve(
            _series(m, tuple(Point(n, t) for n, t in sorted(points.items()))), who=_who(state, about, rater)
        )
        for (measure_id, about, rater), points in sorted(
            tracked.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), kv[0][2])
        )
        if measure_id in panels and (m := measure(measure_id)) is not None
    )
    return ProgressChart(
        episode_id=episode_id,
        client_ref=state.client_ref,
        sessions=scheduled,
        outcome=outcome,
        alliance=alliance,
        band=tuple(band),
        band_source=band_source,
        markers=tuple(markers),
        others=others,
    )


def _who(state: Any, about: str | None, rater: str) -> str:
    """Whose ratings a series shows, by host references (never names)."""
    subject = about or state.client_ref
    return subject if rater == "client" else f"{subject}, rated by {rater}"


#: The lines of other participants and raters, in turn.
_OTHER_COLOURS = ("#00838f", "#ad1457", "#6d4c41", "#558b2f")


def _others_of(chart: ProgressChart, measure_id: str) -> list[tuple[Series, str]]:
    return [
        (s, _OTHER_COLOURS[i % len(_OTHER_COLOURS)])
        for i, s in enumerate(chart.others)
        if s.measure_id == measure_id
    ]


def _series(m: Measure, points: tuple[Point, ...]) -> Series:
    return Series(m.id, m.title, m.range_min, m.range_max, m.higher_is_better, m.clinical_cutoff, points)


# ------------------------------------------------------------------------------------------- Vega-Lite

_ZONE_COLOURS = {Zone.GREEN: "#2e7d32", Zone.AMBER: "#ef8f00", Zone.RED: "#c62828", Zone.GREY: "#757575"}
_MARKER_COLOURS = {
    "review": "#1565c0",
    "rupture": "#6a1b9a",
    "repair": "#00897b",
    "missed": "#616161",
    "alert": "#c62828",
}


def chart_vega_lite(chart: ProgressChart) -> dict[str, Any]:
    """A Vega-Lite v5 specification of the chart, data inline: outcome panel above, alliance below."""
    x = {
        "field": "session",
        "type": "quantitative",
        "title": "session",
        "scale": {"domain": [1, max(chart.sessions, 2)]},
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
                    "mark": {"type": "area", "opacity": 0.25, "color": "#66bb6a"},
                    "encoding": {
                        "x": x,
                        "y": {**y, "field": "low", "title": s.title},
                        "y2": {"field": "high"},
                    },
                },
                {
                    "data": {"values": band_values},
                    "mark": {"type": "line", "strokeDash": [4, 3], "color": "#2e7d32"},
                    "encoding": {"x": x, "y": {**y, "field": "expected"}},
                },
                {
                    "data": {"values": band_values},
                    "mark": {"type": "line", "strokeDash": [2, 2], "color": "#c62828"},
                    "encoding": {"x": x, "y": {**y, "field": "limit"}},
                },
            ]
        if s.cutoff is not None:
            layers.append(
                {
                    "data": {"values": [{"cutoff": s.cutoff}]},
                    "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#9e9e9e"},
                    "encoding": {"y": {**y, "field": "cutoff"}},
                }
            )
        values = [{"session": p.session, "total": p.total, "zone": p.zone.value} for p in s.points]
        layers += [
            {
                "data": {"values": values},
                "mark": {"type": "line", "color": "#37474f"},
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
                        "scale": {
                            "domain": [z.value for z in _ZONE_COLOURS],
                            "range": list(_ZONE_COLOURS.values()),
                        },
                    },
                    "tooltip": [{"field": "session"}, {"field": "total"}, {"field": "zone"}],
                },
            },
        ]
        layers += _vega_others(chart, s, x, y)
        events = [attrs.asdict(mk) for mk in chart.markers if mk.kind in ("review", "missed")]
        if events:
            layers.append(
                {
                    "data": {"values": events},
                    "mark": {"type": "rule", "strokeDash": [1, 3]},
                    "encoding": {
                        "x": x,
                        "color": {
                            "field": "kind",
                            "type": "nominal",
                            "scale": {
                                "domain": list(_MARKER_COLOURS),
                                "range": list(_MARKER_COLOURS.values()),
                            },
                        },
                        "tooltip": [{"field": "label"}],
                    },
                }
            )
        panels.append({"title": f"{s.title} against the expected response", "height": 220, "layer": layers})
    if chart.alliance is not None:
        s = chart.alliance
        y = {"type": "quantitative", "scale": {"domain": [s.range_min, s.range_max]}}
        values = [{"session": p.session, "total": p.total} for p in s.points]
        layers = [
            {
                "data": {"values": values},
                "mark": {"type": "line", "point": True, "color": "#5e35b1"},
                "encoding": {"x": x, "y": {**y, "field": "total", "title": s.title}},
            }
        ]
        if s.cutoff is not None:
            layers.append(
                {
                    "data": {"values": [{"cutoff": s.cutoff}]},
                    "mark": {"type": "rule", "strokeDash": [6, 4], "color": "#9e9e9e"},
                    "encoding": {"y": {**y, "field": "cutoff"}},
                }
            )
        layers += _vega_others(chart, s, x, y)
        ruptures = [attrs.asdict(mk) for mk in chart.markers if mk.kind in ("rupture", "repair")]
        if ruptures:
            layers.append(
                {
                    "data": {"values": ruptures},
                    "mark": {"type": "point", "shape": "triangle-down", "size": 90, "filled": True},
                    "encoding": {
                        "x": x,
                        "y": {"datum": s.range_max, "type": "quantitative"},
                        "color": {"field": "kind", "type": "nominal"},
                        "tooltip": [{"field": "label"}],
                    },
                }
            )
        panels.append({"title": f"Alliance: {s.title}", "height": 110, "layer": layers})
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": f"Progress of episode {chart.episode_id}",
        "width": 560,
        "vconcat": panels,
        "resolve": {"scale": {"color": "independent"}},
    }


def _vega_others(chart: ProgressChart, panel: Series, x: Any, y: Any) -> list[dict[str, Any]]:
    return [
        {
            "data": {"values": [{"session": p.session, "total": p.total, "who": s.who} for p in s.points]},
            "mark": {"type": "line", "point": True, "strokeDash": [6, 2], "color": colour},
            "encoding": {
                "x": x,
                "y": {**y, "field": "total"},
                "tooltip": [{"field": "who"}, {"field": "total"}],
            },
        }
        for s, colour in _others_of(chart, panel.measure_id)
    ]


# ------------------------------------------------------------------------------------------------ SVG

_W, _LEFT, _RIGHT = 720, 56, 150
_OUT_TOP, _OUT_H = 34, 210
_GAP, _ALL_H = 46, 96


def _f(value: float) -> str:
    return f"{value:.1f}"


class _Axis:
    def __init__(self, sessions: int, top: float, height: float, lo: float, hi: float) -> None:
        self.sessions = max(sessions, 2)
        self.top, self.height, self.lo, self.hi = top, height, lo, hi

    def x(self, session: float) -> float:
        return _LEFT + (session - 1) / (self.sessions - 1) * (_W - _LEFT - _RIGHT)

    def y(self, value: float) -> float:
        return self.top + (self.hi - value) / (self.hi - self.lo) * self.height


def _frame(out: list[str], axis: _Axis, title: str, ticks: Sequence[float]) -> None:
    right = _W - _RIGHT
    out.append(
        f'<text x="{_LEFT}" y="{_f(axis.top - 10)}" class="t">{escape(title)}</text>'
        f'<rect x="{_LEFT}" y="{_f(axis.top)}" width="{_f(right - _LEFT)}" height="{_f(axis.height)}"'
        ' fill="#fff" stroke="#bdbdbd"/>'
    )
    for tick in ticks:
        y = axis.y(tick)
        out.append(
            f'<line x1="{_LEFT}" x2="{_f(right)}" y1="{_f(y)}" y2="{_f(y)}" stroke="#eeeeee"/>'
            f'<text x="{_LEFT - 6}" y="{_f(y + 4)}" text-anchor="end" class="s">{tick:g}</text>'
        )


def _ticks(lo: float, hi: float) -> list[float]:
    step = 10.0 if hi - lo > 30 else 5.0 if hi - lo > 6 else 1.0
    start = lo if lo % step == 0 else lo + step - lo % step
    ticks = []
    value = start
    while value <= hi:
        ticks.append(value)
        value += step
    return ticks


def _cutoff(out: list[str], axis: _Axis, cutoff: float | None) -> None:
    if cutoff is None:
        return
    y = axis.y(cutoff)
    out.append(
        f'<line x1="{_LEFT}" x2="{_f(_W - _RIGHT)}" y1="{_f(y)}" y2="{_f(y)}" stroke="#757575"'
        ' stroke-dasharray="6 4"/>'
        f'<text x="{_f(_W - _RIGHT + 6)}" y="{_f(y + 4)}" class="s">cutoff {cutoff:g}</text>'
    )


def _polyline(points: Sequence[tuple[float, float]], stroke: str, extra: str = "") -> str:
    coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{stroke}" {extra}/>'


def chart_svg(chart: ProgressChart) -> str:
    """The chart as a standalone SVG document (inline in HTML as it is)."""
    out: list[str] = []
    height = 12.0
    if chart.empty:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="720" height="40" role="img">'
            '<text x="10" y="24" font-family="sans-serif" font-size="13">No scores recorded yet.</text></svg>'
        )
    x_axis: _Axis | None = None
    if chart.outcome is not None:
        s = chart.outcome
        axis = _Axis(chart.sessions, _OUT_TOP, _OUT_H, s.range_min, s.range_max)
        x_axis = axis
        source = {"fitted": "fitted from this practice", "norms": "from the measure's norms"}.get(
            chart.band_source or "", chart.band_source or ""
        )
        title = f"{s.title}: expected response ({source})" if chart.band else s.title
        _frame(out, axis, title, _ticks(s.range_min, s.range_max))
        if chart.band:
            upper = [(axis.x(b.session), axis.y(b.high)) for b in chart.band]
            lower = [(axis.x(b.session), axis.y(b.low)) for b in reversed(chart.band)]
            coords = " ".join(f"{_f(x)},{_f(y)}" for x, y in upper + lower)
            out.append(f'<polygon points="{coords}" fill="#a5d6a7" fill-opacity="0.45" stroke="none"/>')
            out.append(
                _polyline(
                    [(axis.x(b.session), axis.y(b.expected)) for b in chart.band],
                    "#2e7d32",
                    'stroke-dasharray="5 3" stroke-width="1.5"',
                )
            )
            out.append(
                _polyline(
                    [(axis.x(b.session), axis.y(b.limit)) for b in chart.band],
                    "#c62828",
                    'stroke-dasharray="2 3" stroke-width="1.2"',
                )
            )
        _cutoff(out, axis, s.cutoff)
        _markers(out, chart, axis)
        _svg_others(out, chart, s, axis)
        if s.points:
            out.append(
                _polyline(
                    [(axis.x(p.session), axis.y(p.total)) for p in s.points], "#37474f", 'stroke-width="2"'
                )
            )
            for p in s.points:
                out.append(
                    f'<circle cx="{_f(axis.x(p.session))}" cy="{_f(axis.y(p.total))}" r="4.5"'
                    f' fill="{_ZONE_COLOURS[p.zone]}" stroke="#fff"><title>session {p.session}: {p.total:g}'
                    f" ({p.zone.value})</title></circle>"
                )
        height = _OUT_TOP + _OUT_H
    if chart.alliance is not None:
        s = chart.alliance
        top = height + _GAP
        # zoom in on the top of the scale, where alliance scores live and a one-point fall matters
        every = [p.total for p in s.points] + [
            p.total for o, _ in _others_of(chart, s.measure_id) for p in o.points
        ]
        lowest = min(every + ([s.cutoff] if s.cutoff is not None else []))
        span = s.range_max - s.range_min
        lo = max(
            s.range_min, s.range_max - span * math.ceil((s.range_max - lowest + span / 10) / (span / 4)) / 4
        )
        axis = _Axis(chart.sessions, top, _ALL_H, lo, s.range_max)
        x_axis = x_axis or axis
        _frame(out, axis, f"Alliance: {s.title}", _ticks(lo, s.range_max))
        _cutoff(out, axis, s.cutoff)
        for mk in chart.markers:
            if mk.kind in ("rupture", "repair"):
                x = axis.x(mk.session)
                colour = _MARKER_COLOURS[mk.kind]
                out.append(
                    f'<path d="M{_f(x - 6)},{_f(top + 2)} L{_f(x + 6)},{_f(top + 2)}'
                    f' L{_f(x)},{_f(top + 12)} Z"'
                    f' fill="{colour}"><title>{escape(mk.label)} (session {mk.session})</title></path>'
                )
        _svg_others(out, chart, s, axis)
        if s.points:
            out.append(
                _polyline(
                    [(axis.x(p.session), axis.y(p.total)) for p in s.points], "#5e35b1", 'stroke-width="2"'
                )
            )
            for p in s.points:
                out.append(
                    f'<circle cx="{_f(axis.x(p.session))}" cy="{_f(axis.y(p.total))}" r="3.5" fill="#5e35b1">'
                    f"<title>session {p.session}: {p.total:g}</title></circle>"
                )
        height = top + _ALL_H
    assert x_axis is not None  # noqa: S101 - one panel at least (not empty)
    # the shared session axis
    for n in range(1, x_axis.sessions + 1):
        if x_axis.sessions > 20 and n % 5 and n != 1:
            continue
        out.append(
            f'<text x="{_f(x_axis.x(n))}" y="{_f(height + 16)}" text-anchor="middle" class="s">{n}</text>'
        )
    out.append(
        f'<text x="{_f((_W - _RIGHT + _LEFT) / 2)}" y="{_f(height + 34)}" text-anchor="middle" class="s">'
        "session</text>"
    )
    height += 58
    legend, rows = _legend(chart, height)
    out.append(legend)
    height += 18 * rows
    style = "<style>.t{font:600 13px sans-serif;fill:#212121}.s{font:11px sans-serif;fill:#424242}</style>"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_f(height)}"'
        f' viewBox="0 0 {_W} {_f(height)}" role="img"><title>Progress of {escape(chart.client_ref)}</title>'
        + style
        + "".join(out)
        + "</svg>"
    )


def _svg_others(out: list[str], chart: ProgressChart, panel: Series, axis: _Axis) -> None:
    """Another participant's or rater's line: dashed, in its own colour, named in the legend."""
    for s, colour in _others_of(chart, panel.measure_id):
        out.append(
            _polyline(
                [(axis.x(p.session), axis.y(p.total)) for p in s.points],
                colour,
                'stroke-width="1.6" stroke-dasharray="6 2"',
            )
        )
        for p in s.points:
            out.append(
                f'<circle cx="{_f(axis.x(p.session))}" cy="{_f(axis.y(p.total))}" r="3" fill="{colour}">'
                f"<title>{escape(s.who)}: session {p.session}: {p.total:g}</title></circle>"
            )


def _markers(out: list[str], chart: ProgressChart, axis: _Axis) -> None:
    bottom = axis.top + axis.height
    for mk in chart.markers:
        x = axis.x(mk.session)
        if mk.kind == "review":
            out.append(
                f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(axis.top)}" y2="{_f(bottom)}" stroke="#1565c0"'
                f' stroke-dasharray="3 3"><title>{escape(mk.label)} (session {mk.session})</title></line>'
                f'<text x="{_f(x + 3)}" y="{_f(axis.top + 12)}" class="s" fill="#1565c0">R</text>'
            )
        elif mk.kind == "missed":
            out.append(
                f'<text x="{_f(x)}" y="{_f(bottom - 6)}" text-anchor="middle" font-size="14"'
                f' fill="#616161">&#215;<title>{escape(mk.label)} (session {mk.session})</title></text>'
            )


def _legend(chart: ProgressChart, y: float) -> tuple[str, int]:
    entries: list[tuple[str, str]] = []
    if chart.band:
        entries += [("#a5d6a7", "expected band"), ("#c62828", "lower bound")]
    entries += [(_ZONE_COLOURS[Zone.GREEN], "on track"), (_ZONE_COLOURS[Zone.AMBER], "below band")]
    entries += [
        (_ZONE_COLOURS[Zone.RED], "below lower bound"),
        ("#1565c0", "R review"),
        ("#616161", "\u00d7 missed"),
    ]
    if chart.alliance is not None:
        entries += [("#6a1b9a", "▼ rupture"), ("#00897b", "▼ repaired")]
    panels = [s for s in (chart.outcome, chart.alliance) if s is not None]
    entries += [
        (colour, f"{o.title}: {o.who}") for s in panels for o, colour in _others_of(chart, s.measure_id)
    ]
    parts, x, rows = [], float(_LEFT), 1
    for colour, label in entries:
        width = 24 + 6.2 * len(label)
        if x + width > _W - 10:
            x, y, rows = float(_LEFT), y + 18, rows + 1
        parts.append(
            f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{_f(x + 14)}" y="{_f(y)}" class="s">{escape(label)}</text>'
        )
        x += width
    return "".join(parts), rows
