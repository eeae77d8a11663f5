"""WAL checkpoints run beside the writers: the WAL is copied back and reused rather than growing, and the
store stays usable (and checkpointed) after a close."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alliancekit.store import sqlite_checkpoint
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_checkpoint import WalCheckpointer


def _fill(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("CREATE TABLE IF NOT EXISTS t (x TEXT)")
    for _ in range(rows):
        conn.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))
    return conn


def _checkpointed_frames(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        _, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(log), int(done)
    finally:
        conn.close()


def test_a_wal_past_the_limit_is_checkpointed_on_the_commit_that_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_checkpoint, "CHECKPOINT_PAGES", 4)
    path = tmp_path / "w.sqlite"
    conn = _fill(path, 20)  # about 20 pages in the WAL, none copied back
    checkpointer = WalCheckpointer(path, 4096)
    for _ in range(sqlite_checkpoint._LOOK_EVERY - 1):
        checkpointer.committed()
    assert checkpointer._thread is None
    checkpointer.committed()
    checkpointer.close()  # waits for the checkpoint
    log, done = _checkpointed_frames(path)
    assert log == done > 0
    conn.close()


def test_a_wal_under_the_limit_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    conn = _fill(path, 3)
    checkpointer = WalCheckpointer(path, 4096)  # 1,000 pages: far more than the WAL holds
    for _ in range(sqlite_checkpoint._LOOK_EVERY):
        checkpointer.committed()
    assert checkpointer._thread is None
    conn.close()


def test_store_writer_connections_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "p.sqlite")
    try:
        assert store._connect().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert store._checkpointer is not None
    finally:
        store.close()
    reader = SQLiteStore(tmp_path / "p.sqlite", read_only=True)
    try:
        assert reader._checkpointer is None
    finally:
        reader.close()
