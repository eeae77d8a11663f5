"""What a clinician records at each stage of an episode of care, as frozen attrs values.

These are the inputs of commands and the payloads of events. Free text fields hold the client's or the
clinician's words; they are never logged, never put in an exception and never shown in a repr
(``repr=False``), because psychotherapy records are among the most sensitive data there is.
"""

from collections.abc import Mapping, Sequence
from datetime import date

import attrs

from alliancekit.domain import inputs
from alliancekit.domain.checks import FREE_TEXT, ID_ITEMS, PLANNED, check_sequence_of, record, ref, text
from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import (
    AdministrationTiming,
    Attendance,
    EndingReason,
    FitOutcome,
    GoalProgress,
    GoalStatus,
    Modality,
    ParticipantRole,
    Rater,
    RepairStrategy,
    ReviewDecision,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    SessionStructure,
)


@record
class Preferences:
    """How the client would like therapy to run."""

    session_structure: SessionStructure = attrs.field(
        default=SessionStructure.NO_PREFERENCE, converter=inputs.session_structure
    )
    values_to_include: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    """Cultural and personal values the client wants included."""
    not_ready_topics: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    """Topics the client is not yet ready to address."""


@record
class Consent:
    """What the client consented to at consultation."""

    treatment: bool
    measures: bool
    """Routine outcome and alliance measures (feedback-informed care)."""
    data_sharing: bool = False
    """Sharing the record with other providers (FHIR export for treatment)."""


@record
class Consultation:
    """The first conversation: the client's concerns and questions, preferences and consent."""

    held_on: date
    modality: Modality = attrs.field(converter=inputs.modality)
    consent: Consent
    presenting_concerns: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    """In the client's own words."""
    client_questions: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    preferences: Preferences = Preferences()


@record
class FitDecision:
    """Whether to work together. A referral says to whom and why."""

    outcome: FitOutcome = attrs.field(repr=hidden, converter=inputs.fit_outcome)
    decided_on: date
    rationale: str = text(default="")
    referred_to: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
    referral_reason: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)


@record
class GoalDraft:
    """A goal as agreed with the client: their words, and the tasks agreed to serve it."""

    description: str = text(default="")
    tasks: tuple[str, ...] = attrs.field(default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT)


@record
class GoalRevision:
    """A change to a goal; the earlier versions stay in the timeline."""

    goal_id: str = ref()
    reason: str = text(default="")
    description: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
    tasks: tuple[str, ...] | None = attrs.field(
        default=None, converter=attrs.converters.optional(inputs.texts), repr=False, metadata=FREE_TEXT
    )
    status: GoalStatus | None = attrs.field(
        default=None, converter=attrs.converters.optional(inputs.goal_status)
    )


@record
class Administration:
    """One measure given in a session: which measure and version, when, and the answers by item key (or,
    for a total-only administration, its ``total``)."""

    measure_id: str = ref()
    version: str = ref()
    timing: AdministrationTiming = attrs.field(converter=inputs.timing)
    answers: Mapping[str, float | None] = attrs.field(factory=dict, repr=False)
    rater: Rater = attrs.field(default=Rater.CLIENT, converter=inputs.rater)
    """Who completed it: the participant themselves, or a collateral rater (a parent, a teacher, ...)."""
    about: str | None = ref(default=None, repr=hidden)
    """The participant it is about (their host reference); ``None``: the episode's identified client."""
    rater_ref: str | None = ref(default=None, repr=hidden)
    """The host's reference for a collateral rater, when it has one (a parent taking part, say)."""
    total: float | None = attrs.field(default=None, repr=False)
    """A total recorded without its items (a history imported from a system that kept only totals):
    ``answers`` is then empty. The total is checked against the measure's range and scored for its band and
    cutoff; subscales and risk items cannot be known from a total, so none are recorded (items are never
    invented)."""


def _administrations(values: Sequence[Administration]) -> tuple[Administration, ...]:
    return check_sequence_of("administrations", values, Administration)


@record
class Session:
    """A scheduled session and what happened in it."""

    held_on: date
    modality: Modality = attrs.field(converter=inputs.modality)
    attendance: Attendance = attrs.field(converter=inputs.attendance)
    administrations: tuple[Administration, ...] = attrs.field(default=(), converter=_administrations)
    helpful: str = text(default="")
    """What the client found helpful."""
    not_helpful: str = text(default="")
    attended_by: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.refs, metadata=ID_ITEMS, repr=hidden
    )
    """The participants present (host references); empty: every participant of the episode."""
    group_session_id: str | None = ref(default=None)
    """The group session this record is one member's part of, when it is one."""


