"""The FHIR round trip is exact: an episode exported (NDJSON or a Bundle) and imported into an empty store has
the same state, field by field, and the same history (each event's type and who recorded it, in order).

First the records whose day is not the day they were stored (a goal revised on an earlier day than it was
recorded: the Goal keeps its current version only, so its Provenance is where a revision's day is), then a
property over generated histories."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.domain import GoalRevision, GoalStatus

from .test_import_fhir_order import ME, Clock, _day, _episode, _exported, _held, _imported


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_a_goal_revision_keeps_its_own_day_when_it_was_stored_later(form: str, tmp_path: Path) -> None:
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as source:
        ep = _episode(source)
        goal = next(iter(source.episode(ME, ep).goals))
        clock.to(_day(9))
        # revised on day 3 and day 5, each recorded days later (a clinician catching up on notes)
        source.revise_goal(ME, ep, GoalRevision(goal, status=GoalStatus.ON_HOLD), revised_on=_day(3))
        clock.now += timedelta(days=1)
        source.revise_goal(ME, ep, GoalRevision(goal, tasks=("a synthetic task",)), revised_on=_day(5))
        before = _held(source)
        exported = _exported(source, tmp_path / "export", form)
    after = _imported(exported, tmp_path)
    assert before[0]["last_activity_on"] == _day(5)
    assert after == before
