"""Another local user cannot have the CLI write records where they can read them.

In a shared directory (sticky and world-writable, as ``/tmp``) a hostile user plants, under the name the
user will ask for, a symbolic link into a directory of theirs, a FIFO they read from, or a file of theirs
open to everyone. Linux's ``protected_symlinks``/``protected_fifos`` would stop some of this, but they are
off on many hosts (and here), so alliancekit refuses itself: exit 2 naming the path, nothing written
through. The hostile user is ``nobody`` (uid 65534): the files are handed to them with ``lchown``, so these
tests need root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "alliancekit"]
IMPORTS = Path(__file__).parents[2] / "examples" / "imports"
NOBODY = 65534

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0, reason="handing files to another user needs root on Linux"
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo practice, and its first episode's id."""
    db = tmp_path_factory.mktemp("planted") / "demo.sqlite"
    made = cli("demo", "--clients", "12", "--db", str(db), "-q", "--today", "2026-11-30")
    assert made.returncode == 0, made.stderr
    listed = cli("caseload", "--all", "--json", "--db", str(db))
    return db, str(json.loads(listed.stdout)[0]["episode_id"])


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """A directory everyone may write in, as ``/tmp``."""
    path = tmp_path / "shared"
    path.mkdir()
    path.chmod(0o1777)
    return path


@pytest.fixture
def theirs(tmp_path: Path) -> Path:
    """The hostile user's own directory, open to everyone (so that a file made there is theirs to read)."""
    path = tmp_path / "theirs"
    path.mkdir()
    path.chmod(0o777)
    os.chown(path, NOBODY, NOBODY)
    return path


def plant_link(link: Path, target: Path) -> None:
    link.symlink_to(target)
    os.lchown(link, NOBODY, NOBODY)


def assert_refused(done: subprocess.CompletedProcess[str], path: Path, what: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"alliancekit: error: --out {path}: {what}"), done.stderr
    assert "Traceback" not in done.stderr


def test_a_link_another_user_planted_at_the_report_name_is_not_followed(
    practice: tuple[Path, str], shared: Path, theirs: Path
) -> None:
    db, _ = practice
    loot = theirs / "loot"
    loot.write_text("")
    loot.chmod(0o666)
    os.chown(loot, NOBODY, NOBODY)
    plant_link(shared / "report.html", loot)
    done = cli("report", "--db", str(db), "--out", str(shared), "--today", "2026-11-30")
    assert_refused(done, shared / "report.html", "a symbolic link another user made")
    assert loot.read_text() == ""
    assert sorted(p.name for p in theirs.iterdir()) == ["loot"]
    assert sorted(p.name for p in shared.iterdir()) == ["report.html"]


def test_a_dangling_link_another_user_planted_makes_no_file_where_it_leads(
    practice: tuple[Path, str], shared: Path, theirs: Path
) -> None:
    db, episode = practice
    out = shared / "bundle.json"
    plant_link(out, theirs / "bundle.json")
    done = cli("export", "fhir", "--episode", episode, "--db", str(db), "--out", str(out), "--replace")
    assert_refused(done, out, "a symbolic link another user made")
    assert list(theirs.iterdir()) == []


