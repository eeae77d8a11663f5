"""The progress chart shows every score the episode has: measures the client filled in themselves (by a
link, a kiosk or on paper) on the clinic's day they answered, symptom measures in a panel of their own
(an episode with a PHQ-9 alone has a chart), another participant's ratings in the table as on the chart,
and the scores of a measure whose plugin is gone, listed rather than lost."""

from __future__ import annotations

import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import alliancekit_measure_k10
import attrs

from alliancekit import open_practice
from alliancekit.domain import (
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Modality,
    Participant,
)
from alliancekit.domain.records import Session
from alliancekit.feedback.reports import (
    chart_rows,
    chart_summary,
    chart_svg,
    chart_vega_lite,
    palette,
    progress_chart,
)
from alliancekit.feedback.reports.chart import ProgressChart
from alliancekit.feedback.reports.quality import episode_records
from alliancekit.plugins import make_plugin_host

from .conftest import CLINICIAN, later, make_clinic, ors, phq9, srs

SVG = "{http://www.w3.org/2000/svg}"


def _marks(chart: ProgressChart) -> tuple[ET.Element, set[str], set[str]]:
    root = ET.fromstring(chart_svg(chart))  # noqa: S314 - our own output
    drawn = {el.attrib["data-mark"] for el in root.iter() if "data-mark" in el.attrib}
    legend = {el.attrib["data-legend"] for el in root.iter() if "data-legend" in el.attrib}
    return root, drawn, legend


def test_measures_the_client_filled_in_are_on_the_chart_on_the_clinics_day(tmp_path: Path) -> None:
    """Auckland is UTC+13 in January: the practice's clock (12:00 UTC on 1 January 2030) is 01:00 on the 2nd
    there. After two sessions the client answers an ORS through a link between sessions (drawn after
    session 2), and a PHQ-9 on paper at 11:30 UTC on 1 January 2030 (00:30 on the 2nd in Auckland) ahead
    of the next session (drawn before session 3)."""
    c = make_clinic(tmp_path, time_zone="Pacific/Auckland")
    ep = c.episode()
    c.session(ep, ors(18), srs(37))
    c.session(ep, ors(20), srs(38))
    made = c.p.request_administration(CLINICIAN, ep, measure="ors", point="between")
    assert made.token is not None
    answers = {"individually": 6, "interpersonally": 6, "socially": 6, "overall": 6}
    c.p.submit_response(made.token, answers=answers)  # 24
    c.p.record_client_response(CLINICIAN, ep, phq9(12), responded_at=datetime(2030, 1, 1, 11, 30, tzinfo=UTC))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart.outcome is not None
    assert [(p.x, p.total, p.by_client) for p in chart.outcome.points] == [
        (1, 18, False),
        (2, 20, False),
        (2.5, 24, True),
    ]
    (phq,) = chart.measures
    assert [(p.x, p.total, p.by_client) for p in phq.points] == [(2.5, 12, True)]
    rows = {n: outcome for n, outcome, _ in chart_rows(chart)}
    by_client = "filled in by the client on 2030-01-02"
    assert rows[2] == (
        f"ORS 20, on track (expected 19.9, lower bound 14.9); ORS 24, on track (expected 19.9, lower bound "
        f"14.9), {by_client}, after session 2"
    )
    assert rows[3] == f"PHQ-9 12, in the clinical range (10 or above), {by_client}, before session 3"
    assert "2030-01-01" not in json.dumps(chart_rows(chart))  # the UTC day is not the clinic's
    assert "filled in by the client on 2030-01-02, before session 3" in chart_summary(chart)

    root, drawn, legend = _marks(chart)
    assert drawn == legend
    hollow = [el for g in root.iter(f"{SVG}g") if g.attrib.get("data-mark") == "by-client" for el in g]
    assert len(hollow) == 2  # the ORS and the PHQ-9, each white inside its own colour
    assert all(el.attrib["fill"] == palette.SURFACE for el in hollow)
    assert [el.attrib["data-mark"] for el in hollow] == ["zone-green", "measure-clinical"]
    titles = [el.findtext(f"{SVG}title") or "" for el in hollow]
    assert all("filled in by the client on 2030-01-02" in t for t in titles)
    spec = chart_vega_lite(chart)
    outcome_sessions = [v["session"] for v in spec["vconcat"][0]["layer"][-1]["data"]["values"]]
    assert outcome_sessions == [1, 2, 2.5]
    assert spec["vconcat"][0]["layer"][0]["encoding"]["x"]["scale"]["domain"] == [0.5, 3.5]
    c.p.close()


