"""``alliancekit measures validate`` lists every problem of a response in one run (text and ``--json``), each
by JSON path and rule, in a stable order, never the value; exit 1 as before, 0 for a valid response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliancekit.cli.main import main

CANARY = 918273645
WORD = "CANARY-word-5150"

#: ORS: ``individually`` above its range, ``socially`` a string, ``overall`` missing.
THREE = {"answers": {"socially": WORD, "individually": CANARY, "interpersonally": 5}}
THREE_FOUND = [
    ("$.answers.individually", "maximum"),
    ("$.answers.socially", "type"),
    ("$.answers", "required"),
]
TWO = {"answers": {"individually": CANARY, "interpersonally": -1, "socially": 5, "overall": 5}}
TWO_FOUND = [("$.answers.individually", "maximum"), ("$.answers.interpersonally", "minimum")]


def _write(tmp_path: Path, document: object) -> str:
    path = tmp_path / "response.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(("document", "found"), [(TWO, TWO_FOUND), (THREE, THREE_FOUND)])
def test_every_problem_is_a_line_of_its_own(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: object,
    found: list[tuple[str, str]],
) -> None:
    assert main(["measures", "validate", "ors", _write(tmp_path, document)]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert [tuple(line.removeprefix("error: ").split(" (")[0].split(": ")) for line in lines] == found
    assert out == ""
    assert str(CANARY) not in out + err
    assert WORD not in out + err


@pytest.mark.parametrize(("document", "found"), [(TWO, TWO_FOUND), (THREE, THREE_FOUND)])
def test_json_lists_every_problem(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    document: object,
    found: list[tuple[str, str]],
) -> None:
    name = _write(tmp_path, document)
    assert main(["measures", "validate", "ors", name]) == 1
    _, text_err = capsys.readouterr()
    assert main(["measures", "validate", "ors", name, "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["ok"] is False
    assert [(p["field"], p["rule"]) for p in report["problems"]] == found
    assert report["invalid"] == report["problems"][0]  # the one finding it always carried, first
    assert err == text_err == "".join(f"error: {p['message']}\n" for p in report["problems"])
    assert str(CANARY) not in out + err
    assert WORD not in out + err


def test_the_order_is_the_same_whatever_the_documents_key_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shuffled = {"answers": dict(reversed(list(THREE["answers"].items())))}
    assert main(["measures", "validate", "ors", _write(tmp_path, THREE), "--json"]) == 1
    first = capsys.readouterr().out
    assert main(["measures", "validate", "ors", _write(tmp_path, shuffled), "--json"]) == 1
    assert capsys.readouterr().out == first


def test_a_valid_response_and_an_unknown_measure_keep_their_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    valid = {"answers": {"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5}}
    assert main(["measures", "validate", "ors", _write(tmp_path, valid), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["score"]["total"] == 20
    assert main(["measures", "validate", "nope", _write(tmp_path, TWO)]) == 2
    assert str(CANARY) not in "".join(capsys.readouterr())


def test_check_json_lists_every_meta_schema_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliancekit.plugins.manager import get_plugin_host

    definition = json.loads(json.dumps(get_plugin_host().measures().get("gad-7").definition))
    definition["direction"] = WORD
    definition["items"][0]["min"] = WORD
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition), encoding="utf-8")
    assert main(["measures", "check", str(path), "--json"]) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    found = [(p["field"], p["rule"]) for p in report["problems"]]
    assert found == [("$.direction", "enum"), ("$.items[0].min", "type")]
    assert report["invalid"] == report["problems"][0]
    assert err == "".join(f"error: {p['message']}\n" for p in report["problems"])
    assert WORD not in out + err
