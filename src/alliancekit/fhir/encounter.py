"""consultation and each session -> Encounter.

* ``class`` (HL7 v3 ActCode) from the modality: in person -> ``AMB`` (ambulatory); video -> ``VR``
  (virtual); phone -> ``VR`` too: v3 ActCode defines ``VR`` as an encounter where the patient and the
  practitioner are not in the same place, with telephone conferences among its examples, and has no code
  of its own for the telephone.
  The exact modality is in ``type``, coded in the project's modality code system.
* ``status`` from attendance: attended -> ``finished``; cancelled -> ``cancelled``; no-show ->
  ``cancelled`` as well, because R4's Encounter has no no-show status (the appointment never became an
  encounter; ``entered-in-error`` and ``unknown`` would both be false). What happened is kept exactly in
  the attendance extension (``.../StructureDefinition/attendance``), so no-shows stay countable.
* ``type`` also says whether it was the consultation or a session. The consent given at the consultation
  is in the consent extension (treatment, measures, data sharing).
* ``participant``: the clinician of record; in an episode with several clients, the others present
  (``PART``, as RelatedPerson: the identified client is the ``subject``); in a group session, the
  co-facilitator (``SPRF``). A group session's id is in the group-session extension, the same in every
  member's export. A session a correction moved to an earlier day carries the day it was first recorded on
  in the first-held-on extension (``period`` is the day as corrected).
"""

from __future__ import annotations

from typing import Any

from alliancekit.domain.vocab import Attendance, Modality
from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    ATTENDANCE,
    ENCOUNTER_KIND,
    EXT_ATTENDANCE,
    EXT_FIRST_HELD_ON,
    EXT_GROUP_SESSION,
    MODALITY,
    V3_ACT_CODE,
    V3_PARTICIPATION_TYPE,
    coding,
    concept,
    consent_extension,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import ConsultationRecord, SessionRecord

MODALITY_CLASS: dict[Modality, tuple[str, str]] = {
    Modality.IN_PERSON: ("AMB", "ambulatory"),
    Modality.VIDEO: ("VR", "virtual"),
    Modality.PHONE: ("VR", "virtual"),
}

ATTENDANCE_STATUS: dict[Attendance, str] = {
    Attendance.ATTENDED: "finished",
    Attendance.CANCELLED: "cancelled",
    Attendance.NO_SHOW: "cancelled",
}


def _encounter(
    rid: str,
    *,
    status: str,
    modality: Modality,
    kind: str,
    on: str,
    clinician_id: str,
    ctx: ExportContext,
    extension: list[dict[str, Any]] | None = None,
    others: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    code, display = MODALITY_CLASS[modality]
    resource: dict[str, Any] = {"resourceType": "Encounter", "id": rid}
    if extension:
        resource["extension"] = extension
    resource.update(
        {
            "identifier": [ids.identifier(rid)],
            "status": status,
            "class": coding(V3_ACT_CODE, code, display),
            "type": [concept(ENCOUNTER_KIND, kind), concept(MODALITY, modality.value)],
            "subject": ctx.client,
            "episodeOfCare": [ids.ref("EpisodeOfCare", ids.episode_of_care_id(ctx.state.episode_id))],
            "participant": [{"individual": ctx.ref("practitioner", clinician_id)}, *(others or ())],
            "period": {"start": on, "end": on},
            "serviceProvider": ctx.ref("organization", ctx.state.clinic_id),
        }
    )
    return resource


def map_consultation(record: ConsultationRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    c = record.consultation
    rid = ids.encounter_id(record.episode_id, "consultation")
    consent = consent_extension(c.consent)
    return [
        _encounter(
            rid,
            status="finished",
            modality=c.modality,
            kind="consultation",
            on=c.held_on.isoformat(),
            clinician_id=record.clinician_id,
            ctx=ctx,
            extension=[consent],
        )
    ]


def map_session(record: SessionRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    s = record.session
    rid = ids.encounter_id(record.episode_id, record.session_id)
    attendance = {"url": EXT_ATTENDANCE, "valueCoding": coding(ATTENDANCE, s.attendance.value)}
    extension = [attendance]
    if s.group_session_id is not None:
        extension.append({"url": EXT_GROUP_SESSION, "valueString": s.group_session_id})
    if record.first_held_on is not None:
        extension.append({"url": EXT_FIRST_HELD_ON, "valueDate": record.first_held_on.isoformat()})
    return [
        _encounter(
            rid,
            status=ATTENDANCE_STATUS[s.attendance],
            modality=s.modality,
            kind="session",
            on=s.held_on.isoformat(),
            clinician_id=record.clinician_id,
            ctx=ctx,
            extension=extension,
            others=_others(record, ctx),
        )
    ]


def _others(record: SessionRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    """The other participants present (``PART``) and a group's co-facilitator (``SPRF``, secondary
    performer), besides the clinician of record."""
    out = [
        {"type": [concept(V3_PARTICIPATION_TYPE, "PART", "Participation")], "individual": ctx.party(ref)}
        for ref in record.present
    ]
    out += [
        {
            "type": [concept(V3_PARTICIPATION_TYPE, "SPRF", "secondary performer")],
            "individual": ctx.ref("practitioner", facilitator),
        }
        for facilitator in record.facilitators
        if facilitator != record.clinician_id
    ]
    return out
