"""Failed lookups of a record of an episode are audited as an unknown episode is: every read and command
naming a session, a goal, an event or a lockbox directive that the episode does not have writes one
``not-found`` entry (the kind of record and the id asked for, in the actor's own clinic's log, naming no
client) and nothing else, then raises NotFoundError. The paths are enumerated from the code: every command
of the table and every facade method taking an id is probed here, or said to name no record of an episode
it looks up, or to answer an unknown id otherwise (and why); on the facade and in a batch."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.batch import FACADE_ONLY
from alliancekit.core.command_table import COMMANDS, Returns
from alliancekit.core.guard import NOT_FOUND
from alliancekit.domain import (
    Actor,
    Administration,
    GoalProgressNote,
    GoalRevision,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import Purpose, RuptureCause, RuptureKind, RuptureMarker
from alliancekit.errors import NotFoundError, ValidationError
from alliancekit.security.policy import Action
from alliancekit.store.protocol import AuditRecord

from .helpers import (
    CLIENT,
    CLINIC,
    REAL_STORES,
    Setup,
    active_episode,
    actor,
    footprint,
    on_real_store,
)
from .test_unknown_episode_audit import UNKNOWN as UNKNOWN_EPISODE

UNKNOWN = "no-such-record"
D = date(2026, 1, 19)
RESPONDED_AT = datetime(2026, 1, 19, 9, 0, tzinfo=UTC)
Call = Callable[[Any, Actor, Setup], object]


def _phq9() -> Administration:
    """The client's answers to a measure they filled in elsewhere, for ``record_client_response``."""
    return Administration("phq-9", "1.0", "start", {f"q{i}": 0 for i in range(1, 10)})


def _rupture(session_id: str) -> RuptureNote:
    return RuptureNote(
        noted_on=D,
        kind=RuptureKind.WITHDRAWAL,
        markers=(RuptureMarker.DENIAL,),
        likely_cause=RuptureCause.OTHER,
        session_id=session_id,
    )


#: Every call naming a record of an episode that it looks up: the kind of record, and the call naming an
#: unknown one (on the facade or a batch, whichever is given).
PROBES: dict[str, tuple[str, Call]] = {
    "revise_goal": (
        "goal",
        lambda p, a, s: p.revise_goal(a, s.episode_id, GoalRevision(UNKNOWN), revised_on=D),
    ),
    "record_review": (
        "goal",
        lambda p, a, s: p.record_review(
            a, s.episode_id, Review(D, "continue", goal_progress=(GoalProgressNote(UNKNOWN, "improving"),))
        ),
    ),
    "correct_session": (
        "session",
        lambda p, a, s: p.correct_session(
            a, s.episode_id, UNKNOWN, Session(held_on=D, modality="phone", attendance="attended"), reason="r"
        ),
    ),
    "add_addendum": (
        "session",
        lambda p, a, s: p.add_addendum(a, s.episode_id, UNKNOWN, text="t", reason="r", added_on=D),
    ),
    "note_rupture": ("session", lambda p, a, s: p.note_rupture(a, s.episode_id, _rupture(UNKNOWN))),
    "attach_disagreement": (
        "event",
        lambda p, a, s: p.attach_disagreement(a, s.episode_id, UNKNOWN, statement="s", received_on=D),
    ),
    "lift_lockbox": ("lockbox directive", lambda p, a, s: p.lift_lockbox(a, s.episode_id, UNKNOWN, on=D)),
    "request_administration": (
        "session",
        lambda p, a, s: p.request_administration(a, s.episode_id, measure="phq-9", session_id=UNKNOWN),
    ),
    "kiosk_code": (
        "session",
        lambda p, a, s: p.kiosk_code(a, s.episode_id, measure="phq-9", session_id=UNKNOWN),
    ),
    "record_client_response": (
        "session",
        lambda p, a, s: p.record_client_response(
            a, s.episode_id, _phq9(), responded_at=RESPONDED_AT, session_id=UNKNOWN
        ),
    ),
    "session_history": ("session", lambda p, a, s: p.session_history(a, s.episode_id, UNKNOWN)),
}

