"""A practice on a filesystem mounted read-only (a forensic copy, a snapshot, a container's read-only
volume), on a real read-only tmpfs: ``verify`` checks it there; a command that writes (every read of clinical
content writes its audit entry) says the filesystem is read-only, never "not an alliancekit database" (what
every command said, verify included: SQLite cannot make its shared-memory file there)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from .unprivileged import bound_by_modes, needs_modes

CLI = [sys.executable, "-m", "alliancekit"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("read-only") / "demo.sqlite"
    made = cli("demo", "--clients", "12", "--db", str(db), "-q")
    assert made.returncode == 0, made.stderr
    return db


@pytest.fixture
def mounted(tmp_path: Path, demo: Path) -> Iterator[Path]:
    """A read-only filesystem holding the demo practice (``demo.sqlite``) and a copy whose write-ahead log
    still holds a transaction (``pending.sqlite`` and ``pending.sqlite-wal``)."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.decode().strip()}")
    try:
        shutil.copy(demo, disk / "demo.sqlite")
        source = tmp_path / "pending.sqlite"
        shutil.copy(demo, source)
        with closing(sqlite3.connect(source)) as conn:
            conn.execute("PRAGMA wal_autocheckpoint = 0")
            conn.execute("INSERT INTO practice_meta VALUES ('probe', '{}')")
            conn.commit()
            shutil.copy(source, disk / "pending.sqlite")  # while open: the transaction is in the log only
            shutil.copy(f"{source}-wal", disk / "pending.sqlite-wal")
        # a snapshot of a live practice's directory: the database with its shared-memory file
        live = tmp_path / "live.sqlite"
        shutil.copy(demo, live)
        with closing(sqlite3.connect(live)) as conn:
            conn.execute("SELECT count(*) FROM episodes").fetchone()
            for suffix in ("", "-shm", "-wal"):
                shutil.copy(f"{live}{suffix}", disk / f"live.sqlite{suffix}")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_verify_checks_a_practice_on_a_read_only_filesystem(mounted: Path) -> None:
    for command in (["verify"], ["audit", "verify"]):
        done = cli(*command, "--db", str(mounted / "demo.sqlite"))
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("clinic demo-clinic: record ok: ")


def test_a_command_that_writes_says_the_filesystem_is_read_only(mounted: Path) -> None:
    db = mounted / "demo.sqlite"
    done = cli("caseload", "--db", str(db))
    assert done.returncode == 2
    assert done.stderr == (
        f"alliancekit: error: cannot open {db} for writing: it is on a read-only filesystem (it "
        "can be checked there with alliancekit verify; a command that reads clinical content writes its "
        "audit entry)\n"
    )


def test_a_snapshot_with_its_shared_memory_file_says_the_filesystem_is_read_only(mounted: Path) -> None:
    """SQLite opens it (its shared-memory file is there); the writers' lock beside it cannot be made: said
    as the read-only filesystem it is, not "cannot open the writers' lock"."""
    db = mounted / "live.sqlite"
    done = cli("caseload", "--db", str(db))
    assert done.returncode == 2
    assert done.stderr == (
        f"alliancekit: error: cannot open {db} for writing: it is on a read-only filesystem (it can be "
        "checked there with alliancekit verify; a command that reads clinical content writes its audit "
        "entry)\n"
    )
    assert cli("verify", "--db", str(db)).returncode == 0


def test_a_write_ahead_log_not_yet_merged_is_named_not_ignored(mounted: Path) -> None:
    """An immutable read would skip the log's transactions: refused, saying how to read it."""
    db = mounted / "pending.sqlite"
    done = cli("verify", "--db", str(db))
    assert done.returncode == 2
    assert done.stderr == (
        f"alliancekit: error: cannot open {db}: it is on a read-only filesystem with a "
        "write-ahead log not yet merged (pending.sqlite-wal): copy both files to a writable place to read "
        "it\n"
    )


@needs_modes
@pytest.mark.parametrize("command", [["verify"], ["caseload"]])
def test_a_practice_in_a_directory_the_user_cannot_write_says_so(
    demo: Path, tmp_path: Path, command: list[str]
) -> None:
    """A readable practice in a directory its user cannot write (a read-write filesystem): SQLite cannot make
    its shared-memory file, so even verify's read-only open fails. Before, it said "the file is read-only"
    (verify, which writes nothing, included), sending the user to the file's mode rather than the
    directory's."""
    locked = tmp_path / "locked"
    locked.mkdir()
    db = locked / "demo.sqlite"
    shutil.copy(demo, db)
    db.chmod(0o644)
    locked.chmod(0o555)
    try:
        done = subprocess.run(
            [*bound_by_modes(), *CLI, *command, "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert (done.returncode, done.stdout) == (2, "")
        assert done.stderr == (
            f"alliancekit: error: cannot open {db}: its directory is not writable, and SQLite "
            "keeps the database's -wal and -shm files beside it (make the directory writable, or copy the "
            "file to a writable place to read it)\n"
        )
        assert sorted(p.name for p in locked.iterdir()) == ["demo.sqlite"]
    finally:
        locked.chmod(0o755)  # pytest removes its temporary directories as whoever runs it
