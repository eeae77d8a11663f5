"""Failed access attempts are audited: every read and command naming an episode that does not exist writes
one ``not-found`` entry, in the actor's own clinic's log and naming no client, and nothing else, then raises
NotFoundError. The paths are enumerated from the code (the command table and every facade method taking
an episode id), on the facade and in a batch; the calls are the policy matrix's."""

from __future__ import annotations

import functools
import inspect
from datetime import UTC, date, datetime
from typing import Any

import attrs
import pytest

from alliancekit import Practice
from alliancekit.batch import FACADE_ONLY
from alliancekit.core.command_table import COMMANDS, Returns
from alliancekit.core.guard import NOT_FOUND
from alliancekit.domain import Actor, Administration, Role
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import NotFoundError
from alliancekit.store.protocol import AuditRecord

from .helpers import CLINIC, Setup, active_episode, actor, footprint
from .test_policy_matrix import OPERATIONS, Op

UNKNOWN = "no-such-episode"

#: Calls that name an episode elsewhere than in an ``episode_id`` parameter: a group session's members,
#: and the export and the report of one episode (functions over the facade, not its methods).
NAMED_ELSEWHERE = {"record_group_session", "fhir_bundle", "progress_chart"}


def _naming_an_episode() -> set[str]:
    """Every command of the table but the one that opens an episode, and every facade method with an
    ``episode_id`` parameter."""
    commands = {name for name, spec in COMMANDS.items() if spec.returns is not Returns.EPISODE_ID}
    facade = {
        name
        for name in dir(Practice)
        if not name.startswith("_")
        and callable(getattr(Practice, name))
        and "episode_id" in inspect.signature(getattr(Practice, name)).parameters
    }
    return commands | facade | NAMED_ELSEWHERE


def _submit(p: Any, a: Any, s: Setup, *, request_id: str = "") -> object:
    """The client's answer, run as its command (the facade runs it through a token, whose request names
    an episode that exists): a real request, the unknown episode named."""
    record = p.store.get_request(CLINIC, request_id)
    answers = Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})
    return p._runner.run(
        COMMANDS["submit_response"],
        a,
        s.episode_id,
        {"request": record, "administration": answers},
        private={"now": datetime(2026, 1, 5, 12, tzinfo=UTC)},
    )


#: The matrix's calls that make a record of the episode first (which would fail on its own).
OVERRIDES: dict[str, Op] = {
    "revoke_request": lambda p, a, s: p.revoke_request(a, s.episode_id, "request-x"),
    "submit_response": _submit,
}


def _calls() -> list[str]:
    naming = _naming_an_episode()
    return sorted(
        name for name in OPERATIONS if name.removesuffix("_of_another").removesuffix("_override") in naming
    )


def _actor_for(operation: str) -> Actor:
    allowed = OPERATIONS[operation][2]
    kind = "clin_own" if "clin_own" in allowed else sorted(allowed)[0]
    found = actor(kind)
    assert found is not None
    return found


def _probe(target: Any, call: Op, who: Actor, setup: Setup) -> set[AuditRecord]:
    """Call ``call`` naming the unknown episode; return the audit entries it wrote."""
    p = setup.practice
    before, left = set(p.store.audit_records()), footprint(p, setup.episode_id)
    with pytest.raises(NotFoundError) as caught:
        call(target, who, attrs.evolve(setup, episode_id=UNKNOWN))
    assert (caught.value.kind, caught.value.ident) == ("episode", UNKNOWN)
    # the id asked for may be anything (a client's reference in the wrong place): kept, never in the message
    assert UNKNOWN not in str(caught.value) + repr(caught.value)
    assert footprint(p, setup.episode_id) == left  # nothing but the entry
    return set(p.store.audit_records()) - before


def _assert_one_not_found(written: set[AuditRecord], who: Actor) -> None:
    [entry] = written
    assert (entry.outcome, entry.record_type, entry.record_id) == (NOT_FOUND, "episode", UNKNOWN)
    assert (entry.actor_id, entry.actor_role, entry.clinic_id) == (who.id, who.role.value, who.clinic_id)
    assert (entry.client_ref, entry.writes, entry.detail) == ("", "", "")
    assert entry.action


def test_every_path_naming_an_episode_is_probed() -> None:
    covered = {name.removesuffix("_of_another").removesuffix("_override") for name in _calls()}
    assert covered == _naming_an_episode()
    assert set(OVERRIDES) <= covered


@pytest.mark.parametrize("operation", _calls())
def test_an_unknown_episode_is_audited_once_as_not_found(operation: str) -> None:
    setup = active_episode()
    p, who = setup.practice, _actor_for(operation)
    call = OVERRIDES.get(operation, OPERATIONS[operation][1])
    if operation == "submit_response":  # a real request first: the token path names its episode
        made = p.request_administration(actor("clin_own"), setup.episode_id, measure="phq-9")
        call = functools.partial(_submit, request_id=made.request_id)
    _assert_one_not_found(_probe(p, call, who, setup), who)


#: The batch's calls: its commands (those of the table it runs) and its reads.
BATCH_CALLS = sorted((set(COMMANDS) - FACADE_ONLY - {"start_episode"}) | {"episode", "alerts"})


@pytest.mark.parametrize("operation", BATCH_CALLS)
def test_an_unknown_episode_in_a_batch_is_audited_once_as_not_found(operation: str) -> None:
    setup = active_episode()
    p, who = setup.practice, _actor_for(operation)
    call = OVERRIDES.get(operation, OPERATIONS[operation][1])
    with p.batch() as batch:
        written = _probe(batch, call, who, setup)
        assert batch.pending == 0  # the refused call holds nothing
    _assert_one_not_found(written, who)  # written at the call, as a refusal is


def test_the_probe_is_in_the_probers_clinic_log_only() -> None:
    setup = active_episode()
    p = setup.practice
    elsewhere = Actor("clin-z", Role.CLINICIAN, "c2")
    written = _probe(p, lambda q, a, s: q.timeline(a, s.episode_id), elsewhere, setup)
    written |= _probe(
        p, lambda q, a, s: q.put_on_hold(a, s.episode_id, on=date(2026, 1, 19), reason="r"), elsewhere, setup
    )
    assert {(r.clinic_id, r.outcome) for r in written} == {("c2", NOT_FOUND)}
    assert len(written) == 2
    auditor = Actor("adm-2", Role.ADMINISTRATOR, "c2", Purpose.OPERATIONS)
    seen = {(r.action, r.record_id) for r in p.audit_entries(auditor) if r.outcome == NOT_FOUND}
    assert seen == {("read-timeline", UNKNOWN), ("put-on-hold", UNKNOWN)}
    home = actor("admin")
    assert not [r for r in p.audit_entries(home) if r.outcome == NOT_FOUND]
