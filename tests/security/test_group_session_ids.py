"""A group session is made by ``record_group_session`` only.

A group's co-facilitator may write a member's episode only as a part of one of the group's sessions, and a
plain ``record_session`` cannot show that its ``group_session_id`` is one (nothing stores the group
sessions to check it against): named there, a made-up id, or even a real one, is refused to the
co-facilitator on every path that reaches the command (the facade and a batch; the CLI and the importers
write through the batch path as the clinician of record the source names, in episodes they open), with the
same ``AccessDenied`` and one audit entry, and nothing written. The group path, its keyed repeats and
every right of the clinician of record are as they were. On each builtin store.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice, open_practice
from alliancekit.core.command_table import COMMANDS, CommandSpec
from alliancekit.domain import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GroupSession,
    MemberAttendance,
    Role,
    Session,
)
from alliancekit.errors import AccessDenied
from alliancekit.events.types import SessionRecorded

from .helpers import CLINIC, COFACILITATED_GROUP, FACILITATORS, Clock, active_episode, actor

D = date(2026, 1, 19)
MADE_UP = "gs-made-up"
REFUSED = "a group's co-facilitator writes only parts of the group's sessions"


@attrs.define
class Group:
    """Two members of clin-a's group co-facilitated by clin-f: ``ep`` (with an individual session of
    clin-a's, ``individual``) and ``other``; ``real`` is a group session clin-a recorded for ``other``
    only."""

    p: Practice
    ep: str
    individual: str
    other: str
    real: str


@pytest.fixture(params=["memory", "sqlite"])
def group(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Group]:
    location = "memory:" if request.param == "memory" else tmp_path / "practice.sqlite"
    with open_practice(location, clock=Clock()) as p:
        setup = active_episode(p)
        me = _me()
        other = p.start_episode(me, client_ref="client-2", clinician_id=me.id, opened_on=date(2026, 1, 5))
        consent = Consent(treatment=True, measures=True)
        p.record_consultation(
            me, other, Consultation(held_on=date(2026, 1, 5), modality="video", consent=consent)
        )
        p.decide_fit(me, other, FitDecision(outcome="proceed", decided_on=date(2026, 1, 5), rationale="r"))
        for ep in (setup.episode_id, other):
            p.join_group(me, ep, group_id=COFACILITATED_GROUP, facilitator_ids=FACILITATORS, joined_on=D)
        real = p.record_group_session(
            me, COFACILITATED_GROUP, GroupSession(D, "in-person", (MemberAttendance(other, "attended"),))
        )
        yield Group(p, setup.episode_id, setup.session_id, other, real.group_session_id)


def _me() -> Actor:
    found = actor("clin_own")
    assert found is not None
    return found


def _co() -> Actor:
    found = actor("clin_cofacilitator")
    assert found is not None
    return found


def _part(group_session_id: str | None) -> Session:
    return Session(held_on=D, modality="in-person", attendance="attended", group_session_id=group_session_id)


def _cofacilitators_part(g: Group) -> tuple[str, str]:
    """A group session clin-f records for ``ep``, and ``ep``'s part of it."""
    made = g.p.record_group_session(
        _co(), COFACILITATED_GROUP, GroupSession(D, "in-person", (MemberAttendance(g.ep, "attended"),))
    )
    (part,) = made.sessions
    assert part.record_id is not None
    return made.group_session_id, part.record_id


# -- the writes that name a group session, enumerated from the command table ------------------------------

#: Each command whose access depends on the group session it names: given the group, what to prepare, and
#: then clin-f's write in ``ep`` (through ``target``, the facade or a batch) as a part of the group session
#: ``gsid``, where nothing made ``ep``'s part of it.
Write = Callable[[Group], Callable[[Any, str], object]]


def _recording(g: Group) -> Callable[[Any, str], object]:
    return lambda target, gsid: target.record_session(_co(), g.ep, _part(gsid))


