"""A class directive holds at the episode level too: what an export or a share says of the episode as a whole
(the FHIR EpisodeOfCare, the research export's episode row, ``SharedRecord.state``) reveals nothing of the
withheld class: no fit outcome under ``consultation``, no transfer or hold under ``administrative``, no
ending or closing under ``ending``. A directive for another recipient changes nothing of any of it."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalProgressNote,
    GoalRevision,
    Review,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import (
    FitOutcome,
    GoalProgress,
    GoalStatus,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    Stage,
)
from alliancekit.events.types import ClientResponseRecorded, RuptureNoted
from alliancekit.exports.research import export_research
from alliancekit.feedback import FeedbackConfig
from alliancekit.feedback.engine import REVIEW_RESOLUTION_NOTE
from alliancekit.fhir import episode_bundle, ids
from alliancekit.fhir.codes import EXT_CLINICIAN_OF_RECORD, EXT_ENDING, EXT_FIT_OUTCOME
from alliancekit.fhir.validate import R4Schema
from alliancekit.lifecycle.rules import CLOSING_NOTE

from .helpers import CLINIC, Clock, active_episode, ors

SCHEMA = R4Schema(Path(__file__).parents[1] / "fhir" / "data" / "fhir.r4.schema.json")
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
NEW_CLINICIAN = "clin-b"
NEW = Actor(NEW_CLINICIAN, Role.CLINICIAN, CLINIC)


def _practice(tmp_path: Path) -> Practice:
    return open_practice(tmp_path / "p.sqlite", clock=Clock())


def _not_proceeding(tmp_path: Path) -> tuple[Practice, str]:
    """An episode closed at the fit decision: the client is not proceeding."""
    p = _practice(tmp_path)
    ep = p.start_episode(OWN, client_ref="client-1", clinician_id=OWN.id, opened_on=date(2026, 1, 5))
    consent = Consent(treatment=True, measures=True)
    p.record_consultation(OWN, ep, Consultation(held_on=date(2026, 1, 6), modality="video", consent=consent))
    p.decide_fit(OWN, ep, FitDecision(outcome="not-proceed", decided_on=date(2026, 1, 7)))
    return p, ep


def _proceeding(tmp_path: Path) -> tuple[Practice, str]:
    setup = active_episode(_practice(tmp_path))
    return setup.practice, setup.episode_id


def _held_and_transferred(tmp_path: Path) -> tuple[Practice, str]:
    p, ep = _proceeding(tmp_path)
    p.put_on_hold(OWN, ep, on=date(2026, 1, 20), reason="travel")
    p.resume(OWN, ep, on=date(2026, 2, 2))
    p.transfer(OWN, ep, to_clinician_id=NEW_CLINICIAN, on=date(2026, 2, 3), reason="leave")
    return p, ep


def _ended(tmp_path: Path, *, transferred: bool = False) -> tuple[Practice, str]:
    p, ep = _proceeding(tmp_path)
    me = OWN
    if transferred:
        p.transfer(OWN, ep, to_clinician_id=NEW_CLINICIAN, on=date(2026, 2, 3), reason="leave")
        me = NEW
    p.plan_ending(me, ep, on=date(2026, 2, 9), target_date=date(2026, 3, 2))
    ending = Ending(ended_on=date(2026, 3, 2), planned=True, reason="goals-met", no_plan_reason="none needed")
    p.close_episode(me, ep, ending)
    return p, ep


def _episode_of_care(p: Practice, ep: str, recipient: str | None = None) -> dict[str, Any]:
    bundle = episode_bundle(p, SUPERVISOR, ep, purpose="quality-improvement", recipient=recipient)
    assert [str(e) for e in SCHEMA.errors(bundle)] == []
    (found,) = (e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare")
    return found  # type: ignore[no-any-return]


def _episode_row(p: Practice, ep: str, out: Path, recipient: str | None = None) -> dict[str, str]:
    export_research(p, SUPERVISOR, out, identified=True, episode_ids=[ep], recipient=recipient)
    with (out / "episodes.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = csv.DictReader(handle)
    return row


def _extension(resource: dict[str, Any], url: str) -> list[dict[str, Any]]:
    return [x for x in resource.get("extension", []) if x["url"] == url]


def _statuses(resource: dict[str, Any]) -> list[str]:
    return [resource["status"], *(h["status"] for h in resource.get("statusHistory", []))]


Setup = Callable[[Path], tuple[Practice, str]]
#: Each case: how the episode is made, who sets the directive (the clinician of record then), its class.
CASES: dict[str, tuple[Setup, Actor, str]] = {
    "consultation-not-proceeding": (_not_proceeding, OWN, "consultation"),
    "consultation-proceeding": (_proceeding, OWN, "consultation"),
    "administrative-after-a-transfer": (_held_and_transferred, NEW, "administrative"),
    "ending": (_ended, OWN, "ending"),
}


def _lock(case: str, tmp_path: Path) -> tuple[Practice, str, dict[str, Any]]:
    """The case's episode with its class withheld, and its EpisodeOfCare as exported before."""
    setup, clinician, name = CASES[case]
    p, ep = setup(tmp_path)
    before = _episode_of_care(p, ep)
    p.set_lockbox(clinician, ep, scope="class", classes=[name], on=date(2026, 3, 2))
    return p, ep, before


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_episode_of_care_reveals_nothing_of_a_withheld_class(case: str, tmp_path: Path) -> None:
    p, ep, before = _lock(case, tmp_path)
    after = _episode_of_care(p, ep)
    name = CASES[case][2]
    if name == "consultation":
        assert _extension(before, EXT_FIT_OUTCOME)  # shared, the fit is there to see: the check can fail
        assert _extension(after, EXT_FIT_OUTCOME) == []
        # a closing at the fit decision (cancelled, the period's end) tells the fit too
        assert _statuses(after)[0] == "planned"
        assert "cancelled" not in _statuses(after)
        assert "end" not in after["period"]
    elif name == "administrative":
        assert NEW_CLINICIAN in json.dumps(before["careManager"])
        assert "onhold" in _statuses(before)
        assert NEW_CLINICIAN not in json.dumps(after)
        (record,) = _extension(after, EXT_CLINICIAN_OF_RECORD)
        assert after["careManager"] == record["extension"][0]["valueReference"]  # clin-a, the one shared
        assert _statuses(after) == ["active", "planned"]
    else:
        assert (before["status"], before["period"]["end"]) == ("finished", "2026-03-02")
        assert _statuses(after) == ["active", "planned"]
        assert "end" not in after["period"]
        assert _extension(after, EXT_ENDING) == []
    p.close()


