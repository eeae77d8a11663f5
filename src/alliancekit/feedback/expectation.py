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
   range of the episode's norm population (``Measure.norm_for``: a child's ORS intake of 30 is clinical,
   an adult's is not) is expected to improve by one reliable-change threshold by session 6 along the same
   log curve;
   the band is half a threshold either side and the lower bound one threshold below the expectation. This
   is a documented project default, *unconfirmed*: it is a starting point until the practice's own data
   take over, not a published curve.

The fit is made only by ``Practice.refit_expectations`` and kept in the store's practice metadata (under
:data:`FIT_KEY`), so a practice opened later, in any process, reads the last fit once on first use instead
of falling back to the norms until its host refits.

Small cells: a band with fewer than ``min_episodes_per_band`` episodes keeps only its episode count, in
memory, in the stored fit and in the fit's report. Its percentiles and residual SD would be a few clients'
own slopes (with one episode, that client's slope five times) in what reads as an aggregate, so they are
withheld, as health statistics suppress small cells; the band falls back to the norms either way.

Limits: the fit uses each episode's first and last score only (kept in the caseload projection), so it
recovers the typical log-curve slope of a band, not a full mixed model; bands with few episodes fall back
to the rational rule; episodes with one score say nothing about change and are left out.

Norm populations: the rational expectation reads the intake against the episode's norm population, and the
fitted curves are fitted and read per norm population too. Each closed episode goes to the curves of the
population whose norm it is read against (:func:`norm_population`: ``Measure.norm_for``'s, from the
population the caseload projection keeps), so a child's ORS intake of 30 is fitted with other children's,
not in the band of adults at 30; an episode naming a population its measure declares no norm for shares the
default population's curves, as it shares its norm. A fit stored before populations were fitted (formats 1
and 2) pooled every population's episodes: it is read as the default population's curves until the next
refit, and the other populations fall back to the norms meanwhile. The ``alliancekit_expectation_model``
hook is asked per measure and episode population (its ``population`` argument, which an implementation
may leave out), so a plugin can supply a model for one population and leave the others to the builtin
ones; the model's ``expect(measure, intake, session)`` is unchanged.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from alliancekit._logging import logger
from alliancekit.domain.reprs import hidden
from alliancekit.errors import PluginCall, PluginError, ValidationError
from alliancekit.events.types import ReviewedScore
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.measures.change import classify_change, reliable_change_threshold
from alliancekit.measures.definition import Measure, MeasureKind
from alliancekit.measures.exact import points, units

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.norms import Cutoff
    from alliancekit.plugins.manager import PluginHost

#: The session by which the rational expectation reaches one reliable-change threshold.
RATIONAL_HORIZON = 6
#: The practice-metadata key the fitted model is stored under.
FIT_KEY = "expectation-fit"
#: The shape of the stored fit; a stored fit of another shape is ignored (the norms stand in until a refit).
#: Format 2 writes ``null`` slopes and residual SD for a band below ``min_episodes_per_band``; format 3 names
#: each band's norm population (``null``: the measure's default population).
FIT_FORMAT = 3
#: The stored shapes read: format 1 stored every band's slopes; read now, a small band's are dropped. Formats
#: 1 and 2 pooled every population's episodes; their bands are read as the default population's.
READ_FORMATS = (1, 2, 3)

_log = logger(__name__)


class Zone(StrEnum):
    """OpenFIT's dashboard zones for the latest score against the expected treatment response.

    OpenFIT, "Overview of the home page dashboard alerts" (support.openfit.care, article 204000069702):
    green when the score is at or above the session's predicted score (``TargetSessionScore``), orange
    (here amber) below it but at or above the lower bound (``nTargetSession``), red below the lower bound,
    grey with one measurement or none. "Above" means toward health: for a measure where higher is worse the
    comparisons are mirrored (an alliancekit reading; OpenFIT's table is written for the ORS).
    """

    GREEN = "green"
    AMBER = "amber"
    RED = "red"
    GREY = "grey"
    """One score or none: nothing to compare."""


