"""Every Reference the export writes points at a resource type R4 allows there.

The R4 JSON schema does not check a reference's target type (a Reference is the same object everywhere), so
`--validate` passes a wrong one: the score Observations of another participant once had a RelatedPerson as
`subject`, which R4 allows only for a Patient, Group, Device or Location. The targets below are R4's
(hl7.org/fhir/R4, each resource's element table), for every element the export writes a Reference in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.codes import EXT_CONSENT_ABOUT, WORKFLOW_EPISODE_OF_CARE

from .conftest import consent_changes, participant_consent_changes

ANY = None
#: (resource type, element path) -> the types R4 allows there (``ANY``: Reference(Any)).
TARGETS: dict[tuple[str, str], frozenset[str] | None] = {
    ("EpisodeOfCare", "patient"): frozenset({"Patient"}),
    ("EpisodeOfCare", "managingOrganization"): frozenset({"Organization"}),
    ("EpisodeOfCare", "careManager"): frozenset({"Practitioner", "PractitionerRole"}),
    ("EpisodeOfCare", "team"): frozenset({"CareTeam"}),
    ("CareTeam", "subject"): frozenset({"Patient", "Group"}),
    ("CareTeam", "participant.member"): frozenset(
        {"Practitioner", "PractitionerRole", "RelatedPerson", "Patient", "Organization", "CareTeam"}
    ),
    ("Encounter", "subject"): frozenset({"Patient", "Group"}),
    ("Encounter", "episodeOfCare"): frozenset({"EpisodeOfCare"}),
    ("Encounter", "participant.individual"): frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"}),
    ("Encounter", "serviceProvider"): frozenset({"Organization"}),
    ("QuestionnaireResponse", "subject"): ANY,
    ("QuestionnaireResponse", "encounter"): frozenset({"Encounter"}),
    ("QuestionnaireResponse", "author"): frozenset(
        {"Device", "Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Organization"}
    ),
    ("QuestionnaireResponse", "source"): frozenset(
        {"Patient", "Practitioner", "PractitionerRole", "RelatedPerson"}
    ),
    ("Observation", "subject"): frozenset({"Patient", "Group", "Device", "Location"}),
    ("Observation", "focus"): ANY,
    ("Observation", "encounter"): frozenset({"Encounter"}),
    ("Observation", "performer"): frozenset(
        {"Practitioner", "PractitionerRole", "Organization", "CareTeam", "Patient", "RelatedPerson"}
    ),
    ("Observation", "derivedFrom"): frozenset(
        {
            "DocumentReference",
            "ImagingStudy",
            "Media",
            "QuestionnaireResponse",
            "Observation",
            "MolecularSequence",
        }
    ),
    ("Observation", "hasMember"): frozenset({"Observation", "QuestionnaireResponse", "MolecularSequence"}),
    ("Goal", "subject"): frozenset({"Patient", "Group", "Organization"}),
    ("Flag", "subject"): frozenset(
        {
            "Patient",
            "Location",
            "Group",
            "Organization",
            "Practitioner",
            "PlanDefinition",
            "Medication",
            "Procedure",
        }
    ),
    ("Flag", "encounter"): frozenset({"Encounter"}),
    ("Flag", "author"): frozenset({"Device", "Organization", "Patient", "Practitioner", "PractitionerRole"}),
    ("CarePlan", "subject"): frozenset({"Patient", "Group"}),
    ("CarePlan", "author"): frozenset(
        {"Patient", "Practitioner", "PractitionerRole", "Device", "RelatedPerson", "Organization", "CareTeam"}
    ),
    ("CarePlan", "supportingInfo"): ANY,
    ("CarePlan", "goal"): frozenset({"Goal"}),
    ("Consent", "patient"): frozenset({"Patient"}),
    ("Consent", "performer"): frozenset(
        {"Organization", "Patient", "Practitioner", "RelatedPerson", "PractitionerRole"}
    ),
    ("Consent", "provision.data.reference"): ANY,
    ("Provenance", "target"): ANY,
    ("Provenance", "agent.who"): frozenset(
        {"Practitioner", "PractitionerRole", "RelatedPerson", "Patient", "Device", "Organization"}
    ),
}
#: HL7's workflow-episodeOfCare extension: Reference(EpisodeOfCare).
EXTENSION_TARGETS = {
    WORKFLOW_EPISODE_OF_CARE: frozenset({"EpisodeOfCare"}),
    EXT_CONSENT_ABOUT: frozenset({"RelatedPerson"}),  # ours: whose consent, when not the Patient's
}


def _references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each Reference under ``node`` outside extensions (the path from the resource, without indexes)."""
    if isinstance(node, list):
        for item in node:
            yield from _references(item, path)
    elif isinstance(node, dict):
        logical = isinstance(node.get("identifier"), dict) and isinstance(node.get("type"), str)
        if isinstance(node.get("reference"), str) or logical:
            yield path, node
            return
        for key, value in node.items():
            if key not in ("extension", "contained"):
                yield from _references(value, f"{path}.{key}" if path else key)