def _adding(g: Group) -> Callable[[Any, str], object]:
    """clin-a's individual session, made a part of the group session."""
    return lambda target, gsid: target.correct_session(_co(), g.ep, g.individual, _part(gsid), reason="r")


def _moving(g: Group) -> Callable[[Any, str], object]:
    """A part of a group session clin-f made, moved to the group session."""
    _, part = _cofacilitators_part(g)
    return lambda target, gsid: target.correct_session(_co(), g.ep, part, _part(gsid), reason="r")


WRITES: dict[str, list[Write]] = {"record_session": [_recording], "correct_session": [_adding, _moving]}


def _names_a_group_session(spec: CommandSpec) -> bool:
    return spec.group_session is not attrs.fields(CommandSpec).group_session.default


def test_every_command_that_names_a_group_session_is_tried() -> None:
    assert {name for name, spec in COMMANDS.items() if _names_a_group_session(spec)} == set(WRITES)


def _refusals(p: Practice) -> list[Any]:
    return [r for r in p.store.audit_records() if r.outcome == "refused"]


def _through(path: str, p: Practice) -> AbstractContextManager[Any]:
    return p.batch() if path == "batch" else nullcontext(p)


CASES = [(name, i) for name, writes in WRITES.items() for i in range(len(writes))]


@pytest.mark.parametrize("path", ["facade", "batch"])
@pytest.mark.parametrize("named", ["made-up", "real-elsewhere"])
@pytest.mark.parametrize(("command", "index"), CASES)
def test_a_group_session_the_member_has_no_part_in_is_refused_to_a_cofacilitator(
    group: Group, command: str, index: int, named: str, path: str
) -> None:
    """A made-up id, and the id of a real group session of the group that the member has no part in (what a
    plain record_session would make up by copying it), are refused alike: one audit entry, nothing
    written."""
    g, write = group, WRITES[command][index](group)
    gsid = MADE_UP if named == "made-up" else g.real
    version = g.p.episode(_me(), g.ep).version
    before = len(_refusals(g.p))
    with _through(path, g.p) as target, pytest.raises(AccessDenied) as refused:
        write(target, gsid)
    assert (refused.value.action, refused.value.reason) == (COMMANDS[command].action, REFUSED)
    refusals = _refusals(g.p)[before:]
    assert [(r.actor_id, r.action, r.record_id) for r in refusals] == [("clin-f", refused.value.action, g.ep)]
    assert g.p.episode(_me(), g.ep).version == version


def _parts(g: Group) -> list[str]:
    """``ep``'s sessions that are parts of a group session, oldest first."""
    return [
        e.event.session_id
        for e in g.p.timeline(_me(), g.ep)
        if e.type == "session-recorded" and e.event.session.group_session_id is not None
    ]


def test_a_real_group_session_named_by_a_plain_record_session_is_refused_even_where_the_member_has_a_part(
    group: Group,
) -> None:
    """A second part of a group session the member has a part in is no group session's business: only a
    repeat of record_group_session (with its key) writes a part of a group session already made."""
    g = group
    gsid, _ = _cofacilitators_part(g)
    for path in ("facade", "batch"):
        before = len(_refusals(g.p))
        with _through(path, g.p) as target, pytest.raises(AccessDenied, match="only parts of the group"):
            target.record_session(_co(), g.ep, _part(gsid))
        assert len(_refusals(g.p)) == before + 1
    assert len(_parts(g)) == 1


# -- the group path, and the clinician of record, as before ------------------------------------------------


def test_a_cofacilitator_records_and_corrects_the_groups_sessions(group: Group) -> None:
    g, co = group, _co()
    gsid, part = _cofacilitators_part(g)
    before = len(_refusals(g.p))
    g.p.correct_session(co, g.ep, part, attrs.evolve(_part(gsid), modality="video"), reason="modality")
    with g.p.batch() as batch:
        batch.correct_session(co, g.ep, part, attrs.evolve(_part(gsid), modality="phone"), reason="phone")
    assert len(g.p.session_history(_me(), g.ep, part).corrections) == 2
    assert len(_refusals(g.p)) == before


