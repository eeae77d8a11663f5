"""Expected treatment response: the fit recovers known synthetic curves; the fallback and its zones.

Tolerances: with 400 synthetic episodes per band whose log-curve slopes are drawn from N(mean, sd), the
fitted median slope is within 0.25 points per log-session of the mean and the 10th/25th/75th percentiles
within 0.4 of the normal quantiles (their sampling SD is about 0.1 here, so these bounds hold by > 2.5 SD).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Role
from alliancekit.errors import AccessDenied
from alliancekit.feedback import FeedbackConfig, Zone
from alliancekit.feedback.expectation import (
    Outcome,
    fit_curves,
    intake_band,
    quantile,
    rational_expectation,
)
from alliancekit.plugins.manager import get_plugin_host

from .conftest import CLINIC, CLINICIAN, Clinic, later, ors

Z10, Z25 = 1.2816, 0.6745
TRUE_CURVES = {  # ORS intake bin -> (mean slope, sd of slope) in points per log-session
    "bin-2-of-5": (4.0, 1.5),
    "bin-3-of-5": (2.5, 1.0),
}


def _measure(measure_id: str = "ors"):  # type: ignore[no-untyped-def]
    return get_plugin_host().measures().get(measure_id)


def synthetic_outcomes(rng: random.Random, per_band: int = 400) -> list[Outcome]:
    outcomes = []
    for band, (mean, sd) in TRUE_CURVES.items():
        low = 8.0 if band == "bin-2-of-5" else 16.0
        for _ in range(per_band):
            intake = rng.uniform(low, low + 7.9)
            sessions = rng.randint(2, 16)
            final = intake + rng.gauss(mean, sd) * math.log(sessions)
            outcomes.append(Outcome("ors", intake, final, sessions))
    return outcomes


def test_fit_recovers_known_curves_per_intake_band() -> None:
    curves = fit_curves(lambda m: _measure(m), synthetic_outcomes(random.Random(11)), bins=5)
    assert set(curves) == {("ors", band) for band in TRUE_CURVES}
    for band, (mean, sd) in TRUE_CURVES.items():
        curve = curves[("ors", band)]
        assert curve.episodes == 400
        assert curve.q50 == pytest.approx(mean, abs=0.25)
        assert curve.q25 == pytest.approx(mean - Z25 * sd, abs=0.4)
        assert curve.q75 == pytest.approx(mean + Z25 * sd, abs=0.4)
        assert curve.q10 == pytest.approx(mean - Z10 * sd, abs=0.4)
        e = curve.expect(_measure(), 12.0, 5)
        assert e.expected == pytest.approx(12.0 + curve.q50 * math.log(5))
        assert e.limit < e.low < e.expected < e.high


def test_fit_ignores_single_score_episodes_and_unknown_measures() -> None:
    outcomes = [Outcome("ors", 12, 20, 1), Outcome("no-such-measure", 12, 20, 5)]
    measures = get_plugin_host().measures()

    def lookup(measure_id: str):  # type: ignore[no-untyped-def]
        return measures.get(measure_id) if measure_id == "ors" else None

    assert fit_curves(lookup, outcomes, bins=5) == {}


def test_quantile_matches_the_usual_definition() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.25) == 1.75
    assert quantile([5.0], 0.9) == 5.0


def test_intake_band_uses_severity_bands_when_the_measure_has_them() -> None:
    assert intake_band(_measure("core-10"), 12, 5) == _measure("core-10").band_for(12).key
    assert intake_band(_measure("ors"), 40, 5) == "bin-5-of-5"
    assert intake_band(_measure("ors"), 0, 5) == "bin-1-of-5"


def test_rational_expectation_from_norms() -> None:
    ors_measure, core = _measure("ors"), _measure("core-10")
    clinical = rational_expectation(ors_measure, 18, 6)
    assert clinical is not None
    assert clinical.expected == pytest.approx(23)  # one reliable change (5) by session 6
    assert clinical.zone(23) is Zone.GREEN
    assert clinical.zone(20) is Zone.AMBER
    assert clinical.zone(17.9) is Zone.RED
    steady = rational_expectation(ors_measure, 30, 6)
    assert steady is not None
    assert steady.expected == 30
    worse_is_higher = rational_expectation(core, 20, 6)
    assert worse_is_higher is not None
    assert worse_is_higher.expected == pytest.approx(14)
    assert worse_is_higher.zone(13) is Zone.GREEN
    assert worse_is_higher.zone(21) is Zone.RED
    assert rational_expectation(ors_measure, 18, 1).zone(0) is Zone.GREY  # type: ignore[union-attr]
    assert rational_expectation(_measure("wai-sr"), 40, 3) is None  # no reliable-change figure


def test_practice_uses_fitted_curves_once_a_band_has_enough_closed_episodes() -> None:
    practice = open_practice("memory:", feedback=FeedbackConfig(min_episodes_per_band=12), clock=later)
    clinic = Clinic(practice)
    measure = practice.plugins.measures().get("ors")
    for i in range(12):
        ep = clinic.episode()
        for n in range(1, 7):
            clinic.session(ep, ors(round(12 + (3.0 + 0.1 * i) * math.log(n), 1)))
        clinic.day += timedelta(days=1)
        practice.close_episode(
            clinic.actor, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
        )
    practice.expectations.refit()
    fitted = practice.expectations.expect(measure, 12.0, 4)
    assert fitted is not None
    assert fitted.source == "fitted"
    assert fitted.episodes == 12
    assert fitted.expected == pytest.approx(12 + 3.55 * math.log(4), abs=0.15)
    other_band = practice.expectations.expect(measure, 30.0, 4)
    assert other_band is not None
    assert other_band.source == "norms"
    fewer = open_practice(practice.store, feedback=FeedbackConfig(min_episodes_per_band=13))
    assert fewer.expectations.expect(measure, 12.0, 4).source == "norms"  # type: ignore[union-attr]


def test_the_write_path_never_fits_and_an_explicit_refit_reports_the_fit() -> None:
    practice = open_practice("memory:", feedback=FeedbackConfig(min_episodes_per_band=12), clock=later)
    clinic = Clinic(practice)
    calls: list[int] = []
    original = practice.expectations._load_outcomes
    practice.expectations._load_outcomes = lambda: calls.append(1) or original()  # type: ignore[method-assign]
    for i in range(12):
        ep = clinic.episode()
        for n in range(1, 7):
            clinic.session(ep, ors(round(12 + (3.0 + 0.1 * i) * math.log(n), 1)))
        clinic.day += timedelta(days=1)
        practice.close_episode(
            clinic.actor, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
        )
    assert calls == []  # seventy-two commands, not one scan of the practice
    measure = practice.plugins.measures().get("ors")
    before = practice.expectations.fit
    assert before.fitted_at is None
    assert before.bands == ()
    assert before.stale(datetime.now(UTC), timedelta(hours=1))
    assert practice.expectations.expect(measure, 12.0, 4).source == "norms"  # type: ignore[union-attr]

    admin = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
    fit = practice.refit_expectations(admin)
    assert calls == [1]
    assert practice.expectations.fit is fit
    (band,) = fit.bands
    assert (band.measure_id, band.episodes) == ("ors", 12)
    assert band.residual_sd is not None
    assert band.residual_sd > 0
    assert fit.summary() == [
        {
            "measure": "ors",
            "population": None,
            "band": band.band,
            "episodes": 12,
            "residual_sd": band.residual_sd,
            "source": "fitted",
        }
    ]
    assert practice.expectations.expect(measure, 12.0, 4).source == "fitted"  # type: ignore[union-attr]
    with pytest.raises(AccessDenied):
        practice.refit_expectations(CLINICIAN)
