"""The access policy: who may do what to which record, and the default policy.

Every public call of :class:`~alliancekit.Practice` asks the policy first, with an :class:`AccessRequest`
(actor, action, record type and id, the episode's state when there is one). The policy answers with a
:class:`Decision`. A plugin may supply the policy through the ``alliancekit_access_policy`` hook, a host
may pass one to ``Practice(..., policy=...)``; otherwise :class:`DefaultPolicy` decides.

A policy sees identifiers and stages, never free text: it decides on who the actor is and whose record it
is, not on what the record says.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.vocab import Purpose, Role
from alliancekit.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.lifecycle.state import EpisodeState


class Action:
    """The actions the facade asks about: one per public call (strings, so plugins can add their own)."""

    START_EPISODE = "start-episode"
    RECORD_CONSULTATION = "record-consultation"
    DECIDE_FIT = "decide-fit"
    AGREE_GOALS = "agree-goals"
    REVISE_GOAL = "revise-goal"
    RECORD_SESSION = "record-session"
    CORRECT_SESSION = "correct-session"
    ADD_ADDENDUM = "add-addendum"
    RECORD_REVIEW = "record-review"
    NOTE_RUPTURE = "note-rupture"
    RECORD_REPAIR = "record-repair"
    PUT_ON_HOLD = "put-on-hold"
    RESUME = "resume"
    TRANSFER = "transfer"
    PLAN_ENDING = "plan-ending"
    CLOSE_EPISODE = "close-episode"
    RECORD_PROCESS_NOTE = "record-process-note"
    ADD_PARTICIPANT = "add-participant"
    JOIN_GROUP = "join-group"
    ATTACH_DISAGREEMENT = "attach-disagreement"
    SET_LOCKBOX = "set-lockbox"
    LIFT_LOCKBOX = "lift-lockbox"
    ANSWER_MEASURES = "answer-measures"
    RECORD_CLIENT_RESPONSE = "record-client-response"
    """Record a measure the client filled in elsewhere (on paper, in another system), for them."""
    ACKNOWLEDGE_ALERT = "acknowledge-alert"
    RESOLVE_ALERT = "resolve-alert"
    """For the alerts feature: the clinician of record, or a supervisor of their team."""
    READ_EPISODE = "read-episode"
    READ_TIMELINE = "read-timeline"
    READ_CASELOAD = "read-caseload"
    READ_SESSION_HISTORY = "read-session-history"
    READ_PROCESS_NOTES = "read-process-notes"
    READ_CLIENT_VIEW = "read-client-view"
    BREAK_GLASS = "break-glass-read"
    EXPORT = "export"
    OVERRIDE_LOCKBOX = "override-lockbox"
    READ_AUDIT = "read-audit"
    CHECKPOINT_AUDIT = "checkpoint-audit"
    ROTATE_KEYS = "rotate-keys"
    BACK_UP = "back-up"
    """Copy the whole store to a file for the host's backup (free text stays encrypted in it)."""
    REBUILD_STATE = "rebuild-state"
    REFIT_EXPECTATIONS = "refit-expectations"
    """Fit the practice's expected-response model (statistics over closed episodes, no client record)."""
    MARK_DEMO = "mark-demo"
    """Mark the practice as a demo that ``alliancekit demo`` made (and may replace)."""
    REQUEST_ADMINISTRATION = "request-administration"
    """Ask the client to fill a measure in themselves, by a link (the clinician of record)."""
    MAKE_KIOSK_CODE = "make-kiosk-code"
    """A short code for today's session on a clinic tablet (the clinician of record)."""
    REVOKE_REQUEST = "revoke-request"
    OPEN_REQUEST = "open-request"
    """The client opens a request's questionnaire (through its token: nothing clinical is returned)."""
    REDEEM_KIOSK_CODE = "redeem-kiosk-code"
    """A kiosk code entered on a tablet, exchanged for a one-use token (the client of the request)."""
    SET_PROTOCOL = "set-protocol"
    """Give an episode its own measurement protocol (the treating clinician's decision)."""
    CHANGE_POPULATION = "change-population"
    """Read an episode's scores against another norm population (the treating clinician's decision)."""
    CHANGE_MEASURES_CONSENT = "change-measures-consent"
    """Record the client's, or another participant's, consent to measures given or withdrawn after it was
    first given (the clinician of record, who hears it, as they record the consultation)."""
    READ_DUE_MEASURES = "read-due-measures"
    """Which measures an episode's protocol makes due, and which it missed."""
    IMPORT = "import"
    """Read and save where an import got to (its checkpoint: a source row, no client data)."""


