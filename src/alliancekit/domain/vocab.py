"""Closed vocabularies of the domain, one enum each. Values are stable strings stored in events."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    CLINICIAN = "clinician"
    SUPERVISOR = "supervisor"
    ADMINISTRATOR = "administrator"
    CLIENT = "client"
    SYSTEM = "system"


RoleValue = Literal["clinician", "supervisor", "administrator", "client", "system"]
"""The values of :class:`Role`, as a type checker sees them."""


class Purpose(StrEnum):
    """Why an actor is acting (HL7 purpose-of-use, simplified)."""

    TREATMENT = "treatment"
    CLIENT_ACCESS = "client-access"
    QUALITY_IMPROVEMENT = "quality-improvement"
    OPERATIONS = "operations"
    EMERGENCY = "emergency"


PurposeValue = Literal["treatment", "client-access", "quality-improvement", "operations", "emergency"]
"""The values of :class:`Purpose`, as a type checker sees them."""


class Stage(StrEnum):
    """Lifecycle state of an episode of care."""

    CONSULTATION = "consultation"
    GOAL_SETTING = "goal-setting"
    ACTIVE = "active"
    ON_HOLD = "on-hold"
    ENDING = "ending"
    CLOSED = "closed"


class Modality(StrEnum):
    IN_PERSON = "in-person"
    VIDEO = "video"
    PHONE = "phone"


ModalityValue = Literal["in-person", "video", "phone"]
"""The values of :class:`Modality`, as a type checker sees them."""


class SessionStructure(StrEnum):
    """The client's preference for how sessions run."""

    CONVERSATIONAL = "conversational"
    STRUCTURED = "structured"
    MIXED = "mixed"
    NO_PREFERENCE = "no-preference"


SessionStructureValue = Literal["conversational", "structured", "mixed", "no-preference"]
"""The values of :class:`SessionStructure`, as a type checker sees them."""


class FitOutcome(StrEnum):
    PROCEED = "proceed"
    REFER = "refer"
    NOT_PROCEED = "not-proceed"


FitOutcomeValue = Literal["proceed", "refer", "not-proceed"]
"""The values of :class:`FitOutcome`, as a type checker sees them."""


class Attendance(StrEnum):
    ATTENDED = "attended"
    CANCELLED = "cancelled"
    NO_SHOW = "no-show"


AttendanceValue = Literal["attended", "cancelled", "no-show"]
"""The values of :class:`Attendance`, as a type checker sees them."""


class AdministrationTiming(StrEnum):
    """When in the session a measure was given: outcome at the start, alliance at the end."""

    START = "start"
    END = "end"


AdministrationTimingValue = Literal["start", "end"]
"""The values of :class:`AdministrationTiming`, as a type checker sees them."""


class RequestPoint(StrEnum):
    """When a requested measure is to be filled in: at the start or end of a session, or between sessions."""

    START = "start"
    END = "end"
    BETWEEN = "between"


RequestPointValue = Literal["start", "end", "between"]
"""The values of :class:`RequestPoint`, as a type checker sees them."""


class GoalStatus(StrEnum):
    """Our goal states; they map onto FHIR Goal.lifecycleStatus."""

    ACTIVE = "active"
    ON_HOLD = "on-hold"
    ACHIEVED = "achieved"
    CANCELLED = "cancelled"


GoalStatusValue = Literal["active", "on-hold", "achieved", "cancelled"]
"""The values of :class:`GoalStatus`, as a type checker sees them."""


class GoalProgress(StrEnum):
    """Progress towards a goal judged at a review; maps onto FHIR Goal.achievementStatus."""

    IN_PROGRESS = "in-progress"
    IMPROVING = "improving"
    WORSENING = "worsening"
    NO_CHANGE = "no-change"
    ACHIEVED = "achieved"
    SUSTAINING = "sustaining"
    NOT_ACHIEVED = "not-achieved"
    NO_PROGRESS = "no-progress"
    NOT_ATTAINABLE = "not-attainable"


