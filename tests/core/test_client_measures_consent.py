"""The identified client's consent to measures, given at the consultation, is enforced on every path that
records a measure about them: a session (any rater), a correction, a group session's part, an
administration request or kiosk code, a response the client submits or a clinician records for them, and
the batch. Each refusal is a ValidationError with rule ``consent-measures`` naming the field, writes
nothing and says nothing of the client. A client who consented is measured as before (the boundary's
other side), and a client who declined still has sessions without measures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Consent,
    GroupSession,
    MemberAttendance,
    Participant,
    RequestPoint,
    Role,
)
from alliancekit.errors import ValidationError
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.rules import decide
from alliancekit.practice import Practice

from .conftest import (
    CANARY,
    DAY0,
    attended,
    consultation,
    counter_ids,
    day,
    fixed_clock,
    footprint,
    new_episode,
    ors,
    proceed,
    rewrite_snapshot,
    srs,
    treated,
)

RULE = "consent-measures"
RESPONDED_AT = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)


def refused(practice: Practice, episodes: tuple[str, ...], call: Any) -> ValidationError:
    """``call`` is refused with rule ``consent-measures``, writes nothing to ``episodes`` and names no
    client data."""
    before = [footprint(practice, ep) for ep in episodes]
    with pytest.raises(ValidationError) as raised:
        call()
    assert [footprint(practice, ep) for ep in episodes] == before
    error = raised.value
    assert error.rule == RULE
    assert CANARY not in str(error)
    assert "client-1" not in str(error)
    return error


# -- record_session --------------------------------------------------------------------------------------


@pytest.mark.parametrize("measures", [True, False])
def test_a_session_with_the_clients_ors_is_recorded_only_with_consent(
    practice: Practice, actor: Actor, measures: bool
) -> None:
    ep = treated(practice, actor, measures=measures)
    assert practice.episode(actor, ep).measures_consent is measures
    session = attended(day(7), ors(practice), srs(practice))
    if measures:
        practice.record_session(actor, ep, session)
        assert set(practice.episode(actor, ep).latest_scores) == {"ors", "srs"}
        return
    error = refused(practice, (ep,), lambda: practice.record_session(actor, ep, session))
    assert error.field == "session.administrations[0].about"
    assert practice.episode(actor, ep).latest_scores == {}


def test_a_client_who_declined_measures_still_has_sessions_without_them(
    practice: Practice, actor: Actor
) -> None:
    ep = treated(practice, actor, measures=False)
    practice.record_session(actor, ep, attended(day(7)))
    state = practice.episode(actor, ep)
    assert (state.sessions_attended, dict(state.latest_scores)) == (1, {})


@pytest.mark.parametrize("how", ["named-by-reference", "rated-by-partner", "second-of-two"])
def test_any_rater_and_any_way_of_naming_the_client_is_refused(
    practice: Practice, actor: Actor, how: str
) -> None:
    ep = treated(practice, actor, measures=False)
    partner = Participant("client-2", "partner", Consent(treatment=True, measures=True))
    practice.add_participant(actor, ep, partner, added_on=day(2))
    about_partner = attrs.evolve(ors(practice), about="client-2")
    administration, index = {
        "named-by-reference": (attrs.evolve(ors(practice), about="client-1"), 0),
        "rated-by-partner": (attrs.evolve(ors(practice), rater="partner", rater_ref="client-2"), 0),
        "second-of-two": (attrs.evolve(srs(practice)), 1),
    }[how]
    session = attended(day(7), about_partner, administration) if index else attended(day(7), administration)
    error = refused(practice, (ep,), lambda: practice.record_session(actor, ep, session))
    assert error.field == f"session.administrations[{index}].about"
    # the partner, who consented, is measured in the same episode
    practice.record_session(actor, ep, attended(day(7), about_partner))


# -- correct_session -------------------------------------------------------------------------------------


def test_a_correction_cannot_add_the_clients_measures(practice: Practice, actor: Actor) -> None:
    ep = treated(practice, actor, measures=False)
    session_id = practice.record_session(actor, ep, attended(day(7))).record_id
    with_ors = attended(day(7), ors(practice))
    error = refused(
        practice, (ep,), lambda: practice.correct_session(actor, ep, session_id, with_ors, reason=CANARY)
    )
    assert error.field == "session.administrations[0].about"


# -- group sessions --------------------------------------------------------------------------------------


def test_a_group_session_measuring_a_member_who_declined_writes_nothing_for_anyone(
    practice: Practice, actor: Actor
) -> None:
    yes = treated(practice, actor, measures=True, client="client-1")
    no = treated(practice, actor, measures=False, client="client-3")
    for ep in (yes, no):
        practice.join_group(actor, ep, group_id="group-1", facilitator_ids=(actor.id,), joined_on=day(3))
    both = GroupSession(
        day(7),
        "in-person",
        (
            MemberAttendance(yes, "attended", (srs(practice),)),
            MemberAttendance(no, "attended", (srs(practice),)),
        ),
    )
    error = refused(practice, (yes, no), lambda: practice.record_group_session(actor, "group-1", both))
    assert error.field == "session.members[1].administrations[0].about"
    # measured only where consented: recorded for both
    fair = GroupSession(
        day(7),
        "in-person",
        (MemberAttendance(yes, "attended", (srs(practice),)), MemberAttendance(no, "attended")),
    )
    practice.record_group_session(actor, "group-1", fair)
    assert "srs" in practice.episode(actor, yes).latest_scores
    assert practice.episode(actor, no).latest_scores == {}


# -- the client's own answers: requests, kiosk codes, responses --------------------------------------------


@pytest.mark.parametrize("measures", [True, False])
def test_requests_and_kiosk_codes_need_the_clients_consent(
    practice: Practice, actor: Actor, measures: bool
) -> None:
    ep = treated(practice, actor, measures=measures)
    calls = (
        lambda: practice.request_administration(actor, ep, measure="ors", point="between"),
        lambda: practice.kiosk_code(actor, ep, measure="ors", point="between"),
    )
    for call in calls:
        if measures:
            call()
        else:
            assert refused(practice, (ep,), call).field == "measure"


@pytest.mark.parametrize("measures", [True, False])
def test_a_response_recorded_for_the_client_needs_their_consent(
    practice: Practice, actor: Actor, measures: bool
) -> None:
    ep = treated(practice, actor, measures=measures)
    between = ors(practice)  # given at the start of the next session

    def record() -> object:
        return practice.record_client_response(actor, ep, between, responded_at=RESPONDED_AT)

    if measures:
        record()
        assert "ors" in practice.episode(actor, ep).latest_scores
    else:
        assert refused(practice, (ep,), record).field == "administration.about"


def test_a_submitted_response_is_refused_when_the_client_declined(practice: Practice, actor: Actor) -> None:
    """``submit_response`` (a link or kiosk code's answers) runs the same decider as a recorded response,
    with the request's id: a request made before consent was enforced cannot bring measures in."""
    consenting = treated(practice, actor, measures=True)
    state = practice.episode(actor, consenting)
    between = ors(practice)  # given at the start of the next session
    command = c.RecordClientResponse(
        "request-1", RequestPoint.START, 1, day(7), between, (), None, RESPONDED_AT
    )
    assert decide(state, command)
    with pytest.raises(ValidationError) as raised:
        decide(attrs.evolve(state, measures_consent=False), command)
    assert (raised.value.field, raised.value.rule) == ("administration.about", RULE)


def test_before_the_consultation_the_client_has_not_consented_yet(practice: Practice, actor: Actor) -> None:
    ep = new_episode(practice, actor)
    between = ors(practice)  # given at the start of the next session
    error = refused(
        practice,
        (ep,),
        lambda: practice.record_client_response(actor, ep, between, responded_at=RESPONDED_AT),
    )
    assert "consultation" in str(error)
    refused(practice, (ep,), lambda: practice.request_administration(actor, ep, measure="ors"))
    practice.record_consultation(actor, ep, consultation(DAY0))  # consenting to measures
    practice.request_administration(actor, ep, measure="ors")


# -- the batch -------------------------------------------------------------------------------------------


def test_the_batch_refuses_the_clients_measures_and_goes_on(practice: Practice, actor: Actor) -> None:
    no = Consent(treatment=True, measures=False)
    with practice.batch(size=100) as batch:
        ep = batch.start_episode(actor, client_ref="client-1", clinician_id=actor.id, opened_on=DAY0)
        batch.record_consultation(actor, ep, attrs.evolve(consultation(day(0)), consent=no))
        batch.decide_fit(actor, ep, proceed(day(1)))
        with pytest.raises(ValidationError) as raised:
            batch.record_session(actor, ep, attended(day(7), ors(practice)))
        assert (raised.value.field, raised.value.rule) == ("session.administrations[0].about", RULE)
        batch.record_session(actor, ep, attended(day(8)))
    state = practice.episode(actor, ep)
    assert (state.sessions_attended, dict(state.latest_scores)) == (1, {})


# -- snapshots written before the consent was kept (shape 5) ---------------------------------------------


def test_a_shape_5_snapshot_upcasts_to_the_consent_given_at_the_consultation(
    tmp_path: Path, actor: Actor
) -> None:
    path = tmp_path / "p.sqlite"
    admin = Actor("admin-1", Role.ADMINISTRATOR, actor.clinic_id)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        yes = treated(p, actor, measures=True, client="client-1")
        no = treated(p, actor, measures=False, client="client-3")
        unconsulted = new_episode(p, actor, client="client-4")
    episodes = {yes: True, no: False, unconsulted: False}
    for ep in episodes:
        rewrite_snapshot(path, ep, 5, "measures_consent")
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        for ep, consent in episodes.items():
            stored = p.store.load_snapshot(ep)
            assert stored is not None
            assert Codec.decode_state(stored.state_json) is None  # an older shape: folded, not read
            upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
            assert (upcast["_v"], upcast["measures_consent"]) == (SNAPSHOT_VERSION, consent)
            assert p.episode(actor, ep).measures_consent is consent
        report = p.verify(admin)
        assert report.ok, report.describe()
        # the rule reads the folded consent, and the next command writes the current shape
        refused(p, (no,), lambda: p.record_session(actor, no, attended(day(7), ors(p))))
        p.record_session(actor, yes, attended(day(7), ors(p)))
        stored = p.store.load_snapshot(yes)
        assert stored is not None
        assert json.loads(stored.state_json)["_v"] == SNAPSHOT_VERSION == 9
        assert p.verify(admin).ok
