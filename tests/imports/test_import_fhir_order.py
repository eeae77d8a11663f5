"""``import fhir`` replays one day's records in the order they were stored (each event's Provenance
``recorded``), not a fixed working-day order: a practice whose clock advances does, within one day, what
:data:`~alliancekit.imports.fhir_records.RANK` would put the other way round; after export (NDJSON or a
Bundle) and import into an empty store, the episode's state is the same field by field, and so is what
happened in it. Without the instants (FHIR of another system), a day runs in working-day order; the demo's
round trip holds with a clock that moves on within each day too."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

import alliancekit.demo.simulate
from alliancekit import Actor, Practice, Purpose, Role, open_practice
from alliancekit.demo import simulate_practice
from alliancekit.domain import (
    Administration,
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
    Modality,
    RepairAttempt,
    RepairStrategy,
    Review,
    ReviewDecision,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
)
from alliancekit.domain.records import Session
from alliancekit.events.types import AlertResolved
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import
from alliancekit.lifecycle.rules import CLOSING_NOTE

from .test_import_fhir import DEMO_CLINIC, _export, _import, _left_out, _normalised, _states

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
OTHER = Actor("clin-2", Role.CLINICIAN, CLINIC)
READER = Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
OPENED = date(2026, 3, 2)


class Clock:
    """A clock that moves on a minute every time it is read: each command is stored after the last."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now

    def to(self, day: date) -> None:
        """Move on to the morning of ``day``."""
        self.now = max(self.now, datetime.combine(day, time(8, 0), UTC))


def _day(n: int) -> date:
    return OPENED + timedelta(days=n)


def _session(p: Practice, ep: str, on: date, actor: Actor = ME) -> str:
    recorded = p.record_session(actor, ep, Session(on, Modality.VIDEO, Attendance.ATTENDED))
    assert recorded.record_id is not None
    return recorded.record_id


def _rupture(p: Practice, ep: str, on: date, session: str) -> str:
    note = RuptureNote(
        noted_on=on,
        kind=RuptureKind.WITHDRAWAL,
        markers=(RuptureMarker.MINIMAL_RESPONSE,),
        likely_cause=RuptureCause.TRUST_IN_PROCESS,
        session_id=session,
    )
    recorded = p.note_rupture(ME, ep, note)
    assert recorded.record_id is not None
    return recorded.record_id


def _hold_and_resume_then_a_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.put_on_hold(ME, ep, on=_day(14), reason="synthetic")
    p.resume(ME, ep, on=_day(14))
    _session(p, ep, _day(14))


def _a_review_before_the_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.record_review(ME, ep, Review(held_on=_day(14), decision=ReviewDecision.CONTINUE))
    _session(p, ep, _day(14))


def _a_transfer_then_the_new_clinicians_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.transfer(ME, ep, to_clinician_id=OTHER.id, on=_day(14), reason="synthetic")
    _session(p, ep, _day(14), OTHER)


def _a_repair_before_the_session(p: Practice, ep: str, clock: Clock) -> None:
    first = _session(p, ep, _day(7))
    rupture = _rupture(p, ep, _day(7), first)
    _session(p, ep, _day(14))
    _session(p, ep, _day(21))
    attempt = RepairAttempt(_day(28), (RepairStrategy.INVITE_CLIENT_VIEW,), resolved=True)
    p.record_repair(ME, ep, rupture, attempt)
    _session(p, ep, _day(28))
    _session(p, ep, _day(35))


def _the_ending_planned_before_that_days_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.plan_ending(ME, ep, on=_day(14), target_date=_day(42))
    _session(p, ep, _day(14))


def _goals_after_that_days_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.agree_goals(ME, ep, [GoalDraft("another synthetic goal")], agreed_on=_day(7))


def _goals_agreed_again_after_the_first_days_session(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, OPENED)
    p.agree_goals(ME, ep, [GoalDraft("another synthetic goal")], agreed_on=OPENED)


