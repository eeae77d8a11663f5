"""``alliancekit import fhir`` and the source's own scores: the library scores each response again from its
answers and imports that score; a score Observation that disagrees is named in the report's notes (file and
line or Bundle entry, and the rule, never a value), and the import goes on."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Purpose,
    Role,
    Session,
    open_practice,
)
from alliancekit.domain import AdministrationTiming, Attendance, FitOutcome, Modality
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import ImportResult, run_import

CLINIC = "clinic-scores"
CLINICIAN = Actor("clin-scores", Role.CLINICIAN, CLINIC)
EXPORTER = Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
#: ORS answers whose total is no exact binary fraction (0.1 + 0.2 + ...): the export rounds it to 4 places
ORS = {"individually": 0.1, "interpersonally": 0.2, "socially": 1.1, "overall": 2.2}
#: Where each score is in the export: its code (LOINC for PHQ-9's total), and the rule a disagreement gets
SCORES = {
    "phq-9 total": ("44261-6", "total-mismatch"),
    "ors total": ("ors-total", "total-mismatch"),
    "wai-sr subscale": ("wai-sr-bond", "subscale-mismatch"),
}


def _practice(path: Path) -> str:
    """One episode, one session with PHQ-9 (a LOINC-coded total), ORS (a decimal total) and WAI-SR
    (subscales), all answered item by item. Returns the episode id."""
    with open_practice(path) as practice:
        today = practice.clinic_today(CLINIC)
        first = today - timedelta(days=7)
        episode = practice.start_episode(
            CLINICIAN, client_ref="client-scores", clinician_id=CLINICIAN.id, opened_on=first
        )
        consent = Consent(treatment=True, measures=True)
        practice.record_consultation(
            CLINICIAN, episode, Consultation(held_on=first, modality=Modality.IN_PERSON, consent=consent)
        )
        practice.decide_fit(CLINICIAN, episode, FitDecision(outcome=FitOutcome.PROCEED, decided_on=first))
        practice.agree_goals(CLINICIAN, episode, [GoalDraft("a synthetic goal")], agreed_on=first)
        start = AdministrationTiming.START
        given = (
            Administration("phq-9", "1.0", start, {f"q{i}": i % 3 for i in range(1, 10)}),
            Administration("ors", "1.0", start, dict(ORS)),
            Administration(
                "wai-sr", "1.0", AdministrationTiming.END, {f"q{i}": 1 + i % 5 for i in range(1, 13)}
            ),
        )
        practice.record_session(
            CLINICIAN,
            episode,
            Session(
                held_on=today,
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                administrations=given,
            ),
        )
    return episode


def _export(
    tmp_path: Path, form: str
) -> tuple[Path, list[dict[str, Any]], Callable[[list[dict[str, Any]]], None]]:
    """The practice's export as NDJSON or as one Bundle: where it is, its Observations (the NDJSON file's
    lines, or the Bundle's entries, in order: a row number is its index + 1), and a function that writes
    them back."""
    episode = _practice(tmp_path / "from.sqlite")
    with open_practice(tmp_path / "from.sqlite") as practice:
        if form == "ndjson":
            folder = tmp_path / "export"
            export_ndjson(practice, EXPORTER, folder, purpose="treatment")
            path = folder / "Observation.ndjson"
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]

            def write(changed: list[dict[str, Any]]) -> None:
                path.write_text("".join(json.dumps(r) + "\n" for r in changed), "utf-8")

            return folder, rows, write
        bundle = episode_bundle(practice, EXPORTER, episode, purpose="treatment")
    file = tmp_path / "episode.json"
    entries = [e["resource"] for e in bundle["entry"]]

    def write_bundle(changed: list[dict[str, Any]]) -> None:
        for entry, resource in zip(bundle["entry"], changed, strict=True):
            entry["resource"] = resource
        file.write_text(json.dumps(bundle), "utf-8")

    write_bundle(entries)
    return file, entries, write_bundle


def _import(source: Path, db: Path) -> ImportResult:
    with open_practice(db) as practice:
        return run_import(
            practice, FhirSource(source, practice.plugins.measures()), clinic_id=CLINIC, source_id="s"
        )


def _latest(db: Path) -> dict[str, float]:
    with open_practice(db) as practice:
        (row,) = practice.caseload(CLINICIAN)
    return dict(json.loads(row.latest_scores_json or "{}"))


def _index(rows: list[dict[str, Any]], code: str) -> int:
    return next(
        i
        for i, r in enumerate(rows)
        if r.get("resourceType") == "Observation" and any(c["code"] == code for c in r["code"]["coding"])
    )


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_scores_as_the_export_writes_them_or_within_its_rounding_give_no_note(
    form: str, tmp_path: Path
) -> None:
    """The library's own export (an ORS total rounded to 4 places), and a source that writes a score more
    precisely than that (0.00004 off): the same scores, no note."""
    source, rows, write = _export(tmp_path, form)
    ors = rows[_index(rows, "ors-total")]
    assert ors["valueQuantity"]["value"] == 3.6  # 3.6000000000000005 as the library adds it up
    result = _import(source, tmp_path / "back.sqlite")
    assert (result.errors, result.notes, result.written) == ((), (), 1)
    ors["valueQuantity"]["value"] = 3.60004
    write(rows)
    result = _import(source, tmp_path / "again.sqlite")
    assert (result.errors, result.notes, result.written) == ((), (), 1)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("score", sorted(SCORES))
@pytest.mark.parametrize("step", [0.0001, -0.0001])
def test_a_score_that_differs_by_the_smallest_step_is_noted_and_the_import_goes_on(
    form: str, score: str, step: float, tmp_path: Path
) -> None:
    """A source's score 0.0001 from the library's (the last place the export writes): a note names where it
    is and the rule, never either value; the episode is imported, with the library's score."""
    source, rows, write = _export(tmp_path, form)
    code, rule = SCORES[score]
    index = _index(rows, code)
    quantity = rows[index]["valueQuantity"]
    quantity["value"] = round(quantity["value"] + step, 4)
    write(rows)
    result = _import(source, tmp_path / "back.sqlite")
    assert (result.errors, result.written) == ((), 1)
    where = "Observation.ndjson" if form == "ndjson" else "episode.json"
    said = (
        f"{where} line {index + 1}: Observation.valueQuantity.value: {rule} (the source's score differs from"
        " the one the library computes from the answers; the library's is imported)"
    )
    assert result.notes == (said,)
    assert str(quantity["value"]) not in result.notes[0]
    assert _latest(tmp_path / "back.sqlite") == _latest(tmp_path / "from.sqlite")


