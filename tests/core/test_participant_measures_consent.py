"""Another participant's consent to measures (a partner, a parent, a child), given when they joined and
changed later with ``Practice.change_measures_consent(..., participant=ref)``: the same event
(``measures-consent-changed`` v2, naming the participant), action, audit, idempotency and batch as the
client's. Withdrawn, no measure about them is taken from then on; given later, one dated before that day
is refused; a measure about them refused for consent is a ``ValidationError`` (rule ``consent-measures``,
naming the field) like the client's, never naming them, on every path a measure about them comes in: a
session, a correction, a group session's part and the batch (requests, kiosk codes and client responses
are the identified client's own answers only). Each refusal writes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    GroupSession,
    MemberAttendance,
    Participant,
    Purpose,
    Role,
)
from alliancekit.errors import AccessDenied, LifecycleError, ValidationError
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.events.types import MeasuresConsentChanged
from alliancekit.fhir import export_ndjson
from alliancekit.fhir.codes import EXT_CONSENT_ABOUT
from alliancekit.fhir.consent import consent_id
from alliancekit.practice import Practice

from .conftest import (
    CANARY,
    attended,
    counter_ids,
    day,
    fixed_clock,
    footprint,
    ors,
    rewrite_snapshot,
    srs,
    treated,
    unplanned_ending,
)

RULE = "consent-measures"
ADMIN = Actor("admin-1", Role.ADMINISTRATOR, "clinic-1")
RESPONDED_AT = datetime(2026, 1, 20, 10, 0, tzinfo=UTC)
#: The partner's host reference: long enough that finding it in a message means it was echoed.
PARTNER = "partner-ref-5d1c"


def partnered(practice: Practice, actor: Actor, *, measures: bool, client: str = "client-1") -> str:
    """An active episode whose client consented to measures, with a partner who joined on day 2 consenting
    to measures or not."""
    ep = treated(practice, actor, measures=True, client=client)
    given = Consent(treatment=True, measures=measures)
    practice.add_participant(actor, ep, Participant(PARTNER, "partner", given), added_on=day(2))
    return ep


def theirs(practice: Practice) -> Administration:
    """The partner's own ORS."""
    return attrs.evolve(ors(practice), about=PARTNER)


def refused(
    practice: Practice, eps: tuple[str, ...], call: Any, error: type[Exception] = ValidationError
) -> Any:
    """``call`` is refused with ``error``, writes nothing to ``eps`` and names no one."""
    before = [footprint(practice, ep) for ep in eps]
    with pytest.raises(error) as raised:
        call()
    assert [footprint(practice, ep) for ep in eps] == before
    for value in (CANARY, PARTNER, "client-1"):
        assert value not in str(raised.value)
        assert value not in repr(raised.value)
    return raised.value


def partner_consent(practice: Practice, actor: Actor, ep: str) -> tuple[bool, Any]:
    p = practice.episode(actor, ep).participants[PARTNER]
    return p.measures_consent, p.measures_consent_changed_on


# -- agreed later ---------------------------------------------------------------------------------------


def test_a_participant_who_agrees_later_is_measured_from_that_day_not_before(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=False)
    recorded = practice.change_measures_consent(actor, ep, True, on=day(10), participant=PARTNER)
    assert partner_consent(practice, actor, ep) == (True, day(10))
    state = practice.episode(actor, ep)
    assert (state.version, state.measures_consent, state.measures_consent_changed_on) == (
        recorded.version,
        True,
        None,  # the client's own consent is untouched
    )
    error = refused(
        practice, (ep,), lambda: practice.record_session(actor, ep, attended(day(9), theirs(practice)))
    )
    assert (error.field, error.rule) == ("session.administrations[0].about", RULE)
    assert "dated before" in str(error)
    practice.record_session(actor, ep, attended(day(10), ors(practice), theirs(practice)))
    assert set(practice.episode(actor, ep).tracks) == {f"ors|{PARTNER}|client"}
    (changed,) = [
        e.event for e in practice.timeline(actor, ep) if isinstance(e.event, MeasuresConsentChanged)
    ]
    assert (changed.measures, changed.changed_on, changed.participant) == (True, day(10), PARTNER)
    assert PARTNER not in repr(changed)


