"""Episodes with several participants, collateral raters and groups, through the facade on both stores:
the bad input the issue names (each a clear error, nothing written), per-participant tracking and alerts,
and the split-alliance alert at its boundary."""

from __future__ import annotations

import json
import math
from typing import Any

import attrs
import pytest

from alliancekit import FeedbackConfig, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    GroupSession,
    MemberAttendance,
    Participant,
)
from alliancekit.errors import LifecycleError, ValidationError
from alliancekit.events.codec import Codec
from alliancekit.events.types import SessionRecorded
from alliancekit.lifecycle.state import track_key
from alliancekit.practice import Practice
from alliancekit.store.protocol import StoredEvent

from .conftest import CANARY, active_episode, attended, day, footprint, ors, srs

PARTNER = "client-2"
CONSENTED = Consent(treatment=True, measures=True)


def couple(practice: Practice, actor: Actor) -> str:
    ep, _ = active_episode(practice, actor)
    practice.add_participant(actor, ep, Participant(PARTNER, "partner", CONSENTED), added_on=day(2))
    return ep


def srs_at(practice: Practice, total: float, about: str | None = None) -> Administration:
    """An SRS whose total is ``total`` (to a tenth): three items alike, the rest on the last."""
    keys = list(srs(practice).answers)
    each = math.floor(total / 4 * 10) / 10
    answers = {**dict.fromkeys(keys[:-1], each), keys[-1]: round(total - 3 * each, 1)}
    return Administration("srs", srs(practice).version, "end", answers, about=about)


def refused_writes_nothing(
    practice: Practice, episode_id: str, call: Any, error: type[Exception]
) -> Exception:
    before = footprint(practice, episode_id)
    with pytest.raises(error) as raised:
        call()
    assert footprint(practice, episode_id) == before
    assert CANARY not in str(raised.value)
    return raised.value


# -- bad input --------------------------------------------------------------------------------------------


def test_a_rater_the_measure_does_not_allow_is_refused(practice: Practice, actor: Actor) -> None:
    ep = couple(practice, actor)
    by_parent = attrs.evolve(srs(practice), rater="parent")  # the SRS is the client's own rating only
    error = refused_writes_nothing(
        practice, ep, lambda: practice.record_session(actor, ep, attended(day(7), by_parent)), ValidationError
    )
    assert isinstance(error, ValidationError)
    assert (error.field, error.rule) == ("session.administrations[0].rater", "rater-not-allowed")


def test_the_ors_allows_collateral_raters_and_the_clinician_is_refused(
    practice: Practice, actor: Actor
) -> None:
    ep = couple(practice, actor)
    for rater in ("parent", "partner", "teacher"):
        practice.record_session(actor, ep, attended(day(7), attrs.evolve(ors(practice), rater=rater)))
    clinician_rated = attrs.evolve(ors(practice), rater="clinician")
    refused_writes_nothing(
        practice,
        ep,
        lambda: practice.record_session(actor, ep, attended(day(8), clinician_rated)),
        ValidationError,
    )


@pytest.mark.parametrize("where", ["about", "attended_by"])
def test_a_participant_not_in_the_episode_is_refused(practice: Practice, actor: Actor, where: str) -> None:
    ep = couple(practice, actor)
    if where == "about":
        session = attended(day(7), attrs.evolve(ors(practice), about="client-99"))
        field = "session.administrations[0].about"
    else:
        session = attrs.evolve(attended(day(7)), attended_by=("client-1", "client-99"))
        field = "session.attended_by[1]"
    error = refused_writes_nothing(
        practice, ep, lambda: practice.record_session(actor, ep, session), ValidationError
    )
    assert isinstance(error, ValidationError)
    assert (error.field, error.rule) == (field, "participant-not-in-episode")
    assert "client-99" not in str(error)


