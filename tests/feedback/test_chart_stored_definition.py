"""A measure whose plugin is gone is charted from the definition stored with the data: the same range,
cutoff and expected band as with the plugin installed, in the chart's SVG, Vega-Lite, text and table, in
the HTML report and through ``alliancekit report``. An installed definition of the same version is used
only when it is identical to the stored one. The definitions are read under the chart's guarded reads (no
audit entry of their own), and a refused or lockboxed read reads none."""

from __future__ import annotations

import copy
import json
import pickle
import re
import types
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Administration, AdministrationTiming, Consent, Participant, Role
from alliancekit.errors import AccessDenied, NotFoundError, ValidationError
from alliancekit.feedback.reports import (
    chart_measures,
    chart_rows,
    chart_summary,
    chart_svg,
    chart_vega_lite,
    progress_chart,
    render_report,
)
from alliancekit.plugins import make_plugin_host

from .conftest import CLINIC, CLINICIAN, START, later, make_clinic, ors

#: A synthetic outcome measure (3 items scored 1-5, higher is worse): a cutoff of 9 (9 or above is
#: clinical) and a reliable change of 3 points, from which the norms-based expected band is made.
PROBE: dict[str, Any] = {
    "id": "probe",
    "version": "1.0",
    "title": "Synthetic probe scale",
    "kind": "outcome",
    "direction": "higher-is-worse",
    "licence": {"notice": "Synthetic.", "item_text": False, "cite": {"ref": "synthetic"}},
    "references": {"synthetic": "A synthetic reference."},
    "source": {"ref": "synthetic"},
    "items": [{"key": f"q{i}", "label": f"Item {i}", "min": 1, "max": 5, "step": 1} for i in (1, 2, 3)],
    "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
    "range": {"min": 3, "max": 15},
    "norms": [
        {
            "population": "adult",
            "label": "Adults",
            "default": True,
            "clinical_cutoff": {"value": 9, "clinical_if": "at-or-above", "cite": {"ref": "synthetic"}},
            "reliable_change": {"points": 3, "cite": {"ref": "synthetic"}},
        }
    ],
    "examples": [{"answers": {"q1": 2, "q2": 2, "q3": 2}, "total": 6}],
}
TODAY = START.replace(month=3)


def plugin(definition: dict[str, Any], name: str = "probe_plugin") -> types.ModuleType:
    module = types.ModuleType(name)

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        register(definition)

    module.alliancekit_register_measures = alliancekit_register_measures  # type: ignore[attr-defined]
    return module


WITH_PROBE = make_plugin_host(load_entry_points=False, extra_plugins=[plugin(PROBE)])
WITHOUT = make_plugin_host(load_entry_points=False)


def probe(total: float) -> Administration:
    return Administration("probe", "1.0", AdministrationTiming.START, total=total)


def recorded(tmp_path: Path) -> tuple[Path, str]:
    """An SQLite practice whose episode scored the probe at 12, 9 and 8 (each side of the cutoff)."""
    c = make_clinic(tmp_path, plugins=WITH_PROBE)
    ep = c.episode()
    for total in (12, 9, 8):
        c.session(ep, probe(total))
    c.p.close()
    return tmp_path / "p.sqlite", ep


def chart_of(db: Path, ep: str, plugins: Any) -> Any:
    with open_practice(db, clock=later, plugins=plugins) as p:
        return progress_chart(p, CLINICIAN, ep)


def test_a_measure_whose_plugin_is_gone_is_charted_from_its_stored_definition(tmp_path: Path) -> None:
    db, ep = recorded(tmp_path)
    installed = chart_of(db, ep, WITH_PROBE)
    chart = chart_of(db, ep, WITHOUT)
    assert chart.uncharted_ids == []
    s = chart.outcome
    assert s is not None
    assert (s.measure_id, s.title, s.range_min, s.range_max, s.cutoff) == (
        "probe",
        "Synthetic probe scale",
        3,
        15,
        9,
    )
    assert not s.higher_is_better
    # the norms-based expected band needs only the stored definition: one reliable change (3) by session 6
    assert chart.band_source == "norms"
    assert [(b.session, b.low, b.high) for b in chart.band][:1] == [(1, 12, 12)]
    assert chart.band[1].high - chart.band[1].low == pytest.approx(3)
    assert chart == installed
    # the text: the expected score and the upper bound (one reliable change above it), not "not installed"
    rows = chart_rows(chart)
    assert rows == chart_rows(installed)
    assert rows[1] == (2, "PROBE 9, on track (expected 10.8, upper bound 13.8)", "-")
    summary = chart_summary(chart)
    assert summary == chart_summary(installed)
    assert "not installed" not in summary
    assert summary.startswith("Latest outcome, session 3: PROBE 8,")
    # the SVG and the Vega-Lite draw the same range and cutoff
    svg = chart_svg(chart)
    assert svg == chart_svg(installed)
    assert "Not charted" not in svg
    assert "<title>PROBE clinical cutoff: 9</title>" in svg
    spec = json.dumps(chart_vega_lite(chart))
    assert spec == json.dumps(chart_vega_lite(installed))
    assert '"domain": [3, 15]' in spec
    assert '{"values": [{"cutoff": 9}]}' in spec


