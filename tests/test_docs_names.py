"""Meta-tests: the names the docs' prose gives a reader exist. The code blocks are run and type-checked by
``test_readme.py``; a name in running text (``alliancekit.notify.CHANNEL_TIMEOUT``, a Sphinx role's
target, ``practice.batch(size=...)``) is checked by nothing else, since the docs build does not resolve
cross-references strictly and renders a wrong one as plain text."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import alliancekit

#: A dotted name of the package or a first-party plugin, in backticks or as a Sphinx role's target
#: (``{class}`~alliancekit.errors.StoreBusy```, ``{meth}`Practice.back_up <alliancekit.Practice.back_up>```).
_DOTTED = re.compile(r"[`<~]((?:alliancekit|alliancekit_[a-z0-9]+)(?:\.[A-Za-z_]\w*)+)")
#: A call on the facade or a batch as the guides write it: ``practice.batch(size=500, on_commit=None)``.
_CALL = re.compile(r"`(practice|batch)\.([a-z_]\w*)(?:\(([^`()]*)\))?")
_KEYWORD = re.compile(r"(?:^|,\s*)([a-z_]\w*)=")


def _pages(root: Path) -> list[Path]:
    return [
        root / "README.md",
        *(p for p in sorted((root / "docs").rglob("*.md")) if "_build" not in p.parts),
    ]


def _resolve(dotted: str) -> Any:
    """The object ``dotted`` names (the longest importable module, then attributes), or raise."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attribute in parts[i:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(dotted)


def dotted_names_that_do_not_exist(text: str) -> set[str]:
    missing = set()
    for name in set(_DOTTED.findall(text)):
        try:
            _resolve(name)
        except (ImportError, AttributeError):
            missing.add(name)
    return missing


def facade_calls_that_do_not_fit(text: str) -> set[str]:
    """``practice.x`` / ``batch.x`` that is no method, or names a keyword the method does not take."""
    wrong = set()
    for owner, method, arguments in _CALL.findall(text):
        cls = alliancekit.Batch if owner == "batch" else alliancekit.Practice
        member = getattr(cls, method, None)
        if member is None:
            wrong.add(f"{owner}.{method}")
            continue
        if not arguments or not callable(member):
            continue
        parameters = inspect.signature(member).parameters
        wrong |= {f"{owner}.{method}({kw}=)" for kw in _KEYWORD.findall(arguments) if kw not in parameters}
    return wrong


def test_the_checks_catch_a_wrong_name() -> None:
    """The checks themselves: a misspelt module member, a method that is not there, a wrong keyword."""
    text = (
        "`alliancekit.notify.CHANNEL_TIMEOUTS`, {class}`~alliancekit.errors.StoreBusy`, "
        "`practice.dispatch_all()`, `practice.batch(size=5, on_commits=None)`, `practice.batch(size=5)`"
    )
    assert dotted_names_that_do_not_exist(text) == {"alliancekit.notify.CHANNEL_TIMEOUTS"}
    assert facade_calls_that_do_not_fit(text) == {"practice.dispatch_all", "practice.batch(on_commits=)"}


def test_every_dotted_name_in_the_docs_exists(source_root: Path) -> None:
    missing = {
        f"{page.relative_to(source_root)}: {name}"
        for page in _pages(source_root)
        for name in dotted_names_that_do_not_exist(page.read_text(encoding="utf-8"))
    }
    assert sorted(missing) == []


def test_every_facade_call_in_the_docs_fits_the_facade(source_root: Path) -> None:
    wrong = {
        f"{page.relative_to(source_root)}: {call}"
        for page in _pages(source_root)
        for call in facade_calls_that_do_not_fit(page.read_text(encoding="utf-8"))
    }
    assert sorted(wrong) == []
