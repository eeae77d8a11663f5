"""Every resource the demo practice exports is valid under HL7's R4 schema and parses with fhir.resources."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from alliancekit import Practice
from alliancekit.domain import Actor
from alliancekit.errors import ValidationError
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.validate import R4Schema, packaged_schema_path
from alliancekit.testing.fhir import references

from .conftest import (
    CONSENT_CHANGES,
    DATA,
    PARTICIPANT_CONSENT_CHANGES,
    consent_changes,
    participant_consent_changes,
)


def _parse(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_packaged_schema_is_the_test_data_copy() -> None:
    test_copy = hashlib.sha256((DATA / "fhir.r4.schema.json").read_bytes()).hexdigest()
    shipped = hashlib.sha256(packaged_schema_path().read_bytes()).hexdigest()
    assert test_copy == shipped


def test_schema_catches_a_misspelt_field_with_its_path(r4_schema: R4Schema) -> None:
    bad = {"resourceType": "Goal", "id": "g", "lifecycleStatus": "active", "subject": {}, "descripton": {}}
    errors = r4_schema.check(bad)
    assert errors, "the schema must refuse unknown fields and missing required ones"
    assert all(e.resource == "Goal/g" for e in errors)
    wrong_code = {**bad, "descripton": None}
    del wrong_code["descripton"]
    wrong_code.update(description={"text": "x"}, lifecycleStatus="finished")
    assert [e.path for e in r4_schema.check(wrong_code)] == ["$.lifecycleStatus"]


@pytest.mark.parametrize("bundle_type", ["collection", "batch", "transaction"])
def test_every_episode_bundle_is_valid_resource_by_resource(
    demo: Practice, exporter_actor: Actor, bundle_type: str
) -> None:
    r4_schema = R4Schema(DATA / "fhir.r4.schema.json")  # its own, to see which validators it compiles
    types: set[str] = set()
    count = 0
    for episode_id in demo.store.episode_ids():
        bundle = episode_bundle(demo, exporter_actor, episode_id, bundle_type=bundle_type)
        assert [str(e) for e in r4_schema.errors(bundle)] == []
        _parse(bundle)  # fhir.resources parses the Bundle and every entry with its own model
        full_urls = {entry["fullUrl"] for entry in bundle["entry"]}
        if bundle_type == "transaction":  # relative references, to the entries' own ids
            full_urls = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            types.add(resource["resourceType"])
            _parse(resource)
            count += 1
            # every reference to another exported resource resolves inside the Bundle
            # (parties are logical references by identifier, so they have no "reference")
            contained = {f"#{c['id']}" for c in resource.get("contained", ())}
            for ref in references(resource):
                assert ref in full_urls or ref in contained, ref
    assert count > 1000
    # the fast check passes every valid resource: none needed jsonschema's validator, compiled for errors
    assert r4_schema._validators == {}
    assert {
        "EpisodeOfCare",
        "Encounter",
        "Goal",
        "Questionnaire",
        "QuestionnaireResponse",
        "Observation",
        "CarePlan",
        "Provenance",
    } <= types


def test_bulk_ndjson_is_valid_line_by_line(
    demo: Practice, exporter_actor: Actor, r4_schema: R4Schema, tmp_path: Path
) -> None:
    result = export_ndjson(demo, exporter_actor, tmp_path / "bulk")
    manifest = json.loads((tmp_path / "bulk" / "manifest.json").read_text())
    assert manifest == result.manifest
    seen = 0
    ids: dict[str, set[str]] = {}
    for output in manifest["output"]:
        lines = (tmp_path / "bulk" / output["url"].rsplit("/", 1)[1]).read_text(encoding="utf-8").splitlines()
        assert len(lines) == output["count"]
        for line in lines:
            resource = json.loads(line)
            assert resource["resourceType"] == output["type"]
            assert [str(e) for e in r4_schema.errors(resource)] == []
            _parse(resource)
            ids.setdefault(output["type"], set()).add(resource["id"])
            seen += 1
    assert seen == result.resources
    assert result.episodes == 32  # 24 clients seen alone, two couples, two families, a group of four
    assert manifest["error"] == []
    # relative references point at resources of the export (Bulk Data: Type/id)
    for output in manifest["output"]:
        for line in (
            (tmp_path / "bulk" / output["url"].rsplit("/", 1)[1]).read_text(encoding="utf-8").splitlines()
        ):
            resource = json.loads(line)
            contained = {f"#{c['id']}" for c in resource.get("contained", ())}
            for ref in references(resource):
                if ref in contained:
                    continue
                rtype, rid = ref.split("/")[:2]
                assert rid in ids[rtype], ref
    # each measure's Questionnaire once, however many episodes used it
    assert len(ids["Questionnaire"]) == next(
        o["count"] for o in manifest["output"] if o["type"] == "Questionnaire"
    )


def _consents_in_every_form(
    practice: Practice, actor: Actor, ep: str, r4_schema: R4Schema, tmp_path: Path
) -> tuple[list[list[dict[str, Any]]], Any]:
    """The episode exported as each Bundle type and as NDJSON, every Bundle and resource checked valid under
    the schema and parsed by fhir.resources: the Consents of each form, and the bulk export's result."""
    with practice:
        bundles = [
            episode_bundle(practice, actor, ep, bundle_type=kind)
            for kind in ("collection", "batch", "transaction")
        ]
        result = export_ndjson(practice, actor, tmp_path / "bulk")
    for bundle in bundles:
        assert [str(e) for e in r4_schema.errors(bundle)] == []
    lines = [
        json.loads(line)
        for output in result.manifest["output"]
        for line in (tmp_path / "bulk" / output["url"].rsplit("/", 1)[1]).read_text("utf-8").splitlines()
    ]
    found = []
    for resources in [[e["resource"] for e in b["entry"]] for b in bundles] + [lines]:
        for resource in resources:
            assert [str(e) for e in r4_schema.errors(resource)] == []
            _parse(resource)
        found.append([r for r in resources if r["resourceType"] == "Consent"])
    return found, result


