"""``import fhir`` reads its source within the bounds of all JSON from outside: a document nested too deep,
a string too long or a number too long is a row error naming the rule, never a crash, and nothing is
written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliancekit.imports.fhir_source import FhirSource
from alliancekit.plugins.manager import get_plugin_host

from .conftest import CLINIC, run, sessions

DEEP = "[" * 100_000 + "]" * 100_000


def _episode(**more: object) -> dict[str, object]:
    return {"resourceType": "EpisodeOfCare", "id": "e1", **more}


def _errors(path: Path) -> list[tuple[str, str]]:
    source = FhirSource(path, get_plugin_host().measures())
    assert list(source.units()) == []
    return [(e.field, e.rule) for e in source.errors]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (DEEP, "max-depth"),
        (json.dumps(_episode(text={"div": "x" * 100_000})), "max-length"),
        ('{"resourceType": "EpisodeOfCare", "id": "e1", "n": ' + "9" * 5000 + "}", "max-number"),
    ],
)
def test_an_ndjson_line_out_of_bounds_is_a_row_error(tmp_path: Path, line: str, rule: str) -> None:
    path = tmp_path / "EpisodeOfCare.ndjson"
    path.write_text(line + "\n", encoding="utf-8")
    assert _errors(path) == [("$", rule)]


def test_a_bundle_nested_too_deep_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text('{"resourceType": "Bundle", "entry": ' + DEEP + "}", encoding="utf-8")
    assert _errors(path) == [("$", "max-depth")]


def test_the_cli_names_the_bound_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "EpisodeOfCare.ndjson"
    source.write_text(DEEP + "\n", encoding="utf-8")
    db = tmp_path / "p.sqlite"
    code, _, err = run(capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(source))
    assert code == 1
    assert "error: row 1, $: max-depth" in err
    assert sessions(db) == {}
