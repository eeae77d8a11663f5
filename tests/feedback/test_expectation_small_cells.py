"""Small-cell suppression: a band below ``min_episodes_per_band`` keeps its episode count but no curve and no
residual SD, in the fit, in its report, in the stored JSON and after loading a fit stored by older code; the
expected responses (what alerts and reviews compare with) are the same as before.

Here ``min_episodes_per_band`` is 3: ORS intake 12 (bin-2-of-5) gets exactly 3 closed episodes, intake 20
(bin-3-of-5) exactly 2, both sides of the boundary.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Role
from alliancekit.feedback import FeedbackConfig
from alliancekit.feedback.expectation import (
    FIT_KEY,
    BandCurve,
    BandFit,
    ExpectationFit,
    quantile,
    rational_expectation,
)
from alliancekit.practice import Practice

from .conftest import CLINIC, Clinic, ors

ADMIN = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
CONFIG = FeedbackConfig(min_episodes_per_band=3)
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
# Final ORS totals at session 6 per closed episode: three from intake 12, two from intake 20.
COURSES = {12.0: [18.0, 20.0, 23.0], 20.0: [24.0, 27.0]}
BIG, SMALL = "bin-2-of-5", "bin-3-of-5"


def _closed_episodes(practice: Practice) -> None:
    clinic = Clinic(practice)
    for intake, finals in COURSES.items():
        for final in finals:
            ep = clinic.episode()
            clinic.session(ep, ors(intake))
            for _ in range(4):
                clinic.session(ep, ors(intake))
            clinic.session(ep, ors(final))
            clinic.day += timedelta(days=1)
            practice.close_episode(
                clinic.actor, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
            )


def _stored(practice: Practice) -> dict[str, dict[str, object]]:
    text = practice._s.store.load_meta(FIT_KEY)  # as the next practice opened on this store reads it
    assert text is not None
    return {band["band"]: band for band in json.loads(text)["bands"]}


def _bands(fit: ExpectationFit) -> dict[str, BandFit]:
    return {band.band: band for band in fit.bands}


def test_a_band_one_short_of_the_threshold_has_no_curve_anywhere(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, feedback=CONFIG) as practice:
        _closed_episodes(practice)
        fit = practice.refit_expectations(ADMIN)
        small, big = _bands(fit)[SMALL], _bands(fit)[BIG]
        assert (small.episodes, small.curve, small.residual_sd) == (2, None, None)
        assert big.episodes == 3
        assert big.curve is not None
        assert big.residual_sd is not None
        assert {row["band"]: row for row in fit.summary()}[SMALL] == {
            "measure": "ors",
            "population": None,
            "band": SMALL,
            "episodes": 2,
            "residual_sd": None,
            "source": "norms",
        }
        stored = _stored(practice)
        assert (stored[SMALL]["slopes"], stored[SMALL]["residual_sd"], stored[SMALL]["episodes"]) == (
            None,
            None,
            2,
        )
        assert stored[BIG]["slopes"] == [
            big.curve.q10,
            big.curve.q25,
            big.curve.q50,
            big.curve.q75,
            big.curve.q90,
        ]
        assert set(practice.expectations.curves()) == {("ors", BIG)}
    with open_practice(path, feedback=CONFIG) as later:  # read back from the store
        assert later.expectations.fit == fit
        assert _bands(later.expectations.fit)[SMALL].curve is None


def test_expected_responses_are_the_curve_at_the_threshold_and_the_norms_below_it(tmp_path: Path) -> None:
    with open_practice(tmp_path / "p.sqlite", feedback=CONFIG) as practice:
        _closed_episodes(practice)
        practice.refit_expectations(ADMIN)
        measure = practice.plugins.measures().get("ors")
        slopes = sorted((final - 12.0) / math.log(6) for final in COURSES[12.0])
        fitted = practice.expectations.expect(
            measure, 12.0, 4
        )  # what the alert rules and reviews compare with
        assert fitted is not None
        assert (fitted.source, fitted.episodes) == ("fitted", 3)
        assert fitted.expected == pytest.approx(12.0 + quantile(slopes, 0.5) * math.log(4), abs=1e-6)
        assert fitted.limit == pytest.approx(12.0 + quantile(slopes, 0.1) * math.log(4), abs=1e-6)
        assert practice.expectations.expect(measure, 20.0, 4) == rational_expectation(measure, 20.0, 4)
        assert _bands(practice.expectations.fit)[SMALL].curve is None


# As the code before format 2 stored a fit made with min_episodes_per_band 30: every band's slopes.
FORMAT_1 = json.dumps(
    {
        "format": 1,
        "fitted_at": AT.isoformat(),
        "intake_bins": 5,
        "bands": [
            {
                "measure": "ors",
                "band": BIG,
                "slopes": [0.5, 1.0, 2.0, 3.0, 4.0],
                "episodes": 3,
                "residual_sd": 1.5,
            },
            {
                "measure": "ors",
                "band": SMALL,
                "slopes": [2.0, 2.5, 3.0, 3.5, 4.0],
                "episodes": 2,
                "residual_sd": 0.7,
            },
        ],
    }
)


def test_a_fit_stored_in_the_old_format_loads_without_its_small_bands_curves(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, feedback=CONFIG) as writer:
        writer._s.store.save_meta(FIT_KEY, FORMAT_1)
    with open_practice(path, feedback=CONFIG) as reader:
        fit = reader.expectations.fit
        assert fit.fitted_at == AT
        small, big = _bands(fit)[SMALL], _bands(fit)[BIG]
        assert (small.episodes, small.curve, small.residual_sd) == (2, None, None)
        assert big.curve == BandCurve(0.5, 1.0, 2.0, 3.0, 4.0, 3)
        assert big.residual_sd == 1.5
        assert set(reader.expectations.curves()) == {("ors", BIG)}
        assert json.loads(fit.to_json())["bands"][1]["slopes"] is None
        measure = reader.plugins.measures().get("ors")
        assert reader.expectations.expect(measure, 20.0, 4) == rational_expectation(measure, 20.0, 4)
        expected = reader.expectations.expect(measure, 12.0, 4)
        assert expected is not None
        assert expected.expected == pytest.approx(12.0 + 2.0 * math.log(4), abs=1e-6)


def test_a_reader_with_a_higher_threshold_withholds_what_a_lower_one_stored() -> None:
    fit = ExpectationFit(AT, (BandFit("ors", BIG, BandCurve(0.5, 1.0, 2.0, 3.0, 4.0, 3), 1.5),), 3, 5)
    assert fit.bands[0].curve is not None
    (band,) = ExpectationFit.from_json(fit.to_json(), 4).bands
    assert (band.curve, band.residual_sd, band.episodes) == (None, None, 3)
    (built,) = ExpectationFit(AT, fit.bands, 4, 5).bands  # also a fit built by hand
    assert built == band
