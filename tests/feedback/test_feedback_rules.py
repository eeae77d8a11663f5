"""Each built-in alert rule fires where it should and stays quiet where it must not (real SQLite files)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alliancekit.domain import (
    Actor,
    Attendance,
    Purpose,
    RepairAttempt,
    RepairStrategy,
    Review,
    ReviewDecision,
    Role,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
)
from alliancekit.feedback import Comparison
from alliancekit.feedback.builtin import BUILTIN_RULES
from alliancekit.feedback.expectation import rational_expectation

from .conftest import Clinic, config, core10, make_clinic, ors, phq9, srs

# --------------------------------------------------------------------------------- alliance below cutoff

#: rebuild_state is a maintenance call, which the default policy allows to system actors.
MAINTENANCE = Actor("maintenance", Role.SYSTEM, "clinic-1", Purpose.OPERATIONS)


def test_alliance_below_cutoff_fires_below_36(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(35.9))
    assert clinic.rules_raised(ep) == ["alliance-below-cutoff"]


def test_alliance_at_cutoff_is_quiet_by_default(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(36))
    clinic.session(ep, srs(40))
    assert clinic.rules_raised(ep) == []


def test_alliance_at_cutoff_fires_when_configured_at_or_below(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(alliance_comparison=Comparison.AT_OR_BELOW))
    ep = c.episode()
    c.session(ep, srs(36))
    assert c.rules_raised(ep) == ["alliance-below-cutoff"]


def test_active_alert_is_not_raised_twice_by_the_same_rule(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(30))
    clinic.session(ep, srs(30))
    assert clinic.rules_raised(ep) == ["alliance-below-cutoff"]
    (alert_id,) = clinic.p.alerts(clinic.actor, ep)
    clinic.p.resolve_alert(clinic.actor, ep, alert_id, note="discussed the work together")
    clinic.session(ep, srs(30))
    assert clinic.rules_raised(ep) == ["alliance-below-cutoff", "alliance-below-cutoff"]


# ---------------------------------------------------------------------------------------- alliance drop


def test_alliance_drop_of_one_point_fires(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(39.5))
    clinic.session(ep, srs(38.5))
    assert clinic.rules_raised(ep) == ["alliance-dropped"]


@pytest.mark.parametrize("second", [39.0, 39.5, 40.0])
def test_alliance_small_drop_or_rise_is_quiet(clinic: Clinic, second: float) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(39.5))
    clinic.session(ep, srs(second))
    assert clinic.rules_raised(ep) == []


def test_alliance_drop_needs_a_previous_score(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(20))
    clinic.session(ep, srs(37))
    assert "alliance-dropped" not in clinic.rules_raised(ep)


# ---------------------------------------------------------------------------------- expected response


def test_expected_band_of_the_rational_model_is_what_the_tests_assume(clinic: Clinic) -> None:
    measure = clinic.p.plugins.measures().get("ors")
    e = rational_expectation(measure, 18, 2)
    assert e is not None
    assert e.expected == pytest.approx(18 + 5 / 1.791759 * 0.693147, abs=1e-3)
    assert (e.low, e.limit) == pytest.approx((e.expected - 2.5, e.expected - 5))


def test_outcome_below_expected_band_is_amber(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18))
    clinic.session(ep, ors(16))  # below 17.43, above 14.93
    assert clinic.rules_raised(ep) == ["outcome-below-expected"]


def test_outcome_below_lower_bound_is_red_and_asks_for_a_review(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18))
    clinic.session(ep, ors(14.5))  # below 14.93, a fall of 3.5: not reliable
    assert clinic.rules_raised(ep) == ["outcome-far-below-expected", "review-due"]
    assert clinic.p.caseload(clinic.actor)[0].review_due


@pytest.mark.parametrize("second", [20.0, 26.0])
def test_outcome_at_or_above_the_predicted_score_is_quiet(clinic: Clinic, second: float) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18))
    clinic.session(ep, ors(second))  # the prediction is 19.93
    assert clinic.rules_raised(ep) == []


def test_outcome_inside_the_drawn_band_but_below_the_prediction_is_amber(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18))
    clinic.session(ep, ors(18))  # inside 17.43..22.43 but below 19.93: OpenFIT's orange zone
    assert clinic.rules_raised(ep) == ["outcome-below-expected"]


def test_outcome_rules_need_two_scores(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(3))
    assert clinic.rules_raised(ep) == []


# ------------------------------------------------------------------------------- reliable deterioration


def test_reliable_deterioration_on_ors(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(30))  # non-clinical intake: expected to hold steady
    clinic.session(ep, ors(28))
    clinic.session(ep, ors(25))  # a fall of 5 = the reliable-change threshold
    assert "reliable-deterioration" in clinic.rules_raised(ep)


def test_reliable_deterioration_on_phq9_rise_of_six(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(10))
    clinic.session(ep, phq9(16))
    assert clinic.rules_raised(ep) == ["reliable-deterioration", "review-due"]


def test_phq9_rise_of_five_is_not_reliable(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(10))
    clinic.session(ep, phq9(15))
    assert clinic.rules_raised(ep) == []


def test_reliable_improvement_is_not_deterioration(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(20))
    clinic.session(ep, phq9(8))
    assert clinic.rules_raised(ep) == []


# ---------------------------------------------------------------------------------- no reliable change


def test_no_reliable_change_by_session_six(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(review_every=50))
    ep = c.episode()
    for total in (30, 30, 31, 30, 31):  # non-clinical and steady: no expected-band alerts
        c.session(ep, ors(total))
    assert c.rules_raised(ep) == []
    c.session(ep, ors(31))
    assert c.rules_raised(ep) == ["no-reliable-change"]
    # once per episode: resolved, it does not come back at the next session
    alert_id = next(iter(c.p.alerts(c.actor, ep)))
    c.p.resolve_alert(c.actor, ep, alert_id, note="agreed to keep going and review at session 8")
    c.session(ep, ors(31))
    assert c.rules_raised(ep) == ["no-reliable-change"]


def test_no_reliable_change_is_quiet_after_reliable_improvement(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(review_every=50))
    ep = c.episode()
    for total in (18, 20, 22, 24, 25, 26):
        c.session(ep, ors(total))
    assert "no-reliable-change" not in c.rules_raised(ep)


def test_no_reliable_change_session_is_configurable(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(no_change_by_session=3, review_every=50))
    ep = c.episode()
    for total in (30, 30, 30):
        c.session(ep, ors(total))
    assert c.rules_raised(ep) == ["no-reliable-change"]


# -------------------------------------------------------------------------------------------- risk items


def test_phq9_item9_endorsed_is_urgent_whatever_the_total(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(1, item9=1))
    assert clinic.rules_raised(ep) == ["risk-item-endorsed", "review-due"]
    (alert,) = [a for a in clinic.p.alerts(clinic.actor, ep).values() if a.rule_id == "risk-item-endorsed"]
    assert alert.severity.value == "urgent"
    assert alert.measure_id == "phq-9"


def test_phq9_high_total_without_item9_is_not_a_risk_alert(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(24, item9=0))
    assert clinic.rules_raised(ep) == []


def test_core10_risk_item_is_urgent(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, core10(12, risk=1))
    assert clinic.rules_raised(ep)[0] == "risk-item-endorsed"
    ep2 = clinic.episode()
    clinic.session(ep2, core10(12, risk=0))
    assert clinic.rules_raised(ep2) == []


# ------------------------------------------------------------------------------------------ missed sessions


def test_two_no_shows_in_a_row_fire_once(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(30))
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    assert clinic.rules_raised(ep) == []
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    assert clinic.rules_raised(ep) == ["missed-sessions"]
    (alert_id,) = clinic.p.alerts(clinic.actor, ep)
    clinic.p.resolve_alert(clinic.actor, ep, alert_id, note="phoned the client")
    clinic.session(ep, attendance=Attendance.NO_SHOW)  # a third in a row: not raised again
    assert clinic.rules_raised(ep) == ["missed-sessions"]


def test_no_show_then_attendance_and_cancellations_are_quiet(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    clinic.session(ep, ors(30))
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    clinic.session(ep, attendance=Attendance.CANCELLED)
    clinic.session(ep, attendance=Attendance.CANCELLED)
    assert clinic.rules_raised(ep) == []


def test_gap_longer_than_configured_days_fires(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(30))
    clinic.session(ep, ors(30), days=21)
    assert clinic.rules_raised(ep) == []
    clinic.session(ep, ors(30), days=22)
    assert clinic.rules_raised(ep) == ["missed-sessions"]


# ------------------------------------------------------------------------------------------- review due


def _review(clinic: Clinic, ep: str) -> None:
    clinic.p.record_review(clinic.actor, ep, Review(held_on=clinic.day, decision=ReviewDecision.CONTINUE))


def test_review_due_after_n_attended_sessions_and_closed_by_the_review(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(review_every=3, no_change_by_session=50))
    ep = c.episode()
    c.session(ep, ors(30))
    c.session(ep, attendance=Attendance.CANCELLED)  # not attended: does not count
    c.session(ep, ors(30))
    assert c.rules_raised(ep) == []
    c.session(ep, ors(30))
    assert c.rules_raised(ep) == ["review-due"]
    row = c.p.caseload(c.actor)[0]
    assert row.review_due
    assert row.next_review_at == 3
    _review(c, ep)
    assert c.open_rules(ep) == set()
    row = c.p.caseload(c.actor)[0]
    assert not row.review_due
    assert row.next_review_at == 6
    resolutions = [e for e in c.p.timeline(c.actor, ep) if e.type == "alert-resolved"]
    assert len(resolutions) == 1


def test_review_due_is_quiet_before_n_sessions(clinic: Clinic) -> None:
    ep = clinic.episode()
    for _ in range(5):
        clinic.session(ep, ors(30))
    assert clinic.rules_raised(ep) == []


def test_red_alert_makes_a_review_due_and_the_review_records_it_as_scheduled(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, phq9(10))
    clinic.session(ep, phq9(17))
    assert clinic.p.caseload(clinic.actor)[0].review_due
    _review(clinic, ep)
    review = [e for e in clinic.p.timeline(clinic.actor, ep) if e.type == "review-recorded"][-1]
    assert review.event.scheduled is True
    assert not clinic.p.caseload(clinic.actor)[0].review_due
    # the red alert itself stays open until the clinician resolves it
    assert clinic.open_rules(ep) == {"reliable-deterioration"}


# ------------------------------------------------------------------------------------ rupture unresolved


def _rupture(clinic: Clinic, ep: str) -> str:
    recorded = clinic.p.note_rupture(
        clinic.actor,
        ep,
        RuptureNote(
            noted_on=clinic.day,
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.MINIMAL_RESPONSE,),
            likely_cause=RuptureCause.TRUST_IN_PROCESS,
        ),
    )
    assert recorded.record_id is not None
    return recorded.record_id


def test_rupture_unresolved_after_three_sessions(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(30))
    _rupture(clinic, ep)
    clinic.session(ep, ors(30))
    clinic.session(ep, attendance=Attendance.CANCELLED)
    assert clinic.rules_raised(ep) == []
    clinic.session(ep, ors(30))
    assert clinic.rules_raised(ep) == ["rupture-unresolved"]
    clinic.session(ep, ors(30))
    assert clinic.rules_raised(ep) == ["rupture-unresolved"]


def test_repaired_rupture_is_quiet(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(30))
    rupture_id = _rupture(clinic, ep)
    clinic.session(ep, ors(30))
    clinic.p.record_repair(
        clinic.actor,
        ep,
        rupture_id,
        RepairAttempt(
            attempted_on=clinic.day, strategies=(RepairStrategy.INVITE_CLIENT_VIEW,), resolved=True
        ),
    )
    for _ in range(3):
        clinic.session(ep, ors(30))
    assert clinic.rules_raised(ep) == []


# --------------------------------------------------------------------------------------------- general


def test_messages_hold_no_scores_and_name_the_measure(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18), srs(39), phq9(12, item9=2))
    clinic.session(ep, ors(11), srs(30), phq9(20))
    raised = [e.event for e in clinic.p.timeline(clinic.actor, ep) if e.type == "alert-raised"]
    assert len(raised) >= 5
    registry = clinic.p.plugins.measures()
    measures = [registry.get(m, v) for m, v in registry]
    fixed_texts = {rule.message_for(m) for rule in BUILTIN_RULES for m in [None, *measures]}
    for alert in raised:
        assert alert.message in fixed_texts
        assert "18" not in alert.message
        assert "11" not in alert.message
    assert any("Session Rating Scale" in a.message for a in raised)


def test_closed_episode_raises_nothing(clinic: Clinic) -> None:
    from alliancekit.domain import Ending, EndingReason

    ep = clinic.episode()
    clinic.session(ep, ors(30))
    clinic.day += timedelta(days=60)
    clinic.p.close_episode(
        clinic.actor, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.DROPOUT)
    )
    assert clinic.rules_raised(ep) == []


def test_disabled_engine_raises_nothing(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=config(enabled=False))
    ep = c.episode()
    c.session(ep, phq9(5, item9=3), srs(10))
    assert c.rules_raised(ep) == []


def test_snapshot_with_alerts_equals_the_fold_of_the_events(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18), srs(39))
    clinic.session(ep, ors(12), srs(30), phq9(9, item9=1))
    alert_id = next(iter(clinic.p.alerts(clinic.actor, ep)))
    clinic.p.acknowledge_alert(clinic.actor, ep, alert_id)
    clinic.p.resolve_alert(clinic.actor, ep, alert_id, note="done")
    assert clinic.p.rebuild_state(MAINTENANCE, ep) == clinic.p.episode(clinic.actor, ep)


def test_review_record_holds_the_scores_against_expectation(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18), srs(39), phq9(14))
    clinic.session(ep, ors(16), srs(39), phq9(7))
    _review(clinic, ep)
    review = [e for e in clinic.p.timeline(clinic.actor, ep) if e.type == "review-recorded"][-1].event
    by_measure = {s.measure_id: s for s in review.scores}
    assert set(by_measure) == {"ors", "srs", "phq-9"}
    ors_score = by_measure["ors"]
    assert (ors_score.intake, ors_score.latest, ors_score.session) == (18, 16, 2)
    assert ors_score.zone == "amber"
    assert ors_score.low is not None
    assert ors_score.latest < ors_score.low
    assert by_measure["phq-9"].change == "recovered"  # a fall of 7 from 14 to below 10
    assert by_measure["phq-9"].zone is None  # symptom measures get no expected band
    assert by_measure["srs"].change is None  # no reliable-change figure for the SRS


def test_a_repeated_command_does_not_raise_its_alerts_twice(clinic: Clinic) -> None:
    from alliancekit.domain import Modality, Session

    ep = clinic.episode()
    session = Session(
        held_on=clinic.day,
        modality=Modality.VIDEO,
        attendance=Attendance.ATTENDED,
        administrations=(srs(30),),
    )
    first = clinic.p.record_session(clinic.actor, ep, session, idempotency_key="host-cmd-1")
    again = clinic.p.record_session(clinic.actor, ep, session, idempotency_key="host-cmd-1")
    assert again.duplicate
    assert not first.duplicate
    assert clinic.rules_raised(ep) == ["alliance-below-cutoff"]


def test_a_concurrent_writer_is_decided_again_without_a_second_alert(tmp_path: Path) -> None:
    from alliancekit import open_practice
    from alliancekit.store.protocol import Commit
    from alliancekit.store.sqlite import SQLiteStore

    a = make_clinic(tmp_path, "shared.sqlite")
    ep = a.episode()

    class RacingStore(SQLiteStore):
        """Lets the other practice record a session just before this one's first write."""

        raced = False

        def append(self, commit: Commit) -> None:
            if not self.raced:
                self.raced = True
                a.session(ep, srs(30))  # raises the alliance alert first
            super().append(commit)

    b = Clinic(open_practice(RacingStore(tmp_path / "shared.sqlite")))
    b.day = a.day + timedelta(days=7)
    b.session(ep, srs(30))  # conflicts, is decided again on a's state: the alert is active, not raised again
    assert a.rules_raised(ep) == ["alliance-below-cutoff"]
    assert len([e for e in a.p.timeline(a.actor, ep) if e.type == "session-recorded"]) == 2
    assert b.p.rebuild_state(MAINTENANCE, ep) == b.p.episode(b.actor, ep)
