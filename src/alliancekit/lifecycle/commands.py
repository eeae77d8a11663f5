"""Commands: what a clinician asks the library to record. Each is decided by :mod:`.rules`."""

from __future__ import annotations

from datetime import date, datetime

import attrs

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
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import RequestPoint
from alliancekit.events.types import Event, RecordedScore, ReviewedScore
from alliancekit.lifecycle.state import SessionRef
from alliancekit.protocols.definition import MeasurementProtocol


class Command:
    """Base of every command."""


@attrs.frozen
class RecordConsultation(Command):
    consultation: Consultation


@attrs.frozen
class DecideFit(Command):
    decision: FitDecision


@attrs.frozen
class AgreeGoals(Command):
    goals: tuple[GoalDraft, ...] = attrs.field()
    agreed_on: date
    goal_ids: tuple[str, ...] = attrs.field()


@attrs.frozen
class ReviseGoal(Command):
    revision: GoalRevision
    revised_on: date


@attrs.frozen
class RecordSession(Command):
    session_id: str
    session: Session
    scores: tuple[RecordedScore, ...] = attrs.field()
    group_session_minted: bool = False
    """``record_group_session`` made the session's ``group_session_id`` for this part."""


@attrs.frozen
class CorrectSession(Command):
    session_id: str
    original: SessionRef | None
    """The session as first recorded, looked up by the caller; ``None`` when there is no such session."""
    session: Session
    scores: tuple[RecordedScore, ...] = attrs.field()
    reason: str = attrs.field(repr=False)
    scored: tuple[Event, ...] = attrs.field(repr=False)
    """The episode's events that carry scores, in order, looked up by the caller: what the correction
    replays (:mod:`alliancekit.lifecycle.corrected_scores`)."""


@attrs.frozen
class RecordReview(Command):
    review_id: str
    review: Review
    review_every: int
    scores: tuple[ReviewedScore, ...] = ()


@attrs.frozen
class NoteRupture(Command):
    rupture_id: str
    note: RuptureNote
    session_found: bool
    """Whether ``note.session_id`` (if any) names a session of this episode, as looked up by the caller."""


@attrs.frozen
class RecordRepair(Command):
    rupture_id: str
    attempt: RepairAttempt
    seen: bool = attrs.field(default=True, kw_only=True)
    """Whether the actor's view shows the rupture: one it leaves out is refused as a rupture not open."""


@attrs.frozen
class PutOnHold(Command):
    on: date
    reason: str = attrs.field(repr=False)


@attrs.frozen
class Resume(Command):
    on: date


@attrs.frozen
class TransferClinician(Command):
    to_clinician_id: str
    on: date
    reason: str = attrs.field(repr=False)


@attrs.frozen
class PlanEnding(Command):
    on: date
    target_date: date | None = None


@attrs.frozen
class CloseEpisode(Command):
    ending: Ending


@attrs.frozen
class RecordProcessNote(Command):
    note_id: str
    author_id: str
    written_on: date
    text: str = attrs.field(repr=False)


@attrs.frozen
class AddAddendum(Command):
    session_id: str
    original: SessionRef | None
    addendum_id: str
    added_on: date
    text: str = attrs.field(repr=False)
    reason: str = attrs.field(repr=False)


@attrs.frozen
class AttachDisagreement(Command):
    statement_id: str
    target_event_id: str
    target_found: bool
    received_on: date
    statement: str = attrs.field(repr=False)


@attrs.frozen
class SetLockbox(Command):
    directive_id: str
    scope: str
    classes: tuple[str, ...]
    event_ids: tuple[str, ...]
    recipients: tuple[str, ...]
    set_on: date


@attrs.frozen
class LiftLockbox(Command):
    directive_id: str
    known: bool
    """In force, and the actor's to lift (the guard decides): otherwise refused as an unknown id."""
    lifted_on: date


@attrs.frozen
class AcknowledgeAlert(Command):
    """Who may acknowledge is the access policy's decision (the clinician of record or a supervisor)."""

    alert_id: str
    on: date
    seen: bool = attrs.field(default=True, kw_only=True)
    """Whether the actor's view shows the alert: one it leaves out is refused as an alert not open."""


@attrs.frozen
class ResolveAlert(Command):
    alert_id: str
    on: date
    note: str = attrs.field(repr=False)
    seen: bool = attrs.field(default=True, kw_only=True)
    """As :attr:`AcknowledgeAlert.seen`."""


@attrs.frozen
class AddParticipant(Command):
    participant: Participant
    added_on: date


@attrs.frozen
class JoinGroup(Command):
    group_id: str
    facilitator_ids: tuple[str, ...]
    joined_on: date


@attrs.frozen
class OpenEpisode(Command):
    """Open an episode: the one command decided without a state (it starts the stream)."""

    client_ref: str = attrs.field(repr=hidden)
    clinician_id: str
    opened_on: date
    population: str | None = None
    """The norm population, already checked against the registered measures' (``None``: defaults)."""


@attrs.frozen
class RequestAdministration(Command):
    request_id: str
    measure_id: str
    version: str
    point: RequestPoint
    channel: str
    requested_on: date
    expires_at: datetime
    session_id: str | None
    session_known: bool
    """Whether ``session_id`` (when given) names a session recorded in the episode."""


@attrs.frozen
class RevokeRequest(Command):
    request_id: str
    revoked_on: date
    revocable: bool
    """The request exists in this episode and is neither used nor revoked."""


@attrs.frozen
class RecordClientResponse(Command):
    request_id: str | None
    """The request answered; ``None`` when a clinician records what the client filled in elsewhere."""
    point: RequestPoint
    at_session: int
    responded_on: date
    administration: Administration
    scores: tuple[RecordedScore, ...]
    session_id: str | None
    responded_at: datetime | None = None
    session_known: bool = True
    """Whether ``session_id`` (when given) names a session the actor's view of the episode shows; a link's
    or kiosk code's answer names its request's own session, found when the request was made."""


@attrs.frozen
class ChangePopulation(Command):
    """Read the episode's scores against another norm population from ``on`` (``None``: the defaults)."""

    population: str | None
    on: date


@attrs.frozen
class ChangeMeasuresConsent(Command):
    """Record a participant's consent to measures given (``measures`` true) or withdrawn, from ``on``:
    another participant's (``participant``, their reference), else the identified client's."""

    measures: bool
    on: date
    participant: str | None = None


@attrs.frozen
class SetProtocol(Command):
    """Give the episode its own measurement protocol (``None``: back to its clinic's)."""

    protocol: MeasurementProtocol | None
    on: date
