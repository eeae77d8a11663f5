"""SDC Questionnaires of every measure (built-in and the K10 plugin): answer options whose ordinal values are
the scores, ``required``, codes, the calculated total, bounds of visual-analogue items, the licence, the FHIR
R4 schema, and QuestionnaireResponses read back to answers (bad ones refused)."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest

from alliancekit.errors import ResponseError
from alliancekit.fhir.codes import LOINC
from alliancekit.fhir.sdc import (
    CALCULATED_EXPRESSION,
    ITEM_WEIGHT,
    ORDINAL_VALUE,
    answer_system,
    answers_from_response,
    sdc_questionnaire,
    sdc_response,
    total_expressions,
)
from alliancekit.fhir.validate import R4Schema
from alliancekit.measures import Measure, parse_definition
from alliancekit.measures.builtin import BUILTIN_MEASURES, load_builtin_definition
from alliancekit.measures.scoring import compile_scorer


def _k10() -> Measure:
    text = (files("alliancekit_measure_k10") / "k10-1.0.json").read_text("utf-8")
    return parse_definition(json.loads(text))


MEASURES = {name: parse_definition(load_builtin_definition(name)) for name in BUILTIN_MEASURES}
MEASURES["k10-1.0"] = _k10()


@pytest.fixture(scope="module")
def schema() -> R4Schema:
    return R4Schema()


def _ext(element: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [e for e in element.get("extension", []) if e["url"] == url]


def _items(q: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["linkId"]: item for item in q["item"]}


@pytest.mark.parametrize("name", MEASURES)
def test_every_questionnaire_validates_against_the_r4_schema(schema: R4Schema, name: str) -> None:
    assert schema.check(sdc_questionnaire(MEASURES[name])) == []
    assert schema.check(sdc_response(MEASURES[name], {})) == []


@pytest.mark.parametrize("name", MEASURES)
def test_ordinal_values_are_the_scores(name: str) -> None:
    """Moving one item from its first option to another changes alliancekit's total by exactly the difference
    of the two options' ordinal values: the weights are the scores, reverse keying included."""
    measure = MEASURES[name]
    score = compile_scorer(measure)
    items = _items(sdc_questionnaire(measure))
    lowest = {item.key: item.min for item in measure.items}
    base = score(lowest).total
    for item in measure.items:
        if not item.integral:
            continue
        entry = items[item.key]
        assert entry["type"] == "choice"
        assert len(entry["answerOption"]) == int(item.max - item.min) + 1
        first = _ext(entry["answerOption"][0], ORDINAL_VALUE)[0]["valueDecimal"]
        for option in entry["answerOption"]:
            (ordinal,) = _ext(option, ORDINAL_VALUE)
            (weight,) = _ext(option, ITEM_WEIGHT)
            assert _ext(option["valueCoding"], ORDINAL_VALUE) == [ordinal]
            assert weight["valueDecimal"] == ordinal["valueDecimal"]
            response = {"item": [{"linkId": item.key, "answer": [{"valueCoding": option["valueCoding"]}]}]}
            position = answers_from_response(measure, response)[item.key]
            assert score(lowest | {item.key: position}).total == base - first + ordinal["valueDecimal"]


def test_core_10_reverse_keyed_items_weigh_positions_reversed() -> None:
    items = _items(sdc_questionnaire(MEASURES["core-10-1.0"]))
    weights = [_ext(o, ORDINAL_VALUE)[0]["valueDecimal"] for o in items["q2"]["answerOption"]]
    codes = [o["valueCoding"]["code"] for o in items["q2"]["answerOption"]]
    assert codes == ["0", "1", "2", "3", "4"]
    assert weights == [4, 3, 2, 1, 0]
    forward = [_ext(o, ORDINAL_VALUE)[0]["valueDecimal"] for o in items["q1"]["answerOption"]]
    assert forward == [0, 1, 2, 3, 4]


def test_phq_9_carries_its_text_loinc_codes_and_answers() -> None:
    q = sdc_questionnaire(MEASURES["phq-9-1.0"])
    items = _items(q)
    assert q["code"][0]["code"] == "44249-1"
    assert items["instructions"]["type"] == "display"
    assert items["q1"]["text"] == "Little interest or pleasure in doing things"
    assert items["q1"]["code"] == [{"system": "http://loinc.org", "code": "44250-9"}]
    assert items["q9"]["code"][0]["code"] == "44260-8"
    assert [o["valueCoding"]["code"] for o in items["q1"]["answerOption"]] == [
        "LA6568-5",
        "LA6569-3",
        "LA6570-1",
        "LA6571-9",
    ]
    assert items["q1"]["answerOption"][0]["valueCoding"]["display"] == "Not at all"
    assert all(items[f"q{n}"]["required"] is True for n in range(1, 10))
    total = items["total"]
    assert total["readOnly"] is True
    assert total["type"] == "integer"
    assert total["code"][0]["code"] == "44261-6"
    (calculated,) = _ext(total, CALCULATED_EXPRESSION)
    assert calculated["valueExpression"]["language"] == "text/fhirpath"
    assert calculated["valueExpression"]["expression"] == "iif(%scores.count() >= 9, %scores.sum())"
    assert "PHQ-9" in q["copyright"]


