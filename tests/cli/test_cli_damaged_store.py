"""A database file an operator finds damaged or held, on real files and real processes.

A damaged file (a backup torn mid-copy, a truncated file, a disk fault) was said to be "not an alliancekit
database" when opened, and ``verify`` ended in an internal error (exit 70) or a bare "SQLite read failed"
(exit 2) when its walk met a bad page, or reported "record ok" when the bad page was one the walk does not
read (an index of the outbox): a torn backup passed the check the deploying guide asks for. Now the file
is named damaged (:class:`~alliancekit.errors.StoreCorrupt`), and ``verify`` reports it as a failed check
(exit 1, ``"ok": false`` in JSON). A database another process holds in a write transaction past the busy
timeout is :class:`~alliancekit.errors.StoreBusy`, saying so, instead of "SQLite write failed:
OperationalError".
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

import alliancekit.store.sqlite as sqlite_store
from alliancekit import Actor, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Role
from alliancekit.errors import StoreBusy, StoreCorrupt

CLI = [sys.executable, "-m", "alliancekit"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("damaged") / "demo.sqlite"
    made = cli("demo", "--clients", "12", "--seed", "3", "--today", "2026-06-01", "--db", str(db), "-q")
    assert made.returncode == 0, made.stderr
    return db


def garbled(demo: Path, to: Path, object_name: str) -> Path:
    """A copy of ``demo`` with the root page of the table or index ``object_name`` overwritten."""
    shutil.copy(demo, to)
    with closing(sqlite3.connect(to)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (object_name,))
    with to.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)
    return to


def truncated(demo: Path, to: Path) -> Path:
    shutil.copy(demo, to)
    with to.open("r+b") as file:
        file.truncate(to.stat().st_size // 2)
    return to


DAMAGED = "is damaged: SQLite finds the database file malformed"


def test_verify_reports_a_truncated_database_as_a_failed_check(demo: Path, tmp_path: Path) -> None:
    db = truncated(demo, tmp_path / "torn.sqlite")
    done = cli("verify", "--db", str(db))
    assert (done.returncode, done.stderr) == (1, "")  # was 2: "no alliancekit database ... something else"
    assert done.stdout == (
        f"record damaged: torn.sqlite {DAMAGED} (a torn copy, a truncated file, a disk fault or a change "
        "outside alliancekit); restore it from a backup\n"
    )
    as_json = cli("verify", "--db", str(db), "--json")
    assert as_json.returncode == 1
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["reports"]) == (False, [])
    assert DAMAGED in report["damaged"]


def test_verify_reports_a_damaged_table_page_not_an_internal_error(demo: Path, tmp_path: Path) -> None:
    db = garbled(demo, tmp_path / "events-page.sqlite", "events")
    done = cli("verify", "--db", str(db))
    assert done.returncode == 1, done.stderr  # was 70 (internal error) or 2 ("SQLite read failed")
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    assert done.stdout.startswith(f"record damaged: events-page.sqlite {DAMAGED}")


def test_verify_finds_a_damaged_page_its_walk_does_not_read(demo: Path, tmp_path: Path) -> None:
    # verification reads no outbox: the walk alone would say "record ok" of this file
    db = garbled(demo, tmp_path / "index-page.sqlite", "outbox_due")
    done = cli("verify", "--db", str(db))
    assert done.returncode == 1, done.stdout  # was 0: record ok
    assert done.stdout.startswith(f"record damaged: index-page.sqlite {DAMAGED}")


def test_a_stored_text_that_is_not_utf8_is_damage_not_a_bare_read_failure(demo: Path, tmp_path: Path) -> None:
    """Bytes changed inside a stored text (a disk fault, an edit outside alliancekit) leave the pages sound:
    SQLite's integrity check passes, and Python refuses the text when it is read. ``verify`` said
    ``alliancekit: error: SQLite read failed: OperationalError`` (exit 2, no file named); the file is now
    named damaged (exit 1), and Python's message, which quotes the text, is never shown."""
    db = tmp_path / "bad-text.sqlite"
    shutil.copy(demo, db)
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute(
            "UPDATE episodes SET state = CAST(? AS TEXT) WHERE rowid = (SELECT min(rowid) FROM episodes)",
            (b'{"client_ref": "CANARY-5521 \xff"}',),
        )
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = cli("verify", "--db", str(db))
    assert done.returncode == 1, done.stderr
    assert done.stdout == (
        "record damaged: bad-text.sqlite is damaged: a stored text is not valid UTF-8 (a torn copy, a "
        "truncated file, a disk fault or a change outside alliancekit); restore it from a backup\n"
    )
    exported = cli("export", "fhir", "--all", "--db", str(db), "--out", str(tmp_path / "bulk"))
    assert exported.returncode == 2
    assert exported.stderr.startswith("alliancekit: error: bad-text.sqlite is damaged: a stored text")
    assert not (tmp_path / "bulk").exists()
    assert "CANARY" not in done.stdout + done.stderr + exported.stdout + exported.stderr


