"""episode -> EpisodeOfCare.

Status from the lifecycle stage: consultation -> ``planned``; goal setting, active, ending -> ``active``;
on hold -> ``onhold``; closed -> ``finished``, or ``cancelled`` when the episode closed at the fit decision
(referred elsewhere, or not proceeding: care never started). ``statusHistory`` holds the earlier statuses
with their periods. The care manager is the clinician of record (after any transfer).

R4's EpisodeOfCare has no participant element: an episode with several clients, or a member of a group,
carries a contained CareTeam (``team``) listing the identified client (the Patient), each other participant
(a RelatedPerson, with their role) and the group's facilitators. Another member of the same group is
never named in one member's export.
"""

from __future__ import annotations

from typing import Any

from alliancekit.domain.vocab import ParticipantRole, Stage
from alliancekit.fhir import ids
from alliancekit.fhir.codes import PARTICIPANT_ROLE, concept
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import EpisodeRecord

STAGE_STATUS: dict[Stage, str] = {
    Stage.CONSULTATION: "planned",
    Stage.GOAL_SETTING: "active",
    Stage.ACTIVE: "active",
    Stage.ENDING: "active",
    Stage.ON_HOLD: "onhold",
}


def status_of(record: EpisodeRecord) -> str:
    state = record.state
    if state.stage is Stage.CLOSED:
        return "finished" if state.ending_reason is not None else "cancelled"
    return STAGE_STATUS[state.stage]


def map_episode(record: EpisodeRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    state = record.state
    rid = ids.episode_of_care_id(record.episode_id)
    period: dict[str, Any] = {"start": state.opened_on.isoformat()}
    if state.closed_on is not None:
        period["end"] = state.closed_on.isoformat()
    resource: dict[str, Any] = {"resourceType": "EpisodeOfCare", "id": rid}
    team = _care_team(record, ctx)
    if team is not None:
        resource["contained"] = [team]
    resource.update({"identifier": [ids.identifier(rid)], "status": status_of(record)})
    history = [
        {"status": p.status, "period": {"start": p.start.isoformat(), "end": p.end.isoformat()}}
        for p in record.history[:-1]
        if p.end is not None
    ]
    if history:
        resource["statusHistory"] = history
    resource.update(
        {
            "patient": ctx.client,
            "managingOrganization": ctx.ref("organization", state.clinic_id),
            "period": period,
            "careManager": ctx.ref("practitioner", state.clinician_id),
        }
    )
    if team is not None:
        resource["team"] = [{"reference": f"#{team['id']}"}]
    return [resource]


def _care_team(record: EpisodeRecord, ctx: ExportContext) -> dict[str, Any] | None:
    state = record.state
    if not state.participants and not state.facilitator_ids:
        return None
    members = [{"role": [concept(PARTICIPANT_ROLE, ParticipantRole.CLIENT.value)], "member": ctx.client}]
    members += [
        {"role": [concept(PARTICIPANT_ROLE, p.role.value)], "member": ctx.party(ref)}
        for ref, p in state.participants.items()
    ]
    members += [
        {"role": [concept(PARTICIPANT_ROLE, "facilitator")], "member": ctx.ref("practitioner", f)}
        for f in state.facilitator_ids
    ]
    return {
        "resourceType": "CareTeam",
        "id": "participants",
        "status": "active",
        "subject": ctx.client,
        "participant": members,
    }
