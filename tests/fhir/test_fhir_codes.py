"""The published codes an export writes carry their code system's own display (sources in
``alliancekit.fhir.codes`` and docs/guides/fhir.md, "Code systems")."""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor
from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import LOINC, LOINC_DISPLAY, MEASURE_SCORES, coding, concept
from alliancekit.fhir.sdc import sdc_questionnaire
from alliancekit.measures import parse_definition
from alliancekit.measures.builtin import load_builtin_definition

from .conftest import by_type, episode_of

IMPROVING = 2  # demo client index whose episode has PHQ-9 and GAD-7 scores (alliancekit.demo.simulate)

# LOINC's Long Common Names: https://loinc.org/44261-6 (and its panel list for 44249-1), https://loinc.org/69729-2
PHQ9_PANEL = "PHQ-9 quick depression assessment panel [Reported.PHQ]"
PHQ9_TOTAL = "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]"
GAD7_TOTAL = "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]"


def test_the_loinc_display_table_holds_loinc_long_common_names() -> None:
    assert LOINC_DISPLAY == {"44249-1": PHQ9_PANEL, "44261-6": PHQ9_TOTAL, "70274-6": GAD7_TOTAL}


@pytest.mark.parametrize(
    ("system", "code", "given", "written"),
    [
        (LOINC, "44261-6", "Patient Health Questionnaire 9 item (PHQ-9) total score", PHQ9_TOTAL),
        (LOINC, "44261-6", None, PHQ9_TOTAL),
        (LOINC, "70274-6", "Generalized anxiety disorder 7 item (GAD-7) total score", GAD7_TOTAL),
        (LOINC, "44249-1", "PHQ-9 quick depression assessment panel", PHQ9_PANEL),
        # a LOINC code not in the table keeps the definition's display, or none
        (LOINC, "69737-5", "GAD-7 panel", "GAD-7 panel"),
        (LOINC, "44250-9", None, None),
        # the same code in another system is not LOINC's
        (MEASURE_SCORES, "44261-6", "ours", "ours"),
    ],
)
def test_coding_writes_loincs_display(system: str, code: str, given: str | None, written: str | None) -> None:
    out = coding(system, code, given)
    assert out.get("display") == written
    assert (out["system"], out["code"]) == (system, code)
    assert concept(system, code, given)["coding"] == [out]


def _display(codings: list[dict[str, Any]], code: str) -> str | None:
    (found,) = [c for c in codings if c["system"] == LOINC and c["code"] == code]
    return found.get("display")


def test_exported_totals_and_panel_carry_loincs_display(demo: Practice, exporter_actor: Actor) -> None:
    resources = by_type(episode_bundle(demo, exporter_actor, episode_of(demo, exporter_actor, IMPROVING)))
    totals = [o["code"]["coding"] for o in resources["Observation"] if "valueQuantity" in o]
    phq = [c for c in totals if any(x["code"] == "44261-6" for x in c)]
    gad = [c for c in totals if any(x["code"] == "70274-6" for x in c)]
    assert phq
    assert gad
    assert {_display(c, "44261-6") for c in phq} == {PHQ9_TOTAL}
    assert {_display(c, "70274-6") for c in gad} == {GAD7_TOTAL}
    questionnaires = {q["name"]: q for q in resources["Questionnaire"]}
    assert _display(questionnaires["PHQ9"]["code"], "44249-1") == PHQ9_PANEL


def test_sdc_forms_carry_loincs_display() -> None:
    phq = sdc_questionnaire(parse_definition(load_builtin_definition("phq-9-1.0")))
    gad = sdc_questionnaire(parse_definition(load_builtin_definition("gad-7-1.0")))
    assert _display(phq["code"], "44249-1") == PHQ9_PANEL
    assert _display(phq["item"][-1]["code"], "44261-6") == PHQ9_TOTAL
    assert _display(gad["item"][-1]["code"], "70274-6") == GAD7_TOTAL
    # the answer codes keep the form's labels (in the form's language)
    q1 = next(i for i in phq["item"] if i["linkId"] == "q1")
    assert [o["valueCoding"]["display"] for o in q1["answerOption"]] == [
        "Not at all",
        "Several days",
        "More than half the days",
        "Nearly every day",
    ]


@pytest.mark.parametrize(
    ("name", "uncoded"),
    [("gad-7-1.0", {"q1", "q2"}), ("gad-7-1.1", set())],
)
def test_gad_7_1_1s_form_codes_every_item_and_1_0s_keeps_its_own(name: str, uncoded: set[str]) -> None:
    """LOINC's GAD-7 items (https://loinc.org/69729-2 lists them): 1.1 adds 69725-0 and 68509-9 for items
    1 and 2, which 1.0 never had."""
    form = sdc_questionnaire(parse_definition(load_builtin_definition(name)))
    items = {i["linkId"]: [(c["system"], c["code"]) for c in i.get("code", [])] for i in form["item"]}
    expected = {
        "q1": "69725-0",
        "q2": "68509-9",
        "q3": "69733-4",
        "q4": "69734-2",
        "q5": "69735-9",
        "q6": "69689-8",
        "q7": "69736-7",
    }
    for key, code in expected.items():
        assert items[key] == ([] if key in uncoded else [(LOINC, code)])
    assert form["version"] == name.rsplit("-", 1)[1]
