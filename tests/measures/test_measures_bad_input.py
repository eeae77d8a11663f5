"""Bad input is refused with a clear library error, nothing echoed, no crash."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alliancekit.errors import (
    AlliancekitError,
    MeasureDefinitionError,
    ResponseError,
    UnknownMeasure,
)
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.measures.validation import (
    DEFINITION_LIMITS,
    RESPONSE_LIMITS,
    load_json,
)

CLIENT_TEXT = "client-said-something-private"
ORS = {"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5}


def test_unknown_measure(registry: MeasureRegistry) -> None:
    with pytest.raises(UnknownMeasure) as caught:
        registry.score("oq-45", "1.0", ORS)
    assert isinstance(caught.value, LookupError)
    assert "oq-45" in str(caught.value)


def test_wrong_version(registry: MeasureRegistry) -> None:
    with pytest.raises(UnknownMeasure, match=r"ors version 9\.9"):
        registry.score("ors", "9.9", ORS)
    with pytest.raises(UnknownMeasure):
        registry.score("ors", None, ORS)  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "rule"), [(10.1, "maximum"), (-0.1, "minimum"), (1e300, "maximum")])
def test_answer_out_of_range(registry: MeasureRegistry, value: float, rule: str) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score("ors", "1.0", ORS | {"socially": value})
    assert (caught.value.field, caught.value.rule) == ("$.answers.socially", rule)
    assert str(value) not in str(caught.value)


def test_missing_item(registry: MeasureRegistry) -> None:
    answers = dict(ORS)
    del answers["overall"]
    with pytest.raises(ResponseError) as caught:
        registry.score("ors", "1.0", answers)
    assert (caught.value.field, caught.value.rule) == ("$.answers", "required")
    assert "overall" in str(caught.value)  # the item key is the definition's, not client data


def test_string_where_a_number_belongs(registry: MeasureRegistry) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score("ors", "1.0", ORS | {"overall": CLIENT_TEXT})
    assert (caught.value.field, caught.value.rule) == ("$.answers.overall", "type")
    assert CLIENT_TEXT not in str(caught.value)
    assert CLIENT_TEXT not in repr(caught.value)


def test_string_in_a_json_document_is_not_echoed(registry: MeasureRegistry) -> None:
    doc = json.dumps({"answers": ORS | {"overall": CLIENT_TEXT}})
    with pytest.raises(ResponseError) as caught:
        registry.score_json("ors", "1.0", doc)
    assert CLIENT_TEXT not in str(caught.value)
    assert caught.value.field == "$.answers.overall"


def test_unknown_answer_key_is_not_echoed(registry: MeasureRegistry) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score("ors", "1.0", ORS | {CLIENT_TEXT: 1})
    assert caught.value.rule == "additionalProperties"
    assert CLIENT_TEXT not in str(caught.value)


def test_ten_megabyte_document(registry: MeasureRegistry) -> None:
    doc = b'{"answers": {"overall": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    with pytest.raises(ResponseError) as caught:
        registry.score_json("ors", "1.0", doc)
    assert (caught.value.field, caught.value.rule) == ("$", "maxBytes")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_document_nested_ten_thousand_deep(registry: MeasureRegistry, opening: str) -> None:
    closing = "]" if opening == "[" else "}"
    doc = opening * 10_000 + "1" + closing * 10_000
    with pytest.raises(ResponseError) as caught:
        registry.score_json("ors", "1.0", doc)
    assert (caught.value.field, caught.value.rule) == ("$", "maxDepth")
    with pytest.raises(MeasureDefinitionError) as caught_def:
        load_json(doc, DEFINITION_LIMITS, MeasureDefinitionError)
    assert caught_def.value.rule == "maxDepth"


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    doc = json.dumps({"s": "[" * 100 + '"' + "{" * 100})
    assert load_json(doc, RESPONSE_LIMITS)["s"].startswith("[[[")


@pytest.mark.parametrize(
    ("doc", "rule"),
    [
        ('{"answers": {"overall": NaN}}', "json"),
        ('{"answers": {"overall": Infinity}}', "json"),
        ('{"answers": ', "json"),
        (b"\xff\xfe{}", "encoding"),
        ('{"answers": {"overall": "' + "y" * 2000 + '"}}', "maxLength"),
    ],
)
def test_malformed_json(registry: MeasureRegistry, doc: Any, rule: str) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score_json("ors", "1.0", doc)
    assert caught.value.rule == rule
    assert "yyyy" not in str(caught.value)


@pytest.mark.parametrize(
    ("document", "field", "rule"),
    [
        ([], "$", "type"),
        ({}, "$", "required"),
        ({"answers": [1, 2, 3, 4]}, "$.answers", "type"),
        ({"answers": ORS, "extra": 1}, "$", "additionalProperties"),
        ({"answers": ORS, "measure": "srs"}, "$.measure", "const"),
        ({"answers": ORS, "version": "2.0"}, "$.version", "const"),
    ],
)
def test_malformed_documents(registry: MeasureRegistry, document: Any, field: str, rule: str) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score_document("ors", "1.0", document)
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_every_refusal_is_an_alliancekit_error_and_nothing_is_registered(registry: MeasureRegistry) -> None:
    before = list(registry)
    for bad in ({"id": "x"}, "not a mapping", {"answers": None}):
        with pytest.raises(AlliancekitError):
            registry.add(bad, "test")  # type: ignore[arg-type]
    assert list(registry) == before


@pytest.mark.parametrize("where", ["references", "source"])
def test_a_definition_given_as_data_nested_ten_thousand_deep(definition: Any, where: str) -> None:
    """A plugin hands its definition over as data, not text: the same depth bound holds (a deep one crashed
    the meta-schema check with RecursionError)."""
    deep: list[Any] = []
    inner = deep
    for _ in range(10_000):
        inner.append([])
        inner = inner[0]
    bad = {**definition(), where: deep}
    with pytest.raises(MeasureDefinitionError) as caught:
        MeasureRegistry().add(bad, "a-plugin")
    assert (caught.value.field, caught.value.rule) == ("$", "maxDepth")


@pytest.mark.parametrize(
    ("text", "rule"), [("K\x00", "control-character"), ("K\ud800", "unicode")], ids=["nul", "surrogate"]
)
@pytest.mark.parametrize("as_text", [False, True], ids=["data", "text"])
def test_a_definition_with_an_unstorable_string_is_refused(
    definition: Any, text: str, rule: str, as_text: bool
) -> None:
    """A NUL or a lone surrogate in a title: no store keeps it the same way (PostgreSQL refuses a NUL), and
    definitions are stored with the records that use them. Refused as the library refuses it elsewhere."""
    bad = {**definition(), "title": text}
    registry = MeasureRegistry()

    def give() -> object:
        if as_text:  # as `alliancekit measures check` reads a file
            return load_json(json.dumps(bad), DEFINITION_LIMITS, MeasureDefinitionError)
        return registry.add(bad, "a-plugin")

    with pytest.raises(MeasureDefinitionError) as caught:
        give()
    assert (caught.value.field, caught.value.rule) == ("$.title", rule)
    assert list(registry) == []
    registry.add({**definition(), "title": "K"}, "a-plugin")  # the same definition, storable: accepted
    assert len(list(registry)) == 1
