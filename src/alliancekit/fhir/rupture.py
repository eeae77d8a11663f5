"""rupture note -> Observation, coded in the project's own systems (3RS: Eubanks, Muran & Safran).

``code`` ``alliance-rupture`` (``.../CodeSystem/rupture``); ``valueCodeableConcept`` the kind
(withdrawal or confrontation, ``rupture-kind``); ``component`` per marker (``rupture-marker``), the likely
cause (``rupture-cause``), the salience (1-5, ``valueInteger``), each repair strategy tried, at noting or
later (``repair-strategy``), and whether it resolved (``valueBoolean``). ``category`` ``therapy``.
``encounter`` is the session it was noted in. The clinician's description and the client's view are
``note`` entries, with free text only.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    OBSERVATION_CATEGORY,
    REPAIR_STRATEGY,
    RUPTURE,
    RUPTURE_CAUSE,
    RUPTURE_KIND,
    RUPTURE_MARKER,
    concept,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import RuptureRecord


def _component(code: str, **value: Any) -> dict[str, Any]:
    return {"code": concept(RUPTURE, code), **value}


def map_rupture(record: RuptureRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    note = record.note
    rid = ids.resource_id("Observation", record.episode_id, "rupture", record.rupture_id)
    components = [
        _component("marker", valueCodeableConcept=concept(RUPTURE_MARKER, m.value)) for m in note.markers
    ]
    components.append(
        _component("likely-cause", valueCodeableConcept=concept(RUPTURE_CAUSE, note.likely_cause.value))
    )
    components.append(_component("salience", valueInteger=note.salience))
    strategies = list(note.repairs)
    for attempt in record.repairs:
        strategies += [s for s in attempt.strategies if s not in strategies]
    components += [
        _component("repair-strategy", valueCodeableConcept=concept(REPAIR_STRATEGY, s.value))
        for s in strategies
    ]
    components.append(_component("resolved", valueBoolean=record.resolved))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid,
        "identifier": [ids.identifier(rid)],
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "therapy", "Therapy")],
        "code": concept(RUPTURE, "alliance-rupture", "Alliance rupture"),
        "subject": ctx.client,
    }
    if note.session_id is not None:
        resource["encounter"] = ids.ref("Encounter", ids.encounter_id(record.episode_id, note.session_id))
    resource.update(
        {
            "effectiveDateTime": note.noted_on.isoformat(),
            "performer": [ctx.ref("practitioner", record.clinician_id)],
            "valueCodeableConcept": concept(RUPTURE_KIND, note.kind.value),
        }
    )
    notes = []
    if ctx.include_text:
        if note.description:
            notes.append({"text": note.description})
        notes += [
            {"text": f"Client's view: {v}"}
            for v in [note.client_view, *(r.client_view for r in record.repairs)]
            if v
        ]
    if notes:
        resource["note"] = notes
    resource["component"] = components
    return [resource]
