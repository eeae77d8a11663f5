"""The rational expectation reads the intake against the episode's norm population: a child's ORS intake of
31.9 is clinical (the child cutoff is 32), so improvement is expected; at 32.0 it is not, and an adult's
31.9 is not either (the adult cutoff is 25). The review's expected score and zone, the amber alert and the
chart's band follow it."""

from __future__ import annotations

import math

import pytest

from alliancekit.domain import Review
from alliancekit.events.types import ReviewRecorded
from alliancekit.feedback.builtin import OUTCOME_BELOW_EXPECTED
from alliancekit.feedback.expectation import RATIONAL_HORIZON, Zone, rational_expectation
from alliancekit.feedback.reports.chart import progress_chart

from .conftest import CLINICIAN, Clinic, ors

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
