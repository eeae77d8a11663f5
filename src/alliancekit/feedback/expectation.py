"""Expected treatment response: the score expected at session *n* for clients who started at a similar level.

Three sources, tried in this order for a measure:

1. a plugin's model, from the ``alliancekit_expectation_model`` hook (first plugin to answer wins);
2. the **fitted** curve of the intake band, once the practice has ``min_episodes_per_band`` closed episodes
   in that band: each closed episode gives a slope ``(final - intake) / ln(n)`` (score against the log of
   the session number, the shape of Lambert's OQ recovery curves, measures.md), and the band's expectation
   at session *n* is ``intake + q * ln(n)`` for the empirical 10th, 25th, 50th, 75th and 90th percentile
   slopes ``q``: the median is the expected score, 25th-75th the tolerance band, and the 10th (90th for
   measures where higher is worse) the lower bound;
3. the **rational** expectation from the measure's norms before that: a client who starts in the clinical
   range is expected to improve by one reliable-change threshold by session 6 along the same log curve;
   the band is half a threshold either side and the lower bound one threshold below the expectation. This
   is a documented project default, *unconfirmed*: it is a starting point until the practice's own data
   take over, not a published curve.

Limits: the fit uses each episode's first and last score only (kept in the caseload projection), so it
recovers the typical log-curve slope of a band, not a full mixed model; bands with few episodes fall back
to the rational rule; episodes with one score say nothing about change and are left out.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from alliancekit.events.types import ReviewedScore
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.measures.change import classify_change
from alliancekit.measures.definition import Measure, MeasureKind

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.registry import MeasureRegistry
    from alliancekit.plugins.manager import PluginHost

#: The session by which the rational expectation reaches one reliable-change threshold.
RATIONAL_HORIZON = 6


class Zone(StrEnum):
    """OpenFIT dashboard zones (measures.md): within or above the band, below it, below the lower bound."""

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    GREY = "grey"
    """One score or none: nothing to compare."""


@attrs.frozen
class Expectation:
    """The expected total at one session, with its tolerance band and the bound below which it is red."""

    session: int
    """Session index counted from the intake score (1 = intake)."""
    expected: float
    low: float
    high: float
    limit: float
    """The red bound on the worse side (below ``low`` when higher is better, above ``high`` otherwise)."""
    higher_is_better: bool
    source: str
    """``"fitted"``, ``"norms"`` or the plugin's model name."""
    episodes: int = 0
    """Closed episodes behind a fitted curve."""

    def zone(self, total: float) -> Zone:
        if self.session <= 1:
            return Zone.GREY
        if self.higher_is_better:
            if total >= self.low:
                return Zone.GREEN
            return Zone.AMBER if total >= self.limit else Zone.RED
        if total <= self.high:
            return Zone.GREEN
        return Zone.AMBER if total <= self.limit else Zone.RED


@runtime_checkable
class ExpectationModel(Protocol):
    """What a plugin returns from ``alliancekit_expectation_model``."""

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation | None:
        """The expectation at ``session`` (1 = the intake score's session) for a client who started at
        ``intake``, or ``None`` when the model has nothing to say for this client."""


def _clamp(measure: Measure, value: float) -> float:
    return min(measure.range_max, max(measure.range_min, value))


def rational_expectation(measure: Measure, intake: float, session: int) -> Expectation | None:
    """The norms-based expectation (see the module docstring); ``None`` without a reliable-change figure."""
    rc = measure.reliable_change
    if rc is None or session < 1:
        return None
    norm = measure.default_norm
    clinical = True
    if norm is not None and norm.clinical_cutoff is not None:
        clinical = norm.clinical_cutoff.is_clinical(intake)
    sign = 1.0 if measure.higher_is_better else -1.0
    gain = (rc / math.log(RATIONAL_HORIZON)) * math.log(session) if clinical else 0.0
    expected = _clamp(measure, intake + sign * gain)
    half = rc / 2 if session > 1 else 0.0
    limit = expected - sign * rc if session > 1 else expected
    return Expectation(
        session=session,
        expected=expected,
        low=_clamp(measure, expected - half),
        high=_clamp(measure, expected + half),
        limit=_clamp(measure, limit),
        higher_is_better=measure.higher_is_better,
        source="norms",
    )


# ------------------------------------------------------------------------------------------ fitted curves


