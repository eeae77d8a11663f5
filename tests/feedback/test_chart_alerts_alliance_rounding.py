"""The progress chart draws what a clinician reviewing progress needs: every alert at the session that raised
it (in the SVG's words and the report's table, by severity and the rule's fixed message), every alliance
measure recorded, every score rounded by one rule that never moves it across what it is compared with, and
a review or an alert before the first session inside the panel. The Vega-Lite specification says what the
SVG says, case by case."""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import alliancekit_measure_k10
import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Administration, AdministrationTiming, Consent, Participant, Role
from alliancekit.domain.records import Review
from alliancekit.domain.vocab import ReviewDecision
from alliancekit.feedback.reports import (
    chart_alerts,
    chart_rows,
    chart_summary,
    chart_svg,
    chart_vega_lite,
    progress_chart,
    render_report,
)
from alliancekit.feedback.reports.chart import ProgressChart, _score
from alliancekit.plugins import make_plugin_host

from .conftest import CLINIC, CLINICIAN, later, make_clinic, ors, phq9, srs

SVG = "{http://www.w3.org/2000/svg}"
_LEFT, _W, _RIGHT = 38, 340, 10  # the SVG's frame: x from _LEFT to _W - _RIGHT


def wai(item: int) -> Administration:
    """WAI-SR: twelve items of 1 to 5, summed (12 to 60)."""
    return Administration("wai-sr", "1.0", AdministrationTiming.END, {f"q{i}": item for i in range(1, 13)})


def core10_prorated() -> Administration:
    """CORE-10 with item 10 left out: nine answers summing to 17 (item 1 at position 1, the rest at 2; items 2
    and 3 are reverse keyed, 4 - 2 = 2), prorated to 17 * 10 / 9 = 18.888889."""
    answers: dict[str, float | None] = {f"q{i}": 2 for i in range(2, 10)}
    answers["q1"], answers["q10"] = 1, None
    return Administration("core-10", "1.0", AdministrationTiming.START, answers)


def _svg(chart: ProgressChart) -> ET.Element:
    return ET.fromstring(chart_svg(chart))  # noqa: S314 - our own output


def _point_words(root: ET.Element) -> list[str]:
    """What each score's tooltip says, without its "Session N: " (the Vega-Lite status says the same)."""
    titles = [
        el.findtext(f"{SVG}title") or ""
        for el in root.iter()
        if el.attrib.get("data-mark", "").startswith(("zone-", "measure", "alliance", "other-"))
    ]
    return sorted(re.sub(r"^Session \d+: ", "", t) for t in titles)


def _vega_values(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for panel in spec["vconcat"] for layer in panel["layer"] for v in layer["data"]["values"]]


def _vega_point_words(spec: dict[str, Any]) -> list[str]:
    """Each score's status, once (a panel's line and points layers share their values)."""
    seen: dict[tuple[Any, ...], str] = {}
    for panel in spec["vconcat"]:
        for layer in panel["layer"]:
            for v in layer["data"]["values"]:
                if "status" in v:
                    seen[(panel["title"], v["session"], v["status"])] = v["status"]
    return sorted(seen.values())


