"""With ``--json``, a failing command prints a JSON error object on standard output as well as its stderr
line and exit code: for every command that takes ``--json``, enumerated from the parser.

Before it, a failing ``--json`` command printed nothing on standard output, so a script reading it got an
empty document rather than the failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliancekit.cli.main import main
from alliancekit.cli.reference import commands

from .test_cli_conventions import DB_COMMANDS, Store

#: A client reference as a host would pass it: never to be echoed in an error.
CLIENT_REF = "client-7f3e-canary"


def _json_commands() -> list[str]:
    return [c for c, p in commands().items() if any("--json" in a.option_strings for a in p._actions)]


def _error_object(out: str) -> dict[str, str]:
    lines = out.splitlines()
    assert len(lines) == 1, out  # one object, on its own line
    document = json.loads(lines[0])
    assert list(document) == ["error"]
    assert sorted(document["error"]) == ["kind", "message"]
    return document["error"]


def test_commands_with_json_are_found() -> None:
    assert {"caseload", "verify", "audit show", "measures list", "plugins", "import csv"} <= set(
        _json_commands()
    )


@pytest.mark.parametrize("command", _json_commands())
def test_a_usage_error_with_json_prints_a_json_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([*command.split(), "--json", "--no-such-option"])
    assert stopped.value.code == 2
    out, err = capsys.readouterr()
    error = _error_object(out)
    assert error["kind"] == "usage"  # a positional left out is found first where there is one
    # (or a required choice left out: outbox retry's ID or --all-dead)
    assert error["message"].startswith(
        ("unrecognized arguments:", "the following arguments are required:", "one of the arguments ")
    )
    assert err.endswith(f"error: {error['message']}\n")


@pytest.mark.parametrize("command", [c for c in _json_commands() if c in DB_COMMANDS])
def test_a_command_failing_on_its_store_with_json_prints_a_json_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every option given as a run would give it, the practice a directory: refused after parsing."""
    store = Store("sqlite", str(tmp_path), "0" * 32, lambda where: str(where))
    args = DB_COMMANDS[command].args(store, tmp_path)
    if command == "audit show":
        args = [*args, "--client", CLIENT_REF]
    code = main([*command.split(), "--db", str(tmp_path), *args, "--json"])
    out, err = capsys.readouterr()
    error = _error_object(out)
    assert code == 2
    assert error["kind"] in {"usage", "store", "refused", "error", "file"}
    assert err == f"alliancekit: error: {error['message']}\n"  # the stderr line's words, no more
    assert CLIENT_REF not in out + err


def test_a_library_refusal_with_json_is_named_by_its_kind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measures", "show", "no-such-measure", "--json"]) == 2
    out, err = capsys.readouterr()
    assert _error_object(out) == {"kind": "error", "message": "no measure with id no-such-measure"}
    assert err == "alliancekit: error: no measure with id no-such-measure\n"


def test_without_json_a_failure_prints_nothing_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["measures", "show", "no-such-measure"]) == 2
    out, _ = capsys.readouterr()
    assert out == ""
