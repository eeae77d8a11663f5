"""Episode events: one frozen attrs class per type, each with a stable name and a schema version.

An event is a fact that happened; it is never changed. A correction is a new event whose envelope points at
the event it corrects. Each type has a JSON Schema under ``schemas/events/<type>.v<version>.schema.json``
that integrators may rely on; a test keeps the two in step.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import ClassVar, TypeVar

import attrs

from alliancekit.domain.checks import FREE_TEXT
from alliancekit.domain.frozen_map import EMPTY, frozen_map
from alliancekit.domain.records import (
    Administration,
    Consultation,
    Ending,
    FitDecision,
    GoalRevision,
    Participant,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import AlertSeverity, ClosingReason, Rater, RequestPoint
from alliancekit.errors import ValidationError
from alliancekit.protocols.definition import MeasurementProtocol

EVENT_TYPES: dict[str, type[Event]] = {}

E = TypeVar("E", bound="Event")


class Event:
    """Base of every event payload. ``TYPE`` and ``VERSION`` identify its schema."""

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


@typing.dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def event(name: str, version: int = 1) -> Callable[[type[E]], type[E]]:
    """Class decorator: make a frozen attrs event class and register it under ``name``."""

    def wrap(cls: type[E]) -> type[E]:
        cls.TYPE = name
        cls.VERSION = version
        made = attrs.frozen(cls)
        if name in EVENT_TYPES:  # pragma: no cover - programming error
            raise RuntimeError(f"event type {name} defined twice")
        EVENT_TYPES[name] = made
        return made

    return wrap


@attrs.frozen
class RecordedScore:
    """A measure's score as computed when it was administered (scores are facts of their time)."""

    measure_id: str
    version: str
    # scores are client data: kept out of the repr (and of logs that print objects), as Score does
    total: float = attrs.field(repr=False)
    subscales: Mapping[str, float] = attrs.field(converter=frozen_map, default=EMPTY, repr=False)
    band: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
    clinical: bool | None = attrs.field(default=None, repr=False)
    risk_items: tuple[str, ...] = attrs.field(default=(), repr=False, metadata=FREE_TEXT)
    about: str | None = attrs.field(default=None, repr=hidden)
    """The participant the score is about; ``None``: the episode's identified client."""
    rater: Rater = Rater.CLIENT
    """Who rated: the participant themselves or a collateral rater."""

    @property
    def own(self) -> bool:
        """The identified client's own rating: what the single-client feedback has always tracked."""
        return self.about is None and self.rater is Rater.CLIENT


@attrs.frozen
class ScorePoint:
    """A total at a session, for trend checks."""

    total: float = attrs.field(repr=False)  # a score: kept out of the repr
    held_on: date
    session_number: int


@attrs.frozen
class ScoresAsCorrected:
    """One measure's points, as rated by one rater about one participant, once a session is corrected: what
    a replay of the episode's sessions as corrected (and of the client's responses) makes of them."""

    measure_id: str
    about: str | None = attrs.field(repr=hidden)
    """The participant the scores are about; ``None`` with the client as rater: the identified client's own
    ratings (as in :class:`RecordedScore`)."""
    rater: Rater
    first: ScorePoint | None
    """``None``: no score of this measure is left (the correction took out the only ones)."""
    previous: ScorePoint | None
    latest: ScorePoint | None
    administered_at: int | None
    """The identified client's own ratings only: the attended-session count of the measure's last
    administration (what a measurement protocol counts from); ``None`` otherwise, or when none is left."""

    @property
    def own(self) -> bool:
        return self.about is None and self.rater is Rater.CLIENT


@event("episode-opened", version=2)
class EpisodeOpened(Event):
    client_ref: str = attrs.field(repr=hidden)
    """The host's opaque reference for the client: never a name."""
    clinician_id: str
    opened_on: date
    population: str | None = None
    """The norm population scores are read against (``child``, ``adolescent``: one a measure's norms
    declare); ``None``: each measure's default population (every episode opened before version 2)."""


@event("consultation-recorded")
class ConsultationRecorded(Event):
    consultation: Consultation


@event("fit-decided")
class FitDecided(Event):
    decision: FitDecision


@event("goal-agreed")
class GoalAgreed(Event):
    goal_id: str
    description: str = attrs.field(repr=False, metadata=FREE_TEXT)
    tasks: tuple[str, ...] = attrs.field(repr=False, metadata=FREE_TEXT)
    agreed_on: date


@event("goal-revised")
class GoalRevised(Event):
    revision: GoalRevision
    revised_on: date