def test_another_participants_scores_are_charted_from_the_stored_definition(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, plugins=WITH_PROBE)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    c.session(ep, ors(18), Administration("probe", "1.0", AdministrationTiming.START, total=9, about=partner))
    c.p.close()
    chart = chart_of(tmp_path / "p.sqlite", ep, WITHOUT)
    assert chart.uncharted_ids == []
    [other] = chart.others
    assert (other.measure_id, other.who, other.range_min, other.range_max, other.cutoff) == (
        "probe",
        partner,
        3,
        15,
        9,
    )
    assert chart_rows(chart) == [(1, f"ORS 18, first score: nothing to compare yet; {partner}, PROBE 9", "-")]
    assert chart == chart_of(tmp_path / "p.sqlite", ep, WITH_PROBE)


def test_the_report_and_the_cli_chart_it_as_with_the_plugin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, ep = recorded(tmp_path)
    reader = Actor("sup", Role.SUPERVISOR, CLINIC)
    pages = {}
    for name, plugins in (("with", WITH_PROBE), ("without", WITHOUT)):
        with open_practice(db, clock=later, plugins=plugins) as p:
            pages[name] = render_report(p, reader, today=TODAY)
    assert pages["without"] == pages["with"]
    assert "not installed" not in pages["without"]
    assert "Synthetic probe scale against the expected response" in pages["without"]
    # the CLI loads the installed plugins only: the probe is not one of them
    assert main(["report", "--db", str(db), "--out", "-", "--today", TODAY.isoformat()]) == 0
    page = capsys.readouterr().out
    assert "not installed" not in page
    section = re.search(rf'<section class="chart" id="ep-{ep}".*?</section>', page, re.S)
    assert section is not None
    drawn = section.group(0)
    assert "PROBE 9, on track (expected 10.8, upper bound 13.8)" in drawn
    assert "<title>PROBE clinical cutoff: 9</title>" in drawn
    assert '"domain":[3,15]' in drawn


def test_the_stored_definitions_are_read_once_per_report_under_its_guarded_reads(tmp_path: Path) -> None:
    """One read of the stored definitions serves the report's outcomes and every chart, and it writes no
    audit entry of its own: the guarded reads the report makes are its only entries."""
    db, ep = recorded(tmp_path)
    auditor = Actor("aud", Role.ADMINISTRATOR, CLINIC)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        definitions = chart_measures(p)
        assert progress_chart(p, CLINICIAN, ep, definitions=definitions).uncharted_ids == []
        assert definitions.read
        render_report(p, Actor("sup", Role.SUPERVISOR, CLINIC), today=TODAY)
        entries = p.audit_entries(auditor)
    assert "measure-definitions" not in {e.record_type for e in entries}
    assert "read-report" not in {e.action for e in entries}


def test_a_chart_writes_exactly_its_guarded_reads_entries_with_the_plugin_or_without(tmp_path: Path) -> None:
    """The chart's entries are its two guarded reads (the episode, its timeline), the same list whether the
    probe is drawn from its plugin or from its stored definition (read once, under the timeline's entry)."""
    db, ep = recorded(tmp_path)
    auditor = Actor("aud", Role.ADMINISTRATOR, CLINIC)
    runs = {}
    for installed, host in ((True, WITH_PROBE), (False, WITHOUT)):
        with open_practice(db, clock=later, plugins=host) as p:
            before = {e.entry_id for e in p.audit_entries(auditor)}
            definitions = chart_measures(p)
            chart = progress_chart(p, CLINICIAN, ep, definitions=definitions)
            entries = sorted(
                (e.action, e.record_type, e.record_id == ep, e.actor_id, e.outcome)
                for e in p.audit_entries(auditor)
                if e.entry_id not in before and e.action != "read-audit"
            )
        runs[installed] = (entries, chart.uncharted_ids, definitions.read)
    assert runs[True][:2] == runs[False][:2]
    assert runs[False] == (
        [
            ("read-episode", "episode", True, CLINICIAN.id, "allowed"),
            ("read-timeline", "episode", True, CLINICIAN.id, "allowed"),
        ],
        [],
        True,
    )


def test_an_installed_definition_is_used_only_when_identical_to_the_stored_one(tmp_path: Path) -> None:
    db, ep = recorded(tmp_path)
    edited = copy.deepcopy(PROBE)
    edited["title"] = "Edited probe scale"  # a plugin that edited the published version in place
    edited["norms"][0]["clinical_cutoff"]["value"] = 10
    chart = chart_of(db, ep, make_plugin_host(load_entry_points=False, extra_plugins=[plugin(edited)]))
    assert chart.outcome is not None
    # the stored one: what scored them
    assert (chart.outcome.title, chart.outcome.cutoff) == ("Synthetic probe scale", 9)
    assert chart == chart_of(db, ep, WITHOUT)


