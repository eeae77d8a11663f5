"""An item may allow "not applicable" (``"allows_na": true``): the answer ``"na"`` is validated, left out of
the total as the measure's missing-data rule leaves out a missing answer, recorded apart from missing
answers, and refused for items that do not allow it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from alliancekit import hookimpl
from alliancekit.errors import MeasureDefinitionError, ResponseError
from alliancekit.measures import NOT_APPLICABLE
from alliancekit.measures.definition import parse_definition
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.measures.validation import reference_validator
from alliancekit.testing.measures import MeasureContract, measure_registry

DEFINITION: dict[str, Any] = {
    "id": "test-na",
    "version": "1.0",
    "title": "A synthetic measure with a not-applicable item",
    "kind": "symptom",
    "direction": "higher-is-worse",
    "licence": {"notice": "Synthetic, for tests.", "item_text": False, "cite": {"ref": "tests"}},
    "references": {"tests": "alliancekit test suite (synthetic)"},
    "source": {"ref": "tests"},
    "items": [
        {"key": "q1", "label": "First", "min": 0, "max": 4, "step": 1},
        {"key": "q2", "label": "Work, if employed", "min": 0, "max": 4, "step": 1, "allows_na": True},
        {"key": "q3", "label": "Third", "min": 0, "max": 4, "step": 1},
        {"key": "q4", "label": "Risk", "min": 0, "max": 4, "step": 1},
    ],
    "scoring": {
        "method": "sum",
        "missing": {"policy": "prorate", "max_missing": 1, "cite": {"ref": "tests", "detail": "prorate one"}},
    },
    "range": {"min": 0, "max": 16},
    "risk_items": [{"item": "q4", "threshold": 3, "cite": {"ref": "tests"}}],
    "examples": [
        {"answers": {"q1": 1, "q2": 2, "q3": 3, "q4": 0}, "total": 6},
        {"answers": {"q1": 1, "q2": "na", "q3": 3, "q4": 2}, "total": 8, "description": "q2 not applicable"},
    ],
}


class _Plugin:
    def __init__(self, definition: dict[str, Any]) -> None:
        self.definition = definition

    @hookimpl
    def alliancekit_register_measures(self, register: Any) -> None:
        register(self.definition)


@pytest.fixture(scope="module")
def na_registry() -> MeasureRegistry:
    return measure_registry(_Plugin(DEFINITION), builtins=False)


def _score(registry: MeasureRegistry, **answers: Any) -> Any:
    return registry.score("test-na", "1.0", answers)


def test_na_is_left_out_as_missing_is_and_recorded_apart(na_registry: MeasureRegistry) -> None:
    na = _score(na_registry, q1=1, q2=NOT_APPLICABLE, q3=3, q4=2)
    missing = _score(na_registry, q1=1, q2=None, q3=3, q4=2)
    # the missing-data rule (prorate one item) scores both: the mean of three answers stands in for q2
    assert na.total == missing.total == (1 + 3 + 2) * 4 / 3
    assert na.prorated
    assert missing.prorated
    assert na.not_applicable == ("q2",)
    assert missing.not_applicable == ()
    assert na.to_json()["not_applicable"] == ["q2"]
    complete = _score(na_registry, q1=1, q2=2, q3=3, q4=2)
    assert (complete.total, complete.prorated, complete.not_applicable) == (8, False, ())


def test_na_counts_against_the_missing_data_rule(na_registry: MeasureRegistry) -> None:
    with pytest.raises(ResponseError) as caught:
        _score(na_registry, q1=None, q2=NOT_APPLICABLE, q3=3, q4=2)  # two items unanswered, one allowed
    assert (caught.value.field, caught.value.rule) == ("$.answers", "maxMissing")


@pytest.mark.parametrize("item", ["q1", "q3", "q4"])
def test_na_is_refused_for_items_that_do_not_allow_it(na_registry: MeasureRegistry, item: str) -> None:
    answers: dict[str, Any] = {"q1": 1, "q2": 2, "q3": 3, "q4": 0, item: NOT_APPLICABLE}
    with pytest.raises(ResponseError) as caught:
        na_registry.score("test-na", "1.0", answers)
    assert (caught.value.field, caught.value.rule) == (f"$.answers.{item}", "type")
    assert "does not allow N/A" in str(caught.value)


@pytest.mark.parametrize("bad", ["NA", "n/a", "na\n", " na", "", "not applicable", "2"])
def test_only_the_exact_na_string_is_accepted(na_registry: MeasureRegistry, bad: str) -> None:
    with pytest.raises(ResponseError) as caught:
        _score(na_registry, q1=1, q2=bad, q3=3, q4=0)
    assert (caught.value.field, caught.value.rule) == ("$.answers.q2", "const")
    assert repr(bad) not in str(caught.value)


@pytest.mark.parametrize(
    "answers",
    [
        {"q1": 1, "q2": "na", "q3": 3, "q4": 0},
        {"q1": 1, "q2": "NA", "q3": 3, "q4": 0},
        {"q1": 1, "q2": "na\n", "q3": 3, "q4": 0},
        {"q1": "na", "q2": 2, "q3": 3, "q4": 0},
        {"q1": 1, "q2": 5, "q3": 3, "q4": 0},
        {"q1": 1, "q2": None, "q3": 3, "q4": 0},
        {"q1": 1, "q2": True, "q3": 3, "q4": 0},
        {"q1": 1, "q2": ["na"], "q3": 3, "q4": 0},
        {"q1": 1, "q2": 2.5, "q3": 3, "q4": 0},
    ],
)
def test_both_engines_agree_on_na_answers(na_registry: MeasureRegistry, answers: dict[str, Any]) -> None:
    reference = reference_validator(na_registry.response_schema("test-na", "1.0"))
    errors = list(reference.iter_errors({"answers": answers}))
    compiled: list[tuple[str, str]] = []
    try:
        na_registry.entry("test-na", "1.0").validate_document({"answers": answers})
    except ResponseError as exc:
        compiled.append((exc.field, exc.rule))
    assert [(str(e.json_path), str(e.validator)) for e in errors] == compiled


def test_a_response_document_may_carry_na(na_registry: MeasureRegistry) -> None:
    score = na_registry.score_json("test-na", "1.0", '{"answers": {"q1": 1, "q2": "na", "q3": 3, "q4": 0}}')
    assert score.not_applicable == ("q2",)


def _changed(change: Any) -> dict[str, Any]:
    definition = copy.deepcopy(DEFINITION)
    change(definition)
    return definition


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        # without a prorating rule there is no way to score the item left out
        (
            lambda d: d["scoring"].update(missing={"policy": "refuse"}),
            "$.items[1].allows_na",
            "missing-policy",
        ),
        # a risk item must be answered
        (lambda d: d["items"][3].update(allows_na=True), "$.risk_items[0].item", "not-applicable"),
        (lambda d: d["items"][0].update(allows_na="yes"), "$.items[0].allows_na", "type"),
        # an example may use "na" only as an answer the schema allows
        (lambda d: d["examples"][1]["answers"].update(q2="NA"), "$.examples[1].answers.q2", "anyOf"),
    ],
)
def test_definition_rules_for_na(change: Any, field: str, rule: str) -> None:
    with pytest.raises(MeasureDefinitionError) as caught:
        parse_definition(_changed(change))
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_an_example_with_na_on_an_item_that_does_not_allow_it_is_refused() -> None:
    definition = _changed(lambda d: d["examples"][1]["answers"].update(q1="na", q2=2))
    with pytest.raises(MeasureDefinitionError) as caught:  # registration runs the examples, as `check` does
        measure_registry(_Plugin(definition), builtins=False)
    assert caught.value.field == "$.examples[1].answers"


class TestNotApplicableMeasure(MeasureContract):
    """The measure contract holds for a measure with an N/A item (N/A checked there too)."""

    plugin = _Plugin(DEFINITION)
    measure_id = "test-na"
    version = "1.0"
