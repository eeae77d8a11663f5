"""episode -> EpisodeOfCare.

Status from the lifecycle stage: consultation -> ``planned``; goal setting, active, ending -> ``active``;
on hold -> ``onhold``; closed -> ``finished``, or ``cancelled`` when the episode closed at the fit decision
(referred elsewhere, or not proceeding: care never started). ``statusHistory`` holds the earlier statuses
with their periods. The care manager is the clinician of record (after any transfer). The state mapped is
the shared one (:attr:`~alliancekit.security.views.SharedRecord.state`): under a lockbox, the fold of the
shared events alone, so none of this says what a directive withholds (a fit, a hold, a transfer, an ending).

R4's EpisodeOfCare has no element for the rest of what the episode's record needs to be rebuilt, so
alliancekit extensions carry it: ``clinician-of-record`` (each clinician of record with the day
they became it: the opening, then each transfer), ``fit-outcome`` (referred or not proceeding, which
``cancelled`` does not tell apart), ``ending`` (the day the ending was planned and its target date;
once closed, the reason, whether it was planned, and, with free text only, the reflection and why no
maintenance plan was made) and ``norm-population`` (the norms the scores are read against, when the
episode names them: an import rebuilds the same clinical flags).

R4's EpisodeOfCare has no participant element: an episode with several clients, or a member of a group,
carries a contained CareTeam (``team``) listing the identified client (the Patient), each other participant
(a RelatedPerson, with their role, the day they joined as ``period.start`` and their consent in the consent
extension) and the group's facilitators (from the day the client joined the group); a group member's
CareTeam has the group's id as its identifier. Another member of the same group is
never named in one member's export.
"""

from __future__ import annotations

from typing import Any

from alliancekit.domain.vocab import ParticipantRole, Stage
from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    ENDING_REASON,
    EXT_CLINICIAN_OF_RECORD,
    EXT_ENDING,
    EXT_FIT_OUTCOME,
    EXT_NORM_POPULATION,
    FIT_OUTCOME,
    GROUP_ID_SYSTEM,
    PARTICIPANT_ROLE,
    coding,
    concept,
    consent_extension,
)
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
    extension = _extensions(record, ctx)
    if extension:
        resource["extension"] = extension
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


def _extensions(record: EpisodeRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "url": EXT_CLINICIAN_OF_RECORD,
            "extension": [
                {"url": "clinician", "valueReference": ctx.ref("practitioner", clinician)},
                {"url": "start", "valueDate": since.isoformat()},
            ],
        }
        for clinician, since in record.clinicians
    ]
    if record.state.population is not None:
        out.append({"url": EXT_NORM_POPULATION, "valueString": record.state.population})
    if record.state.fit is not None:
        out.append({"url": EXT_FIT_OUTCOME, "valueCoding": coding(FIT_OUTCOME, record.state.fit.value)})
    parts: list[dict[str, Any]] = []
    if record.ending_plan is not None:
        planned_on, target = record.ending_plan
        parts.append({"url": "planned-on", "valueDate": planned_on.isoformat()})
        if target is not None:
            parts.append({"url": "target", "valueDate": target.isoformat()})
    ending = record.ending
    if ending is not None:
        parts.append({"url": "reason", "valueCoding": coding(ENDING_REASON, ending.reason.value)})
        parts.append({"url": "planned", "valueBoolean": ending.planned})
        texts = {"reflection": ending.reflection, "no-plan-reason": ending.no_plan_reason}
        parts += [
            {"url": name, "valueString": text} for name, text in texts.items() if ctx.include_text and text
        ]
    if parts:
        out.append({"url": EXT_ENDING, "extension": parts})
    return out


def _care_team(record: EpisodeRecord, ctx: ExportContext) -> dict[str, Any] | None:
    state = record.state
    if not state.participants and not state.facilitator_ids:
        return None
    members = [{"role": [concept(PARTICIPANT_ROLE, ParticipantRole.CLIENT.value)], "member": ctx.client}]
    for ref, p in state.participants.items():
        member: dict[str, Any] = {}
        if ref in record.joined:
            member["extension"] = [consent_extension(record.joined[ref][1])]
        member.update({"role": [concept(PARTICIPANT_ROLE, p.role.value)], "member": ctx.party(ref)})
        if ref in record.joined:
            member["period"] = {"start": record.joined[ref][0].isoformat()}
        members.append(member)
    since = (
        {} if record.group_joined_on is None else {"period": {"start": record.group_joined_on.isoformat()}}
    )
    members += [
        {"role": [concept(PARTICIPANT_ROLE, "facilitator")], "member": ctx.ref("practitioner", f), **since}
        for f in state.facilitator_ids
    ]
    team: dict[str, Any] = {"resourceType": "CareTeam", "id": "participants"}
    if state.group_id is not None:
        team["identifier"] = [{"system": GROUP_ID_SYSTEM, "value": state.group_id}]
    team.update({"status": "active", "subject": ctx.client, "participant": members})
    return team