def _as_integer(observation: dict[str, Any], value: int) -> None:
    """Write ``observation``'s score as ``valueInteger``, as other systems write a whole-number total."""
    del observation["valueQuantity"]
    observation["valueInteger"] = value


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("step", [0, 1])
def test_a_total_written_as_value_integer_is_compared_too(form: str, step: int, tmp_path: Path) -> None:
    """A PHQ-9 total in ``valueInteger`` (a whole-number score as another system writes it) is the source's
    score like one in ``valueQuantity``: the same as the library's, no note; one off, a note naming
    ``Observation.valueInteger``. Before, it was not read at all, so a disagreement went unnoticed."""
    source, rows, write = _export(tmp_path, "ndjson" if form == "ndjson" else "bundle")
    index = _index(rows, "44261-6")
    _as_integer(rows[index], int(rows[index]["valueQuantity"]["value"]) + step)
    write(rows)
    result = _import(source, tmp_path / "back.sqlite")
    assert (result.errors, result.written) == ((), 1)
    where = "Observation.ndjson" if form == "ndjson" else "episode.json"
    said = (
        f"{where} line {index + 1}: Observation.valueInteger: total-mismatch (the source's score differs"
        " from the one the library computes from the answers; the library's is imported)"
    )
    assert result.notes == ((said,) if step else ())


def test_a_total_only_response_reads_its_total_from_value_integer(tmp_path: Path) -> None:
    """A PHQ-9 response without answers whose total Observation has ``valueInteger``: imported with that
    total. Before, the import refused it, naming the response (``QuestionnaireResponse.item: required``, no
    answers and no total Observation) although the source had the total."""
    source, entries, write = _export(tmp_path, "bundle")
    response = next(
        r for r in entries if r["resourceType"] == "QuestionnaireResponse" and "/phq-9|" in r["questionnaire"]
    )
    del response["item"]
    _as_integer(entries[_index(entries, "44261-6")], 7)
    write(entries)
    result = _import(source, tmp_path / "back.sqlite")
    assert (result.errors, result.written) == ((), 1)
    assert _latest(tmp_path / "back.sqlite")["phq-9"] == 7
    assert _latest(tmp_path / "from.sqlite")["phq-9"] != 7  # the total read, not the one first recorded
