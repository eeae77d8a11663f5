"""Measure text per language (BCP 47): a definition's translations, the client's language picking the text
with fallback by primary subtag then to the definition's own language, the licence rules for translated
wording, and the SDC Questionnaire in the picked language."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit.errors import MeasureDefinitionError
from alliancekit.fhir.sdc import sdc_questionnaire
from alliancekit.measures import parse_definition
from alliancekit.measures.builtin import load_builtin_definition

# Synthetic test text (marked TEST), never a published translation.
TRANSLATION = {
    "source": {"ref": "test-translation", "detail": "synthetic text for tests"},
    "title": "TEST title es",
    "stem": "TEST stem es",
    "items": {"q1": {"text": "TEST q1 es", "label": "TEST label es"}},
    "answer_options": ["TEST 0", "TEST 1", "TEST 2", "TEST 3"],
}


def _definition(**translations: Any) -> dict[str, Any]:
    d = copy.deepcopy(dict(load_builtin_definition("phq-9-1.0")))
    d["references"]["test-translation"] = "A synthetic translation used only by alliancekit's tests."
    d["translations"] = translations
    return d


def test_without_translations_the_definitions_own_text_is_used() -> None:
    measure = parse_definition(load_builtin_definition("phq-9-1.0"))
    assert measure.language == "en"
    assert measure.languages == ("en",)
    text = measure.text_for("es")
    assert text.language == "en"
    assert text.source is None
    assert text.text("q1") == "Little interest or pleasure in doing things"
    assert sdc_questionnaire(measure, language="es")["language"] == "en"


@pytest.mark.parametrize(
    ("requested", "picked"),
    [("es", "es"), ("es-MX", "es"), ("ES-mx", "es"), ("fr", "en"), ("en-GB", "en"), (None, "en"), ("", "en")],
)
def test_the_clients_language_picks_the_text(requested: str | None, picked: str) -> None:
    measure = parse_definition(_definition(es=TRANSLATION))
    text = measure.text_for(requested)
    assert text.language == picked
    if picked == "es":
        assert text.title == "TEST title es"
        assert text.stem == "TEST stem es"
        assert text.text("q1") == "TEST q1 es"
        assert text.label("q1") == "TEST label es"
        assert text.source is not None
        assert text.source.ref == "test-translation"
        # what the translation leaves out is the definition's own text
        assert text.text("q2") == "Feeling down, depressed, or hopeless"
        assert text.label("q2") == "Mood"
    else:
        assert text.title == "Patient Health Questionnaire-9"


def test_a_regional_translation_wins_over_its_primary_subtag() -> None:
    regional = {**TRANSLATION, "title": "TEST title es-MX"}
    measure = parse_definition(_definition(es=TRANSLATION, **{"es-MX": regional}))
    assert measure.text_for("es-MX").title == "TEST title es-MX"
    assert measure.text_for("es-AR").title == "TEST title es"


def test_the_sdc_questionnaire_is_in_the_picked_language() -> None:
    measure = parse_definition(_definition(es=TRANSLATION))
    q = sdc_questionnaire(measure, language="es-MX")
    items = {item["linkId"]: item for item in q["item"]}
    assert q["language"] == "es"
    assert q["title"] == "TEST title es"
    assert items["instructions"]["text"] == "TEST stem es"
    assert items["q1"]["text"] == "TEST q1 es"
    assert [o["valueCoding"]["display"] for o in items["q1"]["answerOption"]] == [
        "TEST 0",
        "TEST 1",
        "TEST 2",
        "TEST 3",
    ]
    # codes and weights do not change with the language
    english = {item["linkId"]: item for item in sdc_questionnaire(measure)["item"]}
    strip = [{**o, "valueCoding": {**o["valueCoding"], "display": None}} for o in items["q1"]["answerOption"]]
    plain = [
        {**o, "valueCoding": {**o["valueCoding"], "display": None}} for o in english["q1"]["answerOption"]
    ]
    assert strip == plain


def _ors() -> dict[str, Any]:
    d = copy.deepcopy(dict(load_builtin_definition("ors-1.0")))
    d["references"]["test-translation"] = "A synthetic translation used only by alliancekit's tests."
    return d


@pytest.mark.parametrize(
    ("make", "field", "rule"),
    [
        (
            lambda: {
                **_ors(),
                "translations": {
                    "es": {"source": {"ref": "test-translation"}, "items": {"overall": {"text": "x"}}}
                },
            },
            "$.translations.es.items.overall.text",
            "licence",
        ),
        (
            lambda: {**_ors(), "translations": {"es": {"source": {"ref": "test-translation"}, "stem": "x"}}},
            "$.translations.es.stem",
            "licence",
        ),
        (
            lambda: _definition(es={**TRANSLATION, "items": {"q99": {"text": "x"}}}),
            "$.translations.es.items.q99",
            "item",
        ),
        (
            lambda: _definition(es={**TRANSLATION, "answer_options": ["a", "b"]}),
            "$.translations.es.answer_options",
            "count",
        ),
        (lambda: _definition(en=TRANSLATION), "$.translations.en", "language"),
        (lambda: _definition(es=TRANSLATION, ES=TRANSLATION), "$.translations.ES", "unique"),
        (
            lambda: _definition(es={**TRANSLATION, "source": {"ref": "nowhere"}}),
            "$.translations.es.source.ref",
            "citation",
        ),
        (
            lambda: _definition(es={k: v for k, v in TRANSLATION.items() if k != "source"}),
            "$.translations.es",
            "required",
        ),
        (lambda: _definition(**{"not a tag": TRANSLATION}), "$.translations", "pattern"),
    ],
)
def test_bad_translations_are_refused(make: Callable[[], dict[str, Any]], field: str, rule: str) -> None:
    with pytest.raises(MeasureDefinitionError) as caught:
        parse_definition(make())
    assert (caught.value.field, caught.value.rule) == (field, rule)


def test_a_licensed_measure_may_translate_its_own_short_labels() -> None:
    d = _ors()
    d["translations"] = {
        "es": {"source": {"ref": "test-translation"}, "items": {"overall": {"label": "TEST"}}}
    }
    measure = parse_definition(d)
    assert measure.text_for("es").label("overall") == "TEST"
    assert measure.text_for("es").text("overall") is None
