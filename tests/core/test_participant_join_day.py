"""Nothing about another participant (a partner, a parent, a child) is dated before the day they joined
(``EpisodeState.participants[ref].joined_on``, the ``added_on`` of their ``participant-added``): a measure
about them dated earlier is refused as one dated before their consent to measures (their consent was given
when they joined: ``ValidationError``, rule ``consent-measures``, naming the field, never them), on every path
a measure about them comes in (a session, a correction, a group session's part, the batch); a change of
their consent dated earlier is refused as one dated before the episode opened (``date-order``). The join
day itself is taken. A session naming them present (``attended_by``) dated earlier is refused as naming
someone not in the episode that day (rule ``participant-not-in-episode``). Each refusal writes nothing.
A snapshot written before the join day was kept (shape 8) is folded again from the events, so it neither
refuses nor takes a measure wrongly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Consent, GroupSession, MemberAttendance, Participant, Role, Session
from alliancekit.errors import LifecycleError, ValidationError
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.lifecycle.rules import NOT_A_PARTICIPANT
from alliancekit.practice import Practice

from .conftest import attended, counter_ids, day, fixed_clock, ors, srs, treated
from .test_participant_measures_consent import PARTNER, refused, theirs

RULE = "consent-measures"
ADMIN = Actor("admin-1", Role.ADMINISTRATOR, "clinic-1")
#: The partner joins on day 5 of an episode whose sessions may be recorded from day 1.
JOINED = 5


def joined_late(practice: Practice, actor: Actor, *, client: str = "client-1") -> str:
    """An active episode (consultation day 0, goals day 2) whose partner, consenting to measures, joined
    on day :data:`JOINED`."""
    ep = treated(practice, actor, measures=True, client=client)
    given = Consent(treatment=True, measures=True)
    practice.add_participant(actor, ep, Participant(PARTNER, "partner", given), added_on=day(JOINED))
    return ep


def test_the_state_keeps_the_day_a_participant_joined(practice: Practice, actor: Actor) -> None:
    ep = joined_late(practice, actor)
    assert practice.episode(actor, ep).participants[PARTNER].joined_on == day(JOINED)


def test_a_session_measuring_a_participant_before_they_joined_is_refused(
    practice: Practice, actor: Actor
) -> None:
    ep = joined_late(practice, actor)
    session = attended(day(JOINED - 1), ors(practice), theirs(practice))
    error = refused(practice, (ep,), lambda: practice.record_session(actor, ep, session))
    assert (error.field, error.rule) == ("session.administrations[1].about", RULE)
    assert "joined" in str(error)
    # the client alone is measured that day; the partner from the day they joined
    practice.record_session(actor, ep, attended(day(JOINED - 1), ors(practice)))
    practice.record_session(actor, ep, attended(day(JOINED), ors(practice), theirs(practice)))
    assert set(practice.episode(actor, ep).tracks) == {f"ors|{PARTNER}|client"}


def test_a_correction_cannot_date_a_participants_measure_before_they_joined(
    practice: Practice, actor: Actor
) -> None:
    """Neither by adding one to an earlier session nor by moving the day of a session that has one: a
    measure kept as it stands is not exempt from the day they joined."""
    ep = joined_late(practice, actor)
    earlier = practice.record_session(actor, ep, attended(day(JOINED - 1), srs(practice)))
    on_the_day = practice.record_session(actor, ep, attended(day(JOINED), srs(practice), theirs(practice)))
    assert earlier.record_id is not None
    assert on_the_day.record_id is not None
    tracks = dict(practice.episode(actor, ep).tracks)
    cases = (
        (earlier.record_id, attended(day(JOINED - 1), srs(practice), theirs(practice))),
        (on_the_day.record_id, attended(day(JOINED - 1), srs(practice), theirs(practice))),
    )
    for session_id, corrected in cases:
        error = refused(
            practice,
            (ep,),
            lambda s=session_id, c=corrected: practice.correct_session(actor, ep, s, c, reason="a typo"),
        )
        assert (error.field, error.rule) == ("session.administrations[1].about", RULE)
    # kept on the day they joined: taken
    corrected = attended(day(JOINED), srs(practice), attrs.evolve(ors(practice, 0.7), about=PARTNER))
    practice.correct_session(actor, ep, on_the_day.record_id, corrected, reason="a typo")
    assert set(practice.episode(actor, ep).tracks) == set(tracks)
    assert practice.episode(actor, ep).tracks != tracks  # the corrected total


def test_a_group_session_measuring_a_participant_before_they_joined_writes_nothing_for_anyone(
    practice: Practice, actor: Actor
) -> None:
    alone = treated(practice, actor, measures=True, client="client-3")
    with_partner = joined_late(practice, actor)
    for ep in (alone, with_partner):
        practice.join_group(actor, ep, group_id="group-1", facilitator_ids=(actor.id,), joined_on=day(3))

    def group_session(on: int) -> GroupSession:
        return GroupSession(
            day(on),
            "in-person",
            (
                MemberAttendance(alone, "attended", (srs(practice),)),
                MemberAttendance(with_partner, "attended", (srs(practice), theirs(practice))),
            ),
        )

    before = group_session(JOINED - 1)
    error = refused(
        practice, (alone, with_partner), lambda: practice.record_group_session(actor, "group-1", before)
    )
    assert (error.field, error.rule) == ("session.members[1].administrations[1].about", RULE)
    practice.record_group_session(actor, "group-1", group_session(JOINED))
    assert set(practice.episode(actor, with_partner).tracks) == {f"ors|{PARTNER}|client"}


def test_the_batch_refuses_a_measure_before_the_participant_joined_and_goes_on(
    practice: Practice, actor: Actor
) -> None:
    ep = joined_late(practice, actor)
    with practice.batch(size=100) as batch:
        with pytest.raises(ValidationError) as raised:
            batch.record_session(actor, ep, attended(day(JOINED - 1), theirs(practice)))
        assert (raised.value.field, raised.value.rule) == ("session.administrations[0].about", RULE)
        assert PARTNER not in str(raised.value)
        batch.record_session(actor, ep, attended(day(JOINED), theirs(practice)))
    state = practice.episode(actor, ep)
    assert (state.sessions_attended, set(state.tracks)) == (1, {f"ors|{PARTNER}|client"})


def present(on: int, *refs: str) -> Session:
    """An attended session on day ``on`` whose ``attended_by`` names ``refs``."""
    return attrs.evolve(attended(day(on)), attended_by=refs)


def test_a_session_cannot_name_a_participant_present_before_they_joined(
    practice: Practice, actor: Actor
) -> None:
    ep = joined_late(practice, actor)
    error = refused(practice, (ep,), lambda: practice.record_session(actor, ep, present(JOINED - 1, PARTNER)))
    assert (error.field, error.rule) == ("session.attended_by[0]", NOT_A_PARTICIPANT)
    assert "joined" in str(error)
    # the client was there that day; the partner from the day they joined
    practice.record_session(actor, ep, present(JOINED - 1, "client-1"))
    practice.record_session(actor, ep, present(JOINED, "client-1", PARTNER))
    assert practice.episode(actor, ep).sessions_attended == 2


def test_a_correction_cannot_name_a_participant_present_before_they_joined(
    practice: Practice, actor: Actor
) -> None:
    """Neither by adding them to an earlier session nor by moving the day of a session they attended."""
    ep = joined_late(practice, actor)
    earlier = practice.record_session(actor, ep, present(JOINED - 1, "client-1")).record_id
    on_the_day = practice.record_session(actor, ep, present(JOINED, "client-1", PARTNER)).record_id
    assert earlier is not None
    assert on_the_day is not None
    for session_id in (earlier, on_the_day):
        error = refused(
            practice,
            (ep,),
            lambda s=session_id: practice.correct_session(
                actor, ep, s, present(JOINED - 1, "client-1", PARTNER), reason="a typo"
            ),
        )
        assert (error.field, error.rule) == ("session.attended_by[1]", NOT_A_PARTICIPANT)
    practice.correct_session(actor, ep, earlier, present(JOINED, PARTNER), reason="a typo")


def test_the_batch_refuses_a_participant_present_before_they_joined_and_goes_on(
    practice: Practice, actor: Actor
) -> None:
    ep = joined_late(practice, actor)
    with practice.batch(size=100) as batch:
        with pytest.raises(ValidationError) as raised:
            batch.record_session(actor, ep, present(JOINED - 1, PARTNER))
        assert (raised.value.field, raised.value.rule) == ("session.attended_by[0]", NOT_A_PARTICIPANT)
        assert PARTNER not in str(raised.value)
        batch.record_session(actor, ep, present(JOINED, PARTNER))
    assert practice.episode(actor, ep).sessions_attended == 1


@pytest.mark.parametrize(("on", "taken"), [(JOINED - 1, False), (JOINED, True)])
def test_a_change_of_a_participants_consent_is_not_dated_before_they_joined(
    practice: Practice, actor: Actor, on: int, taken: bool
) -> None:
    ep = joined_late(practice, actor)

    def change() -> object:
        return practice.change_measures_consent(actor, ep, False, on=day(on), participant=PARTNER)

    if taken:
        change()
        assert practice.episode(actor, ep).participants[PARTNER].measures_consent_changed_on == day(on)
    else:
        error = refused(practice, (ep,), change, LifecycleError)
        assert error.rule == "date-order"
        assert "joined" in str(error)


# -- stores written before the join day was kept (snapshot shape 8) -----------------------------------------


def _stored_state(path: Path, ep: str) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (ep,)).fetchone()
    conn.close()
    return dict(json.loads(text))


def _as_shape_8(path: Path, ep: str) -> None:
    """The episode's snapshot as shape 8 wrote it: its participants without the day they joined."""
    state = _stored_state(path, ep)
    for participant in state["participants"].values():
        del participant["joined_on"]
    state["_v"] = 8
    conn = sqlite3.connect(path)
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), ep))
    conn.commit()
    conn.close()


