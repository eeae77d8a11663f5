"""Meta-tests: the docs say what the code does, and every hook is documented and tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alliancekit.lifecycle.rules import transition_table_markdown
from alliancekit.plugins import hookspecs

HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("alliancekit_"))


def test_lifecycle_table_in_docs_matches_the_code(source_root: Path) -> None:
    page = (source_root / "docs" / "reference" / "lifecycle.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- transitions:start -->\n(.*?)<!-- transitions:end -->", page, re.S)
    assert match, "docs/reference/lifecycle.md lost its transitions markers"
    assert match.group(1) == transition_table_markdown(), (
        "the transition table in the docs is out of date: run `python -m alliancekit.lifecycle.rules` "
        "from the repository root"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_section_in_the_hook_reference(source_root: Path, hook: str) -> None:
    reference = (source_root / "docs" / "reference" / "hooks.md").read_text(encoding="utf-8")
    assert f"({hook})=" in reference, f"{hook} has no labelled section in docs/reference/hooks.md"
    assert f"alliancekit.plugins.hookspecs.{hook}" in reference


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test_of_its_own(source_root: Path, hook: str) -> None:
    """A hook is tested when some test under tests/ (other than this file) defines a test named after it."""
    pattern = re.compile(rf"def test_{hook}\w*\(")
    for path in (source_root / "tests").rglob("test_*.py"):
        if path.name != Path(__file__).name and pattern.search(path.read_text(encoding="utf-8")):
            return
    pytest.fail(f"no test function named test_{hook}... under tests/")


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_parameters_and_return(hook: str) -> None:
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert ":return:" in doc
    assert ":param" in doc or "no parameters" in doc.lower()
