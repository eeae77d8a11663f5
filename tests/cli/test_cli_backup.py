"""``alliancekit backup``: a copy of a live SQLite practice taken with SQLite's online backup API, owner-only,
verified before it is published; on real files, a real tmpfs and a real second process writing meanwhile.

Before it, the deploying guide's way (``sqlite3.connect(copy)`` and ``backup``) made the copy with the
process's umask (0644 under the common 022: every user of the machine could read the records), and left a
half-written copy under its final name when the disk filled.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from .unprivileged import bound_by_modes, needs_modes

CLI = [sys.executable, "-m", "alliancekit"]


def cli(*args: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        if umask is not None:
            os.umask(umask)

    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=300, check=False, preexec_fn=set_umask
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("backup") / "demo.sqlite"
    made = cli("demo", "--clients", "12", "--seed", "3", "--today", "2026-06-01", "--db", str(db), "-q")
    assert made.returncode == 0, made.stderr
    return db


def counts(db: Path) -> tuple[int, int, int]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return (
            conn.execute("SELECT count(*) FROM episodes").fetchone()[0],
            conn.execute("SELECT count(*) FROM events").fetchone()[0],
            conn.execute("SELECT count(*) FROM audit").fetchone()[0],
        )


def test_backup_writes_an_owner_only_copy_that_verifies(demo: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite"
    shutil.copy(demo, live)
    copy = tmp_path / "copies" / "monday.sqlite"
    copy.parent.mkdir()
    done = cli("backup", "--db", str(live), str(copy), umask=0o022)
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith(f"wrote {copy}\n")
    assert "clinic demo-clinic: record ok" in done.stdout
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600  # the guide's sqlite3.connect made it 0644
    assert sorted(p.name for p in copy.parent.iterdir()) == ["monday.sqlite"]  # no staged or side file
    assert counts(copy) == counts(live)
    assert cli("verify", "--db", str(copy)).returncode == 0
    again = cli("backup", "--db", str(live), str(copy))
    assert (again.returncode, again.stderr) == (
        2,
        f"alliancekit: error: PATH {copy}: exists; pass --replace to replace it\n",
    )
    assert cli("backup", "--db", str(live), str(copy), "--replace").returncode == 0


def test_a_damaged_practice_is_not_published_as_a_backup(demo: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite"
    shutil.copy(demo, damaged)
    with closing(sqlite3.connect(damaged)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox_due'")
    with damaged.open("r+b") as file:  # a page verification's walk does not read
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)
    out = tmp_path / "out"
    out.mkdir()
    done = cli("backup", "--db", str(damaged), str(out / "copy.sqlite"))
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("record damaged: damaged.sqlite is damaged")
    assert list(out.iterdir()) == []


def test_backup_json_is_verify_s_document_with_the_copy(demo: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite"
    shutil.copy(demo, live)  # the module's demo is left as it is
    copy = tmp_path / "copy.sqlite"
    done = cli("backup", "--db", str(live), str(copy), "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # the whole of standard output: one document
    assert (document["ok"], document["copy"], document["audited"]) == (True, str(copy), True)
    assert [(r["clinic"], r["ok"]) for r in document["reports"]] == [("demo-clinic", True)]
    verified = json.loads(cli("verify", "--db", str(copy), "--json").stdout)
    assert sorted(document["reports"][0]) == sorted(verified["reports"][0])
    assert isinstance(document["schema_version"], int)


def test_a_damaged_practice_s_backup_json_says_no_copy(demo: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite"
    shutil.copy(demo, damaged)
    with closing(sqlite3.connect(damaged)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        [(root,)] = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'outbox_due'")
    with damaged.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(b"\xa5" * page_size)
    done = cli("backup", "--db", str(damaged), str(tmp_path / "copy.sqlite"), "--json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert (document["ok"], document["copy"]) == (False, None)
    assert document["damaged"].startswith("damaged.sqlite is damaged")
    assert not (tmp_path / "copy.sqlite").exists()


def _backups_audited(db: Path) -> int:
    shown = cli("audit", "show", "--db", str(db), "--ndjson")
    assert shown.returncode == 0, shown.stderr
    return sum(json.loads(line)["action"] == "back-up" for line in shown.stdout.splitlines())


@pytest.mark.parametrize("where", ["missing", "a file"])
def test_a_copy_whose_directory_is_not_there_is_refused_by_its_path_before_anything_is_audited(
    demo: Path, tmp_path: Path, where: str
) -> None:
    """Before, the error named the hidden staging file (``.copy.sqlite.partial-x8f...: No such file or
    directory``), and the practice's audit log recorded a backup that was never made."""
    live = tmp_path / "live.sqlite"
    shutil.copy(demo, live)
    parent = tmp_path / "nowhere"
    if where == "a file":
        parent.write_text("in the way\n")
    copy = parent / "copy.sqlite"
    before = _backups_audited(live)
    done = cli("backup", "--db", str(live), str(copy))
    what = "no such directory" if where == "missing" else "not a directory"
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"alliancekit: error: PATH {copy}: {what}: {parent}\n"
    assert _backups_audited(live) == before


