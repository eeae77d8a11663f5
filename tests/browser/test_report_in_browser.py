"""The HTML report in headless Chromium, on a 375 px phone and a 1280 px desktop: axe-core finds no serious
or critical violation, the page never scrolls sideways, the viewport is the screen's (not a shrunk desktop
layout) and no shown text, chart labels included, renders below 12 px."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import CLINIC
from alliancekit.domain import Actor, Role
from alliancekit.domain.actors import Purpose
from alliancekit.feedback.reports import write_report

from .harness import Browser, blocking

WIDTHS = (375, 1280)
MIN_TEXT_PX = 12
SUPERVISOR = Actor("demo-supervisor", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The report of the demo practice (every lifecycle stage, alerts, ruptures, reviews), as a file URL."""
    folder = tmp_path_factory.mktemp("demo-report")
    summary = simulate_practice(folder / "demo.sqlite")
    with open_practice(folder / "demo.sqlite") as practice:
        path = write_report(practice, SUPERVISOR, folder, today=date.fromisoformat(summary.today))
    return path.as_uri()


@pytest.fixture(scope="module")
def empty_report(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("empty-report")
    with open_practice(folder / "empty.sqlite") as practice:
        path = write_report(practice, SUPERVISOR, folder, today=date(2026, 1, 1))
    return path.as_uri()


def _check_page(browser: Browser, axe_source: str, url: str, width: int) -> None:
    browser.open(url, width)
    browser.open_all_details()
    layout = browser.layout()
    # the page is laid out for the screen (a missing viewport tag lays a phone page out ~980 px wide, shrunk)
    assert layout["innerWidth"] == width, layout
    assert layout["zoom"] == 1, layout
    assert layout["scrollWidth"] <= width, f"the page scrolls sideways at {width} px: {layout}"
    assert browser.small_text(MIN_TEXT_PX) == []
    problems = blocking(browser.axe_violations(axe_source))
    assert problems == [], "\n".join(
        f"{v['impact']} {v['id']}: {v['help']} at {v['targets']}" for v in problems
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_demo_report_is_accessible_and_readable(
    browser: Browser, axe_source: str, demo_report: str, width: int
) -> None:
    _check_page(browser, axe_source, demo_report, width)
    charts = browser.script("return document.querySelectorAll('section.chart svg').length;")
    assert charts > 0
    # every chart fits its column: none is wider than the screen
    widest = browser.script(
        "return Math.max(...[...document.querySelectorAll('section.chart svg')]"
        ".map(s => s.getBoundingClientRect().right));"
    )
    assert widest <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_empty_report_is_accessible_and_readable(
    browser: Browser, axe_source: str, empty_report: str, width: int
) -> None:
    _check_page(browser, axe_source, empty_report, width)


def test_a_page_without_a_viewport_tag_fails_the_phone_check(browser: Browser, tmp_path: Path) -> None:
    """The check itself can fail: the same kind of page without the viewport tag is laid out shrunk."""
    page = tmp_path / "bare.html"
    page.write_text("<!DOCTYPE html><html lang=en><title>t</title><main><p>text</p></main></html>", "utf-8")
    browser.open(page.as_uri(), 375)
    layout = browser.layout()
    assert layout["innerWidth"] > 375
    assert browser.small_text(MIN_TEXT_PX) != []


def test_axe_finds_the_contrast_the_old_amber_badge_had(
    browser: Browser, axe_source: str, tmp_path: Path
) -> None:
    """The axe check can fail: white text on the old amber (#ef8f00, 2.44:1) is a serious violation."""
    page = tmp_path / "amber.html"
    page.write_text(
        '<!DOCTYPE html><html lang=en><title>t</title><main><span style="background:#ef8f00;color:#fff">'
        "amber</span></main></html>",
        "utf-8",
    )
    browser.open(page.as_uri(), 1280)
    assert [v["id"] for v in blocking(browser.axe_violations(axe_source))] == ["color-contrast"]