def test_a_keyed_repeat_completes_the_missing_parts_under_the_same_group_session(group: Group) -> None:
    """The first call wrote ``ep``'s part only (as a call cut short after it would have); the repeat with
    the same key writes ``other``'s, under the same group session, and answers ``ep``'s from its key."""
    g, co = group, _co()
    first = g.p.record_group_session(
        co,
        COFACILITATED_GROUP,
        GroupSession(D, "in-person", (MemberAttendance(g.ep, "attended"),)),
        idempotency_key="week-3",
    )
    both = GroupSession(
        D, "in-person", (MemberAttendance(g.ep, "attended"), MemberAttendance(g.other, "no-show"))
    )
    again = g.p.record_group_session(co, COFACILITATED_GROUP, both, idempotency_key="week-3")
    assert again.group_session_id == first.group_session_id
    assert [r.duplicate for r in again.sessions] == [True, False]
    assert again.sessions[0].record_id == first.sessions[0].record_id
    last = g.p.record_group_session(co, COFACILITATED_GROUP, both, idempotency_key="week-3")
    assert [r.duplicate for r in last.sessions] == [True, True]
    timeline = g.p.timeline(_me(), g.other)
    recorded = [e.event.session.group_session_id for e in timeline if e.type == "session-recorded"]
    assert recorded == [g.real, first.group_session_id]


def test_the_clinician_of_record_keeps_every_right(group: Group) -> None:
    """clin-a names any group session in their own client's sessions (an import of a group's history does
    so), made up or not, and corrects the co-facilitator's parts, on the facade and in a batch."""
    g, me = group, _me()
    _, part = _cofacilitators_part(g)
    before = len(_refusals(g.p))
    g.p.record_session(me, g.ep, _part(MADE_UP))
    g.p.record_session(me, g.ep, _part(g.real))
    g.p.correct_session(me, g.ep, part, _part("gs-moved"), reason="r")
    with g.p.batch() as batch:
        batch.record_session(me, g.ep, _part("gs-also-made-up"))
        batch.correct_session(me, g.ep, g.individual, _part(MADE_UP), reason="r")
    assert len(_refusals(g.p)) == before
    assert len(_parts(g)) == 4


# -- a group session id given by hand, and parts recorded before the id said it was made -------------------


def test_a_hand_written_group_session_id_gives_a_cofacilitator_no_correction(group: Group) -> None:
    """clin-a (the clinician of record) names a group session by hand in a plain record_session: it is
    recorded, but nothing made it a group session, so clin-f may not correct the session even keeping the
    id (facade or batch: one audit entry each, nothing written), while clin-a may."""
    g, me, co = group, _me(), _co()
    recorded = g.p.record_session(me, g.ep, _part(MADE_UP))
    assert recorded.record_id is not None
    version = g.p.episode(me, g.ep).version
    for path in ("facade", "batch"):
        before = len(_refusals(g.p))
        with _through(path, g.p) as target, pytest.raises(AccessDenied) as refused:
            target.correct_session(co, g.ep, recorded.record_id, _part(MADE_UP), reason="r")
        assert refused.value.reason == REFUSED
        assert [(r.actor_id, r.record_id) for r in _refusals(g.p)[before:]] == [("clin-f", g.ep)]
    assert g.p.episode(me, g.ep).version == version
    g.p.correct_session(
        me, g.ep, recorded.record_id, attrs.evolve(_part(MADE_UP), modality="video"), reason="r"
    )
    assert len(g.p.session_history(me, g.ep, recorded.record_id).corrections) == 1


