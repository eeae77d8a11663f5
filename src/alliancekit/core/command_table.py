"""Every command of the facade, declared once: its policy action, its inputs and their checks, the
lifecycle command it builds, and what it returns.

The runner (:mod:`.runner`) does the rest the same way for all of them: guard, idempotency, expected
version, decide, alert rules, one commit, bounded retry. The role x operation matrix and the lockbox
matrix in the tests enumerate this table, so a new command cannot be left out of either.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.core.request_commands import (
    build_recorded_response,
    build_request,
    build_response,
    build_revoke,
    check_language,
)
from alliancekit.domain.checks import (
    check_aware_datetime,
    check_bool,
    check_choice,
    check_date,
    check_instance,
    check_ref,
    check_refs,
    check_sequence_of,
    check_text,
)
from alliancekit.domain.records import (
    Administration,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalRevision,
    Participant,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RequestPoint
from alliancekit.errors import ValidationError
from alliancekit.lifecycle import commands as c
from alliancekit.protocols.definition import MeasurementProtocol
from alliancekit.requests.config import check_duration
from alliancekit.security.policy import Action
from alliancekit.store.protocol import RequestRecord

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.core.runner import Context

Args = Mapping[str, Any]
Check = Callable[[str, Any], Any]


class Returns(enum.Enum):
    """What a command's facade method returns."""

    RECORDED = "recorded"
    """:class:`~alliancekit.Recorded`: the episode, its new version, the record made."""
    OWN = "own"
    """The facade method wraps the :class:`~alliancekit.RecordedWithId` in a result of its own (a request,
    a kiosk code, a submission)."""
    EPISODE_ID = "episode-id"
    GOAL_IDS = "goal-ids"


@attrs.frozen
class CommandSpec:
    """One command: how its inputs are checked, what it builds, and what it names and returns."""

    name: str
    """The facade method."""
    action: str
    """The access-policy action; also the audit action and the scope of its idempotency keys."""
    checks: Mapping[str, Check]
    """Each input argument's check, run in order before anything is read."""
    build: Callable[[Context, Args], c.Command]
    record_id: Callable[[Context, Args], str] | None = None
    """The id of the record the command names (made or acted on); with it the facade returns a
    :class:`~alliancekit.RecordedWithId`."""
    corrects: Callable[[Context, Args], str | None] = lambda ctx, a: None
    group_session: Callable[[Context, Args], str | None] = lambda ctx, a: None
    """The group session the command writes a part of, for the access policy
    (:attr:`~alliancekit.security.policy.AccessRequest.group_session_id`): only one the library knows to
    be a group session (minted by :mod:`.groups`, or standing in the episode's record), never an id that
    is merely given."""
    returns: Returns = Returns.RECORDED
    planned: frozenset[str] = frozenset()
    """Inputs that name a day to come (a target date): the others' dates may not be after the clinic's
    today (:mod:`.clinical_dates`)."""


# -- checks: each returns the checked (normalised) value ---------------------------------------------


def instance(cls: type) -> Check:
    return lambda field, value: check_instance(field, value, cls)


def optional(check: Check) -> Check:
    return lambda field, value: None if value is None else check(field, value)


def required_text(field: str, value: Any) -> str:
    return check_text(field, value, required=True)


def any_text(field: str, value: Any) -> str:
    """Text, blank allowed (the lifecycle rule that needs words says so with its own rule)."""
    return check_text(field, value)


def protocol_choice(field: str, value: Any) -> Any:
    """A measurement protocol, the name of a registered one, or ``None`` (resolved by the builder)."""
    if value is None or isinstance(value, MeasurementProtocol):
        return value
    if isinstance(value, str):
        return check_ref(field, value)
    raise ValidationError(field, "type", "a MeasurementProtocol, the name of a registered one, or None")


def goal_drafts(field: str, values: Any) -> tuple[GoalDraft, ...]:
    return check_sequence_of(field, values, GoalDraft)


def request_point(field: str, value: Any) -> RequestPoint:
    return check_choice(field, value, RequestPoint)


def duration(field: str, value: Any) -> Any:
    return check_duration(field, value)


_REQUEST_CHECKS: Mapping[str, Check] = {
    "measure": check_ref,
    "point": request_point,
    "session_id": optional(check_ref),
    "language": optional(check_language),
}


