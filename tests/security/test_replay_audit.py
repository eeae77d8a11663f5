"""A repeated keyed command is a request answered: it returns the first result and writes one ``replayed``
entry naming the command's action and the episode, and nothing else (no event, no row, no message), on the
facade and in a batch, for every command of the table (the calls are the policy matrix's)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit.batch import FACADE_ONLY
from alliancekit.core.command_table import COMMANDS
from alliancekit.core.guard import REPLAYED
from alliancekit.domain import Actor, Administration, Consent, Consultation, Role
from alliancekit.errors import AccessDenied
from alliancekit.practice import Practice
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .helpers import CLIENT, CLINIC, Clock, Setup, active_episode, actor
from .test_policy_matrix import OPERATIONS, SESSION, Op

D = date(2026, 1, 19)
KEY = "key-1"

#: The lifecycle refuses the matrix's call on the matrix's episode (no open alert: the first call of an alert
#: command never lands); their repeats take the same step of the runner as every other command's.
NEVER_LANDS = {"acknowledge_alert", "resolve_alert"}
#: A kiosk code takes no key on the facade (a repeat could not show the code again).
NO_KEY = {"kiosk_code"}


class Keyed:
    """The practice (or a batch), every command called with the key."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.target, name)
        if name == "request_administration":
            return functools.partial(method, key=KEY)
        return functools.partial(method, idempotency_key=KEY) if name in COMMANDS else method


def _new_episode(p: Practice, s: Setup) -> Setup:
    ep = p.start_episode(actor("clin_own"), client_ref=CLIENT, clinician_id="clin-a", opened_on=D)
    return attrs.evolve(s, episode_id=ep)


def _consulted(p: Practice, s: Setup) -> Setup:
    s = _new_episode(p, s)
    p.record_consultation(actor("clin_own"), s.episode_id, Consultation(D, "video", Consent(True, True)))
    return s


def _on_hold(p: Practice, s: Setup) -> Setup:
    p.put_on_hold(actor("clin_own"), s.episode_id, on=D, reason="r")
    return s


def _locked(p: Practice, s: Setup) -> Setup:
    set_ = p.set_lockbox(actor("clin_own"), s.episode_id, scope="class", classes=["ruptures"], on=D)
    assert set_.record_id is not None
    return attrs.evolve(s, goal_id=set_.record_id)  # the directive's id, where the call finds it


_SUBMITTED: dict[tuple[int, str], Any] = {}


def _submit(p: Any, a: Any, s: Setup) -> object:
    """The client's answer, run as its command with the key (the facade's token path passes none)."""
    # the request as first submitted against (its record changes once used: a repeat sends the same one)
    record = _SUBMITTED.setdefault((id(p.target), s.goal_id), p.target.store.get_request(CLINIC, s.goal_id))
    administration = Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})
    return p.target._runner.run(
        COMMANDS["submit_response"],
        a,
        s.episode_id,
        {"request": record, "administration": administration},
        idempotency_key=KEY,
        private={"now": p.target._s.clock()},
    )


def _requested(p: Practice, s: Setup) -> Setup:
    made = p.request_administration(actor("clin_own"), s.episode_id, measure="phq-9")
    return attrs.evolve(s, goal_id=made.request_id)  # the request's id, where the call finds it


#: What a command needs first on the matrix's episode, and the call when the matrix's would not land.
PREPARED: dict[str, tuple[Callable[[Practice, Setup], Setup], Op | None]] = {
    "record_consultation": (_new_episode, None),
    "decide_fit": (_consulted, None),
    "resume": (_on_hold, None),
    "lift_lockbox": (_locked, lambda p, a, s: p.lift_lockbox(a, s.episode_id, s.goal_id, on=D)),
    "revoke_request": (_requested, lambda p, a, s: p.revoke_request(a, s.episode_id, s.goal_id)),
    "submit_response": (_requested, _submit),
}

FACADE_COMMANDS = sorted(set(COMMANDS) - NEVER_LANDS - NO_KEY)
BATCH_COMMANDS = sorted(set(FACADE_COMMANDS) - FACADE_ONLY)


def _actor_for(name: str) -> Actor:
    allowed = OPERATIONS[name][2]
    found = actor("clin_own" if "clin_own" in allowed else "client_own")
    assert found is not None
    return found


def _footprint(p: Practice) -> tuple[Any, ...]:
    """Everything but the audit log."""
    store = p.store
    episodes = sorted(store.episode_ids())
    return (
        episodes,
        [[e.event_id for e in store.load_events(ep)] for ep in episodes],
        [store.load_snapshot(ep) for ep in episodes],
        store.caseload(open_only=False),
        store.outbox_records(),
    )


def _prepared(name: str) -> tuple[Practice, Setup, Op]:
    setup = active_episode()
    prepare, call = PREPARED.get(name, (lambda p, s: s, None))
    return setup.practice, prepare(setup.practice, setup), call or OPERATIONS[name][1]


def _new_entries(p: Practice, before: set[AuditRecord]) -> list[AuditRecord]:
    return [r for r in p.store.audit_records() if r not in before]


def _assert_replayed(entries: list[AuditRecord], first: AuditRecord, who: Actor) -> None:
    [entry] = entries
    assert (entry.outcome, entry.action, entry.record_type) == (REPLAYED, first.action, "episode")
    assert (entry.record_id, entry.client_ref) == (first.record_id, first.client_ref)
    assert (entry.actor_id, entry.clinic_id, entry.writes) == (who.id, who.clinic_id, "")


