"""A real browser for page tests: headless Chromium driven by Selenium through the system's chromedriver,
with axe-core for accessibility checks. Nothing here knows about alliancekit; any test that renders a page
(the HTML report, a future web view) can use the fixtures in ``tests/browser/conftest.py``.

Where the tools come from (``.ci/run`` installs them on a fresh machine):

- Chromium and chromedriver: Debian's ``chromium`` and ``chromium-driver`` packages, or the paths in
  ``ALLIANCEKIT_TEST_CHROMIUM`` and ``ALLIANCEKIT_TEST_CHROMEDRIVER``. Selenium is given both paths, so it
  never looks for or downloads a browser or driver.
- axe-core: ``npm install --prefix .cache/npm axe-core`` in the source tree, or the ``axe.min.js`` named by
  ``ALLIANCEKIT_TEST_AXE``.
- LHC-Forms (the SDC renderer, published on the npm registry as ``lforms``): ``npm install --prefix
  .cache/npm lforms``, or the built ``dist/lforms`` folder named by ``ALLIANCEKIT_TEST_LFORMS``.

Without them the tests skip with the reason, except under ``CI=true``, where that is a failure. The browser
resolves no host names but localhost: a page that tries to fetch anything from elsewhere gets nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
AXE_DEFAULT = REPOSITORY / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
LFORMS_DEFAULT = REPOSITORY / ".cache" / "npm" / "node_modules" / "lforms" / "dist" / "lforms"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

#: axe-core impacts that fail a page.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def unavailable(reason: str) -> None:
    """Skip a browser test outside CI (with how to get the tool); fail it under ``CI=true``."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the browser tests must run)", pytrace=False)
    pytest.skip(f"{reason}; .ci/run installs it")


def _executable(variable: str, names: tuple[str, ...]) -> str | None:
    configured = os.environ.get(variable)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return next((found for name in names if (found := shutil.which(name))), None)


def find_chromium() -> tuple[str, str]:
    """The Chromium binary and its chromedriver, or the test is skipped (failed in CI)."""
    chromium = _executable("ALLIANCEKIT_TEST_CHROMIUM", CHROMIUM_NAMES)
    driver = _executable("ALLIANCEKIT_TEST_CHROMEDRIVER", ("chromedriver",))
    if chromium is None or driver is None:
        unavailable("Chromium and chromedriver not found (Debian: apt-get install chromium chromium-driver)")
    assert chromium is not None  # for the type checker: unavailable() raised otherwise
    assert driver is not None
    return chromium, driver


def find_axe() -> str:
    """The axe-core script, or the test is skipped (failed in CI)."""
    path = Path(os.environ.get("ALLIANCEKIT_TEST_AXE", AXE_DEFAULT))
    if not path.is_file():
        unavailable(f"axe-core not found at {path} (npm install --prefix .cache/npm axe-core)")
    return path.read_text(encoding="utf-8")


def find_lforms() -> Path:
    """The built LHC-Forms files (``webcomponent/`` and ``fhir/``), or the test is skipped (failed in CI)."""
    path = Path(os.environ.get("ALLIANCEKIT_TEST_LFORMS", LFORMS_DEFAULT))
    if not (path / "webcomponent" / "lhc-forms.js").is_file():
        unavailable(f"LHC-Forms not found at {path} (npm install --prefix .cache/npm lforms)")
    return path


# Measured in the page: effective text size is the computed font size times the zoom of its SVG (a chart
# scaled down to a phone shrinks its text) times the visual viewport's zoom (a page laid out wider than the
# screen is shown shrunk). Text in <title>/<desc> (tooltips), scripts and hidden elements is not shown.
_SMALL_TEXT_JS = """
const minimum = arguments[0];
const zoom = window.visualViewport ? window.visualViewport.scale : 1;
const small = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walker.nextNode()) {
  const node = walker.currentNode;
  const text = node.textContent.trim();
  const el = node.parentElement;
  if (!text || !el || el.closest('script,style,title,desc')) continue;
  const box = el.getBoundingClientRect();
  if (box.width === 0 && box.height === 0) continue;
  let size = parseFloat(getComputedStyle(el).fontSize) * zoom;
  if (el instanceof SVGElement) {
    const m = el.getScreenCTM();
    size *= Math.hypot(m.a, m.b);
  }
  if (size < minimum) small.push([el.tagName, text.slice(0, 40), Math.round(size * 10) / 10]);
}
return small;
"""

_AXE_RUN_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                          targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
  .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), targets: []}]));
"""


class Browser:
    """One headless Chromium; :meth:`open` loads a page at a given screen width."""

    def __init__(self, chromium: str, chromedriver: str) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for argument in (
            "--headless=new",
            "--no-sandbox",  # containers without user namespaces
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost",
        ):
            options.add_argument(argument)
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
        self.driver.set_script_timeout(120)

    def close(self) -> None:
        self.driver.quit()

    def open(self, url: str, width: int, height: int = 900) -> None:
        """Load ``url`` on a screen ``width`` CSS pixels wide: a phone (touch, honouring the viewport meta
        tag, 2 device pixels per CSS pixel) below 600, a desktop window above."""
        phone = width < 600
        self.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 2 if phone else 1, "mobile": phone},
        )
        self.driver.get(url)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def open_all_details(self) -> None:
        """Expand every ``<details>``, so what it holds is measured and checked too."""
        self.script("document.querySelectorAll('details').forEach(d => { d.open = true; });")

    def layout(self) -> Mapping[str, float]:
        """The layout viewport's width, the page's scroll width and the visual viewport's zoom."""
        result: Mapping[str, float] = self.script(
            "return {innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,"
            " zoom: window.visualViewport.scale};"
        )
        return result

    def small_text(self, minimum_px: float) -> list[list[Any]]:
        """Shown text rendered smaller than ``minimum_px`` CSS pixels: (tag, text, size) each."""
        found: list[list[Any]] = self.script(_SMALL_TEXT_JS, minimum_px)
        return found

    def axe_violations(self, axe_source: str) -> list[dict[str, Any]]:
        """Every axe-core violation on the page (all the rules axe runs by default); ``axe_source`` is the
        script (the ``axe_source`` fixture)."""
        if not self.script("return typeof window.axe !== 'undefined';"):
            self.script(axe_source)
        found: list[dict[str, Any]] = self.driver.execute_async_script(_AXE_RUN_JS)
        return found


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The violations of serious or critical impact."""
    return [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
