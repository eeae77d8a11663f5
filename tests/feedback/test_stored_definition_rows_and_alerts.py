"""A command on an episode whose earlier measure's plugin is gone reads that measure by the definition stored
with the data, as the reports do: the caseload row keeps the primary outcome the plugin gave it (and
verification agrees with it), and the alert rules read the episode's history as with the plugin (a
protocol's missed measure is named by its title; a rule looking at an earlier measure's latest score
against its cutoff fires as before). Each reopened run is compared with the same run with the plugin
installed, and writes exactly the command's own audit entry: the definitions are read under it."""

from __future__ import annotations

import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.domain import Actor, AlertSeverity, Attendance, Modality, Role, Session
from alliancekit.feedback import FeedbackConfig
from alliancekit.feedback.rules import SESSION_EVENTS, AlertRule, RuleContext
from alliancekit.plugins import make_plugin_host
from alliancekit.protocols import MeasurementProtocol
from alliancekit.protocols.definition import ScheduleEntry

from .conftest import CLINIC, CLINICIAN, Clinic, later, make_clinic, ors
from .test_chart_stored_definition import PROBE, plugin, probe

AUDITOR = Actor("aud", Role.ADMINISTRATOR, CLINIC)
CARRIED = "test.carried-clinical"


def _carried_clinical(ctx: RuleContext) -> Iterator[str]:
    """Each measure not scored by this command whose latest score (from an earlier session) is on the
    clinical side of its cutoff: a rule that reads the history by ``ctx.measure``."""
    scored_now = {score.measure_id for _, score in ctx.new_scores()}
    for measure_id, point in sorted(ctx.after.latest_scores.items()):
        measure = ctx.measure(measure_id)
        if measure_id not in scored_now and measure is not None and measure.is_clinical(point.total):
            yield measure_id


def _rule_plugin() -> types.ModuleType:
    module = types.ModuleType("carried_rule_plugin")

    @hookimpl
    def alliancekit_register_alert_rules(register: Any) -> None:
        register(
            AlertRule(
                CARRIED,
                AlertSeverity.INFO,
                "{measure} was last on the clinical side of its cutoff.",
                _carried_clinical,
                reads=SESSION_EVENTS,
            )
        )

    module.alliancekit_register_alert_rules = alliancekit_register_alert_rules  # type: ignore[attr-defined]
    return module


RULES = _rule_plugin()
HOSTS = {
    True: make_plugin_host(load_entry_points=False, extra_plugins=[plugin(PROBE), RULES]),
    False: make_plugin_host(load_entry_points=False, extra_plugins=[RULES]),
}
PROTOCOL = MeasurementProtocol(
    "probe-and-ors", (ScheduleEntry("probe", "session-start"), ScheduleEntry("ors", "session-start"))
)
FEEDBACK = FeedbackConfig(missed_measure_alert=True)


def _ids(c: Clinic) -> set[str]:
    return {e.entry_id for e in c.p.audit_entries(AUDITOR)}


def _new_entries(c: Clinic, before: set[str], ep: str) -> list[tuple[str, str, str, str]]:
    """The entries written since ``before`` (the ids then), but the auditor's reads of the log; the
    episode's id as ``ep`` (ids are random: a run with the plugin has another), sorted (the log is listed
    by shard)."""
    return sorted(
        (e.action, e.record_type, "ep" if e.record_id == ep else e.record_id, e.outcome)
        for e in c.p.audit_entries(AUDITOR)
        if e.entry_id not in before and e.action != "read-audit"
    )


def _reopened(
    tmp_path: Path, installed: bool, *first: Any, protocol: MeasurementProtocol | None = None
) -> tuple[Clinic, str]:
    """A practice whose episode (following ``protocol``) scored ``first`` (each a session's
    administrations) with the probe's plugin, reopened on the same SQLite file with (``installed``) or
    without it."""
    tmp_path.mkdir()
    c = make_clinic(tmp_path, plugins=HOSTS[True], feedback=FEEDBACK)
    ep = c.episode()
    if protocol is not None:
        c.p.set_protocol(CLINICIAN, ep, protocol, on=c.day)
    for admins in first:
        c.session(ep, *admins)
    c.p.close()
    again = Clinic(
        open_practice(tmp_path / "p.sqlite", clock=later, plugins=HOSTS[installed], feedback=FEEDBACK)
    )
    again.day = c.day
    return again, ep


