"""``Practice.change_population``: an open episode reads its scores against another norm population from then
on (a client turning 13), through the guarded command table like every command: a ``population-changed``
event, audited, idempotent, refused on a closed episode, for a population no registered measure declares and
for the one in force, and dated no earlier than the episode. The state, the caseload projection and the FHIR
EpisodeOfCare carry the population in force; every score of the episode, the earlier ones too, is read
against it (the practice-outcomes report), while what each score recorded (its clinical flag) stays."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Ending, EndingReason, Purpose, Role
from alliancekit.errors import LifecycleError, ValidationError
from alliancekit.events.types import PopulationChanged, SessionRecorded
from alliancekit.feedback.reports import Rate, practice_outcomes
from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import EXT_NORM_POPULATION

from .conftest import CLINIC, CLINICIAN, Clinic, later, ors

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)


def _norm_population(c: Clinic, ep: str) -> list[str]:
    """The EpisodeOfCare's norm-population extension values."""
    bundle = episode_bundle(c.p, SUPERVISOR, ep)
    (care,) = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare"]
    return [x["valueString"] for x in care.get("extension", []) if x["url"] == EXT_NORM_POPULATION]


def _close(c: Clinic, ep: str) -> None:
    c.day += timedelta(days=1)
    c.p.close_episode(CLINICIAN, ep, Ending(ended_on=c.day, planned=False, reason=EndingReason.GOALS_MET))


def test_a_client_turning_13_is_read_against_the_adolescent_norm(clinic: Clinic) -> None:
    ep = clinic.episode(population="child")
    clinic.session(ep, ors(30.0))  # clinical for a child (below 32), not for an adolescent (28)
    recorded = clinic.p.change_population(CLINICIAN, ep, "adolescent", on=clinic.day)
    clinic.session(ep, ors(36.0))
    assert clinic.p.episode(CLINICIAN, ep).population == "adolescent"
    (row,) = clinic.p.caseload(CLINICIAN)
    assert row.population == "adolescent"
    assert _norm_population(clinic, ep) == ["adolescent"]
    timeline = clinic.p.timeline(CLINICIAN, ep)
    (changed,) = [e for e in timeline if isinstance(e.event, PopulationChanged)]
    assert (changed.event.population, changed.event.changed_on, changed.seq) == (
        "adolescent",
        clinic.day - timedelta(days=7),
        recorded.version,
    )
    # what the first score recorded stays: clinical, as a child's
    flags = [s.clinical for e in timeline if isinstance(e.event, SessionRecorded) for s in e.event.scores]
    assert flags == [True, False]
    (entry,) = [
        a
        for a in clinic.p.audit_entries(Actor("adm-1", Role.ADMINISTRATOR, CLINIC))
        if a.action == "change-population"
    ]
    assert (entry.record_id, entry.outcome) == (ep, "allowed")
    _close(clinic, ep)
    # the intake is read against the population in force: 30 is not clinical for an adolescent
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert (outcomes.overall.measured, outcomes.overall.recovery) == (1, Rate(0, 0))
    assert outcomes.overall.reliable_improvement == Rate(1, 1)


def test_back_to_the_default_population(clinic: Clinic) -> None:
    ep = clinic.episode(population="adolescent")
    clinic.p.change_population(CLINICIAN, ep, None, on=clinic.day)
    assert clinic.p.episode(CLINICIAN, ep).population is None
    assert _norm_population(clinic, ep) == []


def test_a_repeated_change_under_one_key_is_applied_once(clinic: Clinic) -> None:
    ep = clinic.episode(population="child")
    first = clinic.p.change_population(
        CLINICIAN, ep, "adolescent", on=clinic.day, idempotency_key="turned-13"
    )
    again = clinic.p.change_population(
        CLINICIAN, ep, "adolescent", on=clinic.day, idempotency_key="turned-13"
    )
    assert (again.version, again.duplicate, first.duplicate) == (first.version, True, False)
    assert clinic.p.episode(CLINICIAN, ep).version == first.version


@pytest.mark.parametrize(
    ("population", "days", "error", "rule"),
    [
        ("martian", 0, ValidationError, "declared-population"),
        ("child", 0, LifecycleError, "same-population"),
        ("adolescent", -1, LifecycleError, "date-order"),
    ],
)
def test_a_change_that_is_not_allowed_writes_nothing(
    clinic: Clinic, population: str, days: int, error: type[Exception], rule: str
) -> None:
    ep = clinic.episode(population="child")
    before = clinic.p.episode(CLINICIAN, ep)
    opened = before.opened_on
    with pytest.raises(error) as raised:
        clinic.p.change_population(CLINICIAN, ep, population, on=opened + timedelta(days=days))
    assert raised.value.rule == rule  # type: ignore[attr-defined]
    assert "martian" not in str(raised.value)
    assert clinic.p.episode(CLINICIAN, ep) == before


def test_a_closed_episode_keeps_its_population(clinic: Clinic) -> None:
    ep = clinic.episode(population="child")
    _close(clinic, ep)
    with pytest.raises(LifecycleError):
        clinic.p.change_population(CLINICIAN, ep, "adolescent", on=clinic.day)
    assert clinic.p.episode(CLINICIAN, ep).population == "child"


def test_the_readable_timeline_names_the_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=later) as p:
        c = Clinic(p)
        ep = c.episode(population="child")
        p.change_population(CLINICIAN, ep, "adolescent", on=c.day)
        p.change_population(CLINICIAN, ep, None, on=c.day)
    assert main(["episode", "show", "--db", str(path), ep]) == 0
    changes = [line for line in capsys.readouterr().out.splitlines() if "norm population changed" in line]
    assert [line.split("norm population changed to ")[1].split("  [")[0] for line in changes] == [
        "adolescent",
        "each measure's default",
    ]