def test_a_cofacilitator_corrects_a_part_of_a_group_session_the_clinician_of_record_made(
    group: Group,
) -> None:
    """The id record_group_session made stays a group session's through corrections that keep it, whoever
    recorded the group session; a correction that moves the part elsewhere ends that."""
    g, me, co = group, _me(), _co()
    made = g.p.record_group_session(
        me, COFACILITATED_GROUP, GroupSession(D, "in-person", (MemberAttendance(g.ep, "attended"),))
    )
    (part,) = made.sessions
    assert part.record_id is not None
    gsid = made.group_session_id
    g.p.correct_session(co, g.ep, part.record_id, attrs.evolve(_part(gsid), modality="video"), reason="r")
    with g.p.batch() as batch:
        batch.correct_session(
            co, g.ep, part.record_id, attrs.evolve(_part(gsid), modality="phone"), reason="r"
        )
    g.p.correct_session(me, g.ep, part.record_id, _part("gs-by-hand"), reason="moved")
    with pytest.raises(AccessDenied, match="only parts of the group"):
        g.p.correct_session(co, g.ep, part.record_id, _part("gs-by-hand"), reason="r")
    g.p.correct_session(me, g.ep, part.record_id, _part(gsid), reason="back")  # by hand now: still not made
    with pytest.raises(AccessDenied, match="only parts of the group"):
        g.p.correct_session(co, g.ep, part.record_id, _part(gsid), reason="r")
    assert len(g.p.session_history(me, g.ep, part.record_id).corrections) == 4


def _as_version_3(path: Path, session_id: str) -> None:
    """Store the recording of ``session_id`` as version 3 of session-recorded wrote it (no word on whether
    its group session was made), as a practice file written before version 4 holds it."""
    with closing(sqlite3.connect(path)) as conn, conn:
        rows = conn.execute("SELECT event_id, payload FROM events WHERE type = 'session-recorded'").fetchall()
        (event_id, payload) = next((e, p) for e, p in rows if json.loads(p)["session_id"] == session_id)
        data = json.loads(payload)
        del data["group_session_minted"]
        conn.execute(
            "UPDATE events SET schema_version = 3, payload = ? WHERE event_id = ?",
            (json.dumps(data), event_id),
        )


def test_a_part_recorded_before_version_4_is_corrected_by_its_recorder_and_the_clinician_of_record(
    tmp_path: Path,
) -> None:
    """Before version 4 a part record_group_session made and an id a co-facilitator wrote by hand read
    alike: both read as given by hand. The co-facilitator who recorded the part may still correct it (their
    own record), and so may the clinician of record (clin-a, not a facilitator here); the group's other
    co-facilitator may not."""
    location = tmp_path / "practice.sqlite"
    third = Actor("clin-g", Role.CLINICIAN, CLINIC)
    with open_practice(location, clock=Clock()) as p:
        ep = active_episode(p).episode_id
        p.join_group(
            _me(), ep, group_id=COFACILITATED_GROUP, facilitator_ids=("clin-f", "clin-g"), joined_on=D
        )
        made = p.record_group_session(
            _co(), COFACILITATED_GROUP, GroupSession(D, "in-person", (MemberAttendance(ep, "attended"),))
        )
    (part,) = made.sessions
    assert part.record_id is not None
    gsid = made.group_session_id
    _as_version_3(location, part.record_id)
    with open_practice(location, clock=Clock()) as p:
        (recorded,) = [
            e.event
            for e in p.timeline(_me(), ep)
            if isinstance(e.event, SessionRecorded) and e.event.session_id == part.record_id
        ]
        assert recorded.group_session_minted is False
        version = p.episode(_me(), ep).version
        with pytest.raises(AccessDenied, match="only parts of the group"):
            p.correct_session(third, ep, part.record_id, _part(gsid), reason="r")
        assert p.episode(_me(), ep).version == version
        p.correct_session(_co(), ep, part.record_id, attrs.evolve(_part(gsid), modality="video"), reason="r")
        p.correct_session(_me(), ep, part.record_id, attrs.evolve(_part(gsid), modality="phone"), reason="r")
        assert len(p.session_history(_me(), ep, part.record_id).corrections) == 2
