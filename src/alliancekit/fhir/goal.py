"""goal -> Goal.

* ``lifecycleStatus`` from the goal's state: active -> ``active``, on hold -> ``on-hold``, achieved ->
  ``completed``, cancelled -> ``cancelled``. When the episode has closed, a goal still active or on hold is
  ``completed`` (no longer being sought; ``achievementStatus`` says how far it got).
* ``achievementStatus`` from the latest review's progress for the goal (our progress values are FHIR's
  goal-achievement codes); ``achieved`` whenever the goal was marked achieved.
* Revisions are history, not overwrites: the resource carries the current wording, ``meta.versionId`` is
  the number of versions (1 + revisions), and each agreement and revision has its own Provenance whose
  target is the versioned reference ``Goal/<id>/_history/<n>`` and whose ``occurredDateTime`` is the day
  it names. Earlier wordings stay in alliancekit's timeline; they are not re-exported.
* The goal's own status is also in the goal-status extension: once the episode has closed,
  ``lifecycleStatus`` no longer tells an active goal from an achieved one.
* The description is the client's own words, included only when the export includes free text;
  otherwise ``Goal <n>``, marked with the data-absent-reason extension (``masked``) so that no reader
  takes it for the client's words. Agreed tasks go in ``note``, under the same rule.
"""

from __future__ import annotations

from typing import Any

from alliancekit.domain.vocab import GoalProgress, GoalStatus
from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    DATA_ABSENT_REASON,
    EXT_GOAL_STATUS,
    GOAL_ACHIEVEMENT,
    GOAL_STATUS,
    coding,
    concept,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import GoalRecord

LIFECYCLE: dict[GoalStatus, str] = {
    GoalStatus.ACTIVE: "active",
    GoalStatus.ON_HOLD: "on-hold",
    GoalStatus.ACHIEVED: "completed",
    GoalStatus.CANCELLED: "cancelled",
}


def lifecycle_status(record: GoalRecord) -> str:
    status = LIFECYCLE[record.status]
    if record.episode_closed and status in ("active", "on-hold"):
        return "completed"
    return status


def achievement(record: GoalRecord) -> GoalProgress | None:
    if record.status is GoalStatus.ACHIEVED:
        return GoalProgress.ACHIEVED
    return record.progress


def map_goal(record: GoalRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    rid = ids.goal_id(record.episode_id, record.goal_id)
    description: dict[str, Any] = {"text": record.description}
    if not (ctx.include_text and record.description):
        masked = {"url": DATA_ABSENT_REASON, "valueCode": "masked"}
        description = {"extension": [masked], "text": f"Goal {record.number}"}
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "id": rid,
        "meta": {"versionId": str(1 + record.revisions)},
        "extension": [
            ids.episode_extension(record.episode_id),
            {"url": EXT_GOAL_STATUS, "valueCoding": coding(GOAL_STATUS, record.status.value)},
        ],
        "identifier": [ids.identifier(rid)],
        "lifecycleStatus": lifecycle_status(record),
    }
    progress = achievement(record)
    if progress is not None:
        resource["achievementStatus"] = concept(GOAL_ACHIEVEMENT, progress.value)
    resource.update(
        {
            "description": description,
            "subject": ctx.client,
            "startDate": record.agreed_on.isoformat(),
            "statusDate": max(record.status_on, record.progress_on or record.status_on).isoformat(),
        }
    )
    if ctx.include_text and record.tasks:
        resource["note"] = [{"text": f"Agreed task: {task}"} for task in record.tasks]
    return [resource]