def intake_band(measure: Measure, intake: float, bins: int) -> str:
    """The intake band: the measure's severity band, or one of ``bins`` equal-width bins of its range."""
    if measure.bands:
        band = measure.band_for(intake)
        if band is not None:
            return band.key
    width = (measure.range_max - measure.range_min) / bins
    index = min(bins - 1, max(0, int((intake - measure.range_min) // width)))
    return f"bin-{index + 1}-of-{bins}"


def quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolation quantile of already sorted values (type 7, as numpy's default)."""
    position = (len(sorted_values) - 1) * q
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


@attrs.frozen
class BandCurve:
    """The fitted log-curve slopes of one intake band: 10th, 25th, 50th, 75th and 90th percentiles."""

    q10: float
    q25: float
    q50: float
    q75: float
    q90: float
    episodes: int

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation:
        x = math.log(max(session, 1))

        def at(q: float) -> float:
            return _clamp(measure, intake + q * x)

        return Expectation(
            session=session,
            expected=at(self.q50),
            low=at(self.q25),
            high=at(self.q75),
            limit=at(self.q10 if measure.higher_is_better else self.q90),
            higher_is_better=measure.higher_is_better,
            source="fitted",
            episodes=self.episodes,
        )


@attrs.frozen
class Outcome:
    """One closed episode's course on a measure: intake, final score, and sessions from first to last."""

    measure_id: str
    intake: float
    final: float
    sessions: int
    """Session index of the final score counted from the intake's session (1 = same session)."""


def fit_curves(
    measures: Callable[[str], Measure | None], outcomes: Iterable[Outcome], bins: int
) -> dict[tuple[str, str], BandCurve]:
    """Fit a :class:`BandCurve` per (measure, intake band) from closed episodes' outcomes."""
    slopes: dict[tuple[str, str], list[float]] = {}
    for outcome in outcomes:
        if outcome.sessions < 2:
            continue
        measure = measures(outcome.measure_id)
        if measure is None:
            continue
        key = (outcome.measure_id, intake_band(measure, outcome.intake, bins))
        slopes.setdefault(key, []).append((outcome.final - outcome.intake) / math.log(outcome.sessions))
    curves = {}
    for key, values in slopes.items():
        values.sort()
        curves[key] = BandCurve(
            quantile(values, 0.10),
            quantile(values, 0.25),
            quantile(values, 0.50),
            quantile(values, 0.75),
            quantile(values, 0.90),
            len(values),
        )
    return curves


class Expectations:
    """The expected-response service of one practice: plugin model, fitted curves, or the norms.

    The fitted curves come from ``load_outcomes()`` (the closed episodes in the store's caseload
    projection) and are rebuilt at most every ``config.refit_after`` by ``clock``, or by :meth:`refit`.
    """

    def __init__(
        self,
        host: PluginHost,
        config: FeedbackConfig,
        load_outcomes: Callable[[], Iterable[Outcome]],
        clock: Callable[[], datetime],
    ) -> None:
        self._host = host
        self._config = config
        self._load_outcomes = load_outcomes
        self._clock = clock
        self._lock = threading.Lock()
        self._curves: Mapping[tuple[str, str], BandCurve] | None = None
        self._fitted_at: datetime | None = None

    def _measure(self, measure_id: str) -> Measure | None:
        try:
            measure: Measure = self._host.measures().get(measure_id)
        except LookupError:
            return None
        return measure

    def refit(self) -> Mapping[tuple[str, str], BandCurve]:
        """Rebuild the fitted curves from the store now."""
        curves = fit_curves(self._measure, self._load_outcomes(), self._config.intake_bins)
        with self._lock:
            self._curves, self._fitted_at = curves, self._clock()
        return curves

    def curves(self) -> Mapping[tuple[str, str], BandCurve]:
        now = self._clock()
        with self._lock:
            curves, fitted_at = self._curves, self._fitted_at
        if (
            curves is None
            or fitted_at is None
            or now - fitted_at >= self._config.refit_after
            or now < fitted_at
        ):
            curves = self.refit()
        return curves

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation | None:
        """The expectation for a client of ``measure`` who started at ``intake``, at ``session``."""
        plugin_model = expectation_model_for(self._host, measure)
        if plugin_model is not None:
            found = plugin_model.expect(measure, intake, session)
            if found is not None:
                return found
        curve = self.curves().get((measure.id, intake_band(measure, intake, self._config.intake_bins)))
        if curve is not None and curve.episodes >= self._config.min_episodes_per_band:
            return curve.expect(measure, intake, session)
        return rational_expectation(measure, intake, session)


def expectation_model_for(host: PluginHost, measure: Measure) -> ExpectationModel | None:
    """The plugin model for ``measure`` (``alliancekit_expectation_model``, first answer wins), cached."""
    models: dict[str, ExpectationModel | None] = host.cached("expectation-models", dict)
    key = f"{measure.id}@{measure.version}"
    if key not in models:
        models[key] = host.pm.hook.alliancekit_expectation_model(measure=measure)
    return models[key]


def scores_against_expectation(
    state: EpisodeState, measures: MeasureRegistry, expectations: Expectations
) -> tuple[ReviewedScore, ...]:
    """Each scored measure's intake and latest totals, its zone against the expected response and its
    reliable-change class, for the review record."""
    found = []
    for measure_id, first in sorted(state.first_scores.items()):
        latest = state.latest_scores.get(measure_id, first)
        try:
            measure: Measure = measures.get(measure_id)
        except LookupError:
            continue
        n = latest.session_number - first.session_number + 1
        e = expectations.expect(measure, first.total, n) if measure.kind is MeasureKind.OUTCOME else None
        change = None
        norm = measure.default_norm
        if norm is not None and n > 1:
            try:
                change = classify_change(
                    first.total, latest.total, norm, measure.direction
                ).change_class.value
            except ValueError:
                change = None
        found.append(
            ReviewedScore(
                measure_id=measure_id,
                intake=first.total,
                latest=latest.total,
                session=n,
                expected=None if e is None else e.expected,
                low=None if e is None else e.low,
                high=None if e is None else e.high,
                zone=None if e is None else e.zone(latest.total).value,
                change=change,
            )
        )
    return tuple(found)