#: Calls that take an id of something else than a record of an episode, or answer an unknown id with
#: another error than NotFoundError (and no entry): what they answer, and why it is not a failed lookup.
ANSWERED_OTHERWISE = {
    # an alert, a rupture or a request that is not open is refused alike whether it was never made or has
    # been closed since (LifecycleError): the rule cannot tell a probe from a late click
    "acknowledge_alert": "alert-not-open",
    "resolve_alert": "alert-not-open",
    "record_repair": "rupture-not-open",
    "revoke_request": "request-not-open",
    # input checks against the episode's state: ValidationError naming the field and rule (a person, or a
    # group the store keeps no list of: no record of the episode is looked up)
    "change_measures_consent": "participant: participant-not-in-episode",
    "record_group_session": "session.members[i].episode_id: not-a-group-member (no list of groups is kept)",
    # a token or a kiosk code names no clinic until it is found: one InvalidToken, a wrong kiosk code
    # counted and audited as refused, a token naming no request writing nothing (guesses must not fill the
    # log); the table's command is given the request the token found
    "open_request": "InvalidToken",
    "submit_response": "InvalidToken",
    "redeem_kiosk_code": "InvalidToken (a wrong code: a refused entry in the clinic's log)",
    # no actor: the operator's outbox
    "retry_message": "False",
}

#: Ids that name people, clinics or what a call makes: looked up nowhere, so never a failed lookup.
NOT_LOOKED_UP = {
    "episode_id",  # the episode: test_unknown_episode_audit.py
    "clinic_id",
    "clinician_id",
    "to_clinician_id",
    "facilitator_ids",
    "actor_id",
    "group_id",  # joined by naming it: the store keeps no list of groups
    "event_ids",  # an item directive withholds the events it names, made yet or not
}


def _inputs(name: str) -> set[str]:
    """What a call takes: its facade method's parameters and its command's inputs."""
    found = set(COMMANDS[name].checks) if name in COMMANDS else set()
    method = getattr(Practice, name, None)
    if method is not None:
        found |= set(inspect.signature(method).parameters)
    return found


def _takes_an_id(name: str) -> bool:
    return any(p.endswith(("_id", "_ids")) or p in {"token", "code"} for p in _inputs(name))


def _calls_taking_ids() -> set[str]:
    """Every command of the table but the one that makes an episode, and every facade method taking an id."""
    facade = {n for n in dir(Practice) if not n.startswith("_") and callable(getattr(Practice, n))}
    commands = {n for n, spec in COMMANDS.items() if spec.returns is not Returns.EPISODE_ID}
    return commands | {n for n in facade if _takes_an_id(n) and n not in COMMANDS}


def _naming_only_their_own() -> set[str]:
    return _calls_taking_ids() - set(PROBES) - set(ANSWERED_OTHERWISE)


def test_every_call_taking_an_id_is_probed_or_names_no_record_it_looks_up() -> None:
    assert not set(PROBES) & set(ANSWERED_OTHERWISE)
    assert set(PROBES) | set(ANSWERED_OTHERWISE) <= _calls_taking_ids()
    # the rest take no id of a record to look up. (A few name one inside a value object, a review's goals,
    # a rupture note's session: no parameter says so, so those were found in the lifecycle rules' every
    # NotFoundError, and are probed like the others.)
    for name in _naming_only_their_own():
        ids = {p for p in _inputs(name) if p.endswith(("_id", "_ids"))}
        assert ids <= NOT_LOOKED_UP, name


def _probe(target: Any, name: str, who: Actor, setup: Setup) -> set[AuditRecord]:
    """Call ``name`` naming an unknown record of the real episode; return the audit entries it wrote."""
    kind, call = PROBES[name]
    p = setup.practice
    before, left = set(p.store.audit_records()), footprint(p, setup.episode_id)
    with pytest.raises(NotFoundError) as caught:
        call(target, who, setup)
    assert (caught.value.kind, caught.value.ident) == (kind, UNKNOWN)
    assert UNKNOWN not in str(caught.value) + repr(caught.value)
    assert footprint(p, setup.episode_id) == left  # nothing but the entry
    return set(p.store.audit_records()) - before