# -- withdrawn ------------------------------------------------------------------------------------------


def test_a_participant_who_withdraws_is_not_measured_and_keeps_what_was_recorded(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=True)
    first = practice.record_session(actor, ep, attended(day(7), theirs(practice), srs(practice)))
    assert first.record_id is not None
    tracks = dict(practice.episode(actor, ep).tracks)
    practice.change_measures_consent(actor, ep, False, on=day(10), participant=PARTNER)
    assert partner_consent(practice, actor, ep) == (False, day(10))
    assert dict(practice.episode(actor, ep).tracks) == tracks  # nothing recorded is taken back
    for on in (day(9), day(10), day(11)):  # from then on, and no late entry of an earlier measure
        session = attended(on, ors(practice), theirs(practice))
        error = refused(practice, (ep,), lambda s=session: practice.record_session(actor, ep, s))
        assert (error.field, error.rule) == ("session.administrations[1].about", RULE)
        assert "withdrawn" in str(error)
    # the client is still measured, the partner still attends
    partner_there = attrs.evolve(attended(day(12), ors(practice)), attended_by=("client-1", PARTNER))
    practice.record_session(actor, ep, partner_there)
    assert "ors" in practice.episode(actor, ep).latest_scores
    # a correction keeps the partner's earlier measure as it stands, and cannot add one
    session_id = first.record_id
    practice.correct_session(
        actor, ep, session_id, attended(day(7), theirs(practice), srs(practice)), reason="a typo"
    )
    assert dict(practice.episode(actor, ep).tracks) == tracks
    practice.correct_session(actor, ep, session_id, attended(day(7), srs(practice)), reason="keyed in error")
    added = attended(day(7), theirs(practice), srs(practice))
    error = refused(
        practice, (ep,), lambda: practice.correct_session(actor, ep, session_id, added, reason="again")
    )
    assert (error.field, error.rule) == ("session.administrations[0].about", RULE)


def test_one_participants_withdrawal_leaves_the_others_consent(practice: Practice, actor: Actor) -> None:
    ep = partnered(practice, actor, measures=True)
    child = Participant("child-ref-8e2a", "child", Consent(treatment=True, measures=True))
    practice.add_participant(actor, ep, child, added_on=day(2))
    practice.change_measures_consent(actor, ep, False, on=day(5), participant=PARTNER)
    childs = attrs.evolve(ors(practice), about="child-ref-8e2a")
    practice.record_session(actor, ep, attended(day(6), ors(practice), childs))
    assert practice.episode(actor, ep).participants["child-ref-8e2a"].measures_consent is True


def test_given_again_measures_from_the_new_day(practice: Practice, actor: Actor) -> None:
    ep = partnered(practice, actor, measures=True)
    practice.change_measures_consent(actor, ep, False, on=day(5), participant=PARTNER)
    practice.change_measures_consent(actor, ep, True, on=day(8), participant=PARTNER)
    session = attended(day(7), theirs(practice))
    assert refused(practice, (ep,), lambda: practice.record_session(actor, ep, session)).rule == RULE
    practice.record_session(actor, ep, attended(day(8), theirs(practice)))


def test_a_group_session_measuring_a_participant_who_withdrew_writes_nothing_for_anyone(
    practice: Practice, actor: Actor
) -> None:
    alone = treated(practice, actor, measures=True, client="client-3")
    with_partner = partnered(practice, actor, measures=True)
    for ep in (alone, with_partner):
        practice.join_group(actor, ep, group_id="group-1", facilitator_ids=(actor.id,), joined_on=day(3))
    practice.change_measures_consent(actor, with_partner, False, on=day(5), participant=PARTNER)
    both = GroupSession(
        day(7),
        "in-person",
        (
            MemberAttendance(alone, "attended", (srs(practice),)),
            MemberAttendance(with_partner, "attended", (srs(practice), theirs(practice))),
        ),
    )
    error = refused(
        practice, (alone, with_partner), lambda: practice.record_group_session(actor, "group-1", both)
    )
    assert (error.field, error.rule) == ("session.members[1].administrations[1].about", RULE)


