"""A `--key-file` that is not the practice's audit key fails the first seal, and `verify` (and `backup`, which
checks its copy the same way) says that the key may be the cause: before, it said only "seal is not valid",
which reads as a damaged database, and the guide's answer to a copy that does not verify is to restore an
earlier backup. A seal after the first failing with the right key is still reported as it was."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Role, open_practice
from alliancekit.cli.main import main

KEY, OTHER = b"k" * 32, b"o" * 32
CLINICIAN = Actor("clin-1", Role.CLINICIAN, "north")
ADMIN = Actor("it-1", Role.ADMINISTRATOR, "north")
HINT = "the key given is not the one the practice sealed with"


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    """A practice with two checkpoints, and the two key files (owner-only)."""
    path = tmp_path / "practice.sqlite"
    with open_practice(path, audit_key=KEY) as practice:
        for n in range(2):
            practice.start_episode(
                CLINICIAN, client_ref=f"h-{n}", clinician_id="clin-1", opened_on=date(2026, 1, 5)
            )
            practice.audit_checkpoint(ADMIN)
    for name, key in (("right.key", KEY), ("other.key", OTHER)):
        (tmp_path / name).write_bytes(key)
        (tmp_path / name).chmod(0o600)
    return path


def test_another_key_is_named_as_the_likely_cause(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--db", str(sealed), "--key-file", str(sealed.parent / "right.key")]) == 0
    assert "seals verified" in capsys.readouterr().out
    assert main(["verify", "--db", str(sealed), "--key-file", str(sealed.parent / "other.key")]) == 1
    out = capsys.readouterr().out
    assert f"checkpoint 1: seal is not valid: {HINT}" in out
    assert KEY.decode() not in out
    assert OTHER.decode() not in out


def test_backup_with_another_key_says_so_and_publishes_nothing(
    sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = sealed.parent / "copy.sqlite"
    assert (
        main(["backup", "--db", str(sealed), str(copy), "--key-file", str(sealed.parent / "other.key")]) == 1
    )
    assert HINT in capsys.readouterr().out
    assert not copy.exists()


def test_a_later_seal_changed_is_reported_without_the_hint(
    sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with closing(sqlite3.connect(sealed)) as conn, conn:
        conn.execute("UPDATE audit_checkpoints SET mac = ? WHERE seq = 2", ("0" * 64,))
    assert main(["verify", "--db", str(sealed), "--key-file", str(sealed.parent / "right.key")]) == 1
    out = capsys.readouterr().out
    assert "checkpoint 2: seal is not valid" in out
    assert HINT not in out
