"""The FHIR hooks, each through a real plugin registered in a plugin host, on a real SQLite practice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.domain import Actor
from alliancekit.errors import PluginError, ValidationError
from alliancekit.fhir import (
    ExportContext,
    ExportOptions,
    SystemIdentity,
    Withhold,
    episode_bundle,
    export_ndjson,
)
from alliancekit.fhir.mappers import MapperRegistrar, mapper_registry
from alliancekit.fhir.records import RuptureRecord, SessionRecord
from alliancekit.fhir.validate import R4Schema
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.fhir import references

from .conftest import by_type, episode_of

RUPTURE_REPAIRED = 3


def _practice(db: Path, *plugins: object) -> Any:
    return open_practice(db, plugins=make_plugin_host(load_entry_points=False, extra_plugins=list(plugins)))


def test_alliancekit_fhir_identity_default_uses_the_hosts_system(
    demo_db: Path, exporter_actor: Actor
) -> None:
    with _practice(demo_db) as practice:
        episode_id = episode_of(practice, exporter_actor, 2)
        options = ExportOptions(identifier_system="https://clinic.example.org/ids")
        resources = by_type(episode_bundle(practice, exporter_actor, episode_id, options=options))
    (eoc,) = resources["EpisodeOfCare"]
    assert eoc["patient"] == {
        "type": "Patient",
        "identifier": {"system": "https://clinic.example.org/ids/client", "value": "demo-client-002"},
    }
    assert (
        eoc["managingOrganization"]["identifier"]["system"] == "https://clinic.example.org/ids/organization"
    )


@pytest.mark.parametrize(
    "system",
    ["not a uri", "", "clinic.example.org/ids", "https:///ids", "https://x.example/ids?a=b", "urn:a b", 7],
)
def test_alliancekit_fhir_identity_system_must_be_an_absolute_uri(system: object) -> None:
    # refused where the options are made, so every export path (CLI, Exporter, bulk) gets the check
    with pytest.raises(ValidationError) as refused:
        ExportOptions(identifier_system=system)  # type: ignore[arg-type]
    assert refused.value.field == "identifier_system"
    assert refused.value.rule in {"absolute-uri", "type"}


@pytest.mark.parametrize(
    "system", ["https://clinic.example.org/ids", "urn:oid:1.2.3", "urn:alliancekit:host"]
)
def test_alliancekit_fhir_identity_system_takes_urls_and_urns(system: str) -> None:
    assert ExportOptions(identifier_system=system).identifier_system == system


def test_alliancekit_fhir_identity_a_host_plugin_wins(
    demo_db: Path, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    class MasterPatientIndex:
        """The host resolves its client references to its own Patient ids."""

        def reference(self, kind: str, local_id: str) -> dict[str, Any]:
            if kind == "client":
                return {"reference": f"https://ehr.example.org/fhir/Patient/mpi-{local_id}"}
            return SystemIdentity("https://ehr.example.org/ids").reference(kind, local_id)

    class HostIdentity:
        @hookimpl
        def alliancekit_fhir_identity(self, clinic_id: str, options: ExportOptions) -> Any:
            return MasterPatientIndex() if clinic_id == "demo-clinic" else None

    with _practice(demo_db, HostIdentity()) as practice:
        bundle = episode_bundle(practice, exporter_actor, episode_of(practice, exporter_actor, 2))
    assert r4_schema.check(bundle) == []
    (eoc,) = by_type(bundle)["EpisodeOfCare"]
    assert eoc["patient"] == {"reference": "https://ehr.example.org/fhir/Patient/mpi-demo-client-002"}
    assert eoc["careManager"]["identifier"]["system"] == "https://ehr.example.org/ids/practitioner"


def test_alliancekit_fhir_resource_two_implementations_compose(
    demo_db: Path, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    class Profiles:
        @hookimpl
        def alliancekit_fhir_resource(
            self, resource: dict[str, Any], record: Any, context: ExportContext
        ) -> None:
            if resource["resourceType"] == "Encounter":
                resource.setdefault("meta", {}).setdefault("profile", []).append(
                    "https://example.org/Encounter"
                )

    class LocalIds:
        @hookimpl
        def alliancekit_fhir_resource(
            self, resource: dict[str, Any], record: Any, context: ExportContext
        ) -> None:
            if isinstance(record, SessionRecord):
                resource["identifier"].append(
                    {"system": "https://example.org/visit", "value": record.session_id}
                )
                resource.setdefault("meta", {}).setdefault("profile", []).append("https://example.org/Visit")

    with _practice(demo_db, Profiles(), LocalIds()) as practice:
        bundle = episode_bundle(practice, exporter_actor, episode_of(practice, exporter_actor, 2))
    assert r4_schema.check(bundle) == []
    encounters = by_type(bundle)["Encounter"]
    sessions = [e for e in encounters if e["type"][0]["coding"][0]["code"] == "session"]
    consultation = next(e for e in encounters if e["type"][0]["coding"][0]["code"] == "consultation")
    assert sessions
    for encounter in sessions:
        assert sorted(encounter["meta"]["profile"]) == [
            "https://example.org/Encounter",
            "https://example.org/Visit",
        ]
        assert encounter["identifier"][1]["system"] == "https://example.org/visit"
    assert consultation["meta"]["profile"] == ["https://example.org/Encounter"]


def test_alliancekit_fhir_mappers_replace_a_kind_and_add_one(demo_db: Path, exporter_actor: Actor) -> None:
    def rupture_as_flag(record: RuptureRecord, context: ExportContext) -> list[dict[str, Any]]:
        return [
            {
                "resourceType": "Flag",
                "id": f"rupture-{record.rupture_id[:20]}",
                "status": "inactive" if record.resolved else "active",
                "code": {"text": "Alliance rupture"},
                "subject": context.client,
            }
        ]

    class Replace:
        @hookimpl
        def alliancekit_fhir_mappers(self, register: MapperRegistrar) -> None:
            register("rupture", rupture_as_flag)
            register("my-kind", lambda record, context: [])

    plugin = Replace()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = mapper_registry(host)
    assert registry.supplier("rupture") == host.pm.get_name(plugin)
    assert registry.get("rupture") is rupture_as_flag
    assert "my-kind" in registry.kinds()
    assert registry.supplier("goal") == "alliancekit.fhir.builtin"
    with open_practice(demo_db, plugins=host) as practice:
        resources = by_type(
            episode_bundle(practice, exporter_actor, episode_of(practice, exporter_actor, RUPTURE_REPAIRED))
        )
    # the rupture's own Flag (its code is the rupture's), beside the Flags of the episode's alerts
    rupture_flags = [f for f in resources["Flag"] if f["id"].startswith("rupture-")]
    assert [f["status"] for f in rupture_flags] == ["inactive"]
    assert not [o for o in resources["Observation"] if o["code"]["coding"][0]["code"] == "alliance-rupture"]


def test_alliancekit_fhir_mappers_clash_names_both_plugins() -> None:
    def make() -> object:
        class Mapper:
            @hookimpl
            def alliancekit_fhir_mappers(self, register: MapperRegistrar) -> None:
                register("goal", lambda record, context: [])

        return Mapper()

    host = make_plugin_host(load_entry_points=False, extra_plugins=[make(), make()])
    with pytest.raises(PluginError, match=r"'goal' registered by both"):
        mapper_registry(host)


def test_alliancekit_fhir_export_filter_withholds_and_the_bundle_says_so(
    demo_db: Path, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    class Lockbox:
        """The client asked that rupture notes and the sessions they were noted in not be shared."""

        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: ExportContext) -> Withhold | None:
            if isinstance(record, RuptureRecord):
                return Withhold("lockbox")
            return None

    with _practice(demo_db, Lockbox()) as practice:
        episode_id = episode_of(practice, exporter_actor, RUPTURE_REPAIRED)
        bundle = episode_bundle(practice, exporter_actor, episode_id)
        transaction = episode_bundle(practice, exporter_actor, episode_id, bundle_type="transaction")
    assert r4_schema.check(bundle) == []
    assert r4_schema.check(transaction) == []
    resources = by_type(bundle)
    assert not [o for o in resources["Observation"] if o["code"]["coding"][0]["code"] == "alliance-rupture"]
    labels = {c["code"] for c in bundle["meta"]["security"]}
    assert labels == {"TREAT", "REDACTED"}
    assert {c["code"] for c in transaction["meta"]["security"]} == {"TREAT", "REDACTED"}
    (notice,) = resources["OperationOutcome"]
    assert notice["issue"][0]["code"] == "suppressed"
    assert "lockbox" in notice["issue"][0]["details"]["text"]
    assert "synthetic" not in str(notice)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(ref in full_urls for e in bundle["entry"] for ref in references(e["resource"]))


def test_alliancekit_fhir_export_filter_withholding_a_session_withholds_its_measures_and_references(
    demo_db: Path, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    class NoSessions:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: ExportContext) -> Withhold | None:
            return Withhold("policy") if record.KIND == "session" else None

    with _practice(demo_db, NoSessions()) as practice:
        bundle = episode_bundle(
            practice, exporter_actor, episode_of(practice, exporter_actor, RUPTURE_REPAIRED)
        )
    assert r4_schema.check(bundle) == []
    resources = by_type(bundle)
    assert [e["type"][0]["coding"][0]["code"] for e in resources["Encounter"]] == ["consultation"]
    assert "QuestionnaireResponse" not in resources
    assert "Questionnaire" not in resources
    (rupture,) = [o for o in resources["Observation"] if o["code"]["coding"][0]["code"] == "alliance-rupture"]
    assert "encounter" not in rupture  # the reference to the withheld session is gone
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert all(ref in full_urls for e in bundle["entry"] for ref in references(e["resource"]))


def test_alliancekit_fhir_export_filter_withholding_the_episode_leaves_only_the_notice(
    demo_db: Path, exporter_actor: Actor
) -> None:
    class Nothing:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: ExportContext) -> Withhold | None:
            return Withhold("policy") if record.KIND == "episode" else None

    with _practice(demo_db, Nothing()) as practice:
        bundle = episode_bundle(practice, exporter_actor, episode_of(practice, exporter_actor, 2))
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["OperationOutcome"]


def test_alliancekit_fhir_export_filter_in_bulk_lists_the_notices_under_error(
    demo_db: Path, exporter_actor: Actor, r4_schema: R4Schema, tmp_path: Path
) -> None:
    class Lockbox:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: ExportContext) -> Withhold | None:
            return Withhold("lockbox") if record.KIND == "rupture" else None

    with _practice(demo_db, Lockbox()) as practice:
        result = export_ndjson(practice, exporter_actor, tmp_path / "bulk")
    assert result.withheld_episodes >= 2  # the demo's rupture courses
    (error,) = result.manifest["error"]
    assert error == {
        "type": "OperationOutcome",
        "url": (tmp_path / "bulk").as_uri() + "/OperationOutcome.ndjson",
        "count": result.withheld_episodes,
    }
    lines = (tmp_path / "bulk" / "OperationOutcome.ndjson").read_text().splitlines()
    assert len(lines) == result.withheld_episodes
    for line in lines:
        notice = json.loads(line)
        assert r4_schema.check(notice) == []
        assert notice["issue"][0]["code"] == "suppressed"
    observations = (tmp_path / "bulk" / "Observation.ndjson").read_text()
    assert "alliance-rupture" not in observations


def test_alliancekit_fhir_export_filter_sees_each_record_once_with_the_purpose(
    demo_db: Path, exporter_actor: Actor
) -> None:
    seen: list[tuple[str, str]] = []

    class Recorder:
        @hookimpl
        def alliancekit_fhir_export_filter(self, record: Any, context: ExportContext) -> Withhold | None:
            seen.append((record.KIND, context.purpose.value))
            return None

    with _practice(demo_db, Recorder()) as practice:
        bundle = episode_bundle(
            practice, exporter_actor, episode_of(practice, exporter_actor, 2), purpose="client-access"
        )
    kinds = [kind for kind, _ in seen]
    assert kinds.count("episode") == 1
    assert kinds.count("provenance") == len(by_type(bundle)["Provenance"])
    assert {purpose for _, purpose in seen} == {"client-access"}
    assert {"consultation", "session", "administration", "goal", "maintenance-plan", "measure"} <= set(kinds)
