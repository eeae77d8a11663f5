"""A new lockbox directive never takes the id of one in force: when the host's id maker (``ids``) makes such
an id, setting it is a ValidationError for ``ids`` (rule ``directive-in-force``) and nothing is written, so
the directive in force stays as it was set, by whom it was set. An id no longer in force (lifted) may be
made again, and a keyed command repeated is answered with its first result as before. On the memory store
and an SQLite file, on the facade and in a batch.

Before it, the second directive replaced the first in the episode's state, under the same id: a partner
whose host's ids repeated took over the client's directive against them (its setter became the partner, who
could then lift it), and the first directive's classes and recipients were silently gone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role
from alliancekit.errors import ValidationError

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
A = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
B = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
#: The one id the host's id maker gives every directive.
SAME = "directive-1"


def _ids() -> Any:
    """A host's id maker that gives every lockbox directive the same id, and every other record a new one."""
    counter = itertools.count()
    return lambda kind: SAME if kind == "lockbox" else f"{kind}-{next(counter)}"


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path, ids=_ids())
    yield p
    p.close()


def _set(p: Practice, who: Actor, ep: str, path: str, **args: Any) -> Any:
    if path == "facade":
        return p.set_lockbox(who, ep, on=D, **args)
    with p.batch() as batch:
        return batch.set_lockbox(who, ep, on=D, **args)


def _stored(p: Practice, ep: str) -> tuple[Any, ...]:
    return p.store.load_events(ep), len(p.store.audit_records())


@pytest.mark.parametrize("path", ["facade", "batch"])
@pytest.mark.parametrize("second", ["clinician", "partner"])
def test_a_second_directive_with_an_id_in_force_is_refused(
    practice: Practice, second: str, path: str
) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    p.add_participant(
        OWN, ep, Participant(PARTNER, "partner", Consent(treatment=True, measures=True)), added_on=D
    )
    first = p.set_lockbox(A, ep, scope="class", classes=["sessions"], recipients=[PARTNER], on=D)
    assert first.record_id == SAME
    in_force = p.episode(OWN, ep).lockbox
    before = _stored(p, ep)
    with pytest.raises(ValidationError) as refused:
        _set(p, OWN if second == "clinician" else B, ep, path, scope="record")
    assert (refused.value.field, refused.value.rule) == ("ids", "directive-in-force")
    # nothing written, no audit entry (a rule's refusal writes none): the first directive stands, A's
    assert _stored(p, ep) == before
    assert p.episode(OWN, ep).lockbox == in_force
    assert [e.type for e in p.shared_record(B, ep).entries if e.type == "session-recorded"] == []
    # the other side: once lifted, the id is in force no more and a new directive may take it
    p.lift_lockbox(A, ep, SAME, on=D)
    assert _set(p, OWN, ep, path, scope="record").record_id == SAME
    assert list(p.episode(OWN, ep).lockbox) == [SAME]


def test_a_keyed_directive_repeated_is_answered_as_before(practice: Practice) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    first = p.set_lockbox(OWN, ep, scope="record", on=D, idempotency_key="k-1")
    events = p.store.load_events(ep)
    again = p.set_lockbox(OWN, ep, scope="record", on=D, idempotency_key="k-1")
    assert (again.record_id, again.version, again.duplicate) == (first.record_id, first.version, True)
    assert p.store.load_events(ep) == events
