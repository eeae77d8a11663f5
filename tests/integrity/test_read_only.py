"""Verification opens the database read-only: it never creates, migrates or changes a file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from alliancekit.cli.main import main
from alliancekit.errors import NotAnAlliancekitStore, StoreError, StoreNeedsMigration, StoreTooNew
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import APPLICATION_ID, LATEST_VERSION, MIGRATIONS

from .conftest import KEY, build_record, verify_path


def _side_files(path: Path) -> list[Path]:
    """SQLite's journal files beside ``path`` (not the writers' lock file its building left)."""
    return [
        p
        for p in path.parent.iterdir()
        if p.name not in (path.name, f"{path.name}-writer") and p.name.startswith(path.name)
    ]


def _journal_mode_byte(path: Path) -> int:
    """Byte 18 of the header: 1 for a rollback journal, 2 for WAL."""
    return path.read_bytes()[18]


def test_a_rollback_journal_file_stays_byte_for_byte_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rollback.sqlite"
    build_record(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    conn.close()
    assert _journal_mode_byte(path) == 1
    assert _side_files(path) == []
    before = path.read_bytes()
    assert verify_path(path).ok
    key_file = tmp_path / "key"
    key_file.write_bytes(KEY)
    assert main(["audit", "verify", "--db", str(path), "--key-file", str(key_file)]) == 0
    assert capsys.readouterr().out.startswith("clinic north: record ok:")
    assert path.read_bytes() == before
    assert _journal_mode_byte(path) == 1
    assert _side_files(path) == []


def test_reads_work_and_writes_are_refused_on_a_read_only_store(tmp_path: Path) -> None:
    path = tmp_path / "ro.sqlite"
    episodes = build_record(path)
    store = SQLiteStore(path, read_only=True)
    try:
        assert sorted(store.episode_ids()) == sorted(episodes.values())
        before = path.read_bytes()
        with pytest.raises(StoreError, match="read-only"):
            store.append_audit(store.audit_records()[:1])
        with pytest.raises(StoreError, match="read-only"):
            store.seal(lambda heads, previous: None)
        assert path.read_bytes() == before
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["missing", "empty", "foreign", "directory"])
def test_nothing_usable_there_is_a_clear_error_and_creates_nothing(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "db.sqlite"
    if kind == "empty":
        path.touch()
    elif kind == "foreign":
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.commit()
        conn.close()
    elif kind == "directory":
        path.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    content = path.read_bytes() if path.is_file() else None
    expected = {"missing": StoreError, "empty": NotAnAlliancekitStore, "foreign": NotAnAlliancekitStore}
    with pytest.raises(expected.get(kind, StoreError)) as caught:
        SQLiteStore(path, read_only=True)
    assert "db.sqlite" in str(caught.value)
    with pytest.raises(StoreError):
        make_plugin_host(load_entry_points=False).stores().open(f"sqlite:{path}", read_only=True)
    assert main(["audit", "verify", "--db", str(path)]) != 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if content is not None:
        assert path.read_bytes() == content


def _version_1_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.close()


def test_an_older_schema_is_not_migrated_by_a_read_only_open(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite"
    _version_1_database(path)
    before = path.read_bytes()
    with pytest.raises(StoreNeedsMigration, match="version 1"):
        SQLiteStore(path, read_only=True)
    assert path.read_bytes() == before
    assert _side_files(path) == []


def test_a_newer_schema_is_refused_read_only(tmp_path: Path) -> None:
    path = tmp_path / "v99.sqlite"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreTooNew):
        SQLiteStore(path, read_only=True)


def test_the_memory_store_read_only_refuses_writes() -> None:
    store = MemoryStore(read_only=True)
    with pytest.raises(StoreError):
        store.append_audit([])
    with pytest.raises(StoreError):
        store.seal(lambda heads, previous: None)
    assert store.audit_records() == []
    assert store.audit_checkpoints() == []
    opened = make_plugin_host(load_entry_points=False).stores().open("memory:", read_only=True)
    assert isinstance(opened, MemoryStore)
    assert opened.read_only
