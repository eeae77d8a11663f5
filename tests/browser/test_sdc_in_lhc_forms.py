"""Every built-in measure's SDC Questionnaire rendered by a real SDC renderer (LHC-Forms, from the npm
registry) in headless Chromium: for a set of generated responses (the range ends, both sides of every band
edge and of the clinical cutoff, a prorated CORE-10, seeded random ones) the total LHC-Forms computes from
the form's ``calculatedExpression`` equals alliancekit's score, and the response it hands back reads back to
the same answers."""

from __future__ import annotations

import functools
import http.server
import json
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit.fhir.sdc import answers_from_response, sdc_questionnaire, sdc_response, total_link_id
from alliancekit.measures import Measure, parse_definition, positions_from_item_scores
from alliancekit.measures.builtin import BUILTIN_MEASURES, load_builtin_definition
from alliancekit.measures.definition import MissingPolicy, ScoringMethod
from alliancekit.measures.exact import points, units
from alliancekit.measures.scoring import compile_scorer

from .harness import Browser

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SDC form</title>
<link href="lforms/webcomponent/styles.css" rel="stylesheet">
</head><body><main><div id="form"></div></main>
<script src="lforms/webcomponent/assets/lib/zone.min.js"></script>
<script src="lforms/webcomponent/lhc-forms.js"></script>
<script src="lforms/fhir/lformsFHIRAll.min.js"></script>
</body></html>
"""

# Wait for LHC-Forms to load, render the Questionnaire with the response merged in, let LHC-Forms run its
# expressions, hand back its QuestionnaireResponse.
_RENDER_JS = """
const [questionnaire, response, done] = arguments;
const ready = () => window.LForms && LForms.Util && LForms.FHIR;
const waited = (n) => new Promise((ok, fail) => {
  const poll = (left) =>
    ready() ? ok() : left ? setTimeout(() => poll(left - 1), 100) : fail('LHC-Forms did not load');
  poll(n);
});
waited(200).then(() => {
  const form = LForms.Util.convertFHIRQuestionnaireToLForms(questionnaire, 'R4');
  const filled = LForms.Util.mergeFHIRDataIntoLForms('QuestionnaireResponse', response, form, 'R4');
  filled.hasSavedData = false;  // saved data would keep LHC-Forms from running its expressions on load
  LForms.Util.addFormToPage(filled, 'form', {fhirVersion: 'R4'})
    .then(() => new Promise(r => setTimeout(r, 50)))
    .then(() => done(JSON.stringify(LForms.Util.getFormFHIRData(
      'QuestionnaireResponse', 'R4', document.getElementById('form')))))
    .catch(e => done(JSON.stringify({error: String(e)})));
}).catch(e => done(JSON.stringify({error: String(e)})));
"""


@pytest.fixture(scope="module")
def form_page(lforms_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A page loading LHC-Forms, served with its built files on 127.0.0.1."""
    root = tmp_path_factory.mktemp("lforms-page")
    (root / "form.html").write_text(PAGE, "utf-8")
    (root / "lforms").symlink_to(lforms_dir, target_is_directory=True)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # the browser resolves localhost only (harness.py); the server listens on 127.0.0.1
        yield f"http://localhost:{server.server_address[1]}/form.html"
    finally:
        server.shutdown()
        server.server_close()


def _measure(name: str) -> Measure:
    return parse_definition(load_builtin_definition(name))