@attrs.frozen
class Expectation:
    """The expected total at one session, the tolerance band drawn around it and the red bound.

    Values are carried to six decimal places (:mod:`alliancekit.measures.exact`), so a score exactly at the
    predicted score or at the bound compares as equal.
    """

    session: int
    """Session index counted from the intake score (1 = intake)."""
    expected: float
    """The predicted score: at or beyond it (toward health) is green."""
    low: float
    high: float
    """``low``..``high`` is the tolerance band drawn around the prediction (display only, not the zone)."""
    limit: float
    """The lower bound, on the worse side (below ``expected`` when higher is better, above it otherwise):
    beyond it is red."""
    higher_is_better: bool
    source: str
    """``"fitted"``, ``"norms"`` or the plugin's model name."""
    episodes: int = 0
    """Closed episodes behind a fitted curve."""

    def zone(self, total: float) -> Zone:
        """The OpenFIT zone of ``total`` (see :class:`Zone`)."""
        if self.session <= 1:
            return Zone.GREY
        if self.higher_is_better:
            if total >= self.expected:
                return Zone.GREEN
            return Zone.AMBER if total >= self.limit else Zone.RED
        if total <= self.expected:
            return Zone.GREEN
        return Zone.AMBER if total <= self.limit else Zone.RED


@runtime_checkable
class ExpectationModel(Protocol):
    """What a plugin returns from ``alliancekit_expectation_model``."""

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation | None:
        """The expectation at ``session`` (1 = the intake score's session) for a client who started at
        ``intake``, or ``None`` when the model has nothing to say for this client."""


def _clamp(measure: Measure, value: float) -> float:
    """``value`` within the measure's range, to six places (so a score exactly at it compares equal)."""
    return points(units(min(measure.range_max, max(measure.range_min, value))))


def rational_expectation(
    measure: Measure, intake: float, session: int, *, population: str | None = None
) -> Expectation | None:
    """The norms-based expectation (see the module docstring); ``None`` without a reliable-change figure.

    ``intake`` is read against the norm of the episode's ``population`` (``Measure.norm_for``; ``None``:
    the measure's default): whether it is clinical decides whether improvement is expected."""
    terms = _rational_terms(measure, population)
    if terms is None or session < 1:
        return None
    rc, cutoff, per_log_session, sign = terms
    clinical = True if cutoff is None else cutoff.is_clinical(intake)
    gain = per_log_session * math.log(session) if clinical else 0.0
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


@functools.lru_cache(maxsize=256)
def _rational_terms(
    measure: Measure, population: str | None
) -> tuple[float, Cutoff | None, float, float] | None:
    """What the rational expectation of ``measure`` in ``population`` takes from the measure alone: its
    reliable-change threshold, clinical cutoff, gain per log of the session and the sign of improvement
    (``None`` without a threshold). Worked out once per measure and population (a measure is immutable):
    the alert rules ask for an expectation on every session with an outcome measure."""
    norm = measure.norm_for(population)
    rc = None if norm is None else reliable_change_threshold(norm)
    if rc is None:
        return None
    assert norm is not None  # noqa: S101 - rc comes from it
    sign = 1.0 if measure.higher_is_better else -1.0
    return rc, norm.clinical_cutoff, rc / math.log(RATIONAL_HORIZON), sign


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
    intake: float = attrs.field(repr=hidden)
    final: float = attrs.field(repr=hidden)
    sessions: int
    """Session index of the final score counted from the intake's session (1 = same session)."""
    population: str | None = None
    """The norm population the episode names (``None``: each measure's default)."""


def norm_population(measure: Measure, population: str | None) -> str | None:
    """Whose fitted curves an episode of ``population`` is fitted with and read against: the population of
    the norm it is read against (``Measure.norm_for``), ``None`` when that is the measure's default norm
    (or the measure has none): an episode naming a population the measure declares no norm for shares the
    default population's curves, as it shares its norm."""
    norm = measure.norm_for(population)
    default = measure.default_norm
    if norm is None or default is None or norm.population == default.population:
        return None
    return norm.population


def fit_curves(
    measures: Callable[[str], Measure | None], outcomes: Iterable[Outcome], bins: int
) -> dict[tuple[str, str], BandCurve]:
    """Fit a :class:`BandCurve` per (measure, intake band) from closed episodes' outcomes (every band,
    however small: the caller holds these outcomes already; :class:`ExpectationFit` withholds small ones).
    The default population's curves: those of episodes read against each measure's default norm."""
    fits = _fit(measures, outcomes, bins)
    return {(m, band): fit.curve for (m, p, band), fit in fits.items() if fit.curve is not None and p is None}


