"""rupture note -> Observation, coded in the project's own systems (3RS: Eubanks, Muran & Safran).

``code`` ``alliance-rupture`` (``.../CodeSystem/rupture``); ``valueCodeableConcept`` the kind
(withdrawal or confrontation, ``rupture-kind``); ``component`` per marker (``rupture-marker``), the likely
cause (``rupture-cause``), the salience (1-5, ``valueInteger``), each repair strategy tried when it was
noted (``repair-strategy``), and whether it is resolved now (``valueBoolean``). ``category`` ``therapy``.
``encounter`` is the session it was noted in. The clinician's description and the client's view are
``note`` entries, with free text only.

Each later repair attempt is an Observation of its own (``code`` ``repair-attempt``, ``focus`` the
rupture's Observation, ``effectiveDateTime`` the day it was tried): a ``repair-strategy`` component per
strategy and ``resolved``; the client's view of it is a ``note``, with free text only.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    REPAIR_STRATEGY,
    RUPTURE,
    RUPTURE_CAUSE,
    RUPTURE_KIND,
    RUPTURE_MARKER,
    concept,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import RuptureRecord
from alliancekit.fhir.therapy import therapy_observation


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
    components += _strategies(note.repairs)
    components.append(_component("resolved", valueBoolean=record.resolved))
    resource = therapy_observation(
        rid, record.episode_id, concept(RUPTURE, "alliance-rupture", "Alliance rupture"), ctx
    )
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
        if note.client_view:
            notes.append({"text": f"Client's view: {note.client_view}"})
    if notes:
        resource["note"] = notes
    resource["component"] = components
    return [resource, *(_repair(record, i, ctx, rid) for i in range(len(record.repairs)))]


def _strategies(strategies: Any) -> list[dict[str, Any]]:
    return [
        _component("repair-strategy", valueCodeableConcept=concept(REPAIR_STRATEGY, s.value))
        for s in strategies
    ]


def _repair(record: RuptureRecord, index: int, ctx: ExportContext, rupture: str) -> dict[str, Any]:
    attempt = record.repairs[index]
    rid = ids.resource_id("Observation", record.episode_id, "rupture", record.rupture_id, index)
    resource: dict[str, Any] = {
        **therapy_observation(
            rid, record.episode_id, concept(RUPTURE, "repair-attempt", "Alliance rupture repair attempt"), ctx
        ),
        "focus": [ids.ref("Observation", rupture)],
        "effectiveDateTime": attempt.attempted_on.isoformat(),
        "performer": [ctx.ref("practitioner", record.clinician_id)],
    }
    if ctx.include_text and attempt.client_view:
        resource["note"] = [{"text": f"Client's view: {attempt.client_view}"}]
    resource["component"] = [
        *_strategies(attempt.strategies),
        _component("resolved", valueBoolean=attempt.resolved),
    ]
    return resource
