"""The fold reads apply's registry by an event's own class, and leaves every other class to apply."""

from __future__ import annotations

from datetime import date

import pytest

from alliancekit.domain import Consent, Consultation, Modality
from alliancekit.events.types import ConsultationRecorded, EpisodeOpened
from alliancekit.lifecycle.state import EpisodeState, apply, fold, start

DAY = date(2026, 1, 5)


def _opened() -> EpisodeState:
    return start("ep-1", "clinic-1", EpisodeOpened("client-1", "clin-1", DAY))


def _consultation() -> Consultation:
    return Consultation(DAY, Modality.IN_PERSON, Consent(treatment=True, measures=True))


class _Subclassed(ConsultationRecorded):
    """An event class with no fold of its own: apply's dispatch finds its base class's."""


class _Registered(ConsultationRecorded):
    """An event class whose fold is registered after the fold module was loaded."""


def test_an_event_without_a_fold_of_its_own_class_folds_as_apply_dispatches_it() -> None:
    state = _opened()
    folded = fold(state, [_Subclassed(_consultation())])
    assert folded == apply(ConsultationRecorded(_consultation()), state)
    assert folded.version == 2
    assert folded.treatment_consent is True


def test_a_fold_registered_later_is_used_at_once() -> None:
    state = _opened()
    assert fold(state, [_Registered(_consultation())]).version == 2  # the base class's fold, for now

    @apply.register
    def _(event: _Registered, state: EpisodeState) -> EpisodeState:
        raise LookupError("the fold registered for _Registered")

    with pytest.raises(LookupError, match="registered for _Registered"):
        fold(state, [_Registered(_consultation())])


def test_episode_opened_only_starts_a_stream() -> None:
    with pytest.raises(TypeError, match="only starts a stream"):
        fold(_opened(), [EpisodeOpened("client-1", "clin-1", DAY)])