def _assert_one_not_found(written: set[AuditRecord], name: str, who: Actor) -> None:
    [entry] = written
    kind = PROBES[name][0]
    action = COMMANDS[name].action if name in COMMANDS else Action.READ_SESSION_HISTORY
    assert (entry.outcome, entry.record_type, entry.record_id) == (NOT_FOUND, kind, UNKNOWN)
    assert (entry.actor_id, entry.actor_role, entry.clinic_id) == (who.id, who.role.value, who.clinic_id)
    assert (entry.action, entry.client_ref, entry.writes, entry.detail) == (action, "", "", "")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_an_unknown_record_is_audited_once_as_not_found(name: str) -> None:
    setup = active_episode()
    who = actor("clin_own")
    assert who is not None
    _assert_one_not_found(_probe(setup.practice, name, who, setup), name, who)


@pytest.mark.parametrize("name", sorted(set(PROBES) & set(COMMANDS) - FACADE_ONLY))
def test_an_unknown_record_in_a_batch_is_audited_once_as_not_found(name: str) -> None:
    setup = active_episode()
    who = actor("clin_own")
    assert who is not None
    with setup.practice.batch() as batch:
        written = _probe(batch, name, who, setup)
        assert batch.pending == 0  # the refused call holds nothing
    _assert_one_not_found(written, name, who)  # written at the call, as a refusal is


def test_a_record_withheld_from_the_actor_is_audited_as_an_unknown_one() -> None:
    """A session the actor's view leaves out (a directive on the sessions, for a reader it binds) is answered
    as an unknown one: the same error, and the same entry."""
    setup = active_episode()
    p = setup.practice
    p.set_lockbox(actor("client_own"), setup.episode_id, scope="class", classes=["sessions"], on=D)
    supervisor = actor("supervisor")
    assert supervisor is not None
    before = set(p.store.audit_records())
    with pytest.raises(NotFoundError) as caught:
        p.session_history(supervisor, setup.episode_id, setup.session_id)
    assert caught.value.kind == "session"
    [entry] = set(p.store.audit_records()) - before
    assert (entry.outcome, entry.record_type, entry.record_id) == (NOT_FOUND, "session", setup.session_id)
    assert (entry.actor_id, entry.client_ref) == (supervisor.id, "")


def test_a_known_record_is_audited_as_before() -> None:
    """The other side: a session the episode has is read with one allowed entry naming the episode."""
    setup = active_episode()
    p, who = setup.practice, actor("clin_own")
    assert who is not None
    before = set(p.store.audit_records())
    assert p.session_history(who, setup.episode_id, setup.session_id).session_id == setup.session_id
    [entry] = set(p.store.audit_records()) - before
    assert (entry.outcome, entry.record_type, entry.record_id) == ("allowed", "episode", setup.episode_id)
    assert entry.client_ref == CLIENT


def test_an_unknown_measure_is_bad_input_not_a_failed_lookup() -> None:
    """A measure that is not installed is a definition's name, not a record: refused, nothing written."""
    setup = active_episode()
    p, who = setup.practice, actor("clin_own")
    before = set(p.store.audit_records())
    with pytest.raises(NotFoundError) as caught:
        p.request_administration(who, setup.episode_id, measure="no-such-measure")
    assert caught.value.named
    assert set(p.store.audit_records()) == before


def test_an_unknown_episode_is_still_named_as_the_episode() -> None:
    """Both lookups fail on an unknown episode: the episode's is the one entered (it comes first)."""
    setup = active_episode()
    p, who = setup.practice, actor("clin_own")
    assert who is not None
    before = set(p.store.audit_records())
    with pytest.raises(NotFoundError):
        p.session_history(who, UNKNOWN_EPISODE, UNKNOWN)
    [entry] = set(p.store.audit_records()) - before
    assert (entry.outcome, entry.record_type, entry.record_id) == (NOT_FOUND, "episode", UNKNOWN_EPISODE)


