"""The HTML report's accessibility, checked without a browser (tests/browser renders it in Chromium):
contrast computed from the palette, zones told by shape and words, legends of exactly what is drawn,
tooltips that give meanings, session labels on every panel, a fixed scale per measure, one attention list
for the practice ordered by urgency, and a page laid out for the screen it is on."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path

import pytest

from alliancekit.domain import Actor, Role
from alliancekit.feedback.builtin import ALLIANCE_BELOW_CUTOFF
from alliancekit.feedback.expectation import Zone
from alliancekit.feedback.reports import chart_svg, chart_vega_lite, palette, progress_chart, render_report
from alliancekit.feedback.reports.chart import ProgressChart

from .conftest import CLINIC, Clinic, config, make_clinic, ors, phq9, srs

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
SVG = "{http://www.w3.org/2000/svg}"
COLOUR_WORDS = re.compile(r"\b(green|amber|red|grey|gray|orange|yellow|purple|blue|teal)\b", re.IGNORECASE)


# --------------------------------------------------------------------------------------------- contrast


def _luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of a #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_formula_at_known_points() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#777777") == pytest.approx(1.0)
    # the amber badge the issue measured: white on #ef8f00
    assert round(contrast("#ffffff", "#ef8f00"), 2) == 2.44
    # just either side of the 4.5:1 line on white
    assert contrast("#767676", "#ffffff") >= 4.5 > contrast("#777777", "#ffffff")


def test_text_meets_aa_on_every_background_it_is_used_on() -> None:
    for text, backgrounds in palette.TEXT_ON.items():
        for background in backgrounds:
            assert contrast(text, background) >= 4.5, (text, background)


def test_severity_badges_meet_aa() -> None:
    for severity, badge in palette.SEVERITY_BADGES.items():
        assert contrast(badge.text, badge.background) >= 4.5, severity


def test_chart_marks_meet_the_non_text_minimum_on_every_chart_surface() -> None:
    for mark in palette.CHART_MARKS:
        for surface in palette.CHART_SURFACES:
            assert contrast(mark, surface) >= 3.0, (mark, surface)
    for text in palette.CHART_TEXT:
        for surface in palette.CHART_SURFACES:
            assert contrast(text, surface) >= 4.5, (text, surface)


def test_every_colour_in_the_report_comes_from_the_palette(clinic: Clinic) -> None:
    declared = {
        value.lower()
        for name, value in vars(palette).items()
        if name.isupper() and isinstance(value, str) and value.startswith("#")
    }
    declared |= {b.text for b in palette.SEVERITY_BADGES.values()} | {
        b.background for b in palette.SEVERITY_BADGES.values()
    }
    declared |= {s.colour for s in palette.ZONE_STYLES.values()}
    ep = clinic.episode()
    for total in (18, 16, 12, 21):
        clinic.session(ep, ors(total), srs(total + 15))
    page = render_report(clinic.p, SUPERVISOR, today=clinic.day)
    used = {c.lower() for c in re.findall(r"#[0-9a-fA-F]{6}\b", page)}
    assert used <= declared, used - declared


# ----------------------------------------------------------------------------------------------- zones


def test_every_zone_has_its_own_shape_and_words() -> None:
    assert set(palette.ZONE_STYLES) == set(Zone)
    styles = list(palette.ZONE_STYLES.values())
    assert len({s.shape for s in styles}) == len(styles)
    assert len({s.label for s in styles}) == len(styles)
    assert len({s.colour for s in styles}) == len(styles)
    for style in styles:
        assert not COLOUR_WORDS.search(style.label), style


def _svg(chart: ProgressChart) -> ET.Element:
    return ET.fromstring(chart_svg(chart))  # noqa: S314 - our own output


def _drawn_and_legend(root: ET.Element) -> tuple[set[str], set[str]]:
    drawn = {el.attrib["data-mark"] for el in root.iter() if "data-mark" in el.attrib}
    legend = {el.attrib["data-legend"] for el in root.iter() if "data-legend" in el.attrib}
    return drawn, legend


def _worsening(clinic: Clinic) -> str:
    ep = clinic.episode()
    # with the norms' expectation for an intake of 18 (expected 19.9, band from 17.4, bound 14.9 at the
    # second session; 21.1, 18.6 and 16.1 at the third; bound 16.9 at the fourth), each score is in the same
    # zone whether green starts at the band or at the expected score
    clinic.session(ep, ors(18), srs(38))
    clinic.session(ep, ors(21), srs(39))  # on track
    clinic.session(ep, ors(17), srs(30))  # behind, and the alliance below its cutoff
    clinic.session(ep, ors(8), srs(31))  # off track
    return ep


def test_zone_points_have_their_shape_and_a_tooltip_that_says_what_they_mean(clinic: Clinic) -> None:
    chart = progress_chart(clinic.p, clinic.actor, _worsening(clinic))
    assert chart.outcome is not None
    zones = [p.zone for p in chart.outcome.points]
    assert set(zones) == {Zone.GREY, Zone.GREEN, Zone.AMBER, Zone.RED}  # the scenario shows every zone
    root = _svg(chart)
    points = [el for el in root.iter() if el.attrib.get("data-mark", "").startswith("zone-")]
    assert [el.attrib["data-mark"] for el in points] == [f"zone-{z.value}" for z in zones]
    shapes = {"circle": f"{SVG}circle", "square": f"{SVG}rect"}
    for el, point in zip(points, chart.outcome.points, strict=True):
        style = palette.ZONE_STYLES[point.zone]
        assert el.tag == shapes.get(style.shape, f"{SVG}polygon")
        assert el.attrib["fill"] == style.colour
        title = el.find(f"{SVG}title")
        assert title is not None
        assert title.text is not None
        assert title.text.startswith(f"Session {point.session}: ORS {point.total:g}, {style.label}")
    # no tooltip anywhere in the chart names a colour
    titles = [el.text or "" for el in root.iter(f"{SVG}title")]
    assert titles
    assert [t for t in titles if COLOUR_WORDS.search(t)] == []


def test_the_legend_lists_exactly_what_the_chart_draws(tmp_path: Path) -> None:
    clinic = make_clinic(tmp_path)
    full = progress_chart(clinic.p, clinic.actor, _worsening(clinic))
    drawn, legend = _drawn_and_legend(_svg(full))
    assert drawn == legend
    assert {p.zone for p in full.outcome.points} == {  # type: ignore[union-attr]
        Zone(key.removeprefix("zone-")) for key in legend if key.startswith("zone-")
    }
    assert {"band", "expected", "limit", "cutoff-ors", "cutoff-srs", "alliance", "alliance-low"} <= legend
    assert not {"review", "missed", "rupture", "repair"} & legend  # none happened in this episode
    # an alliance-only chart: no band, no zones, no outcome cutoff in its legend
    only_alliance = clinic.episode()
    clinic.session(only_alliance, srs(39))
    clinic.session(only_alliance, srs(38))
    drawn, legend = _drawn_and_legend(_svg(progress_chart(clinic.p, clinic.actor, only_alliance)))
    assert drawn == legend == {"alliance", "cutoff-srs", "alert"}  # the fall of one point raises an alert


def test_every_panel_has_session_labels_and_the_measures_whole_range(tmp_path: Path) -> None:
    clinic = make_clinic(tmp_path)
    high, low = clinic.episode(), clinic.episode()
    for _ in range(3):
        clinic.session(high, ors(34), srs(39.5))
        clinic.session(low, ors(6), srs(12))
    registry = clinic.p.plugins.measures()
    ticks = []
    for ep in (high, low):
        root = _svg(progress_chart(clinic.p, clinic.actor, ep))
        texts = [(el.attrib.get("text-anchor"), el.text) for el in root.iter(f"{SVG}text")]
        assert [t for _, t in texts].count("session") == 2  # an axis title under each of the two panels
        assert texts.count(("middle", "1")) == 2
        assert texts.count(("middle", "3")) == 2
        ticks.append([t for anchor, t in texts if anchor == "end"])
    assert ticks[0] == ticks[1]  # the same scale for every client
    for measure_id in ("ors", "srs"):
        m = registry.get(measure_id)
        assert f"{m.range_min:g}" in ticks[0]
        assert f"{m.range_max:g}" in ticks[0]


def test_vega_lite_tells_zones_by_shape_and_words(clinic: Clinic) -> None:
    spec = chart_vega_lite(progress_chart(clinic.p, clinic.actor, _worsening(clinic)))
    points = next(layer for layer in spec["vconcat"][0]["layer"] if layer["mark"].get("type") == "point")
    shape = points["encoding"]["shape"]["scale"]
    assert dict(zip(shape["domain"], shape["range"], strict=True)) == {
        z.value: s.shape for z, s in palette.ZONE_STYLES.items()
    }
    statuses = [v["status"] for v in points["data"]["values"]]
    assert any(palette.ZONE_STYLES[Zone.RED].label in s for s in statuses)
    alliance_y = spec["vconcat"][1]["layer"][0]["encoding"]["y"]["scale"]["domain"]
    assert alliance_y == [0, 40]


# ------------------------------------------------------------------------------------------------ page


def test_page_is_laid_out_for_the_screen(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(20), srs(38))
    page = render_report(clinic.p, SUPERVISOR, today=clinic.day)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    svgs = re.findall(r"<svg [^>]*>", page)
    assert svgs
    for tag in svgs:
        assert 'width="100%"' in tag
        assert re.search(r'viewBox="0 0 \d+ [\d.]+"', tag)
        assert "height=" not in tag.replace("viewBox", "")  # the height follows the width


def _attention_rows(page: str) -> list[str]:
    table = re.search(r'<table id="attention">(.*?)</table>', page, flags=re.DOTALL)
    assert table is not None
    return re.findall(r"<tr><td>(.*?)</tr>", table.group(1), flags=re.DOTALL)


def test_attention_list_is_one_list_for_the_practice_most_urgent_first(tmp_path: Path) -> None:
    clinic = make_clinic(tmp_path, feedback=config(gap_days=60))
    ada = Actor("clin-ada", Role.CLINICIAN, CLINIC)
    zoe = Actor("clin-zoe", Role.CLINICIAN, CLINIC)
    amber = clinic.episode(ada)
    clinic.session(amber, ors(30), srs(30), actor=ada)
    urgent = clinic.episode(zoe)
    clinic.session(urgent, phq9(3, item9=1), actor=zoe)
    red = clinic.episode(ada)
    clinic.session(red, phq9(8), actor=ada)
    clinic.session(red, phq9(15), actor=ada)
    page = render_report(clinic.p, SUPERVISOR, today=clinic.day + timedelta(days=1))
    rows = _attention_rows(page)
    # the urgent client of the clinician sorted last alphabetically comes first
    assert [re.findall(r'class="sev (\w+)"', row)[0] for row in rows] == ["urgent", "red", "amber"]
    assert [re.findall(r"<td>(clin-\w+)</td>", row) for row in rows] == [
        ["clin-zoe"],
        ["clin-ada"],
        ["clin-ada"],
    ]
    assert [re.search(r'href="#ep-(\w+)"', row).group(1) for row in rows] == [urgent, red, amber]  # type: ignore[union-attr]
    assert f'id="ep-{urgent}"' in page  # the link has its chart


@pytest.mark.parametrize(
    ("comparison", "at_cutoff"),
    [("below", "at or above its cutoff of 36"), ("at-or-below", "at or below its cutoff of 36")],
)
def test_alliance_points_say_what_the_alliance_alert_says_at_the_cutoff(
    tmp_path: Path, comparison: str, at_cutoff: str
) -> None:
    clinic = make_clinic(tmp_path, feedback=config(alliance_comparison=comparison))
    ep = clinic.episode()
    for total in (36.1, 36, 35.9):
        clinic.session(ep, srs(total))
    raised = [e.event for e in clinic.p.timeline(clinic.actor, ep) if e.type == "alert-raised"]
    first_alert = min(a.at_session for a in raised if a.rule_id == ALLIANCE_BELOW_CUTOFF)  # type: ignore[attr-defined]
    root = _svg(progress_chart(clinic.p, clinic.actor, ep))
    points = [el for el in root.iter() if el.attrib.get("data-mark", "").startswith("alliance")]
    titles = [el.findtext(f"{SVG}title") for el in points]
    low = "at or below" if comparison == "at-or-below" else "below"
    high = "above" if comparison == "at-or-below" else "at or above"
    assert titles == [
        f"Session 1: SRS 36.1, {high} its cutoff of 36",
        f"Session 2: SRS 36, {at_cutoff}",
        f"Session 3: SRS 35.9, {low} its cutoff of 36",
    ]
    # squares (below the cutoff) start where the alliance alert was raised, and go on while it would be
    squares = [i + 1 for i, el in enumerate(points) if el.attrib["data-mark"] == "alliance-low"]
    assert squares == list(range(first_alert, 4))
