"""What a refusal tells the person who has to mend it: the bound an answer broke, why a null answer is
refused, and which property of a definition the format does not define (each found by writing a measure
plugin from the guide alone)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

import alliancekit
from alliancekit.errors import MeasureDefinitionError, PluginMeasureDefinitionError, ResponseError
from alliancekit.measures.registry import MeasureRegistrar, MeasureRegistry
from alliancekit.measures.validation import check_against_meta_schema, reference_validator
from alliancekit.testing.measures import measure_registry

PHQ9 = {f"q{i}": 1 for i in range(1, 10)}


class _Number(int):
    """An int subclass (as numpy scalars and enums are): checked by the slow path of the compiled engine."""


def _refusal(registry: MeasureRegistry, measure_id: str, answers: dict[str, Any]) -> ResponseError:
    with pytest.raises(ResponseError) as caught:
        registry.score(measure_id, "1.0", answers)
    return caught.value


@pytest.mark.parametrize("wrap", [int, _Number], ids=["int", "int-subclass"])
def test_an_item_answer_out_of_bounds_says_the_bound(registry: MeasureRegistry, wrap: type[int]) -> None:
    # PHQ-9 items run 0-3: both ends are accepted, one beyond each is refused with the end it broke
    for edge in (0, 3):
        assert registry.score("phq-9", "1.0", PHQ9 | {"q2": wrap(edge)}).total is not None
    above = _refusal(registry, "phq-9", PHQ9 | {"q2": wrap(4)})
    assert (above.field, above.rule, str(above)) == (
        "$.answers.q2",
        "maximum",
        "$.answers.q2: maximum (at most 3)",
    )
    below = _refusal(registry, "phq-9", PHQ9 | {"q2": wrap(-1)})
    assert (below.field, below.rule, str(below)) == (
        "$.answers.q2",
        "minimum",
        "$.answers.q2: minimum (at least 0)",
    )


def _one_item(maximum: float) -> dict[str, Any]:
    """A synthetic one-item measure whose item's maximum has six decimal places."""
    return {
        "id": "synthetic-bound",
        "version": "1.0",
        "title": "Synthetic bound check",
        "kind": "outcome",
        "direction": "higher-is-better",
        "licence": {"notice": "Synthetic, for tests.", "item_text": False, "cite": {"ref": "s"}},
        "references": {"s": "Synthetic reference."},
        "source": {"ref": "s"},
        "items": [{"key": "q1", "label": "One", "min": 0, "max": maximum, "step": 0.000001}],
        "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
        "range": {"min": 0, "max": maximum},
    }


def test_a_fractional_bound_is_said_exactly() -> None:
    class Plugin:
        @alliancekit.hookimpl
        def alliancekit_register_measures(self, register: MeasureRegistrar) -> None:
            register(_one_item(10.123456))

    registry = measure_registry(Plugin(), builtins=False)
    assert registry.score("synthetic-bound", "1.0", {"q1": 10.123456}).total == pytest.approx(10.123456)
    refused = _refusal(registry, "synthetic-bound", {"q1": 10.123457})
    assert str(refused) == "$.answers.q1: maximum (at most 10.123456)"  # not 10.1235, as :g would say


def test_a_null_answer_a_measure_cannot_miss_says_its_missing_data_rule(registry: MeasureRegistry) -> None:
    refused = _refusal(registry, "phq-9", PHQ9 | {"q3": None})
    assert (refused.field, refused.rule) == ("$.answers.q3", "type")
    assert "missing-data rule refuses missing answers" in str(refused)
    assert "integer" not in str(refused)  # a null is not a wrongly typed number
    # the reference engine refuses the same document (by the same keyword: null is not an integer)
    reference = reference_validator(registry.response_schema("phq-9", "1.0"))
    assert not reference.is_valid({"answers": PHQ9 | {"q3": None}})
    # a measure that prorates takes the same null as a missing answer
    core10 = {f"q{i}": 1 for i in range(1, 11)}
    assert registry.score("core-10", "1.0", core10 | {"q4": None}).total is not None


@pytest.mark.parametrize(
    ("where", "path"),
    [
        (lambda d: d, "$.refrences"),
        (lambda d: d["items"][1], "$.items[1].refrences"),
        (lambda d: d["scoring"]["missing"], "$.scoring.missing.refrences"),
    ],
    ids=["top", "item", "nested"],
)
def test_an_undefined_property_of_a_definition_is_named_in_the_path(
    definition: Callable[[], dict[str, Any]], where: Callable[[dict[str, Any]], dict[str, Any]], path: str
) -> None:
    bad = definition()
    check_against_meta_schema(copy.deepcopy(bad))  # valid as loaded
    where(bad)["refrences"] = {}
    with pytest.raises(MeasureDefinitionError) as caught:
        check_against_meta_schema(bad)
    assert (caught.value.field, caught.value.rule) == (path, "additionalProperties")


def test_a_property_name_that_reads_as_no_property_is_not_echoed(
    definition: Callable[[], dict[str, Any]],
) -> None:
    bad = definition()
    bad["a name, with spaces: (not a property)"] = 1
    with pytest.raises(MeasureDefinitionError) as caught:
        check_against_meta_schema(bad)
    assert (caught.value.field, caught.value.rule) == ("$.?", "additionalProperties")
    assert "spaces" not in str(caught.value)


def test_a_plugin_registering_an_undefined_property_is_told_which(
    definition: Callable[[], dict[str, Any]],
) -> None:
    bad = definition()
    bad["id"], bad["items"][0]["lable"] = "synthetic-typo", "Interest"

    class Plugin:
        @alliancekit.hookimpl
        def alliancekit_register_measures(self, register: MeasureRegistrar) -> None:
            register(bad)

    with pytest.raises(PluginMeasureDefinitionError) as caught:
        measure_registry(Plugin())
    assert (caught.value.field, caught.value.rule) == ("$.items[0].lable", "additionalProperties")


@pytest.mark.parametrize(
    ("change", "path", "says"),
    [
        (  # an example's answer that is neither a number, null nor "na": the forms, not the value
            lambda d: d["examples"][0]["answers"].update(q1="a client's words"),
            "$.examples[0].answers.q1",
            'anyOf (must be a number or null, or "na")',
        ),
        (  # a response schema that is not a JSON Schema: said like a definition's own failure
            lambda d: d.update(response_schema={"type": "object", "minProperties": -1}),
            "$.response_schema.minProperties",
            "minimum (at least 0)",
        ),
        (  # type is a name or a list of names: two forms JSON Schema's meta-schema allows
            lambda d: d.update(response_schema={"type": 5}),
            "$.response_schema.type",
            "anyOf (matches none of the 2 forms allowed here)",
        ),
    ],
    ids=["example-answer", "response-schema-bound", "response-schema-type"],
)
def test_a_refusal_by_anyof_or_of_a_response_schema_says_what_is_allowed(
    definition: Callable[[], dict[str, Any]],
    change: Callable[[dict[str, Any]], object],
    path: str,
    says: str,
) -> None:
    # Before, both said only the rule ("$.examples[0].answers.q1: anyOf", "...minProperties: minimum").
    bad = definition()
    change(bad)
    with pytest.raises(MeasureDefinitionError) as caught:
        check_against_meta_schema(bad)
    assert caught.value.field == path
    assert str(caught.value) == f"{path}: {says}"
    assert "client" not in str(caught.value)
