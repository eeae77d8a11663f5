"""Upgrading the oldest store from the command line, as the deploying guide's safe order does: `verify`
(read-only) refuses a schema-1 file with "open it for writing once to migrate it", and a command that
writes (`caseload`) then migrates it. Before, `caseload` opened the file read-only first, to be sure it
was an alliancekit database, and passed on that open's refusal: the same advice, so the CLI could not
upgrade a schema-1 file at all."""

from __future__ import annotations

import gzip
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from alliancekit.cli.main import main
from alliancekit.store.sqlite_schema import LATEST_VERSION, READABLE_FROM

OLD_STORES = Path(__file__).parents[1] / "integrity" / "old_stores"


def version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


@pytest.fixture
def oldest(tmp_path: Path) -> Path:
    path = tmp_path / "oldest.sqlite"
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(gzip.decompress((OLD_STORES / "v1-shape1-f218494.sql.gz").read_bytes()).decode())
    assert version(path) == 1 < READABLE_FROM  # too old to read as it stands
    return path


def test_a_command_that_writes_migrates_a_schema_1_file(
    oldest: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["verify", "--db", str(oldest)]) == 2
    assert "open it for writing once to migrate it" in capsys.readouterr().err
    assert version(oldest) == 1  # verify never migrates

    assert main(["caseload", "--db", str(oldest)]) == 0, capsys.readouterr().err
    assert "demo-client-000" in capsys.readouterr().out
    assert version(oldest) == LATEST_VERSION

    assert main(["verify", "--db", str(oldest)]) == 0
    assert "record ok" in capsys.readouterr().out


def test_a_file_that_is_not_alliancekits_is_still_refused_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The read-only look before the writable open still keeps a foreign file from being converted."""
    other = tmp_path / "other.sqlite"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA user_version = 1")
    before = other.read_bytes()
    assert main(["caseload", "--db", str(other)]) == 2
    assert "no alliancekit database" in capsys.readouterr().err
    assert other.read_bytes() == before
