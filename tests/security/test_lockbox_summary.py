"""A non-treating reader inside the clinic (a supervisor) sees one episode under a lockbox: what the summary
(``Practice.episode``), the caseload row and the closed outcomes say of the episode as a whole is what their
own timeline establishes, nothing from an event it withholds: no fit under ``consultation``, no closing under
``ending``, no transfer or hold under ``administrative``, no session counts or dates under ``sessions``.
Under a whole-record directive the summary is the episode's frame (its opening) and nothing else."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.domain import Actor
from alliancekit.domain.vocab import FitOutcome, Stage
from alliancekit.events.types import EpisodeOpened
from alliancekit.lifecycle.state import EpisodeState, fold, start
from alliancekit.protocols.definition import MeasurementProtocol, ScheduleEntry, When

from .helpers import CLINIC, Clock, active_episode
from .test_lockbox_episode_level import (
    CASES,
    NEW,
    NEW_CLINICIAN,
    OWN,
    SUPERVISOR,
    Setup,
    _ended,
    _proceeding,
)

#: The episode-level facts a summary states (besides scores and alerts, withheld as before).
FACTS = (
    "stage",
    "clinician_id",
    "fit",
    "fit_on",
    "consultation_on",
    "treatment_consent",
    "closed_on",
    "closing_reason",
    "ending_reason",
    "ending_planned",
    "ending_planned_on",
    "stage_before_hold",
    "sessions_scheduled",
    "sessions_attended",
    "last_session_on",
    "last_attended_on",
    "last_activity_on",
    "modality_counts",
    "reviews",
    "ruptures_noted",
)


def _ended_after_a_transfer(tmp_path: Path) -> tuple[Practice, str]:
    return _ended(tmp_path, transferred=True)


#: Each case: how the episode is made, who sets the directive (the clinician of record then), its class.
SUMMARY_CASES: dict[str, tuple[Setup, Actor, str]] = {
    **CASES,
    "sessions": (_proceeding, OWN, "sessions"),
    "administrative-ended-after-a-transfer": (_ended_after_a_transfer, NEW, "administrative"),
}


def _lock(case: str, tmp_path: Path) -> tuple[Practice, str]:
    setup, clinician, name = SUMMARY_CASES[case]
    p, ep = setup(tmp_path)
    p.set_lockbox(clinician, ep, scope="class", classes=[name], on=date(2026, 3, 2))
    return p, ep


def _as_the_timeline_says(p: Practice, ep: str) -> EpisodeState:
    """The episode as the supervisor's own timeline establishes it: the fold of what it shows."""
    timeline = p.timeline(SUPERVISOR, ep)
    assert timeline.withheld  # the directive withholds something here: the case tests the lockbox
    opened = timeline[0].event
    assert isinstance(opened, EpisodeOpened)
    return fold(start(ep, OWN.clinic_id, opened), (e.event for e in timeline[1:]))


def _facts(state: Any) -> dict[str, object]:
    return {name: getattr(state, name) for name in FACTS}


@pytest.mark.parametrize("case", sorted(SUMMARY_CASES))
def test_the_summary_says_nothing_the_timeline_withholds(case: str, tmp_path: Path) -> None:
    p, ep = _lock(case, tmp_path)
    own = p.episode(OWN if SUMMARY_CASES[case][1] is OWN else NEW, ep)
    seen = p.episode(SUPERVISOR, ep)
    assert _facts(seen) == _facts(_as_the_timeline_says(p, ep))
    # the same facts, named: each was in the summary before (the treating clinician's shows it)
    name = SUMMARY_CASES[case][2]
    if name == "consultation":
        assert own.fit is not None
        assert (seen.stage, seen.fit, seen.fit_on, seen.consultation_on) == (
            Stage.CONSULTATION,
            None,
            None,
            None,
        )
        assert (seen.closed_on, seen.closing_reason) == (None, None)
    elif name == "administrative":
        assert (own.clinician_id, own.stage_before_hold or own.stage) != (OWN.id, None)
        assert seen.clinician_id == OWN.id  # the one shared: the transfer is withheld
        assert seen.stage_before_hold is None
    elif name == "ending":
        assert (own.stage, own.closed_on) == (Stage.CLOSED, date(2026, 3, 2))
        assert (seen.stage, seen.closed_on, seen.ending_reason, seen.ending_planned_on) == (
            Stage.ACTIVE,
            None,
            None,
            None,
        )
    else:
        assert (own.sessions_attended, own.last_session_on) == (1, date(2026, 1, 12))
        assert (seen.sessions_attended, seen.sessions_scheduled, seen.last_session_on) == (0, 0, None)
        assert (seen.latest_scores, seen.alerts) == ({}, {})
    assert seen.version == own.version  # the stream position, for a command's expected version
    p.close()


