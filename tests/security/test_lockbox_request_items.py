"""A request for a measure is one thing with its revocation and the answers to it: a lockbox directive
naming only the request's event withholds them too, from every share it binds, so a share shows neither
that the request was revoked nor what was answered to it (each names the request). A directive naming
something else leaves all three shared. On the memory store and an SQLite file.

Before it, a directive naming the ``administration-requested`` event withheld that event alone: its
``administration-request-revoked`` event and the client's ``client-response-recorded`` one (the answers and
their score) stayed in the share, naming the withheld request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Practice, RequestConfig
from alliancekit.domain import Actor, Role

from .helpers import CLINIC, active_episode, open_on

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
REQUESTS = RequestConfig(link_template="https://clinic.example/m/{token}")
ABOUT_REQUESTS = ("administration-requested", "administration-request-revoked", "client-response-recorded")


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path, requests=REQUESTS)
    yield p
    p.close()


def _request_event(p: Practice, ep: str, request_id: str) -> str:
    return next(
        e.event_id
        for e in p.timeline(OWN, ep)
        if e.type == "administration-requested" and e.event.request_id == request_id
    )


def _shared(p: Practice, ep: str) -> list[tuple[str, str]]:
    """The request events a share with a recipient shows: each one's type and request."""
    entries = p.shared_record(OWN, ep, recipient="someone-else").entries
    return [(e.type, e.event.request_id) for e in entries if e.type in ABOUT_REQUESTS]


@pytest.mark.parametrize("ending", ["revoked", "answered"])
def test_a_directive_on_a_request_withholds_what_continues_it(practice: Practice, ending: str) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    made = p.request_administration(OWN, ep, measure="phq-9", point="between")
    other = p.request_administration(OWN, ep, measure="phq-9", point="between")
    if ending == "revoked":
        p.revoke_request(OWN, ep, made.request_id)
        last = "administration-request-revoked"
    else:
        assert made.token is not None
        p.submit_response(made.token, answers={f"q{i}": 0 for i in range(1, 10)})
        last = "client-response-recorded"
    whole = [
        ("administration-requested", made.request_id),
        ("administration-requested", other.request_id),
        (last, made.request_id),
    ]
    assert _shared(p, ep) == whole
    directive = p.set_lockbox(OWN, ep, scope="item", event_ids=[_request_event(p, ep, made.request_id)], on=D)
    share = p.shared_record(OWN, ep, recipient="someone-else")
    assert share.withheld
    # the other request is no part of it
    assert _shared(p, ep) == [("administration-requested", other.request_id)]
    # the other side: lifted, all is shared again
    p.lift_lockbox(OWN, ep, directive.record_id, on=D)
    assert _shared(p, ep) == whole


def test_a_directive_on_something_else_leaves_the_request_whole(practice: Practice) -> None:
    setup = active_episode(practice)
    p, ep = practice, setup.episode_id
    made = p.request_administration(OWN, ep, measure="phq-9", point="between")
    p.revoke_request(OWN, ep, made.request_id)
    rupture = next(e.event_id for e in p.timeline(OWN, ep) if e.type == "rupture-noted")
    p.set_lockbox(OWN, ep, scope="item", event_ids=[rupture], on=D)
    assert p.shared_record(OWN, ep, recipient="someone-else").withheld
    assert _shared(p, ep) == [
        ("administration-requested", made.request_id),
        ("administration-request-revoked", made.request_id),
    ]
