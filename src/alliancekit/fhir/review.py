"""review -> Observation, with an Observation of each goal's progress judged at it.

A review is not a visit (it has no modality of its own), so it is an Observation, not an Encounter: ``code``
``review`` (``.../CodeSystem/review``), ``valueCodeableConcept`` the decision (``review-decision``),
``effectiveDateTime`` the day it was held, ``performer`` the clinician of record, ``category`` ``therapy``.
``hasMember`` lists one Observation per goal judged: ``code`` ``goal-progress``, ``focus`` the Goal,
``valueCodeableConcept`` the progress (FHIR's goal-achievement codes, as ``Goal.achievementStatus``), and
the clinician's note on it in ``note`` with free text only. The review's own narrative (progress, obstacles,
what helped) is free text that is not mapped.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import GOAL_ACHIEVEMENT, REVIEW, REVIEW_DECISION, concept
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import ReviewRecord
from alliancekit.fhir.therapy import therapy_observation


def map_review(record: ReviewRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    review = record.review
    rid = ids.resource_id("Observation", record.episode_id, "review", record.review_id)

    def observation(oid: str, code: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            **therapy_observation(oid, record.episode_id, concept(REVIEW, code), ctx),
            "effectiveDateTime": review.held_on.isoformat(),
            "performer": [ctx.ref("practitioner", record.clinician_id)],
            "valueCodeableConcept": value,
        }

    members = []
    for i, note in enumerate(review.goal_progress):
        member = observation(
            ids.resource_id("Observation", record.episode_id, "review", record.review_id, i),
            "goal-progress",
            concept(GOAL_ACHIEVEMENT, note.progress.value),
        )
        member["focus"] = [ids.ref("Goal", ids.goal_id(record.episode_id, note.goal_id))]
        if ctx.include_text and note.note:
            member["note"] = [{"text": note.note}]
        members.append(member)
    main = observation(rid, "review", concept(REVIEW_DECISION, review.decision.value))
    if members:
        main["hasMember"] = [ids.ref("Observation", m["id"]) for m in members]
    return [main, *members]
