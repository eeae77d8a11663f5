"""Practice outcomes for a reader from whom a client's lockbox withholds part of every closed episode: the
outcomes leave those episodes out (their scores are the outcome), and the report must not then say the
practice has no episodes, which the same reader's caseload and quality section contradict."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from alliancekit.domain import Actor, Ending, EndingReason, Role
from alliancekit.feedback.reports import practice_outcomes, render_report

from .conftest import CLINIC, CLINICIAN, make_clinic, ors

KEPT_FROM = Actor("sup-1", Role.SUPERVISOR, CLINIC)
OTHER = Actor("sup-2", Role.SUPERVISOR, CLINIC)


def test_withheld_closed_episodes_are_not_reported_as_no_episodes(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(15))
    c.session(ep, ors(30))
    last = [e for e in c.p.timeline(CLINICIAN, ep) if e.type == "session-recorded"][-1].event_id
    c.p.plan_ending(CLINICIAN, ep, on=c.day)
    ending = Ending(ended_on=c.day, planned=True, reason=EndingReason.GOALS_MET, no_plan_reason="a test")
    c.p.close_episode(CLINICIAN, ep, ending)
    c.p.set_lockbox(CLINICIAN, ep, scope="item", event_ids=[last], recipients=[KEPT_FROM.id], on=c.day)

    kept = practice_outcomes(c.p, KEPT_FROM)
    assert kept.has_episodes
    assert kept.overall.ended == 0  # the episode's outcome is its scores: left out, not counted without them
    assert kept.summary.startswith("No ended episode can be reported to this reader")
    page = render_report(c.p, KEPT_FROM, today=date(2026, 6, 1))
    assert "no episodes yet" not in page
    assert "No ended episode can be reported to this reader" in page
    # a reader the directive does not name sees the ended episode as before
    other = practice_outcomes(c.p, OTHER)
    assert (other.overall.ended, other.withheld_closed) == (1, False)
    c.p.close()


def test_a_practice_of_closed_episodes_only_is_not_empty(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    ep = c.episode()
    c.session(ep, ors(15))
    c.session(ep, ors(30))
    c.p.plan_ending(CLINICIAN, ep, on=c.day)
    ending = Ending(ended_on=c.day, planned=True, reason=EndingReason.GOALS_MET, no_plan_reason="a test")
    c.p.close_episode(CLINICIAN, ep, ending)
    result = practice_outcomes(c.p, OTHER)
    assert result.has_episodes
    assert result.overall.ended == 1
    c.p.close()
