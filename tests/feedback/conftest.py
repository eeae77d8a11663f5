"""Helpers for feedback tests: a practice on a real SQLite file, an episode in therapy, sessions with
synthetic answers that produce chosen totals."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Role,
)
from alliancekit.domain.records import Session
from alliancekit.feedback import FeedbackConfig
from alliancekit.practice import Practice

CLINIC = "clinic-1"
START = date(2026, 1, 5)
CLINICIAN = Actor("clin-1", Role.CLINICIAN, CLINIC)


def later() -> datetime:
    """A fixed clock after every day the tests' running calendars reach: no clinical date may be after
    the clinic's today (the real clock would make that depend on the day the tests run)."""
    return datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def ors(total: float) -> Administration:
    """ORS answers summing to ``total`` (four items 0-10, one decimal)."""
    item = round(total / 4, 1)
    answers = {"individually": item, "interpersonally": item, "socially": item}
    answers["overall"] = round(total - 3 * item, 1)
    return Administration("ors", "1.0", AdministrationTiming.START, answers)


def srs(total: float) -> Administration:
    item = round(total / 4, 1)
    answers = {"relationship": item, "goals_topics": item, "approach": item}
    answers["overall"] = round(total - 3 * item, 1)
    return Administration("srs", "1.0", AdministrationTiming.END, answers)


def phq9(total: int, item9: int = 0) -> Administration:
    rest = total - item9
    answers: dict[str, float | None] = {f"q{i}": 0 for i in range(1, 10)}
    for i in range(1, 9):
        take = min(3, rest)
        answers[f"q{i}"] = take
        rest -= take
    answers["q9"] = item9
    return Administration("phq-9", "1.0", AdministrationTiming.START, answers)


def core10(total: int, risk: int = 0) -> Administration:
    """CORE-10 response positions whose clinical score is ``total``, ``risk`` on item 6. Items 2 and 3 are
    reverse-keyed (position p scores 4 - p), so they are given the score left over last, as positions."""
    scores = {f"q{i}": 0 for i in range(1, 11)}
    scores["q6"] = risk
    rest = total - risk
    for key in ("q1", "q4", "q5", "q7", "q8", "q9", "q10", "q2", "q3"):
        scores[key] = min(4, rest)
        rest -= scores[key]
    answers: dict[str, float | None] = {k: 4 - v if k in ("q2", "q3") else v for k, v in scores.items()}
    return Administration("core-10", "1.0", AdministrationTiming.START, answers)


class Clinic:
    """One practice and a running calendar for tests."""

    def __init__(self, practice: Practice) -> None:
        self.p = practice
        self.day = START
        self.actor = CLINICIAN

    def episode(
        self,
        clinician: Actor = CLINICIAN,
        modality: Modality = Modality.IN_PERSON,
        population: str | None = None,
    ) -> str:
        ep = self.p.start_episode(
            clinician,
            client_ref="client-x",
            clinician_id=clinician.id,
            opened_on=self.day,
            population=population,
        )
        self.p.record_consultation(
            clinician,
            ep,
            Consultation(held_on=self.day, modality=modality, consent=Consent(treatment=True, measures=True)),
        )
        self.p.decide_fit(clinician, ep, FitDecision(outcome=FitOutcome.PROCEED, decided_on=self.day))
        self.p.agree_goals(clinician, ep, [GoalDraft("a synthetic goal")], agreed_on=self.day)
        return ep

    def session(
        self,
        ep: str,
        *admins: Administration,
        attendance: Attendance = Attendance.ATTENDED,
        days: int = 7,
        modality: Modality = Modality.IN_PERSON,
        actor: Actor = CLINICIAN,
    ) -> str:
        self.day += timedelta(days=days)
        recorded = self.p.record_session(
            actor,
            ep,
            Session(held_on=self.day, modality=modality, attendance=attendance, administrations=admins),
        )
        assert recorded.record_id is not None
        return recorded.record_id

    def rules_raised(self, ep: str) -> list[str]:
        """Rule ids of every alert raised in the episode, in order (from the timeline)."""
        return [e.event.rule_id for e in self.p.timeline(self.actor, ep) if e.type == "alert-raised"]

    def open_rules(self, ep: str) -> set[str]:
        return {a.rule_id for a in self.p.alerts(self.actor, ep).values()}


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    with open_practice(tmp_path / "practice.sqlite", clock=later) as practice:
        yield Clinic(practice)


def make_clinic(tmp_path: Path, name: str = "p.sqlite", **options: Any) -> Clinic:
    options.setdefault("clock", later)
    return Clinic(open_practice(tmp_path / name, **options))


def config(**changes: Any) -> FeedbackConfig:
    return FeedbackConfig(**changes)


def totals(scores: Mapping[str, Any]) -> dict[str, float]:
    return dict(scores)
