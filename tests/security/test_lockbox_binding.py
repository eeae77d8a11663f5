"""Which lockbox directives bind a read or a share is decided in one place
(:func:`alliancekit.security.binding.binding_directives`): a reader's timeline, a share or an export, and
the ids a command may name (``Guard.hidden``) withhold the same things.

Table-driven over the reader (the clinician of record treating, a supervisor, the client of a one-person
episode, the client and the partner of a couple's episode), the recipient (none: a read; one named; none
named, which may go anywhere), who set the directive (the client, the partner, the clinician), whom it
withholds from, and its scope (the record, a class, an item). The expectation is the rule itself: a
directive binds unless it is the reader's own choice (a participant's own directive; every directive of a
one-person episode is its client's, the clinician's set on their behalf), and then when it applies to the
reader (all but the treating clinician are bound) or to the recipient (every directive applies to an
unnamed one). What a binding directive withholds is what the treating clinician's unnamed export leaves
out (every directive binds it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role
from alliancekit.events.catalog import NEVER_SHARED
from alliancekit.store.memory import MemoryStore

from .helpers import CLIENT, CLINIC, PARTNER, Clock, Setup, active_episode

D = date(2026, 1, 19)
TREATING = Actor("clin-a", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
THE_CLIENT = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
THE_PARTNER = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
NAMED = "hospital-x"
#: A share's recipient: ``None`` for a read (no share), ``NAMED``, or ``UNNAMED`` (``recipient=None``).
UNNAMED = "(unnamed)"
RECIPIENTS = (None, NAMED, UNNAMED)
#: Whom a directive withholds from: everyone, the recipient named, the supervisor, the partner.
AGAINST = ((), (NAMED,), ("sup-1",), (PARTNER,))
SCOPES = ("record", "class", "item")
READERS = {
    "one-person": {"clinician": TREATING, "supervisor": SUPERVISOR, "client": THE_CLIENT},
    "couple": {"clinician": TREATING, "supervisor": SUPERVISOR, "client": THE_CLIENT, "partner": THE_PARTNER},
}
SETTERS = {"one-person": ("client", "clinician"), "couple": ("client", "partner", "clinician")}


def binds(episode: str, reader: str, setter: str, against: tuple[str, ...], recipient: str | None) -> bool:
    """The rule, written out: whether a directive binds ``reader``'s read (``recipient`` None) or share."""
    if episode == "one-person" and reader == "client":
        return False  # their own record: every directive is theirs, or set on their behalf
    if setter == reader != "clinician":
        return False  # a participant's own choice is about sharing with others
    reader_id = READERS[episode][reader].id
    bound_reader = reader != "clinician" and (not against or reader_id in against)
    if recipient is None:
        return bound_reader
    return bound_reader or recipient == UNNAMED or not against or recipient in against


def _episode(kind: str) -> Setup:
    setup = active_episode(Practice(MemoryStore(), clock=Clock()))
    if kind == "couple":
        partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
        setup.practice.add_participant(TREATING, setup.episode_id, partner, added_on=D)
    return setup


def _ids(entries: Any) -> set[str]:
    return {e.event_id for e in entries}


def _seen(p: Practice, ep: str, reader: Actor, recipient: str | None) -> set[str]:
    """The ids of the events ``reader`` sees (``recipient`` ``None``) or shares with ``recipient``. A read
    is their timeline where the policy lets them read it (a client's is not), and the ids a command of
    theirs may name (``Guard.hidden``): the two must agree."""
    entries = p._s.reader.entries(ep)
    if recipient is not None:
        named = None if recipient == UNNAMED else recipient
        return _ids(p.shared_record(reader, ep, recipient=named).entries)
    state, _ = p._s.reader.state(ep)
    hidden = p._s.guard.hidden(reader, state, lambda: entries)
    named = {e.event_id for e in entries if e.type not in NEVER_SHARED} - hidden.events
    if reader.role is not Role.CLIENT:
        assert _ids(p.timeline(reader, ep)) == named
    return named


def _cases() -> Iterator[tuple[str, str, str]]:
    for episode, setters in SETTERS.items():
        for setter, scope in itertools.product(setters, SCOPES):
            yield episode, setter, scope


@pytest.mark.parametrize(("episode", "setter", "scope"), list(_cases()))
def test_timeline_share_and_hidden_ids_withhold_the_same(episode: str, setter: str, scope: str) -> None:
    setup = _episode(episode)
    p, ep = setup.practice, setup.episode_id
    readers = READERS[episode]
    # what each reader sees or shares with no directive: another participant's privacy leaves things out
    baseline = {(r, to): _seen(p, ep, a, to) for r, a in readers.items() for to in RECIPIENTS}
    for against in AGAINST:
        directive = p.set_lockbox(
            readers[setter],
            ep,
            scope=scope,
            classes=["ruptures"] if scope == "class" else (),
            event_ids=[setup.session_event_id] if scope == "item" else (),
            recipients=against,
            on=D,
        )
        # every directive binds the treating clinician's unnamed export: what this one withholds
        withheld = _ids(p._s.reader.entries(ep)) - _ids(p.shared_record(TREATING, ep).entries)
        withheld -= {e.event_id for e in p._s.reader.entries(ep) if e.type in NEVER_SHARED}
        assert withheld  # the directive withholds something (or the table tests nothing)
        for (reader, to), before in baseline.items():
            seen = _seen(p, ep, readers[reader], to)
            expected = before - withheld if binds(episode, reader, setter, against, to) else before
            assert seen == expected, (reader, to, against)
        assert directive.record_id is not None
        p.lift_lockbox(TREATING, ep, directive.record_id, on=D)


def test_the_table_covers_each_side_of_the_rule() -> None:
    """Each reader meets directives that bind them and directives that do not (the table is no tautology)."""
    outcomes: dict[str, set[bool]] = {}
    for (episode, setter, _), against, to in itertools.product(_cases(), AGAINST, RECIPIENTS):
        for reader in READERS[episode]:
            outcomes.setdefault(f"{episode}/{reader}", set()).add(binds(episode, reader, setter, against, to))
    assert outcomes.pop("one-person/client") == {False}
    assert all(found == {True, False} for found in outcomes.values()), outcomes
