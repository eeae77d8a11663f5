"""Definitions: the meta-schema and consistency rules refuse wrong measures with a JSON path."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit.errors import MeasureDefinitionError, PluginError, UnknownMeasure
from alliancekit.measures.builtin import BUILTIN_MEASURES, load_builtin_definition
from alliancekit.measures.definition import (
    ClinicalIf,
    Direction,
    MeasureKind,
    parse_definition,
)
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.store.definitions import stored_definition
from alliancekit.testing.measures import measure_registry


def test_every_builtin_measure_registers_through_the_hook(registry: MeasureRegistry) -> None:
    assert list(registry) == [
        ("core-10", "1.0"),
        ("cors", "1.0"),
        ("gad-7", "1.0"),  # kept beside 1.1 and 1.2: administrations and exports of 1.0 stay valid
        ("gad-7", "1.1"),
        ("gad-7", "1.2"),
        ("gsrs", "1.0"),
        ("ors", "1.0"),
        ("phq-9", "1.0"),
        ("srs", "1.0"),
        ("wai-sr", "1.0"),
    ]
    assert {registry.supplier(m, v) for m, v in registry} == {"alliancekit.measures.builtin"}


def test_core_attributes(registry: MeasureRegistry) -> None:
    ors = registry.get("ors")
    assert (ors.kind, ors.direction, ors.clinical_cutoff, ors.reliable_change) == (
        MeasureKind.OUTCOME,
        Direction.HIGHER_IS_BETTER,
        25,
        5,
    )
    assert (ors.range_min, ors.range_max) == (0, 40)
    phq = registry.get("phq-9", "1.0")
    assert (phq.kind, phq.direction, phq.clinical_cutoff, phq.reliable_change) == (
        MeasureKind.SYMPTOM,
        Direction.HIGHER_IS_WORSE,
        10,
        6,
    )
    assert registry.get("srs").kind is MeasureKind.ALLIANCE
    assert registry.get("wai-sr").clinical_cutoff is None
    assert registry.get("ors").norm("child").clinical_cutoff.value == 32  # type: ignore[union-attr]
    assert registry.get("ors").norm("child").clinical_cutoff.clinical_if is ClinicalIf.BELOW  # type: ignore[union-attr]


def test_every_cutoff_threshold_and_band_is_cited_and_unconfirmed_facts_say_so(
    registry: MeasureRegistry,
) -> None:
    for measure_id, version in registry:
        m = registry.get(measure_id, version)
        for norm in m.norms:
            for cited in (norm.clinical_cutoff, norm.reliable_change_points, norm.clinical_sample):
                if cited is not None:
                    assert cited.citation.reference
    core = registry.get("core-10")
    norm = core.default_norm
    assert norm is not None
    assert norm.reliable_change_points is not None
    # Barkham et al. 2013's abstract gives it ("a reliable change index (90% CI) of 6"), but the published
    # 1.0 definition keeps its mark: a definition is never edited under its version (see PUBLISHED below)
    assert norm.reliable_change_points.citation.status == "unconfirmed"
    adolescent = registry.get("ors").norm("adolescent")
    assert adolescent is not None
    assert adolescent.clinical_cutoff is not None
    assert adolescent.clinical_cutoff.citation.status == "unconfirmed"


def test_copyrighted_measures_ship_no_item_text(registry: MeasureRegistry) -> None:
    for measure_id in ("ors", "srs", "wai-sr", "core-10"):
        assert all(item.text is None for item in registry.get(measure_id).items)
    assert all(item.text for item in registry.get("phq-9").items)
    assert all(item.text for item in registry.get("gad-7").items)


def test_loinc_codes(registry: MeasureRegistry) -> None:
    # PHQ-9 items: US Core's PHQ-9 example Questionnaire (hl7.org/fhir/us/core Questionnaire-phq-9-example)
    codes = {(c.target.value, c.item, c.code) for c in registry.get("phq-9").codes}
    assert codes == {
        ("panel", None, "44249-1"),
        ("total", None, "44261-6"),
        *(
            ("item", f"q{n}", code)
            for n, code in enumerate(
                (
                    "44250-9",
                    "44255-8",
                    "44259-0",
                    "44254-1",
                    "44251-7",
                    "44258-2",
                    "44252-5",
                    "44253-3",
                    "44260-8",
                ),
                start=1,
            )
        ),
    }
    # GAD-7 1.0, as published: item codes for q3-q7 only (it can never change under its version)
    gad_1_0 = {
        ("panel", None, "69737-5"),
        ("total", None, "70274-6"),
        ("item", "q3", "69733-4"),
        ("item", "q4", "69734-2"),
        ("item", "q5", "69735-9"),
        ("item", "q6", "69689-8"),
        ("item", "q7", "69736-7"),
    }
    assert {(c.target.value, c.item, c.code) for c in registry.get("gad-7", "1.0").codes} == gad_1_0
    # GAD-7 1.1 codes every item: LOINC's GAD-7 items as the PHQ-SADS panel lists them (loinc.org/69729-2):
    # 69725-0 "Feeling nervous, anxious or on edge", 68509-9 "... not been able to stop or control worrying"
    gad_1_1 = {(c.target.value, c.item, c.code) for c in registry.get("gad-7", "1.1").codes}
    assert gad_1_1 == gad_1_0 | {("item", "q1", "69725-0"), ("item", "q2", "68509-9")}
    item_codes = sorted(item for target, item, _ in gad_1_1 if target == "item")
    assert item_codes == list(registry.get("gad-7", "1.1").item_keys)  # one code for each item, no more
    assert registry.get("gad-7", "1.2").codes == registry.get("gad-7", "1.1").codes
    assert registry.latest_version("gad-7") == "1.2"


def test_gad_7_1_1_is_1_0_with_its_version_and_the_two_item_codes(
    definition: Callable[[str], dict[str, Any]],
) -> None:
    """1.1 adds codes and nothing else: the same items, text, scoring, norms, bands and examples, so a
    score is the same whichever version a response names."""
    old, new = definition("gad-7-1.0"), definition("gad-7-1.1")
    assert (old["version"], new["version"]) == ("1.0", "1.1")
    added = [c for c in new["codes"] if c not in old["codes"]]
    assert added == [
        {"system": "http://loinc.org", "code": "69725-0", "target": "item", "item": "q1"},
        {"system": "http://loinc.org", "code": "68509-9", "target": "item", "item": "q2"},
    ]
    assert [c for c in new["codes"] if c not in added] == old["codes"]
    assert {k: v for k, v in new.items() if k not in ("version", "codes")} == {
        k: v for k, v in old.items() if k not in ("version", "codes")
    }


def test_gad_7_1_2_is_1_1_with_its_version_and_item_2s_own_answer_codes(
    definition: Callable[[str], dict[str, Any]],
) -> None:
    """1.2 adds item 2's LOINC answer list (and says where it comes from) and nothing else, so a score is
    the same whichever version a response names; 1.1 stays as published."""
    old, new = definition("gad-7-1.1"), definition("gad-7-1.2")
    assert (old["version"], new["version"]) == ("1.1", "1.2")
    assert [item.get("loinc_answers") for item in new["items"]] == [
        None,
        ["LA6568-5", "LA6569-3", "LA18938-3", "LA6571-9"],  # HL7 pco-ig Questionnaire 69737-5, 68509-9
        *[None] * 5,
    ]
    assert new["references"]["loinc"].startswith(old["references"]["loinc"])
    same = {"items", "version", "references"}
    assert {k: v for k, v in new.items() if k not in same} == {k: v for k, v in old.items() if k not in same}
    assert [{k: v for k, v in i.items() if k != "loinc_answers"} for i in new["items"]] == old["items"]


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda d: d.pop("kind"), "$", "required"),
        (lambda d: d.update(kind="mood"), "$.kind", "enum"),
        (lambda d: d["items"][2].update(max="3"), "$.items[2].max", "type"),
        (lambda d: d["items"][0].update(key="Has Spaces"), "$.items[0].key", "pattern"),
        (lambda d: d["norms"][0]["clinical_cutoff"].pop("cite"), "$.norms[0].clinical_cutoff", "required"),
        (lambda d: d["items"].append(dict(d["items"][0])), "$.items[9].key", "unique"),
        (lambda d: d["items"][1].update(min=3), "$.items[1].max", "range"),
        (
            lambda d: d["norms"][0]["clinical_cutoff"]["cite"].update(ref="nowhere"),
            "$.norms[0].clinical_cutoff.cite.ref",
            "citation",
        ),
        (lambda d: d["risk_items"][0].update(item="q10"), "$.risk_items[0].item", "item"),
        (lambda d: d["range"].update(max=30), "$.range", "scoring"),
        (lambda d: d["bands"]["bands"][1].update(min=6), "$.bands.bands[1].min", "gap"),
        (lambda d: d["bands"]["bands"][1].update(min=4), "$.bands.bands[1].min", "overlap"),
        (lambda d: d["bands"]["bands"][-1].update(max=26), "$.bands.bands[4].max", "coverage"),
        (lambda d: d["licence"].update(item_text=False), "$.items[0].text", "licence"),
        (  # the stem is wording too
            lambda d: [item.pop("text") for item in d["items"]] and d["licence"].update(item_text=False),
            "$.stem",
            "licence",
        ),
        (lambda d: d["norms"][0].update(default=False), "$.norms", "default"),
        (lambda d: d["scoring"].update(reverse_keyed=["q1"]), "$.scoring.reverse_keyed_cite", "required"),
        (
            lambda d: d["scoring"]["missing"].update(policy="prorate", max_missing=1),
            "$.scoring.missing.cite",
            "required",
        ),
        (lambda d: d.update(response_schema={"type": 5}), "$.response_schema.type", "anyOf"),
        (  # a second total code, in another system too: the Observation of the total has one
            lambda d: d["codes"].append({"system": "http://snomed.info/sct", "code": "1", "target": "total"}),
            "$.codes[11].target",
            "unique",
        ),
    ],
)
def test_malformed_definitions_are_refused_with_path_and_rule(
    definition: Any, mutate: Any, field: str, rule: str
) -> None:
    d = definition("phq-9-1.0")
    mutate(d)
    with pytest.raises(MeasureDefinitionError) as caught:
        MeasureRegistry().add(d, "test")
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_definition_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(MeasureDefinitionError) as caught:
        parse_definition([1, 2, 3])  # type: ignore[arg-type]
    assert caught.value.field == "$"


def test_errors_do_not_echo_the_offending_value(definition: Any) -> None:
    d = definition("ors-1.0")
    d["title"] = "x" * 5000
    with pytest.raises(MeasureDefinitionError) as caught:
        parse_definition(d)
    assert "xxxx" not in str(caught.value)
    assert caught.value.field == "$.title"


def test_two_plugins_registering_the_same_measure_is_an_error_naming_both(definition: Any) -> None:
    clone = definition("ors-1.0")
    impostor = types.ModuleType("impostor_plugin")

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        register(clone)

    impostor.alliancekit_register_measures = alliancekit_register_measures  # type: ignore[attr-defined]
    with pytest.raises(PluginError) as caught:
        measure_registry(impostor)
    message = str(caught.value)
    assert "ors version 1.0" in message
    assert "'alliancekit.measures.builtin'" in message
    assert "'impostor_plugin'" in message


def test_a_bad_definition_from_a_plugin_is_refused_before_it_is_registered(definition: Any) -> None:
    bad = definition("gad-7-1.0")
    bad["id"] = "gad-7-bad"
    bad["items"][0]["max"] = -1

    class Broken:
        @hookimpl
        def alliancekit_register_measures(self, register: Any) -> None:
            register(bad)

    with pytest.raises(MeasureDefinitionError) as caught:
        measure_registry(Broken())
    assert caught.value.field == "$.items[0].max"


def test_versions_and_latest(definition: Any) -> None:
    registry = MeasureRegistry()
    for version in ("1.0", "1.10", "1.9"):
        d = definition("gad-7-1.0")
        d["version"] = version
        registry.add(d, "test")
    assert registry.latest_version("gad-7") == "1.10"
    assert registry.get("gad-7").version == "1.10"
    with pytest.raises(UnknownMeasure):
        registry.get("gad-7", "2.0")
    with pytest.raises(UnknownMeasure):
        registry.latest_version("nope")


def test_a_registered_definition_cannot_be_changed_by_its_plugin(definition: Any) -> None:
    d = definition("gad-7-1.0")
    registry = MeasureRegistry()
    registry.add(d, "test")
    d["items"][0]["max"] = 99
    d["norms"][0]["clinical_cutoff"]["value"] = 0
    assert registry.get("gad-7").definition["items"][0]["max"] == 3
    assert registry.get("gad-7").clinical_cutoff == 10


def test_non_json_numbers_in_a_definition_are_refused(definition: Any) -> None:
    d = definition("gad-7-1.0")
    d["norms"][0]["reliable_change"]["points"] = float("inf")
    with pytest.raises(MeasureDefinitionError) as caught:
        MeasureRegistry().add(d, "test")
    assert (caught.value.field, caught.value.rule) == ("$", "json")


#: The SHA-256 of every built-in definition as a store keeps it. A published definition never changes under
#: its version, not even a citation's wording: a store that has used it refuses the same id and version with
#: another hash (``MeasureDefinitionChanged``), so every practice that used it would stop taking it. A change
#: is a new version (gad-7 1.1), added here with its own hash.
PUBLISHED = {
    "ors-1.0": "25a42eea2661e4759b87aa313d750bc8ac432009b38e76757903634f66ff8d8e",
    "srs-1.0": "8682b095795328ee278ae9df5e4ca3192080b5f5c2fe865611afab2258f9d7b7",
    "wai-sr-1.0": "fdbb9acde603f6855308068d7b889094d71e7e388f20b8b217cc2bb75a1f9561",
    "phq-9-1.0": "f244add29b16e32e4c8136f92ec5db9a0d0e4897dd860e73d2c22dc69f059f09",
    "gad-7-1.0": "f4a983dd321a374680d3be332fcc04354d56ce2aea88bf47d22f73ff85ee0c1a",
    "gad-7-1.1": "be80bf429b6f6b413a1403c6607e07b0eed9b4926e0fafd7a76d3cd5258c9e22",
    "gad-7-1.2": "67328f1812e0cfba0752e9f4c0a928e8d2853a77580bf058fc4f74ec3c5644cc",
    "core-10-1.0": "263de9987ef8552113b242d2b3588cfc2d2333e759b765ff95d32f5b8901b7b8",
    "cors-1.0": "b876f43dcac5bd10e26da7876824d12f9c164fb32e11c971bae1c8545cff8f21",
    "gsrs-1.0": "52c7b9bc1889c3cce4aac92f4dbcdef220889a6ecf523cf296e86eab4f50cc02",
}


def test_every_builtin_definition_is_pinned() -> None:
    assert set(PUBLISHED) == set(BUILTIN_MEASURES)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_a_published_definition_is_never_edited(name: str) -> None:
    assert stored_definition(parse_definition(load_builtin_definition(name))).sha256 == PUBLISHED[name]


class _RegistersADuplicateKey:
    @hookimpl
    def alliancekit_register_measures(self, register: Callable[[dict[str, Any]], None]) -> None:
        definition = dict(load_builtin_definition("phq-9-1.0"))
        definition["id"] = "probe"
        definition["items"] = [dict(item) for item in definition["items"]]
        definition["items"][1]["key"] = definition["items"][0]["key"]
        register(definition)


def test_measure_registry_names_an_object_plugin_as_the_plugin_host_does() -> None:
    """The refusal names the plugin readably (its class), as ``make_plugin_host`` would, not by ``id()``."""
    with pytest.raises(MeasureDefinitionError) as refused:
        measure_registry(_RegistersADuplicateKey())
    assert refused.value.plugin == f"{__name__}._RegistersADuplicateKey"
    assert f"plugin '{__name__}._RegistersADuplicateKey'" in str(refused.value)


_GAD_7_ITEM_2 = ["LA6568-5", "LA6569-3", "LA18938-3", "LA6571-9"]


@pytest.mark.parametrize(
    ("mutate", "field", "rule"),
    [
        (lambda d: d["items"][1].update(loinc_answers=[]), "$.items[1].loinc_answers", "minItems"),
        (
            lambda d: d["items"][1].update(loinc_answers=["LA6568-5", "LA6569-3", "LA18938", "LA6571-9"]),
            "$.items[1].loinc_answers[2]",
            "pattern",
        ),
        (
            lambda d: d["items"][1].update(loinc_answers=["LA6568-5", "LA6568-5", "LA18938-3", "LA6571-9"]),
            "$.items[1].loinc_answers",
            "uniqueItems",
        ),
        (  # one short: which answer would the last option be coded with?
            lambda d: d["items"][1].update(loinc_answers=_GAD_7_ITEM_2[:3]),
            "$.items[1].loinc_answers",
            "count",
        ),
        (  # one over, as well
            lambda d: d["items"][1].update(loinc_answers=[*_GAD_7_ITEM_2, "LA6572-7"]),
            "$.items[1].loinc_answers",
            "count",
        ),
        (  # the measure's own answers uncoded: an item's list would code one item only
            lambda d: d["answer_options"][3].pop("loinc"),
            "$.items[1].loinc_answers",
            "coded",
        ),
        (
            lambda d: d["items"][1].update(loinc_answers=["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]),
            "$.items[1].loinc_answers",
            "differs",
        ),
        (  # LA6570-1 is the measure's third answer: on item 2 it would name the second
            lambda d: d["items"][1].update(loinc_answers=["LA6568-5", "LA6570-1", "LA18938-3", "LA6571-9"]),
            "$.items[1].loinc_answers[1]",
            "position",
        ),
        (  # LA18938-3 is item 2's third answer: on item 3 it may not name the second
            lambda d: d["items"][2].update(loinc_answers=["LA6568-5", "LA18938-3", "LA6570-1", "LA6571-9"]),
            "$.items[2].loinc_answers[1]",
            "position",
        ),
        (  # a misspelt name is no list at all: refused, not ignored
            lambda d: d["items"][1].update(loinc_answer=_GAD_7_ITEM_2),
            "$.items[1].loinc_answer",
            "additionalProperties",
        ),
    ],
)
def test_a_malformed_item_answer_list_is_refused_with_path_and_rule(
    definition: Any, mutate: Any, field: str, rule: str
) -> None:
    d = definition("gad-7-1.2")
    mutate(d)
    with pytest.raises(MeasureDefinitionError) as caught:
        MeasureRegistry().add(d, "test")
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_an_item_answer_list_is_read_onto_its_item(registry: MeasureRegistry) -> None:
    items = registry.get("gad-7", "1.2").items
    assert [item.loinc_answers for item in items] == [(), tuple(_GAD_7_ITEM_2), (), (), (), (), ()]
    others = [item for m, v in registry if m != "gad-7" for item in registry.get(m, v).items]
    assert not any(item.loinc_answers for item in others)