def _a_goal_revised_before_that_days_review(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    _session(p, ep, _day(14))
    goal = next(iter(p.episode(ME, ep).goals))
    p.revise_goal(ME, ep, GoalRevision(goal, status=GoalStatus.ACHIEVED), revised_on=_day(14))
    progress = (GoalProgressNote(goal, GoalProgress.ACHIEVED),)
    p.record_review(
        ME, ep, Review(held_on=_day(14), decision=ReviewDecision.CONTINUE, goal_progress=progress)
    )


def _a_hold_then_a_transfer(p: Practice, ep: str, clock: Clock) -> None:
    _session(p, ep, _day(7))
    p.put_on_hold(ME, ep, on=_day(14), reason="synthetic")
    p.transfer(ME, ep, to_clinician_id=OTHER.id, on=_day(14), reason="synthetic")
    p.resume(OTHER, ep, on=_day(21))
    _session(p, ep, _day(21), OTHER)


#: Within one day, records in an order :data:`RANK` does not give (what each does, after the same start).
CASES: dict[str, Callable[[Practice, str, Clock], None]] = {
    "a hold and its resumption, then that day's session": _hold_and_resume_then_a_session,
    "a review before that day's session": _a_review_before_the_session,
    "a transfer, then the new clinician's session": _a_transfer_then_the_new_clinicians_session,
    "a repair attempt before that day's session": _a_repair_before_the_session,
    "a hold, then a transfer": _a_hold_then_a_transfer,
    "the ending planned before that day's session": _the_ending_planned_before_that_days_session,
    "goals agreed after that day's session": _goals_after_that_days_session,
    "goals agreed again, in another command, after that day's session": (
        _goals_agreed_again_after_the_first_days_session
    ),
    "a goal revised before that day's review": _a_goal_revised_before_that_days_review,
}


def _episode(p: Practice) -> str:
    ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=OPENED)
    p.record_consultation(ME, ep, Consultation(OPENED, Modality.VIDEO, Consent(True, True)))
    p.decide_fit(ME, ep, FitDecision(FitOutcome.PROCEED, OPENED))
    p.agree_goals(ME, ep, [GoalDraft("a synthetic goal")], agreed_on=OPENED)
    return ep


def _held(p: Practice) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The episode's state (without what an import makes anew) and what happened in it: each event's type
    and who recorded it, in order."""
    (row,) = p.caseload(READER, include_closed=True)
    timeline = [(e.type, e.actor_id) for e in p.timeline(READER, row.episode_id)]
    return _normalised(p.episode(READER, row.episode_id)), timeline


def _exported(p: Practice, folder: Path, form: str) -> Path:
    """The practice's export: a Bulk Data directory, or its one episode as a Bundle (references by full
    URL, a Goal's versions not kept)."""
    if form == "ndjson":
        export_ndjson(p, READER, folder, purpose="treatment")
        return folder
    (row,) = p.caseload(READER, include_closed=True)
    path = folder.with_suffix(".json")
    path.write_text(json.dumps(episode_bundle(p, READER, row.episode_id, purpose="treatment")), "utf-8")
    return path


def _imported(source: Path, folder: Path) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    later = Clock()  # the import runs after all of it (no clinical date may be after the clinic's today)
    later.to(_day(100))
    with open_practice(folder / "imported.sqlite", clock=later) as practice:
        found = FhirSource(source, practice.plugins.measures())
        result = run_import(practice, found, clinic_id=CLINIC, source_id=source.name)
        assert result.errors == ()
        return _held(practice)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_days_records_come_back_in_the_order_they_were_stored(case: str, form: str, tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(42))  # the cases' days have come (no clinical date may be after today)
        CASES[case](source, ep, clock)
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert after[0] == before[0]
    assert after[1][4:] == before[1][4:]  # after the opening, the consultation, the fit and the goals


def test_without_the_provenance_a_days_records_run_in_working_day_order(tmp_path: Path) -> None:
    """FHIR of another system (no Provenance, or none saying when each record was stored): by RANK."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        clock.to(_day(14))  # the case's days have come (no clinical date may be after today)
        _a_review_before_the_session(source, ep, clock)
        exported = _exported(source, tmp_path / "export", "ndjson")
        stored = _held(source)[1]
    provenance = exported / "Provenance.ndjson"
    lines = provenance.read_text("utf-8").splitlines()
    review = next(line for line in lines if "review-recorded" in line)
    provenance.write_text("\n".join(line for line in lines if line != review) + "\n", "utf-8")
    state, timeline = _imported(exported, tmp_path)
    # that day's review has no instant: the whole day runs in working-day order, the session first
    assert [t for t, _ in stored[-2:]] == ["review-recorded", "session-recorded"]
    assert [t for t, _ in timeline[-2:]] == ["session-recorded", "review-recorded"]
    assert state["last_review_at_session"] == 2


def test_the_demo_round_trip_holds_when_each_record_is_stored_at_its_own_instant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo stores a day's records all at noon (so a day runs in its Provenance's order); here its clock
    moves on a second at every read, so that every day of every episode (alerts, client responses, groups,
    corrections, endings) is replayed by the instants alone."""
    noon = alliancekit.demo.simulate._Clock.__call__
    ticks = iter(range(10**9))
    monkeypatch.setattr(
        alliancekit.demo.simulate._Clock, "__call__", lambda c: noon(c) + timedelta(seconds=next(ticks))
    )
    simulate_practice(tmp_path / "demo.sqlite", clients=12, seed=7)
    with open_practice(tmp_path / "demo.sqlite") as source:
        left_out = _left_out(source)
        before = _states(source, left_out)
        exported = _export(source, DEMO_CLINIC, tmp_path / "export")
    with open_practice(tmp_path / "imported.sqlite") as practice:
        result = _import(practice, exported, DEMO_CLINIC)
        assert (result.errors, result.notes) == ((), ())
        after = _states(practice, left_out)
    lines = (exported / "Provenance.ndjson").read_text("utf-8").splitlines()
    recorded = {json.loads(line)["recorded"] for line in lines}
    assert len(recorded) > 2 * len({r[:10] for r in recorded})  # days of several instants, not one noon
    assert after == before