def test_an_episode_with_symptom_measures_alone_has_a_chart(tmp_path: Path) -> None:
    """PHQ-9 9, 10 and 11 (its cutoff is 10, clinical at 10 or above: one either side and one on it), and a
    missed session: a PHQ-9 panel with its cutoff, squares in the clinical range, the missed session marked,
    and words that say the same as the table."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, phq9(9))
    c.session(ep, phq9(10))
    c.session(ep, attendance=Attendance.NO_SHOW)
    c.session(ep, phq9(11))

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert not chart.empty
    assert chart.outcome is None
    assert chart.alliance is None
    (phq,) = chart.measures
    assert [(p.session, p.total) for p in phq.points] == [(1, 9), (2, 10), (4, 11)]
    assert chart_rows(chart) == [
        (1, "PHQ-9 9, outside the clinical range (10 or above)", "-"),
        (2, "PHQ-9 10, in the clinical range (10 or above)", "-"),
        (4, "PHQ-9 11, in the clinical range (10 or above)", "-"),
    ]
    assert chart_summary(chart) == (
        "Latest PHQ-9, session 4: PHQ-9 11, in the clinical range (10 or above). Also: 1 missed session."
    )
    root, drawn, legend = _marks(chart)
    assert drawn == legend == {"cutoff-phq-9", "measure", "measure-clinical", "missed"}
    points = [el for el in root.iter() if el.attrib.get("data-mark", "").startswith("measure")]
    assert [(el.tag, el.attrib["data-mark"]) for el in points] == [
        (f"{SVG}circle", "measure"),
        (f"{SVG}rect", "measure-clinical"),
        (f"{SVG}rect", "measure-clinical"),
    ]
    assert "No scores recorded yet." not in chart_svg(chart)
    (panel,) = chart_vega_lite(chart)["vconcat"]
    statuses = [v["status"] for v in panel["layer"][0]["data"]["values"]]
    assert statuses == [outcome for _, outcome, _ in chart_rows(chart)]
    c.p.close()


def test_another_participants_ratings_are_in_the_table_as_on_the_chart(tmp_path: Path) -> None:
    """A couple: the partner's ORS and SRS beside the client's, and a PHQ-9 only the partner answered (a
    panel of its own, since the client has none). The table lists what each tooltip says."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    c.p.add_participant(CLINICIAN, ep, Participant(partner, "partner", consent), added_on=c.day)
    c.session(
        ep,
        ors(18),
        attrs.evolve(ors(20), about=partner),
        srs(38),
        attrs.evolve(srs(30), about=partner),
        attrs.evolve(phq9(14), about=partner),
    )

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert [s.measure_id for s in chart.measures] == ["phq-9"]
    assert chart.measures[0].points == ()
    assert chart_rows(chart) == [
        (
            1,
            f"ORS 18, first score: nothing to compare yet; {partner}, ORS 20; {partner}, PHQ-9 14",
            f"SRS 38, at or above its cutoff of 36; {partner}, SRS 30",
        )
    ]
    root, drawn, legend = _marks(chart)
    assert drawn == legend
    titles = {el.findtext(f"{SVG}title") for el in root.iter() if "data-mark" in el.attrib}
    for text in (f"{partner}, ORS 20", f"{partner}, SRS 30", f"{partner}, PHQ-9 14"):
        assert f"Session 1: {text}" in titles
    c.p.close()


def test_scores_of_a_measure_no_longer_installed_are_listed_not_lost(tmp_path: Path) -> None:
    """K10 scores recorded while its plugin was installed, read by a practice without it and without its
    stored definition (a plugin removed before the store kept definitions): the chart cannot draw a measure
    it has no range for, but it does not say there are no scores, and the table lists them. With the stored
    definition it is drawn (tests/feedback/test_chart_stored_definition.py)."""
    with_k10 = make_plugin_host(load_entry_points=False, extra_plugins=[alliancekit_measure_k10])
    c = make_clinic(tmp_path, plugins=with_k10)
    ep = c.episode()
    k10 = Administration("k10", "1.0", AdministrationTiming.START, total=30)
    c.session(ep, k10)
    c.p.close()
    with sqlite3.connect(tmp_path / "p.sqlite") as conn:
        conn.execute("DELETE FROM measure_definitions WHERE measure_id = 'k10'")
    conn.close()
    with open_practice(
        tmp_path / "p.sqlite", clock=later, plugins=make_plugin_host(load_entry_points=False)
    ) as p:
        chart = progress_chart(p, CLINICIAN, ep)
    assert not chart.empty
    assert chart_rows(chart) == [(1, "K10 30 (measure not installed)", "-")]
    assert chart_summary(chart).startswith("Not charted: K10 (the measure is not installed")
    svg = chart_svg(chart)
    ET.fromstring(svg)  # noqa: S314 - our own output
    assert "No scores recorded yet." not in svg
    assert re.search(r">Not charted: K10 not installed\.</text>", svg)