def test_the_batch_refuses_a_withdrawn_participants_measure_and_goes_on(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=True)
    with practice.batch(size=100) as batch:
        batch.change_measures_consent(actor, ep, False, on=day(5), participant=PARTNER)
        with pytest.raises(ValidationError) as raised:
            batch.record_session(actor, ep, attended(day(6), theirs(practice)))
        assert (raised.value.field, raised.value.rule) == ("session.administrations[0].about", RULE)
        batch.record_session(actor, ep, attended(day(6), ors(practice)))
    assert partner_consent(practice, actor, ep) == (False, day(5))
    assert practice.episode(actor, ep).sessions_attended == 1


def test_the_clients_own_answers_never_are_about_a_participant(practice: Practice, actor: Actor) -> None:
    """Requests, kiosk codes and client responses carry the identified client's answers about themselves:
    a measure about a participant never comes in that way, consent or not."""
    ep = partnered(practice, actor, measures=True)
    error = refused(
        practice,
        (ep,),
        lambda: practice.record_client_response(actor, ep, theirs(practice), responded_at=RESPONDED_AT),
    )
    assert (error.field, error.rule) == ("administration.rater", "not-the-client")


# -- the change itself: refusals --------------------------------------------------------------------------


def test_a_change_for_someone_who_does_not_take_part_names_the_field_not_them(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=True)
    error = refused(
        practice,
        (ep,),
        lambda: practice.change_measures_consent(actor, ep, False, on=day(5), participant=CANARY),
    )
    assert (error.field, error.rule) == ("participant", "participant-not-in-episode")


def test_the_identified_clients_reference_changes_the_clients_consent(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=True)
    practice.change_measures_consent(actor, ep, False, on=day(5), participant="client-1")
    state = practice.episode(actor, ep)
    assert (state.measures_consent, state.participants[PARTNER].measures_consent) == (False, True)
    (changed,) = [
        e.event for e in practice.timeline(actor, ep) if isinstance(e.event, MeasuresConsentChanged)
    ]
    assert changed.participant is None  # one way of writing the client's change


@pytest.mark.parametrize(
    ("measures", "first", "days", "rule"),
    [
        (True, None, 5, "same-consent"),  # already in force, as given when they joined
        (False, 6, 5, "date-order"),  # before the last change
        (False, None, -1, "date-order"),  # before the episode opened
        (False, None, 1, "date-order"),  # before they joined (day 2), after the episode opened
        (False, 6, 6, None),  # the day of the last change: taken
        (False, None, 2, None),  # the day they joined: taken
    ],
)
def test_a_change_of_a_participants_consent_is_checked(
    practice: Practice, actor: Actor, measures: bool, first: int | None, days: int, rule: str | None
) -> None:
    ep = partnered(practice, actor, measures=True)
    if first is not None:
        practice.change_measures_consent(actor, ep, False, on=day(first), participant=PARTNER)
        practice.change_measures_consent(actor, ep, True, on=day(first), participant=PARTNER)

    def change() -> object:
        return practice.change_measures_consent(actor, ep, measures, on=day(days), participant=PARTNER)

    if rule is None:
        change()
        assert partner_consent(practice, actor, ep) == (measures, day(days))
    else:
        assert refused(practice, (ep,), change, LifecycleError).rule == rule