def _curve_episodes(fit: BandFit) -> int:
    return 0 if fit.curve is None else fit.curve.episodes


def _check_episodes(fit: BandFit, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1 or (fit.curve is not None and value != fit.curve.episodes):
        raise ValidationError("episodes", "consistent", "at least 1, and the curve's count when it has one")
    if fit.curve is None and fit.residual_sd is not None:
        raise ValidationError("residual_sd", "withheld", "a band without a curve has no residual SD")


@attrs.frozen
class BandFit:
    """How one (measure, intake band) was fitted: its curve, sample size and residual SD.

    A band below ``min_episodes_per_band`` has no curve and no residual SD (see :meth:`withheld`).
    """

    measure_id: str
    band: str
    curve: BandCurve | None
    """The percentile slopes; ``None`` for a small band (they would be a few clients' own slopes)."""
    residual_sd: float | None
    """SD (n - 1) of the final scores around the band's median curve; ``None`` below two episodes and
    for a band without a curve."""
    episodes: int = attrs.field(
        kw_only=True, default=attrs.Factory(_curve_episodes, takes_self=True), validator=_check_episodes
    )
    """Closed episodes in the band (the curve's count when it has one)."""
    population: str | None = attrs.field(default=None, kw_only=True)
    """The norm population whose episodes the band holds (:func:`norm_population`; ``None``: the measure's
    default population's)."""

    def withheld(self) -> BandFit:
        """This band with its episode count only: no curve, no residual SD."""
        return BandFit(
            self.measure_id, self.band, None, None, episodes=self.episodes, population=self.population
        )


#: A band's key: (measure id, norm population or ``None`` for the default, intake band).
_BandKey = tuple[str, str | None, str]


def _fit(
    measures: Callable[[str], Measure | None], outcomes: Iterable[Outcome], bins: int
) -> dict[_BandKey, BandFit]:
    courses: dict[_BandKey, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.sessions < 2:
            continue
        measure = measures(outcome.measure_id)
        if measure is None:
            continue
        population = norm_population(measure, outcome.population)
        key = (outcome.measure_id, population, intake_band(measure, outcome.intake, bins))
        courses.setdefault(key, []).append(outcome)
    fits = {}
    for key, band in courses.items():
        values = sorted((o.final - o.intake) / math.log(o.sessions) for o in band)
        curve = BandCurve(
            quantile(values, 0.10),
            quantile(values, 0.25),
            quantile(values, 0.50),
            quantile(values, 0.75),
            quantile(values, 0.90),
            len(values),
        )
        residuals = [o.final - (o.intake + curve.q50 * math.log(o.sessions)) for o in band]
        sd = None
        if len(residuals) > 1:
            mean = sum(residuals) / len(residuals)
            sd = math.sqrt(sum((r - mean) ** 2 for r in residuals) / (len(residuals) - 1))
        fits[key] = BandFit(key[0], key[2], curve, sd, population=key[1])
    return fits


@attrs.frozen
class ExpectationFit:
    """The practice's fitted expected-response model and how well it fits.

    ``fitted_at`` is ``None`` until :meth:`Expectations.refit` (``Practice.refit_expectations``) has run:
    until then every measure without a plugin model uses the norms. A fit loaded from the store keeps the
    time it was fitted at.
    """

    fitted_at: datetime | None
    """When the curves were fitted (by this process or the one that stored them); ``None``: never."""
    bands: tuple[BandFit, ...]
    """Every band fitted; one below ``min_episodes_per_band`` keeps its episode count only."""
    min_episodes_per_band: int
    intake_bins: int = 0
    """The number of equal-width intake bins the bands were cut with (``FeedbackConfig.intake_bins``)."""

    def __attrs_post_init__(self) -> None:
        # Small-cell suppression decided here, where every fit passes (fitted, loaded from any stored
        # format, built by hand or evolved): no reader of a fit sees a small band's slopes or spread.
        kept = tuple(
            band if band.curve is None or band.episodes >= self.min_episodes_per_band else band.withheld()
            for band in self.bands
        )
        object.__setattr__(self, "bands", kept)

    def to_json(self) -> str:
        """The fit as the JSON text the store keeps (floats written exactly, so they read back equal)."""
        return json.dumps(
            {
                "format": FIT_FORMAT,
                "fitted_at": None if self.fitted_at is None else self.fitted_at.isoformat(),
                "intake_bins": self.intake_bins,
                "bands": [
                    {
                        "measure": fit.measure_id,
                        "band": fit.band,
                        "slopes": None if fit.curve is None else _stored_slopes(fit.curve),
                        "episodes": fit.episodes,
                        "residual_sd": fit.residual_sd,
                        "population": fit.population,
                    }
                    for fit in self.bands
                ],
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str, min_episodes_per_band: int) -> ExpectationFit:
        """A fit from :meth:`to_json`'s text (or format 1's), bands below ``min_episodes_per_band`` withheld.

        :raises ValueError: not a stored fit of a format read here.
        """
        try:
            data = json.loads(text)
            stored_format = data["format"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored expectation fit ({type(exc).__name__})") from None
        if stored_format not in READ_FORMATS:
            raise ValueError(
                f"stored expectation fit of format {stored_format!r}, this one reads {READ_FORMATS}"
            )
        try:
            bands = tuple(_stored_band(b) for b in data["bands"])
            fitted_at = None if data["fitted_at"] is None else datetime.fromisoformat(data["fitted_at"])
            return cls(fitted_at, bands, min_episodes_per_band, int(data["intake_bins"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored expectation fit ({type(exc).__name__})") from None

    def stale(self, now: datetime, refit_after: timedelta) -> bool:
        """Never fitted, or fitted ``refit_after`` or longer before ``now``."""
        return self.fitted_at is None or now - self.fitted_at >= refit_after

    def source(self, measure_id: str, band: str, population: str | None = None) -> str:
        """``"fitted"`` when the band of the norm ``population`` (``None``: the measure's default) has a
        curve (enough episodes), else ``"norms"`` (the fallback)."""
        for fit in self.bands:
            if (fit.measure_id, fit.band, fit.population) == (measure_id, band, population):
                return "norms" if fit.curve is None else "fitted"
        return "norms"

    def summary(self) -> list[dict[str, object]]:
        """One plain row per fitted band: measure, norm population (``None``: the default), band, episodes,
        residual SD and the source in use."""
        return [
            {
                "measure": fit.measure_id,
                "population": fit.population,
                "band": fit.band,
                "episodes": fit.episodes,
                "residual_sd": fit.residual_sd,
                "source": self.source(fit.measure_id, fit.band, fit.population),
            }
            for fit in self.bands
        ]


def _stored_slopes(curve: BandCurve) -> list[float]:
    return [curve.q10, curve.q25, curve.q50, curve.q75, curve.q90]


def _slopes(stored: list[float]) -> tuple[float, float, float, float, float]:
    """The five stored percentile slopes (10th, 25th, 50th, 75th, 90th)."""
    q10, q25, q50, q75, q90 = (float(q) for q in stored)
    return q10, q25, q50, q75, q90


def _stored_band(stored: Mapping[str, Any]) -> BandFit:
    """One band of a stored fit; ``null`` slopes (format 2) are a band without a curve; no population
    (formats 1 and 2, or ``null``) is the measure's default population."""
    episodes = int(stored["episodes"])
    slopes, sd = stored["slopes"], stored["residual_sd"]
    curve = None if slopes is None else BandCurve(*_slopes(slopes), episodes=episodes)
    population = stored.get("population")
    return BandFit(
        str(stored["measure"]),
        str(stored["band"]),
        curve,
        None if sd is None or curve is None else float(sd),
        episodes=episodes,
        population=None if population is None else str(population),
    )


def _sort_key(key: _BandKey) -> tuple[str, str, str]:
    """Bands in order of measure, norm population (the default's first) and intake band."""
    return key[0], key[1] or "", key[2]


#: The fitted curves in use: by norm population (``None``: each measure's default), then (measure, band).
_Curves = Mapping[str | None, Mapping[tuple[str, str], BandCurve]]


def _curves_of(fit: ExpectationFit) -> _Curves:
    curves: dict[str | None, dict[tuple[str, str], BandCurve]] = {}
    for band in fit.bands:
        if band.curve is not None:
            curves.setdefault(band.population, {})[(band.measure_id, band.band)] = band.curve
    return curves


class Expectations:
    """The expected-response service of one practice: plugin model, fitted curves, or the norms.

    The fitted curves come from ``load_outcomes()`` (the closed episodes in the store's caseload
    projection). They are fitted only by :meth:`refit` (``Practice.refit_expectations``, which a host
    calls at start-up and on a schedule, every ``config.refit_after`` for example): recording a session
    never scans the practice. Until the first refit the norms stand in.
    """

    def __init__(
        self,
        host: PluginHost,
        config: FeedbackConfig,
        load_outcomes: Callable[[], Iterable[Outcome]],
        clock: Callable[[], datetime],
        load_stored: Callable[[], str | None] = lambda: None,
    ) -> None:
        self._host = host
        self._config = config
        self._load_outcomes = load_outcomes
        self._clock = clock
        self._load_stored = load_stored
        self._lock = threading.Lock()
        self._fit = ExpectationFit(None, (), config.min_episodes_per_band, config.intake_bins)
        self._curves: _Curves = {}
        self._loaded = False

    def _measure(self, measure_id: str) -> Measure | None:
        try:
            measure: Measure = self._host.measures().get(measure_id)
        except LookupError:
            return None
        return measure

    def fit_now(self, measures: Callable[[str], Measure | None] | None = None) -> ExpectationFit:
        """Fit the curves from the store's closed episodes now, without putting them in use; ``measures``
        describes a measure by id (by default the installed plugins' latest version; the facade's refit
        falls back to the definitions stored with the data)."""
        fits = _fit(measures or self._measure, self._load_outcomes(), self._config.intake_bins)
        return ExpectationFit(
            self._clock(),
            tuple(fits[key] for key in sorted(fits, key=_sort_key)),
            self._config.min_episodes_per_band,
            self._config.intake_bins,
        )

    def use(self, fit: ExpectationFit) -> None:
        """Answer from ``fit`` from now on (the stored fit is no longer read)."""
        curves = _curves_of(fit)
        with self._lock:
            self._fit, self._curves, self._loaded = fit, curves, True

    def refit(self) -> ExpectationFit:
        """Fit the curves now, put them in use and return the fit's report (the store is not written:
        ``Practice.refit_expectations`` stores the fit)."""
        fit = self.fit_now()
        self.use(fit)
        return fit

    def _load(self) -> None:
        """Read the stored fit once (a practice opened after a refit elsewhere); never fits."""
        with self._lock:
            if self._loaded:
                return
            text = self._load_stored()
            self._loaded = True
        if text is None:
            return
        try:
            fit = ExpectationFit.from_json(text, self._config.min_episodes_per_band)
        except ValueError as exc:
            _log.warning("the stored expectation fit is ignored until the next refit: %s", exc)
            return
        if fit.intake_bins != self._config.intake_bins:
            _log.warning(
                "the stored expectation fit was cut into %d intake bins, this practice uses %d: it is "
                "ignored until the next refit",
                fit.intake_bins,
                self._config.intake_bins,
            )
            return
        curves = _curves_of(fit)
        with self._lock:
            if self._fit.fitted_at is None:  # a refit in this process meanwhile wins
                self._fit, self._curves = fit, curves

    @property
    def fit(self) -> ExpectationFit:
        """The fit in use: this process's last :meth:`refit`, else the stored one (``fitted_at`` is
        ``None`` when there is neither)."""
        if not self._loaded:
            self._load()
        return self._fit

    def curves(self, population: str | None = None) -> Mapping[tuple[str, str], BandCurve]:
        """The fitted curves in use for the norm ``population`` (:func:`norm_population`; ``None``: each
        measure's default population's), by (measure, intake band); empty before any fit; never fits."""
        if not self._loaded:
            self._load()
        return self._curves.get(population, {})

    def expect(
        self, measure: Measure, intake: float, session: int, *, population: str | None = None
    ) -> Expectation | None:
        """The expectation for a client of ``measure`` who started at ``intake``, at ``session``.

        ``population`` is the episode's norm population: the fitted curves are those of the population
        whose norm it is read against (:func:`norm_population`), and the rational expectation reads the
        intake against that norm. A plugin's model is the one its hook gave for this population."""
        plugin_model, supplier = supplied_model(self._host, measure, population)
        if plugin_model is not None:
            with PluginCall(f"expectation model for {measure.id}", supplier):
                found: object = plugin_model.expect(measure, intake, session)  # a plugin's answer: checked
            what = f"expectation model for {measure.id}"
            if isinstance(found, Expectation):
                wrong = _expectation_problem(found, measure, session)
                if wrong is not None:  # else the zones and alerts read it silently (a NaN is never green)
                    who = "an unidentified plugin" if supplier is None else f"plugin {supplier!r}"
                    raise PluginError(f"{who} returned from {what} an Expectation {wrong}").attributed(
                        what, supplier
                    )
                return found
            if found is not None:  # else the builtin alert rule reading it would be blamed
                raise PluginError.wrong_answer(what, supplier, "an Expectation or None")
        curves = self.curves(norm_population(measure, population))
        # the intake band names a fitted curve: none to look for before a fit
        curve = (
            curves.get((measure.id, intake_band(measure, intake, self._config.intake_bins)))
            if curves
            else None
        )
        if curve is not None and curve.episodes >= self._config.min_episodes_per_band:
            return curve.expect(measure, intake, session)
        return rational_expectation(measure, intake, session, population=population)

    def unavailable(
        self, measure: Measure, intake: float, session: int, *, population: str | None = None
    ) -> str | None:
        """Why :meth:`expect` gives no expectation (so no zone), in plain words; ``None`` when it does."""
        if self.expect(measure, intake, session, population=population) is not None:
            return None
        if session < 1:
            return "the session index counts from 1 (the intake's session)"
        return (
            f"{measure.title} has no expected response: no plugin model or fitted curve covers it and its "
            "norms give no reliable-change threshold to build one from"
        )


def _expectation_problem(found: Expectation, measure: Measure, session: int) -> str | None:
    """What makes a plugin's :class:`Expectation` unusable for ``measure`` at ``session``, or ``None``.

    Its zone is read from ``expected``, ``limit`` and ``higher_is_better`` alone: a direction other than the
    measure's turns every zone round (a client getting worse shown green, no alert), a limit on the better
    side of ``expected`` makes amber unreachable, and a number that is not finite compares false every way.
    """
    if found.session != session:
        return "for another session than the one asked for"
    if found.higher_is_better is not measure.higher_is_better:
        return "whose higher_is_better disagrees with the measure's direction"
    values: tuple[object, ...] = (found.expected, found.low, found.high, found.limit)  # a plugin's: checked
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return "whose expected, low, high or limit is not a finite number"
    if found.low > found.high:
        return "whose low is above its high"
    if found.limit > found.expected if measure.higher_is_better else found.limit < found.expected:
        return "whose limit is on the better side of expected (it must be at or beyond it, on the worse side)"
    return None


def supplied_model(
    host: PluginHost, measure: Measure, population: str | None = None
) -> tuple[ExpectationModel | None, str | None]:
    """The plugin model for ``measure`` and the episode's norm ``population``
    (``alliancekit_expectation_model``, first answer wins) and the plugin that supplied it, cached."""
    models: dict[tuple[str, str, str | None], tuple[ExpectationModel | None, str | None]]
    models = host.cached("expectation-models", dict)
    key = (measure.id, measure.version, population)
    if key not in models:
        found = host.call_first("alliancekit_expectation_model", measure=measure, population=population)
        models[key] = found
    return models[key]


def scores_against_expectation(
    state: EpisodeState, measures: Callable[[str], Measure | None], expectations: Expectations
) -> tuple[ReviewedScore, ...]:
    """Each scored measure's intake and latest totals, its zone against the expected response and its
    reliable-change class, for the review record; ``measures`` describes a measure by id (``None``: left
    out): the runner's falls back to the stored definition of a measure whose plugin is gone."""
    found = []
    for measure_id, first in sorted(state.first_scores.items()):
        latest = state.latest_scores.get(measure_id, first)
        measure = measures(measure_id)
        if measure is None:
            continue
        n = latest.session_number - first.session_number + 1
        e = (
            expectations.expect(measure, first.total, n, population=state.population)
            if measure.kind is MeasureKind.OUTCOME
            else None
        )
        change = None
        norm = measure.norm_for(state.population)
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
