"""The measure-plugin guide, followed as written: its pyproject, hook module and test files (with the K10's
names changed to a synthetic measure's, since the real K10 plugin is installed beside it) are built into a
wheel, installed, and used: the entry point registers the measure under its name, and the guide's contract
tests pass. tests/test_readme.py runs each block on its own; this runs them together, as a plugin."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alliancekit.measures.commands import checked_definition

GUIDE = "docs/guides/writing-a-measure-plugin.md"
PIP_OFFLINE = ("--quiet", "--no-deps", "--no-index", "--no-build-isolation")

#: A made-up measure (not any published instrument): 5 items of 0-4, total 0-20, a synthetic cutoff.
SYNTHETIC: dict[str, Any] = {
    "id": "swc",
    "version": "1.0",
    "title": "Synthetic Wellbeing Check (synthetic)",
    "kind": "symptom",
    "direction": "higher-is-worse",
    "licence": {
        "notice": "Synthetic, for tests; not a clinical instrument.",
        "item_text": False,
        "cite": {"ref": "s"},
    },
    "references": {"s": "Synthetic reference: every number here is made up."},
    "source": {"ref": "s", "detail": "5 items, each 0-4; total 0-20"},
    "items": [{"key": f"q{i}", "label": f"Item {i}", "min": 0, "max": 4, "step": 1} for i in range(1, 6)],
    "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
    "range": {"min": 0, "max": 20},
    "norms": [
        {
            "population": "adult",
            "default": True,
            "clinical_cutoff": {
                "value": 10,
                "clinical_if": "at-or-above",
                "cite": {"ref": "s", "detail": "synthetic cutoff", "status": "unconfirmed"},
            },
            "reliable_change": {"points": 4, "cite": {"ref": "s", "status": "unconfirmed"}},
        }
    ],
    "bands": {
        "cite": {"ref": "s"},
        "bands": [
            {"key": "low", "label": "Low", "min": 0, "max": 9},
            {"key": "high", "label": "High", "min": 10, "max": 20},
        ],
    },
    "examples": [
        {"answers": {f"q{i}": 0 for i in range(1, 6)}, "total": 0, "band": "low", "clinical": False},
        {"answers": {f"q{i}": 2 for i in range(1, 6)}, "total": 10, "band": "high", "clinical": True},
    ],
}


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, re.S | re.M)


def _the_block(text: str, language: str, holding: str) -> str:
    """The guide's one ``language`` block holding ``holding``, with the K10's names made the synthetic's."""
    found = [block for block in _blocks(text, language) if holding in block]
    assert len(found) == 1, f"{GUIDE} has {len(found)} {language} blocks holding {holding!r}"
    return found[0].replace("k10", "swc")


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def installed(source_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The guide's plugin built as a wheel and installed into a directory of its own; the environment to
    use it in (that directory on the path, only this entry-point plugin loaded)."""
    guide = (source_root / GUIDE).read_text(encoding="utf-8")
    root = tmp_path_factory.mktemp("guide-plugin")
    project = root / "alliancekit-measure-swc"
    pyproject = _the_block(guide, "toml", "[build-system]")
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    [package] = tomllib.loads(pyproject)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    (project / package).mkdir(parents=True)
    (project / package / "__init__.py").write_text(
        _the_block(guide, "python", "def alliancekit_register_measures"), encoding="utf-8"
    )
    (project / package / "swc-1.0.json").write_text(json.dumps(SYNTHETIC), encoding="utf-8")
    (project / "tests" / "test_swc.py").write_text(_the_block(guide, "python", "(MeasureContract)"))
    (project / "tests" / "test_swc_fhir.py").write_text(_the_block(guide, "python", "(FhirHookContract)"))
    built = _run(sys.executable, "-m", "pip", "wheel", *PIP_OFFLINE, "--wheel-dir", root / "dist", project)
    assert built.returncode == 0, built.stderr
    [wheel] = (root / "dist").glob("*.whl")
    site = root / "site"
    done = _run(sys.executable, "-m", "pip", "install", *PIP_OFFLINE, "--target", site, wheel)
    assert done.returncode == 0, done.stderr
    env = dict(os.environ, ALLIANCEKIT_PLUGINS="swc", PYTHONPATH=os.pathsep.join([str(site), *sys.path]))
    env.pop("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", None)
    return project, env


def test_the_installed_plugin_registers_its_measure_under_its_entry_point_name(
    installed: tuple[Path, dict[str, str]],
) -> None:
    _, env = installed
    listed = _run(sys.executable, "-m", "alliancekit", "measures", "list", env=env)
    assert listed.returncode == 0, listed.stderr
    # the supplier, in brackets, is the entry point's name
    assert re.search(
        r"^swc +1\.0 +symptom +Synthetic Wellbeing Check \(synthetic\) +\(swc\)$", listed.stdout, re.M
    )


def test_the_guides_tests_pass_against_the_installed_plugin(installed: tuple[Path, dict[str, str]]) -> None:
    project, env = installed
    ran = _run(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", project / "tests", env=env)
    assert ran.returncode == 0, ran.stdout[-3000:]
    summary = ran.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in [\d.]+s", summary), summary  # nothing skipped, nothing failed


def _json_examples(guide: str) -> list[tuple[int, Any]]:
    """Every ``json`` block of the guide (indented ones under a definition list too), parsed; a fragment such
    as ``"stem": "..."`` is read as the object it is a member of."""
    found = []
    for match in re.finditer(r"^( *)```json\n(.*?)^\1```$", guide, re.S | re.M):
        block = match[2]
        try:
            parsed = json.loads(block)
        except json.JSONDecodeError:
            parsed = json.loads("{" + block + "}")
        found.append((guide.count("\n", 0, match.start()) + 1, parsed))
    return found


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def _defined(schema: Any) -> set[str]:
    """Every property name the meta-schema defines, at any depth."""
    if isinstance(schema, list):
        return set().union(*(_defined(v) for v in schema))
    if not isinstance(schema, dict):
        return set()
    named = set(schema["properties"]) if isinstance(schema.get("properties"), dict) else set()
    return named.union(
        *(_defined(v) for v in schema.get("properties", {}).values()),
        *(_defined(v) for k, v in schema.items() if k != "properties"),
    )


def _meta_schema() -> dict[str, Any]:
    text = (files("alliancekit") / "schemas" / "measure-definition.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def test_every_part_of_the_definition_format_has_a_json_example(source_root: Path) -> None:
    """A plugin author writes a definition from the guide's examples: the norms (cutoff, reliable change,
    samples), raters, subscales and a custom response schema had none (the K10's norms are empty), and the
    prose led to ``"reliability": 0.85`` where the format asks for ``{"value": 0.85, "cite": ...}``."""
    guide = (source_root / GUIDE).read_text(encoding="utf-8")
    shown = set().union(*(_keys(example) for _line, example in _json_examples(guide)))
    schema = _meta_schema()
    assert sorted(_defined(schema) - shown) == []


def test_every_json_example_of_a_definition_part_is_valid(source_root: Path) -> None:
    """Each example holding parts of a definition passes the meta-schema (its ``required`` aside, since an
    example shows a part, not a whole definition), so a reader copying one gets no schema error."""
    guide = (source_root / GUIDE).read_text(encoding="utf-8")
    schema = _meta_schema()
    parts = {**schema, "required": []}
    item = {**schema["$defs"]["item"], "$defs": schema["$defs"]}
    wrong = []
    for line, example in _json_examples(guide):
        if set(example) <= set(schema["properties"]):
            against = parts
        elif "key" in example:
            against = item
        else:
            continue  # a response, not a definition
        validator = jsonschema.Draft202012Validator(against)
        wrong += [f"{GUIDE}:{line}: {e.json_path}: {e.message}" for e in validator.iter_errors(example)]
    assert wrong == []


def test_the_guides_norms_raters_subscales_and_response_schema_register(source_root: Path) -> None:
    """Beyond the meta-schema, the registry's own rules (cutoff within the range and on the worse side,
    samples in order, a response schema that resolves and accepts the examples): the norms and raters on the
    K10 (a higher-is-worse 10-50 scale, as the example says), the subscales and response schema on the
    synthetic 0-4 measure."""
    guide = (source_root / GUIDE).read_text(encoding="utf-8")
    parts = {tuple(sorted(example)): example for _line, example in _json_examples(guide)}
    k10_file = source_root / "plugins/alliancekit-measure-k10/src/alliancekit_measure_k10/k10-1.0.json"
    k10 = json.loads(k10_file.read_text(encoding="utf-8"))
    k10["references"] |= {"validation": "Synthetic.", "manual": "Synthetic."}
    k10 |= parts[("norms",)] | parts[("raters",)]
    assert len(checked_definition(json.dumps(k10))[0].items) == 10
    subscales = next(e for _line, e in _json_examples(guide) if "subscales" in e.get("scoring", {}))
    synthetic = {**SYNTHETIC, **subscales, **parts[("response_schema",)]}
    synthetic["references"] = {**SYNTHETIC["references"], "manual": "Synthetic."}
    assert len(checked_definition(json.dumps(synthetic))[0].items) == 5
