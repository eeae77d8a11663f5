"""The example plugin builds and installs from its folder into a fresh location and is registered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alliancekit.measures.commands import check_definition

PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "alliancekit-measure-k10"

PROBE = """
import json
from importlib.metadata import distribution, entry_points
from alliancekit.testing.measures import measure_registry

(ep,) = [ep for ep in entry_points(group="alliancekit") if ep.name == "k10"]
plugin = ep.load()
registry = measure_registry(plugin)
score = registry.score("k10", "1.0", {f"q{i}": 2 for i in range(1, 11)})
print(json.dumps({
    "dist": ep.dist.name if ep.dist else None,
    "version": distribution("alliancekit-measure-k10").version,
    "registered": ("k10", "1.0") in registry,
    "supplier": registry.supplier("k10", "1.0"),
    "total": score.total,
    "band": score.band,
    "plugin_file": plugin.__file__,
}))
"""


def test_the_example_definition_passes_check() -> None:
    text = (PLUGIN / "src" / "alliancekit_measure_k10" / "k10-1.0.json").read_bytes()
    code, summary, _ = check_definition(text)
    assert (code, summary) == (0, "ok: k10 1.0 (10 items, 4 examples)")


@pytest.mark.slow
def test_plugin_builds_installs_and_registers(tmp_path: Path) -> None:
    target = tmp_path / "site"
    # a real build of the folder (hatchling, via pip) into an empty directory; --no-deps because alliancekit
    # itself is the one under test, already importable from this interpreter
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--disable-pip-version-check",
            "--target",
            str(target),
            str(PLUGIN),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    seen = json.loads(probe.stdout)
    assert seen["plugin_file"].startswith(str(target)), (
        "the installed copy, not the source folder, was loaded"
    )
    assert seen == seen | {
        "dist": "alliancekit-measure-k10",
        "version": "0.1.0",
        "registered": True,
        "supplier": "alliancekit_measure_k10",
        "total": 20,
        "band": "moderate",
    }
    # the installed plugin passes its own contract tests
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert tests.returncode == 0, tests.stdout[-2000:]
