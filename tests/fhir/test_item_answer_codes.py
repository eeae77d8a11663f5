"""LOINC answer codes item by item: what the SDC form and response write for each item and response, checked
against LOINC's panels as HL7's Person-Centered Outcomes IG publishes them, and read back exactly by every
reader (``answers_from_response``, a client's form, ``import fhir``'s reader) through the one table of
:mod:`alliancekit.fhir.coded_answers`.

The expected lists are copied here from the source, not from the definitions, so a definition that drifts
from LOINC fails: github.com/HL7/pco-ig, ``input/resources/questionnaire/Questionnaire-GAD7.json`` (panel
69737-5) and ``Questionnaire-PHQ9.json`` (panel 44249-1), ``item[].answerOption[].valueCoding.code`` in order.
"""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit.errors import ValidationError
from alliancekit.fhir.coded_answers import (
    OTHER_ITEM,
    coded_answer,
    item_answer_codes,
    written_answer_codes,
)
from alliancekit.fhir.codes import LOINC
from alliancekit.fhir.sdc import answers_from_response, sdc_questionnaire, sdc_response
from alliancekit.fhir.validate import R4Schema
from alliancekit.measures import Measure
from alliancekit.measures.builtin import BUILTIN_MEASURES
from alliancekit.requests.answers import submitted_answers
from alliancekit.store.definitions import load_stored, stored_definition
from alliancekit.testing.measures import measure_registry

PHQ = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]  # LOINC's PHQ answer list (LL358-3)
MORE_DAYS_THAN_NOT = ["LA6568-5", "LA6569-3", "LA18938-3", "LA6571-9"]  # 68509-9's own list
#: LOINC's GAD-7 panel 69737-5 as the pco-ig publishes it, by alliancekit's item key (item n is LOINC's nth).
PCO_GAD_7 = {f"q{n}": MORE_DAYS_THAN_NOT if n == 2 else PHQ for n in range(1, 8)}
#: LOINC's PHQ-9 panel 44249-1: items 1-9 all answer with the PHQ list. Its item 10 (69722-7, "How
#: difficult have these problems made it ...", LA6572-7, LA6573-5, LA6575-0, LA6574-3) is not in alliancekit's
#: PHQ-9, which scores items 1-9 only.
PCO_PHQ_9 = {f"q{n}": PHQ for n in range(1, 10)}

REGISTRY = measure_registry()
CODED = [(m, v) for m, v in REGISTRY if any(o.loinc for o in REGISTRY.get(m, v).answer_options)]


def _measure(measure_id: str, version: str) -> Measure:
    return REGISTRY.get(measure_id, version)


def _form_codes(measure: Measure) -> dict[str, list[str]]:
    """Each item's answer codes as the SDC form lists them, in order."""
    form = sdc_questionnaire(measure)
    return {
        item["linkId"]: [option["valueCoding"]["code"] for option in item["answerOption"]]
        for item in form["item"]
        if item.get("type") == "choice"
    }


def test_the_coded_measures_are_phq_9_and_gad_7() -> None:
    assert CODED == [("gad-7", "1.0"), ("gad-7", "1.1"), ("gad-7", "1.2"), ("phq-9", "1.0")]


def test_gad_7_1_2s_form_answers_each_item_from_loincs_list_for_it() -> None:
    codes = _form_codes(_measure("gad-7", "1.2"))
    assert codes == PCO_GAD_7
    assert codes["q2"][2] == "LA18938-3"  # item 2, "More than half the days": 68509-9's own code
    assert {codes[f"q{n}"][2] for n in (1, 3, 4, 5, 6, 7)} == {"LA6570-1"}


def test_phq_9s_form_answers_each_item_from_loincs_list_for_it() -> None:
    assert _form_codes(_measure("phq-9", "1.0")) == PCO_PHQ_9


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_gad_7_1_0_and_1_1_forms_are_written_as_published(version: str) -> None:
    """A Questionnaire's canonical URL and version name one form: 1.0's and 1.1's keep LA6570-1 on item 2,
    as every earlier release wrote them (the item's own code comes with 1.2)."""
    assert _form_codes(_measure("gad-7", version)) == {f"q{n}": PHQ for n in range(1, 8)}


