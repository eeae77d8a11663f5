"""An alert a shared session raised is withheld from a share when its rule read a withheld event.

Some rules compare no score but read what earlier events left: an unresolved rupture (the alert does not
name it), the no-shows since the last attended session and the latest session's date (missed sessions, a
long gap), the sessions attended since the last review (a review due), the measurement protocol's schedule
(a measure missed). Shared, such an alert says something of a withheld event (that a rupture exists, that
a session was held or missed), so :func:`alliancekit.security.lockbox.apply_lockbox` withholds it when a
withheld event lies in the span its rule read, and keeps it when the withheld event lies before that span
(:mod:`alliancekit.feedback.compared`). On an SQLite file, through the clinician's share and export (to the
recipient the directive names, and naming none), the FHIR export's Flags, and a share to a recipient the
directive does not name, which keeps every alert.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.domain import (
    Actor,
    Administration,
    Purpose,
    RepairAttempt,
    Review,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RepairStrategy, RuptureCause, RuptureKind, RuptureMarker
from alliancekit.feedback import FeedbackConfig
from alliancekit.fhir import episode_bundle

from .helpers import CLIENT, CLINIC, active_episode, open_on, ors
from .test_lockbox_compared_alerts import srs

TREATING = Actor("clin-a", Role.CLINICIAN, CLINIC)
THE_CLIENT = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
NAMED = "hospital-x"
DIRECTIVE_ON = date(2026, 5, 1)
INTAKE_ON = date(2026, 1, 12)  # the first session (active_episode's), with an open rupture noted after it


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = open_on("sqlite", tmp_path)
    yield p
    p.close()


def _session(
    p: Practice,
    ep: str,
    held_on: date,
    attendance: str = "attended",
    given: tuple[Administration, ...] | None = None,
) -> str:
    """Record a session (when attended, with an ORS well above the intake's unless ``given`` says what was
    given: no alert about scores, and so no red one asking for a review); its event id."""
    if given is None:
        given = (ors(9.0),) if attendance == "attended" else ()
    held = Session(held_on=held_on, modality="video", attendance=attendance, administrations=given)
    p.record_session(TREATING, ep, held)
    return next(
        e.event_id
        for e in reversed(p.timeline(TREATING, ep))
        if e.type == "session-recorded" and e.event.session.held_on == held_on
    )


def _alert(p: Practice, ep: str, rule: str, at_session: int) -> tuple[str, date]:
    """The id and day of the alert ``rule`` raised at session ``at_session`` (it must have been raised)."""
    (found,) = (
        (e.event.alert_id, e.event.raised_on)
        for e in p.timeline(TREATING, ep)
        if e.type == "alert-raised" and e.event.rule_id == rule and e.event.at_session == at_session
    )
    return found


def _shared(p: Practice, ep: str, rule: str, alert: tuple[str, date]) -> list[bool]:
    """Whether the alert is in the share with the recipient, its export, the export naming no recipient and
    the FHIR Flags (one answer each), with its acknowledgement wherever it is."""
    alert_id, raised_on = alert
    found = []
    for record in (
        p.shared_record(TREATING, ep, recipient=NAMED),
        p.export_record(TREATING, ep, recipient=NAMED),
        p.export_record(TREATING, ep),
    ):
        ids = {e.event.alert_id for e in record.entries if e.type in ("alert-raised", "alert-acknowledged")}
        raised = {e.event.alert_id for e in record.entries if e.type == "alert-raised"}
        assert (alert_id in ids) == (alert_id in raised)  # the acknowledgement goes with the alert
        found.append(alert_id in raised)
    bundle = episode_bundle(p, TREATING, ep, recipient=NAMED)
    flags = [
        r
        for r in (entry["resource"] for entry in bundle["entry"])
        if r["resourceType"] == "Flag"
        and r["code"]["coding"][0]["code"] == rule
        and r["period"]["start"] == raised_on.isoformat()
    ]
    return [*found, bool(flags)]


def _withhold(p: Practice, ep: str, rule: str, alert: tuple[str, date], **directive: object) -> list[bool]:
    """The alert is shared before the directive (acknowledged, so that its acknowledgement is checked too)
    and to a recipient the directive does not name; whether it is shared to ``NAMED`` under it."""
    p.acknowledge_alert(TREATING, ep, alert[0], on=alert[1])
    assert _shared(p, ep, rule, alert) == [True] * 4
    p.set_lockbox(THE_CLIENT, ep, recipients=[NAMED], on=DIRECTIVE_ON, **directive)  # type: ignore[arg-type]
    other = p.shared_record(TREATING, ep, recipient="clinic-y").entries
    assert alert[0] in {e.event.alert_id for e in other if e.type == "alert-raised"}
    return _shared(p, ep, rule, alert)


def _rupture(p: Practice, ep: str, noted_on: date) -> tuple[str, str]:
    """A rupture noted on ``noted_on``: its id and event id."""
    note = RuptureNote(
        noted_on=noted_on,
        kind=RuptureKind.WITHDRAWAL,
        markers=(RuptureMarker.TOPIC_SHIFT,),
        likely_cause=RuptureCause.OTHER,
        description="synthetic text",
    )
    rupture_id = p.note_rupture(TREATING, ep, note).record_id
    assert rupture_id is not None
    event_id = next(
        e.event_id for e in p.timeline(TREATING, ep) if getattr(e.event, "rupture_id", "") == rupture_id
    )
    return rupture_id, event_id


# -- an unresolved rupture -------------------------------------------------------------------------------


def test_a_rupture_alert_is_withheld_with_its_rupture_class(practice: Practice) -> None:
    setup = active_episode(practice)  # a rupture noted after the first session, never repaired
    ep = setup.episode_id
    for week in (1, 2, 3):
        _session(practice, ep, INTAKE_ON + timedelta(weeks=week))
    alert = _alert(practice, ep, "rupture-unresolved", 4)  # three sessions after the rupture
    assert (
        _withhold(practice, ep, "rupture-unresolved", alert, scope="class", classes=["ruptures"])
        == [False] * 4
    )


@pytest.mark.parametrize("repaired", [True, False])
def test_a_rupture_alert_is_withheld_while_a_withheld_rupture_is_open(
    practice: Practice, repaired: bool
) -> None:
    """A second rupture, withheld by its id: open when the alert is raised, the alert may be about it and
    goes; resolved before, the alert is about the shared one and stays."""
    setup = active_episode(practice)
    ep = setup.episode_id
    second, second_event = _rupture(practice, ep, INTAKE_ON)
    _session(practice, ep, INTAKE_ON + timedelta(weeks=1))
    if repaired:
        attempt = RepairAttempt(
            INTAKE_ON + timedelta(weeks=1), (RepairStrategy.GIVE_RATIONALE,), resolved=True
        )
        practice.record_repair(TREATING, ep, second, attempt)
    for week in (2, 3):
        _session(practice, ep, INTAKE_ON + timedelta(weeks=week))
    alert = _alert(practice, ep, "rupture-unresolved", 4)
    shared = _withhold(practice, ep, "rupture-unresolved", alert, scope="item", event_ids=[second_event])
    assert shared == [repaired] * 4


# -- missed sessions or a long gap -----------------------------------------------------------------------


@pytest.mark.parametrize(("withheld", "kept"), [(1, True), (2, False), (3, False)])
def test_a_missed_sessions_alert_is_withheld_with_a_session_since_the_last_attended(
    practice: Practice, withheld: int, kept: bool
) -> None:
    """Sessions 1 and 2 attended, 3 and 4 no-shows: the second no-show in a row raises the alert. A
    withheld session before the last attended one leaves it; the last attended one, or a no-show since,
    withheld, the recipient would see fewer no-shows in a row (or more) than the alert counted."""
    setup = active_episode(practice)
    ep = setup.episode_id
    sessions = {1: setup.session_event_id, 2: _session(practice, ep, INTAKE_ON + timedelta(weeks=1))}
    for number in (3, 4):
        sessions[number] = _session(practice, ep, INTAKE_ON + timedelta(weeks=number - 1), "no-show")
    alert = _alert(practice, ep, "missed-sessions", 4)
    shared = _withhold(practice, ep, "missed-sessions", alert, scope="item", event_ids=[sessions[withheld]])
    assert shared == [kept] * 4


@pytest.mark.parametrize(("withheld", "kept"), [(1, True), (2, False)])
def test_a_long_gap_alert_is_withheld_with_the_session_it_counted_from(
    practice: Practice, withheld: int, kept: bool
) -> None:
    """Sessions on 12 and 19 January, then 16 February: 28 days after the second, more than 21. The
    second withheld, the alert would say no session was held in the 21 days before the third."""
    setup = active_episode(practice)
    ep = setup.episode_id
    sessions = {1: setup.session_event_id, 2: _session(practice, ep, INTAKE_ON + timedelta(weeks=1))}
    _session(practice, ep, INTAKE_ON + timedelta(weeks=5))
    alert = _alert(practice, ep, "missed-sessions", 3)
    shared = _withhold(practice, ep, "missed-sessions", alert, scope="item", event_ids=[sessions[withheld]])
    assert shared == [kept] * 4


@pytest.mark.parametrize(("withheld", "kept"), [(1, True), (2, False)])
def test_a_long_gap_alert_is_withheld_with_a_later_dated_session_recorded_before(
    practice: Practice, withheld: int, kept: bool
) -> None:
    """Sessions recorded out of date order: on 12 January, 9 February, then 19 January (recorded late),
    then 9 March, 28 days after the latest date before it, 9 February's. That session comes before the
    last attended one in the stream, but its date is the one the gap was measured from: withheld, the
    alert goes; the first withheld (neither), it stays."""
    setup = active_episode(practice)
    ep = setup.episode_id
    sessions = {1: setup.session_event_id, 2: _session(practice, ep, date(2026, 2, 9))}
    earlier = _alert(practice, ep, "missed-sessions", 2)  # 28 days after the first: resolved, or not again
    practice.resolve_alert(TREATING, ep, earlier[0], note="synthetic text", on=date(2026, 2, 9))
    _session(practice, ep, date(2026, 1, 19))
    _session(practice, ep, date(2026, 3, 9))
    alert = _alert(practice, ep, "missed-sessions", 4)
    shared = _withhold(practice, ep, "missed-sessions", alert, scope="item", event_ids=[sessions[withheld]])
    assert shared == [kept] * 4


# -- a review due ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("withheld", "kept"), [("before", True), ("review", False), ("since", False)])
def test_a_review_due_alert_is_withheld_with_a_session_since_the_last_review(
    practice: Practice, withheld: str, kept: bool
) -> None:
    """Two sessions, a review, then six more attended: the sixth since the review raises the alert. A
    withheld session before the review leaves it; the review, or a session since, withheld, the recipient
    would count to six at another session than the alert did. (The sessions named give no measure: a
    withheld score before the review would withhold the review, which states the latest scores.)"""
    setup = active_episode(practice)
    ep = setup.episode_id
    named = {"before": _session(practice, ep, INTAKE_ON + timedelta(weeks=1), given=())}
    practice.record_review(TREATING, ep, Review(INTAKE_ON + timedelta(weeks=1), "continue"))
    named["review"] = next(e.event_id for e in practice.timeline(TREATING, ep) if e.type == "review-recorded")
    named["since"] = _session(practice, ep, INTAKE_ON + timedelta(weeks=2), given=())
    for week in range(3, 8):
        _session(practice, ep, INTAKE_ON + timedelta(weeks=week))
    alert = _alert(practice, ep, "review-due", 8)
    shared = _withhold(practice, ep, "review-due", alert, scope="item", event_ids=[named[withheld]])
    assert shared == [kept] * 4


@pytest.mark.parametrize(("withheld", "kept"), [("rupture", True), ("red-alerts", False)])
def test_a_review_due_alert_is_withheld_with_the_red_alerts_that_asked_for_it(
    practice: Practice, withheld: str, kept: bool
) -> None:
    """A reliable deterioration at the second session: its red alerts ask for a review, and the review-due
    alert follows them. The red alerts withheld by their ids, the review-due alert would say one was
    raised; a withheld event outside the span (a rupture) leaves it."""
    setup = active_episode(practice)
    ep = setup.episode_id
    _session(practice, ep, INTAKE_ON + timedelta(weeks=1), given=(ors(1.0),))
    alert = _alert(practice, ep, "review-due", 2)
    entries = practice.timeline(TREATING, ep)
    red = [e.event_id for e in entries if e.type == "alert-raised" and e.event.severity.value == "red"]
    assert len(red) == 2  # the deterioration and the far-below-expected response
    rupture = [e.event_id for e in entries if e.type == "rupture-noted"]
    named = rupture if withheld == "rupture" else red
    assert _withhold(practice, ep, "review-due", alert, scope="item", event_ids=named) == [kept] * 4


# -- a measure missed ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("withheld", "kept"), [("rupture", True), ("session", False)])
def test_a_measure_missed_alert_is_withheld_once_a_withheld_event_fed_the_schedule(
    tmp_path: Path, withheld: str, kept: bool
) -> None:
    """The schedule reads counts since the protocol was set, the last review and each measure's last
    administration: no one span, so a withheld session anywhere before withholds the alert (fail closed;
    here the first, before the SRS was last given), and a withheld event the schedule does not read (a
    rupture) leaves it."""
    config = FeedbackConfig(missed_measure_alert=True)
    with open_on("sqlite", tmp_path, feedback=config, default_protocol="fit") as p:
        setup = active_episode(p)  # the ORS alone at the first session, where the SRS is due at the end
        ep = setup.episode_id
        first = _alert(p, ep, "measure-missed", 1)
        p.resolve_alert(TREATING, ep, first[0], note="synthetic text", on=INTAKE_ON)  # or not raised again
        _session(p, ep, INTAKE_ON + timedelta(weeks=1), given=(ors(9.0), srs(9.5)))
        _session(p, ep, INTAKE_ON + timedelta(weeks=2))  # the ORS alone: the SRS missed again
        alert = _alert(p, ep, "measure-missed", 3)
        rupture = next(e.event_id for e in p.timeline(TREATING, ep) if e.type == "rupture-noted")
        named = rupture if withheld == "rupture" else setup.session_event_id
        assert _withhold(p, ep, "measure-missed", alert, scope="item", event_ids=[named]) == [kept] * 4
