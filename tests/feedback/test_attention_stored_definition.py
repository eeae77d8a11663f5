"""The attention list names an open alert's measure by the definition stored with the data once its plugin
is gone, as with the plugin installed: the caseload read it is made from carries the definitions, under
that read's one audit entry. Each run without the plugin is compared with the same run with it, on the
cutoff of the history rule (8, 9, 10 against 9) and on the gap after which no session is a risk of dropout
(21 days: 21 is not, 22 is)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit.domain import Actor, Role
from alliancekit.errors import AccessDenied
from alliancekit.feedback.reports import attention_list, render_report

from .conftest import CLINIC, CLINICIAN, ors
from .test_chart_stored_definition import probe
from .test_stored_definition_rows_and_alerts import CARRIED, PROTOCOL, _ids, _new_entries, _reopened

TITLE = "Synthetic probe scale"
GAP = 21  # FeedbackConfig.gap_days's default


def _attention(tmp_path: Path, installed: bool, intake: float, days: int) -> tuple[Any, ...]:
    c, ep = _reopened(tmp_path / str(installed), installed, (probe(intake),), (ors(25),), protocol=PROTOCOL)
    try:
        before = _ids(c)
        items = attention_list(c.p, CLINICIAN, today=c.day + timedelta(days=days))
        entries = _new_entries(c, before, ep)
        # the order of reasons of one severity follows the alerts' random ids: compared as a set
        reasons = sorted(((r.rule_id, r.severity.value, r.text) for i in items for r in i.reasons), key=str)
        return reasons, entries
    finally:
        c.p.close()


@pytest.mark.parametrize("intake", [8, 9, 10])
@pytest.mark.parametrize("days", [GAP, GAP + 1])
def test_the_attention_list_names_an_uninstalled_measure_by_its_stored_definition(
    tmp_path: Path, intake: float, days: int
) -> None:
    installed = _attention(tmp_path, True, intake, days)
    reasons, entries = _attention(tmp_path, False, intake, days)
    assert (reasons, entries) == installed
    missed = "{} was due under the measurement protocol and not given."
    expected = [
        ("measure-missed", "info", missed.format("Outcome Rating Scale")),
        ("measure-missed", "info", missed.format(TITLE)),
    ]
    if intake >= 9:  # the probe's cutoff: 9 or above is clinical
        expected.append((CARRIED, "info", f"{TITLE} was last on the clinical side of its cutoff."))
    if days > GAP:
        expected.insert(0, (None, "amber", f"No session for {days} days: risk of dropout."))
    assert reasons == sorted(expected, key=str)
    # the caseload read's own entry only: the definitions are read under it
    assert entries == [("read-caseload", "caseload", CLINICIAN.id, "allowed")]


def test_the_html_report_s_attention_section_names_it_too(tmp_path: Path) -> None:
    c, _ = _reopened(tmp_path / "gone", False, (probe(10),), (ors(25),), protocol=PROTOCOL)
    with c.p:
        page = render_report(c.p, Actor("sup", Role.SUPERVISOR, CLINIC), today=c.day)
    assert f"{TITLE} was last on the clinical side of its cutoff." in page
    assert "the measure was" not in page


def test_a_refused_caseload_read_reads_no_definitions(tmp_path: Path) -> None:
    """A clinician naming another's caseload is refused (one refused entry) before anything is read."""
    c, ep = _reopened(tmp_path / "gone", False, (probe(10),), (ors(25),), protocol=PROTOCOL)
    with c.p:
        before = _ids(c)
        with pytest.raises(AccessDenied):
            attention_list(c.p, CLINICIAN, clinician_id="clin-2", today=c.day)
        assert _new_entries(c, before, ep) == [("read-caseload", "caseload", "clin-2", "refused")]