#: Clinical writes to an episode: the treating clinician's work.
CLINICAL_WRITES = frozenset(
    {
        Action.RECORD_CONSULTATION,
        Action.DECIDE_FIT,
        Action.AGREE_GOALS,
        Action.REVISE_GOAL,
        Action.RECORD_SESSION,
        Action.CORRECT_SESSION,
        Action.ADD_ADDENDUM,
        Action.RECORD_REVIEW,
        Action.NOTE_RUPTURE,
        Action.RECORD_REPAIR,
        Action.PUT_ON_HOLD,
        Action.RESUME,
        Action.TRANSFER,
        Action.PLAN_ENDING,
        Action.CLOSE_EPISODE,
        Action.RECORD_PROCESS_NOTE,
        Action.ADD_PARTICIPANT,
        Action.JOIN_GROUP,
        Action.REQUEST_ADMINISTRATION,
        Action.MAKE_KIOSK_CODE,
        Action.REVOKE_REQUEST,
        Action.RECORD_CLIENT_RESPONSE,
        Action.SET_PROTOCOL,
        Action.CHANGE_POPULATION,
        Action.CHANGE_MEASURES_CONSENT,
    }
)
#: What a group's co-facilitator may do in a member's episode besides its clinician of record: to a part of
#: one of the group's sessions only (``AccessRequest.group_session_id``).
GROUP_WRITES = frozenset({Action.RECORD_SESSION, Action.CORRECT_SESSION})
#: Reads of clinical content (audited before the data is returned).
CLINICAL_READS = frozenset(
    {
        Action.READ_EPISODE,
        Action.READ_TIMELINE,
        Action.READ_CASELOAD,
        Action.READ_SESSION_HISTORY,
        Action.READ_PROCESS_NOTES,
        Action.READ_CLIENT_VIEW,
        Action.BREAK_GLASS,
        Action.EXPORT,
        Action.REBUILD_STATE,
        Action.READ_DUE_MEASURES,
    }
)
#: What the client's own record may be touched with by the client.
CLIENT_ACTIONS = frozenset(
    {
        Action.READ_CLIENT_VIEW,
        Action.EXPORT,  # their own record: the right of access
        Action.ANSWER_MEASURES,
        Action.OPEN_REQUEST,
        Action.REDEEM_KIOSK_CODE,
        Action.ATTACH_DISAGREEMENT,
        Action.SET_LOCKBOX,
        Action.LIFT_LOCKBOX,
    }
)
#: Configuration and maintenance: no clinical content is returned.
ADMIN_ACTIONS = frozenset(
    {
        Action.READ_AUDIT,
        Action.CHECKPOINT_AUDIT,
        Action.ROTATE_KEYS,
        Action.BACK_UP,
        Action.REFIT_EXPECTATIONS,
        Action.MARK_DEMO,
        Action.IMPORT,
    }
)


#: Maintenance that reaches the records of every clinic in the store, with the default policy's refusal of
#: an administrator when it reaches another clinic's (:attr:`AccessRequest.clinics`): the system actor's then.
ACROSS_CLINICS: Mapping[str, str] = {
    Action.BACK_UP: "a store holding another clinic's records is backed up by the system",
    Action.ROTATE_KEYS: "a store holding another clinic's records is re-keyed by the system",
    Action.REFIT_EXPECTATIONS: "a model fitted from another clinic's records is refitted by the system",
}


@attrs.frozen
class AccessRequest:
    """What the facade asks the policy. ``episode`` is ``None`` for calls not about one episode."""

    actor: Actor
    action: str
    record_type: str
    record_id: str
    episode: EpisodeState | None = attrs.field(default=None, repr=False)
    clinician_id: str | None = None
    """The clinician a call is about when there is no episode yet (start-episode, a caseload filter)."""
    reason: str | None = attrs.field(default=None, repr=False)
    """The stated reason of a break-glass read or a lockbox override."""
    group_session_id: str | None = None
    """For a session written (record-session, correct-session): the group session it is a part of, only
    when the library knows it to be one. A session recorded has one only when ``record_group_session``
    made the group session and is writing this member's part of it: a ``group_session_id`` given to a plain
    ``record_session`` (facade, batch, import) is recorded but not passed on here, as nothing stores the
    group sessions to check a given id against. A correction has one only when the session as it stands
    and the correction name the same group session (a correction that makes an individual session a group
    one, or the other way round, has none), and that id was made by ``record_group_session`` for this part
    or the session was recorded by the actor correcting it: an id written by hand (and every part recorded
    before ``session-recorded`` version 4) is not passed on to anyone else. ``None`` for an individual
    session and for every other action, so a policy may trust it."""
    clinics: frozenset[str] | None = None
    """For a backup (``back-up``): every clinic whose records the store holds, so the copy would hold
    (an episode, a command, an audit entry of theirs); for a key rotation (``rotate-keys``): every clinic
    with episodes, whose free text it re-encrypts; for a refit of the expected-response model
    (``refit-expectations``): every clinic with episodes, whose closed outcomes it is fitted from and whose
    feedback reads it; ``None`` for every other action."""


