"""Every SDC form and every response to it validates against HL7's official FHIR R4 JSON Schema (the copy in
the test data, which ``test_packaged_schema_is_the_test_data_copy`` holds equal to the packaged one).

The other schema tests check each form in its default language, and a response with no answers (every
measure) or with answers for GAD-7 1.2 only: a form asked for in another language, and the answered
responses of the other measures, whose answers are written three ways (a LOINC coding, a coding of the
measure's own answer system, a ``valueDecimal`` for a mark on a line), went unchecked."""

from __future__ import annotations

import pytest

from alliancekit.fhir.sdc import answers_from_response, sdc_questionnaire, sdc_response
from alliancekit.fhir.validate import R4Schema
from alliancekit.measures.definition import Measure
from alliancekit.plugins.manager import make_plugin_host

REGISTRY = make_plugin_host().measures()
MEASURES = {f"{m}-{v}": REGISTRY.get(m, v) for m, v in REGISTRY}


def _answers(measure: Measure, at: str) -> dict[str, float | str | None]:
    """Every item answered at its lowest, its highest, or a mid value (a decimal on a visual-analogue
    item)."""
    out: dict[str, float | str | None] = {}
    for item in measure.items:
        if at == "max":
            out[item.key] = item.max
        elif at == "mid":
            middle = item.min + (item.max - item.min) / 2
            out[item.key] = round(middle) if item.integral else round(middle + item.step, 1)
        else:
            out[item.key] = item.min
    return out


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_every_form_in_every_language_is_valid_r4(r4_schema: R4Schema, name: str) -> None:
    measure = MEASURES[name]
    for language in (*measure.languages, "es-MX"):  # and a tag it has no text in: its own language then
        form = sdc_questionnaire(measure, language=language)
        assert form["language"] in measure.languages
        assert [str(e) for e in r4_schema.errors(form)] == []


@pytest.mark.parametrize("at", ["min", "mid", "max"])
@pytest.mark.parametrize("name", sorted(MEASURES))
def test_every_answered_response_is_valid_r4_and_reads_back(r4_schema: R4Schema, name: str, at: str) -> None:
    measure = MEASURES[name]
    answers = _answers(measure, at)
    response = sdc_response(measure, answers)
    assert len(response["item"]) == len(measure.items)  # every item answered, none dropped
    assert all(len(item["answer"]) == 1 for item in response["item"])
    assert [str(e) for e in r4_schema.errors(response)] == []
    assert answers_from_response(measure, response) == answers


def test_the_answer_shapes_are_all_covered() -> None:
    """The cases above write each of the answer shapes a response can hold (else a shape went unchecked)."""
    systems = set()
    for measure in MEASURES.values():
        for at in ("min", "mid", "max", "na"):
            for item in sdc_response(measure, _answers(measure, at))["item"]:
                (answer,) = item["answer"]
                systems.add(answer["valueCoding"]["system"] if "valueCoding" in answer else "decimal")
    assert "http://loinc.org" in systems
    assert "decimal" in systems
    assert any(s.endswith("-answers") for s in systems)