@pytest.fixture(params=REAL_STORES)
def stored(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    """A practice on a real store: an SQLite file, or a schema of its own on the PostgreSQL server."""
    with on_real_store(request, tmp_path) as p:
        yield p


def _respond(p: Practice, path: str, who: Actor, episode_id: str, session_id: str) -> object:
    if path == "facade":
        return p.record_client_response(
            who, episode_id, _phq9(), responded_at=RESPONDED_AT, session_id=session_id
        )
    with p.batch() as batch:
        return batch.record_client_response(
            who, episode_id, _phq9(), responded_at=RESPONDED_AT, session_id=session_id
        )


def _refused_response(p: Practice, path: str, who: Actor, episode_id: str, named: str) -> tuple[Any, ...]:
    """The answer to a response naming the session ``named``: the error and the one entry (its id aside)."""
    before, left = set(p.store.audit_records()), footprint(p, episode_id)
    with pytest.raises(NotFoundError) as caught:
        _respond(p, path, who, episode_id, named)
    assert footprint(p, episode_id) == left  # no response, no row, no message: nothing but the entry
    [entry] = set(p.store.audit_records()) - before
    assert entry.record_id == named
    shown = (entry.actor_id, entry.action, entry.outcome, entry.record_type, entry.clinic_id)
    return (type(caught.value), caught.value.kind, str(caught.value), shown, entry.client_ref, entry.detail)


@pytest.mark.parametrize("path", ["facade", "batch"])
def test_a_response_in_a_withheld_session_is_answered_as_in_an_unknown_one(
    stored: Practice, path: str
) -> None:
    """On each real store: a recorded response naming a session the episode does not have, or one the
    actor's view leaves out, is one ``not-found`` entry naming the session and nothing else, the two alike;
    once the directive is lifted the same session takes the response."""
    setup = active_episode(stored)
    p, ep = stored, setup.episode_id
    own = actor("clin_own")
    assert own is not None
    # withheld from the clinician of record by name: binding when they act for another purpose than treatment
    directive = p.set_lockbox(
        actor("client_own"), ep, scope="class", classes=["sessions"], recipients=[own.id], on=D
    )
    for_operations = Actor(own.id, own.role, own.clinic_id, Purpose.OPERATIONS)
    unknown = _refused_response(p, path, for_operations, ep, UNKNOWN)
    assert unknown == (
        NotFoundError,
        "session",
        str(NotFoundError("session", UNKNOWN)),
        (own.id, Action.RECORD_CLIENT_RESPONSE, NOT_FOUND, "session", CLINIC),
        "",
        "",
    )
    assert _refused_response(p, path, for_operations, ep, setup.session_id) == unknown
    # the other side: the same session, once no directive binds the actor, takes the response
    p.lift_lockbox(actor("client_own"), ep, directive.record_id, on=D)
    assert _respond(p, path, for_operations, ep, setup.session_id)


#: Calls naming a session by an id that could name nothing (a space at its end).
MALFORMED: dict[str, Call] = {
    "record_client_response": lambda p, a, s: _respond(p, "facade", a, s.episode_id, f"{s.session_id} "),
    "request_administration": lambda p, a, s: p.request_administration(
        a, s.episode_id, measure="phq-9", session_id=f"{s.session_id} "
    ),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_a_malformed_session_id_is_bad_input_not_a_failed_lookup(name: str) -> None:
    """A malformed id is refused by its check before any lookup: ``ValidationError`` naming the field and
    rule, and nothing written, not even an entry."""
    setup = active_episode()
    p, who = setup.practice, actor("clin_own")
    assert who is not None
    before, left = set(p.store.audit_records()), footprint(p, setup.episode_id)
    with pytest.raises(ValidationError) as caught:
        MALFORMED[name](p, who, setup)
    assert (caught.value.field, caught.value.rule) == ("session_id", "whitespace")
    assert (set(p.store.audit_records()), footprint(p, setup.episode_id)) == (before, left)
