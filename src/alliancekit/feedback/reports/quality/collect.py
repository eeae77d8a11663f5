"""Gather the quality reports' records through the facade, and run every report on them.

Each episode is read with :meth:`Practice.timeline` (the guard decides, the lockbox applies for anyone
but the treating clinician, and the read is audited); the list of episodes comes from
:meth:`Practice.caseload`. Nothing here reads a store.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import MAX_DATE, MIN_DATE, check_date, check_int
from alliancekit.domain.vocab import Attendance, ReviewDecision
from alliancekit.errors import AccessDenied
from alliancekit.events.types import (
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    ClinicianTransferred,
    GoalRevised,
    RecordedScore,
    ReviewRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.reports.batched import batched_reads
from alliancekit.feedback.reports.quality.cms159 import Cms159Result, cms159
from alliancekit.feedback.reports.quality.hedis import DmsResult, DrrResult, dms, drr_e, rolling_intake
from alliancekit.feedback.reports.quality.mbc import MbcSummary, mbc_summary
from alliancekit.feedback.reports.quality.records import (
    GAD7,
    PHQ9,
    AlertRecord,
    EpisodeRecord,
    PlanChange,
    ReviewRecord,
    ScoreRecord,
    Unavailable,
    whole_points,
)
from alliancekit.feedback.reports.quality.talking_therapies import TalkingTherapiesResult, talking_therapies

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit import CaseloadRow
    from alliancekit.practice import Practice

#: The integer-scored measures the specifications compare (every measure counts for the MBC summary).
_WHOLE_POINT_MEASURES = frozenset({PHQ9, GAD7})
_PLAN_DECISIONS = frozenset(d.value for d in ReviewDecision) - {ReviewDecision.CONTINUE.value}


@attrs.frozen
class QualityReports:
    """Every quality report of one clinic, as of ``today``."""

    clinic_id: str
    today: date
    cms159: Cms159Result
    drr_e: DrrResult
    dms: DmsResult
    talking_therapies: TalkingTherapiesResult
    mbc: MbcSummary
    unreadable: tuple[Unavailable, ...] = ()
    """Episodes this reader may not read (left out of every report)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "clinic_id": self.clinic_id,
            "today": self.today.isoformat(),
            "cms159": self.cms159.to_json(),
            "drr_e": self.drr_e.to_json(),
            "dms": self.dms.to_json(),
            "talking_therapies": self.talking_therapies.to_json(),
            "mbc": self.mbc.to_json(),
            "unreadable": [attrs.asdict(u) for u in self.unreadable],
        }


@batched_reads
def quality_reports(
    practice: Practice,
    actor: Actor,
    *,
    today: date | None = None,
    year: int | None = None,
    exclusions: Mapping[str, str] | None = None,
) -> QualityReports:
    """The quality reports of the actor's clinic: CMS159 and DMS for measurement ``year`` (default: the
    year of ``today``), DRR-E over :func:`~.hedis.rolling_intake`, NHS Talking Therapies outcomes and the
    measurement-based-care summary. ``exclusions`` maps client references to the denominator exclusion
    the host's own record shows (a diagnosis, death, hospice care: facts a therapy record does not hold)."""
    # checked here: the reports' windows reach a year and more either side, past what a date can hold
    # bad input first (it writes nothing), then the guarded read (it checks the actor), then the defaults
    day = None if today is None else check_date("today", today)
    year = None if year is None else check_int("year", year, lo=MIN_DATE.year, hi=MAX_DATE.year)
    episodes, unreadable = episode_records(practice, actor)
    today = practice.clinic_today(actor.clinic_id) if day is None else day
    year = today.year if year is None else year
    return QualityReports(
        clinic_id=actor.clinic_id,
        today=today,
        cms159=cms159(episodes, year=year, today=today, exclusions=exclusions),
        drr_e=drr_e(episodes, intake=rolling_intake(today), today=today, exclusions=exclusions),
        dms=dms(episodes, year=year, exclusions=exclusions),
        talking_therapies=talking_therapies(episodes),
        mbc=mbc_summary(episodes),
        unreadable=tuple(unreadable),
    )


