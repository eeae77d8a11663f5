"""A measure is given once per session for each person it is about, rater and timing: the same one twice
(a form sent twice, a row imported twice) made that session both the intake and the latest score, a
change never measured that the alerts and the practice outcomes then read as real."""

from __future__ import annotations

import attrs
import pytest

from alliancekit.domain import Actor, Consent, Participant
from alliancekit.errors import ValidationError
from alliancekit.practice import Practice

from .conftest import CANARY, active_episode, attended, day, footprint, ors, srs


def test_the_same_measure_twice_in_a_session_is_refused_and_writes_nothing(
    practice: Practice, actor: Actor
) -> None:
    ep, _ = active_episode(practice, actor)
    low, high = ors(practice, 0.1), ors(practice, 0.9)  # other answers: still the same measure, twice
    before = footprint(practice, ep)
    with pytest.raises(ValidationError) as refused:
        practice.record_session(actor, ep, attended(day(7), low, srs(practice), high))
    assert (refused.value.field, refused.value.rule) == ("session.administrations[2]", "unique")
    assert CANARY not in str(refused.value)
    assert footprint(practice, ep) == before
    with practice.batch() as batch, pytest.raises(ValidationError):
        batch.record_session(actor, ep, attended(day(7), low, high))
    assert footprint(practice, ep) == before


def test_a_correction_giving_a_measure_twice_is_refused(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    recorded = practice.record_session(actor, ep, attended(day(7), ors(practice)))
    twice = attended(day(7), ors(practice, 0.1), ors(practice, 0.9))
    with pytest.raises(ValidationError) as refused:
        practice.correct_session(actor, ep, recorded.record_id, twice, reason="typo")
    assert refused.value.rule == "unique"


def test_the_same_measure_for_another_person_rater_or_timing_is_not_a_repeat(
    practice: Practice, actor: Actor
) -> None:
    ep, _ = active_episode(practice, actor)
    practice.add_participant(
        actor, ep, Participant("client-2", "partner", Consent(treatment=True, measures=True)), added_on=day(2)
    )
    own = ors(practice)
    session = attended(
        day(7),
        own,
        attrs.evolve(own, about="client-2"),  # the partner's own ORS
        attrs.evolve(own, timing="end"),  # given again at the end of the session
    )
    recorded = practice.record_session(actor, ep, session)
    assert recorded.duplicate is False
    assert practice.episode(actor, ep).sessions_attended == 1
