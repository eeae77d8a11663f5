"""``MeasureRegistry.response_problems`` lists every problem of a response, not only the first the scorer
meets: each once, by JSON path and rule, in a stable order, never echoing a value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alliancekit.errors import ResponseError, UnknownMeasure
from alliancekit.measures.registry import MeasureRegistry

CANARY = 918273645  # an answer no message may show
WORD = "CANARY-word-5150"


def _problems(registry: MeasureRegistry, measure_id: str, answers: dict[str, Any]) -> list[tuple[str, str]]:
    document = json.dumps({"answers": answers}).encode()
    found = registry.response_problems(measure_id, "1.0", document)
    assert all(isinstance(p, ResponseError) for p in found)
    text = " ".join(str(p) for p in found) + repr(found)
    assert str(CANARY) not in text
    assert WORD not in text
    return [(p.field, p.rule) for p in found]


def _phq9(**changed: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {f"q{i}": 1 for i in range(1, 10)}
    answers.update(changed)
    return {k: v for k, v in answers.items() if v is not None}


def test_two_problems_are_both_listed(registry: MeasureRegistry) -> None:
    # the scorer stops at q2: the old refusal named only it
    with pytest.raises(ResponseError, match=r"\$\.answers\.q2: maximum"):
        registry.score_json("phq-9", "1.0", json.dumps({"answers": _phq9(q2=CANARY, q5=-1)}))
    assert _problems(registry, "phq-9", _phq9(q2=CANARY, q5=-1)) == [
        ("$.answers.q2", "maximum"),
        ("$.answers.q5", "minimum"),
    ]


def test_three_problems_of_three_rules_each_once(registry: MeasureRegistry) -> None:
    answers = _phq9(q1=WORD, q3=CANARY, q9=None, q8=None)  # two items absent: one `required` problem
    assert _problems(registry, "phq-9", answers) == [
        ("$.answers.q1", "type"),
        ("$.answers.q3", "maximum"),
        ("$.answers", "required"),
    ]
    (required,) = (
        p
        for p in registry.response_problems("phq-9", "1.0", json.dumps({"answers": answers}))
        if p.rule == "required"
    )
    assert required.detail == "items q8, q9 are missing"  # the measure's own item keys


def test_the_order_does_not_follow_the_documents_key_order(registry: MeasureRegistry) -> None:
    answers = _phq9(q1=WORD, q3=CANARY, q7=-1, q9=None)
    reversed_answers = dict(reversed(list(answers.items())))
    assert list(reversed_answers) != list(answers)
    assert _problems(registry, "phq-9", reversed_answers) == _problems(registry, "phq-9", answers)
    assert _problems(registry, "phq-9", answers) == [
        ("$.answers.q1", "type"),
        ("$.answers.q3", "maximum"),
        ("$.answers.q7", "minimum"),
        ("$.answers", "required"),
    ]


def test_top_level_problems_are_listed_with_the_answers(registry: MeasureRegistry) -> None:
    document = {"answers": _phq9(q4=CANARY), "measure": "gad-7", str(CANARY): 1}
    found = registry.response_problems("phq-9", "1.0", json.dumps(document))
    assert [(p.field, p.rule) for p in found] == [
        ("$", "additionalProperties"),
        ("$.measure", "const"),
        ("$.answers.q4", "maximum"),
    ]
    assert str(CANARY) not in " ".join(map(str, found))


def test_a_valid_response_has_none(registry: MeasureRegistry) -> None:
    assert registry.response_problems("phq-9", "1.0", json.dumps({"answers": _phq9()})) == ()


def test_an_unreadable_document_is_one_problem(registry: MeasureRegistry) -> None:
    found = registry.response_problems("phq-9", "1.0", b'{"answers": {"q1": ' + WORD.encode())
    assert [(p.field, p.rule) for p in found] == [("$", "json")]
    assert WORD not in str(found[0])


def test_a_refusal_of_the_scoring_rule_alone_is_listed(registry: MeasureRegistry) -> None:
    # CORE-10 prorates one missing item (max_missing 1): two missing is the scorer's refusal, not the schema's
    answers = {f"q{i}": 1 for i in range(1, 9)}
    with pytest.raises(ResponseError) as refused:
        registry.score_json("core-10", "1.0", json.dumps({"answers": answers}))
    found = registry.response_problems("core-10", "1.0", json.dumps({"answers": answers}))
    assert [(p.field, p.rule) for p in found] == [(refused.value.field, refused.value.rule)]
    answers["q9"] = 1  # one missing: prorated, valid
    assert registry.response_problems("core-10", "1.0", json.dumps({"answers": answers})) == ()


def test_an_unknown_measure_is_refused_not_listed(registry: MeasureRegistry) -> None:
    with pytest.raises(UnknownMeasure):
        registry.response_problems("nope", "1.0", b"{}")
