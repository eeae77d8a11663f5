"""``import fhir`` reads PHQ-9 and GAD-7 answers coded with LOINC's answer codes (``valueCoding``), as an EHR
or an SDC form filler writes them, by the measure's definition; it refuses a coding it cannot read by that
definition, and any coding for a measure without answer codes, naming line, path and rule, writing nothing."""

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
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
READER = Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
LOINC = "http://loinc.org"
PHQ_CODES = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")
PHQ9 = {f"q{i}": i % 4 for i in range(1, 10)}
GAD7 = {f"q{i}": (i + 1) % 4 for i in range(1, 8)}  # item 2 is 3; item 1 is 2
GAD7_Q2_TWO = GAD7 | {"q2": 2}
ORS = {"individually": 6.5, "interpersonally": 7.0, "socially": 5.5, "overall": 6.0}
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
DAY = date(2026, 3, 2)


def _practice(path: Path) -> Practice:
    return Practice(SQLiteStore(path), clock=lambda: NOW)


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    """One episode, one session: PHQ-9, GAD-7 1.1 (item 2 "More than half the days") and ORS, as numbers."""
    with _practice(tmp_path / "p.sqlite") as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
        p.record_consultation(ME, ep, Consultation(DAY, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", DAY))
        given = (
            Administration("phq-9", "1.0", "start", PHQ9),
            Administration("gad-7", "1.1", "start", GAD7_Q2_TWO),
            Administration("ors", "1.0", "start", ORS),
        )
        p.record_session(ME, ep, Session(DAY, "video", "attended", administrations=given))
        folder = tmp_path / "export"
        export_ndjson(p, READER, folder, purpose="treatment")
    return folder


def _responses(folder: Path) -> list[dict[str, Any]]:
    path = folder / "QuestionnaireResponse.ndjson"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _measure(response: dict[str, Any]) -> str:
    return str(response["questionnaire"]).rsplit("/", 1)[-1]


def _recode(folder: Path, change: Any) -> None:
    """Rewrite each response's answers with ``change(measure|version, linkId, answer) -> answer``."""
    responses = _responses(folder)
    for response in responses:
        for item in response.get("item", []):
            if item.get("answer"):
                item["answer"] = [change(_measure(response), item["linkId"], item["answer"][0])]
    path = folder / "QuestionnaireResponse.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in responses), encoding="utf-8")


def _loinc(measure: str, link: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as an EHR codes it: LOINC's answer code, GAD-7 item 2 from LOINC's own list for 68509-9."""
    if not measure.startswith(("phq-9", "gad-7")):
        return answer
    code = PHQ_CODES[answer["valueInteger"]]
    if measure.startswith("gad-7") and link == "q2" and code == "LA6570-1":
        code = "LA18938-3"
    return {"valueCoding": {"system": LOINC, "code": code, "display": "synthetic display"}}


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


def test_a_loinc_coded_response_scores_exactly_as_the_numeric_one(exported: Path, tmp_path: Path) -> None:
    numeric, as_numbers = _import(exported, tmp_path / "numbers.sqlite")
    assert numeric.errors == ()
    _recode(exported, _loinc)
    coded, as_codes = _import(exported, tmp_path / "codes.sqlite")
    assert coded.errors == ()  # was: item[q1].answer: type (a number)
    assert as_codes == as_numbers
    assert {r[0]: r[2] for r in as_codes}["gad-7"]["q2"] == 2  # LA18938-3, LOINC's "More days than not"


def _spoil(measure: str, link: str, answer: Any) -> Any:
    return lambda m, k, a: answer if (m, k) == (measure, link) else _loinc(m, k, a)


def _coding(system: str, code: str) -> dict[str, Any]:
    return {"valueCoding": {"system": system, "code": code}}


REFUSED = {
    "another system": (_spoil("phq-9|1.0", "q3", _coding("http://snomed.info/sct", "LA6570-1")), "system"),
    "no system": (_spoil("phq-9|1.0", "q3", {"valueCoding": {"code": "LA6570-1"}}), "system"),
    "an unknown code": (_spoil("phq-9|1.0", "q3", _coding(LOINC, "LA9999-0")), "unknown-code"),
    "GAD-7 item 2's own code on item 1": (
        _spoil("gad-7|1.1", "q1", _coding(LOINC, "LA18938-3")),
        "other-item",
    ),
    "GAD-7 item 2's own code on the PHQ-9": (
        _spoil("phq-9|1.0", "q2", _coding(LOINC, "LA18938-3")),
        "unknown-code",
    ),
    "a number and a coding": (
        _spoil("phq-9|1.0", "q3", {"valueInteger": 2, **_coding(LOINC, "LA6570-1")}),
        "one-value",
    ),
    "a coding for ORS, which has no answer codes": (
        _spoil("ors|1.0", "overall", _coding(LOINC, "LA6570-1")),
        "not-coded",
    ),
}
FIELDS = {
    "another system": "q3",
    "no system": "q3",
    "an unknown code": "q3",
    "GAD-7 item 2's own code on item 1": "q1",
    "GAD-7 item 2's own code on the PHQ-9": "q2",
    "a number and a coding": "q3",
    "a coding for ORS, which has no answer codes": "overall",
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_coding_the_definition_cannot_read_is_named_and_nothing_is_written(
    case: str, exported: Path, tmp_path: Path
) -> None:
    change, rule = REFUSED[case]
    _recode(exported, change)
    result, recorded = _import(exported, tmp_path / "i.sqlite")
    path = "answer" if rule == "one-value" else "answer.valueCoding"
    assert [(e.field, e.rule) for e in result.errors] == [
        (f"QuestionnaireResponse.item[{FIELDS[case]}].{path}", rule)
    ]
    assert result.errors[0].row >= 1
    assert (result.written, recorded) == (0, [])
    said = " ".join(str(e) for e in result.errors)
    assert "LA" not in said
    assert "snomed" not in said


def test_the_display_is_not_checked(exported: Path, tmp_path: Path) -> None:
    # the code is the answer: a form filler's display in another wording (or language) does not change it
    def wrong_display(measure: str, link: str, answer: dict[str, Any]) -> dict[str, Any]:
        coded = _loinc(measure, link, answer)
        if "valueCoding" in coded:
            coded["valueCoding"]["display"] = "Nearly every day"  # contradicts every code but LA6571-9
        return coded

    _, as_numbers = _import(exported, tmp_path / "numbers.sqlite")
    _recode(exported, wrong_display)
    result, as_codes = _import(exported, tmp_path / "codes.sqlite")
    assert (result.errors, as_codes) == ((), as_numbers)


@pytest.mark.parametrize("third", ["LA18938-3", "LA6570-1"])
def test_gad_7_1_2_item_2_imports_its_own_code_and_the_common_one(tmp_path: Path, third: str) -> None:
    """GAD-7 1.2 writes LA18938-3 (LOINC's list for 68509-9) on item 2; a response coded the way alliancekit
    did before 1.2, and forms built on the publisher's one-list form do, with LA6570-1 there, still imports:
    both codes name "More than half the days", so it scores as the numbers do."""
    with _practice(tmp_path / "p.sqlite") as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
        p.record_consultation(ME, ep, Consultation(DAY, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", DAY))
        given = (Administration("gad-7", "1.2", "start", GAD7_Q2_TWO),)
        p.record_session(ME, ep, Session(DAY, "video", "attended", administrations=given))
        export_ndjson(p, READER, tmp_path / "export", purpose="treatment")

    def coded(measure: str, link: str, answer: dict[str, Any]) -> dict[str, Any]:
        code = PHQ_CODES[answer["valueInteger"]]
        return _coding(LOINC, third if link == "q2" and code == "LA6570-1" else code)

    _, as_numbers = _import(tmp_path / "export", tmp_path / "numbers.sqlite")
    _recode(tmp_path / "export", coded)
    result, as_codes = _import(tmp_path / "export", tmp_path / "codes.sqlite")
    assert result.errors == ()
    assert as_codes == as_numbers
    assert [(r[0], r[1], r[2]["q2"]) for r in as_codes] == [("gad-7", "1.2", 2)]