def test_a_participant_without_consent_to_measures_is_not_measured(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    no = Consent(treatment=True, measures=False)
    practice.add_participant(actor, ep, Participant(PARTNER, "partner", no), added_on=day(2))
    session = attended(day(7), attrs.evolve(ors(practice), about=PARTNER))
    error = refused_writes_nothing(
        practice, ep, lambda: practice.record_session(actor, ep, session), ValidationError
    )
    assert isinstance(error, ValidationError)  # as the identified client's: one rule, one error
    assert (error.field, error.rule) == ("session.administrations[0].about", "consent-measures")
    assert PARTNER not in str(error)


@pytest.mark.parametrize(
    ("participant", "rule"),
    [
        (Participant(PARTNER, "partner", CONSENTED), "participant-present"),
        (Participant("client-1", "partner", CONSENTED), "participant-present"),
        (Participant("client-3", "client", CONSENTED), "participant-role"),
    ],
)
def test_adding_a_participant_twice_or_a_second_identified_client_is_refused(
    practice: Practice, actor: Actor, participant: Participant, rule: str
) -> None:
    ep = couple(practice, actor)
    error = refused_writes_nothing(
        practice,
        ep,
        lambda: practice.add_participant(actor, ep, participant, added_on=day(3)),
        LifecycleError,
    )
    assert isinstance(error, LifecycleError)
    assert error.rule == rule


def _group(practice: Practice, actor: Actor, n: int) -> list[str]:
    members = []
    for i in range(n):
        ep, _ = active_episode(practice, actor, client=f"member-{i}")
        members.append(ep)
    return members


def _gsrs(level: float) -> Administration:
    return Administration(
        "gsrs", "1.0", "end", dict.fromkeys(("relationship", "goals_topics", "approach", "overall"), level)
    )


def test_attendance_for_someone_outside_the_group_writes_nothing(practice: Practice, actor: Actor) -> None:
    inside, also, outside = _group(practice, actor, 3)
    for ep in (inside, also):
        practice.join_group(actor, ep, group_id="group-1", facilitator_ids=(actor.id,), joined_on=day(3))
    session = GroupSession(
        day(7),
        "in-person",
        (
            MemberAttendance(inside, "attended", (_gsrs(9.0),)),
            MemberAttendance(also, "no-show"),
            MemberAttendance(outside, "attended", (_gsrs(9.0),)),
        ),
    )
    before = [footprint(practice, ep) for ep in (inside, also, outside)]
    with pytest.raises(ValidationError) as raised:
        practice.record_group_session(actor, "group-1", session)
    assert (raised.value.field, raised.value.rule) == ("session.members[2].episode_id", "not-a-group-member")
    assert [footprint(practice, ep) for ep in (inside, also, outside)] == before


def test_a_group_session_is_recorded_once_for_every_member(practice: Practice, actor: Actor) -> None:
    a, b = _group(practice, actor, 2)
    co = Actor("clin-2", actor.role, actor.clinic_id)
    for ep in (a, b):
        practice.join_group(
            actor, ep, group_id="group-1", facilitator_ids=(actor.id, co.id), joined_on=day(3)
        )
    session = GroupSession(
        day(7), "in-person", (MemberAttendance(a, "attended", (_gsrs(8.0),)), MemberAttendance(b, "no-show"))
    )
    # the co-facilitator records it: the group's sessions are theirs to record too
    done = practice.record_group_session(co, "group-1", session, idempotency_key="group-1-week-1")
    again = practice.record_group_session(co, "group-1", session, idempotency_key="group-1-week-1")
    assert again.group_session_id == done.group_session_id
    assert [r.duplicate for r in again.sessions] == [True, True]
    recorded = [
        next(e.event for e in practice.timeline(actor, ep) if isinstance(e.event, SessionRecorded))
        for ep in (a, b)
    ]
    assert [r.session.group_session_id for r in recorded] == [done.group_session_id] * 2
    assert [r.session.attendance.value for r in recorded] == ["attended", "no-show"]
    assert practice.episode(actor, a).latest_scores["gsrs"].total == 32.0
    assert "alliance-below-cutoff" in {al.rule_id for al in practice.alerts(actor, a).values()}
    # a clinician who facilitates nothing here may not
    with pytest.raises(Exception, match="caseload"):
        practice.record_group_session(Actor("clin-9", actor.role, actor.clinic_id), "group-1", session)


def test_a_group_has_one_or_two_facilitators(practice: Practice, actor: Actor) -> None:
    (ep,) = _group(practice, actor, 1)
    for facilitators in ((), ("a", "b", "c"), ("a", "a")):
        with pytest.raises(ValidationError) as raised:
            practice.join_group(actor, ep, group_id="g", facilitator_ids=facilitators, joined_on=day(3))
        assert raised.value.field == "facilitator_ids"


# -- each participant tracked on their own ---------------------------------------------------------------


def test_each_participant_and_rater_is_tracked_on_their_own(practice: Practice, actor: Actor) -> None:
    ep = couple(practice, actor)
    for n, level in ((7, 0.4), (14, 0.6)):
        practice.record_session(
            actor,
            ep,
            attended(
                day(n),
                ors(practice, 0.5),
                attrs.evolve(ors(practice, level), about=PARTNER),
                attrs.evolve(ors(practice, level + 0.1), about=PARTNER, rater="partner"),
            ),
        )
    state = practice.episode(actor, ep)
    own = state.tracks[track_key("ors", PARTNER, "client")]
    collateral = state.tracks[track_key("ors", PARTNER, "partner")]
    assert (own.first.total, own.latest.total) == (16.0, 24.0)
    assert (collateral.first.total, collateral.latest.total) == (20.0, 28.0)
    assert own.previous == own.first
    # the identified client's own scores stay where a single-client episode keeps them
    assert state.latest_scores["ors"].total == 20.0
    assert set(state.participant_refs) == {"client-1", PARTNER}


def test_alliance_alerts_are_per_participant(practice: Practice, actor: Actor) -> None:
    ep = couple(practice, actor)
    practice.record_session(
        actor, ep, attended(day(7), srs_at(practice, 38.0), srs_at(practice, 30.0, PARTNER))
    )
    alerts = practice.alerts(actor, ep).values()
    below = [a for a in alerts if a.rule_id == "alliance-below-cutoff"]
    assert [(a.measure_id, a.participant) for a in below] == [("srs", PARTNER)]
    practice.record_session(
        actor, ep, attended(day(14), srs_at(practice, 34.0), srs_at(practice, 30.0, PARTNER))
    )
    below = [a for a in practice.alerts(actor, ep).values() if a.rule_id == "alliance-below-cutoff"]
    assert sorted((a.participant or "") for a in below) == ["", PARTNER]


# -- the split alliance at its boundary -----------------------------------------------------------------


@pytest.mark.parametrize(("gap", "raised"), [(4.0, True), (3.9, False), (5.2, True)])
def test_the_split_alliance_alert_at_its_boundary(
    practice: Practice, actor: Actor, gap: float, raised: bool
) -> None:
    """The default gap is 4 points (configurable): 4.0 apart raises it, 3.9 (a tenth less, the SRS's
    resolution) does not. Both ratings stay at or above the SRS cutoff, so only the split speaks."""
    assert practice.feedback.split_alliance_gap == 4.0
    ep = couple(practice, actor)
    practice.record_session(
        actor, ep, attended(day(7), srs_at(practice, 40.0), srs_at(practice, 40.0 - gap, PARTNER))
    )
    split = [a for a in practice.alerts(actor, ep).values() if a.rule_id == "split-alliance"]
    assert bool(split) is raised
    if raised:
        assert (split[0].measure_id, split[0].participant) == ("srs", None)


@pytest.mark.parametrize(("gap", "raised"), [(2.0, True), (1.9, False)])
def test_the_split_alliance_gap_is_configurable(
    tmp_path: Any, actor: Actor, gap: float, raised: bool
) -> None:
    with open_practice(tmp_path / "p.sqlite", feedback=FeedbackConfig(split_alliance_gap=2.0)) as practice:
        ep = couple(practice, actor)
        practice.record_session(
            actor, ep, attended(day(7), srs_at(practice, 40.0), srs_at(practice, 40.0 - gap, PARTNER))
        )
        split = [a for a in practice.alerts(actor, ep).values() if a.rule_id == "split-alliance"]
        assert bool(split) is raised


def test_the_wai_sr_never_splits(practice: Practice, actor: Actor) -> None:
    """The four-point default was chosen for the 0-40 SRS and GSRS: participants' WAI-SR ratings (12-60, no
    published threshold) twenty points apart raise nothing, while the SRS of the same session does."""
    ep = couple(practice, actor)

    def wai_sr(each: int, about: str | None = None) -> Administration:
        return Administration("wai-sr", "1.0", "end", {f"q{i}": each for i in range(1, 13)}, about=about)

    practice.record_session(actor, ep, attended(day(7), wai_sr(5), wai_sr(3, PARTNER)))
    assert "split-alliance" not in {a.rule_id for a in practice.alerts(actor, ep).values()}
    practice.record_session(
        actor, ep, attended(day(14), srs_at(practice, 40.0), srs_at(practice, 36.0, PARTNER))
    )
    split = [a.measure_id for a in practice.alerts(actor, ep).values() if a.rule_id == "split-alliance"]
    assert split == ["srs"]


def test_a_single_rating_never_splits(practice: Practice, actor: Actor) -> None:
    ep = couple(practice, actor)
    practice.record_session(actor, ep, attended(day(7), srs_at(practice, 20.0, PARTNER)))
    assert "split-alliance" not in {a.rule_id for a in practice.alerts(actor, ep).values()}


# -- existing single-client databases load unchanged ------------------------------------------------------


def test_version_1_session_and_alert_payloads_upcast_to_an_episode_with_one_participant() -> None:
    session_v1 = {
        "session_id": "s1",
        "number": 1,
        "attended_number": 1,
        "session": {
            "held_on": "2026-01-12",
            "modality": "video",
            "attendance": "attended",
            "administrations": [
                {"measure_id": "ors", "version": "1.0", "timing": "start", "answers": {"overall": 5.0}}
            ],
            "helpful": "",
            "not_helpful": "",
        },
        "scores": [
            {"measure_id": "ors", "version": "1.0", "total": 20.0, "subscales": {}, "band": None,
             "clinical": True, "risk_items": []}
        ],
    }  # fmt: skip
    alert_v1 = {
        "alert_id": "a1", "rule_id": "review-due", "severity": "info", "message": "A progress review is due.",
        "raised_on": "2026-01-12", "at_session": 6, "measure_id": None,
    }  # fmt: skip
    codec = Codec()
    session = codec.decode(_stored("session-recorded", session_v1))
    assert isinstance(session, SessionRecorded)
    admin, score = session.session.administrations[0], session.scores[0]
    assert (admin.rater.value, admin.about, admin.rater_ref) == ("client", None, None)
    assert (score.own, session.session.attended_by, session.session.group_session_id) == (True, (), None)
    alert = codec.decode(_stored("alert-raised", alert_v1))
    assert alert.participant is None  # type: ignore[attr-defined]


def _stored(event_type: str, payload: dict[str, Any]) -> StoredEvent:
    from datetime import UTC, datetime

    at = datetime(2026, 1, 12, tzinfo=UTC)
    return StoredEvent(
        "ep", 1, "e1", event_type, 1, at, at, "clin-1", "clinician", "clinic-1", json.dumps(payload)
    )
