"""The rational expectation reads the intake against the episode's norm population: a child's ORS intake of
31.9 is clinical (the child cutoff is 32), so improvement is expected; at 32.0 it is not, and an adult's
31.9 is not either (the adult cutoff is 25). The review's expected score and zone, the amber alert and the
chart's band follow it. The fitted curves are fitted and read per norm population: a child's intake of 30 is
read against the curve of other children's episodes, not the band of adults at 30."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Review, Role
from alliancekit.events.types import ReviewRecorded
from alliancekit.feedback import FeedbackConfig
from alliancekit.feedback.builtin import OUTCOME_BELOW_EXPECTED
from alliancekit.feedback.expectation import (
    RATIONAL_HORIZON,
    BandCurve,
    BandFit,
    ExpectationFit,
    Zone,
    quantile,
    rational_expectation,
)
from alliancekit.feedback.reports.chart import progress_chart

from .conftest import CLINIC, CLINICIAN, Clinic, make_clinic, ors

#: The ORS's reliable-change threshold (the adult norm's; the child and adolescent norms borrow it).
RC = 5.0


def _gain(session: int) -> float:
    return RC / math.log(RATIONAL_HORIZON) * math.log(session)


@pytest.mark.parametrize(
    ("population", "intake", "improves"),
    [
        ("child", 31.9, True),
        ("child", 32.0, False),
        ("adolescent", 27.9, True),
        ("adolescent", 28.0, False),
        (None, 24.9, True),
        (None, 25.0, False),
        (None, 31.9, False),  # no population: the adult cutoff, 25
        ("adult", 31.9, False),
        ("iapt", 24.9, True),  # the ORS declares no iapt norm: its default
        ("iapt", 31.9, False),
    ],
)
def test_the_clinical_intake_test_uses_the_populations_cutoff_on_both_sides(
    clinic: Clinic, population: str | None, intake: float, improves: bool
) -> None:
    measure = clinic.p.plugins.measures().get("ors")
    expected = rational_expectation(measure, intake, 6, population=population)
    assert expected is not None
    assert expected.expected == pytest.approx(intake + (RC if improves else 0.0))
    assert expected.limit == pytest.approx(expected.expected - RC)
    assert clinic.p.expectations.expect(measure, intake, 6, population=population) == expected


def test_without_a_population_the_expectation_is_as_before(clinic: Clinic) -> None:
    measure = clinic.p.plugins.measures().get("ors")
    assert rational_expectation(measure, 18, 6) == rational_expectation(measure, 18, 6, population=None)
    assert rational_expectation(measure, 18, 6).expected == pytest.approx(23)  # type: ignore[union-attr]


def _review(clinic: Clinic, ep: str) -> tuple[float | None, str | None]:
    clinic.p.record_review(CLINICIAN, ep, Review(held_on=clinic.day, decision="continue"))
    (review,) = [e.event for e in clinic.p.timeline(CLINICIAN, ep) if isinstance(e.event, ReviewRecorded)]
    (scored,) = review.scores
    return scored.expected, scored.zone


def test_an_episode_reads_its_intake_against_its_population_in_the_review_the_alert_and_the_chart(
    clinic: Clinic,
) -> None:
    found = {}
    for population, intake in (("child", 31.9), ("child", 32.0), (None, 31.9)):
        ep = clinic.episode(population=population)
        clinic.session(ep, ors(intake))
        clinic.session(ep, ors(intake))  # held steady at session 2
        chart = progress_chart(clinic.p, CLINICIAN, ep)
        assert chart.outcome is not None
        (zone,) = [p.zone for p in chart.outcome.points if p.session == 2]
        found[(population, intake)] = (
            *_review(clinic, ep),
            zone,
            OUTCOME_BELOW_EXPECTED in clinic.rules_raised(ep),
        )
    child_expected = pytest.approx(31.9 + _gain(2))
    assert found == {
        # a clinical child who held steady is below the expected improvement: amber, and alerted
        ("child", 31.9): (child_expected, "amber", Zone.AMBER, True),
        # at the child cutoff the child is not clinical: holding steady is what is expected
        ("child", 32.0): (32.0, "green", Zone.GREEN, False),
        # an adult at 31.9 is well above the adult cutoff: the same
        (None, 31.9): (31.9, "green", Zone.GREEN, False),
    }


# -- fitted curves, per norm population ---------------------------------------------------------------------

ADMIN = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
#: Final ORS totals at session 6 of episodes from intake 30 (one intake band for every population): the
#: children improve, the adults hold steady, the adolescents improve less.
FINALS = {"child": [34.0, 36.0, 38.0], None: [30.0, 30.5, 31.0], "adolescent": [33.0, 34.0, 35.0]}


def _closed_at_30(clinic: Clinic, population: str | None, final: float) -> None:
    ep = clinic.episode(population=population)
    for _ in range(5):
        clinic.session(ep, ors(30.0))
    clinic.session(ep, ors(final))
    clinic.day += timedelta(days=1)
    clinic.p.close_episode(
        CLINICIAN, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
    )


def test_each_population_is_fitted_with_its_own_episodes_and_read_against_its_own_curve(
    tmp_path: Path,
) -> None:
    clinic = make_clinic(tmp_path, feedback=FeedbackConfig(min_episodes_per_band=3))
    with clinic.p:
        for population, finals in FINALS.items():
            for final in finals:
                _closed_at_30(clinic, population, final)
        fit = clinic.p.refit_expectations(ADMIN)
        assert sorted((band.population or "", band.episodes) for band in fit.bands) == [
            ("", 3),
            ("adolescent", 3),
            ("child", 3),
        ]
        measure = clinic.p.plugins.measures().get("ors")
        for population, finals in FINALS.items():
            slopes = sorted((final - 30.0) / math.log(6) for final in finals)
            e = clinic.p.expectations.expect(measure, 30.0, 6, population=population)
            assert e is not None
            assert (e.source, e.episodes) == ("fitted", 3)
            assert e.expected == pytest.approx(30.0 + quantile(slopes, 0.5) * math.log(6), abs=1e-6)
        # "adult" names the default population: the default's curve, as its norm is the default's
        adult = clinic.p.expectations.expect(measure, 30.0, 6, population="adult")
        assert adult == clinic.p.expectations.expect(measure, 30.0, 6)
        assert set(clinic.p.expectations.curves("child")) == set(clinic.p.expectations.curves())
    with open_practice(tmp_path / "p.sqlite", feedback=FeedbackConfig(min_episodes_per_band=3)) as later:
        assert later.expectations.fit == fit  # stored with each band's population, read back the same


def test_a_fit_stored_before_populations_reads_as_the_default_populations() -> None:
    stored = ExpectationFit(
        None, (BandFit("ors", "bin-4-of-5", BandCurve(0.5, 1.0, 2.0, 3.0, 4.0, 3), 1.5),), 3, 5
    )
    text = json.loads(stored.to_json())
    assert text["format"] == 3
    text["format"] = 2
    del text["bands"][0]["population"]
    assert ExpectationFit.from_json(json.dumps(text), 3) == stored
