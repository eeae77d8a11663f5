"""Every ``alliancekit`` command the README and the docs show is one the CLI takes.

A command line in a shell block (``$ alliancekit ...``) must parse as written (an optional part in a synopsis,
``[--dead]``, counts as given); a command named in running text (```alliancekit verify --db PATH```) must
exist, and so must every option it names. Renaming a command or an option without the docs fails here.
(``docs/reference/cli.md`` is generated from the parser and checked by ``test_cli_reference.py``.)
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from alliancekit.cli.main import build_parser
from alliancekit.cli.reference import commands

SHELLS = {"console", "bash", "sh", "shell", ""}
_PREFIX = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\S*/)?(?:\.venv/bin/)?(?=alliancekit )")
_MENTION = re.compile(r"`(?:\.venv/bin/)?alliancekit ([^`]+)`")


def _pages(root: Path) -> list[Path]:
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    return [p for p in pages if "_build" not in p.parts and p.name != "cli.md"]


def shell_commands(root: Path) -> list[tuple[str, str]]:
    """(page, command line) for each ``alliancekit`` invocation in a shell block, prompt and comment cut."""
    found = []
    for page in _pages(root):
        fence: str | None = None
        for line in page.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
            if line.startswith("```"):
                fence = line[3:].strip() if fence is None else None
                continue
            if fence not in SHELLS:
                continue
            for part in re.split(r"\s*(?:&&|\|\||;)\s*", line.strip().removeprefix("$ ")):
                command = _PREFIX.sub("", part)
                if command.startswith("alliancekit "):
                    found.append((page.name, re.split(r"\s+#", command)[0]))
    return found


def mentions(root: Path) -> list[tuple[str, str]]:
    """(page, words after ``alliancekit``) for each command named in running text."""
    return [
        (page.name, match.group(1))
        for page in _pages(root)
        for match in _MENTION.finditer(page.read_text(encoding="utf-8").replace("\n", " "))
    ]


def test_the_docs_show_commands(source_root: Path) -> None:
    # the extraction itself: a page's shell block and a mention in running text are both found
    assert ("README.md", "alliancekit demo --db demo.sqlite --out demo-out") in shell_commands(source_root)
    assert len(mentions(source_root)) > 20


def test_every_command_line_in_the_docs_parses(source_root: Path) -> None:
    refused = []
    for page, line in shell_commands(source_root):
        words = shlex.split(line.replace("[", " ").replace("]", " "))[1:]
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                build_parser().parse_args(words)
        except SystemExit as exc:
            if exc.code:
                refused.append(f"{page}: {line}: {err.getvalue().strip().splitlines()[-1]}")
    assert refused == []


def test_every_command_and_option_named_in_the_docs_exists(source_root: Path) -> None:
    parsers = commands()
    wrong = []
    for page, text in mentions(source_root):
        words = text.split()
        # "import csv|fhir" names two commands
        names = [" ".join(words[:n]) for n in (2, 1)]
        names = [alt for name in names for alt in _alternatives(name)]
        known = [name for name in names if name in parsers] or ([""] if words[0].startswith("-") else [])
        if not known:
            wrong.append(f"{page}: alliancekit {text}: no such command")
            continue
        for name in known:
            parser = parsers[name] if name else build_parser()
            options = {option for action in parser._actions for option in action.option_strings}
            for word in words:
                option = re.match(r"\[?(--?[a-z][a-z0-9-]*)", word)
                if option and option.group(1) not in options:
                    wrong.append(
                        f"{page}: alliancekit {text}: {name or 'alliancekit'} has no {option.group(1)}"
                    )
    assert wrong == []


def _alternatives(name: str) -> list[str]:
    head, _, last = name.rpartition(" ")
    return [f"{head} {alt}".strip() for alt in last.split("|")]


@pytest.mark.parametrize(
    ("line", "wrong"),
    [
        ("export fhir --al", "has no --al"),
        ("exports fhir", "no such command"),
        ("verify --clinik ID", "--clinik"),
    ],
)
def test_a_wrong_mention_is_caught(
    line: str, wrong: str, source_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(f"Run `alliancekit {line}` then.\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=re.escape(wrong)):
        test_every_command_and_option_named_in_the_docs_exists(tmp_path)


def test_a_wrong_command_line_is_caught(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "```console\n$ alliancekit verify --db x --nope\n```\n", encoding="utf-8"
    )
    with pytest.raises(AssertionError, match="unrecognized arguments: --nope"):
        test_every_command_line_in_the_docs_parses(tmp_path)
