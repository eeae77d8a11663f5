"""``-`` as a path to read, for every argument naming a file to read (enumerated from the parser): read from
standard input where the command can (a document read once: a measure response or definition,
``quality --exclusions``), else refused by the parser in one line naming the argument and why (exit 2).

Before, ``import csv -`` said ``-: no such file`` (or imported a file called ``-``), ``--key-file -`` said
``No such file or directory``: nothing said that standard input is not read there, or why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alliancekit.cli.common import is_subcommands, parser_actions
from alliancekit.cli.main import main
from alliancekit.cli.reference import commands

CLI = [sys.executable, "-m", "alliancekit"]

#: The metavars of the arguments naming a file to read.
INPUT_METAVARS = {"FILE", "SOURCE", "RESPONSE.json", "DEFINITION.json"}

#: The arguments that read standard input for ``-``.
READS_STDIN = {
    ("measures validate", "RESPONSE.json"),
    ("measures check", "DEFINITION.json"),
    ("quality", "--exclusions"),
}


def input_arguments() -> list[tuple[str, str, bool]]:
    """Every (command, argument, positional) naming a file to read."""
    found = []
    for command, parser in commands().items():
        for action in parser_actions(parser):
            if is_subcommands(action) or action.metavar not in INPUT_METAVARS:
                continue
            named = max(action.option_strings, key=len) if action.option_strings else str(action.metavar)
            found.append((command, named, not action.option_strings))
    return found


def refused() -> list[tuple[str, str, bool]]:
    return [(c, a, p) for c, a, p in input_arguments() if (c, a) not in READS_STDIN]


def test_the_arguments_reading_stdin_are_among_the_inputs() -> None:
    assert {(c, a) for c, a, _ in input_arguments()} >= READS_STDIN
    assert {("import csv", "SOURCE"), ("import fhir", "SOURCE"), ("import csv", "--mapping")} <= {
        (c, a) for c, a, _ in refused()
    }


@pytest.mark.parametrize(("command", "argument", "positional"), refused())
def test_a_dash_is_refused_naming_the_argument_and_why(
    capsys: pytest.CaptureFixture[str], command: str, argument: str, positional: bool
) -> None:
    argv = [*command.split(), "-"] if positional else [*command.split(), argument, "-"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    said = capsys.readouterr().err.splitlines()[-1]
    assert said.startswith(f"alliancekit {command}: error: argument {argument}: - (standard input) is not ")
    why = said.split("is not read here: ", 1)[1]
    assert why.endswith("; name a file (./- for a file called -)")
    assert len(why) > len("; name a file (./- for a file called -)") + 10  # a reason, not just a refusal


def test_import_csv_dash_says_an_import_reads_its_source_again(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "csv", "--mapping", "m.toml", "-"])
    said = capsys.readouterr().err
    assert "argument SOURCE: - (standard input) is not read here: a CSV source is read more than once" in said
    assert "resumed from its checkpoint by reading it again" in said


def test_a_file_called_dash_is_still_named_as_dot_slash_dash(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side: ``./-`` is a file, read as one (here, missing: said so, by the import itself)."""
    monkeypatch.chdir(tmp_path)
    mapping = Path(__file__).parents[2] / "examples" / "imports" / "openfit-style.toml"
    code = main(["import", "csv", "--db", str(tmp_path / "p.sqlite"), "--mapping", str(mapping), "./-"])
    assert code == 2
    assert capsys.readouterr().err == "alliancekit: error: ./-: no such file\n"


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("stdin") / "practice.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--today", "2026-01-31", "--quiet"]) == 0
    return db


def quality(practice: Path, stdin: str, exclusions: str = "-") -> subprocess.CompletedProcess[str]:
    argv = [*CLI, "quality", "--db", str(practice), "--today", "2026-01-31", "--json"]
    argv += ["--exclusions", exclusions]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=300, check=False)


def test_quality_reads_its_exclusions_from_stdin(practice: Path, tmp_path: Path) -> None:
    """``--exclusions -`` is read once from standard input, as the same document in a file is."""
    exclusions = tmp_path / "exclusions.json"
    exclusions.write_text("{}")
    from_file = quality(practice, "", str(exclusions))
    from_stdin = quality(practice, "{}")
    assert from_stdin.returncode == 0, from_stdin.stderr
    assert json.loads(from_stdin.stdout) == json.loads(from_file.stdout)


def test_quality_refuses_exclusions_on_stdin_that_are_not_json(practice: Path) -> None:
    done = quality(practice, "not json")
    assert done.returncode == 2
    assert done.stderr == "alliancekit: error: --exclusions -: not JSON within bounds (syntax)\n"
