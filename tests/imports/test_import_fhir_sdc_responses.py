"""``import fhir`` reads a response to alliancekit's own SDC form (:func:`~alliancekit.fhir.sdc.sdc_response`,
or a renderer such as LHC-Forms filling :func:`~alliancekit.fhir.sdc.sdc_questionnaire` in) as
:func:`~alliancekit.fhir.sdc.answers_from_response` does: answers coded in the form's own answer system
(``<measure>-answers``, the measures without LOINC answer codes: WAI-SR here) are response positions, and
the form's calculated total and instructions are ignored. Before, the import refused such a response
(``not-coded``; ``QuestionnaireResponse.item: additionalProperties``), although the form and the export
name the same Questionnaire."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    Practice,
    Purpose,
    Role,
    Session,
)
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.sdc import answer_system, sdc_response
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
READER = Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
DAY = date(2026, 3, 2)
MEASURES = make_plugin_host().measures()
GIVEN = (
    Administration("phq-9", "1.0", "start", {f"q{i}": i % 4 for i in range(1, 10)}),
    Administration("wai-sr", "1.0", "end", {f"q{i}": 1 + i % 5 for i in range(1, 13)}),
    Administration(
        "ors", "1.0", "start", {"individually": 6.5, "interpersonally": 7.0, "socially": 5.5, "overall": 6}
    ),
)


def _practice(path: Path) -> Practice:
    return Practice(SQLiteStore(path), clock=lambda: NOW)


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    with _practice(tmp_path / "p.sqlite") as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
        p.record_consultation(ME, ep, Consultation(DAY, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", DAY))
        p.record_session(ME, ep, Session(DAY, "video", "attended", administrations=GIVEN))
        folder = tmp_path / "export"
        export_ndjson(p, READER, folder, purpose="treatment")
    return folder


def _rewrite(folder: Path, change: Any) -> None:
    path = folder / "QuestionnaireResponse.ndjson"
    responses = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for response in responses:
        change(response)
    path.write_text("".join(json.dumps(r) + "\n" for r in responses), encoding="utf-8")


def _as_the_form_writes_it(response: dict[str, Any]) -> None:
    """The response's items as the SDC form's renderer sends them back: each answer coded as the form
    offers it, the instructions first and the calculated total last."""
    measure_id, version = str(response["questionnaire"]).rsplit("/", 1)[-1].split("|")
    measure = MEASURES.get(measure_id, version)
    given = next(a for a in GIVEN if a.measure_id == measure_id)
    items = sdc_response(measure, dict(given.answers))["item"]
    response["item"] = [
        {"linkId": "instructions", "text": "synthetic instructions"},
        *items,
        {"linkId": "total", "answer": [{"valueDecimal": 99}]},  # the renderer's; never what is scored
    ]


def _import(folder: Path, db: Path) -> tuple[Any, list[tuple[Any, ...]]]:
    with _practice(db) as practice:
        result = run_import(
            practice, FhirSource(folder, practice.plugins.measures()), clinic_id=CLINIC, source_id="src"
        )
        recorded = [
            (a.measure_id, a.version, dict(a.answers), s.scores)
            for row in practice.caseload(READER, include_closed=True)
            for e in practice.timeline(READER, row.episode_id)
            if e.type == "session-recorded"
            for s in [e.event]
            for a in s.session.administrations  # type: ignore[attr-defined]
        ]
    return result, recorded


def test_a_response_to_the_sdc_form_imports_as_the_exported_one(exported: Path, tmp_path: Path) -> None:
    numeric, as_numbers = _import(exported, tmp_path / "numbers.sqlite")
    assert numeric.errors == ()
    _rewrite(exported, _as_the_form_writes_it)
    systems = {
        a["valueCoding"]["system"]
        for line in (exported / "QuestionnaireResponse.ndjson").read_text("utf-8").splitlines()
        for item in json.loads(line)["item"]
        for a in item.get("answer", [])
        if "valueCoding" in a
    }
    assert systems == {"http://loinc.org", answer_system("wai-sr")}  # both codings are read
    form, as_form = _import(exported, tmp_path / "form.sqlite")
    assert (form.errors, form.notes) == ((), ())
    assert as_form == as_numbers


@pytest.mark.parametrize(("code", "rule"), [("6", "enum"), ("na", "enum")])
def test_a_code_of_the_forms_system_that_is_no_option_is_named_and_nothing_is_written(
    exported: Path, tmp_path: Path, code: str, rule: str
) -> None:
    """WAI-SR items run 1 to 5 and allow no "not applicable": ``6`` and ``na`` are no options of theirs."""

    def spoil(response: dict[str, Any]) -> None:
        _as_the_form_writes_it(response)
        if "/wai-sr|" in response["questionnaire"]:
            response["item"][1]["answer"] = [
                {"valueCoding": {"system": answer_system("wai-sr"), "code": code}}
            ]

    _rewrite(exported, spoil)
    result, recorded = _import(exported, tmp_path / "i.sqlite")
    assert [(e.field, e.rule) for e in result.errors] == [
        ("QuestionnaireResponse.item[q1].answer.valueCoding", rule)
    ]
    assert (result.written, recorded) == (0, [])