def test_a_participant_added_before_the_consultation_may_withdraw_before_it(
    practice: Practice, actor: Actor
) -> None:
    """Their consent was given when they joined, not at the consultation: no consultation is needed."""
    ep = practice.start_episode(actor, client_ref="client-1", clinician_id=actor.id, opened_on=day(0))
    yes = Consent(treatment=True, measures=True)
    practice.add_participant(actor, ep, Participant(PARTNER, "partner", yes), added_on=day(0))
    practice.change_measures_consent(actor, ep, False, on=day(0), participant=PARTNER)
    assert partner_consent(practice, actor, ep) == (False, day(0))


def test_a_closed_episode_keeps_the_participants_consent(practice: Practice, actor: Actor) -> None:
    ep = partnered(practice, actor, measures=True)
    practice.close_episode(actor, ep, unplanned_ending(day(5)))
    error = refused(
        practice,
        (ep,),
        lambda: practice.change_measures_consent(actor, ep, False, on=day(6), participant=PARTNER),
        LifecycleError,
    )
    assert error.rule == "episode-closed"


def test_the_participants_reference_is_checked_before_anything_is_read(
    practice: Practice, actor: Actor
) -> None:
    ep = partnered(practice, actor, measures=True)
    error = refused(
        practice,
        (ep,),
        lambda: practice.change_measures_consent(actor, ep, False, on=day(5), participant=5),  # type: ignore[arg-type]
    )
    assert (error.field, error.rule) == ("participant", "type")


def test_only_the_clinician_of_record_records_it(practice: Practice, actor: Actor) -> None:
    """Action ``change-measures-consent``, as for the client's: the participant themself, or another
    clinician, is refused (audited as refused) and no event is written."""
    ep = partnered(practice, actor, measures=True)
    events = [e.event_id for e in practice.store.load_events(ep)]
    for who in (Actor(PARTNER, Role.CLIENT, "clinic-1"), Actor("clin-2", Role.CLINICIAN, "clinic-1")):
        with pytest.raises(AccessDenied):
            practice.change_measures_consent(who, ep, False, on=day(5), participant=PARTNER)
    assert [e.event_id for e in practice.store.load_events(ep)] == events
    assert partner_consent(practice, actor, ep) == (True, None)
    denied = [a for a in practice.audit_entries(ADMIN) if a.action == "change-measures-consent"]
    assert [a.outcome for a in denied] == ["refused", "refused"]


def test_the_change_is_audited_and_idempotent(practice: Practice, actor: Actor) -> None:
    ep = partnered(practice, actor, measures=True)
    first = practice.change_measures_consent(
        actor, ep, False, on=day(5), participant=PARTNER, idempotency_key="partner-withdrew"
    )
    again = practice.change_measures_consent(
        actor, ep, False, on=day(5), participant=PARTNER, idempotency_key="partner-withdrew"
    )
    assert (again.version, again.duplicate) == (first.version, True)
    entries = [a for a in practice.audit_entries(ADMIN) if a.action == "change-measures-consent"]
    # one clock reading for both: the order of two entries made at the same moment is not asserted
    assert sorted((a.record_id, a.outcome) for a in entries) == [(ep, "allowed"), (ep, "replayed")]
    assert not any(PARTNER in repr(a) for a in entries)


# -- stores written before a participant's change could be recorded (snapshot shape 7) ---------------------