def _with_total(measure: Measure, total: float) -> dict[str, float]:
    """Item scores adding up to ``total``: each item filled from its minimum in steps, first items first."""
    left = units(total) - sum(units(item.min) for item in measure.items)
    scores = {}
    for item in measure.items:
        step = units(item.step)
        take = min(left // step * step, units(item.max) - units(item.min))
        scores[item.key] = points(units(item.min) + take)
        left -= take
    assert left == 0, (measure.id, total)
    return scores


def generated_responses(measure: Measure) -> list[dict[str, float | None]]:
    """Deterministic responses: range ends, each band's edges and the cutoff from both sides, seeded ones."""
    assert measure.method is ScoringMethod.SUM  # every built-in measure sums; a mean one needs its own edges
    smallest = min(item.step for item in measure.items)
    totals = {measure.range_min, measure.range_max}
    for band in measure.bands:
        totals |= {band.min, band.max}
        totals |= {points(units(band.min) - units(smallest)), points(units(band.max) + units(smallest))}
    if measure.clinical_cutoff is not None:
        cutoff = measure.clinical_cutoff
        totals |= {cutoff, points(units(cutoff) - units(smallest)), points(units(cutoff) + units(smallest))}
    totals = {t for t in totals if measure.range_min <= t <= measure.range_max}
    responses: list[dict[str, float | None]] = []
    for total in sorted(totals):
        responses.append(dict(positions_from_item_scores(measure, _with_total(measure, total))))
    rng = random.Random(measure.id)
    for _ in range(3):
        scores = {}
        for item in measure.items:
            steps = round((item.max - item.min) / item.step)
            scores[item.key] = points(units(item.min) + rng.randint(0, steps) * units(item.step))
        responses.append(dict(positions_from_item_scores(measure, scores)))
    if measure.missing_policy is MissingPolicy.PRORATE:  # one item missing: the total is prorated
        prorated: dict[str, float | None] = dict(responses[-1])
        prorated[measure.items[0].key] = None
        responses.append(prorated)
    return responses


def test_the_generated_responses_reach_every_band_edge() -> None:
    """The generator itself: PHQ-9's totals include both sides of every band edge and of the cutoff."""
    measure = _measure("phq-9-1.0")
    score = compile_scorer(measure)
    totals = {score(answers).total for answers in generated_responses(measure)}
    assert {0, 4, 5, 9, 10, 14, 15, 19, 20, 27} <= totals
    assert 11 in totals  # one above the cutoff (10)


@pytest.mark.parametrize("name", BUILTIN_MEASURES)
def test_lhc_forms_computes_alliancekits_total(browser: Browser, form_page: str, name: str) -> None:
    measure = _measure(name)
    score = compile_scorer(measure)
    questionnaire = sdc_questionnaire(measure)
    browser.open(form_page, 1280)
    browser.driver.set_script_timeout(60)
    for answers in generated_responses(measure):
        expected = score(answers).total
        raw = browser.driver.execute_async_script(_RENDER_JS, questionnaire, sdc_response(measure, answers))
        returned = json.loads(raw)
        assert "error" not in returned, returned
        totals = [
            item["answer"][0]
            for item in returned.get("item", [])
            if item["linkId"] == total_link_id(measure) and item.get("answer")
        ]
        assert len(totals) == 1, (name, answers, returned.get("item"))
        computed = totals[0].get("valueInteger", totals[0].get("valueDecimal"))
        assert computed == pytest.approx(expected, abs=1e-9), (name, answers)
        # what the renderer hands back reads back to the answers it was given
        back = answers_from_response(measure, returned)
        assert {k: v for k, v in back.items() if v is not None} == {
            k: v for k, v in answers.items() if v is not None
        }


_SHOW_JS = """
const [questionnaire, done] = arguments;
const ready = () => window.LForms && LForms.Util && LForms.FHIR;
const poll = (left) => ready() ? LForms.Util.addFormToPage(questionnaire, 'form', {fhirVersion: 'R4'})
    .then(() => done('shown')).catch(e => done(String(e)))
  : left ? setTimeout(() => poll(left - 1), 100) : done('LHC-Forms did not load');
poll(200);
"""

_TOTAL_JS = """
const response = LForms.Util.getFormFHIRData('QuestionnaireResponse', 'R4', document.getElementById('form'));
const total = (response.item || []).find(item => item.linkId === arguments[0]);
return total && total.answer ? (total.answer[0].valueInteger ?? total.answer[0].valueDecimal) : null;
"""


@pytest.mark.parametrize("name", ["phq-9-1.0", "core-10-1.0", "ors-1.0"])
def test_filling_the_form_in_the_page_updates_the_total(browser: Browser, form_page: str, name: str) -> None:
    """As a client would: click the radio buttons (reverse-keyed CORE-10 items among them) and type the
    visual-analogue marks; the read-only total follows each change and ends at alliancekit's score."""
    from selenium.webdriver.common.by import By

    measure = _measure(name)
    score = compile_scorer(measure)
    answers = generated_responses(measure)[-2]  # a seeded response: every item answered
    browser.open(form_page, 1280)
    assert browser.driver.execute_async_script(_SHOW_JS, sdc_questionnaire(measure)) == "shown"
    assert browser.script(_TOTAL_JS, total_link_id(measure)) is None  # nothing answered: no total
    for item in measure.items:
        value = answers[item.key]
        assert value is not None
        if item.integral:
            radios = browser.driver.find_elements(By.NAME, f"radiogroup_{item.key}/1")
            assert len(radios) == int(item.max - item.min) + 1
            browser.script("arguments[0].click();", radios[int(value - item.min)])
        else:
            field = browser.driver.find_element(By.ID, f"{item.key}/1")
            field.send_keys(str(value))
            field.send_keys("\t")
    computed = browser.script(_TOTAL_JS, total_link_id(measure))
    assert computed == pytest.approx(score(answers).total, abs=1e-9)


def test_the_renderer_scores_by_the_ordinal_values(browser: Browser, form_page: str) -> None:
    """The check can fail: a form whose CORE-10 item 2 weighs its positions forward, not reversed, gets a
    total from LHC-Forms that is not alliancekit's."""
    measure = _measure("core-10-1.0")
    questionnaire = sdc_questionnaire(measure)
    (item,) = (entry for entry in questionnaire["item"] if entry["linkId"] == "q2")
    for option in item["answerOption"]:
        forward = float(option["valueCoding"]["code"])
        for holder in (option, option["valueCoding"]):
            for extension in holder["extension"]:
                if "valueDecimal" in extension:
                    extension["valueDecimal"] = forward
    answers: dict[str, float | None] = dict.fromkeys(measure.item_keys, 0)
    browser.open(form_page, 1280)
    returned = json.loads(
        browser.driver.execute_async_script(_RENDER_JS, questionnaire, sdc_response(measure, answers))
    )
    (total,) = (entry["answer"][0] for entry in returned["item"] if entry["linkId"] == "total")
    assert compile_scorer(measure)(answers).total == 8  # items 2 and 3 at position 0 score 4 each
    assert total["valueDecimal"] == 4  # item 2 now weighs position 0 as 0