# -- the table -----------------------------------------------------------------------------------------


def _spec(name: str, action: str, checks: Mapping[str, Check], build: Any, **more: Any) -> CommandSpec:
    return CommandSpec(name, action, checks, build, **more)


def _made(kind: str) -> Callable[[Context, Args], str]:
    return lambda ctx, a: ctx.new_id(kind)


def _original_event(ctx: Context, a: Args) -> str | None:
    found = ctx.named_session(a["session_id"])
    return found.event_id if found is not None else None


#: The key of :attr:`Context.private` under which :func:`~alliancekit.core.groups.record_group_session` gives
#: the runner the group session it minted (no facade, batch, CLI or import call can set it).
MINTED_GROUP_SESSION = "group-session"


def _recorded_group_session(ctx: Context, a: Args) -> str | None:
    """The group session a new session is a part of: the session's ``group_session_id`` when
    ``record_group_session`` minted it for this very part, else none. A ``group_session_id`` given to a plain
    ``record_session`` (facade, batch, an import) is recorded as given, but names no group session the
    library knows of: the store keeps no list of group sessions to check it against, so the policy is not
    told of it, and a co-facilitator's right, which rests on it, cannot be had by making one up."""
    given = a["session"].group_session_id
    return given if given is not None and given == ctx.private.get(MINTED_GROUP_SESSION) else None


def _corrected_group_session(ctx: Context, a: Args) -> str | None:
    """The group session a correction writes a part of: the one the session is a part of as it stands,
    when the correction keeps it (adding, dropping or changing it is no group session's business), and
    only when that id is known to be a group session's: ``record_group_session`` made it for this part
    (recorded in the event since ``session-recorded`` version 4), or the one correcting recorded the
    session themself. An id given by hand (by the clinician of record, an import, or a co-facilitator's
    plain ``record_session`` before such ids were refused to them, which is also how every part recorded
    before version 4 reads) gives no other co-facilitator a right: the clinician of record, and whoever
    recorded the session, may still correct it."""
    found = ctx.named_session(a["session_id"])
    if found is None or found.group_session_id is None:
        return None
    if found.group_session_id != a["session"].group_session_id:
        return None
    known = found.group_session_minted or found.recorded_by == ctx.actor.id
    return found.group_session_id if known else None


