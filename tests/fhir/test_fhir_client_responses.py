"""Measures the client filled in themselves, exported: a QuestionnaireResponse authored by (and from) the
Patient with the Observations of its scores (performed by the Patient, derived from the response), in its
session's Encounter when it was given for one and in none between sessions, dated when the client answered;
valid against the R4 schema; a Provenance naming who recorded it. On a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Administration, Consent, Consultation, FitDecision, Practice, Session
from alliancekit.fhir import export_ndjson, ids
from alliancekit.fhir.client_response import EXT_AT_SESSION, EXT_REQUEST_POINT
from alliancekit.fhir.codes import WORKFLOW_EPISODE_OF_CARE
from alliancekit.fhir.validate import R4Schema
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "north"
ME = Actor("clin-1", "clinician", CLINIC)
NOW = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
DAY = date(2026, 6, 1)
ON_PAPER = datetime(2026, 6, 1, 9, 15, tzinfo=UTC)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}


def _episode_with_responses(p: Practice) -> tuple[str, str]:
    """An episode with a session, a PHQ-9 the client filled in on paper for it (recorded by the clinician)
    and one answered through a link between sessions."""
    ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
    p.record_consultation(ME, ep, Consultation(DAY, "video", Consent(True, True)))
    p.decide_fit(ME, ep, FitDecision("proceed", DAY))
    session_id = p.record_session(ME, ep, Session(DAY, "video", "attended")).record_id
    assert session_id is not None
    paper = Administration("phq-9", "1.0", "start", ANSWERS)
    p.record_client_response(ME, ep, paper, responded_at=ON_PAPER, session_id=session_id)
    made = p.request_administration(ME, ep, measure="phq-9", point="between")
    assert made.token is not None
    p.submit_response(made.token, answers=ANSWERS)
    return ep, session_id


@pytest.fixture
def exported(tmp_path: Path) -> tuple[dict[str, list[dict[str, Any]]], str, str]:
    """The episode of :func:`_episode_with_responses` and its Bulk export, by resource type."""
    with Practice(SQLiteStore(tmp_path / "p.sqlite"), clock=lambda: NOW) as p:
        ep, session_id = _episode_with_responses(p)
        export_ndjson(p, Actor("sup", "supervisor", CLINIC), tmp_path / "bulk", purpose="treatment")
    out: dict[str, list[dict[str, Any]]] = {}
    for file in (tmp_path / "bulk").glob("*.ndjson"):
        out[file.stem] = [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines()]
    return out, ep, session_id


def _ext(resource: dict[str, Any], url: str) -> Any:
    [found] = [e for e in resource["extension"] if e["url"] == url]
    return next(v for k, v in found.items() if k.startswith("value"))


def test_each_response_is_the_patients_in_its_session_or_in_none(
    exported: tuple[dict[str, list[dict[str, Any]]], str, str], r4_schema: R4Schema
) -> None:
    resources, ep, session_id = exported
    patient = {
        "type": "Patient",
        "identifier": {"system": "urn:alliancekit:host:client", "value": "client-1"},
    }
    responses = {_ext(r, EXT_REQUEST_POINT)["code"]: r for r in resources["QuestionnaireResponse"]}
    assert set(responses) == {"start", "between"}
    in_session, between = responses["start"], responses["between"]
    encounter = {"reference": f"Encounter/{ids.encounter_id(ep, session_id)}"}
    assert in_session["encounter"] == encounter
    assert "encounter" not in between
    assert (in_session["authored"], between["authored"]) == (ON_PAPER.isoformat(), NOW.isoformat())
    assert (_ext(in_session, EXT_AT_SESSION), _ext(between, EXT_AT_SESSION)) == (1, 1)
    for response in (in_session, between):
        assert response["author"] == response["source"] == response["subject"] == patient
        assert response["questionnaire"].endswith("/phq-9|1.0")
        assert _ext(response, WORKFLOW_EPISODE_OF_CARE) == {
            "reference": f"EpisodeOfCare/{ids.episode_of_care_id(ep)}"
        }
        assert {i["linkId"]: i["answer"][0]["valueInteger"] for i in response["item"]} == ANSWERS
        [total] = [
            o
            for o in resources["Observation"]
            if o["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response['id']}"}]
        ]
        assert total["valueQuantity"]["value"] == 8
        assert total["performer"] == [patient]
        assert total["effectiveDateTime"] == response["authored"]
        assert total.get("encounter") == response.get("encounter")
    for resource in [*resources["QuestionnaireResponse"], *resources["Observation"]]:
        assert [str(e) for e in r4_schema.errors(resource)] == []
    # the session's Encounter holds no administration of its own: only the client's response names it
    assert len(resources["QuestionnaireResponse"]) == 2


def test_provenance_names_who_recorded_each_response(
    exported: tuple[dict[str, list[dict[str, Any]]], str, str], r4_schema: R4Schema
) -> None:
    resources, _, _ = exported
    by_target = {t["reference"]: p for p in resources["Provenance"] for t in p["target"]}
    kinds = {}
    for response in resources["QuestionnaireResponse"]:
        prov = by_target[f"QuestionnaireResponse/{response['id']}"]
        assert [str(e) for e in r4_schema.errors(prov)] == []
        assert prov["activity"]["coding"][0]["code"] == "CREATE"
        kinds[_ext(response, EXT_REQUEST_POINT)["code"]] = prov["agent"][0]["who"]["type"]
    # on paper: recorded by the clinician; through the link: by the client themselves
    assert kinds == {"start": "Practitioner", "between": "Patient"}


def test_a_lockbox_on_sessions_withholds_the_clients_responses(tmp_path: Path) -> None:
    reader = Actor("sup", "supervisor", CLINIC)
    with Practice(SQLiteStore(tmp_path / "p.sqlite"), clock=lambda: NOW) as p:
        ep, _ = _episode_with_responses(p)
        export_ndjson(p, reader, tmp_path / "before", purpose="treatment")
        p.set_lockbox(ME, ep, scope="class", classes=["sessions"], on=DAY)
        export_ndjson(p, reader, tmp_path / "after", purpose="treatment")
    before = (tmp_path / "before" / "QuestionnaireResponse.ndjson").read_text(encoding="utf-8").splitlines()
    assert len(before) == 2  # both responses, until the client's directive (the checks below can fail)
    assert not (tmp_path / "after" / "QuestionnaireResponse.ndjson").exists()
    assert not (tmp_path / "after" / "Observation.ndjson").exists()
    assert (tmp_path / "after" / "EpisodeOfCare.ndjson").exists()  # the episode itself is not withheld
    [outcome] = [
        json.loads(line)
        for line in (tmp_path / "after" / "OperationOutcome.ndjson").read_text(encoding="utf-8").splitlines()
    ]
    assert "lockbox" in outcome["issue"][0]["details"]["text"]