def test_a_shape_7_snapshot_upcasts_to_no_change_and_their_join_day(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = partnered(p, actor, measures=False)
    conn_state = _snapshot(path, ep)
    del conn_state["participants"][PARTNER]["measures_consent_changed_on"]
    del conn_state["participants"][PARTNER]["joined_on"]  # shape 9
    conn_state["_v"] = 7
    _write_snapshot(path, ep, conn_state)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        stored = p.store.load_snapshot(ep)
        assert stored is not None
        assert Codec.decode_state(stored.state_json) is None
        upcast = json.loads(Codec.upcast_state(stored.state_json, p.store.load_events(ep)))
        assert upcast["_v"] == SNAPSHOT_VERSION == 9
        assert upcast["participants"][PARTNER] == {
            "role": "partner",
            "measures_consent": False,
            "measures_consent_changed_on": None,
            "joined_on": day(2).isoformat(),
        }
        assert p.verify(ADMIN).ok
        p.change_measures_consent(actor, ep, True, on=day(4), participant=PARTNER)
        assert p.verify(ADMIN).ok
    assert _snapshot(path, ep)["participants"][PARTNER]["measures_consent_changed_on"] == day(4).isoformat()


def test_a_shape_6_snapshot_with_a_participant_runs_through_shape_7(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = partnered(p, actor, measures=True)
    state = _snapshot(path, ep)
    del state["participants"][PARTNER]["measures_consent_changed_on"]
    del state["participants"][PARTNER]["joined_on"]
    _write_snapshot(path, ep, state)
    rewrite_snapshot(path, ep, 6, "measures_consent_changed_on")
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        assert p.verify(ADMIN).ok
        assert partner_consent(p, actor, ep) == (True, None)


def _snapshot(path: Path, ep: str) -> dict[str, Any]:
    import sqlite3

    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (ep,)).fetchone()
    conn.close()
    return dict(json.loads(text))


def _write_snapshot(path: Path, ep: str, state: dict[str, Any]) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), ep))
    conn.commit()
    conn.close()


# -- how it reads: the timeline, the FHIR export -----------------------------------------------------------


def test_the_readable_timeline_says_whose_change_without_naming_them(
    tmp_path: Path, actor: Actor, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = partnered(p, actor, measures=True)
        p.change_measures_consent(actor, ep, False, on=day(4), participant=PARTNER)
        p.change_measures_consent(actor, ep, False, on=day(5))
    assert main(["episode", "show", "--db", str(path), ep]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "consent to measures" in line]
    assert ["a participant's" in line for line in lines] == [True, False]
    assert PARTNER not in out


def test_the_fhir_export_writes_a_participants_change_as_their_consent(tmp_path: Path, actor: Actor) -> None:
    """Each person's changes are numbered and chained on their own: the client's Consents keep the ids they
    had; the participant's name them as performer and in consent-about, as a RelatedPerson, with the client
    as the Consent's patient (R4 takes a Patient only)."""
    path = tmp_path / "p.sqlite"
    records = Actor("records", Role.SUPERVISOR, "clinic-1", Purpose.TREATMENT)
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = partnered(p, actor, measures=True)
        p.change_measures_consent(actor, ep, False, on=day(3), participant=PARTNER)
        p.change_measures_consent(actor, ep, False, on=day(4))
        p.change_measures_consent(actor, ep, True, on=day(6), participant=PARTNER)
        result = export_ndjson(p, records, tmp_path / "bulk")
    assert result.not_exported == {}
    consents = [json.loads(line) for line in (tmp_path / "bulk" / "Consent.ndjson").read_text().splitlines()]
    by_id = {c["id"]: c for c in consents}
    assert set(by_id) == {consent_id(ep, 1), consent_id(ep, 1, PARTNER), consent_id(ep, 2, PARTNER)}
    client = by_id[consent_id(ep, 1)]
    assert (client["status"], client["provision"]["type"], client["performer"]) == (
        "active",
        "deny",
        [client["patient"]],
    )
    assert EXT_CONSENT_ABOUT not in {e["url"] for e in client["extension"]}
    told = []
    for number in (1, 2):
        c = by_id[consent_id(ep, number, PARTNER)]
        (about,) = [e["valueReference"] for e in c["extension"] if e["url"] == EXT_CONSENT_ABOUT]
        assert c["performer"] == [about]
        assert about["type"] == "RelatedPerson"
        assert about["identifier"]["value"] == PARTNER
        assert c["patient"]["type"] == "Patient"
        assert c["patient"] == client["patient"]
        told.append((c["status"], c["provision"]["type"], c["provision"]["period"]))
    assert told == [
        ("inactive", "deny", {"start": day(3).isoformat(), "end": day(6).isoformat()}),
        ("active", "permit", {"start": day(6).isoformat()}),
    ]