COMMANDS: Mapping[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "start_episode",
            Action.START_EPISODE,
            {
                "client_ref": check_ref,
                "clinician_id": check_ref,
                "opened_on": check_date,
                "population": optional(check_ref),
            },
            lambda ctx, a: c.OpenEpisode(
                a["client_ref"], a["clinician_id"], a["opened_on"], ctx.population(a["population"])
            ),
            returns=Returns.EPISODE_ID,
        ),
        _spec(
            "record_consultation",
            Action.RECORD_CONSULTATION,
            {"consultation": instance(Consultation)},
            lambda ctx, a: c.RecordConsultation(a["consultation"]),
        ),
        _spec(
            "decide_fit",
            Action.DECIDE_FIT,
            {"decision": instance(FitDecision)},
            lambda ctx, a: c.DecideFit(a["decision"]),
        ),
        _spec(
            "agree_goals",
            Action.AGREE_GOALS,
            {"goals": goal_drafts, "agreed_on": check_date},
            lambda ctx, a: c.AgreeGoals(
                tuple(a["goals"]),
                a["agreed_on"],
                tuple(ctx.new_id("goal", i) for i in range(len(a["goals"]))),
            ),
            returns=Returns.GOAL_IDS,
        ),
        _spec(
            "revise_goal",
            Action.REVISE_GOAL,
            {"revision": instance(GoalRevision), "revised_on": check_date},
            lambda ctx, a: c.ReviseGoal(a["revision"], a["revised_on"]),
        ),
        _spec(
            "record_session",
            Action.RECORD_SESSION,
            {"session": instance(Session)},
            lambda ctx, a: c.RecordSession(
                ctx.new_id("session"),
                a["session"],
                ctx.score(a["session"].administrations),
                group_session_minted=_recorded_group_session(ctx, a) is not None,
            ),
            record_id=_made("session"),
            group_session=_recorded_group_session,
        ),
        _spec(
            "correct_session",
            Action.CORRECT_SESSION,
            {"session_id": check_ref, "session": instance(Session), "reason": required_text},
            lambda ctx, a: c.CorrectSession(
                a["session_id"],
                ctx.named_session(a["session_id"]),
                a["session"],
                ctx.score(a["session"].administrations),
                a["reason"],
                ctx.scored_events(),
            ),
            record_id=lambda ctx, a: a["session_id"],
            corrects=_original_event,
            group_session=_corrected_group_session,
        ),
        _spec(
            "record_review",
            Action.RECORD_REVIEW,
            {"review": instance(Review)},
            lambda ctx, a: c.RecordReview(
                ctx.new_id("review"), a["review"], ctx.review_every, ctx.review_scores()
            ),
            record_id=_made("review"),
        ),
        _spec(
            "note_rupture",
            Action.NOTE_RUPTURE,
            {"note": instance(RuptureNote)},
            lambda ctx, a: c.NoteRupture(
                ctx.new_id("rupture"),
                a["note"],
                a["note"].session_id is not None and ctx.named_session(a["note"].session_id) is not None,
            ),
            record_id=_made("rupture"),
        ),
        _spec(
            "record_repair",
            Action.RECORD_REPAIR,
            {"rupture_id": check_ref, "attempt": instance(RepairAttempt)},
            lambda ctx, a: c.RecordRepair(a["rupture_id"], a["attempt"], seen=ctx.seen(a["rupture_id"])),
            record_id=lambda ctx, a: a["rupture_id"],
        ),
        _spec(
            "put_on_hold",
            Action.PUT_ON_HOLD,
            {"on": check_date, "reason": required_text},
            lambda ctx, a: c.PutOnHold(a["on"], a["reason"]),
        ),
        _spec("resume", Action.RESUME, {"on": check_date}, lambda ctx, a: c.Resume(a["on"])),
        _spec(
            "transfer",
            Action.TRANSFER,
            {"to_clinician_id": check_ref, "on": check_date, "reason": required_text},
            lambda ctx, a: c.TransferClinician(a["to_clinician_id"], a["on"], a["reason"]),
        ),
        _spec(
            "plan_ending",
            Action.PLAN_ENDING,
            {"on": check_date, "target_date": optional(check_date)},
            lambda ctx, a: c.PlanEnding(a["on"], a["target_date"]),
            planned=frozenset({"target_date"}),
        ),
        _spec(
            "close_episode",
            Action.CLOSE_EPISODE,
            {"ending": instance(Ending)},
            lambda ctx, a: c.CloseEpisode(a["ending"]),
        ),
        _spec(
            "acknowledge_alert",
            Action.ACKNOWLEDGE_ALERT,
            {"alert_id": check_ref, "on": optional(check_date)},
            lambda ctx, a: c.AcknowledgeAlert(a["alert_id"], ctx.day(a["on"]), seen=ctx.seen(a["alert_id"])),
            record_id=lambda ctx, a: a["alert_id"],
        ),
        _spec(
            "resolve_alert",
            Action.RESOLVE_ALERT,
            {"alert_id": check_ref, "note": any_text, "on": optional(check_date)},
            lambda ctx, a: c.ResolveAlert(
                a["alert_id"], ctx.day(a["on"]), a["note"], seen=ctx.seen(a["alert_id"])
            ),
            record_id=lambda ctx, a: a["alert_id"],
        ),
        _spec(
            "add_participant",
            Action.ADD_PARTICIPANT,
            {"participant": instance(Participant), "added_on": check_date},
            lambda ctx, a: c.AddParticipant(a["participant"], a["added_on"]),
        ),
        _spec(
            "join_group",
            Action.JOIN_GROUP,
            {"group_id": check_ref, "facilitator_ids": check_refs, "joined_on": check_date},
            lambda ctx, a: c.JoinGroup(a["group_id"], tuple(a["facilitator_ids"]), a["joined_on"]),
        ),
        _spec(
            "record_process_note",
            Action.RECORD_PROCESS_NOTE,
            {"written_on": check_date, "text": required_text},
            lambda ctx, a: c.RecordProcessNote(
                ctx.new_id("process-note"), ctx.actor.id, a["written_on"], a["text"]
            ),
            record_id=_made("process-note"),
        ),
        _spec(
            "add_addendum",
            Action.ADD_ADDENDUM,
            {"session_id": check_ref, "text": required_text, "reason": required_text, "added_on": check_date},
            lambda ctx, a: c.AddAddendum(
                a["session_id"],
                ctx.named_session(a["session_id"]),
                ctx.new_id("addendum"),
                a["added_on"],
                a["text"],
                a["reason"],
            ),
            record_id=_made("addendum"),
            corrects=_original_event,
        ),
        _spec(
            "attach_disagreement",
            Action.ATTACH_DISAGREEMENT,
            {"target_event_id": check_ref, "statement": required_text, "received_on": check_date},
            lambda ctx, a: c.AttachDisagreement(
                ctx.new_id("statement"),
                a["target_event_id"],
                ctx.shared_event(a["target_event_id"]),
                a["received_on"],
                a["statement"],
            ),
            record_id=_made("statement"),
            corrects=lambda ctx, a: a["target_event_id"] if ctx.shared_event(a["target_event_id"]) else None,
        ),
        _spec(
            "set_lockbox",
            Action.SET_LOCKBOX,
            {
                "scope": check_ref,
                "classes": check_refs,
                "event_ids": check_refs,
                "recipients": check_refs,
                "on": check_date,
            },
            lambda ctx, a: c.SetLockbox(
                ctx.new_id("lockbox"),
                a["scope"],
                tuple(a["classes"]),
                tuple(a["event_ids"]),
                tuple(a["recipients"]),
                a["on"],
            ),
            record_id=_made("lockbox"),
        ),
        _spec(
            "lift_lockbox",
            Action.LIFT_LOCKBOX,
            {"directive_id": check_ref, "on": check_date},
            lambda ctx, a: c.LiftLockbox(a["directive_id"], ctx.liftable(a["directive_id"]), a["on"]),
            record_id=lambda ctx, a: a["directive_id"],
        ),
        _spec(
            "request_administration",
            Action.REQUEST_ADMINISTRATION,
            {**_REQUEST_CHECKS, "expires_in": optional(duration), "remind_after": optional(duration)},
            build_request("link"),
            record_id=_made("request"),
            returns=Returns.OWN,
        ),
        _spec(
            "kiosk_code",
            Action.MAKE_KIOSK_CODE,
            _REQUEST_CHECKS,
            build_request("kiosk"),
            record_id=_made("request"),
            returns=Returns.OWN,
        ),
        _spec(
            "revoke_request",
            Action.REVOKE_REQUEST,
            {"request_id": check_ref},
            build_revoke,
            record_id=lambda ctx, a: a["request_id"],
        ),
        # The client's answers through a request's token: run by Practice.submit_response as the request's
        # client (the token names the episode and the request; the actor is not the host's to choose).
        _spec(
            "submit_response",
            Action.ANSWER_MEASURES,
            {"request": instance(RequestRecord), "administration": instance(Administration)},
            build_response,
            record_id=lambda ctx, a: a["request"].request_id,
            returns=Returns.OWN,
        ),
        # What the client filled in elsewhere (on paper, in another system), recorded by their clinician.
        _spec(
            "record_client_response",
            Action.RECORD_CLIENT_RESPONSE,
            {
                "administration": instance(Administration),
                "responded_at": check_aware_datetime,
                "session_id": optional(check_ref),
                "point": optional(request_point),
            },
            build_recorded_response,
        ),
        _spec(
            "set_protocol",
            Action.SET_PROTOCOL,
            {"protocol": protocol_choice, "on": check_date},
            lambda ctx, a: c.SetProtocol(ctx.protocol(a["protocol"]), a["on"]),
        ),
        # Which norms the scores are read against (a client turning 13): one some registered measure declares.
        _spec(
            "change_population",
            Action.CHANGE_POPULATION,
            {"population": optional(check_ref), "on": check_date},
            lambda ctx, a: c.ChangePopulation(ctx.population(a["population"]), a["on"]),
        ),
        # A participant's consent to measures given or withdrawn after it was first given: the identified
        # client's (at the consultation) or another participant's (when they joined).
        _spec(
            "change_measures_consent",
            Action.CHANGE_MEASURES_CONSENT,
            {"measures": check_bool, "on": check_date, "participant": optional(check_ref)},
            lambda ctx, a: c.ChangeMeasuresConsent(a["measures"], a["on"], a["participant"]),
        ),
    )
}
