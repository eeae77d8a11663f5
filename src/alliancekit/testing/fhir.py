# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The FHIR hook contract: subclass :class:`FhirHookContract` in a plugin's tests to prove that what it adds
to an export (mappers, resource refinements, identities, export filters, or the Questionnaires of the
measures it registers) keeps the export sound.

.. code-block:: python

    import my_plugin
    from alliancekit.testing import FhirHookContract

    class TestMyFhirHooks(FhirHookContract):
        plugin = my_plugin    # implements alliancekit_fhir_* hooks (or registers measures)

The suite exports every episode of the demo practice (:mod:`alliancekit.testing.demo`) as a collection
Bundle, for treatment and for quality improvement, with the plugin registered next to the builtin FHIR
plugin, plus the Questionnaire of each measure the plugin registers, and checks what the export relies on:
every resource validates against the FHIR R4 JSON Schema shipped with alliancekit
(:mod:`alliancekit.fhir.validate`); every reference to a resource of the export resolves to an entry of its
Bundle (no ``Type/id`` left pointing at nothing); the same export made twice is the same, ids included; a
quality-improvement export carries none of the episodes' free text (minimum necessary,
:mod:`alliancekit.fhir.privacy`); and a client's reference appears only inside a Reference, never in an id,
a text or an identifier of a resource of its own. The base class is not collected on its own
(``__test__ = False``); subclasses are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain.vocab import Purpose
from alliancekit.fhir.bundle import episode_bundle
from alliancekit.fhir.export import Exporter
from alliancekit.fhir.validate import packaged_schema
from alliancekit.plugins.manager import PluginHost
from alliancekit.testing.demo import DEMO_ACTOR, DEMO_FREE_TEXT_MARK, PluginContract, demo_practice_path

__all__ = ["FHIR_HOOKS", "FhirExport", "FhirHookContract", "export_demo", "references"]

#: The hooks of a FHIR plugin (``alliancekit.plugins.hookspecs``, FHIR export).
FHIR_HOOKS = (
    "alliancekit_fhir_identity",
    "alliancekit_fhir_mappers",
    "alliancekit_fhir_resource",
    "alliancekit_fhir_export_filter",
)
BUILTIN_MEASURES = "alliancekit.measures.builtin"
#: The Bundles' timestamp: fixed, so that two exports can be compared whole.
EXPORTED_AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
#: A reference to a resource by type and id, relative (what a Bundle resolves to one of its entries).
_RELATIVE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}(/_history/[A-Za-z0-9\-.]{1,64})?")
_EXPORT_PURPOSES = (Purpose.TREATMENT, Purpose.QUALITY_IMPROVEMENT)


class FhirExport:
    """The demo exported with a plugin: Bundles by purpose, the plugin's Questionnaires, the client refs."""

    def __init__(
        self,
        bundles: dict[Purpose, list[dict[str, Any]]],
        questionnaires: list[dict[str, Any]],
        client_refs: set[str],
    ) -> None:
        self.bundles = bundles
        self.questionnaires = questionnaires
        self.client_refs = client_refs

    def resources(self) -> Iterator[dict[str, Any]]:
        for bundles in self.bundles.values():
            for bundle in bundles:
                yield from (entry["resource"] for entry in bundle.get("entry", ()))
        yield from self.questionnaires


def export_demo(path: Path, host: PluginHost, measures: list[tuple[str, str]]) -> FhirExport:
    """Export every episode of the demo practice at ``path`` through ``host`` (treatment and quality
    improvement), and the Questionnaires of ``measures``."""
    bundles: dict[Purpose, list[dict[str, Any]]] = {purpose: [] for purpose in _EXPORT_PURPOSES}
    client_refs: set[str] = set()
    with open_practice(path, plugins=host) as practice:
        for episode_id in practice.episode_ids(DEMO_ACTOR):
            state = practice.episode(DEMO_ACTOR, episode_id)
            client_refs.add(state.client_ref)
            client_refs.update(state.participants)
            for purpose in _EXPORT_PURPOSES:
                bundle = episode_bundle(
                    practice, DEMO_ACTOR, episode_id, purpose=purpose, timestamp=EXPORTED_AT
                )
                bundles[purpose].append(bundle)
        questionnaires = Exporter(practice, DEMO_ACTOR).questionnaires(measures)
    return FhirExport(bundles, questionnaires, client_refs)


def _is_reference(node: dict[str, Any]) -> bool:
    """Whether ``node`` is a FHIR Reference (where a client's reference belongs)."""
    keys = set(node)
    return "reference" in keys or (
        "identifier" in keys and keys <= {"reference", "type", "identifier", "display"}
    )


