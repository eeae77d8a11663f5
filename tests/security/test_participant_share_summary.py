"""A participant's share (their right-of-access export, a FHIR export, a share with a recipient) carries the
episode's summary under the same rule as the clinician's: when a directive on sessions (the class, or one
session by scope ``item``) binds the share, the summary's scores and alerts are withheld
(:func:`alliancekit.security.lockbox.scores_withheld`), since a summary cannot say which session a score
came from. Otherwise the participant's own summary is as before. On the memory store and an SQLite file.

Before it, withholding the partner's first session from them left the partner's summary with the alerts a
later session raised against that session's score (a reliable deterioration from it, the review it asked
for) and their track, whose "first" score was then a later session's. (A directive on the class ``sessions``
withholds every event with a score or an alert, so its summary was already empty: those cases pin it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Participant, Purpose, Role, Session
from alliancekit.lifecycle.state import EpisodeState

from .helpers import CLIENT, CLINIC, PARTNER, active_episode, open_on, ors

D = date(2026, 1, 19)
TREATING = Actor("clin-a", Role.CLINICIAN, CLINIC)
THE_CLIENT = Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
THE_PARTNER = Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS)
NAMED = "hospital-x"
#: (whom the client's directive withholds from, whom the partner shares with: ``None`` names none).
BINDING = (((PARTNER,), None), ((PARTNER,), NAMED), ((NAMED,), NAMED), ((NAMED,), None))


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path)
    yield p
    p.close()


def _couple(p: Practice) -> tuple[str, str]:
    """A couple's episode with three sessions both rated (the partner's ORS falls from 24 to 4, then 6:
    the second raises their reliable deterioration): its id and the event id of the partner's first."""
    setup = active_episode(p)
    ep = setup.episode_id
    partner = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    p.add_participant(TREATING, ep, partner, added_on=D - timedelta(days=6))
    session_ids = []
    for week, (mine, theirs) in enumerate([(5.0, 6.0), (2.0, 1.0), (2.5, 1.5)]):
        rated = (ors(mine), attrs.evolve(ors(theirs), about=PARTNER))
        held = Session(
            held_on=D + timedelta(weeks=week), modality="video", attendance="attended", administrations=rated
        )
        session_ids.append(p.record_session(TREATING, ep, held).record_id)
    first = next(
        e.event_id
        for e in p.timeline(TREATING, ep)
        if e.type == "session-recorded" and e.event.session_id == session_ids[0]
    )
    return ep, first


def _withhold(
    p: Practice, ep: str, setter: Actor, scope: str, event_id: str, against: tuple[str, ...]
) -> None:
    p.set_lockbox(
        setter,
        ep,
        scope=scope,
        classes=["sessions"] if scope == "class" else (),
        event_ids=[event_id] if scope == "item" else (),
        recipients=against,
        on=D + timedelta(weeks=4),
    )


def _scored(state: EpisodeState | None) -> dict[str, object]:
    """What a summary says of scores and alerts (and what they leave behind)."""
    assert state is not None
    return {
        "first_scores": dict(state.first_scores),
        "latest_scores": dict(state.latest_scores),
        "previous_scores": dict(state.previous_scores),
        "alerts": dict(state.alerts),
        "tracks": dict(state.tracks),
        "alert_keys_raised": state.alert_keys_raised,
        "review_requested": state.review_requested,
        "administered_at": dict(state.administered_at),
    }


def _partner_summary(p: Practice, ep: str, to: str | None) -> EpisodeState | None:
    return p.shared_record(THE_PARTNER, ep, recipient=to).state


@pytest.mark.parametrize(("against", "to"), BINDING)
@pytest.mark.parametrize("scope", ["item", "class"])
def test_a_directive_on_sessions_binding_a_partners_share_withholds_its_summarys_scores(
    practice: Practice, scope: str, against: tuple[str, ...], to: str | None
) -> None:
    ep, first = _couple(practice)
    before = _scored(_partner_summary(practice, ep, to))
    # the partner's own alerts and track are in their summary (or the test withholds nothing)
    assert before["alerts"]
    assert before["tracks"]
    assert before["review_requested"]
    _withhold(practice, ep, THE_CLIENT, scope, first, against)
    blank = {
        "first_scores": {},
        "latest_scores": {},
        "previous_scores": {},
        "alerts": {},
        "tracks": {},
        "alert_keys_raised": (),
        "review_requested": False,
        "administered_at": {},
    }
    assert _scored(_partner_summary(practice, ep, to)) == blank
    # a FHIR export reads the same shared record
    exported = practice.export_record(THE_PARTNER, ep, purpose=Purpose.CLIENT_ACCESS, recipient=to)
    assert _scored(exported.state) == blank


def _own_scores(p: Practice, ep: str, to: str | None) -> dict[str, object]:
    """The partner's scores and alerts in their summary. (Which measures were given when is left out: with
    nothing withheld the summary is the episode's state, else the fold of what is shared, which counts the
    identified client's measures only; not what this test is about.)"""
    found = _scored(_partner_summary(p, ep, to))
    del found["administered_at"]
    return found


def test_the_partners_summary_keeps_their_scores_when_no_directive_on_sessions_binds_it(
    practice: Practice,
) -> None:
    ep, first = _couple(practice)
    before = {to: _own_scores(practice, ep, to) for to in (None, NAMED)}
    assert all(found["alerts"] for found in before.values())
    assert all(found["tracks"] for found in before.values())
    # a directive on another class binds their shares, and leaves their scores
    practice.set_lockbox(THE_CLIENT, ep, scope="class", classes=["ruptures"], on=D + timedelta(weeks=4))
    assert {to: _own_scores(practice, ep, to) for to in (None, NAMED)} == before
    # the partner's own choice, and one withholding from someone else, bind no share with the recipient
    _withhold(practice, ep, THE_PARTNER, "item", first, ())
    _withhold(practice, ep, THE_CLIENT, "item", first, ("sup-1",))
    assert _own_scores(practice, ep, NAMED) == before[NAMED]


def test_the_identified_client_is_bound_alike_by_the_partners_directive(practice: Practice) -> None:
    ep, first = _couple(practice)
    assert _scored(practice.shared_record(THE_CLIENT, ep, recipient=NAMED).state)["first_scores"]
    _withhold(practice, ep, THE_PARTNER, "item", first, (NAMED,))
    shared = _scored(practice.shared_record(THE_CLIENT, ep, recipient=NAMED).state)
    assert shared["first_scores"] == shared["latest_scores"] == shared["alerts"] == {}
    assert shared["review_requested"] is False