#: The episode row as shared: stage, clinician, closing and ending reasons, days open (to the last shared
#: activity: the opening, or the session of 12 January, never a withheld hold, transfer or closing).
ROWS = {
    "consultation-not-proceeding": ("consultation", OWN.id, "", "", "0"),
    "consultation-proceeding": ("consultation", OWN.id, "", "", "7"),
    "administrative-after-a-transfer": ("active", OWN.id, "", "", "7"),
    "ending": ("active", OWN.id, "", "", "7"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_research_episode_row_reveals_nothing_of_a_withheld_class(case: str, tmp_path: Path) -> None:
    p, ep, _ = _lock(case, tmp_path)
    row = _episode_row(p, ep, tmp_path / "out")
    columns = ("stage", "clinician", "closing_reason", "ending_reason", "days_open")
    assert tuple(row[c] for c in columns) == ROWS[case]
    assert row["withheld"] == "true"
    p.close()


#: The shared state: stage, clinician, fit, closed on, closing reason, ending planned on, stage before hold.
STATES = {
    "consultation-not-proceeding": (Stage.CONSULTATION, OWN.id, None, None, None, None, None),
    "consultation-proceeding": (Stage.CONSULTATION, OWN.id, None, None, None, None, None),
    "administrative-after-a-transfer": (Stage.ACTIVE, OWN.id, FitOutcome.PROCEED, None, None, None, None),
    "ending": (Stage.ACTIVE, OWN.id, FitOutcome.PROCEED, None, None, None, None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_shared_state_reveals_nothing_of_a_withheld_class(case: str, tmp_path: Path) -> None:
    p, ep, _ = _lock(case, tmp_path)
    shared = p.shared_record(SUPERVISOR, ep, recipient="hospital-x")
    assert shared.withheld
    s = shared.state
    assert s is not None
    facts = (s.stage, s.clinician_id, s.fit, s.closed_on, s.closing_reason, s.ending_planned_on)
    assert (*facts, s.stage_before_hold) == STATES[case]
    assert (s.ending_reason, s.ending_planned) == (None, None)
    if CASES[case][2] == "consultation":
        assert (s.fit_on, s.consultation_on, s.treatment_consent) == (None, None, False)
    p.close()


def _recipient_case(tmp_path: Path) -> tuple[Practice, str]:
    """Every class above withheld from hospital-x alone, in an episode with a transfer and an ending."""
    p, ep = _ended(tmp_path, transferred=True)
    classes = ["consultation", "administrative", "ending"]
    p.set_lockbox(NEW, ep, scope="class", classes=classes, recipients=["hospital-x"], on=date(2026, 3, 2))
    return p, ep


def test_a_directive_for_another_recipient_leaves_the_episode_level_shared(tmp_path: Path) -> None:
    """A directive for hospital-x alone withholds nothing from an export or a share for hospital-y. (A guard
    that the fix withholds no more than it should; the next test is the one that failed before it.)"""
    p, ep = _recipient_case(tmp_path)
    resource = _episode_of_care(p, ep, "hospital-y")
    assert (resource["status"], resource["period"]["end"]) == ("finished", "2026-03-02")
    assert _extension(resource, EXT_FIT_OUTCOME) != []
    assert NEW_CLINICIAN in json.dumps(resource["careManager"])
    row = _episode_row(p, ep, tmp_path / "out", "hospital-y")
    assert (row["stage"], row["clinician"], row["closing_reason"], row["withheld"]) == (
        "closed",
        NEW_CLINICIAN,
        "ended",
        "false",
    )
    shared = p.shared_record(SUPERVISOR, ep, recipient="hospital-y")
    assert shared.withheld is False
    assert shared.state == p.episode(NEW, ep)
    p.close()


def test_a_directive_for_a_recipient_withholds_the_episode_level_from_them(tmp_path: Path) -> None:
    p, ep = _recipient_case(tmp_path)
    shared = p.shared_record(SUPERVISOR, ep, recipient="hospital-x")
    assert shared.withheld is True
    s = shared.state
    assert s is not None
    assert (s.stage, s.clinician_id, s.fit, s.closed_on) == (Stage.CONSULTATION, OWN.id, None, None)
    p.close()


@pytest.mark.parametrize("recipient", [None, "hospital-x"])
def test_an_export_naming_no_recipient_or_theirs_withholds_the_episode_level(
    recipient: str | None, tmp_path: Path
) -> None:
    """An export that names no recipient may reach hospital-x: what is withheld from them is left out."""
    p, ep = _recipient_case(tmp_path)
    resource = _episode_of_care(p, ep, recipient)
    assert "end" not in resource.get("period", {})
    assert NEW_CLINICIAN not in json.dumps(resource.get("careManager", {}))
    row = _episode_row(p, ep, tmp_path / "out", recipient)
    assert (row["clinician"], row["closing_reason"], row["withheld"]) == (OWN.id, "", "true")
    p.close()


def test_an_item_directive_on_an_alert_withholds_its_acknowledgement_and_the_state_still_folds(
    tmp_path: Path,
) -> None:
    """The shared state is a fold of the shared events: an acknowledgement shared without its alert would
    find nothing to acknowledge. It continues the alert, so it is withheld with it."""
    p, ep = _proceeding(tmp_path)
    risk = Administration("phq-9", "1.0", "start", {**{f"q{i}": 1 for i in range(1, 9)}, "q9": 2})
    p.record_session(
        OWN,
        ep,
        Session(held_on=date(2026, 1, 19), modality="video", attendance="attended", administrations=(risk,)),
    )
    alerts = p.episode(OWN, ep).alerts
    (alert_id,) = (a for a, alert in alerts.items() if alert.rule_id == "risk-item-endorsed")
    p.acknowledge_alert(OWN, ep, alert_id, on=date(2026, 1, 19))
    raised = next(e for e in p.timeline(OWN, ep) if getattr(e.event, "alert_id", None) == alert_id)
    p.set_lockbox(OWN, ep, scope="item", event_ids=[raised.event_id], on=date(2026, 1, 20))
    shared = p.shared_record(SUPERVISOR, ep)
    assert shared.withheld
    assert [e.type for e in shared.entries if getattr(e.event, "alert_id", None) == alert_id] == []
    assert shared.state is not None
    assert (shared.state.alerts, shared.state.stage) == ({}, Stage.ACTIVE)
    p.close()


def _risk_session(p: Practice, ep: str, on: date) -> str:
    """A session whose PHQ-9 endorses the risk item: an urgent alert, left open; returns its id."""
    risk = Administration("phq-9", "1.0", "start", {**{f"q{i}": 1 for i in range(1, 9)}, "q9": 2})
    p.record_session(
        OWN, ep, Session(held_on=on, modality="video", attendance="attended", administrations=(risk,))
    )
    (alert_id,) = (
        a for a, alert in p.episode(OWN, ep).alerts.items() if alert.rule_id == "risk-item-endorsed"
    )
    return alert_id


def _resolutions(entries: Any, alert_id: str) -> list[str]:
    return [e.event.note for e in entries if e.type == "alert-resolved" and e.event.alert_id == alert_id]


def test_the_resolutions_a_withheld_closing_wrote_are_withheld_with_it(tmp_path: Path) -> None:
    """Closing resolves the alerts still open, dated the day it closed, in its own commit: shared with the
    sessions, they would tell that (and when) the episode closed, which the ending class withholds."""
    p, ep = _proceeding(tmp_path)
    alert_id = _risk_session(p, ep, date(2026, 1, 19))
    p.plan_ending(OWN, ep, on=date(2026, 2, 9), target_date=date(2026, 3, 2))
    still_open = set(p.episode(OWN, ep).alerts)
    ending = Ending(ended_on=date(2026, 3, 4), planned=True, reason="goals-met", no_plan_reason="none needed")
    p.close_episode(OWN, ep, ending)
    assert _resolutions(p.timeline(OWN, ep), alert_id) == [CLOSING_NOTE]  # the check can fail
    p.set_lockbox(OWN, ep, scope="class", classes=["ending"], on=date(2026, 3, 4))
    shared = p.shared_record(SUPERVISOR, ep)
    assert _resolutions(shared.entries, alert_id) == []
    assert shared.state is not None
    assert (shared.state.stage, set(shared.state.alerts)) == (Stage.ACTIVE, still_open)
    bundle = episode_bundle(p, SUPERVISOR, ep, purpose="quality-improvement")
    assert [str(e) for e in SCHEMA.errors(bundle)] == []
    assert "2026-03-04" not in json.dumps(bundle)  # the day it closed is nowhere
    p.close()


def test_the_resolutions_a_withheld_review_wrote_are_withheld_with_it(tmp_path: Path) -> None:
    """A progress review resolves the review-due alert, dated the review's day: withheld with the review."""
    p = open_practice(tmp_path / "p.sqlite", clock=Clock(), feedback=FeedbackConfig(review_every=1))
    ep = active_episode(p).episode_id  # one session: a review is due
    (alert_id,) = (a for a, alert in p.episode(OWN, ep).alerts.items() if alert.rule_id == "review-due")
    p.record_review(OWN, ep, Review(held_on=date(2026, 1, 21), decision="continue"))
    assert _resolutions(p.timeline(OWN, ep), alert_id) == [REVIEW_RESOLUTION_NOTE]  # the check can fail
    p.set_lockbox(OWN, ep, scope="class", classes=["reviews"], on=date(2026, 1, 22))
    shared = p.shared_record(SUPERVISOR, ep)
    assert _resolutions(shared.entries, alert_id) == []
    assert shared.state is not None
    assert list(shared.state.alerts) == [alert_id]
    assert "2026-01-21" not in json.dumps(episode_bundle(p, SUPERVISOR, ep, purpose="quality-improvement"))
    p.close()


def _ids_in_bundle(p: Practice, ep: str) -> str:
    bundle = episode_bundle(p, SUPERVISOR, ep, purpose="quality-improvement")
    assert [str(e) for e in SCHEMA.errors(bundle)] == []
    return json.dumps(bundle)


def test_a_rupture_noted_in_a_withheld_session_is_withheld_with_it(tmp_path: Path) -> None:
    """A rupture names the session it was noted in (its Observation's encounter): shared while the session
    is withheld, it would point at it. Withholding the rupture withholds nothing of the session's."""
    setup = active_episode(_practice(tmp_path))
    p, ep = setup.practice, setup.episode_id
    note = RuptureNote(
        noted_on=date(2026, 1, 12),
        kind=RuptureKind.WITHDRAWAL,
        markers=(RuptureMarker.TOPIC_SHIFT,),
        likely_cause=RuptureCause.OTHER,
        session_id=setup.session_id,
    )
    in_session = p.note_rupture(OWN, ep, note).record_id
    encounter = ids.encounter_id(ep, setup.session_id)
    assert encounter in _ids_in_bundle(p, ep)  # shared, the session is there to see: the check can fail
    p.set_lockbox(OWN, ep, scope="item", event_ids=[setup.session_event_id], on=date(2026, 1, 13))
    shared = p.shared_record(SUPERVISOR, ep)
    ruptures = [e.event.rupture_id for e in shared.entries if isinstance(e.event, RuptureNoted)]
    assert ruptures == [setup.rupture_id]  # the one noted outside any session stays shared
    assert in_session not in ruptures
    assert encounter not in _ids_in_bundle(p, ep)
    p.close()


def test_a_review_of_progress_on_a_withheld_goal_is_withheld_with_it(tmp_path: Path) -> None:
    """A review names the goals it notes progress on (its Observations' focus): withheld with any of them.
    Withholding the review withholds nothing of the goal's: its revisions stay shared."""
    setup = active_episode(_practice(tmp_path))
    p, ep, goal = setup.practice, setup.episode_id, setup.goal_id
    progress = (GoalProgressNote(goal, GoalProgress.IMPROVING),)
    p.record_review(OWN, ep, Review(held_on=date(2026, 1, 19), decision="continue", goal_progress=progress))
    p.revise_goal(OWN, ep, GoalRevision(goal, status=GoalStatus.ON_HOLD), revised_on=date(2026, 1, 20))
    assert ids.goal_id(ep, goal) in _ids_in_bundle(p, ep)  # the check can fail
    reviews = p.set_lockbox(OWN, ep, scope="class", classes=["reviews"], on=date(2026, 1, 21)).record_id
    assert [e.type for e in p.shared_record(SUPERVISOR, ep).entries if e.type.startswith("goal-")] == [
        "goal-agreed",
        "goal-revised",
    ]
    p.lift_lockbox(OWN, ep, reviews, on=date(2026, 1, 21))
    p.set_lockbox(OWN, ep, scope="class", classes=["goals"], on=date(2026, 1, 21))
    shared = p.shared_record(SUPERVISOR, ep)
    assert [e.type for e in shared.entries if e.type == "review-recorded"] == []
    assert ids.goal_id(ep, goal) not in _ids_in_bundle(p, ep)
    p.close()


def test_the_alerts_a_withheld_session_raised_are_withheld_with_it(tmp_path: Path) -> None:
    """The alerts a session's scores raise are written just after it and dated by it: shared while the
    session is withheld (by name), their Flags told that, and when, a session with worrying scores was held.
    Their acknowledgement goes with them, and the shared state still folds."""
    p, ep = _proceeding(tmp_path)
    alert_id = _risk_session(p, ep, date(2026, 1, 19))
    p.acknowledge_alert(OWN, ep, alert_id, on=date(2026, 1, 20))
    session = [e for e in p.timeline(OWN, ep) if e.type == "session-recorded"][-1]
    flag = ids.resource_id("Flag", ep, alert_id)
    assert flag in _ids_in_bundle(p, ep)  # the check can fail
    p.set_lockbox(OWN, ep, scope="item", event_ids=[session.event_id], on=date(2026, 1, 21))
    shared = p.shared_record(SUPERVISOR, ep)
    assert [e.type for e in shared.entries if getattr(e.event, "alert_id", None) == alert_id] == []
    assert shared.state is not None
    text = _ids_in_bundle(p, ep)
    assert (flag in text, "2026-01-19" in text) == (False, False)
    p.close()


def test_a_withheld_client_response_leaves_its_session_corrections_shared(tmp_path: Path) -> None:
    """A client's response names the session it was given in without being part of its record: withholding
    it must not withhold the session's correction, or the share would show the scores as first recorded,
    which the clinician corrected. Withholding the session still withholds the response."""
    clock = Clock()
    setup = active_episode(open_practice(tmp_path / "p.sqlite", clock=clock))
    p, ep, session_id = setup.practice, setup.episode_id, setup.session_id
    keys = ("relationship", "goals_topics", "approach", "overall")
    srs = Administration("srs", "1.0", "end", dict.fromkeys(keys, 9.0))
    at = clock.now = datetime(2026, 1, 12, 17, tzinfo=UTC)
    p.record_client_response(OWN, ep, srs, responded_at=at, session_id=session_id)
    clock.now = Clock().now  # back to the clock's today: the days recorded below are before it
    corrected = Session(
        held_on=date(2026, 1, 12), modality="video", attendance="attended", administrations=(ors(7.0),)
    )
    p.correct_session(OWN, ep, session_id, corrected, reason="typed the wrong totals")
    (response_event,) = (
        e.event_id for e in p.timeline(OWN, ep) if isinstance(e.event, ClientResponseRecorded)
    )
    directive = p.set_lockbox(
        OWN, ep, scope="item", event_ids=[response_event], on=date(2026, 1, 13)
    ).record_id
    shared = p.shared_record(SUPERVISOR, ep)
    assert [e.type for e in shared.entries if e.type.startswith("session-")] == [
        "session-recorded",
        "session-corrected",
    ]
    assert not any(isinstance(e.event, ClientResponseRecorded) for e in shared.entries)
    p.lift_lockbox(OWN, ep, directive, on=date(2026, 1, 13))
    p.set_lockbox(OWN, ep, scope="item", event_ids=[setup.session_event_id], on=date(2026, 1, 13))
    shared = p.shared_record(SUPERVISOR, ep)
    assert [e.type for e in shared.entries if e.type.startswith("session-")] == []
    assert not any(isinstance(e.event, ClientResponseRecorded) for e in shared.entries)
    p.close()


def test_a_hold_shared_without_the_fit_decision_resumes_to_what_was_shared(tmp_path: Path) -> None:
    """With the consultation withheld, the episode is "planned" as shared; a hold and its resumption that
    are shared must not bring it back as "active" in the status history (that would tell care proceeded,
    the fit decision, where nothing shared says so), even once a later shared change (the closing) makes
    that period part of the history."""
    p, ep = _proceeding(tmp_path)
    p.put_on_hold(OWN, ep, on=date(2026, 1, 20), reason="travel")
    p.resume(OWN, ep, on=date(2026, 2, 2))
    p.plan_ending(OWN, ep, on=date(2026, 2, 9), target_date=date(2026, 3, 2))
    ending = Ending(ended_on=date(2026, 3, 2), planned=True, reason="goals-met", no_plan_reason="none needed")
    p.close_episode(OWN, ep, ending)
    assert _statuses(_episode_of_care(p, ep)).count("active") == 2  # shared whole: the check can fail
    p.set_lockbox(OWN, ep, scope="class", classes=["consultation", "sessions", "goals"], on=date(2026, 3, 2))
    resource = _episode_of_care(p, ep)
    assert _statuses(resource) == ["finished", "planned", "onhold", "planned"]  # now, then the history
    p.close()