def test_each_change_of_consent_is_a_valid_consent_in_every_form(
    exporter_actor: Actor, r4_schema: R4Schema, tmp_path: Path
) -> None:
    """The demo changes no one's consent: an episode that does, exported as each Bundle type and as NDJSON,
    every resource valid under the schema and parsed by fhir.resources; one Consent per change."""
    practice, _, ep = consent_changes(tmp_path / "p.sqlite")
    consents_by_form, result = _consents_in_every_form(practice, exporter_actor, ep, r4_schema, tmp_path)
    for consents in consents_by_form:
        assert [(c["dateTime"], c["provision"]["type"] == "permit") for c in consents] == list(
            CONSENT_CHANGES
        )
        assert [c["status"] for c in consents] == ["inactive", "inactive", "active"]
    assert {o["type"]: o["count"] for o in result.manifest["output"]}["Consent"] == len(CONSENT_CHANGES)


def test_a_participants_change_of_consent_is_a_valid_consent_in_every_form(
    exporter_actor: Actor, r4_schema: R4Schema, tmp_path: Path
) -> None:
    """A partner's changes interleaved with the client's: every resource valid and parsed, one Consent per
    change, each person's changes chained on their own (the partner's first one inactive, the client's
    and the partner's last one active)."""
    practice, _, ep = participant_consent_changes(tmp_path / "p.sqlite")
    consents_by_form, _ = _consents_in_every_form(practice, exporter_actor, ep, r4_schema, tmp_path)
    for consents in consents_by_form:
        assert [(c["dateTime"], c["provision"]["type"] == "permit") for c in consents] == [
            (day, measures) for day, _, measures in PARTICIPANT_CONSENT_CHANGES
        ]
        assert [c["status"] for c in consents] == ["inactive", "active", "active"]


@pytest.mark.parametrize("text", ["root:x:0:0:root:/root:/bin/bash\n", "{}", "[]", '{"definitions": 5}', ""])
def test_a_file_that_is_not_the_fhir_schema_is_refused_by_field_and_rule(tmp_path: Path, text: str) -> None:
    path = tmp_path / "schema.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        R4Schema(path)
    assert (caught.value.field, caught.value.rule) == ("schema", "fhir-schema")
