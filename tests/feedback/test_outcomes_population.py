"""The practice-outcomes report says which norm it reads each measure against: the default population's,
for every episode, since the caseload projection it reads keeps no episode's population. A child's ORS
intake of 30 (clinical for a child, whose cutoff is 32) is counted as not clinical there, and the report's
own output (``PracticeOutcomes.norms``, the HTML report) says so rather than leaving it to be guessed."""

from __future__ import annotations

from datetime import timedelta

from alliancekit.domain import Actor, Administration, Ending, EndingReason, Purpose, Role
from alliancekit.feedback.reports import Rate, practice_outcomes, render_report

from .conftest import CLINIC, CLINICIAN, Clinic, core10, ors

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)

ORS_NORM = (
    "ors: every episode read against the adult norm (clinical cutoff 25, reliable change 5 points); episodes "
    "that name another population (adolescent, child) are read against it too: the caseload projection this "
    "report reads does not carry an episode's population."
)


def _closed(clinic: Clinic, population: str | None, *admins: Administration) -> None:
    ep = clinic.episode(population=population)
    for admin in admins:
        clinic.session(ep, admin)
    clinic.day += timedelta(days=1)
    clinic.p.close_episode(
        CLINICIAN, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.GOALS_MET)
    )


def test_the_report_says_it_reads_every_episode_against_the_default_norm(clinic: Clinic) -> None:
    _closed(clinic, "child", ors(30), ors(36))  # clinical for a child (below 32), not for an adult (25)
    _closed(clinic, None, ors(20), ors(27))  # clinical for an adult: recovered
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.overall.measured == 2
    assert outcomes.overall.recovery == Rate(1, 1)  # the child's intake is read against 25: not clinical
    assert outcomes.norms == (ORS_NORM,)
    assert ORS_NORM.replace("'", "&#x27;") in render_report(clinic.p, SUPERVISOR)


def test_a_measure_with_one_population_is_named_without_the_caveat(clinic: Clinic) -> None:
    _closed(
        clinic, "child", core10(15), core10(5)
    )  # the CORE-10 declares no child norm: its default either way
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.overall.recovery == Rate(1, 1)  # 15 (clinical at 11 and above) to 5, 10 points (over 6)
    assert outcomes.norms == (
        "core-10: every episode read against the adult norm (clinical cutoff 11, reliable change 6 points).",
    )