class _Noon:
    """A clock that reads noon of the day it was moved to, however often it is read: a day's records are
    stored at one instant, as the demo stores them (and as a host that stamps a day's entries at once)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def to(self, day: date) -> None:
        self.now = datetime.combine(day, time(12, 0), UTC)


def _low_srs(p: Practice, ep: str, on: date) -> None:
    """A session whose SRS is far below its cutoff: the rules raise ``alliance-below-cutoff``."""
    registry = p.plugins.measures()
    version = str(registry.latest_version("srs"))
    items = registry.get("srs", version).definition["items"]
    srs = Administration("srs", version, "end", {i["key"]: 2.0 for i in items})
    p.record_session(ME, ep, Session(on, Modality.VIDEO, Attendance.ATTENDED, (srs,)))


def _alert_history(p: Practice) -> list[tuple[str, Any, Any]]:
    """Each alert event: its type, the rule raised, and the day it names (an import makes new alert ids)."""
    (row,) = p.caseload(READER, include_closed=True)
    return [
        (
            e.type,
            getattr(e.event, "rule_id", None),
            getattr(e.event, "raised_on", None) or getattr(e.event, "on", None),
        )
        for e in p.timeline(READER, row.episode_id)
        if e.type.startswith("alert-")
    ]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_an_earlier_alert_resolved_at_the_instant_of_that_days_session_is_resolved_before_it(
    form: str, tmp_path: Path
) -> None:
    """Day 14: the clinician resolves day 7's alert, then records the session, whose SRS raises the same
    alert again; both stored at noon. The resolution is not the session's doing (a session resolves no
    alert: only a review's or the ending's commit does), so the import runs it first, as the alert was open
    when the day began: else the session finds the alert still open, raises none, and day 14's alert (with
    its own resolution on day 21) is lost without a word."""
    clock = _Noon()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        for day in (7, 14):
            clock.to(_day(day))
            if day == 14:
                (alert,) = source.alerts(ME, ep)
                source.resolve_alert(ME, ep, alert, note="synthetic", on=_day(14))
            _low_srs(source, ep, _day(day))
        clock.to(_day(21))
        (alert,) = source.alerts(ME, ep)
        source.resolve_alert(ME, ep, alert, note="synthetic", on=_day(21))
        before = _held(source), _alert_history(source)
        exported = _exported(source, tmp_path / "export", form)
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        found = FhirSource(exported, practice.plugins.measures())
        assert run_import(practice, found, clinic_id=CLINIC, source_id=exported.name).errors == ()
        after = _held(practice), _alert_history(practice)
    raised = [(kind, rule, on) for kind, rule, on in before[1] if kind == "alert-raised"]
    assert raised == [
        ("alert-raised", "alliance-below-cutoff", _day(7)),
        ("alert-raised", "alliance-below-cutoff", _day(14)),
    ]
    assert after[1] == before[1]
    assert after[0][1][4:] == before[0][1][4:]
    assert after[0][0] == before[0][0]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_an_alert_the_ending_resolves_at_the_instant_of_that_days_session_stays_open_for_the_session(
    form: str, tmp_path: Path
) -> None:
    """Day 7's SRS raises an alert; on day 14, at one instant, a session whose SRS is as low (the alert is
    still open, so it raises none) and the ending, which resolves it. The resolution is stored in the
    ending's commit, after the session: the import keeps it there, where the ending makes it again (its
    note). Run before the session (an earlier day's alert, working-day order), it let the session raise the
    alert a second time, and the imported episode had two alert events the source never had."""
    clock = _Noon()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        for day in (7, 14):
            clock.to(_day(day))
            _low_srs(source, ep, _day(day))
        source.close_episode(ME, ep, Ending(_day(14), planned=False, reason=EndingReason.DROPOUT))
        before = _held(source), _alert_history(source), _resolution_notes(source)
        exported = _exported(source, tmp_path / "export", form)
    later = Clock()
    later.to(_day(100))
    with open_practice(tmp_path / "imported.sqlite", clock=later) as practice:
        found = FhirSource(exported, practice.plugins.measures())
        assert run_import(practice, found, clinic_id=CLINIC, source_id=exported.name).errors == ()
        after = _held(practice), _alert_history(practice), _resolution_notes(practice)
    assert before[1] == [
        ("alert-raised", "alliance-below-cutoff", _day(7)),
        ("alert-resolved", None, _day(14)),
    ]
    assert before[2] == [CLOSING_NOTE]
    assert after[1:] == before[1:]
    assert [t for t, _ in after[0][1]] == [t for t, _ in before[0][1]]
    assert after[0][0] == before[0][0]


def _resolution_notes(p: Practice) -> list[str]:
    (row,) = p.caseload(READER, include_closed=True)
    return [e.event.note for e in p.timeline(READER, row.episode_id) if isinstance(e.event, AlertResolved)]
