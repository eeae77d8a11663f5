"""The fast check of the FHIR R4 schema (``fhir.schema_check``) says what jsonschema says of every resource
the export writes and of each of them spoiled element by element; the errors of a resource it refuses come
from jsonschema, named by path and JSON Schema keyword."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alliancekit import Practice
from alliancekit.domain import Actor
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.schema_check import FastChecks
from alliancekit.fhir.validate import R4Schema

from .conftest import DATA

#: Values of every JSON type, put in place of an element (a bool is not a number; " padded" is no code).
WRONG = [None, True, 7, 2.5, "", " padded", [None], {"x": 1}]


def _jsonschema_valid(schema: R4Schema, rtype: str, resource: Any) -> bool:
    validator = jsonschema.Draft6Validator(
        {"$ref": f"#/definitions/{rtype}", "definitions": schema.definitions}
    )
    return bool(validator.is_valid(resource))


def _spoiled(resource: Any, depth: int = 2) -> Iterator[Any]:
    """``resource`` with one element (down to ``depth`` levels) removed, or replaced by each of
    :data:`WRONG`."""
    if depth == 0:
        return
    if isinstance(resource, dict):
        for key, value in resource.items():
            if key != "resourceType":
                yield {k: v for k, v in resource.items() if k != key}
            for other in [*WRONG, *_spoiled(value, depth - 1)]:
                yield {**resource, key: other}
    elif isinstance(resource, list) and resource:
        for other in [*WRONG, *_spoiled(resource[0], depth - 1)]:
            yield [other, *resource[1:]]


@pytest.fixture
def one_of_each(demo: Practice, exporter_actor: Actor, tmp_path: Path) -> list[Any]:
    """The first exported resource of each type, and an EpisodeOfCare with a contained CareTeam."""
    folder = export_ndjson(demo, exporter_actor, tmp_path / "bulk").directory
    found = []
    for path in sorted(folder.glob("*.ndjson")):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        found.append(lines[0])
        found += [r for r in lines if r.get("contained")][:1]
    return found


def test_the_fast_check_says_what_jsonschema_says(r4_schema: R4Schema, one_of_each: list[Any]) -> None:
    fast = FastChecks(r4_schema.definitions)
    checked = 0
    for resource in one_of_each:
        rtype = resource["resourceType"]
        assert fast.valid(rtype, resource)
        for spoiled in _spoiled(resource):
            assert fast.valid(rtype, spoiled) == _jsonschema_valid(r4_schema, rtype, spoiled), spoiled
            checked += 1
    assert checked > 1500


def test_a_keyword_the_fast_check_does_not_know_is_left_to_jsonschema(tmp_path: Path) -> None:
    schema = json.loads((DATA / "fhir.r4.schema.json").read_text(encoding="utf-8"))
    schema["definitions"]["id"]["maxLength"] = 3
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    stricter = R4Schema(path)
    goal = {"resourceType": "Goal", "lifecycleStatus": "active", "description": {"text": "x"}, "subject": {}}
    assert stricter.check({**goal, "id": "g12"}) == []
    assert [(e.path, e.rule) for e in stricter.check({**goal, "id": "g123"})] == [("$.id", "maxLength")]


@pytest.mark.parametrize(
    ("change", "path", "rule"),
    [
        ({"lifecycleStatus": "paused"}, "$.lifecycleStatus", "enum"),
        ({"target": {"measure": {}}}, "$.target", "type"),
        ({"note": [{"text": 5}]}, "$.note[0].text", "type"),
        ({"startDate": "soon"}, "$.startDate", "pattern"),
        ({"descripton": {}}, "$.descripton", "additionalProperties"),
        ({"my field!": {}}, "$.?", "additionalProperties"),
        ({"subject": {"reference": 5}}, "$.subject.reference", "type"),
        ({"resourceType": "Gaol"}, "$.resourceType", "enum"),
    ],
)
def test_an_error_is_named_by_path_and_keyword(
    r4_schema: R4Schema, change: dict[str, Any], path: str, rule: str
) -> None:
    goal = {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "description": {}, "subject": {}}
    assert [(e.path, e.rule) for e in r4_schema.check({**goal, **change})] == [(path, rule)]


def test_each_missing_element_is_named_once(r4_schema: R4Schema) -> None:
    errors = r4_schema.check({"resourceType": "Goal", "id": "g"})
    assert sorted((e.path, e.rule) for e in errors) == [
        ("$.description", "required"),
        ("$.subject", "required"),
    ]


def test_a_contained_resource_is_checked_by_its_own_type(r4_schema: R4Schema) -> None:
    team = {"resourceType": "CareTeam", "id": "t", "status": "paused", "participant": [{"role": "x"}]}
    episode = {
        "resourceType": "EpisodeOfCare",
        "id": "e",
        "status": "active",
        "patient": {},
        "contained": [team],
    }
    assert sorted((e.path, e.rule) for e in r4_schema.check(episode)) == [
        ("$.contained[0].participant[0].role", "type"),
        ("$.contained[0].status", "enum"),
    ]
    unknown = {**episode, "contained": [{"resourceType": "Nothing"}]}
    assert [(e.path, e.rule) for e in r4_schema.check(unknown)] == [("$.contained[0].resourceType", "enum")]
