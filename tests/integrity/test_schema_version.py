"""A schema version lowered by hand (SQLite's ``user_version``) hides none of verification's checks: the
read-only open reads the tables there, and the stated version they do not fit is a finding."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from alliancekit.cli.main import main
from alliancekit.store.sqlite_schema import CLINIC_CHAINS_FROM, DEFINITIONS_FROM, LATEST_VERSION

CHANGED_ORS = (
    "UPDATE measure_definitions SET definition = replace(definition, '\"ors\"', '\"ors \"')"
    " WHERE measure_id = 'ors'"
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    argv = ["demo", "--db", str(path), "--clients", "12", "--seed", "7", "--today", "2024-06-01", "-q"]
    assert main(argv) == 0
    return path


def _copy(demo: Path, tmp_path: Path, *statements: str) -> Path:
    path = tmp_path / "copy.sqlite"
    path.write_bytes(demo.read_bytes())
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in statements:
            conn.execute(statement)
    return path


@pytest.mark.parametrize("version", [DEFINITIONS_FROM - 1, LATEST_VERSION - 1])
def test_a_lowered_version_is_found_and_the_later_tables_still_checked(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], version: int
) -> None:
    path = _copy(demo, tmp_path, CHANGED_ORS, f"PRAGMA user_version = {version}")
    capsys.readouterr()
    assert main(["verify", "--db", str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        f"schema: the store's schema: version {version} is lower than its structure (version"
        f" {CLINIC_CHAINS_FROM}'s audit.chain is present; changed outside alliancekit)" in out
    )
    assert "definitions: measure ors version 1.0: its text does not match its SHA-256" in out
    assert f"; schema version {version}" in out


def test_the_stated_latest_version_verifies_and_is_shown(
    demo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _copy(demo, tmp_path)
    capsys.readouterr()
    assert main(["verify", "--db", str(path)]) == 0
    out = capsys.readouterr().out
    assert ": record ok: " in out
    assert f"; schema version {LATEST_VERSION}" in out
