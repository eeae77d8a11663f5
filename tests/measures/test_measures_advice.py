"""``alliancekit measures check`` advises on what a valid definition leaves out (worked examples, the default
population's reliable-change figure and clinical cutoff, confirmed citations): warnings, which fail the check
only with ``--strict``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.main import main
from alliancekit.measures.commands import check_definition, checked_definition

Definition = Callable[..., dict[str, Any]]


def _without_cutoff(document: dict[str, Any]) -> None:
    """The examples' clinical flags go with the cutoff they were scored against."""
    for example in document.get("examples", []):
        example.pop("clinical", None)


def _advice(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [(item.field, item.rule) for item in checked_definition(json.dumps(document))[1]]


@pytest.mark.parametrize("name", ["phq-9-1.0", "gad-7-1.2", "srs-1.0"])
def test_a_complete_definition_gets_no_advice(definition: Definition, name: str) -> None:
    assert _advice(definition(name)) == []


def test_no_worked_example(definition: Definition) -> None:
    document = definition()
    del document["examples"]
    assert _advice(document) == [("$.examples", "worked-example")]


def test_an_outcome_measure_without_norms_misses_reliable_change_and_cutoff(definition: Definition) -> None:
    document = definition()
    document["norms"] = []
    _without_cutoff(document)
    assert _advice(document) == [("$.norms", "reliable-change"), ("$.norms", "clinical-cutoff")]


def test_reliable_change_from_reliability_and_a_clinical_sample_is_enough(definition: Definition) -> None:
    document = definition()
    norm = document["norms"][0]
    del norm["reliable_change"]
    cite = norm["clinical_cutoff"]["cite"]
    norm["reliability"] = {"value": 0.84, "cite": cite}
    assert _advice(document) == [("$.norms", "reliable-change")]  # a reliability without a sample's SD
    norm["clinical_sample"] = {"mean": 15.0, "sd": 5.0, "cite": cite}
    assert _advice(document) == []


def test_an_alliance_measure_needs_a_cutoff_only(definition: Definition) -> None:
    document = definition("srs-1.0")
    assert "reliable_change" not in document["norms"][0]
    assert _advice(document) == []
    del document["norms"][0]["clinical_cutoff"]
    _without_cutoff(document)
    assert _advice(document) == [("$.norms", "clinical-cutoff")]


def test_every_unconfirmed_citation_is_named_by_its_path(definition: Definition) -> None:
    document = definition()
    document["norms"][0]["clinical_cutoff"]["cite"]["status"] = "unconfirmed"
    document["source"]["status"] = "unconfirmed"
    assert _advice(document) == [
        ("$.source", "unconfirmed"),
        ("$.norms[0].clinical_cutoff.cite", "unconfirmed"),
    ]
    document["source"]["status"] = "confirmed"
    assert _advice(document) == [("$.norms[0].clinical_cutoff.cite", "unconfirmed")]


def test_strict_fails_on_advice_only(definition: Definition) -> None:
    complete = json.dumps(definition())
    assert check_definition(complete, strict=True) == (0, "ok: phq-9 1.0 (9 items, 4 examples)", ())
    document = definition()
    document["examples"] = document["examples"][:1]
    document["norms"] = []
    _without_cutoff(document)
    code, text, advice = check_definition(json.dumps(document))
    assert (code, text, len(advice)) == (0, "ok: phq-9 1.0 (9 items, 1 example)", 2)
    assert check_definition(json.dumps(document), strict=True)[0] == 1


def _cli(
    tmp_path: Path, document: dict[str, Any], *args: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    code = main(["measures", "check", str(path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_warnings_go_to_stderr_and_strict_sets_the_exit_code(
    tmp_path: Path, definition: Definition, capsys: pytest.CaptureFixture[str]
) -> None:
    document = definition()
    del document["examples"]
    code, out, err = _cli(tmp_path, document, capsys=capsys)
    assert (code, out) == (0, "ok: phq-9 1.0 (9 items, 0 examples)\n")
    assert err.startswith("warning: $.examples: worked-example: ")
    assert err.count("\n") == 1
    code, out, err2 = _cli(tmp_path, document, "--strict", capsys=capsys)
    assert (code, out, err2) == (1, "ok: phq-9 1.0 (9 items, 0 examples)\n", err)


def test_cli_json_lists_the_warnings(
    tmp_path: Path, definition: Definition, capsys: pytest.CaptureFixture[str]
) -> None:
    document = definition()
    del document["examples"]
    code, out, _ = _cli(tmp_path, document, "--json", capsys=capsys)
    report = json.loads(out)
    assert (code, report["ok"]) == (0, True)
    assert [(w["field"], w["rule"]) for w in report["warnings"]] == [("$.examples", "worked-example")]
    code, out, _ = _cli(tmp_path, document, "--json", "--strict", capsys=capsys)
    assert (code, json.loads(out)["ok"]) == (1, False)
    code, out, err = _cli(tmp_path, definition(), "--json", "--strict", capsys=capsys)
    assert (code, json.loads(out)["warnings"], err) == (0, [], "")
