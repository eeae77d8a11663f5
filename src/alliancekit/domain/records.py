"""What a clinician records at each stage of an episode of care, as frozen attrs values.

These are the inputs of commands and the payloads of events. Free text fields hold the client's or the
clinician's words; they are never logged, never put in an exception and never shown in a repr
(``repr=False``), because psychotherapy records are among the most sensitive data there is.
"""

from collections.abc import Mapping
from datetime import date

import attrs

from alliancekit.domain.checks import record, ref, refs, text, texts
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

    session_structure: SessionStructure = SessionStructure.NO_PREFERENCE
    values_to_include: tuple[str, ...] = texts(default=())
    """Cultural and personal values the client wants included."""
    not_ready_topics: tuple[str, ...] = texts(default=())
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
    modality: Modality
    consent: Consent
    presenting_concerns: tuple[str, ...] = texts(default=())
    """In the client's own words."""
    client_questions: tuple[str, ...] = texts(default=())
    preferences: Preferences = Preferences()


@record
class FitDecision:
    """Whether to work together. A referral says to whom and why."""

    outcome: FitOutcome
    decided_on: date
    rationale: str = text(default="")
    referred_to: str | None = attrs.field(default=None, repr=False)
    referral_reason: str | None = attrs.field(default=None, repr=False)


@record
class GoalDraft:
    """A goal as agreed with the client: their words, and the tasks agreed to serve it."""

    description: str = text(default="")
    tasks: tuple[str, ...] = texts(default=())


@record
class GoalRevision:
    """A change to a goal; the earlier versions stay in the timeline."""

    goal_id: str = ref()
    reason: str = text(default="")
    description: str | None = attrs.field(default=None, repr=False)
    tasks: tuple[str, ...] | None = attrs.field(default=None, repr=False)
    status: GoalStatus | None = None


@record
class Administration:
    """One measure given in a session: which measure and version, when, and the answers by item key."""

    measure_id: str = ref()
    version: str = ref()
    timing: AdministrationTiming
    answers: Mapping[str, float | None] = attrs.field(factory=dict, repr=False)
    rater: Rater = Rater.CLIENT
    """Who completed it: the participant themselves, or a collateral rater (a parent, a teacher, ...)."""
    about: str | None = ref(default=None)
    """The participant it is about (their host reference); ``None``: the episode's identified client."""
    rater_ref: str | None = ref(default=None)
    """The host's reference for a collateral rater, when it has one (a parent taking part, say)."""


@record
class Session:
    """A scheduled session and what happened in it."""

    held_on: date
    modality: Modality
    attendance: Attendance
    administrations: tuple[Administration, ...] = attrs.field(default=())
    helpful: str = text(default="")
    """What the client found helpful."""
    not_helpful: str = text(default="")
    attended_by: tuple[str, ...] = refs(default=())
    """The participants present (host references); empty: every participant of the episode."""
    group_session_id: str | None = ref(default=None)
    """The group session this record is one member's part of, when it is one."""


@record
class Participant:
    """A client taking part in an episode with others (a partner, a parent, a child), with their own
    host reference, role and consent."""

    client_ref: str = ref()
    role: ParticipantRole
    consent: Consent


@record
class MemberAttendance:
    """One member's part in a group session: whether they came, and the measures they completed."""

    episode_id: str = ref()
    attendance: Attendance
    administrations: tuple[Administration, ...] = attrs.field(default=())


@record
class GroupSession:
    """A group session, recorded once for all its members (each member's episode gets its part)."""

    held_on: date
    modality: Modality
    members: tuple[MemberAttendance, ...] = attrs.field()


@record
class GoalProgressNote:
    goal_id: str = ref()
    progress: GoalProgress
    note: str = text(default="")


@record
class Review:
    """A progress check-in: the four questions, progress per goal, and what to do next."""

    held_on: date
    decision: ReviewDecision
    progress_towards_goals: str = text(default="")
    obstacles: str = text(default="")
    what_helped: str = text(default="")
    what_did_not_help: str = text(default="")
    goal_progress: tuple[GoalProgressNote, ...] = attrs.field(default=())
    decision_note: str = text(default="")


@record
class RuptureNote:
    """A strain in the alliance, as the clinician noticed it."""

    noted_on: date
    kind: RuptureKind
    markers: tuple[RuptureMarker, ...] = attrs.field()
    likely_cause: RuptureCause
    salience: int = 3
    """How prominent the rupture was, 1 (barely) to 5 (dominant), as in the 3RS."""
    session_id: str | None = ref(default=None)
    description: str = text(default="")
    repairs: tuple[RepairStrategy, ...] = attrs.field(default=())
    resolved: bool = False
    client_view: str = text(default="")


@record
class RepairAttempt:
    """A later attempt to repair a rupture, and whether it resolved it."""

    attempted_on: date
    strategies: tuple[RepairStrategy, ...] = attrs.field()
    resolved: bool
    client_view: str = text(default="")


@record
class MaintenancePlan:
    """How the client keeps the gains: the client gets their own copy."""

    warning_signs: tuple[str, ...] = texts(default=())
    coping_strategies: tuple[str, ...] = texts(default=())
    supports: tuple[str, ...] = texts(default=())
    booster_sessions: tuple[date, ...] = attrs.field(default=())
    return_plan: str = text(default="")
    """When and how to come back."""


@record
class Ending:
    """How therapy ended. A planned ending needs a maintenance plan or a stated reason why none was made."""

    ended_on: date
    planned: bool
    reason: EndingReason
    reflection: str = text(default="")
    maintenance_plan: MaintenancePlan | None = None
    no_plan_reason: str | None = attrs.field(default=None, repr=False)