@pytest.mark.parametrize(("measure_id", "version"), CODED)
def test_every_item_and_value_is_written_from_that_items_own_list(measure_id: str, version: str) -> None:
    measure = _measure(measure_id, version)
    form = _form_codes(measure)
    for item in measure.items:
        own = list(item.loinc_answers) or [o.loinc for o in measure.answer_options]
        for option, code in zip(measure.answer_options, own, strict=True):
            value = int(option.value)
            response = sdc_response(measure, {item.key: value})
            written = next(i for i in response["item"] if i["linkId"] == item.key)["answer"][0]
            assert written["valueCoding"] == {"system": LOINC, "code": code}, (item.key, value)
            assert form[item.key][value] == code
            assert written_answer_codes(measure, item)[value] == code


@pytest.mark.parametrize(("measure_id", "version"), CODED)
def test_every_item_and_value_reads_back_exactly_by_every_reader(measure_id: str, version: str) -> None:
    measure = _measure(measure_id, version)
    for value in range(4):
        answers = dict.fromkeys(measure.item_keys, value)
        response = sdc_response(measure, answers)
        assert answers_from_response(measure, response) == answers
        assert submitted_answers(measure, None, response) == answers
        for item, entry in zip(measure.items, response["item"], strict=True):
            coding = entry["answer"][0]["valueCoding"]
            assert coded_answer(measure, item, coding, "$") == value  # import fhir's reader


@pytest.mark.parametrize(("measure_id", "version"), CODED)
def test_what_is_written_is_what_is_read(measure_id: str, version: str) -> None:
    measure = _measure(measure_id, version)
    for item in measure.items:
        read = item_answer_codes(measure, item)
        assert all(read[code] == value for value, code in written_answer_codes(measure, item).items())


def _response_with(measure: Measure, link: str, code: str) -> dict[str, Any]:
    response = sdc_response(measure, dict.fromkeys(measure.item_keys, 1))
    entry = next(i for i in response["item"] if i["linkId"] == link)
    entry["answer"] = [{"valueCoding": {"system": LOINC, "code": code}}]
    return response


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
@pytest.mark.parametrize("code", ["LA6570-1", "LA18938-3"])
def test_gad_7_item_2_reads_either_code_for_its_third_answer(version: str, code: str) -> None:
    """LA18938-3 is what LOINC's panel (and an EHR or LHC-Forms built on it) sends; LA6570-1 is what
    alliancekit wrote before 1.2 and what forms built on the publisher's one-list form send. Both name one
    answer, "More than half the days", and no other code of the GAD-7 names it on item 2, so both are read."""
    measure = _measure("gad-7", version)
    item = measure.items[1]
    response = _response_with(measure, "q2", code)
    assert answers_from_response(measure, response)["q2"] == 2
    assert submitted_answers(measure, None, response)["q2"] == 2
    assert coded_answer(measure, item, {"system": LOINC, "code": code}, "$") == 2


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_item_2s_own_code_is_still_another_items_on_items_1_and_3_to_7(version: str) -> None:
    measure = _measure("gad-7", version)
    for item in measure.items:
        if item.key == "q2":
            continue
        with pytest.raises(ValidationError) as caught:
            coded_answer(measure, item, {"system": LOINC, "code": "LA18938-3"}, "$")
        assert caught.value.rule == OTHER_ITEM
        assert "LA18938" not in str(caught.value)


def test_the_r4_schema_takes_gad_7_1_2s_coded_form_and_response() -> None:
    measure = _measure("gad-7", "1.2")
    schema = R4Schema()
    assert schema.check(sdc_questionnaire(measure)) == []
    for value in range(4):
        assert schema.check(sdc_response(measure, dict.fromkeys(measure.item_keys, value))) == []


def test_every_builtin_version_is_checked_here() -> None:
    # a new PHQ-9 or GAD-7 version comes under these tests by registering, not by editing them
    assert {f"{m}-{v}" for m, v in CODED} <= set(BUILTIN_MEASURES)


def test_a_stored_gad_7_1_2_definition_writes_and_reads_item_2_as_the_registered_one() -> None:
    """A practice whose records outlive the plugin describes them by the stored definition: it keeps item 2's
    own list, so its form and reading are the registered 1.2's."""
    registered = _measure("gad-7", "1.2")
    stored = load_stored(stored_definition(registered))
    assert _form_codes(stored) == _form_codes(registered) == PCO_GAD_7
    assert [item_answer_codes(stored, i) for i in stored.items] == [
        item_answer_codes(registered, i) for i in registered.items
    ]