def test_the_sound_demo_still_verifies(demo: Path) -> None:
    done = cli("verify", "--db", str(demo))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "record ok" in done.stdout


def test_a_command_on_a_damaged_database_says_damaged_not_someone_elses(demo: Path, tmp_path: Path) -> None:
    db = truncated(demo, tmp_path / "torn.sqlite")
    before = db.read_bytes()
    done = cli("caseload", "--db", str(db))
    assert done.returncode == 2
    assert done.stderr.startswith(f"alliancekit: error: torn.sqlite {DAMAGED}")  # was "... something else"
    assert db.read_bytes() == before
    demo_over_it = cli("demo", "--db", str(db), "--force", "-q")  # never replaced: it may be restored
    assert demo_over_it.returncode == 2
    assert DAMAGED in demo_over_it.stderr
    assert db.read_bytes() == before


def test_the_library_raises_store_corrupt_for_a_damaged_file(demo: Path, tmp_path: Path) -> None:
    db = truncated(demo, tmp_path / "torn.sqlite")
    for read_only in (True, False):
        with pytest.raises(StoreCorrupt, match=r"torn\.sqlite is damaged"):
            open_practice(db, read_only=read_only, create=False)
    index_page = garbled(demo, tmp_path / "index-page.sqlite", "outbox_due")
    admin = Actor("it-1", Role.ADMINISTRATOR, clinic_id="demo-clinic")
    with open_practice(index_page, read_only=True) as practice, pytest.raises(StoreCorrupt):
        practice.verify(admin)


@pytest.fixture
def held(tmp_path: Path, demo: Path) -> Iterator[Path]:
    """A copy of the demo that another process holds in a write transaction (``BEGIN IMMEDIATE``)."""
    db = tmp_path / "held.sqlite"
    shutil.copy(demo, db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys\n"
                f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('held', flush=True)\n"
                "sys.stdin.read()\n"
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield db
    finally:
        holder.communicate("")  # its stdin closed: it ends, rolling back


def test_a_database_held_by_another_writer_is_store_busy(
    held: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sqlite_store.BUSY_TIMEOUT_MS == 10_000  # what the deploying guide says a writer waits
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 250)  # not 10 s of waiting, twice
    me = Actor("clin-1", Role.CLINICIAN, clinic_id="demo-clinic")
    busy = pytest.raises(StoreBusy, match="locked by another process's write transaction")
    with open_practice(held, create=False) as practice, busy:
        practice.start_episode(me, client_ref="host-1", clinician_id="clin-1", opened_on=date(2026, 1, 5))
    capsys.readouterr()
    code = main(["caseload", "--db", str(held)])  # it writes its audit entry
    assert code == 2
    assert capsys.readouterr().err == (
        "alliancekit: error: held.sqlite is locked by another process's write transaction: gave up after "
        "waiting 0.25 s; nothing was written, try again\n"
    )  # was "SQLite write failed: OperationalError"; and "waiting 0 s" for a wait under a second