def test_a_fifo_another_user_planted_is_not_written_to(practice: tuple[Path, str], shared: Path) -> None:
    db, episode = practice
    fifo = shared / "bundle.json"
    os.mkfifo(fifo, 0o666)
    os.chown(fifo, NOBODY, NOBODY)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the hostile user, listening
    stolen = b""
    try:
        run = subprocess.Popen(
            [*CLI, "export", "fhir", "--episode", episode, "--db", str(db), "--out", str(fifo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while run.poll() is None and time.monotonic() < deadline:
            try:
                stolen += os.read(reader, 65536)
            except BlockingIOError:
                time.sleep(0.01)
        out, err = run.communicate(timeout=60)
        with_reads = os.read(reader, 1 << 20)
        stolen += with_reads
    finally:
        os.close(reader)
    assert stolen == b""
    assert_refused(
        subprocess.CompletedProcess(run.args, run.returncode, out, err), fifo, "a FIFO another user made"
    )


def test_a_file_another_user_left_at_the_name_lends_the_output_no_mode(
    practice: tuple[Path, str], tmp_path: Path
) -> None:
    db, episode = practice
    team = tmp_path / "team"  # a directory the user may write in, shared with a colleague
    team.mkdir()
    out = team / "bundle.json"
    out.write_text("theirs")
    out.chmod(0o666)
    os.chown(out, NOBODY, NOBODY)
    done = cli("export", "fhir", "--episode", episode, "--db", str(db), "--out", str(out), "--replace")
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["resourceType"] == "Bundle"
    assert out.stat().st_uid == os.geteuid()
    assert out.stat().st_mode & 0o777 == 0o600


def test_a_link_of_ones_own_is_still_followed(
    practice: tuple[Path, str], shared: Path, tmp_path: Path
) -> None:
    db, episode = practice
    real = tmp_path / "mine.json"
    link = shared / "bundle.json"
    link.symlink_to(real)  # the user's own link, in a shared directory
    done = cli("export", "fhir", "--episode", episode, "--db", str(db), "--out", str(link), "--replace")
    assert done.returncode == 0, done.stderr
    assert json.loads(real.read_text())["resourceType"] == "Bundle"
    assert real.stat().st_mode & 0o777 == 0o600


def test_a_new_database_is_not_made_through_another_users_link(shared: Path, theirs: Path) -> None:
    db = shared / "clinic.sqlite"
    plant_link(db, theirs / "clinic.sqlite")
    done = subprocess.run(
        [*CLI, "demo", "--clients", "12", "--db", str(db), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.umask(0),  # the file SQLite would make follows the umask
    )
    assert done.returncode == 2, done.stderr
    assert "cannot open clinic.sqlite for writing: a symbolic link another user made" in done.stderr
    assert list(theirs.iterdir()) == []


def test_the_writers_lock_is_not_opened_through_a_link(shared: Path, theirs: Path) -> None:
    db = shared / "clinic.sqlite"
    plant_link(shared / "clinic.sqlite-writer", theirs / "lock")
    done = cli("demo", "--clients", "12", "--db", str(db), "-q")
    assert done.returncode == 2, done.stderr
    assert "cannot open the writers' lock of clinic.sqlite" in done.stderr
    assert list(theirs.iterdir()) == []


def plant_file(path: Path) -> None:
    """An empty file of the hostile user's, open to everyone."""
    path.write_bytes(b"")
    path.chmod(0o666)
    os.chown(path, NOBODY, NOBODY)


@pytest.mark.parametrize("planted", ["clinic.sqlite", "clinic.sqlite-wal"])
def test_a_new_database_takes_no_file_another_user_left_in_a_shared_directory(
    shared: Path, planted: str
) -> None:
    plant_file(shared / planted)
    done = cli(
        "import",
        "csv",
        "--create",
        "--db",
        str(shared / "clinic.sqlite"),
        "--mapping",
        str(IMPORTS / "openfit-style.toml"),
        str(IMPORTS / "openfit-style.csv"),
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.endswith(
        f": cannot open {planted} for writing: a file another user made in a shared directory; not written\n"
    )
    assert (shared / planted).stat().st_size == 0  # not a byte of the records in it
    assert sorted(p.name for p in shared.iterdir()) == [planted]


def test_a_practice_another_user_owns_outside_a_shared_directory_still_opens(
    practice: tuple[Path, str], tmp_path: Path
) -> None:
    db = tmp_path / "service" / "clinic.sqlite"  # the service's database, opened by root for maintenance
    db.parent.mkdir()
    db.write_bytes(practice[0].read_bytes())
    os.chown(db, NOBODY, NOBODY)
    done = cli("caseload", "--db", str(db))
    assert done.returncode == 0, done.stderr
    db.parent.chmod(0o1777)  # the same file in a shared directory: refused
    done = cli("caseload", "--db", str(db))
    assert done.returncode == 2, done.stderr
    assert (
        "cannot open clinic.sqlite for writing: a file another user made in a shared directory" in done.stderr
    )
