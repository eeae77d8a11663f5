"""The CLI reference page is generated from the parser: every command and option is on it, and it is fresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliancekit.cli.reference import commands, documented_actions, markdown

PAGE = "docs/reference/cli.md"


def test_the_reference_page_is_the_parsers(source_root: Path) -> None:
    page = (source_root / PAGE).read_text(encoding="utf-8")
    assert page == markdown(), f"{PAGE} is stale: run python -m alliancekit.cli.reference {PAGE}"


def test_the_page_is_in_the_docs_toctree(source_root: Path) -> None:
    assert "reference/cli\n" in (source_root / "docs" / "index.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_command_and_option_is_documented(command: str) -> None:
    parser = commands()[command]
    page = markdown()
    assert parser.description, f"alliancekit {command} has no description"
    section = page.split(f"### `alliancekit {command}`\n", 1)[1].split("\n### ", 1)[0]
    assert parser.description in section
    for action in documented_actions(parser):
        assert action.help, f"alliancekit {command}: {action.dest} has no help"
        name = action.option_strings[0] if action.option_strings else (action.metavar or action.dest)
        assert f"`{name}" in section, f"alliancekit {command}: {name} is not on the reference page"


@pytest.mark.parametrize("command", sorted(commands()))
def test_every_option_with_a_default_says_it(command: str) -> None:
    """What an option left out means is in its --help: a default a user cannot see is one they cannot
    count on (--seed's 7 and --format's csv were not said)."""
    for action in documented_actions(commands()[command]):
        if action.nargs == 0 or action.default is None:
            continue
        shown = (action.help or "") % {"default": action.default}
        assert "default" in shown, (command, action.dest)
        assert str(action.default) in shown, (command, action.dest, action.default)


def test_the_generator_writes_the_page(tmp_path: Path) -> None:
    from alliancekit.cli.reference import main

    assert main([str(tmp_path / "cli.md")]) == 0
    assert (tmp_path / "cli.md").read_text(encoding="utf-8") == markdown()
    assert main([]) == 2