GoalProgressValue = Literal[
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
"""The values of :class:`GoalProgress`, as a type checker sees them."""


class ReviewDecision(StrEnum):
    CONTINUE = "continue"
    ADJUST_APPROACH = "adjust-approach"
    REVISIT_GOALS = "revisit-goals"
    ADD_SUPPORT = "add-support"
    REFER = "refer"
    PLAN_ENDING = "plan-ending"


ReviewDecisionValue = Literal[
    "continue",
    "adjust-approach",
    "revisit-goals",
    "add-support",
    "refer",
    "plan-ending",
]
"""The values of :class:`ReviewDecision`, as a type checker sees them."""


class RuptureKind(StrEnum):
    WITHDRAWAL = "withdrawal"
    CONFRONTATION = "confrontation"


RuptureKindValue = Literal["withdrawal", "confrontation"]
"""The values of :class:`RuptureKind`, as a type checker sees them."""


class RuptureMarker(StrEnum):
    """Markers from the Rupture Resolution Rating System (3RS; Eubanks, Muran & Safran).

    Withdrawal markers first, then confrontation markers.
    """

    # withdrawal
    DENIAL = "denial"
    MINIMAL_RESPONSE = "minimal-response"
    ABSTRACT_COMMUNICATION = "abstract-communication"
    AVOIDANT_STORYTELLING = "avoidant-storytelling"
    TOPIC_SHIFT = "topic-shift"
    DEFERENTIAL = "deferential"
    CONTENT_AFFECT_SPLIT = "content-affect-split"
    SELF_CRITICISM = "self-criticism"
    # confrontation
    COMPLAINT_ABOUT_THERAPIST = "complaint-about-therapist"
    COMPLAINT_ABOUT_ACTIVITIES = "complaint-about-activities"
    COMPLAINT_ABOUT_PARAMETERS = "complaint-about-parameters"
    COMPLAINT_ABOUT_PROGRESS = "complaint-about-progress"
    DEFENDING_AGAINST_THERAPIST = "defending-against-therapist"
    CONTROLLING_THERAPIST = "controlling-therapist"
    REJECTING_INTERVENTION = "rejecting-intervention"


RuptureMarkerValue = Literal[
    "denial",
    "minimal-response",
    "abstract-communication",
    "avoidant-storytelling",
    "topic-shift",
    "deferential",
    "content-affect-split",
    "self-criticism",
    "complaint-about-therapist",
    "complaint-about-activities",
    "complaint-about-parameters",
    "complaint-about-progress",
    "defending-against-therapist",
    "controlling-therapist",
    "rejecting-intervention",
]
"""The values of :class:`RuptureMarker`, as a type checker sees them."""


WITHDRAWAL_MARKERS = frozenset(list(RuptureMarker)[:8])
CONFRONTATION_MARKERS = frozenset(list(RuptureMarker)[8:])


class RuptureCause(StrEnum):
    GOAL_DISAGREEMENT = "goal-disagreement"
    TASK_DISAGREEMENT = "task-disagreement"
    MISUNDERSTANDING = "misunderstanding"
    TRUST_IN_PROCESS = "trust-in-process"
    STYLE_MISMATCH = "style-mismatch"
    OTHER = "other"


RuptureCauseValue = Literal[
    "goal-disagreement",
    "task-disagreement",
    "misunderstanding",
    "trust-in-process",
    "style-mismatch",
    "other",
]
"""The values of :class:`RuptureCause`, as a type checker sees them."""


class RepairStrategy(StrEnum):
    """Resolution strategies (3RS): immediate first, then exploratory."""

    GIVE_RATIONALE = "give-rationale"
    CHANGE_TASK_OR_GOAL = "change-task-or-goal"
    CLARIFY_MISUNDERSTANDING = "clarify-misunderstanding"
    INVITE_CLIENT_VIEW = "invite-client-view"
    ACKNOWLEDGE_OWN_PART = "acknowledge-own-part"
    VALIDATE_DEFENSIVE_POSTURE = "validate-defensive-posture"
    LINK_TO_PATTERNS = "link-to-patterns"


RepairStrategyValue = Literal[
    "give-rationale",
    "change-task-or-goal",
    "clarify-misunderstanding",
    "invite-client-view",
    "acknowledge-own-part",
    "validate-defensive-posture",
    "link-to-patterns",
]
"""The values of :class:`RepairStrategy`, as a type checker sees them."""


class EndingReason(StrEnum):
    GOALS_MET = "goals-met"
    ABLE_TO_CONTINUE_ALONE = "able-to-continue-alone"
    LIFE_CHANGE = "life-change"
    REFERRAL = "referral"
    WITHDRAWAL = "withdrawal"
    DROPOUT = "dropout"


EndingReasonValue = Literal[
    "goals-met",
    "able-to-continue-alone",
    "life-change",
    "referral",
    "withdrawal",
    "dropout",
]
"""The values of :class:`EndingReason`, as a type checker sees them."""


class ClosingReason(StrEnum):
    """Why a closed episode closed: at the fit decision or at an ending."""

    REFERRED_AT_CONSULTATION = "referred-at-consultation"
    NOT_PROCEEDING = "not-proceeding"
    ENDED = "ended"


class AlertSeverity(StrEnum):
    """How urgently an alert asks for a clinician's attention, lowest first."""

    INFO = "info"
    AMBER = "amber"
    RED = "red"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """0 (info) to 3 (urgent), for ordering."""
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {
    AlertSeverity.INFO: 0,
    AlertSeverity.AMBER: 1,
    AlertSeverity.RED: 2,
    AlertSeverity.URGENT: 3,
}


class AlertStatus(StrEnum):
    """Where an alert stands; a resolved alert leaves the episode's open alerts."""

    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


ParticipantRoleValue = Literal["client", "partner", "parent", "child", "sibling", "family-member"]


class ParticipantRole(StrEnum):
    """A client's place in an episode with several clients (a couple, a family)."""

    CLIENT = "client"
    """The identified client: the one the episode was opened for (every episode has exactly one)."""
    PARTNER = "partner"
    PARENT = "parent"
    CHILD = "child"
    SIBLING = "sibling"
    FAMILY_MEMBER = "family-member"


RaterValue = Literal["client", "parent", "partner", "teacher", "clinician"]


class Rater(StrEnum):
    """Who completed a measure: the person it is about, or someone rating them (a collateral report)."""

    CLIENT = "client"
    """The participant rated themselves."""
    PARENT = "parent"
    """A parent or caretaker rating a child."""
    PARTNER = "partner"
    TEACHER = "teacher"
    CLINICIAN = "clinician"