def _target(reference: dict[str, Any], contained: dict[str, str]) -> str:
    ref = reference.get("reference")
    if isinstance(ref, str):
        return contained[ref] if ref.startswith("#") else ref.split("/")[0]
    return str(reference["type"])


@pytest.fixture(scope="module")
def exported(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("reference-types") / "export"
    with open_practice(demo_db) as practice:
        export_ndjson(
            practice, Actor("exporter", Role.SUPERVISOR, "demo-clinic"), folder, purpose="treatment"
        )
    return [
        json.loads(line) for path in sorted(folder.glob("*.ndjson")) for line in path.read_text().splitlines()
    ]


def _wrong_targets(exported: list[dict[str, Any]], checked: set[tuple[str, str]]) -> list[str]:
    """Each reference of ``exported`` to a type R4 does not allow there (``checked``: what was seen)."""
    wrong = []
    for resource in exported:
        contained = {f"#{c['id']}": c["resourceType"] for c in resource.get("contained", [])}
        for part in [resource, *resource.get("contained", [])]:
            kind = part["resourceType"]
            for path, reference in _references(part, ""):
                assert (kind, path) in TARGETS, f"{kind}.{path}: a Reference this test does not know"
                checked.add((kind, path))
                allowed, found = TARGETS[kind, path], _target(reference, contained)
                if allowed is not ANY and found not in allowed:
                    wrong.append(f"{kind}.{path} -> {found}")
            for extension in part.get("extension", []):
                if extension["url"] in EXTENSION_TARGETS:
                    found = _target(extension["valueReference"], contained)
                    if found not in EXTENSION_TARGETS[extension["url"]]:
                        wrong.append(f"{kind}.extension[{extension['url']}] -> {found}")
    return sorted(set(wrong))


def test_every_reference_names_a_type_r4_allows_there(exported: list[dict[str, Any]]) -> None:
    checked: set[tuple[str, str]] = set()
    assert _wrong_targets(exported, checked) == []
    # the demo exercises the elements that matter: a partner's scores, a parent's rating, reviews, plans
    assert {("Observation", "focus"), ("Observation", "performer"), ("Observation", "hasMember")} <= checked
    assert {("CareTeam", "participant.member"), ("CarePlan", "goal"), ("Provenance", "agent.who")} <= checked


def test_a_consents_references_name_types_r4_allows_there(tmp_path: Path) -> None:
    """The demo changes no one's consent: the Consents of an episode that does."""
    practice, _, _ = consent_changes(tmp_path / "p.sqlite")
    with practice:
        export_ndjson(practice, Actor("exporter", Role.SUPERVISOR, "demo-clinic"), tmp_path / "out")
    consents = [json.loads(line) for line in (tmp_path / "out" / "Consent.ndjson").read_text().splitlines()]
    checked: set[tuple[str, str]] = set()
    assert _wrong_targets(consents, checked) == []
    assert checked == {
        ("Consent", "patient"),
        ("Consent", "performer"),
        ("Consent", "provision.data.reference"),
    }


def test_a_participants_consent_names_them_as_a_related_person(tmp_path: Path) -> None:
    """R4's ``Consent.patient`` takes a Patient only: a partner's Consent keeps the client there and names
    the partner (a RelatedPerson) as performer and in the consent-about extension."""
    practice, _, _ = participant_consent_changes(tmp_path / "p.sqlite")
    with practice:
        export_ndjson(practice, Actor("exporter", Role.SUPERVISOR, "demo-clinic"), tmp_path / "out")
    consents = [json.loads(line) for line in (tmp_path / "out" / "Consent.ndjson").read_text().splitlines()]
    checked: set[tuple[str, str]] = set()
    assert _wrong_targets(consents, checked) == []
    performers = [_target(c["performer"][0], {}) for c in consents]
    assert performers == ["RelatedPerson", "Patient", "RelatedPerson"]
    assert [_target(c["patient"], {}) for c in consents] == ["Patient"] * 3


def test_the_check_sees_a_wrong_target(exported: list[dict[str, Any]]) -> None:
    """The boundary: the old shape of a partner's score is caught."""
    observation = next(
        r
        for r in exported
        if r["resourceType"] == "Observation" and r.get("focus", [{}])[0].get("type") == "RelatedPerson"
    )
    old = {**observation, "subject": observation["focus"][0]}
    (path, reference), *_ = [(p, r) for p, r in _references(old, "") if p == "subject"]
    assert _target(reference, {}) == "RelatedPerson"
    assert _target(reference, {}) not in (TARGETS["Observation", path] or ())