def test_another_clinics_reader_is_refused_before_any_definition_is_read(tmp_path: Path) -> None:
    db, ep = recorded(tmp_path)
    auditors = [Actor("aud", Role.ADMINISTRATOR, clinic) for clinic in (CLINIC, "clinic-2")]
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        definitions = chart_measures(p)
        with pytest.raises(NotFoundError):  # as an unknown id: another clinic's ids are not disclosed
            progress_chart(p, Actor("clin-9", Role.CLINICIAN, "clinic-2"), ep, definitions=definitions)
        assert not definitions.read
        entries = [e for auditor in auditors for e in p.audit_entries(auditor)]
        # the check can fail: the treating clinician's chart reads them
        progress_chart(p, CLINICIAN, ep, definitions=definitions)
        assert definitions.read
    assert [(e.record_type, e.action) for e in entries if e.outcome == "not-found"] == [
        ("episode", "read-episode")
    ]
    assert "measure-definitions" not in {e.record_type for e in entries}


def test_a_lockboxed_episode_stays_withheld_and_reads_no_definition(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, plugins=WITH_PROBE)
    ep = c.episode()
    c.session(ep, probe(12))
    c.p.set_lockbox(CLINICIAN, ep, scope="record", on=c.day)
    c.p.close()
    supervisor = Actor("sup", Role.SUPERVISOR, CLINIC)
    with open_practice(tmp_path / "p.sqlite", clock=later, plugins=WITHOUT) as p:
        definitions = chart_measures(p)
        try:
            withheld = progress_chart(p, supervisor, ep, definitions=definitions)
        except (AccessDenied, NotFoundError):
            withheld = None
        assert not definitions.read
        entries = p.audit_entries(Actor("aud", Role.ADMINISTRATOR, CLINIC))
        treating = progress_chart(p, CLINICIAN, ep, definitions=definitions)
        assert definitions.read
    assert withheld is None or (withheld.panels, withheld.uncharted_ids) == ((), [])
    assert "measure-definitions" not in {e.record_type for e in entries}
    assert treating.outcome is not None  # the treating clinician's chart draws it: the check can fail
    assert (treating.outcome.measure_id, treating.outcome.cutoff) == ("probe", 9)


def test_a_wrong_kind_of_definitions_read_is_refused_naming_every_kind_taken(tmp_path: Path) -> None:
    db, _ = recorded(tmp_path)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        with pytest.raises(ValidationError) as refused:
            p.measure_definitions(CLINICIAN, kind="chart")
        assert (refused.value.field, refused.value.rule) == ("kind", "enum")
        assert "report" in str(refused.value)
        assert "fhir-bulk" in str(refused.value)
        # each kind named is taken: the report's is audited as read-report
        assert [m.id for m in p.measure_definitions(CLINICIAN, kind="report")] == ["probe"]


def test_a_timeline_copied_or_pickled_is_its_data_alone(tmp_path: Path) -> None:
    """The reader of the stored definitions a timeline carries is the practice's: a copy or a pickle
    (another process) keeps the entries and ``withheld``, reads no definition and holds no store."""
    db, ep = recorded(tmp_path)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        timeline = p.timeline(CLINICIAN, ep)
        outcomes = p.closed_outcomes(Actor("sup", Role.SUPERVISOR, CLINIC))
        assert [m.id for m in timeline.measure_definitions()] == ["probe"]
        timeline.withheld = True
        pickled = pickle.loads(pickle.dumps(timeline))  # noqa: S301 (our own bytes)
        copies = [copy.copy(timeline), copy.deepcopy(timeline), pickled]
        assert pickle.loads(pickle.dumps(outcomes)).measure_definitions() == []  # noqa: S301 (our own bytes)
    for kept in copies:
        assert kept == timeline
        assert kept.withheld
        assert kept.measure_definitions() == []


def test_a_shared_record_carries_them_and_its_copies_are_its_data_alone(tmp_path: Path) -> None:
    """An export's shared record (frozen) carries the stored definitions as a timeline does; a copy or a
    pickle is equal to it and reads none."""
    db, ep = recorded(tmp_path)
    with open_practice(db, clock=later, plugins=WITHOUT) as p:
        shared = p.export_record(Actor("sup", Role.SUPERVISOR, CLINIC), ep)
        assert [m.id for m in shared.measure_definitions()] == ["probe"]
        copies = [copy.copy(shared), copy.deepcopy(shared), pickle.loads(pickle.dumps(shared))]  # noqa: S301
    for kept in copies:
        assert kept == shared
        assert kept.measure_definitions() == []
