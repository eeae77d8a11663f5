"""No clinical date after the clinic's today: a typo (2062 for 2026) would corrupt every report counting days
since it. The rule is one check on every command's inputs (the runner's, for the facade and a batch alike);
these tests enumerate the command table, so a new dated command cannot leave it out."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Ending,
    GoalRevision,
    GroupSession,
    MaintenancePlan,
    MemberAttendance,
    Participant,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.practice import Practice

from .conftest import (
    CANARY,
    DAY0,
    active_episode,
    attended,
    clinician,
    consultation,
    footprint,
    goals,
    proceed,
)

CLINIC = "clinic-1"
#: 12:00 UTC on 1 June is 02:00 on 2 June at UTC+14: the clinic's today is not the UTC date.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ZONE = "Pacific/Kiritimati"
TODAY = date(2026, 6, 2)


def _practice(now: datetime = NOW, zone: str = ZONE) -> Practice:
    # the practice's own zone is UTC: only the clinic's zone gives the clinic's today
    return open_practice("memory:", clock=lambda: now, clinic_time_zones={CLINIC: zone})


def _phq9() -> Administration:
    return Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})


@attrs.frozen
class _Setup:
    p: Practice
    actor: Actor
    ep: str
    session_id: str
    session_event_id: str
    rupture_id: str
    goal_id: str


def _setup() -> _Setup:
    p, me = _practice(), clinician(CLINIC)
    ep, goal_ids = active_episode(p, me)
    session = p.record_session(me, ep, attended(DAY0 + timedelta(days=3)))
    assert session.record_id is not None
    note = RuptureNote(
        noted_on=DAY0 + timedelta(days=3), kind="withdrawal", markers=("denial",), likely_cause="other"
    )
    rupture = p.note_rupture(me, ep, note)
    assert rupture.record_id is not None
    event_id = next(e.event_id for e in p.timeline(me, ep) if e.type == "session-recorded")
    return _Setup(p, me, ep, session.record_id, event_id, rupture.record_id, goal_ids[0])


def _session(d: date) -> Session:
    return Session(held_on=d, modality="video", attendance="attended")


#: Each command's inputs, every date in them ``d`` (a datetime: ``at``). A new command must be added here:
#: the test below then finds its dates and checks the rule is applied to each.
ARGS: dict[str, Callable[[_Setup, date, datetime], dict[str, Any]]] = {
    "start_episode": lambda s, d, at: {
        "client_ref": "client-9",
        "clinician_id": s.actor.id,
        "opened_on": d,
        "population": None,
    },
    "record_consultation": lambda s, d, at: {"consultation": consultation(d)},
    "decide_fit": lambda s, d, at: {"decision": proceed(d)},
    "agree_goals": lambda s, d, at: {"goals": goals(1), "agreed_on": d},
    "revise_goal": lambda s, d, at: {"revision": GoalRevision(s.goal_id, reason="r"), "revised_on": d},
    "record_session": lambda s, d, at: {"session": _session(d)},
    "correct_session": lambda s, d, at: {"session_id": s.session_id, "session": _session(d), "reason": "r"},
    "record_review": lambda s, d, at: {"review": Review(held_on=d, decision="continue")},
    "note_rupture": lambda s, d, at: {
        "note": RuptureNote(noted_on=d, kind="withdrawal", markers=("denial",), likely_cause="other")
    },
    "record_repair": lambda s, d, at: {
        "rupture_id": s.rupture_id,
        "attempt": RepairAttempt(attempted_on=d, strategies=("give-rationale",), resolved=True),
    },
    "put_on_hold": lambda s, d, at: {"on": d, "reason": "r"},
    "resume": lambda s, d, at: {"on": d},
    "transfer": lambda s, d, at: {"to_clinician_id": "clin-2", "on": d, "reason": "r"},
    "plan_ending": lambda s, d, at: {"on": d, "target_date": d + timedelta(days=30)},
    "close_episode": lambda s, d, at: {
        "ending": Ending(
            ended_on=d,
            planned=True,
            reason="goals-met",
            maintenance_plan=MaintenancePlan(booster_sessions=(d + timedelta(days=60),)),
        )
    },
    "acknowledge_alert": lambda s, d, at: {"alert_id": "alert-1", "on": d},
    "resolve_alert": lambda s, d, at: {"alert_id": "alert-1", "note": "n", "on": d},
    "add_participant": lambda s, d, at: {
        "participant": Participant("client-4", "parent", Consent(True, True)),
        "added_on": d,
    },
    "join_group": lambda s, d, at: {"group_id": "g-1", "facilitator_ids": (s.actor.id,), "joined_on": d},
    "record_process_note": lambda s, d, at: {"written_on": d, "text": "t"},
    "add_addendum": lambda s, d, at: {"session_id": s.session_id, "text": "t", "reason": "r", "added_on": d},
    "attach_disagreement": lambda s, d, at: {
        "target_event_id": s.session_event_id,
        "statement": "s",
        "received_on": d,
    },
    "set_lockbox": lambda s, d, at: {
        "scope": "record",
        "classes": (),
        "event_ids": (),
        "recipients": (),
        "on": d,
    },
    "lift_lockbox": lambda s, d, at: {"directive_id": "lockbox-1", "on": d},
    "request_administration": lambda s, d, at: {
        "measure": "phq-9",
        "point": "between",
        "session_id": None,
        "language": None,
        "expires_in": None,
        "remind_after": None,
    },
    "kiosk_code": lambda s, d, at: {
        "measure": "phq-9",
        "point": "between",
        "session_id": None,
        "language": None,
    },
    "revoke_request": lambda s, d, at: {"request_id": "request-1"},
    "submit_response": lambda s, d, at: {
        "request": s.p.store.get_request(  # type: ignore[attr-defined]
            CLINIC, s.p.request_administration(s.actor, s.ep, measure="phq-9").request_id
        ),
        "administration": _phq9(),
    },
    "record_client_response": lambda s, d, at: {
        "administration": _phq9(),
        "responded_at": at,
        "session_id": None,
        "point": None,
    },
    "set_protocol": lambda s, d, at: {"protocol": "fit", "on": d},
    "change_population": lambda s, d, at: {"population": "adolescent", "on": d},
    "change_measures_consent": lambda s, d, at: {"measures": False, "on": d, "participant": None},
}

#: Dates that name a day to come, which the rule leaves alone (each is checked to be accepted below).
PLANNED = {
    ("plan_ending", "target_date"),
    ("close_episode", "ending.maintenance_plan.booster_sessions[0]"),
}
#: Not the caller's dates: the stored request a client's answers come through, which the library made.
LIBRARYS_OWN = {("submit_response", "request")}


def _dated(path: str, value: object) -> Iterator[str]:
    """The path of every date in ``value`` (a datetime too), found by its type alone: any attrs class."""
    if isinstance(value, date):
        yield path
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _dated(f"{path}[{i}]", item)
    elif attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            yield from _dated(f"{path}.{field.name}", getattr(value, field.name))


def _replaced(value: Any, parts: list[str], new: object) -> Any:
    if not parts:
        return new
    head, rest = parts[0], parts[1:]
    if head.startswith("["):
        items = list(value)
        items[int(head[1:-1])] = _replaced(items[int(head[1:-1])], rest, new)
        return tuple(items)
    return attrs.evolve(value, **{head: _replaced(getattr(value, head), rest, new)})


def _with(args: dict[str, Any], path: str, new: object) -> dict[str, Any]:
    name, *parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    return {**args, name: _replaced(args[name], parts, new)}


def _cases() -> Iterator[tuple[str, str]]:
    probe = _setup()
    at = datetime.combine(TODAY, time(0, 30), ZoneInfo(ZONE))
    for name, build in ARGS.items():
        for key, value in build(probe, TODAY, at).items():
            for path in _dated(key, value):
                if (name, key) not in LIBRARYS_OWN and (name, path) not in PLANNED:
                    yield name, path
    probe.p.close()


CASES = sorted(_cases())


def test_every_command_of_the_table_is_enumerated_and_the_dated_ones_are_many() -> None:
    assert set(ARGS) == set(COMMANDS)
    dated = {name for name, _ in CASES}
    # every command that takes a date or a record holding one (the checks would fail silently if none were)
    assert {"start_episode", "record_session", "close_episode", "record_client_response"} <= dated
    assert len(dated) >= 24


def _run(s: _Setup, name: str, args: dict[str, Any]) -> Any:
    episode = None if name == "start_episode" else s.ep
    return s.p._runner.run(COMMANDS[name], s.actor, episode, args, private={"now": NOW})


@pytest.mark.parametrize(("name", "path"), CASES)
def test_a_date_after_the_clinics_today_is_refused_and_writes_nothing(name: str, path: str) -> None:
    s = _setup()
    at = datetime.combine(TODAY, time(0, 30), ZoneInfo(ZONE))
    args = ARGS[name](s, TODAY, at)
    tomorrow = at + timedelta(days=1) if "responded_at" in path else TODAY + timedelta(days=1)
    before = footprint(s.p, s.ep)
    with pytest.raises(ValidationError) as refused:
        _run(s, name, _with(args, path, tomorrow))
    assert (refused.value.field, refused.value.rule) == (path, "future")
    assert tomorrow.isoformat()[:10] not in str(refused.value)  # the rule, never the value
    assert footprint(s.p, s.ep) == before
    s.p.close()


@pytest.mark.parametrize("name", sorted({name for name, _ in CASES}))
def test_dates_on_the_clinics_today_and_planned_days_to_come_are_not_refused(name: str) -> None:
    """Today (and an ending's target date or booster sessions after it) passes the rule; the command may
    still be refused for another reason (the episode's stage), never as a date in the future."""
    s = _setup()
    at = datetime.combine(TODAY, time(0, 30), ZoneInfo(ZONE))
    refused: AlliancekitError | None = None
    try:
        _run(s, name, ARGS[name](s, TODAY, at))
    except AlliancekitError as error:
        refused = error
    assert getattr(refused, "rule", None) != "future", name
    s.p.close()


@pytest.mark.parametrize(
    ("zone", "now", "today"),
    [
        # the clinic's day is ahead of the UTC date, then behind it
        ("Pacific/Auckland", datetime(2026, 3, 10, 23, 30, tzinfo=UTC), date(2026, 3, 11)),
        ("America/Los_Angeles", datetime(2026, 3, 10, 5, 0, tzinfo=UTC), date(2026, 3, 9)),
    ],
)
def test_the_boundary_is_the_clinics_today(zone: str, now: datetime, today: date) -> None:
    p, me = _practice(now, zone), clinician(CLINIC)
    assert today != now.date()
    assert p.clinic_today(CLINIC) == today
    tomorrow = today + timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        p.start_episode(me, client_ref="client-1", clinician_id=me.id, opened_on=tomorrow)
    assert (refused.value.field, refused.value.rule) == ("opened_on", "future")
    assert p.store.caseload(open_only=False) == []
    assert p.store.audit_records() == []
    ep = p.start_episode(me, client_ref="client-1", clinician_id=me.id, opened_on=today)
    p.record_consultation(me, ep, consultation(today))
    p.decide_fit(me, ep, proceed(today))
    p.agree_goals(me, ep, goals(1), agreed_on=today)
    before = footprint(p, ep)
    with pytest.raises(ValidationError) as refused:
        p.record_session(me, ep, attended(tomorrow))
    assert (refused.value.field, refused.value.rule) == ("session.held_on", "future")
    midnight = datetime.combine(tomorrow, time(0, 0), ZoneInfo(zone))  # the clinic's next day begins
    with pytest.raises(ValidationError) as refused:
        p.record_client_response(me, ep, _phq9(), responded_at=midnight)
    assert (refused.value.field, refused.value.rule) == ("responded_at", "future")
    assert footprint(p, ep) == before
    p.record_session(me, ep, attended(today))
    p.record_client_response(me, ep, _phq9(), responded_at=midnight - timedelta(microseconds=1))
    p.close()


def test_a_group_session_in_the_future_writes_nothing_for_any_member() -> None:
    s = _setup()
    s.p.join_group(s.actor, s.ep, group_id="g-1", facilitator_ids=(s.actor.id,), joined_on=TODAY)
    members = (MemberAttendance(s.ep, "attended"),)
    before = footprint(s.p, s.ep)
    with pytest.raises(ValidationError) as refused:
        s.p.record_group_session(s.actor, "g-1", GroupSession(TODAY + timedelta(days=1), "video", members))
    assert (refused.value.field, refused.value.rule) == ("session.held_on", "future")
    assert footprint(s.p, s.ep) == before
    assert s.p.record_group_session(s.actor, "g-1", GroupSession(TODAY, "video", members)).sessions
    s.p.close()


def test_a_future_date_in_a_batch_raises_at_its_call_and_holds_nothing_of_it() -> None:
    p, me = _practice(), clinician(CLINIC)
    with p.batch(size=100) as batch:
        ep, _ = active_episode(batch, me)
        held = batch.pending
        with pytest.raises(ValidationError) as refused:
            batch.record_session(me, ep, attended(TODAY + timedelta(days=1)))
        assert (refused.value.field, refused.value.rule) == ("session.held_on", "future")
        assert CANARY not in str(refused.value)
        assert batch.pending == held
        with pytest.raises(ValidationError):
            batch.close_episode(me, ep, Ending(TODAY + timedelta(days=1), planned=False, reason="dropout"))
        batch.record_session(me, ep, attended(TODAY))
    types = [e.type for e in p.store.load_events(ep)]
    assert types.count("session-recorded") == 1
    assert "episode-closed" not in types
    assert p.episode(me, ep).last_session_on == TODAY
    p.close()
