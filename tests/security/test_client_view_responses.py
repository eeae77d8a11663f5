"""The scores of a measure the client answered themselves (a request's link, a form recorded from paper) are
in their client view, as their sessions' scores are: the client reads them, and so does the treating
clinician reading the client view; a partner of the episode does not, nor does a reader a directive on the
response binds. On SQLite files.

Before it, the client view showed no score of a client's own response to anyone, the client included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from alliancekit import Practice, RequestConfig
from alliancekit.domain import Actor, Administration, Consent, Participant, Purpose, Role, Session
from alliancekit.events.types import ClientResponseRecorded
from alliancekit.security.policy import AccessRequest, Decision, DefaultPolicy
from alliancekit.security.views import ClientScore

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on, ors

D = date(2026, 1, 19)
TODAY = date(2026, 6, 1)  # the tests' clock: a link answered now is answered on this day
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
CLIENT_ACTOR = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
PARTNER_ACTOR = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
ANSWERS = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}  # a PHQ-9 total of 8
#: The ORS of the helpers' session 1 (four items of 5.0), and the PHQ-9 the client answers: as the client
#: view shows them (measure, day, total).
SESSION_ONE = ("ors", date(2026, 1, 12), 20.0)
ANSWERED = ("phq-9", TODAY, 8.0)


class ClientViews:
    """The default policy, and supervisors may read a client view (the default lets none)."""

    def decide(self, request: AccessRequest) -> Decision:
        if request.actor.role is Role.SUPERVISOR and request.action == "read-client-view":
            return Decision.allow()
        return DefaultPolicy().decide(request)


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = open_on(
        "sqlite",
        tmp_path,
        requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
        policy=ClientViews(),
    )
    yield p
    p.close()


def _scores(p: Practice, reader: Actor, ep: str) -> tuple[tuple[str, date, float], ...]:
    return tuple((s.measure_id, s.held_on, s.total) for s in p.client_view(reader, ep).scores)


def _answered(p: Practice, ep: str) -> str:
    """The identified client answers a PHQ-9 through a request's link, between sessions: the response's
    event id."""
    made = p.request_administration(OWN, ep, measure="phq-9", point="between")
    assert made.token is not None
    assert p.submit_response(made.token, answers=ANSWERS).total == 8.0
    (entry,) = [e for e in p.timeline(OWN, ep) if isinstance(e.event, ClientResponseRecorded)]
    return entry.event_id


def test_the_client_reads_the_scores_of_their_own_answers(practice: Practice) -> None:
    ep = active_episode(practice).episode_id
    assert _scores(practice, CLIENT_ACTOR, ep) == (SESSION_ONE,)
    _answered(practice, ep)
    assert _scores(practice, CLIENT_ACTOR, ep) == (SESSION_ONE, ANSWERED)
    view = practice.client_view(CLIENT_ACTOR, ep)  # where each comes from
    assert view.scores == (
        ClientScore(*SESSION_ONE, at_session=1),
        ClientScore(*ANSWERED, at_session=1, client_reported=True),
    )
    # the treating clinician reading the client view reads what the client reads
    assert practice.client_view(OWN, ep) == view


def test_the_scores_are_in_the_order_they_were_given(practice: Practice) -> None:
    """By the session they count at: a measure answered for a session's start before its scores, one
    answered between sessions after the last session's; a session's scores keep their order by measure."""
    ep = active_episode(practice).episode_id
    _answered(practice, ep)  # between sessions 1 and 2: counts at session 1
    two = practice.record_session(
        OWN, ep, Session(held_on=D, modality="video", attendance="attended", administrations=(ors(4.0),))
    )
    assert two.record_id is not None
    seven = {f"q{i}": 2 for i in range(1, 8)}  # a GAD-7 total of 14, filled in on paper before session 2
    practice.record_client_response(
        OWN,
        ep,
        Administration("gad-7", "1.0", "start", seven),
        responded_at=datetime(2026, 1, 19, 8, 30, tzinfo=UTC),
        session_id=two.record_id,
    )
    scores = practice.client_view(CLIENT_ACTOR, ep).scores
    assert [(s.measure_id, s.at_session, s.client_reported) for s in scores] == [
        ("ors", 1, False),
        ("phq-9", 1, True),
        ("gad-7", 2, True),
        ("ors", 2, False),
    ]
    assert [(s.held_on, s.total) for s in scores[2:]] == [(D, 14.0), (D, 16.0)]


def test_a_partner_does_not_read_the_scores_of_the_clients_answers(practice: Practice) -> None:
    ep = active_episode(practice).episode_id
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    practice.add_participant(OWN, ep, partner, added_on=D)
    _answered(practice, ep)
    assert ANSWERED in _scores(practice, CLIENT_ACTOR, ep)  # the check below can fail
    assert [s for s in _scores(practice, PARTNER_ACTOR, ep) if s[0] == "phq-9"] == []
    assert practice.client_view(PARTNER_ACTOR, ep).goals  # the partner's view is otherwise there


def test_a_directive_withholding_the_response_withholds_its_score_from_the_reader_it_binds(
    practice: Practice,
) -> None:
    ep = active_episode(practice).episode_id
    response_id = _answered(practice, ep)
    bound, other = Actor("sup-1", Role.SUPERVISOR, CLINIC), Actor("sup-2", Role.SUPERVISOR, CLINIC)
    assert _scores(practice, bound, ep) == (SESSION_ONE, ANSWERED)  # the check below can fail
    practice.set_lockbox(OWN, ep, scope="item", event_ids=[response_id], recipients=["sup-1"], on=TODAY)
    assert _scores(practice, bound, ep) == (SESSION_ONE,)
    assert _scores(practice, other, ep) == (SESSION_ONE, ANSWERED)
    # the client's own reading is not bound by their directive, nor is the treating clinician's
    assert _scores(practice, CLIENT_ACTOR, ep) == (SESSION_ONE, ANSWERED)
    assert _scores(practice, OWN, ep) == (SESSION_ONE, ANSWERED)
