"""The practice-outcomes report classifies the closed episodes of a measure whose plugin is gone against the
definition stored with the data: the same recovery, reliable change and deterioration (each episode read
against its own population's norm) as with the plugin installed, in the report, the HTML page and through
``alliancekit report``. The stored definitions are read once per report, under its guarded read of the
closed outcomes (no audit entry of their own), only when a measure is missing from the installed ones, and
never for a refused reader."""

from __future__ import annotations

import copy
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Ending,
    EndingReason,
    Purpose,
    Role,
)
from alliancekit.errors import AccessDenied
from alliancekit.feedback.reports import Rate, chart_measures, practice_outcomes, render_report
from alliancekit.plugins import make_plugin_host

from .conftest import CLINIC, CLINICIAN, later, make_clinic
from .test_chart_stored_definition import PROBE, TODAY, WITHOUT, plugin, probe

SUPERVISOR = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
AUDITORS = [Actor("aud", Role.ADMINISTRATOR, clinic) for clinic in (CLINIC, "clinic-2")]

#: The probe with a child norm beside the adult default: 11 or above is clinical, 4 points are reliable.
CHILD_PROBE: dict[str, Any] = copy.deepcopy(PROBE)
CHILD_PROBE["norms"].append(
    {
        "population": "child",
        "label": "Children",
        "default": False,
        "clinical_cutoff": {"value": 11, "clinical_if": "at-or-above", "cite": {"ref": "synthetic"}},
        "reliable_change": {"points": 4, "cite": {"ref": "synthetic"}},
    }
)
WITH_PROBE = make_plugin_host(load_entry_points=False, extra_plugins=[plugin(CHILD_PROBE)])

#: (population, intake, final) of each closed episode; higher is worse. Adults: 9 or above is clinical and a
#: change of 3 points is reliable; children: 11 and 4. The comments give each one's class.
EPISODES: list[tuple[str | None, int, int]] = [
    (None, 12, 9),  # 3 points, still clinical: improved
    (None, 12, 8),  # recovered
    (None, 11, 8),  # exactly a reliable change, below the cutoff after: recovered
    (None, 10, 8),  # 2 points, one short of reliable: unchanged though it crossed the cutoff
    (None, 9, 6),  # an intake at the cutoff is clinical: recovered
    (None, 8, 5),  # an intake just below the cutoff improves but cannot recover: improved
    (None, 8, 11),  # 3 points worse: deteriorated
    (None, 8, 10),  # 2 points worse: unchanged
    ("child", 10, 6),  # clinical for an adult, not for a child: improved (an adult's would recover)
    ("child", 11, 8),  # 3 points, a child's reliable change is 4: unchanged (an adult's would recover)
    ("child", 11, 7),  # exactly a child's reliable change: recovered
]

PROBE_NORMS = (
    "probe: each episode read against its own population's norm: the adult norm (clinical cutoff 9, "
    "reliable change 3 points) for 8 episode(s), the child norm (clinical cutoff 11, reliable change 4 "
    "points) for 3 episode(s)."
)


def closed(tmp_path: Path) -> Path:
    """An SQLite practice whose episodes (one clinician each) scored the probe, then closed."""
    c = make_clinic(tmp_path, plugins=WITH_PROBE)
    for i, (population, intake, final) in enumerate(EPISODES):
        clinician = Actor(f"clin-{i}", Role.CLINICIAN, CLINIC)
        ep = c.episode(clinician, population=population)
        for total in (intake, final):
            c.session(ep, probe(total), actor=clinician)
        c.day += timedelta(days=1)
        ending = Ending(ended_on=c.day, planned=False, reason=EndingReason.GOALS_MET)
        c.p.close_episode(clinician, ep, ending)
    c.p.close()
    return tmp_path / "p.sqlite"


def outcomes_of(db: Path, plugins: Any) -> Any:
    with open_practice(db, clock=later, plugins=plugins) as p:
        return practice_outcomes(p, SUPERVISOR)


def definition_entries(p: Any) -> list[tuple[str, str, str]]:
    """Audit entries of a read of the stored definitions on their own, in either clinic (none is made:
    they are read under the closed outcomes' guarded read)."""
    entries = [e for auditor in AUDITORS for e in p.audit_entries(auditor)]
    return [(e.action, e.actor_id, e.outcome) for e in entries if e.record_type == "measure-definitions"]


def outcomes_reading(p: Any, reader: Any) -> tuple[Any, bool]:
    """The outcomes for ``reader`` and whether the stored definitions were read for them."""
    definitions = chart_measures(p)
    return practice_outcomes(p, reader, definitions=definitions), definitions.read