def _outside_references(node: Any, at: str = "$") -> Iterator[tuple[str, str]]:
    """(path, text) of every string of ``node`` that is not inside a Reference."""
    if isinstance(node, dict):
        if _is_reference(node):
            return
        for key, value in node.items():
            yield from _outside_references(value, f"{at}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _outside_references(item, f"{at}[{i}]")
    elif isinstance(node, str):
        yield at, node


def references(node: Any) -> Iterator[str]:
    """Every ``reference`` string in a FHIR resource (or any JSON value), at any depth, in document order:
    what a Bundle must resolve to its entries (or a client's identity Reference)."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


class FhirHookContract(PluginContract):
    """Checks every FHIR plugin must pass. Set ``plugin`` (the plugin implementing FHIR hooks or registering
    measures; ``None``: the builtin FHIR plugin alone) in the subclass."""

    __test__ = False

    # -- fixtures ------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def plugin_measures(cls, host: PluginHost) -> list[tuple[str, str]]:
        """The (id, version) of each measure the plugin registers (the builtin ones for the builtin)."""
        registry = host.measures()
        builtin = cls.plugin is None
        return [key for key in registry if (registry.supplier(*key) == BUILTIN_MEASURES) is builtin]

    @pytest.fixture(scope="class")
    @classmethod
    def exported(
        cls,
        tmp_path_factory: pytest.TempPathFactory,
        host: PluginHost,
        plugin_measures: list[tuple[str, str]],
    ) -> FhirExport:
        return export_demo(demo_practice_path(tmp_path_factory), host, plugin_measures)

    # -- the contract --------------------------------------------------------------------------------

    def test_plugin_adds_to_the_export(
        self, host: PluginHost, plugin_measures: list[tuple[str, str]]
    ) -> None:
        if self.plugin is None:
            return
        name = host.pm.get_name(self.plugin)
        hooks = [hook for hook in FHIR_HOOKS if name in host.implementers(hook)]
        assert hooks or plugin_measures, "the plugin implements no FHIR hook and registers no measure"

    def test_every_resource_validates_against_the_r4_schema(self, exported: FhirExport) -> None:
        schema = packaged_schema()
        for bundles in exported.bundles.values():
            for bundle in bundles:
                errors = schema.check(bundle)
                assert not errors, "; ".join(str(e) for e in errors[:5])
        for questionnaire in exported.questionnaires:
            errors = schema.check(questionnaire)
            assert not errors, "; ".join(str(e) for e in errors[:5])

    def test_the_plugins_measures_are_exported_as_questionnaires(
        self, exported: FhirExport, plugin_measures: list[tuple[str, str]]
    ) -> None:
        # a QuestionnaireResponse names its form by canonical url and version: each measure has one
        made = [
            (q.get("url", "").rsplit("/", 1)[-1], q.get("version"))
            for q in exported.questionnaires
            if q.get("resourceType") == "Questionnaire"
        ]
        assert sorted(made) == sorted(plugin_measures)

    def test_references_resolve_within_the_bundle(self, exported: FhirExport) -> None:
        for bundles in exported.bundles.values():
            for bundle in bundles:
                urls = {entry["fullUrl"] for entry in bundle.get("entry", ())}
                for entry in bundle.get("entry", ()):
                    resource = entry["resource"]
                    for ref in references(resource):
                        where = f"{resource['resourceType']}/{resource.get('id')}"
                        if ref.startswith("urn:uuid:"):
                            assert ref in urls, f"{where} refers to {ref}, which is not in its Bundle"
                        assert not _RELATIVE.fullmatch(ref), f"{where} refers to {ref}, not in its Bundle"

    def test_ids_are_unique_and_the_export_is_deterministic(
        self,
        exported: FhirExport,
        tmp_path_factory: pytest.TempPathFactory,
        host: PluginHost,
        plugin_measures: list[tuple[str, str]],
    ) -> None:
        for bundles in exported.bundles.values():
            for bundle in bundles:
                ids = [
                    (e["resource"]["resourceType"], e["resource"].get("id")) for e in bundle.get("entry", ())
                ]
                assert all(rid for _, rid in ids), "every resource of a Bundle has an id"
                assert len(set(ids)) == len(ids), "two resources of one Bundle share a type and id"
        again = export_demo(demo_practice_path(tmp_path_factory), host, plugin_measures)
        assert json.dumps(again.bundles[Purpose.TREATMENT]) == json.dumps(exported.bundles[Purpose.TREATMENT])
        assert json.dumps(again.questionnaires) == json.dumps(exported.questionnaires)

    def test_quality_improvement_carries_no_free_text(self, exported: FhirExport) -> None:
        for bundle in exported.bundles[Purpose.QUALITY_IMPROVEMENT]:
            for path, text in _outside_references(bundle):
                assert DEMO_FREE_TEXT_MARK not in text.lower(), (
                    f"free text at {path} of {bundle['id']} in a quality-improvement export"
                )

    def test_client_references_only_inside_references(self, exported: FhirExport) -> None:
        refs = sorted(exported.client_refs, key=len, reverse=True)
        assert refs
        for bundles in exported.bundles.values():
            for bundle in bundles:
                for path, text in _outside_references(bundle):
                    leaked = [ref for ref in refs if ref in text]
                    assert not leaked, (
                        f"a client's reference at {path} of {bundle['id']}, outside a Reference"
                    )
