"""A group session, recorded once: each member's episode gets its part, after every member is checked.

A group (one or two facilitators, several clients) has no stream of its own: each member's episode records
that it joined the group (``join_group``), and a group session is one ``record_session`` per member, each
through the guarded path like any other. Every member's part is checked and decided (access, membership,
measures, the lifecycle rules) before anything is written, so attendance for someone outside the group, or
any other refusal, writes nothing. The members' parts are then separate commits (one per episode, as every
command is): a writer racing in between could still refuse a later part. With an idempotency key each part
has its own key derived from it, so repeating the call completes the parts still missing and returns the
same records.

Only this call makes a group session: it mints the id (at random, or derived from the clinic, the group
and the idempotency key, so a repeat names the same one) and gives it to each part's command outside its
inputs (``Context.private``, which no facade, batch, CLI or import call can set). The command table tells
the access policy of a group session only then (or, for a correction, when the record already holds it),
so a group's co-facilitator, whose right in a member's episode rests on the group session, cannot have it
by giving a plain ``record_session`` a made-up ``group_session_id``. The store keeps no list of group
sessions to check a given id against, and none is needed: a repeat of this call, with its key, completes
the missing parts under the same id (a member left out can be added so too), and the clinician of record
may still record any session of their client's, a group session's part included.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import attrs

from alliancekit.core.clinical_dates import refuse_future
from alliancekit.core.command_table import COMMANDS, MINTED_GROUP_SESSION
from alliancekit.domain.checks import check_instance, check_optional_ref, check_ref
from alliancekit.domain.records import GroupSession, MemberAttendance, Session
from alliancekit.errors import ValidationError
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.rules import decide

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.core.runner import Recorded, Runner

_GROUP_NAMESPACE = uuid.UUID("0b6c9e52-8f4d-4a3e-9a55-67a1c0de17a1")

#: Where a part's refused measure is named by the lifecycle rules (the part is the caller's member's).
_PART_MEASURES = "session.administrations["

#: The rule of attendance given for an episode that is not in the group.
NOT_A_MEMBER = "not-a-group-member"


@attrs.frozen
class GroupSessionRecorded:
    """What recording a group session wrote: its id, and each member's part in the order given."""

    group_session_id: str
    sessions: tuple[Recorded, ...]


def record_group_session(
    runner: Runner, actor: object, group_id: object, session: object, idempotency_key: object
) -> GroupSessionRecorded:
    spec = COMMANDS["record_session"]
    s = runner.s
    a = s.guard.require_actor(actor, spec.action, "group", group_id)
    group = check_ref("group_id", group_id)
    checked = check_instance("session", session, GroupSession)
    refuse_future({"session": checked}, s.today(a.clinic_id), s.zone(a.clinic_id))
    key = check_optional_ref("idempotency_key", idempotency_key)
    scope = f"{a.clinic_id}\x1f{group}\x1f{key}"
    group_session_id = s.ids("group-session") if key is None else _derived(scope, "")
    parts = [_part(checked, member, group_session_id) for member in checked.members]
    # Every member's part is decided before any is written: one refused writes nothing for anyone.
    seen: set[str] = set()
    for i, (member, part) in enumerate(zip(checked.members, parts, strict=True)):
        where = f"session.members[{i}].episode_id"
        if member.episode_id in seen:
            raise ValidationError(where, "unique", "each member once")
        seen.add(member.episode_id)
        state, _ = s.guard.state(a, spec.action, member.episode_id)
        s.guard.allow(a, spec.action, "episode", state.episode_id, state, group_session_id=group_session_id)
        if state.group_id != group:
            raise ValidationError(where, NOT_A_MEMBER)
        command = c.RecordSession("", part, s.score(part.administrations, state.client_ref, state.population))
        try:
            decide(state, command)
        except ValidationError as error:  # name the member's measure, not a part the caller never wrote
            if not error.field.startswith(_PART_MEASURES):
                raise
            field = f"session.members[{i}].{error.field.removeprefix('session.')}"
            raise ValidationError(field, error.rule, error.detail) from None
    recorded = tuple(
        runner.run(
            spec,
            a,
            member.episode_id,
            {"session": part},
            idempotency_key=None if key is None else _derived(scope, member.episode_id),
            private={MINTED_GROUP_SESSION: group_session_id},
        )
        for member, part in zip(checked.members, parts, strict=True)
    )
    return GroupSessionRecorded(group_session_id, recorded)


def _part(session: GroupSession, member: MemberAttendance, group_session_id: str) -> Session:
    """One member's part of a group session, as their episode records it."""
    return Session(
        held_on=session.held_on,
        modality=session.modality,
        attendance=member.attendance,
        administrations=member.administrations,
        group_session_id=group_session_id,
    )


def _derived(scope: str, part: str) -> str:
    return uuid.uuid5(_GROUP_NAMESPACE, f"{scope}\x1f{part}").hex
