"""Scores of one measure in one session that differ by whom they are about or who rated them are each in the
client view, each saying whose it is (``ClientScore.about``, ``ClientScore.rater``): the identified client's
own ORS and a parent's ORS about them, two participants' own ORS read by the treating clinician. A
correction of one changes that one only, and a participant still reads none of another's. On SQLite files.

Before it, the view kept one score per measure and session: the later one recorded overwrote the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Participant, Purpose, Rater, Role, Session
from alliancekit.security.views import ClientScore

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on, ors

D = date(2026, 1, 19)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
CLIENT_ACTOR = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
PARTNER_ACTOR = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
#: The helpers' session 1: the identified client's own ORS, four items of 5.0.
SESSION_ONE = ClientScore("ors", date(2026, 1, 12), 20.0, at_session=1)


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    p = open_on("sqlite", tmp_path)
    yield p
    p.close()


def _session(*administrations: object) -> Session:
    return Session(held_on=D, modality="video", attendance="attended", administrations=administrations)


def _couple(p: Practice) -> tuple[str, str]:
    """The helpers' episode with a partner, and a session 2 where each rated their own ORS: the episode and
    the session's id."""
    ep = active_episode(p).episode_id
    p.add_participant(
        OWN, ep, Participant(PARTNER, "partner", Consent(treatment=True, measures=True)), added_on=D
    )
    recorded = p.record_session(OWN, ep, _session(ors(3.0), attrs.evolve(ors(4.0), about=PARTNER)))
    assert recorded.record_id is not None
    return ep, recorded.record_id


def test_a_parents_rating_and_the_clients_own_of_one_measure_are_both_in_the_clients_view(
    practice: Practice,
) -> None:
    ep = active_episode(practice).episode_id
    practice.record_session(OWN, ep, _session(ors(3.0), attrs.evolve(ors(4.0), rater="parent")))
    view = practice.client_view(CLIENT_ACTOR, ep)
    assert [s.total for s in view.scores] == [20.0, 12.0, 16.0]  # neither takes the other's place
    assert view.scores == (
        SESSION_ONE,
        ClientScore("ors", D, 12.0, at_session=2),
        ClientScore("ors", D, 16.0, at_session=2, rater=Rater.PARENT),
    )
    assert [s.rater for s in view.scores] == [Rater.CLIENT, Rater.CLIENT, Rater.PARENT]
    assert all(s.about is None for s in view.scores)  # all about the identified client
    assert practice.client_view(OWN, ep) == view  # the treating clinician reads what the client reads


def test_the_treating_clinician_reads_each_participants_own_rating(practice: Practice) -> None:
    ep, _ = _couple(practice)
    scores = practice.client_view(OWN, ep).scores
    assert [s.total for s in scores] == [20.0, 12.0, 16.0]
    assert [(s.measure_id, s.at_session, s.about, s.rater, s.total) for s in scores] == [
        ("ors", 1, None, Rater.CLIENT, 20.0),
        ("ors", 2, None, Rater.CLIENT, 12.0),
        ("ors", 2, PARTNER, Rater.CLIENT, 16.0),
    ]


def test_a_participant_reads_their_own_rating_and_not_the_others(practice: Practice) -> None:
    ep, _ = _couple(practice)
    assert practice.client_view(PARTNER_ACTOR, ep).scores == (
        ClientScore("ors", D, 16.0, at_session=2, about=PARTNER),
    )
    assert practice.client_view(CLIENT_ACTOR, ep).scores == (
        SESSION_ONE,
        ClientScore("ors", D, 12.0, at_session=2),
    )


def test_a_correction_of_one_participants_rating_changes_that_one_only(practice: Practice) -> None:
    ep, session_id = _couple(practice)
    corrected = _session(ors(3.0), attrs.evolve(ors(2.0), about=PARTNER))  # the partner's was 4.0 per item
    practice.correct_session(OWN, ep, session_id, corrected, reason="typed the wrong totals")
    assert [s.total for s in practice.client_view(OWN, ep).scores] == [20.0, 12.0, 8.0]
    assert [(s.about, s.total) for s in practice.client_view(OWN, ep).scores] == [
        (None, 20.0),
        (None, 12.0),
        (PARTNER, 8.0),
    ]
    # and the other way round: the client's own, the partner's as corrected before
    again = _session(ors(1.0), attrs.evolve(ors(2.0), about=PARTNER))
    practice.correct_session(OWN, ep, session_id, again, reason="typed the wrong totals")
    assert [(s.about, s.total) for s in practice.client_view(OWN, ep).scores] == [
        (None, 20.0),
        (None, 4.0),
        (PARTNER, 8.0),
    ]
    assert [s.total for s in practice.client_view(PARTNER_ACTOR, ep).scores] == [8.0]


def test_one_measure_given_at_the_start_and_at_the_end_of_a_session_shows_both(practice: Practice) -> None:
    """The same person, rater and measure twice in a session (at its start and at its end) is allowed: each
    is a score of its own, in the order the session lists them, and a correction replaces them in that
    order."""
    ep = active_episode(practice).episode_id
    recorded = practice.record_session(OWN, ep, _session(ors(3.0), attrs.evolve(ors(4.0), timing="end")))
    assert recorded.record_id is not None
    assert [s.total for s in practice.client_view(CLIENT_ACTOR, ep).scores] == [20.0, 12.0, 16.0]
    corrected = _session(ors(3.0), attrs.evolve(ors(4.5), timing="end"))
    practice.correct_session(OWN, ep, recorded.record_id, corrected, reason="typed the wrong totals")
    assert [s.total for s in practice.client_view(CLIENT_ACTOR, ep).scores] == [20.0, 12.0, 18.0]


def test_the_repr_hides_whom_a_score_is_about() -> None:
    shown = repr(ClientScore("ors", D, 12.0, at_session=2, about="client-secret-ref", rater=Rater.PARENT))
    assert "client-secret-ref" not in shown
    assert "about=<hidden>" in shown
    assert "rater=<Rater.PARENT: 'parent'>" in shown


def test_a_correction_replaces_the_sessions_scores_and_day(practice: Practice) -> None:
    """A correction replaces a session's content: a score it takes out leaves the view, one it adds comes
    into it, and its scores are shown on the corrected day."""
    ep = active_episode(practice).episode_id
    recorded = practice.record_session(OWN, ep, _session(ors(3.0), attrs.evolve(ors(4.0), rater="parent")))
    assert recorded.record_id is not None
    later = D.replace(day=D.day + 1)
    corrected = attrs.evolve(_session(ors(2.5)), held_on=later)  # the parent's rating was never given
    practice.correct_session(OWN, ep, recorded.record_id, corrected, reason="the parent was not there")
    assert practice.client_view(CLIENT_ACTOR, ep).scores == (
        SESSION_ONE,
        ClientScore("ors", later, 10.0, at_session=2),
    )
    again = attrs.evolve(_session(ors(2.5), attrs.evolve(ors(1.0), rater="parent")), held_on=later)
    practice.correct_session(OWN, ep, recorded.record_id, again, reason="the parent came late")
    assert practice.client_view(CLIENT_ACTOR, ep).scores == (
        SESSION_ONE,
        ClientScore("ors", later, 10.0, at_session=2),
        ClientScore("ors", later, 4.0, at_session=2, rater=Rater.PARENT),
    )
