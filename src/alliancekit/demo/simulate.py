"""Simulate a practice through the public API's batch path, deterministically from a seed and a date.

Every client follows one of a handful of courses (a referral at consultation, steady improvement to a
planned ending, an alliance dip and a rupture that is repaired, a dropout after missed sessions, a risk item
endorsed, no reliable change, ...), so that the demo database holds every lifecycle stage and alerts of
every built-in feedback rule. The calendar is the clinic's year before ``today``: intakes fall over the
twelve months before it, and nothing is recorded after it, so a course that would go on past ``today`` is
still under way (clients who came recently are in therapy now). With more clients than guaranteed courses,
the last client is seen for more than a year (weekly, then monthly maintenance sessions with a PHQ-9 each
time), the one intake before the twelve months, so that the twelve-month and four-to-eight-month quality
measures (CMS159, HEDIS DRR-E) have a closed follow-up window to show.
The clinicians behave like clinicians: they acknowledge urgent and red alerts at once, resolve risk
alerts the same day with a note, hold a progress review whenever one is due (which red and urgent alerts
make happen), and talk alliance alerts through at the next session. All names, ids and words are
synthetic.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs

from alliancekit.batch import Batch
from alliancekit.demo import client_submissions, together
from alliancekit.demo.measures import administration
from alliancekit.domain import (
    Actor,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    Ending,
    EndingReason,
    FitDecision,
    FitOutcome,
    GoalDraft,
    GoalProgress,
    GoalProgressNote,
    GoalRevision,
    MaintenancePlan,
    Modality,
    Preferences,
    RepairAttempt,
    RepairStrategy,
    Review,
    ReviewDecision,
    Role,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
    Session,
    SessionStructure,
)
from alliancekit.domain.checks import MAX_DATE, MIN_DATE, check_date
from alliancekit.errors import StoreError, ValidationError
from alliancekit.lifecycle.rules import review_due
from alliancekit.practice import Practice, open_practice

CLINIC = "demo-clinic"
CLINICIANS = ("clin-ada", "clin-bea", "clin-cai")
SUPERVISOR = "sup-dee"
#: Commands per store transaction of the demo's batch.
BATCH_SIZE = 500
#: Intakes fall over this many days before today.
YEAR = 365

#: The courses a demo client can follow; the first ones are guaranteed, the rest drawn at random.
COURSES = (
    "referred",
    "not-proceeding",
    "improving",
    "rupture-repaired",
    "dropout",
    "planned-no-plan",
    "deteriorating-referred",
    "on-hold",
    "transferred",
    "corrected",
    "no-change",
    "ongoing-rupture",
)
#: The fewest clients a demo has: one per guaranteed course.
MIN_CLIENTS = len(COURSES)
#: The most clients a demo has: 2,000 take about eight seconds, so this is some minutes, not hours.
MAX_CLIENTS = 100_000

RANDOM_COURSES = (
    "improving",
    "improving",
    "ongoing",
    "rupture-repaired",
    "dropout",
    "deteriorating-referred",
)

#: Clients seen together, and the size of the demo's group (see :mod:`.together`).
TOGETHER = ("couple", "family", "couple-ongoing", "family-ongoing")
GROUP_SIZE = 4

_STAYS_OPEN = frozenset(
    {
        "couple-ongoing",
        "family-ongoing",
        "on-hold",
        "transferred",
        "corrected",
        "no-change",
        "ongoing-rupture",
        "ongoing",
    }
)
#: Days before today that a guaranteed course starts: those that end start early enough to end; those that
#: stay open start late enough to have been seen lately (their longest course, on hold, takes 81 days).
_GUARANTEED_ENDING_START = 300
_GUARANTEED_OPEN_START = 95
#: The year-long course starts this many days before today: its 12-month window (index + 12 months + 60
#: days, CMS159) closes before today.
_LONG_COURSE_START = 450
#: Clients seen together start this many days before today (open ones later, so they are seen lately).
_TOGETHER_START = 110
_TOGETHER_OPEN_START = 70
#: A maintenance plan books its booster session this many days after the planned ending.
_BOOSTER_AFTER = 60
#: The todays a demo can be made for: its records fall from the year-long course's intake before today
#: to a booster session after it (an ending on today), and every date a record holds is within
#: :data:`~alliancekit.domain.checks.MIN_DATE` .. :data:`~alliancekit.domain.checks.MAX_DATE`.
FIRST_TODAY = MIN_DATE + timedelta(days=_LONG_COURSE_START)
LAST_TODAY = MAX_DATE - timedelta(days=_BOOSTER_AFTER)

Progress = Callable[[int, int], None]


@attrs.frozen
class DemoSummary:
    """What the demo made and where."""

    location: str
    clients: int
    episodes_by_stage: dict[str, int]
    closing_reasons: dict[str, int]
    courses: dict[str, int]
    sessions: int
    ruptures: int
    reviews: int
    alerts_by_rule: dict[str, int] = attrs.field(factory=dict)
    alerts_resolved: int = 0
    today: str = ""
    """The clinic's today the demo was made for (ISO date): nothing is recorded after it; the report's
    "today"."""
    client_submissions: int = 0
    """Measures clients filled in themselves (through a link or the kiosk tablet)."""

    @property
    def seen_together(self) -> int:
        """Episodes of the couples, families and group members the demo adds after its individual clients."""
        return sum(self.episodes_by_stage.values()) - self.clients

    def lines(self) -> list[str]:
        stages = ", ".join(f"{k} {v}" for k, v in sorted(self.episodes_by_stage.items()))
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.closing_reasons.items()))
        return [
            # the clients seen together (a couple, a family, a group) come on top of the individual ones
            (
                f"demo practice: {self.clients} synthetic individual clients and {self.seen_together} "
                f"episodes of clients seen together in {self.location}"
            ),
            f"  episodes by stage: {stages}",
            f"  closed because:    {reasons}",
            f"  sessions {self.sessions}, reviews {self.reviews}, ruptures noted {self.ruptures}",
            (
                f"  alerts raised {sum(self.alerts_by_rule.values())} ({len(self.alerts_by_rule)} rules),"
                f" resolved {self.alerts_resolved}"
            ),
            f"  measures clients filled in themselves (by link or kiosk): {self.client_submissions}",
        ]


class _Clock:
    """The simulated time: a record is 'recorded' at noon on the day it happened, and one of the clinic's
    today at its first moment (00:00 UTC), since a demo made for today runs at any hour of it: nothing it
    records may come after what the practice records next, by the real clock."""

    def __init__(self, today: date) -> None:
        self.clinic_today = today
        self.today = today
        """The simulated day, moved on as the courses run."""

    def __call__(self) -> datetime:
        at = _START_OF_DAY if self.today >= self.clinic_today else _NOON
        return datetime.combine(self.today, at, tzinfo=UTC)


_NOON, _START_OF_DAY = time(12, 0), time(0, 0)


class _Today(Exception):
    """The course reached the clinic's today: what would come next has not happened yet."""