@pytest.mark.parametrize("name", ["ors-1.0", "srs-1.0", "wai-sr-1.0", "core-10-1.0", "cors-1.0", "gsrs-1.0"])
def test_licensed_measures_keep_labels_only(name: str) -> None:
    measure = MEASURES[name]
    q = sdc_questionnaire(measure)
    assert q["copyright"] == measure.licence_notice
    assert "instructions" not in _items(q)
    for item in measure.items:
        assert _items(q)[item.key]["text"] == item.label


def test_visual_analogue_items_are_bounded_decimals() -> None:
    q = sdc_questionnaire(MEASURES["ors-1.0"])
    item = _items(q)["individually"]
    assert item["type"] == "decimal"
    bounds = {e["url"].rsplit("/", 1)[1]: e for e in item["extension"]}
    assert bounds["minValue"]["valueDecimal"] == 0
    assert bounds["maxValue"]["valueDecimal"] == 10
    assert bounds["maxDecimalPlaces"]["valueInteger"] == 1
    total = _items(q)["total"]
    assert total["type"] == "decimal"
    assert total["code"][0] == {
        "system": "https://alliancekit.dev/fhir/CodeSystem/measure-scores",
        "code": "ors-total",
    }


def test_prorated_measure_is_not_required_item_by_item_and_its_total_prorates() -> None:
    measure = MEASURES["core-10-1.0"]
    items = _items(sdc_questionnaire(measure))
    assert all(items[key]["required"] is False for key in measure.item_keys)
    _, total = total_expressions(measure)
    assert total == "iif(%scores.count() >= 9, (%scores.sum() * 10 / %scores.count()).round(6))"


@pytest.mark.parametrize("name", MEASURES)
def test_a_response_reads_back_to_its_answers(name: str) -> None:
    measure = MEASURES[name]
    for example in measure.examples:
        answers = dict(example.answers)
        back = answers_from_response(measure, sdc_response(measure, answers))
        assert back == {key: answers.get(key) for key in measure.item_keys}


@pytest.mark.parametrize(
    ("item", "field", "rule"),
    [
        ({"linkId": "q99", "answer": [{"valueInteger": 1}]}, "$.item[0].linkId", "unknown"),
        ({"linkId": "q1", "answer": [{"valueInteger": 1}]}, "$.item[0].answer[0]", "type"),
        (
            {"linkId": "q1", "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA1-1"}}]},
            None,
            "unknown-code",
        ),
        ({"linkId": "q1", "answer": [{"valueCoding": {"system": "x", "code": "1"}}]}, None, "system"),
        ({"linkId": "q1", "answer": ["1"]}, "$.item[0].answer[0]", "type"),
        (
            {"linkId": "q1", "answer": [{"valueCoding": {}}, {"valueCoding": {}}]},
            "$.item[0].answer",
            "maxItems",
        ),
    ],
)
def test_bad_responses_are_refused_without_echoing(
    item: dict[str, Any], field: str | None, rule: str
) -> None:
    with pytest.raises(ResponseError) as caught:
        answers_from_response(MEASURES["phq-9-1.0"], {"item": [item]})
    assert caught.value.rule == rule
    assert caught.value.field == (field or "$.item[0].answer[0]")
    assert "LA1-1" not in str(caught.value)


