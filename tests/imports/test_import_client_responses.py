"""``import fhir`` recreates the measures clients filled in themselves as client responses (through the
guarded ``record_client_response``): the same measure, version, answers, scores, point, session and time,
counted at the same session; a second import writes none again; a response the import cannot place is named
(file line, path, rule) and nothing is written."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
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
    open_practice,
)
from alliancekit.demo import simulate_practice
from alliancekit.fhir import export_ndjson
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import
from alliancekit.store.sqlite import SQLiteStore

DEMO_CLINIC = "demo-clinic"
CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
GAD = {f"q{i}": 2 for i in range(1, 8)}


def _reader(clinic: str) -> Actor:
    return Actor("exporter", Role.SUPERVISOR, clinic, Purpose.OPERATIONS)


def _export(practice: Practice, clinic: str, tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    export_ndjson(practice, _reader(clinic), folder, purpose="treatment")
    return folder


def _import(practice: Practice, folder: Path, clinic: str) -> Any:
    return run_import(
        practice, FhirSource(folder, practice.plugins.measures()), clinic_id=clinic, source_id=folder.name
    )


def _responses(practice: Practice, clinic: str) -> dict[str, list[tuple[Any, ...]]]:
    """Each episode's client responses, as the record holds them (ids left out: an import
    makes new ones; the session named by its date)."""
    reader = _reader(clinic)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for row in practice.caseload(reader, include_closed=True):
        timeline = practice.timeline(reader, row.episode_id)
        held = {e.event.session_id: e.event.session.held_on for e in timeline if e.type == "session-recorded"}  # type: ignore[attr-defined]
        out[row.client_ref] = [
            (
                e.event.administration,  # type: ignore[attr-defined]
                e.event.scores,  # type: ignore[attr-defined]
                e.event.point,  # type: ignore[attr-defined]
                e.event.at_session,  # type: ignore[attr-defined]
                e.event.responded_at,  # type: ignore[attr-defined]
                e.event.responded_on,  # type: ignore[attr-defined]
                held.get(e.event.session_id),  # type: ignore[attr-defined]
            )
            for e in timeline
            if e.type == "client-response-recorded"
        ]
    return out


def test_the_demo_practices_client_responses_come_back_as_they_were(tmp_path: Path) -> None:
    simulate_practice(tmp_path / "demo.sqlite", clients=24, seed=7)
    with open_practice(tmp_path / "demo.sqlite") as demo:
        folder = _export(demo, DEMO_CLINIC, tmp_path)
        original = _responses(demo, DEMO_CLINIC)
    given = [r for found in original.values() for r in found]
    assert {r[2].value for r in given} == {"between", "start"}  # by link between sessions; on the kiosk
    with open_practice(tmp_path / "imported.sqlite") as practice:
        result = _import(practice, folder, DEMO_CLINIC)
        assert result.errors == ()
        imported = _responses(practice, DEMO_CLINIC)
        assert imported == original  # every episode's client responses came back, as they were
        again = _import(practice, folder, DEMO_CLINIC)
        assert again.written == 0
        renamed = run_import(
            practice,
            FhirSource(folder, practice.plugins.measures()),
            clinic_id=DEMO_CLINIC,
            source_id="another-name",
        )
        # read again; every key recognised: nothing doubled, every episode already imported
        assert (renamed.written, renamed.skipped) == (0, result.written)
        assert _responses(practice, DEMO_CLINIC) == imported
        timeline = [
            e
            for row in practice.caseload(_reader(DEMO_CLINIC), include_closed=True)
            for e in practice.timeline(_reader(DEMO_CLINIC), row.episode_id)
            if e.type == "client-response-recorded"
        ]
    assert len(timeline) == len(given)
    # recorded for the client by their clinician: no request behind them
    assert {(e.actor_role, e.event.request_id) for e in timeline} == {("clinician", None)}  # type: ignore[attr-defined]


def _small(path: Path, now: datetime) -> Practice:
    return Practice(SQLiteStore(path), clock=lambda: now)


def test_responses_in_a_session_and_before_a_later_one_keep_their_place(tmp_path: Path) -> None:
    day = date(2026, 3, 2)
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    with _small(tmp_path / "p.sqlite", now) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=day)
        p.record_consultation(ME, ep, Consultation(day, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", day))
        first = p.record_session(ME, ep, Session(day, "video", "attended")).record_id
        # filled in at the end of the first session, on paper
        at_end = datetime(2026, 3, 2, 10, 50, tzinfo=UTC)
        p.record_client_response(
            ME, ep, Administration("gad-7", "1.0", "end", GAD), responded_at=at_end, session_id=first
        )
        # for the start of the next session, the evening before it
        before = datetime(2026, 3, 8, 19, 0, tzinfo=UTC)
        p.record_client_response(
            ME, ep, Administration("phq-9", "1.0", "start", ANSWERS), responded_at=before
        )
        p.record_session(ME, ep, Session(day + timedelta(days=7), "video", "attended"))
        p.record_session(ME, ep, Session(day + timedelta(days=14), "phone", "no-show"))
        folder = _export(p, CLINIC, tmp_path)
        original = _responses(p, CLINIC)
    assert [(r[2].value, r[3], r[6]) for r in original["client-1"]] == [("end", 1, day), ("start", 2, None)]
    with _small(tmp_path / "imported.sqlite", now) as imported:
        assert _import(imported, folder, CLINIC).errors == ()
        assert _responses(imported, CLINIC) == original


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        (
            lambda r: r.update(extension=[e for e in r["extension"] if "at-session" not in e["url"]]),
            "QuestionnaireResponse.extension[at-session]",
            "required",
        ),
        (lambda r: r.update(authored="2026-03-02"), "QuestionnaireResponse.authored", "datetime"),
        (
            lambda r: r.update(extension=[e for e in r["extension"] if "episodeOfCare" not in e["url"]]),
            "QuestionnaireResponse.extension[episodeOfCare]",
            "reference",
        ),
        (
            lambda r: r["subject"]["identifier"].update(value="another-client"),
            "QuestionnaireResponse.subject",
            "episode-client",
        ),
    ],
    ids=["no session number", "a date without a time", "no episode", "about another client"],
)
def test_a_response_the_import_cannot_place_is_named_and_nothing_is_written(
    tmp_path: Path, change: Any, field: str, rule: str
) -> None:
    day = date(2026, 3, 2)
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    with _small(tmp_path / "p.sqlite", now) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=day)
        p.record_consultation(ME, ep, Consultation(day, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", day))
        answered = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
        p.record_client_response(
            ME, ep, Administration("phq-9", "1.0", "end", ANSWERS), responded_at=answered
        )
        folder = _export(p, CLINIC, tmp_path)
    path = folder / "QuestionnaireResponse.ndjson"
    [response] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    change(response)
    path.write_text(json.dumps(response) + "\n", encoding="utf-8")
    with _small(tmp_path / "imported.sqlite", now) as imported:
        result = _import(imported, folder, CLINIC)
        assert [(e.row, e.field, e.rule) for e in result.errors] == [(1, field, rule)]
        assert result.written == 0
        assert imported.caseload(_reader(CLINIC), include_closed=True) == []


def test_gad_7_1_0_and_1_1_export_as_two_forms_and_import_back_under_their_own_versions(
    tmp_path: Path,
) -> None:
    """A GAD-7 given as 1.0 before 1.1 existed and one given as 1.1 (the latest, which codes items 1 and 2
    too) export as two Questionnaires, each with its own codes, and each response imports back naming the
    version it was given in."""
    day = date(2026, 3, 2)
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    with _small(tmp_path / "p.sqlite", now) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=day)
        p.record_consultation(ME, ep, Consultation(day, "video", Consent(True, True)))
        p.decide_fit(ME, ep, FitDecision("proceed", day))
        for version, hour in (("1.0", 8), ("1.1", 9)):
            p.record_client_response(
                ME,
                ep,
                Administration("gad-7", version, "start", GAD),
                responded_at=datetime(2026, 3, 3, hour, 0, tzinfo=UTC),
            )
        folder = _export(p, CLINIC, tmp_path)
        original = _responses(p, CLINIC)
    assert [r[0].version for r in original["client-1"]] == ["1.0", "1.1"]
    lines = (folder / "Questionnaire.ndjson").read_text(encoding="utf-8").splitlines()
    forms = {q["version"]: q for q in map(json.loads, lines) if q["name"] == "GAD7"}
    assert sorted(forms) == ["1.0", "1.1"]
    coded = {
        version: {i["linkId"]: [c["code"] for c in i.get("code", [])] for i in form["item"]}
        for version, form in forms.items()
    }
    assert coded["1.1"] == {
        "q1": ["69725-0"],
        "q2": ["68509-9"],
        "q3": ["69733-4"],
        "q4": ["69734-2"],
        "q5": ["69735-9"],
        "q6": ["69689-8"],
        "q7": ["69736-7"],
    }
    assert coded["1.0"] == coded["1.1"] | {"q1": [], "q2": []}
    answered = [
        json.loads(line) for line in (folder / "QuestionnaireResponse.ndjson").read_text("utf-8").splitlines()
    ]
    assert sorted(r["questionnaire"].rsplit("|", 1)[1] for r in answered) == ["1.0", "1.1"]
    with _small(tmp_path / "imported.sqlite", now) as imported:
        assert _import(imported, folder, CLINIC).errors == ()
        assert _responses(imported, CLINIC) == original
