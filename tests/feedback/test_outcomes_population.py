"""The practice-outcomes report reads each episode against the norm of the population it names
(``Measure.norm_for``, from the caseload projection): a child's ORS intake of 30 is clinical (the child cutoff
is 32), an adult's is not (25), each at its cutoff on both sides; ``PracticeOutcomes.norms`` and the HTML
report say which norms were read, for how many episodes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alliancekit.domain import Actor, Administration, Ending, EndingReason, Purpose, Role
from alliancekit.feedback.reports import Rate, practice_outcomes, render_report

from .conftest import CLINIC, CLINICIAN, Clinic, core10, ors

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)

#: (population named, ORS intake, clinical for that population's norm). Each improves by 6 points (more than
#: the reliable change of 5), so a clinical intake recovers and the others improve.
CASES = [
    ("child", 31.9, True),  # the child cutoff is 32: below it is clinical
    ("child", 32.0, False),
    ("child", 30.0, True),  # between the cutoffs: clinical for a child ...
    (None, 30.0, False),  # ... not for an adult (no population: the default, adult)
    ("adult", 24.9, True),  # the adult cutoff is 25
    (None, 25.0, False),
    ("adolescent", 27.9, True),  # the adolescent cutoff is 28
    ("adolescent", 28.0, False),
]

ORS_NORMS = (
    "ors: each episode read against its own population's norm: the adult norm (clinical cutoff 25, reliable "
    "change 5 points) for 3 episode(s), the adolescent norm (clinical cutoff 28, reliable change 5 points) "
    "for 2 episode(s), the child norm (clinical cutoff 32, reliable change 5 points) for 3 episode(s)."
)


def _closed(
    clinic: Clinic, population: str | None, *admins: Administration, clinician: Actor = CLINICIAN
) -> None:
    ep = clinic.episode(clinician, population=population)
    for admin in admins:
        clinic.session(ep, admin, actor=clinician)
    clinic.day += timedelta(days=1)
    clinic.p.close_episode(
        clinician, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.GOALS_MET)
    )


def test_each_episode_is_read_against_its_populations_cutoff_on_both_sides(clinic: Clinic) -> None:
    for i, (population, intake, _) in enumerate(CASES):
        clinician = Actor(f"clin-{i}", Role.CLINICIAN, CLINIC)
        _closed(clinic, population, ors(intake), ors(intake + 6), clinician=clinician)
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    by_clinician = {group.key: group for group in outcomes.by_clinician}
    for i, (population, intake, clinical) in enumerate(CASES):
        group = by_clinician[f"clin-{i}"]
        assert group.recovery == (Rate(1, 1) if clinical else Rate(0, 0)), (population, intake)
        assert group.reliable_improvement == Rate(1, 1)
    assert outcomes.overall.recovery == Rate(4, 4)
    assert outcomes.norms == (ORS_NORMS,)
    assert ORS_NORMS.replace("'", "&#x27;") in render_report(clinic.p, SUPERVISOR)


ADULT = "the adult norm"
CORE10 = "core-10: every episode read against the adult norm (clinical cutoff 11, reliable change 6 points)"


@pytest.mark.parametrize(
    ("population", "said"),
    [
        (None, f"{CORE10}."),
        (
            "child",
            f"{CORE10}; those naming a population it publishes no norm for (child) are read against {ADULT}.",
        ),
    ],
)
def test_a_measure_without_the_population_reads_its_default_and_says_so(
    clinic: Clinic, population: str | None, said: str
) -> None:
    _closed(clinic, population, core10(15), core10(5))  # the CORE-10 declares no child norm: its default
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.overall.recovery == Rate(1, 1)  # 15 (clinical at 11 and above) to 5, 10 points (over 6)
    assert outcomes.norms == (said,)
