"""A command naming an event or record that the actor's own view of the episode leaves out (the lockbox, or
another participant's privacy) is answered exactly as one naming an unknown id: the same error and message,
the same audit entry (a record not found: ``not-found``, naming the id asked for; a rule's other refusals
write none), nothing written. On the memory store and an SQLite file, on the facade and in a batch.

Before it, a partner the client's lockbox withheld the sessions from attached a statement of disagreement to
a session's event and was answered ``allowed``, where an unknown id is not found: the answer confirmed that
the withheld event exists (and the statement was recorded against it). A supervisor the sessions were
withheld from acknowledged their alerts the same way. And a partner lifted the directive the client had
set against them (its id guessed: one made with an idempotency key derives from the clinic, the command and
the key), and so read what it withheld; a directive another set is now answered as one never set. The
clinician of record acting for another purpose than treatment (the lockbox binds them, the default policy
lets them make and revoke requests) named a withheld session in a request or a client's response, and
revoked a withheld request, and was answered as for a visible one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Participant,
    Purpose,
    RepairAttempt,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RepairStrategy, RuptureCause, RuptureKind, RuptureMarker
from alliancekit.errors import AlliancekitError, NotFoundError
from alliancekit.security.policy import AccessRequest, Action, Decision, DefaultPolicy

from .helpers import CLIENT, CLINIC, PARTNER, Setup, active_episode, open_on

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
#: The clinician of record acting for another purpose than treatment: the lockbox applies to them.
OWN_FOR_OPERATIONS = Actor("clin-a", Role.CLINICIAN, CLINIC, Purpose.OPERATIONS)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
B = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
UNKNOWN = "no-such-record-0f3a"
#: How an answer's audit entry names the id the call named, withheld or unknown alike.
NAMED_ID = "(the id named)"

#: Every input of a command that names a record of the episode, and the test that shows a withheld one is
#: answered as an unknown one: a new one must be added here (or to NOT_RECORDS), or
#: test_every_named_record_is_covered fails.
NAMED = {
    ("attach_disagreement", "target_event_id"): "test_a_withheld_event_is_not_found_for_a_statement",
    ("correct_session", "session_id"): "test_a_withheld_session_or_rupture_answers_as_an_unknown_one",
    ("add_addendum", "session_id"): "test_a_withheld_session_or_rupture_answers_as_an_unknown_one",
    ("record_repair", "rupture_id"): "test_a_withheld_session_or_rupture_answers_as_an_unknown_one",
    ("acknowledge_alert", "alert_id"): "test_a_withheld_alert_answers_as_an_unknown_one",
    ("resolve_alert", "alert_id"): "test_a_withheld_alert_answers_as_an_unknown_one",
    # (a rupture note's session, inside the RuptureNote, is covered with the sessions)
    ("lift_lockbox", "directive_id"): "test_a_participant_lifts_only_their_own_directive",
    ("revoke_request", "request_id"): "test_a_withheld_request_is_revoked_as_an_unknown_one",
    ("request_administration", "session_id"): "test_a_withheld_session_of_a_request_is_an_unknown_one",
    ("kiosk_code", "session_id"): "test_a_withheld_session_of_a_request_is_an_unknown_one",
    ("record_client_response", "session_id"): "test_a_withheld_session_of_a_request_is_an_unknown_one",
}
#: The id inputs that name no record of the episode, and why.
NOT_RECORDS = {
    ("transfer", "to_clinician_id"): "a clinician, not a record of the episode",
    ("join_group", "group_id"): "a group, not a record of the episode",
}


def test_every_named_record_is_covered() -> None:
    named = {
        (spec.name, field)
        for spec in COMMANDS.values()
        for field in spec.checks
        if field.endswith("_id") and field not in ("clinician_id",)
    }
    assert named == set(NAMED) | set(NOT_RECORDS)
    assert not set(NAMED) & set(NOT_RECORDS)
    # each named input's classification is a test of this module, not a reason to leave it out
    assert all(callable(globals().get(test)) for test in NAMED.values())


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path)
    yield p
    p.close()


Call = Callable[[Practice, str], object]


def _answer(p: Practice, ep: str, call: Call, named: str) -> tuple[Any, ...]:
    """What a call naming ``named`` is answered: the error's class, message and fields, the audit entries
    it wrote (without their ids and times), and whether the episode moved on."""
    before_audit = len(p.store.audit_records())
    before = _stored(p, ep)
    with pytest.raises(AlliancekitError) as refused:
        call(p, named)
    entries = [
        (
            r.actor_id,
            r.action,
            r.record_type,
            NAMED_ID if r.record_id == named else r.record_id,
            r.outcome,
            r.detail,
            r.client_ref,
            r.writes,
        )
        for r in p.store.audit_records()[before_audit:]
    ]
    assert _stored(p, ep) == before  # nothing written
    error = refused.value
    fields = (getattr(error, "kind", None), getattr(error, "rule", None), getattr(error, "field", None))
    assert named not in str(error)
    return type(error), str(error), fields, entries


def _not_found(who: Actor, command: str, kind: str) -> list[tuple[str, ...]]:
    """The one entry of a call naming a record not found: its kind and the id named, no client."""
    return [(who.id, COMMANDS[command].action, kind, NAMED_ID, "not-found", "", "", "")]


def _stored(p: Practice, ep: str) -> tuple[Any, ...]:
    """The episode's events, and the practice's administration requests and outbox messages."""
    store: Any = p.store  # the memory and SQLite stores list their requests (for verification)
    return p.store.load_events(ep), store.request_records(), p.store.outbox_records()


def _partner(setup: Setup) -> None:
    consent = Consent(treatment=True, measures=True)
    partner = Participant(PARTNER, "partner", consent)
    setup.practice.add_participant(OWN, setup.episode_id, partner, added_on=D)


@pytest.mark.parametrize("path", ["facade", "batch"])
def test_a_withheld_event_is_not_found_for_a_statement(practice: Practice, path: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    _partner(setup)
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=[PARTNER], on=D)

    def attach(p: Practice, target: str) -> object:
        if path == "facade":
            return p.attach_disagreement(B, ep, target_event_id=target, statement="not so", received_on=D)
        with p.batch() as batch:
            return batch.attach_disagreement(B, ep, target_event_id=target, statement="not so", received_on=D)

    withheld = _answer(p, ep, attach, setup.session_event_id)
    unknown = _answer(p, ep, attach, UNKNOWN)
    assert withheld == unknown
    kind, _message, fields, entries = withheld
    assert (kind.__name__, fields[0]) == ("NotFoundError", "event")
    # a record not found, as an unknown episode: one entry naming the id asked for, no client
    assert entries == _not_found(B, "attach_disagreement", "event")
    # the other side of the boundary: an event B's view shows takes the statement
    goals = next(e for e in p.timeline(OWN, ep) if e.type == "goal-agreed")
    assert attach(p, goals.event_id).record_id is not None  # type: ignore[attr-defined]


def test_another_participants_statement_is_not_found_for_a_statement(practice: Practice) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    _partner(setup)
    a = Actor("client-1", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
    made = p.attach_disagreement(a, ep, target_event_id=setup.session_event_id, statement="x", received_on=D)
    statement = next(e for e in p.timeline(OWN, ep) if e.type == "disagreement-attached")
    assert made.record_id is not None

    def attach(p: Practice, target: str) -> object:
        return p.attach_disagreement(B, ep, target_event_id=target, statement="y", received_on=D)

    assert _answer(p, ep, attach, statement.event_id) == _answer(p, ep, attach, UNKNOWN)
    # the client's own statement is theirs to answer
    assert p.attach_disagreement(a, ep, target_event_id=statement.event_id, statement="z", received_on=D)


def _alerted(p: Practice) -> tuple[str, str]:
    setup = active_episode(p)
    # a PHQ-9 with its risk item endorsed raises an alert
    phq9 = Administration("phq-9", "1.0", "start", {**{f"q{i}": 1 for i in range(1, 9)}, "q9": 2})
    session = Session(held_on=D, modality="video", attendance="attended", administrations=(phq9,))
    p.record_session(OWN, setup.episode_id, session)
    alerts = p.alerts(OWN, setup.episode_id)
    return setup.episode_id, next(k for k, a in alerts.items() if a.rule_id == "risk-item-endorsed")


@pytest.mark.parametrize("command", ["acknowledge_alert", "resolve_alert"])
def test_a_withheld_alert_answers_as_an_unknown_one(practice: Practice, command: str) -> None:
    p = practice
    ep, alert_id = _alerted(p)
    # a directive for someone else: the supervisor sees the alert, and acts on it (the other side)
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=["someone-else"], on=D)
    directive = p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=["sup-1"], on=D)

    def act(p: Practice, alert: str) -> object:
        if command == "acknowledge_alert":
            return p.acknowledge_alert(SUPERVISOR, ep, alert, on=D)
        return p.resolve_alert(SUPERVISOR, ep, alert, note="called the client", on=D)

    withheld = _answer(p, ep, act, alert_id)
    unknown = _answer(p, ep, act, UNKNOWN)
    assert withheld == unknown
    assert withheld[0].__name__ == "LifecycleError"
    assert withheld[2][1] == "alert-not-open"
    p.lift_lockbox(OWN, ep, directive.record_id, on=D)
    assert act(p, alert_id).record_id == alert_id  # type: ignore[attr-defined]


def _phone() -> Session:
    return Session(held_on=date(2026, 1, 12), modality="phone", attendance="attended")


def _repair() -> RepairAttempt:
    return RepairAttempt(attempted_on=D, strategies=(RepairStrategy.GIVE_RATIONALE,), resolved=True)


SESSION_CALLS: dict[str, Callable[[Actor, str, Setup], Call]] = {
    "add_addendum": lambda who, ep, s: (
        lambda p, named: p.add_addendum(who, ep, named, text="later", reason="recalled", added_on=D)
    ),
    "correct_session": lambda who, ep, s: (
        lambda p, named: p.correct_session(who, ep, named, _phone(), reason="r")
    ),
    "note_rupture": lambda who, ep, s: (
        lambda p, named: p.note_rupture(
            who,
            ep,
            RuptureNote(
                noted_on=D,
                kind=RuptureKind.WITHDRAWAL,
                markers=(RuptureMarker.TOPIC_SHIFT,),
                likely_cause=RuptureCause.OTHER,
                session_id=named,
            ),
        )
    ),
    "record_repair": lambda who, ep, s: lambda p, named: p.record_repair(who, ep, named, _repair()),
}


@pytest.mark.parametrize("command", sorted(SESSION_CALLS))
def test_a_withheld_session_or_rupture_answers_as_an_unknown_one(practice: Practice, command: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    named = setup.rupture_id if command == "record_repair" else setup.session_id
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions", "ruptures"], on=D)
    # the clinician of record acting for another purpose reads the record withheld, so writes against it so
    call = SESSION_CALLS[command](OWN_FOR_OPERATIONS, ep, setup)
    withheld = _answer(p, ep, call, named)
    assert withheld == _answer(p, ep, call, UNKNOWN)
    if command == "record_repair":
        assert (withheld[0].__name__, withheld[2][1]) == ("LifecycleError", "rupture-not-open")
        assert withheld[3] == []  # as every other refusal by a rule: no entry
    else:
        assert (withheld[0].__name__, withheld[2][0]) == ("NotFoundError", "session")
        assert withheld[3] == _not_found(OWN_FOR_OPERATIONS, command, "session")
    # acting for treatment, the lockbox does not apply: the same call is made
    assert SESSION_CALLS[command](OWN, ep, setup)(p, named)


A = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)


def _lift(who: Actor, ep: str, path: str = "facade") -> Call:
    def lift(p: Practice, directive: str) -> object:
        if path == "facade":
            return p.lift_lockbox(who, ep, directive, on=D)
        with p.batch() as batch:
            return batch.lift_lockbox(who, ep, directive, on=D)

    return lift


def _sessions_of(p: Practice, reader: Actor, ep: str) -> list[str]:
    return [e.type for e in p.shared_record(reader, ep).entries if e.type == "session-recorded"]


@pytest.mark.parametrize("path", ["facade", "batch"])
def test_a_participant_lifts_only_their_own_directive(practice: Practice, path: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    _partner(setup)
    # A's directive, its id derived from a key B could guess
    mine = p.set_lockbox(
        A, ep, scope="class", classes=["sessions"], recipients=[PARTNER], on=D, idempotency_key="k1"
    )
    assert _sessions_of(p, B, ep) == []
    other = _answer(p, ep, _lift(B, ep, path), mine.record_id)
    assert other == _answer(p, ep, _lift(B, ep, path), UNKNOWN)
    assert (other[0].__name__, other[2][0]) == ("NotFoundError", "lockbox directive")
    assert other[3] == _not_found(B, "lift_lockbox", "lockbox directive")
    assert mine.record_id in p.episode(OWN, ep).lockbox
    assert _sessions_of(p, B, ep) == []  # still withheld from B
    # the other side: each lifts their own, B's own read of the record opens once A lifts theirs
    theirs = p.set_lockbox(B, ep, scope="class", classes=["goals"], recipients=[CLIENT], on=D)
    assert _lift(B, ep, path)(p, theirs.record_id).record_id == theirs.record_id  # type: ignore[attr-defined]
    assert _lift(A, ep, path)(p, mine.record_id).record_id == mine.record_id  # type: ignore[attr-defined]
    assert p.episode(OWN, ep).lockbox == {}
    assert _sessions_of(p, B, ep) == ["session-recorded"]


def test_a_directive_set_in_the_batch_is_lifted_by_its_setter_alone(practice: Practice) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    _partner(setup)
    with p.batch() as batch:
        mine = batch.set_lockbox(A, ep, scope="record", recipients=[PARTNER], on=D)
        with pytest.raises(NotFoundError):
            batch.lift_lockbox(B, ep, mine.record_id, on=D)
        assert batch.lift_lockbox(A, ep, mine.record_id, on=D).record_id == mine.record_id
    assert p.episode(OWN, ep).lockbox == {}


def test_the_clinicians_directive_binds_every_participant_and_only_the_clinician_lifts_it(
    practice: Practice,
) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    _partner(setup)
    theirs = p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], on=D)
    mine = p.set_lockbox(A, ep, scope="class", classes=["sessions"], recipients=[PARTNER], on=D)
    for who in (A, B):  # set on someone's behalf, it binds both: neither may open it
        refused = _answer(p, ep, _lift(who, ep), theirs.record_id)
        assert refused == _answer(p, ep, _lift(who, ep), UNKNOWN)
    # the clinician of record lifts any directive, a participant's too (as before)
    assert p.lift_lockbox(OWN, ep, mine.record_id, on=D).record_id == mine.record_id
    assert p.lift_lockbox(OWN, ep, theirs.record_id, on=D).record_id == theirs.record_id
    assert p.episode(OWN, ep).lockbox == {}


def test_the_client_of_a_one_person_episode_lifts_any_directive(practice: Practice) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    # the clinician's directive is set on the client's behalf: theirs to lift (their reads are not bound)
    theirs = p.set_lockbox(OWN, ep, scope="record", on=D)
    mine = p.set_lockbox(A, ep, scope="class", classes=["sessions"], on=D)
    assert p.lift_lockbox(A, ep, theirs.record_id, on=D).record_id == theirs.record_id
    assert p.lift_lockbox(A, ep, mine.record_id, on=D).record_id == mine.record_id
    assert p.episode(OWN, ep).lockbox == {}
    refused = _answer(p, ep, _lift(A, ep), mine.record_id)  # lifted: no longer in force
    assert refused == _answer(p, ep, _lift(A, ep), UNKNOWN)


def test_a_clinician_whose_id_is_a_participants_reference_is_not_that_participant(practice: Practice) -> None:
    p = practice
    clinician = Actor(PARTNER, Role.CLINICIAN, CLINIC)  # ids of clinicians and clients' references may meet
    ep = p.start_episode(clinician, client_ref=CLIENT, clinician_id=PARTNER, opened_on=D)
    consent = Consent(treatment=True, measures=True)
    p.add_participant(clinician, ep, Participant(PARTNER, "partner", consent), added_on=D)
    theirs = p.set_lockbox(clinician, ep, scope="class", classes=["sessions"], on=D)
    assert _answer(p, ep, _lift(B, ep), theirs.record_id) == _answer(p, ep, _lift(B, ep), UNKNOWN)
    assert p.lift_lockbox(clinician, ep, theirs.record_id, on=D).record_id == theirs.record_id


# -- administration requests: a request's session, a client response's session, a request revoked ----------

#: The evening after the session: when the client filled the form in at home.
ANSWERED = datetime(2026, 1, 12, 18, 0, tzinfo=UTC)


def _phq9() -> Administration:
    return Administration("phq-9", "1.0", "start", {f"q{i}": 0 for i in range(1, 10)})


def _respond(who: Actor, ep: str, path: str) -> Call:
    def respond(p: Practice, named: str) -> object:
        if path == "facade":
            return p.record_client_response(who, ep, _phq9(), responded_at=ANSWERED, session_id=named)
        with p.batch() as batch:
            return batch.record_client_response(who, ep, _phq9(), responded_at=ANSWERED, session_id=named)

    return respond


#: The calls that name a session for a request or a response (a request and a kiosk code are facade-only).
REQUEST_CALLS: dict[str, Callable[[Actor, str], Call]] = {
    "request_administration": lambda who, ep: (
        lambda p, named: p.request_administration(who, ep, measure="phq-9", session_id=named)
    ),
    "kiosk_code": lambda who, ep: lambda p, named: p.kiosk_code(who, ep, measure="phq-9", session_id=named),
    "record_client_response": lambda who, ep: _respond(who, ep, "facade"),
    "record_client_response in a batch": lambda who, ep: _respond(who, ep, "batch"),
}


@pytest.mark.parametrize("command", sorted(REQUEST_CALLS))
def test_a_withheld_session_of_a_request_is_an_unknown_one(practice: Practice, command: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    # withheld from the clinician of record by name: binding when they act for another purpose than treatment
    directive = p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=["clin-a"], on=D)
    call = REQUEST_CALLS[command](OWN_FOR_OPERATIONS, ep)
    withheld = _answer(p, ep, call, setup.session_id)
    assert withheld == _answer(p, ep, call, UNKNOWN)
    kind, _message, (record, _rule, _field), entries = withheld
    assert (kind.__name__, record) == ("NotFoundError", "session")
    assert entries == _not_found(OWN_FOR_OPERATIONS, command.removesuffix(" in a batch"), "session")
    # the other side: acting for treatment the lockbox does not apply, and once lifted it binds no one
    assert REQUEST_CALLS[command](OWN, ep)(p, setup.session_id)
    p.lift_lockbox(OWN, ep, directive.record_id, on=D)
    assert call(p, setup.session_id)


def _revoke(who: Actor, ep: str, path: str = "facade") -> Call:
    def revoke(p: Practice, request_id: str) -> object:
        if path == "facade":
            return p.revoke_request(who, ep, request_id)
        with p.batch() as batch:
            return batch.revoke_request(who, ep, request_id)

    return revoke


def _request_event(p: Practice, ep: str, request_id: str) -> str:
    return next(
        e.event_id
        for e in p.timeline(OWN, ep)
        if e.type == "administration-requested" and e.event.request_id == request_id
    )


@pytest.mark.parametrize("path", ["facade", "batch"])
@pytest.mark.parametrize("scope", ["class", "item"])
def test_a_withheld_request_is_revoked_as_an_unknown_one(practice: Practice, scope: str, path: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    made = p.request_administration(OWN, ep, measure="phq-9")
    # a directive for someone else leaves the request in view of the clinician acting for operations
    p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], recipients=["someone-else"], on=D)
    if scope == "class":
        directive = p.set_lockbox(OWN, ep, scope="class", classes=["sessions"], on=D)
    else:
        withheld_event = _request_event(p, ep, made.request_id)
        directive = p.set_lockbox(OWN, ep, scope="item", event_ids=[withheld_event], on=D)
    revoke = _revoke(OWN_FOR_OPERATIONS, ep, path)
    withheld = _answer(p, ep, revoke, made.request_id)
    assert withheld == _answer(p, ep, revoke, UNKNOWN)
    kind, _message, (_, rule, _), entries = withheld
    assert (kind.__name__, rule, entries) == ("LifecycleError", "request-not-open", [])
    assert made.token is not None  # still usable: the store is unchanged (checked by _answer)
    # the other side: once the directive is lifted, the same actor revokes it
    p.lift_lockbox(OWN, ep, directive.record_id, on=D)
    assert revoke(p, made.request_id).record_id == made.request_id  # type: ignore[attr-defined]
    # and the treating clinician revokes one whatever is withheld
    other = p.request_administration(OWN, ep, measure="phq-9")
    p.set_lockbox(OWN, ep, scope="record", on=D)
    assert _revoke(OWN, ep, path)(p, other.request_id).record_id == other.request_id  # type: ignore[attr-defined]


class _ParticipantsRevoke:
    """A host's policy that lets each participant of an episode revoke its requests as well."""

    def decide(self, request: AccessRequest) -> Decision:
        episode, actor = request.episode, request.actor
        if request.action == Action.REVOKE_REQUEST and actor.role is Role.CLIENT and episode is not None:
            return Decision.allow() if episode.has_participant(actor.id) else Decision.refuse("not theirs")
        return DefaultPolicy().decide(request)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_a_request_for_another_participant_is_unknown(store: str, tmp_path: Path) -> None:
    p = open_on(store, tmp_path, policy=_ParticipantsRevoke())
    try:
        setup = active_episode(p)
        ep = setup.episode_id
        _partner(setup)
        made = p.request_administration(OWN, ep, measure="phq-9")

        def answered_to_b() -> tuple[Any, ...]:
            withheld = _answer(p, ep, _revoke(B, ep), made.request_id)
            assert withheld == _answer(p, ep, _revoke(B, ep), UNKNOWN)
            return withheld

        # a request is the identified client's (A's): B's view leaves it out, with no directive at all
        kind, _message, (_, rule, _), entries = answered_to_b()
        assert (kind.__name__, rule, entries) == ("LifecycleError", "request-not-open", [])
        # A's directive withholding the sessions from B changes nothing of that, set or lifted
        mine = p.set_lockbox(A, ep, scope="class", classes=["sessions"], recipients=[PARTNER], on=D)
        answered_to_b()
        p.lift_lockbox(A, ep, mine.record_id, on=D)
        answered_to_b()
        # the other side: A revokes their own request
        assert _revoke(A, ep)(p, made.request_id).record_id == made.request_id  # type: ignore[attr-defined]
    finally:
        p.close()