@pytest.mark.parametrize("case", sorted(SUMMARY_CASES))
def test_the_caseload_row_says_nothing_the_timeline_withholds(case: str, tmp_path: Path) -> None:
    p, ep = _lock(case, tmp_path)
    seen = _as_the_timeline_says(p, ep)
    assert p.episode(SUPERVISOR, ep).stage is seen.stage  # the summary and the row say the same
    (row,) = (r for r in p.caseload(SUPERVISOR, include_closed=True) if r.episode_id == ep)
    columns = ("stage", "clinician_id", "opened_on", "last_session_on", "sessions_attended", "closed_on")
    assert {c: getattr(row, c) for c in columns} == {
        "stage": seen.stage.value,
        "clinician_id": seen.clinician_id,
        "opened_on": seen.opened_on,
        "last_session_on": seen.last_session_on,
        "sessions_attended": seen.sessions_attended,
        "closed_on": seen.closed_on,
    }
    assert row.ending_reason == (None if seen.ending_reason is None else seen.ending_reason.value)
    assert row.lockbox_json != "{}"  # the directives in force travel with the row, as before
    if SUMMARY_CASES[case][2] == "sessions":
        assert (row.latest_scores_json, row.open_alerts, row.review_due) == ("{}", 0, False)
    # one clinician's caseload lists only what is shared as theirs: not an episode transferred in secret
    for clinician in (OWN.id, NEW_CLINICIAN):
        rows = p.caseload(SUPERVISOR, clinician_id=clinician, include_closed=True)
        assert all(r.clinician_id == clinician for r in rows)
    if SUMMARY_CASES[case][2] == "administrative":
        assert p.caseload(NEW, include_closed=True)[0].episode_id == ep  # theirs: the check can fail
        listed = p.caseload(SUPERVISOR, clinician_id=NEW_CLINICIAN, include_closed=True)
        assert ep not in [r.episode_id for r in listed]
    p.close()


def test_the_treating_clinicians_caseload_row_is_the_projection(tmp_path: Path) -> None:
    """The lockbox does not apply to the clinician of record: their row is read as stored."""
    p, _ = _lock("ending", tmp_path)
    (row,) = p.caseload(OWN, include_closed=True)
    assert (row.stage, row.closed_on, row.ending_reason) == ("closed", date(2026, 3, 2), "goals-met")
    p.close()


#: The closed outcomes the supervisor reads: none where the closing is withheld (with the ending, or with
#: the fit decision it was made at); the clinician shared where the transfer is withheld.
OUTCOMES = {
    "consultation-not-proceeding": [],
    "ending": [],
    "administrative-ended-after-a-transfer": [(OWN.id, date(2026, 3, 2), "goals-met")],
}


@pytest.mark.parametrize("case", sorted(OUTCOMES))
def test_closed_outcomes_say_nothing_the_timeline_withholds(case: str, tmp_path: Path) -> None:
    setup, clinician, name = SUMMARY_CASES[case]
    p, ep = setup(tmp_path)
    assert len(p.closed_outcomes(SUPERVISOR)) == 1  # closed, before the directive: the check can fail
    p.set_lockbox(clinician, ep, scope="class", classes=[name], on=date(2026, 3, 2))
    rows = p.closed_outcomes(SUPERVISOR)
    assert [(r.clinician_id, r.closed_on, r.ending_reason) for r in rows] == OUTCOMES[case]
    p.close()


def test_closed_outcomes_without_directives_are_read_as_stored(tmp_path: Path) -> None:
    """Rows without a directive (or with one for another recipient) are the projection's, unchanged."""
    p, ep = _ended(tmp_path, transferred=True)
    before = p.closed_outcomes(SUPERVISOR)
    p.set_lockbox(
        NEW, ep, scope="class", classes=["administrative"], recipients=["hospital-x"], on=date(2026, 3, 2)
    )
    # every column but the directives in force (the population, after them, too)
    after = p.closed_outcomes(SUPERVISOR)
    assert [r._replace(lockbox_json="") for r in after] == [r._replace(lockbox_json="") for r in before]
    assert p.closed_outcomes(SUPERVISOR)[0].clinician_id == NEW_CLINICIAN
    p.close()


