"""Times in a FHIR export: stamped by the practice's clock (``clock=``), as the export's audit entry is, not
by the machine's; a response's time keeps the offset it was given as a valid FHIR ``dateTime``; and a date is
written as the day it names, never moved by a time-zone conversion. On a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from alliancekit import Actor, Administration, Purpose, Role, open_practice
from alliancekit.domain import Consent, Consultation, FitDecision, GoalDraft, Session
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.validate import R4Schema

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC, Purpose.TREATMENT)
#: 23:59:59.5 on 31 December 2026 at UTC+14 (Kiritimati), 09:59:59.5 UTC: no machine's clock says this.
NOW = datetime(2026, 12, 31, 9, 59, 59, 500000, tzinfo=UTC)
DAY = date(2026, 12, 31)


def _practice(path: Path) -> tuple[object, str]:
    p = open_practice(path, clock=lambda: NOW, clinic_time_zones={CLINIC: "Pacific/Kiritimati"})
    ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=DAY)
    p.record_consultation(ME, ep, Consultation(held_on=DAY, modality="video", consent=Consent(True, True)))
    p.decide_fit(ME, ep, FitDecision("proceed", DAY))
    p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=DAY)
    p.record_session(ME, ep, Session(held_on=DAY, modality="video", attendance="attended"))
    phq9 = Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})
    for offset in (timedelta(hours=14), timedelta(hours=-11)):
        at = datetime(2026, 12, 29, 23, 59, 59, tzinfo=timezone(offset))
        p.record_client_response(ME, ep, phq9, responded_at=at)
    return p, ep


def test_a_bundle_is_stamped_by_the_practices_clock(tmp_path: Path, r4_schema: R4Schema) -> None:
    p, ep = _practice(tmp_path / "p.sqlite")
    with p:  # type: ignore[attr-defined]
        bundle = episode_bundle(p, ME, ep)  # type: ignore[arg-type]
    assert bundle["timestamp"] == "2026-12-31T09:59:59+00:00"
    assert [str(e) for e in r4_schema.errors(bundle)] == []
    resources = [e["resource"] for e in bundle["entry"]]
    authored = sorted(r["authored"] for r in resources if r["resourceType"] == "QuestionnaireResponse")
    assert authored == ["2026-12-29T23:59:59+14:00", "2026-12-29T23:59:59-11:00"]
    starts = {r["period"]["start"] for r in resources if r["resourceType"] == "Encounter"}
    assert starts == {"2026-12-31"}  # the day given, not moved to the UTC date of the instant (the 30th)


def test_a_bulk_exports_transaction_time_is_the_practices_clock(tmp_path: Path) -> None:
    p, _ = _practice(tmp_path / "p.sqlite")
    with p:  # type: ignore[attr-defined]
        result = export_ndjson(p, ME, tmp_path / "bulk")  # type: ignore[arg-type]
    manifest = json.loads((tmp_path / "bulk" / "manifest.json").read_text(encoding="utf-8"))
    assert (
        manifest["transactionTime"] == result.manifest["transactionTime"] == "2026-12-31T09:59:59.500+00:00"
    )