def test_a_corrected_session_keeps_only_the_scores_of_the_correction(tmp_path: Path) -> None:
    """Session 2 recorded with ORS, PHQ-9 and SRS, then corrected to the ORS alone (given in error): the
    correction replaces the session, so its PHQ-9 and SRS leave the chart, the table and the summary."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(18), phq9(14), srs(38))
    second = c.session(ep, ors(20), phq9(12), srs(39))
    corrected = Session(c.day, Modality.IN_PERSON, Attendance.ATTENDED, administrations=(ors(21),))
    c.p.correct_session(CLINICIAN, ep, second, corrected, reason="given in error")

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart.outcome is not None
    assert chart.alliance is not None
    assert [(p.session, p.total) for p in chart.outcome.points] == [(1, 18), (2, 21)]
    assert [(p.session, p.total) for p in chart.measures[0].points] == [(1, 14)]
    assert [(p.session, p.total) for p in chart.alliance.points] == [(1, 38)]
    assert chart_rows(chart)[1] == (2, "ORS 21, on track (expected 19.9, lower bound 14.9)", "-")
    assert "Latest PHQ-9, session 1: PHQ-9 14" in chart_summary(chart)
    c.p.close()


def test_a_measure_a_correction_took_out_altogether_leaves_the_chart(tmp_path: Path) -> None:
    """The only PHQ-9 and the only SRS, in session 1, corrected away: no PHQ-9 panel and no alliance panel
    (not an empty one, nor an error)."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    first = c.session(ep, ors(18), phq9(14), srs(38))
    corrected = Session(c.day, Modality.IN_PERSON, Attendance.ATTENDED, administrations=(ors(18),))
    c.p.correct_session(CLINICIAN, ep, first, corrected, reason="given in error")

    chart = progress_chart(c.p, CLINICIAN, ep)

    assert chart.measures == ()
    assert chart.alliance is None
    assert chart_rows(chart) == [(1, "ORS 18, first score: nothing to compare yet", "-")]
    c.p.close()


def test_after_a_correction_takes_scores_out_the_state_agrees_with_the_chart_and_quality(
    tmp_path: Path,
) -> None:
    """Session 2's PHQ-9 and SRS corrected away: the episode's state (what the caseload and the alert rules
    read) has session 1's as the latest, as the chart and the quality reports do, and no previous score of
    either (the state used to keep the scores the correction took out)."""
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(18), phq9(14), srs(38))
    second = c.session(ep, ors(20), phq9(12), srs(39))
    corrected = Session(c.day, Modality.IN_PERSON, Attendance.ATTENDED, administrations=(ors(21),))
    c.p.correct_session(CLINICIAN, ep, second, corrected, reason="given in error")

    state = c.p.episode(CLINICIAN, ep)
    chart = progress_chart(c.p, CLINICIAN, ep)
    (record,) = episode_records(c.p, CLINICIAN)[0]

    assert chart.alliance is not None
    latest_in_chart = {"phq-9": chart.measures[0].points[-1], "srs": chart.alliance.points[-1]}
    for measure_id, point in latest_in_chart.items():
        latest = state.latest_scores[measure_id]
        assert (latest.session_number, latest.total, latest.held_on) == (1, point.total, point.on)
        assert measure_id not in state.previous_scores
    assert state.latest_scores["phq-9"].total == 14
    phq = state.latest_scores["phq-9"]
    in_quality = [(s.session, s.total, s.on) for s in record.scores if s.measure_id == "phq-9"]
    assert in_quality == [(phq.session_number, phq.total, phq.held_on)]
    assert (state.latest_scores["ors"].total, state.previous_scores["ors"].total) == (21, 18)
    c.p.close()
