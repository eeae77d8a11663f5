"""``alliancekit measures check`` lists every meta-schema failure of a definition, not only the first: each
once, by JSON path and rule, in a stable order, never the definition's value."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from alliancekit.measures.commands import check_definition
from alliancekit.measures.validation import meta_schema_problems

CANARY = "CANARY-direction-2718"


def _lines(text: str) -> list[tuple[str, str]]:
    return [tuple(line.removeprefix("error: ").split(" (")[0].split(": ")) for line in text.splitlines()]  # type: ignore[misc]


def test_three_meta_schema_failures_are_each_listed_once(definition: Callable[..., dict[str, Any]]) -> None:
    broken = definition()
    broken["direction"] = CANARY
    broken["items"][2]["max"] = CANARY
    del broken["title"]
    code, text, _ = check_definition(json.dumps(broken))
    assert code == 1
    assert _lines(text) == [("$", "required"), ("$.direction", "enum"), ("$.items[2].max", "type")]
    assert CANARY not in text


def test_the_order_does_not_follow_the_documents_key_order(definition: Callable[..., dict[str, Any]]) -> None:
    broken = definition()
    broken["direction"] = CANARY
    broken["refrences"] = CANARY
    shuffled = dict(reversed(list(broken.items())))
    assert check_definition(json.dumps(shuffled)) == check_definition(json.dumps(broken))
    found = [(p.field, p.rule) for p in meta_schema_problems(broken)]
    assert found == [("$.refrences", "additionalProperties"), ("$.direction", "enum")]


def test_a_refusal_past_the_meta_schema_is_listed_alone(definition: Callable[..., dict[str, Any]]) -> None:
    broken = definition()
    broken["examples"][0]["total"] += 1  # the meta-schema passes; the example's total is wrong
    code, text, _ = check_definition(json.dumps(broken))
    assert code == 1
    assert _lines(text) == [("$.examples[0].total", "example")]


def test_a_document_that_is_not_json_is_one_problem() -> None:
    code, text, _ = check_definition(b'{"id": ' + CANARY.encode())
    assert code == 1
    assert _lines(text) == [("$", "json")]
    assert CANARY not in text