def _row(c: Clinic, ep: str) -> tuple[Any, ...]:
    [row] = [r for r in c.p.caseload(CLINICIAN) if r.episode_id == ep]
    return (row.outcome_measure, row.first_outcome, row.latest_outcome, row.outcome_sessions)


def _rows_run(tmp_path: Path, installed: bool, *first: Any) -> tuple[Any, ...]:
    c, ep = _reopened(tmp_path / str(installed), installed, *first)
    try:
        before = _ids(c)
        session_id = c.session(ep, ors(25))
        after_session = _row(c, ep)
        entries = _new_entries(c, before, ep)
        c.p.correct_session(
            CLINICIAN,
            ep,
            session_id,
            Session(c.day, Modality.IN_PERSON, Attendance.ATTENDED, (ors(27),)),
            reason="a typing slip",
        )
        report = c.p.verify(AUDITOR)
        return after_session, _row(c, ep), entries, report.ok, report.findings
    finally:
        c.p.close()


@pytest.mark.parametrize(
    ("first", "outcome"),
    [
        # the probe scored first: the primary outcome (its intake 12, latest 9)
        (((probe(12),), (probe(9), ors(20))), ("probe", 12, 9, 2)),
        # the probe and the ORS scored first in the same session: the tie goes by id, to the ORS
        (((probe(12), ors(20)), (probe(9),)), ("ors", 20, 27, 3)),
    ],
)
def test_the_caseload_row_keeps_the_primary_outcome_its_plugin_gave(
    tmp_path: Path, first: tuple[Any, ...], outcome: tuple[Any, ...]
) -> None:
    installed = _rows_run(tmp_path, True, *first)
    gone = _rows_run(tmp_path, False, *first)
    assert gone == installed
    after_session, corrected, entries, ok, findings = gone
    assert corrected == outcome
    assert after_session[0] == outcome[0]
    # the command's own entry (and the caseload read's) are the only ones: the definitions are read under it
    assert entries == [
        ("read-caseload", "caseload", CLINICIAN.id, "allowed"),
        ("record-session", "episode", "ep", "allowed"),
    ]
    assert (ok, findings) == (True, ())


def test_verification_projects_an_untouched_row_as_the_plugin_did(tmp_path: Path) -> None:
    """A row written with the plugin is what the snapshot projects to without it (no projections finding),
    on both sides of the tie of first sessions."""
    for name, first in (("a", ((probe(12),), (ors(20),))), ("b", ((ors(20),), (probe(12),)))):
        c, ep = _reopened(tmp_path / name, False, *first)
        with c.p:
            report = c.p.verify(AUDITOR)
            assert (report.ok, report.findings) == (True, ())
            assert _row(c, ep)[0] == ("probe" if name == "a" else "ors")


def _alerts_run(tmp_path: Path, installed: bool, intake: float) -> tuple[Any, ...]:
    c, ep = _reopened(tmp_path / str(installed), installed, (probe(intake),), protocol=PROTOCOL)
    try:
        before = _ids(c)
        c.session(ep, ors(25))
        entries = _new_entries(c, before, ep)
        raised = [
            (e.event.rule_id, e.event.measure_id, e.event.severity, e.event.message, e.event.at_session)
            for e in c.p.timeline(CLINICIAN, ep)
            if e.type == "alert-raised"
        ]
        return raised, entries
    finally:
        c.p.close()


@pytest.mark.parametrize(("intake", "clinical"), [(8, False), (9, True), (10, True)])
def test_the_alert_rules_read_an_uninstalled_measure_by_its_stored_definition(
    tmp_path: Path, intake: float, clinical: bool
) -> None:
    """The probe's cutoff is 9, clinical at or above: the history rule fires for 9 and 10, not for 8, with
    the plugin gone as with it; the protocol's missed probe is named by its title."""
    installed = _alerts_run(tmp_path, True, intake)
    raised, entries = _alerts_run(tmp_path, False, intake)
    assert (raised, entries) == installed
    missed = "{} was due under the measurement protocol and not given."
    title = "Synthetic probe scale"
    expected = [
        ("measure-missed", "ors", AlertSeverity.INFO, missed.format("Outcome Rating Scale"), 1),
        ("measure-missed", "probe", AlertSeverity.INFO, missed.format(title), 2),
    ]
    if clinical:
        expected.append(
            (CARRIED, "probe", AlertSeverity.INFO, f"{title} was last on the clinical side of its cutoff.", 2)
        )
    assert sorted(raised) == sorted(expected)
    assert entries == [("record-session", "episode", "ep", "allowed")]
