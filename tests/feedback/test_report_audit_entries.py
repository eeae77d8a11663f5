"""A chart, a practice-outcomes report and the HTML report cost one audit entry per guarded read they make,
whether a measure's plugin is installed or gone: the stored measure definitions they describe such a
measure by are read under those reads' entries, never with one of their own (they wrote a ``read-report``
entry each before: a chart 3 entries, the HTML report 9, the outcomes of an uninstalled measure 2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.feedback.reports import practice_outcomes, progress_chart, render_report

from .conftest import CLINIC, CLINICIAN, later
from .test_chart_stored_definition import TODAY, WITH_PROBE, WITHOUT, recorded
from .test_outcomes_stored_definition import SUPERVISOR, closed
from .test_outcomes_stored_definition import WITH_PROBE as WITH_CHILD_PROBE

AUDITOR = Actor("aud", Role.ADMINISTRATOR, CLINIC)
SUP = Actor("sup", Role.SUPERVISOR, CLINIC)
PLUGINS = [WITH_PROBE, WITHOUT]


def entries_of(p: Any, reader: Actor, call: Callable[[], object]) -> list[tuple[str, str, str]]:
    """The audit entries ``call`` wrote for ``reader`` (action, record type, outcome), sorted."""
    before = {e.entry_id for e in p.audit_entries(AUDITOR)}
    call()
    return sorted(
        (e.action, e.record_type, e.outcome)
        for e in p.audit_entries(AUDITOR)
        if e.entry_id not in before and e.actor_id == reader.id
    )


@pytest.mark.parametrize("plugins", PLUGINS, ids=["installed", "uninstalled"])
def test_a_chart_costs_its_two_guarded_reads(tmp_path: Path, plugins: Any) -> None:
    db, ep = recorded(tmp_path)
    with open_practice(db, clock=later, plugins=plugins) as p:
        chart = None

        def draw() -> None:
            nonlocal chart
            chart = progress_chart(p, CLINICIAN, ep)

        assert entries_of(p, CLINICIAN, draw) == [
            ("read-episode", "episode", "allowed"),
            ("read-timeline", "episode", "allowed"),
        ]
    assert chart is not None
    assert chart.outcome is not None  # drawn by the stored definition when uninstalled
    assert (chart.outcome.measure_id, chart.outcome.cutoff) == ("probe", 9)


@pytest.mark.parametrize("plugins", PLUGINS, ids=["installed", "uninstalled"])
def test_the_html_report_costs_its_guarded_reads_only(tmp_path: Path, plugins: Any) -> None:
    db, _ = recorded(tmp_path)
    with open_practice(db, clock=later, plugins=plugins) as p:
        page = ""

        def render() -> None:
            nonlocal page
            page = render_report(p, SUP, today=TODAY)

        found = entries_of(p, SUP, render)
    assert "Synthetic probe scale against the expected response" in page
    # the outcomes (the practice's closed rows, then the caseload when none is closed), the attention list,
    # the charted caseload, the quality section, and the one chart's episode and timeline: 8, as before the
    # stored definitions were read at all
    assert found == sorted(
        [
            ("read-caseload", "practice", "allowed"),
            *[("read-caseload", "caseload", "allowed")] * 4,
            ("read-episode", "episode", "allowed"),
            *[("read-timeline", "episode", "allowed")] * 2,
        ]
    )


@pytest.mark.parametrize("plugins", [WITH_CHILD_PROBE, WITHOUT], ids=["installed", "uninstalled"])
def test_the_outcomes_report_costs_its_one_guarded_read(tmp_path: Path, plugins: Any) -> None:
    db = closed(tmp_path)
    with open_practice(db, clock=later, plugins=plugins) as p:
        measured = []
        found = entries_of(
            p, SUPERVISOR, lambda: measured.append(practice_outcomes(p, SUPERVISOR).overall.measured)
        )
    assert measured == [11]  # classified by the stored definition when uninstalled
    assert found == [("read-caseload", "practice", "allowed")]