def _vega_marks(spec: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [v for v in _vega_values(spec) if v.get("kind") == kind]


def _agree(chart: ProgressChart) -> None:
    """The Vega-Lite specification and the SVG show the same scores in the same words, the same reviews,
    missed sessions and alerts, every mark inside the session axis's domain, on the same first panel."""
    root, spec = _svg(chart), chart_vega_lite(chart)
    assert _vega_point_words(spec) == _point_words(root)
    domain = spec["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"]
    for v in _vega_values(spec):
        if "session" in v:
            assert domain[0] <= v["session"] <= domain[1]
    by_session: dict[str, list[str]] = {}
    for v in _vega_marks(spec, "alert"):
        by_session.setdefault(v["when"], []).append(v["label"])
    alerts = [f"{when}: {'; '.join(labels)}" for when, labels in by_session.items()]
    svg_alerts = [
        el.findtext(f"{SVG}title") or "" for el in root.iter() if el.attrib.get("data-mark") == "alert"
    ]
    assert alerts == svg_alerts
    reviews = [f"{v['label']}, {v['when']}" for v in _vega_marks(spec, "review")]
    svg_reviews = [
        el.findtext(f"{SVG}title") or "" for el in root.iter() if el.attrib.get("data-mark") == "review"
    ]
    assert reviews == svg_reviews
    kinds = {v["kind"] for v in _vega_values(spec) if v.get("kind") in ("review", "missed", "alert")}
    first = {v.get("kind") for layer in spec["vconcat"][0]["layer"] for v in layer["data"]["values"]}
    assert kinds <= first


# ------------------------------------------------------------------------------------------------ alerts


def test_alerts_are_marked_at_the_session_that_raised_them_and_said_in_words(tmp_path: Path) -> None:
    """ORS 18 then 20 (on track), then 8 at session 3 with the SRS falling from 38 to 34: the outcome is
    past its lower bound and the alliance fell below its cutoff, so session 3 raises alerts. Each is marked
    at session 3, and the SVG's text, its tooltip, the table and the Vega-Lite spec give its severity in
    words and its rule's fixed message, never a score."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(18), srs(38))
    c.session(ep, ors(20), srs(38))
    c.session(ep, ors(8), srs(34))
    raised = [e.event for e in c.p.timeline(CLINICIAN, ep) if e.type == "alert-raised"]
    assert raised
    assert all(a.at_session == 3 for a in raised)

    chart = progress_chart(c.p, CLINICIAN, ep)

    words = {"urgent": "urgent", "red": "serious", "amber": "caution", "info": "information"}
    expected = [(3, f"{words[a.severity.value]} alert: {a.message}") for a in raised]
    assert chart_alerts(chart) == expected
    root = _svg(chart)
    (mark,) = [el for el in root.iter() if el.attrib.get("data-mark") == "alert"]  # one per session
    assert mark.findtext(f"{SVG}title") == "session 3: " + "; ".join(label for _, label in expected)
    session_3 = _LEFT + 2.5 / 3 * (_W - _LEFT - _RIGHT)
    assert _LEFT <= float(mark.attrib["x"]) < session_3  # just left of session 3, inside the frame
    legend = {el.attrib["data-legend"] for el in root.iter() if "data-legend" in el.attrib}
    assert "alert" in legend
    desc = root.findtext(f"{SVG}desc") or ""
    for _, label in expected:
        assert f"Session 3: {label}" in desc
    assert not re.search(r"alert[^.]*\b(8|34)\b", desc)  # no score in an alert's words
    html = render_report(c.p, Actor("sup-1", Role.SUPERVISOR, CLINIC))
    assert "<th>alerts raised</th>" in html
    for _, label in expected:
        assert label.replace("'", "&#x27;") in html
    _agree(chart)
    c.p.close()


def test_a_review_and_an_alert_before_the_first_session_are_inside_the_panel(tmp_path: Path) -> None:
    """A review recorded before any session, and a PHQ-9 filled in on paper before the first session with
    item 9 endorsed (an urgent alert then, at session 0): both are marked at the frame's left edge, where
    that response is drawn, and their words say "before the first session"."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.p.record_review(CLINICIAN, ep, Review(held_on=c.day, decision=ReviewDecision.CONTINUE))
    c.p.record_client_response(
        CLINICIAN, ep, phq9(12, item9=1), responded_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    c.session(ep, ors(18), srs(38))
    c.session(ep, ors(20), srs(38))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert [(mk.session, mk.kind) for mk in chart.markers][:2] == [(0, "review"), (0, "alert")]
    root = _svg(chart)
    (line,) = [
        el
        for g in root.iter(f"{SVG}g")
        if g.attrib.get("data-mark") == "review"
        for el in g.iter(f"{SVG}line")
    ]
    assert float(line.attrib["x1"]) == pytest.approx(_LEFT, abs=0.05)  # at the left edge, not outside it
    marks = [el for el in root.iter() if el.attrib.get("data-mark") in ("review", "alert")]
    assert [el.findtext(f"{SVG}title") for el in marks] == [
        "unscheduled review, before the first session",
        (
            "before the first session: urgent alert: A risk item was endorsed on Patient Health"
            " Questionnaire-9: assess risk today.; information alert: A progress review is due."
        ),
    ]
    for el in root.iter():
        for attr in ("x", "x1", "x2"):
            if attr in el.attrib and el.attrib.get("data-mark") in ("review", "alert"):
                assert _LEFT - 8 <= float(el.attrib[attr]) <= _W - _RIGHT
    assert "Before the first session: urgent alert" in chart_summary(chart)
    _agree(chart)
    c.p.close()


# ---------------------------------------------------------------------------------- every alliance measure


def test_every_alliance_measure_recorded_is_on_the_chart_and_in_its_table(tmp_path: Path) -> None:
    """SRS and WAI-SR each session, and a partner's GSRS that the client never gave: each has an alliance
    panel (the SRS first, with the ruptures), its points, its words in the table and its Vega-Lite panel."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    gsrs = Administration(
        "gsrs",
        "1.0",
        AdministrationTiming.END,
        {"relationship": 9, "goals_topics": 9, "approach": 9, "overall": 9},
    )
    c.session(ep, ors(18), srs(38), wai(4), attrs.evolve(gsrs, about=partner))
    c.session(ep, ors(20), srs(38.5), wai(5))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart.alliance is not None
    assert chart.alliance.measure_id == "srs"
    assert [s.measure_id for s in chart.further_alliance] == ["gsrs", "wai-sr"]
    gsrs_panel, wai_panel = chart.further_alliance
    assert gsrs_panel.points == ()
    assert [(p.session, p.total) for p in wai_panel.points] == [(1, 48), (2, 60)]
    assert chart_rows(chart) == [
        (
            1,
            "ORS 18, first score: nothing to compare yet",
            f"SRS 38, at or above its cutoff of 36; WAI-SR 48; {partner}, GSRS 36",
        ),
        (
            2,
            "ORS 20, on track (expected 19.9, lower bound 14.9)",
            "SRS 38.5, at or above its cutoff of 36; WAI-SR 60",
        ),
    ]
    root = _svg(chart)
    titles = [el.text for el in root.iter(f"{SVG}text") if el.attrib.get("class") == "t"]
    assert titles == ["ORS score, session by session", "Alliance: SRS", "Alliance: GSRS", "Alliance: WAI-SR"]
    spec = chart_vega_lite(chart)
    assert [p["title"] for p in spec["vconcat"]][1:] == [
        "Alliance: Session Rating Scale",
        "Alliance: Group Session Rating Scale",
        "Alliance: Working Alliance Inventory - Short Revised",
    ]
    assert "Latest alliance, session 2: WAI-SR 60." in chart_summary(chart)
    _agree(chart)
    c.p.close()


# ------------------------------------------------------------------------------------------------ rounding


@pytest.mark.parametrize(
    ("value", "against", "shown"),
    [
        (18.888889, (), "18.9"),  # a prorated CORE-10
        (2.25, (), "2.3"),  # half away from zero, from the exact decimal (a float round gives 2.2)
        (20.0, (), "20"),
        (9.94, (10,), "9.9"),
        (9.95, (10,), "9.95"),  # one place would make it 10, level with the cutoff it is below
        (10.0, (10,), "10"),
        (10.04, (10,), "10.04"),
        (10.05, (10,), "10.1"),
        (14.934264, (14.9,), "14.93"),  # a bound above a score of 14.9
        (14.934264, (15.0,), "14.9"),
    ],
)
def test_one_rounding_rule_keeps_every_number_on_its_side(
    value: float, against: tuple[float, ...], shown: str
) -> None:
    assert _score(value, *against) == shown


def test_every_score_shown_is_rounded_by_the_one_rule(tmp_path: Path) -> None:
    """A prorated CORE-10 of 18.888889 (the client's own, and the same answers from a partner) reads 18.9 in
    the table, the tooltips, the summary and the Vega-Lite tooltips, as another participant's always did."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    c.session(ep, core10_prorated(), attrs.evolve(core10_prorated(), about=partner))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart.outcome is not None
    assert chart.outcome.points[0].total == pytest.approx(18.888889)
    assert chart_rows(chart) == [
        (1, f"CORE-10 18.9, first score: nothing to compare yet; {partner}, CORE-10 18.9", "-")
    ]
    assert "8889" not in chart_svg(chart)
    assert "CORE-10 18.9" in chart_summary(chart)
    spec_words = _vega_point_words(chart_vega_lite(chart))
    assert spec_words == sorted(
        ["CORE-10 18.9, first score: nothing to compare yet", f"{partner}, CORE-10 18.9"]
    )
    _agree(chart)
    c.p.close()


@pytest.mark.parametrize(
    ("second", "words"),
    [
        # the lower bound at session 2 for an intake of 18 is 14.934264
        (14.9, "ORS 14.9, off track: past the bound (expected 19.9, lower bound 14.93)"),
        (15.0, "ORS 15, behind the expected response (expected 19.9, lower bound 14.9)"),
    ],
)
def test_a_score_and_its_bound_are_never_shown_level_when_they_are_not(
    tmp_path: Path, second: float, words: str
) -> None:
    """ORS 14.9 is past a lower bound of 14.934264: shown as "14.9" the bound would read as the score itself,
    so it gets the second place. ORS 15 is inside it: one place is enough."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(18))
    c.session(ep, ors(second))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart_rows(chart)[1] == (2, words, "-")
    _agree(chart)
    c.p.close()


def test_another_participants_scores_of_a_measure_no_longer_installed_are_listed(tmp_path: Path) -> None:
    """The client's ORS and a partner's K10 recorded while the K10 plugin was installed, read by a practice
    without it and without its stored definition (a plugin removed before the store kept definitions): the
    partner's K10 is listed in the table and named as not charted, as the client's would be."""
    with_k10 = make_plugin_host(load_entry_points=False, extra_plugins=[alliancekit_measure_k10])
    c = make_clinic(tmp_path, plugins=with_k10)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    k10 = Administration("k10", "1.0", AdministrationTiming.START, total=30, about=partner)
    c.session(ep, ors(18), k10)
    c.p.close()
    with sqlite3.connect(tmp_path / "p.sqlite") as conn:
        conn.execute("DELETE FROM measure_definitions WHERE measure_id = 'k10'")
    conn.close()
    without = make_plugin_host(load_entry_points=False)
    with open_practice(tmp_path / "p.sqlite", clock=later, plugins=without) as p:
        chart = progress_chart(p, CLINICIAN, ep)
    assert chart_rows(chart) == [
        (1, f"ORS 18, first score: nothing to compare yet; {partner}, K10 30 (measure not installed)", "-")
    ]
    assert "Not charted: K10 (the measure is not installed" in chart_summary(chart)
    _agree(chart)
