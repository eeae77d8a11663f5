"""That a measure was asked of the identified client, and when, is theirs: another participant of the
episode (a partner) reads neither the request nor its revocation, in the shared record or an export naming
a recipient, nor in the timeline where a host's policy lets clients read it, and a statement of theirs
naming the request's event is answered as one naming an unknown event. The client and the clinician still
see both. On the memory store and an SQLite file.

Before it, a partner's shared record carried the client's ``administration-requested`` and
``administration-request-revoked`` events (the measure, the channel, the dates), and a partner allowed the
timeline read the client's own ``client-response-recorded`` event whole (the timeline did not pass through
the participants' view at all).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, RequestConfig
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role
from alliancekit.errors import NotFoundError
from alliancekit.security.policy import AccessRequest, Action, Decision, DefaultPolicy

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
CLIENT_ACTOR = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
PARTNER_ACTOR = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
REQUESTS = RequestConfig(link_template="https://clinic.example/m/{token}")
REQUEST_TYPES = ("administration-requested", "administration-request-revoked")
UNKNOWN = "no-such-event-0f3a"


class _ClientsReadTheTimeline:
    """A host's policy that lets each participant of an episode read its timeline as well."""

    def decide(self, request: AccessRequest) -> Decision:
        episode, actor = request.episode, request.actor
        if request.action == Action.READ_TIMELINE and actor is not None and actor.role is Role.CLIENT:
            return (
                Decision.allow()
                if episode is not None and episode.has_participant(actor.id)
                else Decision.refuse("not theirs")
            )
        return DefaultPolicy().decide(request)


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path, requests=REQUESTS, policy=_ClientsReadTheTimeline())
    yield p
    p.close()


def _requested(p: Practice) -> str:
    """An episode with a partner, where the clinician asked the identified client for a PHQ-9 (answered),
    and for another (revoked): the episode's id."""
    setup = active_episode(p)
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    p.add_participant(OWN, setup.episode_id, partner, added_on=D)
    answered = p.request_administration(OWN, setup.episode_id, measure="phq-9", point="between")
    assert answered.token is not None
    p.submit_response(answered.token, answers={f"q{i}": 0 for i in range(1, 10)})
    revoked = p.request_administration(OWN, setup.episode_id, measure="phq-9", point="between")
    p.revoke_request(OWN, setup.episode_id, revoked.request_id)
    return setup.episode_id


def _requests(entries: Any) -> list[str]:
    """The types of the entries (or of the type names) that make or revoke a request, in order."""
    return [t for t in (getattr(e, "type", e) for e in entries) if t in REQUEST_TYPES]


ALL = ["administration-requested", "administration-requested", "administration-request-revoked"]


@pytest.mark.parametrize("recipient", [None, "someone-else"], ids=["unnamed", "named"])
def test_the_partner_reads_no_request_made_of_the_client(practice: Practice, recipient: str | None) -> None:
    ep = _requested(practice)
    shared = practice.shared_record(PARTNER_ACTOR, ep, recipient=recipient)
    assert _requests(shared.entries) == []
    # the partner's own share of the record is otherwise there: the session they share
    assert [e.type for e in shared.entries if e.type == "session-recorded"] == ["session-recorded"]
    assert not shared.withheld  # nothing a lockbox withheld: another's, which is never theirs to see


@pytest.mark.parametrize("reader", [CLIENT_ACTOR, OWN], ids=["client", "clinician"])
def test_the_client_and_the_clinician_still_read_them(practice: Practice, reader: Actor) -> None:
    ep = _requested(practice)
    assert _requests(practice.shared_record(reader, ep).entries) == ALL


def test_the_partners_timeline_leaves_out_what_is_the_clients(practice: Practice) -> None:
    ep = _requested(practice)
    theirs = [e.type for e in practice.timeline(PARTNER_ACTOR, ep)]
    assert _requests(theirs) == []
    assert "client-response-recorded" not in theirs
    mine = [e.type for e in practice.timeline(CLIENT_ACTOR, ep)]
    assert _requests(mine) == ALL
    assert "client-response-recorded" in mine


def test_a_statement_on_a_request_is_answered_as_on_an_unknown_event(practice: Practice) -> None:
    ep = _requested(practice)
    (request_event, *_) = [e.event_id for e in practice.timeline(OWN, ep) if e.type in REQUEST_TYPES]
    before = practice.store.load_events(ep)

    def refused(target: str) -> tuple[Any, ...]:
        with pytest.raises(NotFoundError) as caught:
            practice.attach_disagreement(PARTNER_ACTOR, ep, target, statement="not so", received_on=D)
        return type(caught.value), str(caught.value), caught.value.kind

    assert refused(request_event) == refused(UNKNOWN)
    assert practice.store.load_events(ep) == before
    # the client's own request is theirs to disagree with
    practice.attach_disagreement(CLIENT_ACTOR, ep, request_event, statement="not so", received_on=D)
