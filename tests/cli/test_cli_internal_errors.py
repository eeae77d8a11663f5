"""An exception nothing expected (a bug, a record changed outside alliancekit) ends the command with exit 70
and says where it was raised, but never the exception's message: Python's own messages quote the value they
choked on (``Invalid isoformat string: '...'``), which may be a client's data."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "alliancekit"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A demo practice, an open episode of it and that episode's client reference."""
    db = tmp_path_factory.mktemp("internal") / "demo.sqlite"
    done = cli("demo", "--clients", "12", "--db", str(db), "-q", "--today", "2026-11-30")
    assert done.returncode == 0, done.stderr
    row = json.loads(cli("caseload", "--json", "--db", str(db)).stdout)[0]
    return db, str(row["episode_id"]), str(row["client_ref"])


def damaged(made: tuple[Path, str, str], tmp_path: Path, sql: str, *args: str) -> Path:
    db = tmp_path / "damaged.sqlite"
    shutil.copy(made[0], db)
    with sqlite3.connect(db) as conn:
        conn.execute(sql, args)
    conn.close()
    return db


def assert_internal(done: subprocess.CompletedProcess[str], kind: str, client_ref: str) -> None:
    assert done.returncode == 70, done.stderr
    assert "Traceback" not in done.stderr
    assert client_ref not in done.stderr + done.stdout
    last = done.stderr.splitlines()[-1]
    assert last.startswith(f"alliancekit: internal error: {kind} (its message is not shown"), done.stderr
    assert "  File '" in done.stderr  # where it was raised, for the bug report


def test_an_audit_time_holding_a_client_reference_is_named_by_its_row_not_quoted(
    made: tuple[Path, str, str], tmp_path: Path
) -> None:
    """Not an internal error any more: a stored row whose value its column cannot hold is refused naming
    the table, the row's key and the rule (exit 2), and the value is not quoted either."""
    client_ref = made[2]
    db = damaged(made, tmp_path, "UPDATE audit SET at = ? WHERE position = 2", f"2026-11-30 {client_ref}")
    done = cli("audit", "show", "--json", "--db", str(db))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert client_ref not in done.stderr + done.stdout
    said = done.stderr.splitlines()[-1]
    assert said.startswith("alliancekit: error: audit row shard 0 position 2 of chain "), done.stderr
    assert "cannot be read (value): it was changed outside alliancekit" in done.stderr


def test_a_damaged_caseload_row_ends_caseload_without_a_traceback(
    made: tuple[Path, str, str], tmp_path: Path
) -> None:
    _, episode, client_ref = made
    db = damaged(
        made, tmp_path, "UPDATE episodes SET lockbox = ? WHERE episode_id = ?", f'{{"{client_ref}"', episode
    )
    assert_internal(cli("caseload", "--db", str(db)), "JSONDecodeError", client_ref)
