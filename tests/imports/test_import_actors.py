"""The clinician an import's commands are made as: one checked actor per clinician id for the whole run
(the importer made and checked a new one for every command), never another clinician's, and an id that is
not text refused every time, as before."""

from __future__ import annotations

from datetime import date

import pytest

from alliancekit.domain import Modality
from alliancekit.errors import ValidationError
from alliancekit.imports.units import EpisodeRef
from alliancekit.imports.writer import _Episodes


def _ref(clinician_id: object) -> EpisodeRef:
    return EpisodeRef("client-1", "episode-1", clinician_id, date(2025, 1, 6), Modality.IN_PERSON)  # type: ignore[arg-type]


def test_one_actor_per_clinician_for_the_whole_run() -> None:
    episodes = _Episodes("north")
    first = episodes.actor(_ref("clinician-a"))
    assert episodes.actor(_ref("clinician-a")) is first  # checked once, not once per command
    assert episodes.actor(_ref("clinician-b"), "clinician-a") is first  # a step made by clinician-a
    other = episodes.actor(_ref("clinician-b"))
    assert other is not first
    assert (other.id, other.clinic_id) == ("clinician-b", "north")
    assert (first.id, first.clinic_id) == ("clinician-a", "north")


@pytest.mark.parametrize("bad", [7, "", "x" * 10_000])
def test_an_id_the_actor_check_refuses_is_refused_every_time(bad: object) -> None:
    episodes = _Episodes("north")
    for _ in range(2):
        with pytest.raises(ValidationError):
            episodes.actor(_ref(bad))