class _Client:
    """One synthetic client's course through an episode, made through the public facade (or a batch)."""

    def __init__(self, sim: _Simulation, index: int, course: str, intake: date) -> None:
        self.sim = sim
        self.p: Practice | Batch = sim.target
        self.rng = sim.rng
        self.index = index
        self.course = course
        self.clinician = CLINICIANS[index % len(CLINICIANS)]
        self.actor = Actor(self.clinician, Role.CLINICIAN, CLINIC)
        self.day = intake
        self.ep = ""
        self.goal_ids: list[str] = []
        self.wellbeing = self.rng.uniform(0.3, 0.45)
        self.alliance = self.rng.uniform(0.88, 0.97)
        self.sessions = 0
        self.risk = False
        """Whether the client endorses the PHQ-9 risk item (item 9) at the next symptom measure."""
        self.pending = False
        """The clinician has not yet seen this session's alerts: they wait in the attention list."""
        self.modality = (Modality.IN_PERSON, Modality.IN_PERSON, Modality.VIDEO, Modality.PHONE)[index % 4]
        """How this client mostly meets the clinician (for outcomes by modality)."""
        self.outcome_measure = "ors"
        """The client's own outcome measure (a child rates the Child ORS)."""
        self.others: Callable[[], list[Any]] = list
        """The measures other participants complete in the next session (couples and families)."""

    # -- helpers --------------------------------------------------------------------------------------

    def at(self, day: date) -> None:
        if day > self.sim.today:
            raise _Today
        self.day = day
        self.sim.clock.today = day

    def advance(self, days: int = 7) -> None:
        self.at(self.day + timedelta(days=days))

    def measures(self, timing: AdministrationTiming, ids: tuple[str, ...], level: float) -> list[Any]:
        registry = self.sim.practice.plugins.measures()
        known = {measure_id for measure_id, _ in registry}
        return [
            self._risk_items(administration(registry, m, timing, level, self.rng)) for m in ids if m in known
        ]

    def _risk_items(self, admin: Any) -> Any:
        """Risk items are answered 'not at all' unless this client's course endorses one."""
        key = {"phq-9": "q9", "core-10": "q6"}.get(admin.measure_id)
        if key is None:
            return admin
        answers = dict(admin.answers)
        answers[key] = 1 if self.risk else 0
        return attrs.evolve(admin, answers=answers)

    def handle_alerts(self) -> None:
        """What the clinician does with open alerts after a session (see the module docstring)."""
        if self.pending:
            return
        for alert_id, alert in sorted(self.p.alerts(self.actor, self.ep).items()):
            urgent = alert.severity.value in ("red", "urgent")
            if urgent and alert.status.value == "raised":
                self.p.acknowledge_alert(self.actor, self.ep, alert_id, on=self.day)
            if alert.rule_id == "risk-item-endorsed":
                self.p.resolve_alert(
                    self.actor,
                    self.ep,
                    alert_id,
                    note="synthetic: risk assessed in session; safety plan reviewed with the client",
                    on=self.day,
                )
                self.sim.resolved_count += 1
        state = self.p.episode(self.actor, self.ep)
        if review_due(state, self.sim.practice.review_every):
            self.review(ReviewDecision.ADJUST_APPROACH if state.review_requested else ReviewDecision.CONTINUE)

    def talk_through_alliance_alerts(self) -> None:
        """At the start of a session, alliance alerts from the last one are talked through (most clients)."""
        if self.index % 4 == 3:
            return  # some clinicians leave them open: they show in the attention list
        for alert_id, alert in sorted(self.p.alerts(self.actor, self.ep).items()):
            if alert.rule_id in ("alliance-below-cutoff", "alliance-dropped", "split-alliance"):
                self.p.resolve_alert(
                    self.actor,
                    self.ep,
                    alert_id,
                    note="synthetic: asked about the work together; agreed on changes",
                    on=self.day,
                )
                self.sim.resolved_count += 1

    # -- stages ---------------------------------------------------------------------------------------

    def consult(self, outcome: FitOutcome = FitOutcome.PROCEED) -> None:
        self.at(self.day)
        self.ep = self.p.start_episode(
            self.actor,
            client_ref=f"demo-client-{self.index:03d}",
            clinician_id=self.clinician,
            opened_on=self.day,
        )
        self.p.record_consultation(
            self.actor,
            self.ep,
            Consultation(
                held_on=self.day,
                modality=self.rng.choice(list(Modality)),
                consent=Consent(treatment=outcome is FitOutcome.PROCEED, measures=True),
                presenting_concerns=("synthetic concern: low mood and poor sleep",),
                client_questions=("synthetic question: how long does therapy take?",),
                preferences=Preferences(
                    session_structure=self.rng.choice(list(SessionStructure)),
                    values_to_include=("synthetic value: family",),
                    not_ready_topics=("synthetic topic not yet ready",),
                ),
            ),
        )
        if outcome is FitOutcome.REFER:
            decision = FitDecision(
                outcome=outcome,
                decided_on=self.day,
                rationale="synthetic: needs a specialist service",
                referred_to="synthetic eating-disorder service",
                referral_reason="synthetic: specialist care",
            )
        else:
            decision = FitDecision(outcome=outcome, decided_on=self.day, rationale="synthetic rationale")
        self.p.decide_fit(self.actor, self.ep, decision)

    def agree_goals(self) -> None:
        self.advance(7)
        goals = [
            GoalDraft("synthetic goal: sleep through most nights", ("keep a sleep diary",)),
            GoalDraft("synthetic goal: see friends weekly", ("plan one outing a week",)),
        ]
        self.goal_ids = self.p.agree_goals(self.actor, self.ep, goals, agreed_on=self.day)

    def session(
        self,
        attendance: Attendance = Attendance.ATTENDED,
        drift: float = 0.03,
        symptoms: bool = False,
        days: int = 7,
    ) -> str:
        self.advance(days)
        self.sessions += 1
        if self.sessions > 1:
            self.talk_through_alliance_alerts()
        administrations: list[Any] = []
        if attendance is Attendance.ATTENDED:
            self.wellbeing = min(0.95, max(0.05, self.wellbeing + drift + self.rng.gauss(0, 0.015)))
            administrations += self.measures(
                AdministrationTiming.START, (self.outcome_measure,), self.wellbeing
            )
            if self.sessions == 1 or symptoms:  # at intake and in the session of each review
                administrations += self.measures(
                    AdministrationTiming.START, ("phq-9", "gad-7"), self.wellbeing
                )
            if self.sessions == 3:
                administrations += self.measures(AdministrationTiming.END, ("wai-sr",), self.alliance)
            administrations += self.measures(AdministrationTiming.END, ("srs",), self.alliance)
            administrations += self.others()
        recorded = self.p.record_session(
            self.actor,
            self.ep,
            Session(
                held_on=self.day,
                modality=self.modality if self.sessions % 3 else Modality.VIDEO,
                attendance=attendance,
                administrations=tuple(administrations),
                helpful="synthetic: the breathing exercise" if attendance is Attendance.ATTENDED else "",
            ),
        )
        self.sim.session_count += 1
        assert recorded.record_id is not None  # noqa: S101 - record_session always names the session
        self.handle_alerts()
        return recorded.record_id

    def sessions_run(self, count: int, drift: float = 0.03) -> None:
        for _ in range(count):
            review_now = (self.sessions + 1) % self.sim.practice.review_every == 0
            self.session(drift=drift, symptoms=review_now)

    def review(self, decision: ReviewDecision) -> None:
        # red alerts are dealt with at the review: what was decided is the note
        for alert_id, alert in sorted(self.p.alerts(self.actor, self.ep).items()):
            if alert.severity.value == "red":
                self.p.resolve_alert(
                    self.actor,
                    self.ep,
                    alert_id,
                    note="synthetic: discussed at the progress review; approach adjusted",
                    on=self.day,
                )
                self.sim.resolved_count += 1
        progress = GoalProgress.IMPROVING if self.wellbeing > 0.5 else GoalProgress.NO_CHANGE
        self.p.record_review(
            self.actor,
            self.ep,
            Review(
                held_on=self.day,
                decision=decision,
                progress_towards_goals="synthetic: some progress",
                obstacles="synthetic: work stress",
                what_helped="synthetic: sleep diary",
                what_did_not_help="synthetic: homework sheets",
                goal_progress=tuple(GoalProgressNote(g, progress) for g in self.goal_ids),
            ),
        )
        self.sim.review_count += 1

    def planned_ending(self, with_plan: bool = True) -> None:
        self.advance(1)
        self.p.plan_ending(self.actor, self.ep, on=self.day)
        self.session(drift=0.01)
        plan = (
            MaintenancePlan(
                warning_signs=("synthetic: sleeping badly for a week",),
                coping_strategies=("synthetic: sleep diary", "synthetic: call a friend"),
                supports=("synthetic: sibling",),
                booster_sessions=(self.day + timedelta(days=_BOOSTER_AFTER),),
                return_plan="synthetic: book a session through reception if warning signs last two weeks",
            )
            if with_plan
            else None
        )
        self.p.close_episode(
            self.actor,
            self.ep,
            Ending(
                ended_on=self.day,
                planned=True,
                reason=EndingReason.GOALS_MET,
                reflection="synthetic reflection on progress",
                maintenance_plan=plan,
                no_plan_reason=None if with_plan else "synthetic: client preferred to write their own",
            ),
        )

    def unplanned_ending(self, reason: EndingReason, reflection: str) -> None:
        ending = Ending(ended_on=self.day, planned=False, reason=reason, reflection=reflection)
        self.p.close_episode(self.actor, self.ep, ending)

    def rupture(self, kind: RuptureKind, resolve: bool) -> None:
        markers = (
            (RuptureMarker.COMPLAINT_ABOUT_ACTIVITIES, RuptureMarker.REJECTING_INTERVENTION)
            if kind is RuptureKind.CONFRONTATION
            else (RuptureMarker.MINIMAL_RESPONSE, RuptureMarker.TOPIC_SHIFT)
        )
        self.alliance = 0.7  # the dip that shows on the SRS before the rupture is named
        session_id = self.session(drift=-0.02)
        recorded = self.p.note_rupture(
            self.actor,
            self.ep,
            note_for(self.day, kind, markers, session_id),
        )
        self.sim.rupture_count += 1
        if resolve:
            self.session(drift=0.0)
            assert recorded.record_id is not None  # noqa: S101
            self.p.record_repair(
                self.actor,
                self.ep,
                recorded.record_id,
                RepairAttempt(
                    attempted_on=self.day,
                    strategies=(RepairStrategy.INVITE_CLIENT_VIEW, RepairStrategy.ACKNOWLEDGE_OWN_PART),
                    resolved=True,
                    client_view="synthetic: felt heard",
                ),
            )
            self.alliance = 0.93

    # -- courses --------------------------------------------------------------------------------------

    def run(self) -> None:
        with contextlib.suppress(_Today):  # a course that reaches today is still under way
            getattr(self, "course_" + self.course.replace("-", "_"))()

    def course_couple(self) -> None:
        together.couple(self)

    def course_family(self) -> None:
        together.family(self)

    def course_couple_ongoing(self) -> None:
        together.couple(self, end=False)

    def course_family_ongoing(self) -> None:
        together.family(self, end=False)

    def course_referred(self) -> None:
        self.consult(FitOutcome.REFER)

    def course_not_proceeding(self) -> None:
        self.consult(FitOutcome.NOT_PROCEED)

    def course_improving(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(self.rng.randint(7, 11), drift=0.045)
        self.planned_ending()

    def course_maintenance(self) -> None:
        """Weekly sessions, then a year of four-weekly maintenance sessions, a PHQ-9 and GAD-7 at each."""
        self.consult()
        self.agree_goals()
        self.sessions_run(8, drift=0.045)
        for _ in range(13):
            self.session(drift=0.01, symptoms=True, days=28)
        self.planned_ending()

    def course_planned_no_plan(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(6, drift=0.05)
        self.planned_ending(with_plan=False)

    def course_rupture_repaired(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(3, drift=0.02)
        self.rupture(RuptureKind.CONFRONTATION, resolve=True)
        self.sessions_run(4, drift=0.05)
        self.planned_ending()

    def course_dropout(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(3, drift=0.0)
        self.session(Attendance.NO_SHOW)
        self.session(Attendance.NO_SHOW)
        self.advance(14)
        self.unplanned_ending(
            EndingReason.DROPOUT, "synthetic: client stopped attending after two missed sessions"
        )

    def course_deteriorating_referred(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(5, drift=-0.045)
        self.review(ReviewDecision.REFER)
        self.unplanned_ending(EndingReason.REFERRAL, "synthetic: referred on for a more intensive service")

    def course_on_hold(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(3)
        self.advance(2)
        self.p.put_on_hold(self.actor, self.ep, on=self.day, reason="synthetic: travelling for a month")
        self.advance(30)
        self.p.resume(self.actor, self.ep, on=self.day)
        self.sessions_run(3)

    def course_transferred(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(2)
        other = CLINICIANS[(self.index + 1) % len(CLINICIANS)]
        self.p.transfer(self.actor, self.ep, to_clinician_id=other, on=self.day, reason="synthetic: schedule")
        self.actor = Actor(other, Role.CLINICIAN, CLINIC)
        self.clinician = other
        self.p.revise_goal(
            self.actor,
            self.ep,
            GoalRevision(
                self.goal_ids[0],
                reason="synthetic: refined with the new clinician",
                description="synthetic goal: sleep through five nights a week",
            ),
            revised_on=self.day,
        )
        self.endorse_risk()
        self.sessions_run(3)

    def course_corrected(self) -> None:
        self.consult()
        self.agree_goals()
        session_id = self.session()
        registry = self.sim.practice.plugins.measures()
        known = {measure_id for measure_id, _ in registry}
        fixed = tuple(
            administration(registry, m, t, lvl, self.rng)
            for m, t, lvl in (
                ("ors", AdministrationTiming.START, self.wellbeing),
                ("srs", AdministrationTiming.END, self.alliance),
            )
            if m in known
        )
        self.p.correct_session(
            self.actor,
            self.ep,
            session_id,
            Session(
                held_on=self.day,
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                administrations=fixed,
                helpful="synthetic: corrected note",
            ),
            reason="synthetic: answers were entered against the wrong session",
        )
        self.sessions_run(4)

    def course_ongoing(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(self.rng.randint(2, 8), drift=self.rng.choice((0.04, 0.0, -0.02)))

    def course_ongoing_rupture(self) -> None:
        self.consult()
        self.agree_goals()
        self.sessions_run(2)
        self.rupture(RuptureKind.WITHDRAWAL, resolve=False)
        self.sessions_run(3, drift=0.0)
        self.pending = True  # the client endorses the risk item in the last session: urgent, not yet seen
        self.endorse_risk()

    def endorse_risk(self) -> None:
        """The client endorses PHQ-9 item 9 in this session: an urgent alert, and a review at once."""
        self.risk = True
        self.session(drift=-0.02, symptoms=True)
        self.risk = False

    def course_no_change(self) -> None:
        self.consult()
        self.agree_goals()
        self.wellbeing = 0.7  # starts outside the clinical range and stays there, no reliable change
        self.sessions_run(7, drift=0.0)
        self.pending = True  # then a sudden slump in the last session: red alerts not yet seen
        self.session(drift=-0.25, symptoms=True)


def note_for(day: date, kind: RuptureKind, markers: tuple[RuptureMarker, ...], session_id: str) -> Any:
    return RuptureNote(
        noted_on=day,
        kind=kind,
        markers=markers,
        likely_cause=RuptureCause.TASK_DISAGREEMENT
        if kind is RuptureKind.CONFRONTATION
        else RuptureCause.TRUST_IN_PROCESS,
        salience=3,
        session_id=session_id,
        description="synthetic description of the strain",
        client_view="synthetic: the homework felt pointless",
    )


class _Simulation:
    def __init__(self, practice: Practice, rng: random.Random, clock: _Clock) -> None:
        self.practice = practice
        self.target: Practice | Batch = practice
        """Where commands (and the reads between them) go: the demo's batch, or the facade."""
        self.rng = rng
        self.clock = clock
        self.today = clock.today
        self.session_count = 0
        self.review_count = 0
        self.rupture_count = 0
        self.resolved_count = 0

    def intake(self, index: int, course: str) -> date:
        """The day a client's course starts (see the module docstring)."""
        if course == "maintenance":
            days = _LONG_COURSE_START
        elif index < MIN_CLIENTS:
            days = (
                _GUARANTEED_OPEN_START - index
                if course in _STAYS_OPEN
                else _GUARANTEED_ENDING_START - 7 * index
            )
        elif course == "ongoing":  # seen until lately: started within the last three months
            days = self.rng.randint(21, 90)
        else:
            days = self.rng.randint(1, YEAR)
        return self.today - timedelta(days=days)

    def client(self, index: int, course: str, intake: date | None = None) -> _Client:
        return _Client(self, index, course, intake or self.intake(index, course))


def simulate_practice(
    location: str | Path,
    *,
    clients: int = 24,
    seed: int = 7,
    progress: Progress | None = None,
    today: date | None = None,
) -> DemoSummary:
    """Create a demo practice at ``location`` (an SQLite path, or any store location) and fill it.

    ``today`` is the clinic's today the demo is made for (by default today's date in UTC): intakes fall
    over the twelve months before it and nothing is recorded after it. It is from :data:`FIRST_TODAY` to
    :data:`LAST_TODAY` (else ``today: range``, before anything is written). The same ``seed``,
    ``clients`` and ``today`` always give the same records, ids and timestamps. The individual clients'
    commands go through one batch (:meth:`Practice.batch`), one transaction per :data:`BATCH_SIZE` commands.
    Refused, interrupted or failed, it removes what opening the store made (:meth:`Practice.discard`).
    """
    if clients < MIN_CLIENTS:
        raise ValidationError("clients", "minimum", f"at least {MIN_CLIENTS} so that every stage appears")
    if clients > MAX_CLIENTS:
        raise ValidationError("clients", "maximum", f"at most {MAX_CLIENTS:,} for a demo")
    today = datetime.now(UTC).date() if today is None else check_date("today", today)
    if not FIRST_TODAY <= today <= LAST_TODAY:  # before anything is opened: a refusal leaves no file
        raise ValidationError("today", "range", f"from {FIRST_TODAY} to {LAST_TODAY} for the demo")
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design
    clock = _Clock(today)
    practice = open_practice(location, clock=clock, ids=lambda kind: f"{rng.getrandbits(128):032x}")
    try:
        summary = _fill(practice, rng, clock, clients, progress, str(location))
    except BaseException:
        # Refused, interrupted or failed: what opening created (a PostgreSQL schema) is removed, so that the
        # next demo finds the store empty, not "a practice with no episodes". An SQLite file is the CLI's.
        if not practice.closed:
            with contextlib.suppress(StoreError):
                practice.discard()
        raise
    practice.close()
    return summary


def _fill(
    practice: Practice,
    rng: random.Random,
    clock: _Clock,
    clients: int,
    progress: Progress | None,
    location: str,
) -> DemoSummary:
    """Fill the demo practice just opened (left open: a failure's caller removes what it made)."""
    if practice.clinic_scope not in (None, CLINIC):
        # A clinic-scoped store (PostgreSQL's ?clinic=) refuses every other clinic's rows: said before any
        # record is written, rather than as the first write's refusal by row-level security.
        raise ValidationError(
            "location",
            "clinic",
            f"the demo's clinic is {CLINIC}, so the location must name it: clinic={CLINIC}",
        )
    sim = _Simulation(practice, rng, clock)
    courses = list(COURSES) + [rng.choice(RANDOM_COURSES) for _ in range(clients - len(COURSES))]
    if clients > len(COURSES):
        courses[-1] = "maintenance"  # drawn all the same, so the other clients' records do not change
    # Marked first, so that a demo cut short is still known as the demo's to replace.
    practice.mark_demo(Actor("demo-admin", Role.ADMINISTRATOR, CLINIC))
    with practice.batch(size=BATCH_SIZE) as batch:
        sim.target = batch
        for index, course in enumerate(courses):
            sim.client(index, course).run()
            if progress is not None:
                progress(index + 1, clients)
    sim.target = practice
    # Clients seen together, after the individual ones (their references follow on); through the
    # facade, which records a group session.
    for offset, course in enumerate(TOGETHER):
        start = _TOGETHER_OPEN_START if course in _STAYS_OPEN else _TOGETHER_START
        sim.client(clients + offset, course, sim.today - timedelta(days=start + offset)).run()
    members = [
        sim.client(clients + len(TOGETHER) + i, "group", sim.today - timedelta(days=_TOGETHER_START))
        for i in range(GROUP_SIZE)
    ]
    lead = CLINICIANS.index(members[0].actor.id)
    together.group(sim, members, co_facilitator=CLINICIANS[(lead + 1) % len(CLINICIANS)])
    courses += [*TOGETHER, *["group"] * GROUP_SIZE]
    # Measures the clients fill in themselves: by link, and one on the kiosk tablet.
    submitted = client_submissions.add_client_submissions(practice, CLINIC, clock, sim.today)
    admin = Actor("demo-admin", Role.SUPERVISOR, CLINIC)
    alerts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    with practice.batched_reads():  # a summary read of every episode: audited in a few transactions
        rows = practice.caseload(admin, include_closed=True)
        for row in rows:
            for entry in practice.timeline(admin, row.episode_id):
                if entry.type == "alert-raised":
                    alerts[entry.event.rule_id] += 1  # type: ignore[attr-defined]
            state = practice.episode(admin, row.episode_id)
            if state.ending_reason is not None:
                planned = "planned" if state.ending_planned else "unplanned"
                reasons[f"{state.ending_reason.value} ({planned})"] += 1
            elif state.closing_reason is not None:
                reasons[state.closing_reason.value] += 1
    stages = Counter(row.stage for row in rows)
    return DemoSummary(
        location=location,
        clients=clients,
        episodes_by_stage=dict(stages),
        closing_reasons=dict(reasons),
        courses=dict(Counter(courses)),
        sessions=sim.session_count,
        ruptures=sim.rupture_count,
        reviews=sim.review_count,
        alerts_by_rule=dict(sorted(alerts.items())),
        alerts_resolved=sim.resolved_count,
        today=sim.today.isoformat(),
        client_submissions=submitted.by_link + submitted.by_kiosk,
    )
