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
:class:`ScratchLists` keeps lists of such values by hashed keys in the same kind of database, for a join
that must remember where every record of a source is (the FHIR importer's: an episode's resources spread
over files, found again one episode at a time).
This is not a practice's store: nothing of a practice is read or written here.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Iterator, Sequence

#: The page cache the temporary database may hold in memory, in KiB (SQLite's ``cache_size`` when negative).
CACHE_KIB = 2048


#: What a key names: a few texts (``None`` for one that is absent).
Value = tuple[str | None, ...]


#: What a list holds: a few texts and whole numbers (``None`` for one that is absent).
Item = tuple[str | int | None, ...]
#: Items read at a time when a list is walked through (:meth:`ScratchLists.each`).
PAGE = 512


def _scratch_database() -> sqlite3.Connection:
    """A private temporary database, removed by SQLite on close, with a bounded page cache."""
    db = sqlite3.connect("", isolation_level=None)
    # scratch: nothing here must outlive the process, so no journal and no flush to disk
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    return db


def _hashed(secret: bytes, key: Sequence[str]) -> bytes:
    text = json.dumps(list(key), ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, key=secret, digest_size=16).digest()


class ScratchMap:
    """Values of a few texts by keys of text, in a private temporary database removed when it is closed.

    Keys are sequences of strings (a client reference and an episode reference, say), told apart exactly:
    ``("a", "b")`` and ``("a\\x1fb",)`` are different keys.
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._db: sqlite3.Connection | None = _scratch_database()
        self._db.execute("CREATE TABLE scratch (key BLOB PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")

    def __repr__(self) -> str:
        return f"<ScratchMap {'closed' if self._db is None else 'open'}>"

    def _key(self, key: Sequence[str]) -> bytes:
        return _hashed(self._secret, key)

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


class ScratchLists:
    """Named lists of items by keys of text, in a private temporary database removed when it is closed.

    Each list (``name``: the caller's constant, such as ``"encounters"``) holds, under each key, the items
    appended to it in the order they were appended; keys are hashed as :class:`ScratchMap` hashes them (one
    secret for all the lists of one instance, so that two lists' keys can be compared), so the file holds no
    key in the clear. Items are the caller's few texts and numbers (where a record is in a file, codes,
    instants, the library's ids), never client data.
    """

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)
        self._digest_key = secrets.token_bytes(32)
        self._db: sqlite3.Connection | None = _scratch_database()
        self._db.execute(
            "CREATE TABLE items (seq INTEGER PRIMARY KEY, name TEXT NOT NULL, key BLOB NOT NULL,"
            " item TEXT NOT NULL)"
        )
        self._db.execute("CREATE INDEX items_by_key ON items (name, key, seq)")

    def __repr__(self) -> str:
        return f"<ScratchLists {'closed' if self._db is None else 'open'}>"

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the scratch lists are closed")
        return self._db

    def digest(self, data: bytes) -> str:
        """A keyed digest of ``data`` (hex), to tell later that bytes read again are the ones read before,
        without keeping them (the key is this instance's own: the digest says nothing of the bytes)."""
        return hashlib.blake2b(data, key=self._digest_key, digest_size=16).hexdigest()

    def append(self, name: str, key: Sequence[str], item: Item) -> None:
        """Add ``item`` at the end of the list ``name`` keeps under ``key``."""
        self._conn().execute(
            "INSERT INTO items (name, key, item) VALUES (?, ?, ?)",
            (name, _hashed(self._secret, key), json.dumps(item, ensure_ascii=False)),
        )

    def items(self, name: str, key: Sequence[str]) -> list[Item]:
        """What the list ``name`` keeps under ``key``, in the order appended (empty: nothing)."""
        rows = self._conn().execute(
            "SELECT item FROM items WHERE name = ? AND key = ? ORDER BY seq",
            (name, _hashed(self._secret, key)),
        )
        return [tuple(json.loads(row[0])) for row in rows]  # the lists' own text, written above

    def last(self, name: str, key: Sequence[str]) -> Item | None:
        """The item appended last under ``key`` to the list ``name`` (``None``: none)."""
        row = (
            self._conn()
            .execute(
                "SELECT item FROM items WHERE name = ? AND key = ? ORDER BY seq DESC LIMIT 1",
                (name, _hashed(self._secret, key)),
            )
            .fetchone()
        )
        return None if row is None else tuple(json.loads(row[0]))

    def has(self, name: str, key: Sequence[str]) -> bool:
        """Whether the list ``name`` keeps anything under ``key``."""
        return self.last(name, key) is not None

    def each(self, name: str, key: Sequence[str] = ()) -> Iterator[Item]:
        """The items of the list ``name`` under ``key`` in the order appended, read a page at a time (the
        list may be appended to meanwhile: items appended after the walk has passed them are walked too)."""
        hashed, after = _hashed(self._secret, key), 0
        while True:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, item FROM items WHERE name = ? AND key = ? AND seq > ? ORDER BY seq LIMIT ?",
                    (name, hashed, after, PAGE),
                )
                .fetchall()
            )
            if not rows:
                return
            for _, item in rows:
                yield tuple(json.loads(item))
            after = rows[-1][0]

    def keys_without(self, name: str, other: str) -> Iterator[list[Item]]:
        """For each key of the list ``name`` under which the list ``other`` keeps nothing, in the order of
        each key's first item, what ``name`` keeps under it."""
        conn = self._conn()
        keys = conn.execute(
            "SELECT key FROM items WHERE name = ? AND key NOT IN (SELECT key FROM items WHERE name = ?)"
            " GROUP BY key ORDER BY min(seq)",
            (name, other),
        ).fetchall()
        for (hashed,) in keys:
            rows = conn.execute(
                "SELECT item FROM items WHERE name = ? AND key = ? ORDER BY seq", (name, hashed)
            )
            yield [tuple(json.loads(row[0])) for row in rows]

    def count(self, name: str) -> int:
        """The items of the list ``name``, under every key."""
        return int(self._conn().execute("SELECT count(*) FROM items WHERE name = ?", (name,)).fetchone()[0])

    def close(self) -> None:
        """Close the database (SQLite removes its file); closing again does nothing."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> ScratchLists:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
