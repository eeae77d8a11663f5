"""maintenance plan -> CarePlan.

The plan the client leaves with: ``status`` ``active`` (it is for after therapy), ``intent`` ``plan``,
``period`` from the end of therapy. ``goal``: the episode's goals it sustains (all but cancelled ones).
``activity``: one per coping strategy and support (``detail.code`` in the project's
``maintenance-activity`` system; ``detail.description`` is the client's wording, only with free text), and
one per booster session (``scheduled``, ``scheduledPeriod`` its day). Early warning signs and the return
plan are ``note`` entries, with free text only. ``supportingInfo`` points at the EpisodeOfCare.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import MAINTENANCE_ACTIVITY, concept
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import MaintenancePlanRecord


def map_maintenance_plan(record: MaintenancePlanRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    plan, ending = record.plan, record.ending
    text = ctx.include_text
    rid = ids.resource_id("CarePlan", record.episode_id, "maintenance-plan")
    activities: list[dict[str, Any]] = []

    def activity(kind: str, status: str, description: str | None, **extra: Any) -> None:
        detail: dict[str, Any] = {"code": concept(MAINTENANCE_ACTIVITY, kind), "status": status, **extra}
        if text and description:
            detail["description"] = description
        activities.append({"detail": detail})

    for strategy in plan.coping_strategies:
        activity("coping-strategy", "in-progress", strategy)
    for support in plan.supports:
        activity("support", "in-progress", support)
    for booster in plan.booster_sessions:
        # a Period, not scheduledString: a date in text is not a date a receiver can compare or search
        day = booster.isoformat()
        activity("booster-session", "scheduled", None, scheduledPeriod={"start": day, "end": day})
    notes = []
    if text:
        notes += [{"text": f"Early warning sign: {sign}"} for sign in plan.warning_signs]
        if plan.return_plan:
            notes.append({"text": f"When and how to come back: {plan.return_plan}"})
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": rid,
        "identifier": [ids.identifier(rid)],
        "status": "active",
        "intent": "plan",
        "category": [concept(MAINTENANCE_ACTIVITY, "maintenance-plan", "Maintenance plan")],
        "title": "Maintenance plan",
        "subject": ctx.client,
        "period": {"start": ending.ended_on.isoformat()},
        "created": ending.ended_on.isoformat(),
        "author": ctx.ref("practitioner", record.clinician_id),
        "supportingInfo": [ids.ref("EpisodeOfCare", ids.episode_of_care_id(record.episode_id))],
    }
    if record.goal_ids:
        resource["goal"] = [ids.ref("Goal", ids.goal_id(record.episode_id, g)) for g in record.goal_ids]
    if activities:
        resource["activity"] = activities
    if notes:
        resource["note"] = notes
    return [resource]