@event("session-recorded", version=4)
class SessionRecorded(Event):
    session_id: str
    number: int
    """1-based count of sessions scheduled in this episode, whatever the attendance."""
    attended_number: int | None
    """1-based count of attended sessions, or ``None`` when the client did not attend."""
    session: Session
    scores: tuple[RecordedScore, ...] = ()
    group_session_minted: bool = False
    """The session's ``group_session_id`` was made by ``record_group_session`` for this part (so a group's
    co-facilitator may correct it); ``False`` for an id given by hand (a plain ``record_session``, an
    import) and for every session recorded before version 4."""


@event("session-corrected", version=4)
class SessionCorrected(Event):
    """Replaces the content of a recorded session; the original stays in the timeline."""

    session_id: str
    number: int
    """The corrected session's number, as recorded."""
    session: Session
    scores: tuple[RecordedScore, ...] = attrs.field()
    reason: str = attrs.field(repr=False, metadata=FREE_TEXT)
    as_corrected: tuple[ScoresAsCorrected, ...] | None
    """Every measure (by rater and participant) the session had, in any of its versions, or has now, with
    its points as a replay of the episode's sessions as corrected gives them: a score the correction takes
    out goes, one it adds takes its place among the others. Worked out from the stream when the correction
    is made, because the episode's state keeps only the first, previous and latest points. ``None`` in a
    correction stored before version 4, which replaced the totals of the session's own points only."""


@attrs.frozen
class ReviewedScore:
    """A measure as it stood at a review: intake and latest totals against the expected response."""

    measure_id: str
    intake: float = attrs.field(repr=False)  # scores: kept out of the repr
    latest: float = attrs.field(repr=False)
    session: int
    """The latest score's session index counted from the intake's session (1 = the intake's own)."""
    expected: float | None = attrs.field(default=None, repr=False)
    low: float | None = attrs.field(default=None, repr=False)
    high: float | None = attrs.field(default=None, repr=False)
    zone: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
    """green, amber, red or grey (OpenFIT zones), or ``None`` when no expectation applies."""
    change: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
    """Jacobson-Truax class since intake (recovered, improved, unchanged, deteriorated), when computable."""


@event("review-recorded")
class ReviewRecorded(Event):
    review_id: str
    review: Review
    scheduled: bool
    """False when no review was due: recorded all the same, as unscheduled."""
    scores: tuple[ReviewedScore, ...] = ()
    """The scores against expectation when the review was held (computed by the feedback engine)."""


@event("rupture-noted")
class RuptureNoted(Event):
    rupture_id: str
    note: RuptureNote
    at_session: int
    """Number of sessions scheduled when the rupture was noted (for "unresolved after N sessions")."""


@event("rupture-repair-recorded")
class RuptureRepairRecorded(Event):
    rupture_id: str
    attempt: RepairAttempt


@event("episode-put-on-hold")
class EpisodePutOnHold(Event):
    on: date
    reason: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("episode-resumed")
class EpisodeResumed(Event):
    on: date


@event("clinician-transferred")
class ClinicianTransferred(Event):
    from_clinician_id: str
    to_clinician_id: str
    on: date
    reason: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("ending-planned")
class EndingPlanned(Event):
    on: date
    target_date: date | None = None


@event("episode-closed")
class EpisodeClosed(Event):
    closing_reason: ClosingReason = attrs.field(repr=hidden)
    on: date
    ending: Ending | None = None
    """The ending record; ``None`` when the episode closed at the fit decision."""


@event("process-note-recorded")
class ProcessNoteRecorded(Event):
    """A therapist's private process note: readable by its author only, never exported or shown elsewhere."""

    note_id: str
    author_id: str
    written_on: date
    text: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("session-addendum-added")
class SessionAddendumAdded(Event):
    """An addendum to a signed session record; the envelope's ``corrects`` points at the original."""

    session_id: str
    addendum_id: str
    added_on: date
    text: str = attrs.field(repr=False, metadata=FREE_TEXT)
    reason: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("disagreement-attached")
class DisagreementAttached(Event):
    """The client's statement of disagreement with a record (the envelope's ``corrects`` names it)."""

    statement_id: str
    target_event_id: str
    received_on: date
    statement: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("lockbox-set")
class LockboxSet(Event):
    """A client's directive to withhold part or all of their record from sharing."""

    directive_id: str
    scope: str
    """``record`` (everything), ``class`` (the classes named) or ``item`` (the events named)."""
    classes: tuple[str, ...]
    event_ids: tuple[str, ...]
    recipients: tuple[str, ...]
    """Withheld from these recipients only; empty means from everyone."""
    set_on: date


