"""``Practice.verify(..., progress=)``: called with (episodes walked, how many) after each episode, 1..n."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import ValidationError
from alliancekit.store.sqlite import SQLiteStore

from .conftest import ADMIN, HOST, KEY, Record
from .test_verify_clinics import NORTH, SOUTH, _admin, _two_clinics, two  # noqa: F401  (fixtures)


def _recorder(calls: list[tuple[int, int]]) -> Callable[[int, int], None]:
    return lambda done, total: calls.append((done, total))


def _verify(path: Path, actor: Actor, progress: object) -> tuple[int, bool]:
    with Practice(SQLiteStore(path, read_only=True), plugins=HOST, audit_key=KEY) as practice:
        report = practice.verify(actor, progress=progress)  # type: ignore[arg-type]
    return report.episodes, report.ok


def test_progress_counts_every_episode_checked_in_order(record: Record) -> None:
    calls: list[tuple[int, int]] = []
    checked, ok = _verify(record.path, ADMIN, _recorder(calls))
    assert ok
    assert checked == len(record.episodes) == 3
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_in_a_file_of_two_clinics_the_progress_counts_the_clinics_own_episodes(
    two: tuple[Record, dict[str, list[str]]],  # noqa: F811
) -> None:
    """The progress counts what the report counts, not every episode of the file (north's bar read 5/5
    episodes for a clinic of 2)."""
    record, episodes = two
    for clinic in (NORTH, SOUTH):
        calls: list[tuple[int, int]] = []
        checked, ok = _verify(record.path, _admin(clinic), _recorder(calls))
        assert ok
        assert checked == len(episodes[clinic])  # the report counts the clinic's own
        assert calls == [(n, checked) for n in range(1, checked + 1)]  # and so does the progress


def test_an_episode_moved_to_another_clinic_outside_alliancekit_still_ends_at_n_of_n(
    two: tuple[Record, dict[str, list[str]]],  # noqa: F811
) -> None:
    """Its caseload row says south (the total counted before the walk), its events say north: north checks
    it, one more than counted, and the last call is still (n, n); south's total counted it, its walk
    checks it too (the row names south), so south's ends where counted."""
    record, episodes = two
    moved = episodes[NORTH][0]
    record.sql("UPDATE episodes SET clinic_id = ? WHERE episode_id = ?", (SOUTH, moved))
    calls: list[tuple[int, int]] = []
    _verify(record.path, _admin(NORTH), _recorder(calls))
    assert calls[-1] == (2, 2)  # both checked; never a done past its total on the way
    assert all(done <= total for done, total in calls)
    calls = []
    checked, _ = _verify(record.path, _admin(SOUTH), _recorder(calls))
    assert calls == [(n, checked) for n in range(1, checked + 1)]
    assert checked == len(episodes[SOUTH]) + 1


def test_a_practice_without_episodes_calls_progress_never(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    Practice(SQLiteStore(path), plugins=HOST, audit_key=KEY).close()
    calls: list[tuple[int, int]] = []
    checked, ok = _verify(path, ADMIN, lambda d, t: calls.append((d, t)))
    assert (checked, ok, calls) == (0, True, [])


@pytest.mark.parametrize("bad", ["yes", 1])
def test_a_progress_that_cannot_be_called_is_refused(record: Record, bad: object) -> None:
    with pytest.raises(ValidationError) as refused:
        _verify(record.path, ADMIN, bad)
    assert (refused.value.field, refused.value.rule) == ("progress", "type")


def test_a_clinician_is_refused_before_any_progress(record: Record) -> None:
    from alliancekit.errors import AccessDenied

    calls: list[tuple[int, int]] = []
    practice = Practice(SQLiteStore(record.path), plugins=HOST, audit_key=KEY)  # a refusal is audited
    with practice, pytest.raises(AccessDenied):
        practice.verify(Actor("clin-1", Role.CLINICIAN, "north"), progress=_recorder(calls))
    assert calls == []


def test_the_total_is_what_the_walk_visits_when_an_episode_was_removed(record: Record) -> None:
    ep = record.episodes["ep2"]
    record.sql("DELETE FROM events WHERE episode_id = ?", (ep,))
    record.sql("DELETE FROM episodes WHERE episode_id = ?", (ep,))
    calls: list[tuple[int, int]] = []
    checked, ok = _verify(record.path, ADMIN, _recorder(calls))
    assert (checked, ok) == (2, False)
    assert calls == [(1, 2), (2, 2)]


def test_a_verification_stopped_midway_ends_its_scan_before_the_practice_closes(
    record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C lands in the checks of an episode as often as not (``alliancekit verify`` printed "Exception
    ignored ... Cannot operate on a closed database" after "interrupted"): the scan is ended as verify
    returns, not when the garbage collector finds it after the practice closed. Here the interrupt is raised
    at a line of the checks, after the first episode, with a trace function: where a signal would land."""
    lost: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: lost.append(info.exc_value))
    walked: list[int] = []

    def interrupt_in_the_checks(frame: FrameType, event: str, arg: object) -> object:
        if walked and frame.f_code.co_filename.endswith(os.path.join("integrity", "verify.py")):
            raise KeyboardInterrupt
        return interrupt_in_the_checks

    def stopped() -> None:
        with Practice(SQLiteStore(record.path, read_only=True), plugins=HOST, audit_key=KEY) as practice:
            sys.settrace(interrupt_in_the_checks)
            try:
                practice.verify(ADMIN, progress=lambda done, total: walked.append(done))
            finally:
                sys.settrace(None)

    with pytest.raises(KeyboardInterrupt):
        stopped()
    gc.collect()  # whatever the interrupt left for the collector is collected now
    assert walked == [1]
    assert lost == []
