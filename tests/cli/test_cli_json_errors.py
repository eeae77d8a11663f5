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
    # they took none before: a script had to parse their lines
    assert {"report", "measures check", "measures validate"} <= set(_json_commands())


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


def _finding(out: str) -> dict[str, object]:
    document = json.loads(out)
    assert "error" not in document  # a finding is the command's result, not a failure to run
    assert document["ok"] is False
    return dict(document)


def test_an_invalid_definition_with_json_is_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    definition = tmp_path / "definition.json"
    definition.write_text('{"id": "mine", "version": "1.0"}')
    assert main(["measures", "check", str(definition)]) == 1
    _, text_err = capsys.readouterr()
    assert main(["measures", "check", str(definition), "--json"]) == 1
    out, err = capsys.readouterr()
    invalid = _finding(out)["invalid"]
    assert isinstance(invalid, dict)
    assert err == text_err == f"error: {invalid['message']}\n"  # the same line as without --json
    assert invalid["rule"] == "required"


def test_a_sound_definition_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from alliancekit.plugins.manager import get_plugin_host

    definition = tmp_path / "definition.json"
    gad7 = get_plugin_host().measures().get("gad-7")
    definition.write_text(json.dumps(gad7.definition))
    assert main(["measures", "check", str(definition), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    summary = {"id": "gad-7", "version": gad7.version, "items": 7, "examples": len(gad7.examples)}
    assert json.loads(out) == {"ok": True, "measure": summary, "warnings": []}


def test_an_invalid_response_with_json_is_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    response = tmp_path / "answers.json"
    response.write_text(
        '{"answers": {"individually": 11, "interpersonally": 5, "socially": 5, "overall": 5}}'
    )
    assert main(["measures", "validate", "ors", str(response), "--json"]) == 1
    out, err = capsys.readouterr()
    invalid = _finding(out)["invalid"]
    assert isinstance(invalid, dict)
    assert invalid["rule"] == "maximum"
    assert "11" not in out + err  # the value is never echoed
    assert err == f"error: {invalid['message']}\n"
    response.write_text('{"answers": {"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5}}')
    assert main(["measures", "validate", "ors", str(response), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["score"]["total"] == 20


def test_report_with_json_says_what_it_wrote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--quiet"]) == 0
    capsys.readouterr()
    out_dir = tmp_path / "report"
    assert main(["report", "--db", str(db), "--out", str(out_dir), "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out) == {"ok": True, "out": str(out_dir), "file": str(out_dir / "report.html")}
    assert (out_dir / "report.html").is_file()
    # with --out -, standard output is the report itself: refused, before anything is read
    assert main(["report", "--db", str(db), "--out", "-", "--json"]) == 2
    out, _ = capsys.readouterr()
    assert _error_object(out)["message"].startswith("--json: not with --out -")
