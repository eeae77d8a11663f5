"""Commands: what a clinician asks the library to record. Each is decided by :mod:`.rules`."""

from __future__ import annotations

from datetime import date

import attrs

from alliancekit.domain.records import (
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    GoalRevision,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import Role
from alliancekit.events.types import RecordedScore, ReviewedScore
from alliancekit.lifecycle.state import SessionRef


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


@attrs.frozen
class CorrectSession(Command):
    session_id: str
    original: SessionRef | None
    """The session as first recorded, looked up by the caller; ``None`` when there is no such session."""
    session: Session
    scores: tuple[RecordedScore, ...] = attrs.field()
    reason: str = attrs.field(repr=False)


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
class AcknowledgeAlert(Command):
    alert_id: str
    on: date
    actor_id: str
    actor_role: Role
    actor_clinic_id: str


@attrs.frozen
class ResolveAlert(Command):
    alert_id: str
    on: date
    note: str = attrs.field(repr=False)
    actor_id: str = ""
    actor_role: Role = Role.CLINICIAN
    actor_clinic_id: str = ""
