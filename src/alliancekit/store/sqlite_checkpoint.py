"""WAL checkpoints of an SQLite store, run beside the writers rather than inside one of their commits.

SQLite checkpoints by itself in the commit that takes the WAL past 1,000 pages: that commit copies the
pages into the database and syncs it while it still holds the write lock, so every writer queued behind it
waits too (the tail of the writers' latency). The store's writer connections turn that off
(``wal_autocheckpoint = 0``) and, after a commit, call :meth:`WalCheckpointer.committed`, which starts a
``PASSIVE`` checkpoint on a thread of its own once the WAL has grown past the same size: it takes no write
lock and waits for no reader or writer, so the writers go on while it copies. A checkpoint that cannot copy
everything (a reader still needs old pages) is tried again after later commits, as SQLite's own would be.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

#: SQLite's own threshold (``wal_autocheckpoint`` defaults to 1,000 pages).
CHECKPOINT_PAGES = 1000
#: The WAL's size is looked at every this many commits of one store (a ``stat``; a checkpoint's worth of
#: commits is a hundred or more).
_LOOK_EVERY = 16


class WalCheckpointer:
    """Checkpoints one database's WAL on a background thread, one checkpoint at a time."""

    def __init__(self, path: Path, page_size: int) -> None:
        self._path = path
        self._wal = path.with_name(path.name + "-wal")
        self._limit = CHECKPOINT_PAGES * page_size
        self._lock = threading.Lock()
        self._commits = 0
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None

    def committed(self) -> None:
        """After a write transaction (outside the writers' lock): checkpoint if the WAL has grown."""
        self._commits += 1
        if self._commits % _LOOK_EVERY:
            return
        try:
            if os.stat(self._wal).st_size < self._limit:
                return
        except OSError:
            return  # no WAL file (yet): nothing to copy
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._checkpoint, name="alliancekit-wal-checkpoint")
            self._thread.daemon = True  # a checkpoint cut short by exit loses nothing: the WAL stays
            self._thread.start()

    def _checkpoint(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # busy or interrupted: a later commit tries again
            if self._conn is None:
                self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def close(self) -> None:
        """Wait for a running checkpoint and close its connection (a later commit opens another: a store
        may be used again after ``close``, and its WAL must not grow without bound)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                thread.join()
            if self._conn is not None:
                self._conn.close()
                self._conn = None
