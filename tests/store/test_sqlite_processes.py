"""8 processes, 500 read-modify-write commands each, on one episode in one SQLite file: nothing lost.

The scaling guide's figure is this test at 8 processes x 1,000 commands
(``ALLIANCEKIT_TEST_COMMANDS_EACH=1000``). Every commit fsyncs (``synchronous=FULL``) under SQLite's one
write lock, so the run takes about commands x the disk's flush time: 40 s at full size on CI's shared
disk. Each of the 4,000 commands is still a read-modify-write racing seven others on the same episode from
start to end, which is what a lost update needs; the PostgreSQL twin runs at the same default size."""

from __future__ import annotations

import os
from pathlib import Path

from alliancekit.testing.concurrency import run_concurrent_writers

PROCESSES = int(os.environ.get("ALLIANCEKIT_TEST_SQLITE_WRITERS", "8"))
COMMANDS_EACH = int(os.environ.get("ALLIANCEKIT_TEST_COMMANDS_EACH", "500"))


def test_concurrent_processes_on_one_episode_lose_no_update(disk_path: Path) -> None:
    # on the disk, not in memory with the rest of the suite: the flushes under the one write lock are part
    # of what the writers race through, and of the scaling guide's figure
    result = run_concurrent_writers(
        f"sqlite:{disk_path / 'shared.sqlite'}",
        clinic_id="clinic-load",
        processes=PROCESSES,
        commands_each=COMMANDS_EACH,
    )
    result.check()
    assert result.stream_length == result.base_version + PROCESSES * COMMANDS_EACH + result.alert_events
    print(
        f"\nsqlite: {PROCESSES} processes x {COMMANDS_EACH} commands in {result.seconds:.1f} s"
        f" ({result.commands_per_second:.0f} commands/s, {result.retries} conflicts retried)"
    )
