"""Each schema version's marker (:data:`alliancekit.store.sqlite_schema.STRUCTURE`) is told in a real file,
and the stated version is compared with them (:mod:`alliancekit.store.structure`): a version lowered below
the structure, or a marker missing at or below the stated version, is a problem; the version read is the
newest whose own and earlier markers are all there."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import (
    BACKFILL_AUDITED_FROM,
    CLINIC_CHAINS_FROM,
    LATEST_VERSION,
    READABLE_FROM,
    STRUCTURE,
)
from alliancekit.store.structure import SchemaFound, found

UNCHANGED = "changed outside alliancekit"


def _found(path: Path) -> tuple[SchemaFound, bool, bool]:
    """What a read-only open finds, and what it reads by the version it reads the file as: chains per
    clinic (from :data:`CLINIC_CHAINS_FROM`), the backfill mark's audit entry (from
    :data:`BACKFILL_AUDITED_FROM`)."""
    store = SQLiteStore(path, read_only=True)
    try:
        return store.schema_found(), store.audit_chains_per_clinic, store.audits_backfill_mark
    finally:
        store.close()


def _drop(conn: sqlite3.Connection, marker: str) -> None:
    """Remove one marker: a table or index dropped, a column by rebuilding its table without it (SQLite will
    not drop a column an index or constraint names)."""
    if "." not in marker:
        kind = conn.execute("SELECT type FROM sqlite_master WHERE name = ?", (marker,)).fetchone()[0]
        conn.execute(f"DROP {kind.upper()} {marker}")
        return
    table, column = marker.split(".")
    kept = [row[1] for row in conn.execute(f"PRAGMA table_info({table})") if row[1] != column]
    indexes = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    conn.executescript(
        f"CREATE TABLE {table}_kept AS SELECT {', '.join(kept)} FROM {table};"  # noqa: S608 (the schema's names)
        f" DROP TABLE {table}; ALTER TABLE {table}_kept RENAME TO {table};"
    )
    for (index,) in indexes:  # the table's other indexes (an older version's markers among them) kept
        if column not in index:
            conn.execute(index)


def test_a_new_file_has_every_versions_marker(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    SQLiteStore(path).close()
    assert _found(path) == (SchemaFound(LATEST_VERSION, LATEST_VERSION), True, True)


def test_every_versions_marker_is_told_removed_newest_first(tmp_path: Path) -> None:
    """From a new file, each version's marker removed (newest first) is found missing while the version
    still states it, and the file then reads as the version before, which fits once stated."""
    path = tmp_path / "new.sqlite"
    SQLiteStore(path).close()
    stated = LATEST_VERSION
    for version in sorted(STRUCTURE, reverse=True):
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            _drop(conn, STRUCTURE[version])
        assert _found(path)[0] == SchemaFound(
            stated,
            max(version - 1, min(STRUCTURE)),
            f"version {stated} is higher than its structure (version {version}'s {STRUCTURE[version]} is"
            f" missing; {UNCHANGED})",
        )
        if version == READABLE_FROM:
            break  # a read-only open refuses a file stating a version older than the oldest it reads
        stated = version - 1
        with closing(sqlite3.connect(path)) as conn:
            conn.execute(f"PRAGMA user_version = {stated}")
        assert _found(path) == (
            SchemaFound(stated, stated),
            stated >= CLINIC_CHAINS_FROM,
            stated >= BACKFILL_AUDITED_FROM,
        )


@pytest.mark.parametrize("version", [v for v in sorted(STRUCTURE) if v > READABLE_FROM])
def test_a_version_lowered_below_each_marker_is_found_and_the_file_read_whole(
    tmp_path: Path, version: int
) -> None:
    path = tmp_path / "new.sqlite"
    SQLiteStore(path).close()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {version - 1}")
    newest = max(STRUCTURE)
    assert _found(path) == (
        SchemaFound(
            version - 1,
            LATEST_VERSION,
            f"version {version - 1} is lower than its structure (version {newest}'s {STRUCTURE[newest]} is"
            f" present; {UNCHANGED})",
        ),
        True,  # read whole: what the later versions carry is read and checked
        True,
    )


MARKERS = {2: "b", 3: "c", 5: "e", 6: "f"}  # version 4 adds nothing to tell it by


@pytest.mark.parametrize(
    ("stated", "present", "read_as", "problem"),
    [
        (6, "bcef", 6, None),
        (5, "bcef", 6, "version 5 is lower than its structure (version 6's f is present; x)"),
        (5, "bce", 5, None),  # the lowest version the structure fits, and the highest
        (4, "bc", 4, None),  # a version without a marker: believed
        (3, "bc", 3, None),
        (2, "bc", 4, "version 2 is lower than its structure (version 3's c is present; x)"),
        (5, "bc", 4, "version 5 is higher than its structure (version 5's e is missing; x)"),
        # half faked: the marker of 5 dropped, 6's kept: read as 4, whose tables are all there, and found
        (4, "bcf", 4, "version 4 is lower than its structure (version 6's f is present; x)"),
        (6, "bcf", 4, "version 6 is higher than its structure (version 5's e is missing; x)"),
        (6, "cef", 2, "version 6 is higher than its structure (version 2's b is missing; x)"),
        (
            3,
            "bf",
            2,
            (
                "version 3 is lower than its structure (version 6's f is present; x); version 3 is higher"
                " than its structure (version 3's c is missing; x)"
            ),
        ),
    ],
)
def test_the_stated_version_against_the_markers(
    stated: int, present: str, read_as: int, problem: str | None
) -> None:
    result = found(stated, MARKERS, set(present), 6)
    assert result == SchemaFound(
        stated, read_as, None if problem is None else problem.replace("; x)", f"; {UNCHANGED})")
    )
