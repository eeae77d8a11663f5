"""What each field of a domain record accepts, declared as typed converters.

A record field names one of these as its converter so that type checkers (mypy's attrs plugin) and
``help()`` show what the field accepts: an enum member or its string value (``"video"`` for
``Modality.VIDEO``), any sequence where a tuple is kept. The check that runs when a record is made is the one
:mod:`alliancekit.domain.checks` derives from the field's annotation (it names the field in its error);
called directly, each function here runs the same check under its own name. Annotations are real objects
(no ``from __future__ import annotations``): attrs copies them into the records' ``__init__``.
"""

from collections.abc import Sequence
from datetime import date

from alliancekit.domain.checks import check_choice, check_date, check_refs, check_sequence_of, check_text
from alliancekit.domain.vocab import (
    AdministrationTiming,
    AdministrationTimingValue,
    Attendance,
    AttendanceValue,
    EndingReason,
    EndingReasonValue,
    FitOutcome,
    FitOutcomeValue,
    GoalProgress,
    GoalProgressValue,
    GoalStatus,
    GoalStatusValue,
    Modality,
    ModalityValue,
    ParticipantRole,
    ParticipantRoleValue,
    Purpose,
    PurposeValue,
    Rater,
    RaterValue,
    RepairStrategy,
    RepairStrategyValue,
    ReviewDecision,
    ReviewDecisionValue,
    Role,
    RoleValue,
    RuptureCause,
    RuptureCauseValue,
    RuptureKind,
    RuptureKindValue,
    RuptureMarker,
    RuptureMarkerValue,
    SessionStructure,
    SessionStructureValue,
)


def role(value: Role | RoleValue) -> Role:
    return check_choice("role", value, Role)


def purpose(value: Purpose | PurposeValue) -> Purpose:
    return check_choice("purpose", value, Purpose)


def modality(value: Modality | ModalityValue) -> Modality:
    return check_choice("modality", value, Modality)


def session_structure(value: SessionStructure | SessionStructureValue) -> SessionStructure:
    return check_choice("session_structure", value, SessionStructure)


def fit_outcome(value: FitOutcome | FitOutcomeValue) -> FitOutcome:
    return check_choice("fit_outcome", value, FitOutcome)


def attendance(value: Attendance | AttendanceValue) -> Attendance:
    return check_choice("attendance", value, Attendance)


def timing(value: AdministrationTiming | AdministrationTimingValue) -> AdministrationTiming:
    return check_choice("timing", value, AdministrationTiming)


def goal_status(value: GoalStatus | GoalStatusValue) -> GoalStatus:
    return check_choice("goal_status", value, GoalStatus)


def goal_progress(value: GoalProgress | GoalProgressValue) -> GoalProgress:
    return check_choice("goal_progress", value, GoalProgress)


def review_decision(value: ReviewDecision | ReviewDecisionValue) -> ReviewDecision:
    return check_choice("review_decision", value, ReviewDecision)


def rupture_kind(value: RuptureKind | RuptureKindValue) -> RuptureKind:
    return check_choice("rupture_kind", value, RuptureKind)


def rupture_cause(value: RuptureCause | RuptureCauseValue) -> RuptureCause:
    return check_choice("rupture_cause", value, RuptureCause)


def ending_reason(value: EndingReason | EndingReasonValue) -> EndingReason:
    return check_choice("ending_reason", value, EndingReason)


def markers(values: Sequence[RuptureMarker | RuptureMarkerValue]) -> tuple[RuptureMarker, ...]:
    return check_sequence_of(
        "markers", values, RuptureMarker, each=lambda where, v: check_choice(where, v, RuptureMarker)
    )


def strategies(values: Sequence[RepairStrategy | RepairStrategyValue]) -> tuple[RepairStrategy, ...]:
    return check_sequence_of(
        "strategies", values, RepairStrategy, each=lambda where, v: check_choice(where, v, RepairStrategy)
    )


def rater(value: Rater | RaterValue) -> Rater:
    return check_choice("rater", value, Rater)


def participant_role(value: ParticipantRole | ParticipantRoleValue) -> ParticipantRole:
    return check_choice("role", value, ParticipantRole)


def refs(values: Sequence[str]) -> tuple[str, ...]:
    return check_refs("refs", values)


def texts(values: Sequence[str]) -> tuple[str, ...]:
    return check_sequence_of("texts", values, str, each=check_text)


def dates(values: Sequence[date]) -> tuple[date, ...]:
    return check_sequence_of("dates", values, date, each=check_date)