def test_the_commands_left_out_are_only_those_named() -> None:
    assert set(FACADE_COMMANDS) | NEVER_LANDS | NO_KEY == set(COMMANDS)


@pytest.mark.parametrize("name", FACADE_COMMANDS)
def test_a_repeat_on_the_facade_is_audited_once_as_replayed(name: str) -> None:
    p, setup, call = _prepared(name)
    who, target = _actor_for(name), Keyed(p)
    before = set(p.store.audit_records())
    first = call(target, who, setup)
    [written] = [r for r in _new_entries(p, before) if r.writes]  # the first call's commit
    before, footprint = set(p.store.audit_records()), _footprint(p)
    again = call(target, who, setup)
    if hasattr(first, "version"):
        assert (again.version, again.duplicate) == (first.version, True)
    assert _footprint(p) == footprint  # no event, no row, no message
    _assert_replayed(_new_entries(p, before), written, who)


@pytest.mark.parametrize("held", [False, True], ids=["committed", "held"])
@pytest.mark.parametrize("name", BATCH_COMMANDS)
def test_a_repeat_in_a_batch_is_audited_once_as_replayed(name: str, held: bool) -> None:
    p, setup, call = _prepared(name)
    who = _actor_for(name)
    before = set(p.store.audit_records())
    with p.batch() as batch:
        first = call(Keyed(p if not held else batch), who, setup)
        again = call(Keyed(batch), who, setup)
        footprint = _footprint(p)
    assert again == (attrs.evolve(first, duplicate=True) if hasattr(first, "version") else first)
    entries = _new_entries(p, before)
    [written] = [r for r in entries if r.writes]
    _assert_replayed([r for r in entries if not r.writes], written, who)
    if not held:
        assert _footprint(p) == footprint  # the batch wrote its entry, nothing else


def test_a_repeat_by_its_maker_no_longer_allowed_is_replayed_not_refused() -> None:
    setup = active_episode()
    p, me, ep = setup.practice, actor("clin_own"), setup.episode_id
    assert me is not None
    first = p.record_session(me, ep, SESSION, idempotency_key=KEY)
    p.transfer(me, ep, to_clinician_id="clin-c", on=D, reason="r")
    for batched in (False, True):
        before = set(p.store.audit_records())
        with p.batch() if batched else contextlib.nullcontext(p) as target:
            again = target.record_session(me, ep, SESSION, idempotency_key=KEY)
        assert (again.version, again.duplicate) == (first.version, True)
        assert [(r.outcome, r.action) for r in _new_entries(p, before)] == [(REPLAYED, "record-session")]


def test_another_actor_with_the_same_key_is_refused_not_replayed() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    p.record_session(actor("clin_own"), ep, SESSION, idempotency_key=KEY)
    before = set(p.store.audit_records())
    with pytest.raises(AccessDenied):
        p.record_session(actor("clin_other"), ep, SESSION, idempotency_key=KEY)
    assert [r.outcome for r in _new_entries(p, before)] == ["refused"]


def test_a_batch_of_repeats_only_writes_their_entries_and_a_failed_block_too() -> None:
    setup = active_episode()
    p, me, ep = setup.practice, actor("clin_own"), setup.episode_id
    assert me is not None
    p.record_session(me, ep, SESSION, idempotency_key=KEY)
    before, footprint = set(p.store.audit_records()), _footprint(p)
    with p.batch() as batch:
        batch.record_session(me, ep, SESSION, idempotency_key=KEY)
        assert _new_entries(p, before) == []  # held with the batch, as its reads are
    assert [r.outcome for r in _new_entries(p, before)] == [REPLAYED]
    before = set(p.store.audit_records())
    with pytest.raises(RuntimeError), p.batch() as batch:  # noqa: PT012 - the block's end is what is tested
        batch.record_session(me, ep, SESSION, idempotency_key=KEY)
        raise RuntimeError("the host gave up")
    assert [r.outcome for r in _new_entries(p, before)] == [REPLAYED]  # answered: audited all the same
    assert _footprint(p) == footprint


def test_a_key_is_answered_on_a_fresh_read_not_on_a_practice_s_stale_state(tmp_path: Path) -> None:
    # Two practices on one SQLite file (two processes). ``mine`` last saw clin-a's episode; ``theirs`` then
    # transfers it to clin-c, who records a keyed session. clin-a, no longer allowed, is neither answered
    # from the key (another's first result, or that the key is taken) nor spared the refusal's audit entry.
    path = tmp_path / "p.sqlite"
    me, new_clinician = actor("clin_own"), Actor("clin-c", Role.CLINICIAN, CLINIC)
    assert me is not None
    mine, theirs = (Practice(SQLiteStore(path), clock=Clock()) for _ in range(2))
    with mine, theirs:
        ep = active_episode(mine).episode_id
        mine.record_session(me, ep, SESSION, idempotency_key="mine")  # ``mine`` caches the episode
        theirs.transfer(me, ep, to_clinician_id="clin-c", on=D, reason="r")
        theirs.record_session(new_clinician, ep, SESSION, idempotency_key=KEY)
        for session in (SESSION, attrs.evolve(SESSION, held_on=D - timedelta(days=1))):  # same, other request
            before = set(mine.store.audit_records())
            with pytest.raises(AccessDenied):
                mine.record_session(me, ep, session, idempotency_key=KEY)
            assert [r.outcome for r in _new_entries(mine, before)] == ["refused"]
        # the maker's own repeat is still answered (the rule of the test above), on a fresh read too
        assert mine.record_session(me, ep, SESSION, idempotency_key="mine").duplicate