@event("lockbox-lifted")
class LockboxLifted(Event):
    directive_id: str
    lifted_on: date


@event("alert-raised", version=2)
class AlertRaised(Event):
    """A feedback rule fired on a new fact. Its message is fixed text: no client words, no scores."""

    alert_id: str
    rule_id: str = attrs.field(repr=hidden)
    severity: AlertSeverity = attrs.field(repr=hidden)
    message: str = attrs.field(repr=hidden)
    raised_on: date
    at_session: int
    """Sessions scheduled when the alert was raised."""
    measure_id: str | None = attrs.field(default=None, repr=hidden)
    participant: str | None = attrs.field(default=None, repr=hidden)
    """The participant the alert is about, in an episode with several; ``None``: the identified client
    (or the episode as a whole)."""


@event("alert-acknowledged")
class AlertAcknowledged(Event):
    """The clinician of record (or a supervisor) has seen the alert."""

    alert_id: str
    on: date


@event("alert-resolved")
class AlertResolved(Event):
    """The alert is dealt with; the note says how (free text, never shown in a repr)."""

    alert_id: str
    on: date
    note: str = attrs.field(repr=False, metadata=FREE_TEXT)


@event("participant-added")
class ParticipantAdded(Event):
    """Another client joins the episode (a partner, a parent, a child), with their own consent."""

    participant: Participant
    added_on: date


@event("group-joined")
class GroupJoined(Event):
    """The episode's client joins a therapy group, run by one or two facilitators."""

    group_id: str
    facilitator_ids: tuple[str, ...]
    joined_on: date


@event("administration-requested")
class AdministrationRequested(Event):
    """The clinician asked the client to fill a measure in themselves, by a link or a kiosk code. The link's
    token and the code are secrets and never part of the record."""

    request_id: str
    measure_id: str
    version: str
    point: RequestPoint
    channel: str
    """``link`` (sent through the notification channels) or ``kiosk`` (a code for a clinic tablet)."""
    requested_on: date
    expires_at: datetime
    session_id: str | None = None
    """The session the answers belong to, when the request names one."""


@event("administration-request-revoked")
class AdministrationRequestRevoked(Event):
    """The request can no longer be used."""

    request_id: str
    revoked_on: date


@event("client-response-recorded", version=2)
class ClientResponseRecorded(Event):
    """A measure the client filled in themselves, scored on the way in: in the session it names, or between
    sessions. Through a request (a link or a kiosk code), or on paper or in another system and recorded
    for them by a clinician (``request_id`` is then ``None``)."""

    request_id: str | None
    point: RequestPoint
    at_session: int
    """The session the score counts at: the named session's number, else the next session's at the start
    of one, else the last session's (0 before any)."""
    responded_on: date
    administration: Administration
    scores: tuple[RecordedScore, ...] = ()
    session_id: str | None = None
    responded_at: datetime | None = None
    """When the client filled it in (``None`` in version 1: when it was recorded, the event's own time)."""


@event("protocol-set")
class ProtocolSet(Event):
    """The episode's own measurement protocol, in place of its clinic's from ``set_on`` (``None``: back to
    the clinic's). The protocol is stored whole, so the record says what was scheduled even if the named
    protocol changes later."""

    protocol: MeasurementProtocol | None
    set_on: date


@event("population-changed")
class PopulationChanged(Event):
    """The norm population the episode's scores are read against from ``changed_on`` on (a client turning 13:
    ``adolescent``; ``None``: each measure's default), in place of the one it was opened with or last changed
    to. Every score of the episode is then read against it, the earlier ones too; what was recorded with a
    score before (its clinical flag) and the alerts already raised stay as they were decided."""

    population: str | None
    changed_on: date


@event("measures-consent-changed", version=2)
class MeasuresConsentChanged(Event):
    """A participant's consent to measures changed after it was first given (the identified client's at the
    consultation, another participant's when they joined), from ``changed_on`` on: ``measures`` true, they
    agreed (a measure about them is taken on and after that day, never before it); false, they withdrew it
    (no measure about them is taken from then on). What was recorded before stays."""

    measures: bool
    changed_on: date
    participant: str | None = attrs.field(default=None, repr=hidden)
    """Whose consent: another participant's reference; ``None``: the identified client's."""


def event_class(name: str) -> type[Event]:
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise ValidationError("type", "unknown-event-type") from None
