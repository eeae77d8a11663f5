"""A client actor reads the timeline entries of their episode as their client view does, on every read that
returns entries, whichever the host's policy lets them use: one rule (``Guard.own_view``) decides them all.

The default policy refuses a client the timeline, the session history and a break-glass read; a host's
policy may allow them. Before, those three read a client's entries as a clinic reader's: in a one-person
episode the directives on the client's own record bound the client (their client view and their share
are not bound: a directive is about sharing the record with others), and in an episode with several
participants a partner read the other participant's own items whole (their ratings and scores, a measure
they answered themselves, their statements of disagreement), which the client view and the shares leave
out. On SQLite files.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, RequestConfig, open_practice
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role
from alliancekit.events.types import ClientResponseRecorded, DisagreementAttached
from alliancekit.security.policy import AccessRequest, Action, Decision, DefaultPolicy
from alliancekit.security.views import SessionHistory, SharedRecord, Timeline

from .helpers import CLIENT, CLINIC, PARTNER, Clock, Setup, active_episode

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
CLIENT_ACTOR = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
PARTNER_ACTOR = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
REQUESTS = RequestConfig(link_template="https://clinic.example/m/{token}")
#: The reads the default policy refuses a client, which a host's policy may allow.
CLIENT_REFUSED = (Action.READ_TIMELINE, Action.READ_SESSION_HISTORY, Action.BREAK_GLASS)


class ClientTimelines:
    """The default policy, which also lets a participant read their episode's timeline and session
    histories, and make a break-glass read of it."""

    def decide(self, request: AccessRequest) -> Decision:
        actor, state = request.actor, request.episode
        own = state is not None and state.clinic_id == actor.clinic_id and state.has_participant(actor.id)
        if actor.role is Role.CLIENT and request.action in CLIENT_REFUSED and own:
            return Decision.allow()
        return DefaultPolicy().decide(request)


Read = Callable[[Practice, Actor, Setup], list[Any]]

#: Every public read that returns timeline entries, by name, as the entries it returns.
READS: dict[str, Read] = {
    "timeline": lambda p, a, s: list(p.timeline(a, s.episode_id)),
    "break_glass": lambda p, a, s: list(p.break_glass(a, s.episode_id, reason="synthetic reason")),
    "session_history": lambda p, a, s: _history(p.session_history(a, s.episode_id, s.session_id)),
    "shared_record": lambda p, a, s: list(p.shared_record(a, s.episode_id).entries),
    "export_record": lambda p, a, s: list(p.export_record(a, s.episode_id).entries),
}
#: The reads returning a session's entries only (no goals, ruptures or responses in them).
SESSION_ONLY = {"session_history"}
#: What a facade read returning timeline entries is annotated to return.
ENTRY_RESULTS = {Timeline.__name__, SessionHistory.__name__, SharedRecord.__name__}


def _history(history: SessionHistory) -> list[Any]:
    return [history.original, *history.corrections, *history.addenda, *history.disagreements]


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = open_practice(tmp_path / "p.sqlite", clock=Clock(), policy=ClientTimelines(), requests=REQUESTS)
    yield p
    p.close()


def _types(entries: list[Any]) -> set[str]:
    return {e.type for e in entries}


def _session_scores(entries: list[Any]) -> list[tuple[str, float]]:
    return [(s.measure_id, s.total) for e in entries if e.type == "session-recorded" for s in e.event.scores]


def test_every_read_returning_entries_is_covered() -> None:
    """A new read returning timeline entries is routed and tested here, or this fails."""
    returning = {
        name
        for name, member in inspect.getmembers(Practice, inspect.isfunction)
        if not name.startswith("_") and inspect.signature(member).return_annotation in ENTRY_RESULTS
    }
    assert returning == set(READS)


def test_the_default_policy_still_refuses_a_client_these_reads(tmp_path: Path) -> None:
    from alliancekit.errors import AccessDenied

    p = open_practice(tmp_path / "p.sqlite", clock=Clock())
    setup = active_episode(p)
    for name in ("timeline", "break_glass", "session_history"):
        with pytest.raises(AccessDenied):
            READS[name](p, CLIENT_ACTOR, setup)
    p.close()


# -- a one-person episode: no directive binds the client's reads of their own record ---------------------


@pytest.fixture
def alone(practice: Practice) -> Setup:
    """clin-a's episode for client-1 alone, its sessions withheld by the clinician's directive (set on the
    client's behalf) and its ruptures by the client's own."""
    setup = active_episode(practice)
    practice.set_lockbox(OWN, setup.episode_id, scope="class", classes=["sessions"], on=D)
    practice.set_lockbox(CLIENT_ACTOR, setup.episode_id, scope="class", classes=["ruptures"], on=D)
    return setup


def test_the_client_view_is_not_bound(practice: Practice, alone: Setup) -> None:
    """What every read below is held to: the client view shows the withheld session's scores."""
    assert [s.measure_id for s in practice.client_view(CLIENT_ACTOR, alone.episode_id).scores] == ["ors"]


@pytest.mark.parametrize("read", sorted(READS))
def test_the_client_of_a_one_person_episode_reads_it_unbound(
    practice: Practice, alone: Setup, read: str
) -> None:
    entries = READS[read](practice, CLIENT_ACTOR, alone)
    assert alone.session_event_id in {e.event_id for e in entries}
    assert _session_scores(entries) == [("ors", 20.0)]
    if read not in SESSION_ONLY:
        assert {"goal-agreed", "rupture-noted"} <= _types(entries)
    # what is never shared with a client stays out: the process note, the directives themselves
    assert not _types(entries) & {"process-note-recorded", "lockbox-set"}


@pytest.mark.parametrize("read", ["timeline", "break_glass"])
def test_the_client_s_timeline_says_nothing_was_withheld(practice: Practice, alone: Setup, read: str) -> None:
    call = {"timeline": practice.timeline, "break_glass": practice.break_glass}[read]
    options = {"reason": "synthetic reason"} if read == "break_glass" else {}
    assert call(CLIENT_ACTOR, alone.episode_id, **options).withheld is False


def test_another_reader_is_still_bound(practice: Practice, alone: Setup) -> None:
    """The clinician of record acting for another purpose reads the timeline under both directives."""
    reader = Actor("clin-a", Role.CLINICIAN, CLINIC, Purpose.OPERATIONS)
    timeline = practice.timeline(reader, alone.episode_id)
    assert timeline.withheld is True
    assert not _types(list(timeline)) & {"session-recorded", "rupture-noted"}


# -- an episode with two participants: one's own items are never another's ------------------------------


@pytest.fixture
def together(practice: Practice) -> Setup:
    """client-1's episode with client-3 as a partner: client-1 rated the session (ORS), answered a PHQ-9
    through a link and disagreed with the session; client-1 withheld the ruptures, client-3 the goals."""
    setup = active_episode(practice)
    ep = setup.episode_id
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    practice.add_participant(OWN, ep, partner, added_on=D)
    made = practice.request_administration(OWN, ep, measure="phq-9", point="between")
    assert made.token is not None
    practice.submit_response(made.token, answers=ANSWERS)
    practice.attach_disagreement(
        CLIENT_ACTOR, ep, setup.session_event_id, statement="synthetic text", received_on=D
    )
    practice.set_lockbox(CLIENT_ACTOR, ep, scope="class", classes=["ruptures"], on=D)
    practice.set_lockbox(PARTNER_ACTOR, ep, scope="class", classes=["goals"], on=D)
    return setup


def _others(entries: list[Any]) -> list[str]:
    """The types of the entries that are client-1's own: their response, their statements."""
    return [
        e.type
        for e in entries
        if isinstance(e.event, ClientResponseRecorded)
        or (isinstance(e.event, DisagreementAttached) and e.actor_id == CLIENT)
    ]


@pytest.mark.parametrize("read", sorted(READS))
def test_a_partner_reads_none_of_the_other_participant_s_own(
    practice: Practice, together: Setup, read: str
) -> None:
    entries = READS[read](practice, PARTNER_ACTOR, together)
    assert together.session_event_id in {e.event_id for e in entries}  # the session they share
    assert _session_scores(entries) == []  # client-1's rating of it is theirs
    assert _others(entries) == []
    if read not in SESSION_ONLY:
        # the partner's own directive does not bind them; client-1's does
        assert "goal-agreed" in _types(entries)
        assert "rupture-noted" not in _types(entries)


@pytest.mark.parametrize("read", sorted(READS))
def test_the_identified_client_reads_their_own(practice: Practice, together: Setup, read: str) -> None:
    entries = READS[read](practice, CLIENT_ACTOR, together)
    assert _session_scores(entries) == [("ors", 20.0)]
    assert "disagreement-attached" in _others(entries)
    if read not in SESSION_ONLY:
        assert "client-response-recorded" in _others(entries)
        # client-1's own directive does not bind them; the partner's does
        assert "rupture-noted" in _types(entries)
        assert "goal-agreed" not in _types(entries)
