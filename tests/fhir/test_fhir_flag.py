"""Alerts -> Flag, with stand-in alert events (the alerts feature adds the event classes in parallel)."""

from __future__ import annotations

from pathlib import Path

from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import ALERT_RULE
from alliancekit.fhir.validate import R4Schema

from .conftest import append_raw, by_type, small_practice


def test_alerts_become_flags_active_and_past(tmp_path: Path, r4_schema: R4Schema) -> None:
    practice, actor, ep = small_practice(tmp_path / "alerts.sqlite")
    with practice:
        append_raw(
            practice,
            ep,
            "alert-raised",
            {
                "alert_id": "a1",
                "rule_id": "risk-item",
                "severity": "urgent",
                "message": "Synthetic.",
                "raised_on": "2025-01-20",
                "at_session": 1,
            },
        )
        append_raw(
            practice,
            ep,
            "alert-raised",
            {
                "alert_id": "a2",
                "rule_id": "missed-sessions",
                "severity": "amber",
                "message": "Synthetic.",
                "raised_on": "2025-01-27",
                "at_session": 1,
            },
        )
        append_raw(practice, ep, "alert-acknowledged", {"alert_id": "a1", "on": "2025-01-21"})
        append_raw(
            practice, ep, "alert-resolved", {"alert_id": "a1", "on": "2025-01-22", "note": "synthetic plan"}
        )
        bundle = episode_bundle(practice, actor, ep)
    assert r4_schema.check(bundle) == []
    flags = {f["code"]["coding"][0]["code"]: f for f in by_type(bundle)["Flag"]}
    assert {"risk-item", "missed-sessions"} <= set(flags)  # beside the alerts the practice raised itself
    past, current = flags["risk-item"], flags["missed-sessions"]
    assert past["status"] == "inactive"
    assert past["period"] == {"start": "2025-01-20", "end": "2025-01-22"}
    assert current["status"] == "active"
    assert current["period"] == {"start": "2025-01-27"}
    assert past["code"]["coding"][0]["system"] == ALERT_RULE
    assert {e["url"].rsplit("/", 1)[1] for e in past["extension"]} == {
        "workflow-episodeOfCare",
        "alert-severity",
        "alert-acknowledged",
    }
    assert "synthetic plan" not in str(bundle)  # the resolution note is free text: not exported
