"""The builtin FHIR plugin passes the FHIR hook contract (the K10 plugin runs it in its own tests); broken
hooks fail it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit import hookimpl
from alliancekit.demo.simulate import MIN_CLIENTS
from alliancekit.domain import Purpose
from alliancekit.fhir import ExportContext
from alliancekit.fhir.goal import map_goal
from alliancekit.fhir.mappers import MapperRegistrar
from alliancekit.fhir.records import GoalRecord
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing import FhirHookContract
from alliancekit.testing.demo import DEMO_FREE_TEXT_MARK, demo_practice_path
from alliancekit.testing.fhir import export_demo, references


class TestBuiltinFhirPlugin(FhirHookContract):
    """The builtin mappings and identity, with the builtin measures' Questionnaires."""


def test_the_abstract_contract_is_not_collected() -> None:
    assert FhirHookContract.__test__ is False
    assert TestBuiltinFhirPlugin.__test__ is True


def test_references_finds_every_reference_string_at_any_depth_in_order() -> None:
    """The one walker the contract and alliancekit's own FHIR tests share: nested objects and lists, in
    document order; a ``reference`` that is not a string (an object, a number) is walked into, not taken."""
    resource = {
        "subject": {"reference": "Patient/p1"},
        "reference": {"reference": "Encounter/e1"},
        "part": [{"reference": 7}, [{"item": {"reference": "#q1"}}], "Patient/not-a-reference"],
        "focus": {"reference": "Goal/g1", "extension": [{"reference": "Condition/c1"}]},
    }
    assert list(references(resource)) == ["Patient/p1", "Encounter/e1", "#q1", "Goal/g1", "Condition/c1"]
    assert list(references([])) == list(references("Patient/p1")) == []


# -- broken hooks fail the contract ----------------------------------------------------------------------


class _Refiner:
    """A plugin refining every resource of one type with ``change(resource, record, context)``."""

    def __init__(
        self, resource_type: str, change: Callable[[dict[str, Any], Any, ExportContext], None]
    ) -> None:
        self.resource_type = resource_type
        self.change = change

    @hookimpl
    def alliancekit_fhir_resource(
        self, resource: dict[str, Any], record: Any, context: ExportContext
    ) -> None:
        if resource["resourceType"] == self.resource_type:
            self.change(resource, record, context)


class _GoalWording:
    """A plugin replacing the Goal mapping with one that always puts the goal's wording in."""

    @hookimpl
    def alliancekit_fhir_mappers(self, register: MapperRegistrar) -> None:
        def goal(record: GoalRecord, ctx: ExportContext) -> list[dict[str, Any]]:
            (resource,) = map_goal(record, ctx)
            resource["description"] = {"text": record.description}
            return [resource]

        register("goal", goal)


def _fails(plugin: object, test: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Run one test of the contract for ``plugin``; the AssertionError's message."""
    suite = type("Broken", (FhirHookContract,), {"plugin": plugin})()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    kwargs: dict[str, Any] = {"host": host, "plugin_measures": [], "tmp_path_factory": tmp_path_factory}
    method = getattr(suite, test)
    wanted = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    if "exported" in wanted:
        kwargs["exported"] = export_demo(demo_practice_path(tmp_path_factory), host, [])
    with pytest.raises(AssertionError) as failed:
        method(**{name: kwargs[name] for name in wanted})
    return str(failed.value)


def test_a_resource_left_invalid_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    def bad_status(resource: dict[str, Any], record: Any, context: ExportContext) -> None:
        resource["status"] = "sort-of-finished"

    plugin = _Refiner("Encounter", bad_status)
    message = _fails(plugin, "test_every_resource_validates_against_the_r4_schema", tmp_path_factory)
    assert "Encounter/" in message
    assert ".resource.status" in message


def test_a_dangling_reference_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    def dangling(resource: dict[str, Any], record: Any, context: ExportContext) -> None:
        resource["basedOn"] = [{"reference": "ServiceRequest/never-exported"}]

    plugin = _Refiner("Encounter", dangling)
    message = _fails(plugin, "test_references_resolve_within_the_bundle", tmp_path_factory)
    assert "ServiceRequest/never-exported" in message


def test_a_client_reference_outside_a_reference_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    def identified(resource: dict[str, Any], record: Any, context: ExportContext) -> None:
        resource["identifier"] = [{"system": "urn:example:mrn", "value": context.state.client_ref}]

    plugin = _Refiner("EpisodeOfCare", identified)
    message = _fails(plugin, "test_client_references_only_inside_references", tmp_path_factory)
    assert "$.entry" in message
    assert "identifier" in message
    assert "demo-client" not in message  # the message names where, never whom


def test_free_text_in_a_quality_improvement_export_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    message = _fails(_GoalWording(), "test_quality_improvement_carries_no_free_text", tmp_path_factory)
    assert "description" in message


def test_ids_that_change_between_exports_fail(tmp_path_factory: pytest.TempPathFactory) -> None:
    made = itertools.count()

    def fresh_id(resource: dict[str, Any], record: Any, context: ExportContext) -> None:
        resource["id"] = f"{resource['id']}-{next(made)}"

    plugin = _Refiner("Goal", fresh_id)
    _fails(plugin, "test_ids_are_unique_and_the_export_is_deterministic", tmp_path_factory)


def test_a_plugin_adding_nothing_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    class Nothing:  # a hook, so that the host registers it, but none that adds to an export
        @hookimpl
        def alliancekit_register_protocols(self, register: Any) -> None:
            return None

    assert "no FHIR hook" in _fails(Nothing(), "test_plugin_adds_to_the_export", tmp_path_factory)


def test_the_demo_gives_the_privacy_checks_something_to_find(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # the contract's quality-improvement and client checks would pass vacuously on an export without either
    exported = export_demo(
        demo_practice_path(tmp_path_factory), make_plugin_host(load_entry_points=False), []
    )
    treatment = json.dumps(exported.bundles[Purpose.TREATMENT])
    assert DEMO_FREE_TEXT_MARK in treatment
    assert len(exported.client_refs) >= MIN_CLIENTS
    assert all(ref in treatment for ref in exported.client_refs)