@record
class Participant:
    """A client taking part in an episode with others (a partner, a parent, a child), with their own
    host reference, role and consent."""

    client_ref: str = ref(repr=hidden)
    role: ParticipantRole = attrs.field(converter=inputs.participant_role)
    consent: Consent


@record
class MemberAttendance:
    """One member's part in a group session: whether they came, and the measures they completed."""

    episode_id: str = ref()
    attendance: Attendance = attrs.field(converter=inputs.attendance)
    administrations: tuple[Administration, ...] = attrs.field(default=(), converter=_administrations)


def _members(values: Sequence[MemberAttendance]) -> tuple[MemberAttendance, ...]:
    return check_sequence_of("members", values, MemberAttendance)


@record
class GroupSession:
    """A group session, recorded once for all its members (each member's episode gets its part)."""

    held_on: date
    modality: Modality = attrs.field(converter=inputs.modality)
    members: tuple[MemberAttendance, ...] = attrs.field(converter=_members)


@record
class GoalProgressNote:
    goal_id: str = ref()
    progress: GoalProgress = attrs.field(repr=hidden, converter=inputs.goal_progress)
    note: str = text(default="")


def _progress_notes(values: Sequence[GoalProgressNote]) -> tuple[GoalProgressNote, ...]:
    return check_sequence_of("goal_progress", values, GoalProgressNote)


@record
class Review:
    """A progress check-in: the four questions, progress per goal, and what to do next."""

    held_on: date
    decision: ReviewDecision = attrs.field(repr=hidden, converter=inputs.review_decision)
    progress_towards_goals: str = text(default="")
    obstacles: str = text(default="")
    what_helped: str = text(default="")
    what_did_not_help: str = text(default="")
    goal_progress: tuple[GoalProgressNote, ...] = attrs.field(default=(), converter=_progress_notes)
    decision_note: str = text(default="")


@record
class RuptureNote:
    """A strain in the alliance, as the clinician noticed it."""

    noted_on: date
    kind: RuptureKind = attrs.field(repr=hidden, converter=inputs.rupture_kind)
    markers: tuple[RuptureMarker, ...] = attrs.field(repr=hidden, converter=inputs.markers)
    likely_cause: RuptureCause = attrs.field(repr=hidden, converter=inputs.rupture_cause)
    salience: int = attrs.field(default=3, repr=hidden)
    """How prominent the rupture was, 1 (barely) to 5 (dominant), as in the 3RS."""
    session_id: str | None = ref(default=None)
    description: str = text(default="")
    repairs: tuple[RepairStrategy, ...] = attrs.field(repr=hidden, default=(), converter=inputs.strategies)
    resolved: bool = attrs.field(default=False, repr=hidden)
    client_view: str = text(default="")


@record
class RepairAttempt:
    """A later attempt to repair a rupture, and whether it resolved it."""

    attempted_on: date
    strategies: tuple[RepairStrategy, ...] = attrs.field(repr=hidden, converter=inputs.strategies)
    resolved: bool = attrs.field(repr=hidden)
    client_view: str = text(default="")


@record
class MaintenancePlan:
    """How the client keeps the gains: the client gets their own copy."""

    warning_signs: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    coping_strategies: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    supports: tuple[str, ...] = attrs.field(
        default=(), converter=inputs.texts, repr=False, metadata=FREE_TEXT
    )
    booster_sessions: tuple[date, ...] = attrs.field(
        default=(),
        converter=inputs.dates,
        metadata=PLANNED,  # days to come: they may be after today
    )
    return_plan: str = text(default="")
    """When and how to come back."""


@record
class Ending:
    """How therapy ended. A planned ending needs a maintenance plan or a stated reason why none was made."""

    ended_on: date
    planned: bool = attrs.field(repr=hidden)
    reason: EndingReason = attrs.field(repr=hidden, converter=inputs.ending_reason)
    reflection: str = text(default="")
    maintenance_plan: MaintenancePlan | None = None
    no_plan_reason: str | None = attrs.field(default=None, repr=False, metadata=FREE_TEXT)
