"""What a batch (the import's writer) leaves when its commit fails on a full disk, on a real tmpfs.

Nothing of the batch is written, and no audit entry says a command was made that was not: a repeat of a
keyed command held in the failed batch was audited as ``replayed`` (its first result never written). The
reads the batch answered are audited all the same: the caller was shown the state, so the read happened.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, open_practice
from alliancekit.domain import Role
from alliancekit.errors import StoreError

ME = Actor("clin-1", Role.CLINICIAN, clinic_id="north")
D = date(2026, 1, 5)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    mounted = tmp_path / "disk"
    mounted.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mounted)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.decode().strip()}")
    try:
        yield mounted
    finally:
        subprocess.run(["umount", str(mounted)], check=True)


def _entries(db: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT action, outcome, record_id FROM audit ORDER BY at, entry_id").fetchall()
    return [tuple(row) for row in rows]


def test_a_batch_failing_on_a_full_disk_leaves_its_reads_audited_and_no_repeat_of_what_it_dropped(
    disk: Path,
) -> None:
    db = disk / "practice.sqlite"
    with open_practice(db) as practice:
        kept = practice.start_episode(ME, client_ref="host-kept", clinician_id=ME.id, opened_on=D)
    practice = open_practice(db)
    practice.caseload(ME)  # its connection open, before the disk is filled to 96 KiB
    (disk / "filler").write_bytes(b"\0" * (shutil.disk_usage(disk).free - 96 * 1024))
    before = _entries(db)
    with practice, pytest.raises(StoreError, match="the disk is full"), practice.batch(size=5000) as batch:  # noqa: PT012 - the whole block is what fails
        first = batch.start_episode(
            ME, client_ref="host-0", clinician_id=ME.id, opened_on=D, idempotency_key="k"
        )
        batch.episode(ME, first)  # a read the batch answers: it happened
        again = batch.start_episode(
            ME, client_ref="host-0", clinician_id=ME.id, opened_on=D, idempotency_key="k"
        )
        assert again == first  # answered by the command held above, which the disk will refuse
        batch.episode(ME, kept)
        for n in range(1, 2000):  # more than the disk holds
            batch.start_episode(ME, client_ref=f"host-{n}", clinician_id=ME.id, opened_on=D)
    (disk / "filler").unlink()
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        assert conn.execute("SELECT episode_id FROM episodes").fetchall() == [(kept,)]  # nothing of the batch
    left = _entries(db)[len(before) :]
    assert ("start-episode", "replayed", first) not in left  # a repeat of a command never made
    assert sorted(left) == sorted([("read-episode", "allowed", first), ("read-episode", "allowed", kept)])
    with open_practice(db, read_only=True) as copy:
        assert copy.verify(Actor("it-1", Role.ADMINISTRATOR, clinic_id="north")).ok


def test_a_block_ending_with_an_error_drops_the_repeats_of_what_it_held(tmp_path: Path) -> None:
    db = tmp_path / "practice.sqlite"
    with open_practice(db) as practice:
        stored = practice.start_episode(
            ME, client_ref="host-s", clinician_id=ME.id, opened_on=D, idempotency_key="s"
        )
        with pytest.raises(RuntimeError), practice.batch() as batch:  # noqa: PT012 - the whole block is what fails
            held = batch.start_episode(
                ME, client_ref="host-h", clinician_id=ME.id, opened_on=D, idempotency_key="h"
            )
            batch.start_episode(ME, client_ref="host-h", clinician_id=ME.id, opened_on=D, idempotency_key="h")
            # a repeat of a command stored before the batch: answered, and its first result is durable
            batch.start_episode(ME, client_ref="host-s", clinician_id=ME.id, opened_on=D, idempotency_key="s")
            raise RuntimeError("the host's own failure")
    replayed = [(action, record) for action, outcome, record in _entries(db) if outcome == "replayed"]
    assert replayed == [("start-episode", stored)]
    assert held not in {record for _, _, record in _entries(db)}
