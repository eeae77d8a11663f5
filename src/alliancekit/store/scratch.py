"""A scratch map on disk, for work that must remember something of every record it reads in flat memory.

An import remembers a few facts of every source episode it has read (when it opened, the last session's
date, the episode's id). Kept in a dict, they grow with the source: about 0.7 KB an episode, 70 MB for
100,000. :class:`ScratchMap` keeps them in a private temporary SQLite database instead: SQLite holds a
bounded page cache in memory and spills the rest to a file that it removes itself when the connection
closes (an empty file name: see https://www.sqlite.org/inmemorydb.html, "Temporary Databases"), so the
memory stays flat however long the source is. A lookup costs a few microseconds, against hundreds for the
command it serves.

The keys are hashed with a key made for this map alone (keyed BLAKE2b), so the temporary file holds no
client reference; the values are the caller's few texts (dates, codes and the library's ids, never client
data), kept as a JSON list.
This is not a practice's store: nothing of a practice is read or written here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Sequence

#: The page cache the temporary database may hold in memory, in KiB (SQLite's ``cache_size`` when negative).
CACHE_KIB = 2048


#: What a key names: a few texts (``None`` for one that is absent).
Value = tuple[str | None, ...]


class ScratchMap:
    """Values of a few texts by keys of text, in a private temporary database removed when it is closed.

    Keys are sequences of strings (a client reference and an episode reference, say), told apart exactly:
    ``("a", "b")`` and ``("a\\x1fb",)`` are different keys.
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._db: sqlite3.Connection | None = sqlite3.connect("", isolation_level=None)
        # scratch: nothing here must outlive the process, so no journal and no flush to disk
        self._db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        self._db.execute("CREATE TABLE scratch (key BLOB PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")

    def __repr__(self) -> str:
        return f"<ScratchMap {'closed' if self._db is None else 'open'}>"

    def _key(self, key: Sequence[str]) -> bytes:
        text = json.dumps(list(key), ensure_ascii=False).encode("utf-8", "surrogatepass")
        return hashlib.blake2b(text, key=self._secret, digest_size=16).digest()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the scratch map is closed")
        return self._db

    def get(self, key: Sequence[str]) -> Value | None:
        """The value kept under ``key``, or ``None``."""
        row = self._conn().execute("SELECT value FROM scratch WHERE key = ?", (self._key(key),)).fetchone()
        return None if row is None else tuple(json.loads(row[0]))  # the map's own text, written below

    def put(self, key: Sequence[str], value: Value) -> None:
        """Keep ``value`` under ``key``, replacing what was kept."""
        self._conn().execute(
            "INSERT INTO scratch (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (self._key(key), json.dumps(value, ensure_ascii=False)),
        )

    def clear(self) -> None:
        """Forget every key."""
        self._conn().execute("DELETE FROM scratch")

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM scratch").fetchone()[0])

    def close(self) -> None:
        """Close the database (SQLite removes its file); closing again does nothing."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ScratchMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
