"""The demo's clients who are seen together: a couple, a family with a parent who rates their child, and
a therapy group run by two facilitators. Each goes through the whole lifecycle through the public facade,
like the individual clients of :mod:`.simulate`. All names, ids and words are synthetic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from alliancekit.demo.measures import administration
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Ending,
    EndingReason,
    GroupSession,
    MaintenancePlan,
    MemberAttendance,
    Modality,
    Participant,
    ParticipantRole,
    Rater,
    Role,
)

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.demo.simulate import _Client, _Simulation

GROUP_ID = "demo-group-1"
CONSENTED = Consent(treatment=True, measures=True)


def couple(client: _Client, *, end: bool = True) -> None:
    """Partners seen together: each rates their own outcome (ORS) and the alliance (SRS). The partner's
    alliance dips for a few sessions, a split alliance the clinician talks through, then recovers."""
    partner = f"demo-partner-{client.index:03d}"
    client.consult()
    client.p.add_participant(
        client.actor, client.ep, Participant(partner, ParticipantRole.PARTNER, CONSENTED), added_on=client.day
    )
    client.agree_goals()
    partner_alliance = [0.95, 0.9, 0.78, 0.8, 0.9, 0.94, 0.95, 0.95]
    for week, alliance in enumerate(partner_alliance):
        wellbeing = min(0.9, 0.35 + 0.05 * week)
        client.others = lambda w=wellbeing, a=alliance: [  # type: ignore[misc]
            _about(client, "ors", AdministrationTiming.START, w, partner),
            _about(client, "srs", AdministrationTiming.END, a, partner),
        ]
        client.session(drift=0.045, symptoms=(week + 1) % client.sim.practice.review_every == 0)
    client.others = list
    if end:
        client.planned_ending()


def family(client: _Client, *, end: bool = True) -> None:
    """A child (6-12) and a parent: the child rates the Child ORS, the parent rates the child on it too (a
    collateral report), and the parent rates the alliance (SRS)."""
    parent = f"demo-parent-{client.index:03d}"
    client.outcome_measure = "cors"
    client.consult()
    client.p.add_participant(
        client.actor, client.ep, Participant(parent, ParticipantRole.PARENT, CONSENTED), added_on=client.day
    )
    client.agree_goals()
    for week in range(7):
        seen_by_parent = min(0.9, 0.3 + 0.06 * week)
        client.others = lambda w=seen_by_parent: [  # type: ignore[misc]
            _about(client, "cors", AdministrationTiming.START, w, None, Rater.PARENT, parent),
            _about(client, "srs", AdministrationTiming.END, 0.92, parent),
        ]
        client.session(drift=0.05)
    client.others = list
    if end:
        client.planned_ending()


def _about(
    client: _Client,
    measure_id: str,
    timing: AdministrationTiming,
    level: float,
    about: str | None,
    rater: Rater = Rater.CLIENT,
    rater_ref: str | None = None,
) -> Administration:
    """Synthetic answers about ``about`` (``None``: the identified client), rated by ``rater``."""
    made = administration(client.sim.practice.plugins.measures(), measure_id, timing, level, client.rng)
    return Administration(made.measure_id, made.version, made.timing, made.answers, rater, about, rater_ref)


def group(sim: _Simulation, members: list[_Client], co_facilitator: str) -> None:
    """A group of four, each with their own episode, co-facilitated by two clinicians (the first member's and
    ``co_facilitator``); eight weekly group sessions recorded once each (ORS at the start, the Group SRS at
    the end). One member stops coming after week four and the episode ends as a dropout; one stays on for the
    next cohort (open, in the report); the others end as planned."""
    lead = members[0].actor
    co = Actor(co_facilitator, Role.CLINICIAN, lead.clinic_id)
    for member in members:
        member.consult()
        member.agree_goals()
        member.p.join_group(
            member.actor, member.ep, group_id=GROUP_ID, facilitator_ids=(lead.id, co.id), joined_on=member.day
        )
    day = max(m.day for m in members)
    practice = sim.practice
    for week in range(8):
        day += timedelta(days=7)
        parts = []
        for i, member in enumerate(members):
            member.at(day)
            gone = i == len(members) - 1 and week >= 4
            if gone:
                parts.append(MemberAttendance(member.ep, Attendance.NO_SHOW))
                continue
            member.wellbeing = min(0.9, member.wellbeing + 0.04)
            alliance = 0.8 if (i == 1 and week in (2, 3)) else 0.93
            parts.append(
                MemberAttendance(
                    member.ep,
                    Attendance.ATTENDED,
                    (
                        _about(member, "ors", AdministrationTiming.START, member.wellbeing, None),
                        _about(member, "gsrs", AdministrationTiming.END, alliance, None),
                    ),
                )
            )
        recorder = lead if week % 2 == 0 else co  # the co-facilitator records every other week
        practice.record_group_session(
            recorder,
            GROUP_ID,
            GroupSession(held_on=day, modality=Modality.IN_PERSON, members=tuple(parts)),
            idempotency_key=f"{GROUP_ID}-week-{week + 1}",
        )
        sim.session_count += len(members)
        for member in members:
            member.sessions += 1
            member.handle_alerts()
    for i, member in enumerate(members):
        member.at(day + timedelta(days=1))
        if i == len(members) - 1:
            member.unplanned_ending(EndingReason.DROPOUT, "synthetic: stopped coming to the group")
            continue
        if i == len(members) - 2:
            continue  # stays on for the next cohort
        practice.plan_ending(member.actor, member.ep, on=member.day)
        practice.close_episode(
            member.actor,
            member.ep,
            Ending(
                ended_on=member.day,
                planned=True,
                reason=EndingReason.GOALS_MET,
                reflection="synthetic: the group helped",
                maintenance_plan=MaintenancePlan(supports=("synthetic: the group's alumni meeting",)),
            ),
        )