def test_a_shape_8_snapshot_is_folded_again_and_upcast_from_the_joining(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = joined_late(p, actor)
    _as_shape_8(path, ep)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert Codec.decode_state(stored.state_json) is None  # an older shape: the events are folded
        upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
        assert upcast["_v"] == SNAPSHOT_VERSION == 9
        assert upcast["participants"][PARTNER]["joined_on"] == day(JOINED).isoformat()
        assert p.verify(ADMIN).ok
        assert p.episode(actor, ep).participants[PARTNER].joined_on == day(JOINED)
        # the snapshot does not say when they joined; the rules know all the same
        session = attended(day(JOINED - 1), theirs(p))
        assert refused(p, (ep,), lambda: p.record_session(actor, ep, session)).rule == RULE
        p.record_session(actor, ep, attended(day(JOINED), theirs(p)))
        assert p.verify(ADMIN).ok
    state = _stored_state(path, ep)
    assert (state["_v"], state["participants"][PARTNER]["joined_on"]) == (9, day(JOINED).isoformat())


def test_a_shape_8_snapshot_of_a_single_client_upcasts_unchanged(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = treated(p, actor, measures=True)
    _as_shape_8(path, ep)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
        assert (upcast["_v"], upcast["participants"]) == (SNAPSHOT_VERSION, {})
        assert p.verify(ADMIN).ok


def test_every_participant_of_an_old_snapshot_gets_their_own_day(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    child = "child-ref-8e2a"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = joined_late(p, actor)
        given = Consent(treatment=True, measures=True)
        p.add_participant(actor, ep, Participant(child, "child", given), added_on=day(JOINED + 2))
    _as_shape_8(path, ep)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
        joined = {ref: participant["joined_on"] for ref, participant in upcast["participants"].items()}
        assert joined == {PARTNER: day(JOINED).isoformat(), child: day(JOINED + 2).isoformat()}
        assert p.verify(ADMIN).ok
        childs = attrs.evolve(ors(p), about=child)
        session = attended(day(JOINED + 1), childs)
        assert refused(p, (ep,), lambda: p.record_session(actor, ep, session)).rule == RULE
