"""8 processes, 500 read-modify-write commands each, on one episode: nothing lost, nothing duplicated.

The scaling guide's figure is this test at 16 processes x 1,000 commands (``ALLIANCEKIT_TEST_WRITERS=16
ALLIANCEKIT_TEST_COMMANDS_EACH=1000``): 90 s on a 2-core machine whose disk is shared, the longest test
of the suite by far. By default it runs at a quarter of that, still thousands of conflicting commits on
one episode, so the suite stays inside CI's time."""

from __future__ import annotations

import os

import pytest

from alliancekit.testing.concurrency import run_concurrent_writers

PROCESSES = int(os.environ.get("ALLIANCEKIT_TEST_WRITERS", "8"))
COMMANDS_EACH = int(os.environ.get("ALLIANCEKIT_TEST_COMMANDS_EACH", "500"))


@pytest.mark.slow
def test_concurrent_processes_on_one_episode_lose_no_update(pg) -> None:  # type: ignore[no-untyped-def]
    location = pg.location(pg.new_schema(), "clinic-load", pool_max=1)
    result = run_concurrent_writers(
        location,
        clinic_id="clinic-load",
        processes=PROCESSES,
        commands_each=COMMANDS_EACH,
        entry_points=("postgres",),
    )
    result.check()
    assert result.stream_length == result.base_version + PROCESSES * COMMANDS_EACH + result.alert_events
    print(
        f"\npostgres: {PROCESSES} processes x {COMMANDS_EACH} commands in {result.seconds:.1f} s"
        f" ({result.commands_per_second:.0f} commands/s, {result.retries} conflicts retried)"
    )
