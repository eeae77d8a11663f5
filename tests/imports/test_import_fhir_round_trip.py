"""The FHIR round trip is exact: an episode exported (NDJSON or a Bundle) and imported into an empty store has
the same state, field by field, and the same history (each event's type and who recorded it, in order).

First the records whose day is not the day they were stored (a goal revised on an earlier day than it was
recorded: the Goal keeps its current version only, so its Provenance is where a revision's day is), then a
property over generated histories."""

from __future__ import annotations

import contextlib
import itertools
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliancekit import Actor, Practice, open_practice
from alliancekit.domain import (
    Administration,
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
    GoalStatus,
    MaintenancePlan,
    Modality,
    Participant,
    ParticipantRole,
    RepairAttempt,
    RepairStrategy,
    Review,
    ReviewDecision,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
    Session,
)
from alliancekit.errors import AlliancekitError
from alliancekit.events.types import (
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    ClinicianTransferred,
    EndingPlanned,
    EpisodeClosed,
    EpisodePutOnHold,
    EpisodeResumed,
    GoalAgreed,
    GoalRevised,
    MeasuresConsentChanged,
    ParticipantAdded,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.engine import REVIEW_RESOLUTION_NOTE
from alliancekit.fhir.records import NOT_EXPORTED_EVENT_TYPES
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import
from alliancekit.lifecycle.rules import CLOSING_NOTE

from .test_import_fhir import CORRECTION_FIELDS, _normalised
from .test_import_fhir_order import (
    CLINIC,
    ME,
    OPENED,
    OTHER,
    READER,
    Clock,
    _day,
    _episode,
    _exported,
    _held,
    _imported,
    _session,
)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_goal_revision_keeps_its_own_day_when_it_was_stored_later(form: str, tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        goal = next(iter(source.episode(ME, ep).goals))
        clock.to(_day(9))
        # revised on day 3 and day 5, each recorded days later (a clinician catching up on notes)
        source.revise_goal(ME, ep, GoalRevision(goal, status=GoalStatus.ON_HOLD), revised_on=_day(3))
        clock.now += timedelta(days=1)
        source.revise_goal(ME, ep, GoalRevision(goal, tasks=("a synthetic task",)), revised_on=_day(5))
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert before[0]["last_activity_on"] == _day(5)
    assert after == before


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_session_entered_after_a_later_one_keeps_its_number(form: str, tmp_path: Path) -> None:
    """Records come back in the order they were stored, not the order of the days they name: a session
    entered late is still the episode's second session (and the first scores are still the first ones)."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(14))
        ors = _administration(source, "ors", START, 0.4)
        source.record_session(ME, ep, Session(_day(14), Modality.VIDEO, Attendance.ATTENDED, (ors,)))
        source.plan_ending(ME, ep, on=_day(14))
        late = attrs.evolve(ors, answers={k: v + 1 for k, v in ors.answers.items() if v is not None})
        source.record_session(ME, ep, Session(_day(7), Modality.VIDEO, Attendance.ATTENDED, (late,)))
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert before[0]["first_scores"]["ors"].held_on == _day(14)
    assert after == before


def _clinical_flags(p: Practice) -> list[bool | None]:
    (row,) = p.caseload(READER, include_closed=True)
    return [
        score.clinical
        for entry in p.timeline(READER, row.episode_id)
        if isinstance(entry.event, SessionRecorded)
        for score in entry.event.scores
    ]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_childs_episode_comes_back_read_against_the_child_norms(form: str, tmp_path: Path) -> None:
    """The episode's norm population travels in the EpisodeOfCare (extension ``norm-population``): the
    import rebuilds the child's ORS of 30 as clinical (below 32), not as an adult's (25)."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = source.start_episode(
            ME, client_ref="client-1", clinician_id=ME.id, opened_on=OPENED, population="child"
        )
        source.record_consultation(ME, ep, Consultation(OPENED, Modality.VIDEO, Consent(True, True)))
        source.decide_fit(ME, ep, FitDecision(FitOutcome.PROCEED, OPENED))
        source.agree_goals(ME, ep, [GoalDraft("a synthetic goal")], agreed_on=OPENED)
        clock.to(_day(7))
        ors = _administration(source, "ors", START, 0.75)  # 7.5 an item: 30
        source.record_session(ME, ep, Session(_day(7), Modality.VIDEO, Attendance.ATTENDED, (ors,)))
        before = _held(source)
        flags = _clinical_flags(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert (before[0]["population"], flags) == ("child", [True])
    assert after == before
    with open_practice(tmp_path / "imported.sqlite", clock=clock) as imported:
        assert _clinical_flags(imported) == [True]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_an_episode_closed_while_on_hold_was_never_resumed(form: str, tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(60))
        _session(source, ep, _day(7))
        source.put_on_hold(ME, ep, on=_day(14), reason="synthetic")
        ending = Ending(_day(60), planned=False, reason=EndingReason.DROPOUT, reflection="")
        source.close_episode(ME, ep, ending)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert "episode-resumed" not in [t for t, _ in before[1]]
    assert after == before


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_the_same_transfer_or_hold_twice_in_one_day_comes_back_twice(form: str, tmp_path: Path) -> None:
    """Each is written once however often an import runs (its idempotency key), yet two alike are two."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(9))
        for by, to in ((ME, OTHER), (OTHER, ME), (ME, OTHER)):
            source.transfer(by, ep, to_clinician_id=to.id, on=_day(7), reason="synthetic")
        for _ in range(2):
            source.put_on_hold(OTHER, ep, on=_day(9), reason="synthetic")
            source.resume(OTHER, ep, on=_day(9))
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert after == before


def _resolutions(p: Practice) -> list[tuple[str, str]]:
    """Each alert resolution's note, after the type of the event before it."""
    (row,) = p.caseload(READER, include_closed=True)
    entries = p.timeline(READER, row.episode_id)
    return [
        (before.type, e.event.note)
        for before, e in itertools.pairwise(entries)
        if isinstance(e.event, AlertResolved)
    ]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_the_alerts_a_review_and_the_ending_resolve_come_back_resolved_by_them(
    form: str, tmp_path: Path
) -> None:
    """A review resolves the review-due alert and the ending every open alert, in the same commit: the
    import lets them do it again (their notes, after the review), rather than resolving each alert itself."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        for week in range(1, 7):
            clock.to(_day(7 * week))
            _session(source, ep, _day(7 * week))
        clock.to(_day(43))
        source.record_review(ME, ep, Review(held_on=_day(43), decision=ReviewDecision.CONTINUE))
        for week in range(7, 10):
            clock.to(_day(7 * week))
            source.record_session(ME, ep, Session(_day(7 * week), Modality.VIDEO, Attendance.NO_SHOW))
        clock.to(_day(70))
        source.close_episode(
            ME, ep, Ending(_day(70), planned=False, reason=EndingReason.DROPOUT, reflection="")
        )
        before = _held(source), _resolutions(source)
        exported = _exported(source, tmp_path / "export", form)
    held = _imported(exported, tmp_path)
    with open_practice(tmp_path / "imported.sqlite") as imported:
        after = held, _resolutions(imported)
    assert [note for _, note in before[1]] == [REVIEW_RESOLUTION_NOTE, CLOSING_NOTE]
    assert after == before


# -- the property ---------------------------------------------------------------------------------------

#: What a step does, the likelier ones more often (a change of consent: the client or another participant
#: withdrawing, or agreeing again, so that later measures about them are refused, or taken again). Addenda
#: are recorded but not compared (below); lockbox directives are not made, since an export applies them and
#: withholds what they name.
KINDS = (
    *("session",) * 4,
    "total-only",
    "missed",
    *("client-response", "review", "revise", "rupture", "repair", "hold", "resume") * 2,
    *("acknowledge", "resolve") * 2,
    "goals",
    "transfer",
    "participant",
    "correct",
    "addendum",
    "plan",
    "consent",
)
#: How long after the morning of the day it names a record is stored (never before the record stored
#: before it): the same morning, later that day, or two days later.
LAGS = (timedelta(0), timedelta(hours=3), timedelta(days=2))
HistoryStep = tuple[str, int, float, int, timedelta]


def _steps(kinds: Sequence[str], least: int, most: int) -> st.SearchStrategy[list[HistoryStep]]:
    return st.lists(
        st.tuples(
            st.sampled_from(kinds),
            st.integers(0, 3),  # which session, goal, rupture or alert the step is about
            st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 1)),  # scores, a status, an outcome
            st.sampled_from((-2, 0, 0, 1, 2, 7)),  # days on from the step before (back: dated before it)
            st.sampled_from(LAGS),
        ),
        min_size=least,
        max_size=most,
    )


#: 10 to 30 steps, then perhaps the ending (planned, or the client dropping out).
histories = st.builds(list.__add__, _steps(KINDS, 10, 30), _steps(("close", "dropout"), 0, 1))
#: Events the comparison leaves out, each for its documented reason: what the export does not map
#: (:data:`~alliancekit.fhir.records.NOT_EXPORTED_REASONS`: addenda, statements of disagreement, lockbox
#: directives, process notes, requests, the protocol), and a session's correction (the export carries the
#: session as corrected, which the import records as such: see ``test_import_fhir.CORRECTION_FIELDS``).
LEFT_OUT_EVENTS = NOT_EXPORTED_EVENT_TYPES | {"session-corrected"}
#: In an episode with a correction, also the alerts and what reviews found of the scores: for the reason
#: of ``CORRECTION_FIELDS`` (the first version's scores, which raised them, are not exported).
CORRECTION_EVENTS = frozenset({"alert-raised", "alert-acknowledged", "alert-resolved"})
START, END = AdministrationTiming.START, AdministrationTiming.END
GOAL_STATUSES = (None, GoalStatus.ACTIVE, GoalStatus.ON_HOLD, GoalStatus.ACHIEVED, GoalStatus.CANCELLED)


def _administration(p: Practice, measure: str, timing: AdministrationTiming, level: float) -> Administration:
    """``measure`` with every item at ``level`` of its range."""
    registry = p.plugins.measures()
    version = str(registry.latest_version(measure))
    found = registry.get(measure, version)
    items = getattr(found, "definition", found)["items"]
    answers = {
        i["key"]: round(i.get("min", 0) + (i.get("max", 10) - i.get("min", 0)) * level, 1) for i in items
    }
    return Administration(measure, version, timing, answers)


class _History:
    """One episode, built step by step; a step the library refuses is skipped (it wrote nothing)."""

    def __init__(self, p: Practice, clock: Clock) -> None:
        self.p, self.clock = p, clock
        self.ep = _episode(p)
        self.on = OPENED
        self.sessions: list[tuple[str, Session]] = []
        self.ruptures: list[str] = []

    def pick(self, found: Sequence[str], which: int) -> str:
        return found[which % len(found)] if found else "none"

    def step(self, kind: str, which: int, level: float, days: int, lag: timedelta) -> None:
        self.on = max(OPENED, self.on + timedelta(days=days))
        self.clock.now = max(self.clock.now, datetime.combine(self.on, time(8), UTC) + lag)
        with contextlib.suppress(AlliancekitError):
            getattr(self, kind.replace("-", "_"))(self.actor(), self.on, which, level)

    def actor(self) -> Actor:
        return OTHER if self.p.episode(READER, self.ep).clinician_id == OTHER.id else ME

    def goal(self, which: int) -> str:
        return self.pick(list(self.p.episode(READER, self.ep).goals), which)

    def alert(self, which: int) -> str:
        return self.pick(sorted(self.p.alerts(READER, self.ep)), which)

    def record(self, by: Actor, session: Session) -> None:
        recorded = self.p.record_session(by, self.ep, session)
        assert recorded.record_id is not None
        self.sessions.append((recorded.record_id, session))

    def session(self, by: Actor, on: date, which: int, level: float) -> None:
        """An ORS and an SRS; in an episode with others, perhaps only one of them there, rating too."""
        p = self.p
        administrations = [
            _administration(p, "ors", START, level),
            _administration(p, "srs", END, 1 - level / 3),
        ]
        others = list(p.episode(READER, self.ep).participants)
        present = (self.pick(others, which),) if others and which % 2 else ()
        if present:
            administrations.append(attrs.evolve(administrations[0], about=present[0]))
        self.record(
            by, Session(on, Modality.VIDEO, Attendance.ATTENDED, tuple(administrations), attended_by=present)
        )

    def total_only(self, by: Actor, on: date, which: int, level: float) -> None:
        version = str(self.p.plugins.measures().latest_version("ors"))
        ors = Administration("ors", version, START, total=round(40 * level, 1))
        self.record(by, Session(on, Modality.IN_PERSON, Attendance.ATTENDED, (ors,)))

    def missed(self, by: Actor, on: date, which: int, level: float) -> None:
        self.record(
            by, Session(on, Modality.VIDEO, Attendance.NO_SHOW if level < 0.5 else Attendance.CANCELLED)
        )

    def client_response(self, by: Actor, on: date, which: int, level: float) -> None:
        """Between sessions, or (``which`` odd) for one."""
        at = datetime.combine(on, time(7, 30), UTC)
        session = self.pick([s for s, _ in self.sessions], which) if self.sessions and which % 2 else None
        ors = _administration(self.p, "ors", START, level)
        self.p.record_client_response(by, self.ep, ors, responded_at=at, session_id=session)

    def review(self, by: Actor, on: date, which: int, level: float) -> None:
        progress = (
            GoalProgressNote(self.goal(which), list(GoalProgress)[int(level * 10) % len(GoalProgress)]),
        )
        decision = ReviewDecision.CONTINUE if level < 0.7 else ReviewDecision.ADJUST_APPROACH
        self.p.record_review(by, self.ep, Review(held_on=on, decision=decision, goal_progress=progress))

    def revise(self, by: Actor, on: date, which: int, level: float) -> None:
        status = GOAL_STATUSES[int(level * 10) % len(GOAL_STATUSES)]
        tasks = ("a synthetic task",) if level > 0.5 else None
        wording = "a synthetic goal, reworded" if level < 0.3 else None
        revision = GoalRevision(self.goal(which), status=status, tasks=tasks, description=wording)
        self.p.revise_goal(by, self.ep, revision, revised_on=on)

    def goals(self, by: Actor, on: date, which: int, level: float) -> None:
        drafts = [GoalDraft(f"a synthetic goal {which}.{n}") for n in range(1 + (level > 0.5))]
        self.p.agree_goals(by, self.ep, drafts, agreed_on=on)

    def rupture(self, by: Actor, on: date, which: int, level: float) -> None:
        session = self.pick([s for s, _ in self.sessions], which) if self.sessions and level > 0.3 else None
        note = RuptureNote(
            noted_on=on,
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.MINIMAL_RESPONSE,),
            likely_cause=RuptureCause.TRUST_IN_PROCESS,
            salience=1 + which,
            session_id=session,
            resolved=level > 0.8,
        )
        recorded = self.p.note_rupture(by, self.ep, note)
        assert recorded.record_id is not None
        self.ruptures.append(recorded.record_id)

    def repair(self, by: Actor, on: date, which: int, level: float) -> None:
        attempt = RepairAttempt(on, (RepairStrategy.INVITE_CLIENT_VIEW,), resolved=level > 0.5)
        self.p.record_repair(by, self.ep, self.pick(self.ruptures, which), attempt)

    def hold(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.put_on_hold(by, self.ep, on=on, reason="synthetic")

    def resume(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.resume(by, self.ep, on=on)

    def transfer(self, by: Actor, on: date, which: int, level: float) -> None:
        to = ME if by is OTHER else OTHER
        self.p.transfer(by, self.ep, to_clinician_id=to.id, on=on, reason="synthetic")

    def participant(self, by: Actor, on: date, which: int, level: float) -> None:
        joining = Participant(f"partner-{which}", ParticipantRole.PARTNER, Consent(True, level > 0.3))
        self.p.add_participant(by, self.ep, joining, added_on=on)

    def consent(self, by: Actor, on: date, which: int, level: float) -> None:
        """The client, or in an episode with others one of them, withdraws their consent to measures, or
        gives it again."""
        state = self.p.episode(READER, self.ep)
        others = list(state.participants)
        if others and which % 2:
            whose = self.pick(others, which)
            now = state.participants[whose].measures_consent
            self.p.change_measures_consent(by, self.ep, not now, on=on, participant=whose)
            return
        self.p.change_measures_consent(by, self.ep, not state.measures_consent, on=on)

    def acknowledge(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.acknowledge_alert(by, self.ep, self.alert(which), on=on)

    def resolve(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.resolve_alert(by, self.ep, self.alert(which), note="synthetic", on=on)

    def correct(self, by: Actor, on: date, which: int, level: float) -> None:
        session_id, session = self.sessions[which % len(self.sessions)] if self.sessions else ("none", None)
        if session is None or session.attendance is not Attendance.ATTENDED:
            return
        # the scores, or (level under 0.3) the day and the modality
        held_on = max(OPENED, session.held_on - timedelta(days=1)) if level < 0.3 else session.held_on
        ors = (_administration(self.p, "ors", START, level),) if level >= 0.3 else session.administrations
        fixed = attrs.evolve(session, held_on=held_on, modality=Modality.PHONE, administrations=ors)
        self.p.correct_session(by, self.ep, session_id, fixed, reason="synthetic")

    def addendum(self, by: Actor, on: date, which: int, level: float) -> None:
        session = self.pick([s for s, _ in self.sessions], which)
        self.p.add_addendum(by, self.ep, session, text="synthetic", reason="synthetic", added_on=on)

    def plan(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.plan_ending(
            by, self.ep, on=on, target_date=on + timedelta(days=7 * which) if level > 0.5 else None
        )

    def close(self, by: Actor, on: date, which: int, level: float) -> None:
        plan = MaintenancePlan(warning_signs=("synthetic",), booster_sessions=(on + timedelta(days=30),))
        ending = Ending(
            on, planned=True, reason=EndingReason.GOALS_MET, reflection="synthetic", maintenance_plan=plan
        )
        self.p.close_episode(by, self.ep, ending)

    def dropout(self, by: Actor, on: date, which: int, level: float) -> None:
        self.p.close_episode(
            by, self.ep, Ending(on, planned=False, reason=EndingReason.DROPOUT, reflection="")
        )


def _told(p: Practice, correction: bool) -> tuple[dict[str, Any], list[tuple[str, str, tuple[Any, ...]]]]:
    """The episode's state (without what an import makes anew) and its story: each event's type, who
    recorded it and what it says without ids or free text (ids numbered in the order they appear), a
    session as it reads after its corrections; without what :data:`LEFT_OUT_EVENTS` names, and, when the
    source had a ``correction``, what :data:`CORRECTION_EVENTS` and ``CORRECTION_FIELDS`` name."""
    (row,) = p.caseload(READER, include_closed=True)
    entries = p.timeline(READER, row.episode_id)
    state = _normalised(p.episode(READER, row.episode_id))
    if correction:
        state = {k: v for k, v in state.items() if k not in CORRECTION_FIELDS}
    corrected = {e.event.session_id: e.event for e in entries if isinstance(e.event, SessionCorrected)}
    numbers: dict[str | None, int | None] = {None: None}

    def n(record_id: str | None) -> int | None:
        return numbers.setdefault(record_id, len(numbers))

    left_out = LEFT_OUT_EVENTS | (CORRECTION_EVENTS if correction else frozenset())
    joined: tuple[str, ...] = ()
    story = []
    for e in entries:
        if isinstance(e.event, ParticipantAdded):
            joined += (e.event.participant.client_ref,)
        if e.type not in left_out:
            story.append((e.type, e.actor_id, _facts(e.event, corrected, n, joined, correction)))
    return state, story


def _facts(
    event: Any,
    corrected: Mapping[str, SessionCorrected],
    n: Callable[[str | None], int | None],
    joined: tuple[str, ...],
    correction: bool,
) -> tuple[Any, ...]:
    """What ``event`` says that the round trip must keep (``joined``: the other participants so far). Not
    compared: free text the export does not carry (reasons, notes; the import says it does not know), a
    goal's wording and its status at each revision (the Goal is its current version: the state compares
    the goal's status now). Who was at a session is compared as who was there: a session that names no one
    was attended by every participant (``Session.attended_by``), whom the Encounter names."""
    match event:
        case SessionRecorded():
            now = corrected.get(event.session_id, event)
            session = now.session
            held = (session.held_on, session.modality, session.attendance, session.administrations)
            present = session.attended_by or joined
            return (n(event.session_id), event.number, event.attended_number, *held, present, now.scores)
        case ClientResponseRecorded():
            when = (event.point, event.at_session, event.responded_on, event.responded_at)
            return (*when, event.administration, event.scores, n(event.session_id))
        case GoalAgreed():
            return (n(event.goal_id), event.agreed_on)
        case GoalRevised():
            return (n(event.revision.goal_id), event.revised_on)
        case ReviewRecorded():
            progress = tuple((n(g.goal_id), g.progress) for g in event.review.goal_progress)
            found = () if correction else (event.scheduled, event.scores)
            return (event.review.held_on, event.review.decision, progress, *found)
        case RuptureNoted():
            note = event.note
            noted = (note.noted_on, note.kind, note.markers, note.likely_cause, note.salience, note.repairs)
            return (n(event.rupture_id), *noted, note.resolved, n(note.session_id), event.at_session)
        case RuptureRepairRecorded():
            attempt = event.attempt
            return (n(event.rupture_id), attempt.attempted_on, attempt.strategies, attempt.resolved)
        case AlertRaised():
            raised = (event.rule_id, event.severity, event.raised_on, event.at_session)
            return (n(event.alert_id), *raised, event.measure_id, event.participant)
        case AlertAcknowledged() | AlertResolved():
            return (n(event.alert_id), event.on)
        case ClinicianTransferred():
            return (event.from_clinician_id, event.to_clinician_id, event.on)
        case EpisodePutOnHold() | EpisodeResumed():
            return (event.on,)
        case EndingPlanned():
            return (event.on, event.target_date)
        case EpisodeClosed():
            ending = event.ending
            how = None if ending is None else (ending.planned, ending.reason, ending.maintenance_plan)
            return (event.closing_reason, event.on, how)
        case ParticipantAdded():
            return (event.participant, event.added_on)
        case MeasuresConsentChanged():
            return (event.measures, event.changed_on, event.participant)
    return ()


def _round_trip(plan: list[HistoryStep], form: str, folder: Path) -> None:
    clock = Clock()
    with open_practice(folder / "source.sqlite", clock=clock) as source:
        history = _History(source, clock)
        for step in plan:
            history.step(*step)
        (row,) = source.caseload(READER, include_closed=True)
        correction = any(e.type == "session-corrected" for e in source.timeline(READER, row.episode_id))
        before = _told(source, correction)
        exported = _exported(source, folder / "export", form)
    later = Clock()  # the import runs after all of it (a client's response cannot be in its future)
    later.to(clock.now.date() + timedelta(days=1))
    with open_practice(folder / "imported.sqlite", clock=later) as practice:
        result = run_import(
            practice, FhirSource(exported, practice.plugins.measures()), clinic_id=CLINIC, source_id="x"
        )
        assert (result.errors, result.notes) == ((), ())
        after = _told(practice, correction)
    assert after[0] == before[0]
    assert after[1] == before[1]


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(plan=histories, form=st.sampled_from(["ndjson", "bundle"]))
def test_any_history_comes_back_from_fhir_as_it_was(plan: list[HistoryStep], form: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        _round_trip(plan, form, Path(folder))