@attrs.frozen
class Decision:
    """The policy's answer. ``reason`` is a fixed phrase (never client data); it goes into the refusal."""

    allowed: bool
    reason: str = ""
    outcome: str = ""
    """How the audit entry names an allowed call; ``allowed`` or ``refused`` when empty."""

    @classmethod
    def allow(cls, outcome: str = "allowed") -> Decision:
        """The call may go ahead; ``outcome`` is how its audit entry names it."""
        return cls(True, "", outcome)

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        """The call is refused with ``reason``, a fixed phrase (never client data)."""
        return cls(False, reason, "refused")


@runtime_checkable
class AccessPolicy(Protocol):
    """Anything with a ``decide(request) -> Decision`` method."""

    def decide(self, request: AccessRequest) -> Decision:
        """Allow or refuse ``request`` (the actor, the action, the record and the episode's state).

        Called for every read, write and export; a refusal's ``reason`` is a fixed phrase, never client data.
        """
        ...


@attrs.frozen
class DefaultPolicy:
    """The default: each role sees what its work needs.

    * a **clinician** reads and writes the episodes they are the clinician of record for, in their clinic,
      starts episodes for themselves, reads their own process notes; a group's co-facilitator records
      the group's sessions in its members' episodes (through ``record_group_session``, which makes the
      group session: a plain ``record_session`` with a ``group_session_id`` of the caller's is refused to
      them) and corrects those parts, and nothing else of them: not an individual session, nor a
      correction that turns one into a group session part or back;
    * a **supervisor** reads the episodes of their team (``teams[supervisor_id]``, or the whole clinic when
      no teams are configured) and acknowledges alerts; writes nothing clinical;
    * an **administrator** reads and checkpoints the audit log; sees no clinical content; rotates the keys
      of, backs up, and refits the expected-response model of a store whose records are all their clinic's
      (one holding another clinic's is the system actor's to re-encrypt, back up or refit:
      :data:`ACROSS_CLINICS`);
    * a **client** (``actor.id`` is the episode's ``client_ref``, or another participant's) reads their
      client-facing view, answers measures (through a request's token, the library acts as the request's
      client and for nothing else: it opens that request, redeems its kiosk code and submits its answers),
      attaches a statement of disagreement and sets their lockbox
      (what one participant may see of another's is decided in :mod:`.participants`);
    * a **system** actor exports with a stated purpose other than treatment or client access, and runs
      maintenance (checkpoints, key rotation, rebuilding a state from its events, backups of any store);
    * exports (:meth:`~alliancekit.Practice.shared_record`) are also open to the clinician of record, for
      sharing with another provider; the lockbox applies to every export, and overriding it needs a
      clinician or supervisor and a reason;
    * a **break-glass** read needs ``Purpose.EMERGENCY`` and a reason, is open to clinicians and
      supervisors of the clinic, and is audited as ``break-glass``.
    """

    teams: Mapping[str, frozenset[str]] | None = None

    def decide(self, request: AccessRequest) -> Decision:
        actor, action, state = request.actor, request.action, request.episode
        if state is not None and state.clinic_id != actor.clinic_id:
            return Decision.refuse("the record belongs to another clinic")
        role = actor.role
        if action == Action.BREAK_GLASS:
            return self._break_glass(request)
        if action == Action.OVERRIDE_LOCKBOX:
            if role in (Role.CLINICIAN, Role.SUPERVISOR) and (request.reason or "").strip():
                return Decision.allow("lockbox-override")
            return Decision.refuse("overriding a lockbox needs a clinician or supervisor and a reason")
        if role is Role.CLINICIAN:
            return self._clinician(request)
        if role is Role.SUPERVISOR:
            return self._supervisor(request)
        if role is Role.ADMINISTRATOR:
            across = ACROSS_CLINICS.get(action)
            if across is not None and not (request.clinics or frozenset()) <= {actor.clinic_id}:
                return Decision.refuse(across)
            if action in ADMIN_ACTIONS:
                return Decision.allow()
            return Decision.refuse("an administrator sees no clinical content")
        if role is Role.CLIENT:
            if action not in CLIENT_ACTIONS:
                return Decision.refuse("a client reads their client-facing record only")
            if state is None or not state.has_participant(actor.id):
                return Decision.refuse("a client reaches their own record only")
            return Decision.allow()
        # the system actor
        if action == Action.EXPORT:
            if actor.purpose in (Purpose.TREATMENT, Purpose.CLIENT_ACCESS, Purpose.EMERGENCY):
                return Decision.refuse("a system export states a purpose such as operations")
            return Decision.allow()
        if action in (
            Action.CHECKPOINT_AUDIT,
            Action.ROTATE_KEYS,
            Action.BACK_UP,
            Action.REBUILD_STATE,
            Action.REFIT_EXPECTATIONS,
            Action.MARK_DEMO,
            Action.IMPORT,
        ):
            return Decision.allow()
        return Decision.refuse("a system actor only exports and maintains")

    def _clinician(self, request: AccessRequest) -> Decision:
        actor, action, state = request.actor, request.action, request.episode
        if action == Action.START_EPISODE:
            if request.clinician_id == actor.id:
                return Decision.allow()
            return Decision.refuse("a clinician opens episodes on their own caseload")
        if action == Action.READ_CASELOAD:
            if request.clinician_id == actor.id:
                return Decision.allow()
            return Decision.refuse("a clinician reads their own caseload")
        if action == Action.READ_PROCESS_NOTES:
            return Decision.allow()  # the facade returns only the notes this actor wrote
        if (
            action in CLINICAL_WRITES
            or action in CLINICAL_READS
            or action in (Action.ATTACH_DISAGREEMENT, Action.ACKNOWLEDGE_ALERT, Action.RESOLVE_ALERT)
        ):
            if state is not None and state.clinician_id == actor.id:
                return Decision.allow()
            if action in GROUP_WRITES and state is not None and actor.id in state.facilitator_ids:
                if request.group_session_id is not None:
                    return Decision.allow()  # a co-facilitator records the group's sessions
                return Decision.refuse("a group's co-facilitator writes only parts of the group's sessions")
            return Decision.refuse("the episode is not on this clinician's caseload")
        if action in (Action.SET_LOCKBOX, Action.LIFT_LOCKBOX):
            # recorded on the client's behalf, by their clinician
            if state is not None and state.clinician_id == actor.id:
                return Decision.allow()
            return Decision.refuse("the episode is not on this clinician's caseload")
        return Decision.refuse("not a clinician's action")

    def _team(self, supervisor_id: str) -> frozenset[str] | None:
        if self.teams is None:
            return None
        return self.teams.get(supervisor_id, frozenset())

    def _supervisor(self, request: AccessRequest) -> Decision:
        actor, action, state = request.actor, request.action, request.episode
        team = self._team(actor.id)
        if action == Action.READ_CASELOAD:
            if team is None or (request.clinician_id is not None and request.clinician_id in team):
                return Decision.allow()
            return Decision.refuse("a supervisor with a team reads one team member's caseload at a time")
        if action in (
            Action.READ_EPISODE,
            Action.READ_TIMELINE,
            Action.READ_SESSION_HISTORY,
            Action.READ_DUE_MEASURES,
            Action.EXPORT,
            Action.ACKNOWLEDGE_ALERT,
            Action.RESOLVE_ALERT,
        ):
            if state is not None and (team is None or state.clinician_id in team):
                return Decision.allow()
            return Decision.refuse("the episode is not on the supervisor's team")
        return Decision.refuse("a supervisor reads their team's records and writes none")

    def _break_glass(self, request: AccessRequest) -> Decision:
        actor = request.actor
        if actor.role not in (Role.CLINICIAN, Role.SUPERVISOR):
            return Decision.refuse("break-glass access is for clinicians and supervisors")
        if actor.purpose is not Purpose.EMERGENCY:
            return Decision.refuse("break-glass access needs the emergency purpose")
        if not (request.reason or "").strip():
            return Decision.refuse("break-glass access needs a reason")
        return Decision.allow("break-glass")


def supplied_policy(host: Any) -> tuple[AccessPolicy, str | None]:
    """The policy a plugin supplies through ``alliancekit_access_policy`` and that plugin, else
    :class:`DefaultPolicy` and ``None``."""

    def build() -> tuple[AccessPolicy, str | None]:
        supplied, plugin = host.call_first("alliancekit_access_policy")
        if supplied is None:
            return DefaultPolicy(), None
        if not isinstance(supplied, AccessPolicy):
            raise PluginError(
                f"plugin {plugin!r} returned from alliancekit_access_policy an object without decide(request)"
            )
        return supplied, plugin

    found: tuple[AccessPolicy, str | None] = host.cached("access-policy", build)
    return found
