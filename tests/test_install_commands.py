"""Every ``pip install`` the README, the docs and the plugins' READMEs show works as written from the root of
a fresh clone: local paths exist and are projects, extras are declared, and nothing names a distribution
that is not on PyPI (alliancekit and its plugins are installed from the tree)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

#: Distributions the docs may install from PyPI by name (tools, not our own).
FROM_PYPI = {"tox", "pytest", "standardwebhooks"}
_PIP = re.compile(r"pip install ([^`\n]*)")
_EXTRAS = re.compile(r"^(.*?)(?:\[([\w,-]+)\])?$")


def _commands(root: Path) -> list[tuple[str, list[str]]]:
    pages = [
        root / "README.md",
        *sorted((root / "docs").rglob("*.md")),
        *sorted(root.glob("plugins/*/README.md")),
    ]
    found = []
    for page in pages:
        if "_build" in page.parts:
            continue
        for match in _PIP.finditer(page.read_text(encoding="utf-8")):
            words = []
            for word in shlex.split(match.group(1), comments=True):
                if word in ("&&", ";", "||"):
                    break
                words.append(word)
            found.append((f"{page.relative_to(root)}: pip install {match.group(1).strip()}", words))
    return found


def _targets(words: list[str]) -> list[str]:
    """What a ``pip install`` installs: its arguments but options (``-e`` and ``-q`` take no value here)."""
    return [w for w in words if not w.startswith("-")]


def test_the_docs_show_install_commands(source_root: Path) -> None:
    where = {command.split(":", 1)[0] for command, _ in _commands(source_root)}
    assert {
        "README.md",
        "docs/guides/deploying.md",
        "docs/guides/embedding.md",
        "docs/guides/scaling.md",
    } <= where


def test_every_install_command_works_from_a_clone(source_root: Path) -> None:
    problems = []
    for command, words in _commands(source_root):
        targets = _targets(words)
        if not targets:
            problems.append(f"{command}: installs nothing")
        for target in targets:
            path, extras = _EXTRAS.match(target).groups()  # type: ignore[union-attr]
            if not (path.startswith((".", "/")) or "/" in path):
                if path not in FROM_PYPI:
                    problems.append(f"{command}: {path} is not on PyPI; install it from the tree")
                continue
            project = source_root / path
            if not (project / "pyproject.toml").is_file():
                problems.append(f"{command}: {path} is not a project in the tree")
                continue
            declared = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
            for extra in (extras or "").split(","):
                if extra and extra not in declared.get("optional-dependencies", {}):
                    problems.append(f"{command}: {path} declares no extra {extra}")
            if path.strip("./").startswith("plugins/") and "." not in targets:
                problems.append(f"{command}: install the plugin with the library (`.`), which is not on PyPI")
    assert problems == []


@pytest.mark.parametrize(
    "plugin", ["alliancekit-measure-k10", "alliancekit-postgres", "alliancekit-smtp", "alliancekit-webhook"]
)
def test_each_plugin_in_the_tree_depends_on_the_library(source_root: Path, plugin: str) -> None:
    project = tomllib.loads((source_root / "plugins" / plugin / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(re.match(r"alliancekit\b", dep) for dep in project["project"]["dependencies"])
