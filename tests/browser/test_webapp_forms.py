"""The reference web app's form (examples/webapp, alliancekit_webapp.questionnaire) against the library's
SDC Questionnaires: for every built-in measure in every language it has, the form asks every question the
measure has and nothing else, and what it posts reads back as exactly the answers chosen, both through
alliancekit.fhir.sdc.answers_from_response and as Practice.submit_response reads a QuestionnaireResponse
(alliancekit.requests.answers). No browser, no server."""

from __future__ import annotations

import random

import pytest

from alliancekit.fhir.sdc import answers_from_response, sdc_questionnaire
from alliancekit.measures.definition import NOT_APPLICABLE
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.requests.answers import submitted_answers

from .webapp_server import app_module

MEASURES = sorted({measure_id for measure_id, _ in get_plugin_host().measures()})


@pytest.mark.parametrize("measure_id", MEASURES)
def test_the_form_posts_back_the_answers_chosen(measure_id: str) -> None:
    app_module()
    from alliancekit_webapp.questionnaire import form_parts, questionnaire_response, questions, read_answers

    measure = get_plugin_host().measures().get(measure_id)
    rng = random.Random(measure_id)
    for language in measure.languages:
        questionnaire = sdc_questionnaire(measure, language=language)
        asked = questions(form_parts(questionnaire))
        assert [q.link_id for q in asked] == list(measure.item_keys)
        for _ in range(20):
            posted: dict[str, str] = {}
            expected: dict[str, float | str | None] = {}
            for q, item in zip(asked, measure.items, strict=True):
                if q.options:  # the k-th radio button is the k-th response position (then "not applicable")
                    k = rng.randrange(len(q.options))
                    posted[q.field] = str(k)
                    positions = int(item.max - item.min) + 1
                    expected[item.key] = int(item.min) + k if k < positions else NOT_APPLICABLE
                else:
                    value = round(rng.uniform(item.min, item.max), 1)
                    posted[q.field] = str(value)
                    expected[item.key] = value
            answered = read_answers(form_parts(questionnaire), posted)
            assert answered.errors == []
            response = questionnaire_response(questionnaire, answered)
            assert answers_from_response(measure, response) == expected
            # what submit_response scores: CORE-10 items 2 and 3 were once read by their reversed weight
            assert submitted_answers(measure, None, response) == expected


def test_a_required_question_left_out_or_a_number_out_of_range_is_an_error_by_its_question() -> None:
    app_module()
    from alliancekit_webapp.questionnaire import form_parts, questions, read_answers

    measure = get_plugin_host().measures().get("ors")
    parts = form_parts(sdc_questionnaire(measure))
    first, second = questions(parts)[:2]
    assert (first.low, first.high) == (measure.items[0].min, measure.items[0].max)
    posted = {first.field: str(first.high), second.field: str((second.high or 0) + 0.1)}
    errors = read_answers(parts, posted).errors
    assert [(q.field, kind) for q, kind in errors][:1] == [(second.field, "number")]
    assert all(kind == "number" for _, kind in errors[1:])  # number boxes left out: a number is asked for
    assert len(errors) == len(questions(parts)) - 1


def test_a_remembered_outcome_does_not_say_in_its_repr_whether_a_risk_item_was_endorsed() -> None:
    app_module()
    from alliancekit_webapp.submitted import Outcome

    shown = repr(Outcome(True, "Synthetic crisis line", "en", False, frozenset({"mac"}), "field", 1.0))
    assert "crisis" not in shown
    assert "True" not in shown


def test_a_redeemed_kiosk_tokens_repr_does_not_show_it() -> None:
    app_module()
    from alliancekit_webapp.submitted import Redeemed

    redeemed = Redeemed()
    redeemed.remember("key", "synthetic-one-use-token")
    assert redeemed.recall("key") == "synthetic-one-use-token"
    assert redeemed.recall("other") is None
    assert "synthetic-one-use-token" not in repr(redeemed)