@pytest.mark.parametrize("status", ["in-progress", "stopped", "entered-in-error"])
def test_a_response_not_completed_is_refused(status: str) -> None:
    # read as answers before, whatever the status: a form saved half-done, or one entered in error
    phq9 = MEASURES["phq-9-1.0"]
    response = sdc_response(phq9, {f"q{n}": 1 for n in range(1, 10)})
    assert answers_from_response(phq9, response)["q1"] == 1  # completed, as sdc_response writes it
    assert answers_from_response(phq9, {**response, "status": "amended"})["q1"] == 1
    with pytest.raises(ResponseError) as caught:
        answers_from_response(phq9, {**response, "status": status})
    assert (caught.value.field, caught.value.rule) == ("$.status", "not-completed")


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_gad7_item_2_coded_from_loincs_own_answer_list_is_read(version: str) -> None:
    # LOINC's GAD-7 panel (69737-5) answers item 2 (68509-9) with LA18938-3 "More days than not" where the
    # publisher's form has LA6570-1 "More than half the days": an EHR's GAD-7 coded so was refused
    gad7 = MEASURES[f"gad-7-{version}"]
    codes = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]
    items = [
        {"linkId": f"q{n}", "answer": [{"valueCoding": {"system": LOINC, "code": codes[n % 4]}}]}
        for n in range(1, 8)
    ]
    items[1]["answer"] = [{"valueCoding": {"system": LOINC, "code": "LA18938-3"}}]
    assert answers_from_response(gad7, {"item": items}) == {f"q{n}": n % 4 for n in range(1, 8)} | {"q2": 2}
    # only on item 2, and only in the GAD-7: anywhere else it is still no answer of the item's
    cases = ((gad7, 0, "other-item"), (gad7, 2, "other-item"), (MEASURES["phq-9-1.0"], 1, "unknown-code"))
    for measure, index, rule in cases:
        link = f"q{index + 1}"
        coded = [{"linkId": link, "answer": [{"valueCoding": {"system": LOINC, "code": "LA18938-3"}}]}]
        with pytest.raises(ResponseError) as caught:
            answers_from_response(measure, {"item": coded})
        assert caught.value.rule == rule


def test_an_item_answered_twice_is_refused() -> None:
    answer = {"valueCoding": {"system": answer_system("core-10"), "code": "1"}}
    twice = {"item": [{"linkId": "q1", "answer": [answer]}, {"linkId": "q1", "answer": [answer]}]}
    with pytest.raises(ResponseError) as caught:
        answers_from_response(MEASURES["core-10-1.0"], twice)
    assert (caught.value.field, caught.value.rule) == ("$.item[1].linkId", "unique")


def test_a_position_outside_the_item_is_refused() -> None:
    answer = {"valueCoding": {"system": answer_system("core-10"), "code": "5"}}
    with pytest.raises(ResponseError):
        answers_from_response(MEASURES["core-10-1.0"], {"item": [{"linkId": "q1", "answer": [answer]}]})
    inside = {"valueCoding": {"system": answer_system("core-10"), "code": "4"}}
    assert (
        answers_from_response(MEASURES["core-10-1.0"], {"item": [{"linkId": "q1", "answer": [inside]}]})["q1"]
        == 4
    )


def test_a_number_and_a_coding_for_one_item_is_refused() -> None:
    # the coding was read and the number dropped, unseen
    phq9 = MEASURES["phq-9-1.0"]
    coding = {"system": LOINC, "code": "LA6569-3"}
    for answer, rule in (
        ({"valueCoding": coding}, None),
        ({"valueCoding": coding, "valueInteger": 3}, "one-value"),
    ):
        response = {"item": [{"linkId": "q1", "answer": [answer]}]}
        if rule is None:
            assert answers_from_response(phq9, response)["q1"] == 1
            continue
        with pytest.raises(ResponseError) as caught:
            answers_from_response(phq9, response)
        assert (caught.value.field, caught.value.rule) == ("$.item[0].answer[0]", rule)


def test_a_coding_for_a_measure_without_answer_codes_is_refused_by_that_rule() -> None:
    # ORS's items are marks on a line, with no LOINC answers: it said "answered with valueDecimal" only
    ors = MEASURES["ors-1.0"]
    assert answers_from_response(
        ors, {"item": [{"linkId": "overall", "answer": [{"valueDecimal": 6.5}]}]}
    ) == {key: 6.5 if key == "overall" else None for key in ors.item_keys}
    coded = {
        "item": [{"linkId": "overall", "answer": [{"valueCoding": {"system": LOINC, "code": "LA6569-3"}}]}]
    }
    with pytest.raises(ResponseError) as caught:
        answers_from_response(ors, coded)
    assert (caught.value.field, caught.value.rule) == ("$.item[0].answer[0]", "not-coded")
    assert "LA6569" not in str(caught.value)


def test_the_display_of_a_loinc_coding_is_not_checked() -> None:
    coding = {"system": LOINC, "code": "LA6571-9", "display": "Not at all"}  # LA6571-9 is "Nearly every day"
    assert (
        answers_from_response(
            MEASURES["phq-9-1.0"], {"item": [{"linkId": "q1", "answer": [{"valueCoding": coding}]}]}
        )["q1"]
        == 3
    )
