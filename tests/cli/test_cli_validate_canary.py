"""``export fhir --validate`` names where a resource fails the schema and which rule, never the value:
jsonschema's own message quotes it, and an exported value may be a client's reference."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.fhir.validate import packaged_schema_path

CANARY = "client-CANARY-3141"
CLINICIAN = Actor("clin-a", Role.CLINICIAN, "north")


@pytest.fixture
def practice(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "p.sqlite"
    with open_practice(db) as p:
        episode = p.start_episode(
            CLINICIAN, client_ref=CANARY, clinician_id="clin-a", opened_on=date(2026, 3, 2)
        )
    return db, episode


def _schema(tmp_path: Path, value: dict[str, object]) -> Path:
    """The packaged schema with an identifier's value held to ``value``'s rule."""
    schema = json.loads(packaged_schema_path().read_text(encoding="utf-8"))
    schema["definitions"]["Identifier"]["properties"]["value"] = value
    path = tmp_path / "strict.schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("rule", "value"),
    [("enum", {"enum": ["someone-else"]}), ("maxLength", {"type": "string", "maxLength": 3})],
)
def test_a_schema_error_names_path_and_rule_and_never_the_value(
    practice: tuple[Path, str],
    tmp_path: Path,
    rule: str,
    value: dict[str, object],
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, episode = practice
    strict = _schema(tmp_path, value)
    out = tmp_path / "bundle.json"
    argv = ["export", "fhir", "--db", str(db), "--episode", episode, "--out", str(out), "--validate"]
    code = main([*argv, "--schema", str(strict)])
    captured = capsys.readouterr()
    assert code == 1
    assert CANARY in out.read_text(encoding="utf-8")  # the export itself carries it: the check is real
    invalid = [line for line in captured.err.splitlines() if line.startswith("invalid: ")]
    assert invalid
    assert all(re.search(rf"\.identifier(\[0\])?\.value: {rule}$", line) for line in invalid)
    assert CANARY not in captured.err + captured.out
    assert "schema error(s)" in captured.err


def test_with_the_packaged_schema_the_same_export_is_valid(
    practice: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, episode = practice
    out = tmp_path / "bundle.json"
    argv = ["export", "fhir", "--db", str(db), "--episode", episode, "--out", str(out), "--validate"]
    assert main(argv) == 0
    assert "invalid:" not in capsys.readouterr().err