def test_a_whole_record_directive_leaves_only_the_frame(tmp_path: Path) -> None:
    """Shares say nothing of such an episode; inside the clinic its caseload row still lists it (the reports
    name it as withheld), so the summary is its frame: the opening alone, as the caseload row."""
    p, ep = _ended(tmp_path)
    p.set_lockbox(OWN, ep, scope="record", on=date(2026, 3, 2))
    assert list(p.timeline(SUPERVISOR, ep)) == []
    seen = p.episode(SUPERVISOR, ep)
    frame = {
        "stage": Stage.CONSULTATION,
        "clinician_id": OWN.id,
        "fit": None,
        "closed_on": None,
        "sessions_attended": 0,
        "last_session_on": None,
        "last_activity_on": date(2026, 1, 5),
    }
    assert {k: getattr(seen, k) for k in frame} == frame
    assert (seen.client_ref, seen.opened_on, seen.goals, seen.latest_scores) == (
        "client-1",
        date(2026, 1, 5),
        {},
        {},
    )
    (row,) = (r for r in p.caseload(SUPERVISOR, include_closed=True) if r.episode_id == ep)
    assert (row.stage, row.closed_on, row.sessions_attended, row.ending_reason) == (
        "consultation",
        None,
        0,
        None,
    )
    assert p.closed_outcomes(SUPERVISOR) == []
    assert p.episode(OWN, ep).fit is FitOutcome.PROCEED
    p.close()


def test_a_directive_for_another_recipient_leaves_the_summary_whole(tmp_path: Path) -> None:
    p, ep = _ended(tmp_path, transferred=True)
    classes = ["consultation", "administrative", "ending", "sessions"]
    p.set_lockbox(NEW, ep, scope="class", classes=classes, recipients=["hospital-x"], on=date(2026, 3, 2))
    assert p.episode(SUPERVISOR, ep) == p.episode(NEW, ep)
    (row,) = p.caseload(SUPERVISOR, include_closed=True)
    assert (row.clinician_id, row.stage, json.loads(row.latest_scores_json)) == (
        NEW_CLINICIAN,
        "closed",
        {"ors": 20.0},
    )
    p.close()


def _at_ending(tmp_path: Path) -> tuple[Practice, str]:
    """An episode whose clinic gives the ORS at the ending, with the ending planned: the ORS is due."""
    at_ending = MeasurementProtocol("at-ending", (ScheduleEntry("ors", When.ENDING),))
    p = open_practice(tmp_path / "p.sqlite", clock=Clock(), protocols={CLINIC: at_ending})
    ep = active_episode(p).episode_id
    p.plan_ending(OWN, ep, on=date(2026, 2, 9), target_date=date(2026, 3, 2))
    return p, ep


def test_due_measures_say_nothing_the_timeline_withholds(tmp_path: Path) -> None:
    """What falls due follows from the stage: the ending's measures tell of an ending the reader's timeline
    withholds."""
    p, ep = _at_ending(tmp_path)
    assert [d.measure for d in p.due_measures(SUPERVISOR, ep)] == ["ors"]  # before: the check can fail
    p.set_lockbox(OWN, ep, scope="class", classes=["ending"], on=date(2026, 3, 2))
    assert [d.measure for d in p.due_measures(OWN, ep)] == ["ors"]  # the treating clinician's is whole
    assert p.due_measures(SUPERVISOR, ep) == ()
    assert p.episode(SUPERVISOR, ep).stage is Stage.ACTIVE  # as the summary says
    p.close()


def test_due_measures_under_a_directive_for_another_recipient_are_whole(tmp_path: Path) -> None:
    p, ep = _at_ending(tmp_path)
    p.set_lockbox(OWN, ep, scope="class", classes=["ending"], recipients=["hospital-x"], on=date(2026, 3, 2))
    assert [d.measure for d in p.due_measures(SUPERVISOR, ep)] == ["ors"]
    p.close()