def episode_records(practice: Practice, actor: Actor) -> tuple[list[EpisodeRecord], list[Unavailable]]:
    """The records of the actor's clinic's episodes, and the episodes this actor may not read."""
    records, unreadable = [], []
    for row in practice.caseload(actor, include_closed=True):
        try:
            records.append(_record(practice, actor, row))
        except AccessDenied:
            unreadable.append(Unavailable(row.episode_id, "this reader may not read the episode's timeline"))
    return records, unreadable


def _scores(scores: tuple[RecordedScore, ...], on: date, number: int) -> list[ScoreRecord]:
    # the identified client's own ratings only: the specifications measure the patient, and a PHQ-9 about
    # a partner in a couple's episode is that partner's, not the client's
    return [
        ScoreRecord(s.measure_id, whole_points(s.total), on, number)
        for s in scores
        if s.measure_id in _WHOLE_POINT_MEASURES and s.own
    ]


def _record(practice: Practice, actor: Actor, row: CaseloadRow) -> EpisodeRecord:
    timeline = practice.timeline(actor, row.episode_id)
    sessions: dict[str, tuple[date, bool, list[ScoreRecord], list[str]]] = {}
    reviews: list[ReviewRecord] = []
    alerts: dict[str, AlertRecord] = {}
    changes: list[PlanChange] = []
    responses: list[ScoreRecord] = []
    responded: list[tuple[str, date]] = []
    clinician = row.clinician_id
    for entry in timeline:
        event = entry.event
        if isinstance(event, SessionRecorded | SessionCorrected):
            # a correction replaces the session it corrects: date, attendance and scores
            attended = event.session.attendance is Attendance.ATTENDED
            scores = _scores(event.scores, event.session.held_on, event.number) if attended else []
            given = [s.measure_id for s in event.scores] if attended else []
            sessions[event.session_id] = (event.session.held_on, attended, scores, given)
        elif isinstance(event, ClientResponseRecorded):
            # a measure the client filled in by a link, a kiosk or on paper counts like one given in a
            # session (as record_client_response promises), on the clinic's day it was answered
            responses.extend(_scores(event.scores, event.responded_on, event.at_session))
            responded.extend((s.measure_id, event.responded_on) for s in event.scores)
        elif isinstance(event, ReviewRecorded):
            review = event.review
            reviews.append(
                ReviewRecord(
                    review.held_on,
                    review.decision.value,
                    event.scheduled,
                    tuple(s.measure_id for s in event.scores),
                )
            )
            if review.decision.value in _PLAN_DECISIONS:
                changes.append(PlanChange(review.held_on, f"review: {review.decision.value}"))
        elif isinstance(event, GoalRevised):
            changes.append(PlanChange(event.revised_on, "goal revised"))
        elif isinstance(event, ClinicianTransferred):
            changes.append(PlanChange(event.on, "transferred to another clinician"))
        elif isinstance(event, AlertRaised):
            alerts[event.alert_id] = AlertRecord(event.rule_id, event.severity.value, event.raised_on)
        elif isinstance(event, AlertAcknowledged) and event.alert_id in alerts:
            alerts[event.alert_id] = attrs.evolve(alerts[event.alert_id], acknowledged_on=event.on)
        elif isinstance(event, AlertResolved) and event.alert_id in alerts:
            alerts[event.alert_id] = attrs.evolve(alerts[event.alert_id], resolved_on=event.on)
    attended_days = tuple(sorted(day for day, attended, _, _ in sessions.values() if attended))
    return EpisodeRecord(
        episode_id=row.episode_id,
        client_ref=row.client_ref,
        clinician_id=clinician,
        opened_on=row.opened_on,
        closed_on=row.closed_on,
        ending_reason=row.ending_reason,
        attended=attended_days,
        scores=tuple(s for _, _, scores, _ in sessions.values() for s in scores) + tuple(responses),
        given=tuple((m, day) for day, _, _, given in sessions.values() for m in given) + tuple(responded),
        reviews=tuple(reviews),
        alerts=tuple(alerts.values()),
        plan_changes=tuple(sorted(changes, key=lambda c: c.on)),
        withheld=timeline.withheld,
    )