@needs_modes
def test_a_copy_into_a_directory_the_user_cannot_write_is_refused_before_anything_is_audited(
    demo: Path, tmp_path: Path
) -> None:
    """Before, the error named the hidden staging file, and the audit log recorded the backup."""
    live = tmp_path / "live.sqlite"
    shutil.copy(demo, live)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    copy = locked / "copy.sqlite"
    before = _backups_audited(live)
    try:
        done = subprocess.run(
            [*bound_by_modes(), *CLI, "backup", "--db", str(live), str(copy)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        locked.chmod(0o755)  # pytest removes its temporary directories as whoever runs it
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr == f"alliancekit: error: PATH {copy}: Permission denied (its directory is not writable)\n"
    )
    assert _backups_audited(live) == before
    assert list(locked.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_leaves_no_copy_and_no_half_file(demo: Path, small_disk: Path) -> None:
    assert demo.stat().st_size > 256 * 1024
    done = cli("backup", "--db", str(demo), str(small_disk / "copy.sqlite"))
    assert (done.returncode, done.stderr) == (
        2,
        f"alliancekit: error: cannot write {small_disk / 'copy.sqlite'}: the disk is full\n",
    )
    assert list(small_disk.iterdir()) == []


def test_backup_refuses_what_it_cannot_copy(demo: Path, tmp_path: Path) -> None:
    missing = cli("backup", "--db", str(tmp_path / "none.sqlite"), str(tmp_path / "c.sqlite"))
    assert missing.returncode == 2
    assert "no alliancekit database" in missing.stderr
    itself = cli("backup", "--db", str(demo), str(demo), "--replace")
    assert (itself.returncode, itself.stderr) == (
        2,
        f"alliancekit: error: PATH {demo}: the practice itself; name another file\n",
    )
    postgres = cli("backup", "--db", "postgresql://app@127.0.0.1:1/x?clinic=n", str(tmp_path / "c"))
    assert postgres.returncode == 2
    assert "pg_dump" in postgres.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def _backup_entries(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute(
            "SELECT clinic_id, actor_role FROM audit WHERE action = 'back-up' ORDER BY clinic_id"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_a_file_of_one_clinic_is_backed_up_by_its_administrator(demo: Path, tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite"
    shutil.copy(demo, live)
    before = _backup_entries(live)  # other tests back the demo up too
    assert cli("backup", "--db", str(live), str(tmp_path / "copy.sqlite")).returncode == 0
    assert _backup_entries(live) == [*before, ("demo-clinic", "administrator")]


def test_a_file_of_several_clinics_is_backed_up_as_the_system_audited_in_each(tmp_path: Path) -> None:
    """Before, the command acted as the first clinic's administrator: the copy of south's records was
    entered in north's log only."""
    from datetime import date

    from alliancekit import Actor, open_practice
    from alliancekit.domain import Role

    live = tmp_path / "shared.sqlite"
    with open_practice(live) as practice:
        for clinic in ("north", "south"):
            me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic_id=clinic)
            practice.start_episode(
                me, client_ref=f"host-{clinic}", clinician_id=me.id, opened_on=date(2026, 1, 5)
            )
    done = cli("backup", "--db", str(live), str(tmp_path / "copy.sqlite"))
    assert done.returncode == 0, done.stderr
    assert "clinic north: record ok" in done.stdout
    assert "clinic south: record ok" in done.stdout
    assert _backup_entries(live) == [("north", "system"), ("south", "system")]


def test_another_clinics_audit_entries_alone_make_the_file_several_clinics(tmp_path: Path) -> None:
    """South has no episode, only an audit entry (a refused reach): its log is copied too."""
    from datetime import date

    from alliancekit import Actor, open_practice
    from alliancekit.domain import Role
    from alliancekit.errors import AccessDenied

    live = tmp_path / "north.sqlite"
    with open_practice(live) as practice:
        me = Actor("clin-north", Role.CLINICIAN, clinic_id="north")
        practice.start_episode(me, client_ref="host-n", clinician_id=me.id, opened_on=date(2026, 1, 5))
        with pytest.raises(AccessDenied):
            practice.audit_entries(Actor("clin-south", Role.CLINICIAN, clinic_id="south"))
        assert (practice.clinics(), practice.clinics(every_record=True)) == (["north"], ["north", "south"])
    done = cli("backup", "--db", str(live), str(tmp_path / "copy.sqlite"))
    assert done.returncode == 0, done.stderr
    assert _backup_entries(live) == [("north", "system"), ("south", "system")]


OLD_STORES = Path(__file__).parents[1] / "integrity" / "old_stores"


def test_a_file_an_older_release_wrote_is_copied_as_it_is_not_upgraded(tmp_path: Path) -> None:
    """The backup an operator takes before upgrading: before, the command upgraded the file (to audit the
    backup) and then copied it, so no copy of the file as the older release left it was kept."""
    import gzip
    import hashlib

    live = tmp_path / "old.sqlite"
    with closing(sqlite3.connect(live)) as conn:
        conn.executescript(
            gzip.decompress((OLD_STORES / "v10-backfilled-2ab21ee.sql.gz").read_bytes()).decode()
        )

    def version(db: Path) -> int:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    before = hashlib.sha256(live.read_bytes()).hexdigest()
    copy = tmp_path / "copies" / "before-upgrade.sqlite"
    copy.parent.mkdir()
    done = cli("backup", "--db", str(live), str(copy))
    assert done.returncode == 0, done.stderr
    assert (version(live), version(copy)) == (10, 10)
    assert hashlib.sha256(live.read_bytes()).hexdigest() == before  # the file itself untouched
    assert counts(copy) == counts(live)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert "record ok" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("the copy is at schema version 10, as the file is")
    assert cli("verify", "--db", str(copy)).returncode == 0
    assert version(copy) == 10  # verify reads it as it is


def test_a_file_whose_version_was_lowered_by_hand_is_not_published(demo: Path, tmp_path: Path) -> None:
    """A file stating an older schema version than its tables (``user_version`` lowered outside alliancekit)
    is copied as an older release's would be, and its copy then fails the ``schema`` check: no copy."""
    lowered = tmp_path / "lowered.sqlite"
    shutil.copy(demo, lowered)
    with closing(sqlite3.connect(lowered)) as conn:
        conn.execute("PRAGMA user_version = 5")
    out = tmp_path / "out"
    out.mkdir()
    done = cli("backup", "--db", str(lowered), str(out / "copy.sqlite"))
    assert done.returncode == 1, done.stderr
    assert "schema: the store's schema: version 5 is lower than its structure" in done.stdout
    assert list(out.iterdir()) == []


def test_a_file_too_old_to_read_as_it_stands_is_refused_with_how_to_keep_its_copy(tmp_path: Path) -> None:
    """A schema-1 file cannot be opened read-only: before, the refusal gave the store's advice, "open it
    for writing once to migrate it", which upgrades the file, and so loses the pre-upgrade copy the
    operator is taking the backup for."""
    import gzip
    import hashlib

    live = tmp_path / "oldest.sqlite"
    with closing(sqlite3.connect(live)) as conn:
        conn.executescript(gzip.decompress((OLD_STORES / "v1-shape1-f218494.sql.gz").read_bytes()).decode())
    before = hashlib.sha256(live.read_bytes()).hexdigest()
    copy = tmp_path / "before-upgrade.sqlite"
    done = cli("backup", "--db", str(live), str(copy))
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"alliancekit: error: --db {live}: written by an alliancekit too old for this one to read without "
        "upgrading the file, and a backup never upgrades what it copies: copy it with the alliancekit "
        "release that wrote it, or copy the file (with its -wal and -shm files, if any) while nothing "
        "writes to it\n"
    )
    assert "for writing" not in done.stderr
    assert not copy.exists()
    assert hashlib.sha256(live.read_bytes()).hexdigest() == before  # not upgraded
    # every other command keeps the store's advice
    verified = cli("verify", "--db", str(live))
    assert verified.returncode == 2
    assert "open it for writing once to migrate it" in verified.stderr