def test_closed_episodes_of_an_uninstalled_measure_are_classified_by_its_stored_definition(
    tmp_path: Path,
) -> None:
    db = closed(tmp_path)
    installed = outcomes_of(db, WITH_PROBE)
    outcomes = outcomes_of(db, WITHOUT)
    o = outcomes.overall
    assert (o.ended, o.measured) == (11, 11)
    assert o.reliable_improvement == Rate(7, 11)
    assert o.recovery == Rate(4, 7)
    assert o.deterioration == Rate(1, 11)
    by_clinician = {g.key: g for g in outcomes.by_clinician}
    classes = [
        (
            g.recovery.numerator,
            g.reliable_improvement.numerator,
            g.deterioration.numerator,
            g.recovery.denominator,
        )
        for g in (by_clinician[f"clin-{i}"] for i in range(len(EPISODES)))
    ]
    # (recovered, reliably improved, deteriorated, clinical intake) per episode, in EPISODES' order
    assert classes == [
        (0, 1, 0, 1),
        (1, 1, 0, 1),
        (1, 1, 0, 1),
        (0, 0, 0, 1),
        (1, 1, 0, 1),
        (0, 1, 0, 0),
        (0, 0, 1, 0),
        (0, 0, 0, 0),
        (0, 1, 0, 0),
        (0, 0, 0, 1),
        (1, 1, 0, 1),
    ]
    assert outcomes.norms == (PROBE_NORMS,)
    assert outcomes.overall.saes is not None
    assert outcomes == installed


def test_the_html_report_and_the_cli_give_the_outcomes_as_with_the_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = closed(tmp_path)
    sections = {}
    for name, plugins in (("with", WITH_PROBE), ("without", WITHOUT)):
        with open_practice(db, clock=later, plugins=plugins) as p:
            page = render_report(p, SUPERVISOR, today=TODAY)
        found = re.search(r"<h2>Practice outcomes</h2>.*?(?=<h2>)", page, re.S)
        assert found is not None
        sections[name] = found.group(0)
    assert sections["without"] == sections["with"]
    assert "reliable improvement 64% (7 of 11), recovery 57% (4 of 7)" in sections["without"]
    # the CLI loads the installed plugins only: the probe is not one of them
    assert main(["report", "--db", str(db), "--out", "-", "--today", TODAY.isoformat()]) == 0
    page = capsys.readouterr().out
    found = re.search(r"<h2>Practice outcomes</h2>.*?(?=<h2>)", page, re.S)
    assert found is not None
    assert found.group(0) == sections["with"]


def test_the_stored_definitions_are_read_under_the_reports_own_read(tmp_path: Path) -> None:
    db = closed(tmp_path)
    c = make_clinic(tmp_path, plugins=WITH_PROBE)  # an open episode too: its chart reads them as well
    c.session(c.episode(), probe(12))
    c.p.close()
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        outcomes, read = outcomes_reading(p, SUPERVISOR)
        assert read
        assert outcomes.overall.measured == 11
        render_report(p, SUPERVISOR, today=TODAY)
        assert definition_entries(p) == []


def test_no_definition_is_read_when_every_measure_is_installed(tmp_path: Path) -> None:
    db = closed(tmp_path)
    with open_practice(db, clock=later, plugins=WITH_PROBE) as p:
        outcomes, read = outcomes_reading(p, SUPERVISOR)
        assert outcomes.overall.measured == 11
        assert not read


@pytest.mark.parametrize("reader", [CLINICIAN, None], ids=["clinician", "no-actor"])
def test_a_refused_reader_reads_no_definition(tmp_path: Path, reader: Actor | None) -> None:
    db = closed(tmp_path)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        definitions = chart_measures(p)
        with pytest.raises(AccessDenied):
            practice_outcomes(p, reader, definitions=definitions)  # type: ignore[arg-type]
        with pytest.raises(AccessDenied):
            render_report(p, reader, today=TODAY)  # type: ignore[arg-type]
        assert not definitions.read
        # the check can fail: an allowed reader of the same practice reads them
        practice_outcomes(p, SUPERVISOR, definitions=definitions)
        assert definitions.read
        assert definition_entries(p) == []


def test_another_clinics_supervisor_sees_no_outcome_and_reads_no_definition(tmp_path: Path) -> None:
    db = closed(tmp_path)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        outcomes, read = outcomes_reading(p, Actor("sup-2", Role.SUPERVISOR, "clinic-2"))
        assert not outcomes.has_episodes
        assert not read


def test_the_latest_stored_version_is_read_as_the_latest_installed_one_is(tmp_path: Path) -> None:
    """Versions 1.9 and 1.10 both scored episodes: with the plugin the report reads 1.10 (the registry's
    latest), and so it does from the stored ones (1.10 orders after 1.9 as numbers, not as text)."""
    versions = {}
    for version, cutoff in (("1.9", 9), ("1.10", 12)):
        versions[version] = copy.deepcopy(PROBE)
        versions[version]["version"] = version
        versions[version]["norms"][0]["clinical_cutoff"]["value"] = cutoff
    both = make_plugin_host(
        load_entry_points=False, extra_plugins=[plugin(d, f"probe_{v}") for v, d in versions.items()]
    )
    c = make_clinic(tmp_path, plugins=both)
    for version in versions:
        ep = c.episode()
        for total in (11, 7):  # clinical under 1.9's cutoff (9), not under 1.10's (12)
            c.session(ep, Administration("probe", version, AdministrationTiming.START, total=total))
        c.day += timedelta(days=1)
        c.p.close_episode(CLINICIAN, ep, Ending(ended_on=c.day, planned=False, reason=EndingReason.GOALS_MET))
    c.p.close()
    db = tmp_path / "p.sqlite"
    installed = outcomes_of(db, both)
    assert installed.overall.recovery == Rate(0, 0)  # read against 1.10
    assert installed.overall.reliable_improvement == Rate(2, 2)
    assert outcomes_of(db, WITHOUT) == installed
