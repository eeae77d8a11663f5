"""A new SQLite practice is readable by its owner alone; an existing file keeps the mode its host gave it.

The common umask 022 would make a new database, its write-ahead log and its shared-memory file readable by
every local user: they hold every client record in the practice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.errors import StoreError
from alliancekit.store.sqlite import SQLiteStore


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()}


@pytest.mark.usefixtures("umask_022")
def test_a_new_database_and_its_journals_are_owner_only(tmp_path: Path) -> None:
    practice = open_practice(str(tmp_path / "p.sqlite"))
    try:
        me = Actor("clin-1", Role.CLINICIAN, "clinic-1")
        practice.start_episode(me, client_ref="client-1", clinician_id="clin-1", opened_on=date(2026, 1, 5))
        # while it is open, with a write behind it: the log and the shared memory exist
        assert {"p.sqlite", "p.sqlite-wal", "p.sqlite-shm"} <= set(_modes(tmp_path))
        assert set(_modes(tmp_path).values()) == {0o600}
    finally:
        practice.close()
    assert set(_modes(tmp_path).values()) == {0o600}


@pytest.mark.usefixtures("umask_022")
def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "p.sqlite").close()
    os.chmod(tmp_path / "p.sqlite", 0o640)  # the host's decision: a group that backs it up, say
    store = SQLiteStore(tmp_path / "p.sqlite")
    try:
        assert _modes(tmp_path)["p.sqlite"] == 0o640
    finally:
        store.close()
    assert _modes(tmp_path)["p.sqlite"] == 0o640


def test_a_missing_folder_is_still_the_stores_error_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        SQLiteStore(tmp_path / "no-such-folder" / "p.sqlite")
    assert list(tmp_path.iterdir()) == []
