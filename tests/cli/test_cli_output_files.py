"""Output files of the CLI are written beside their name and renamed into place once whole.

On a full disk (a real tmpfs of 64 KiB, filled up to its last pages) a command exits 2 with one line naming
the path that could not be written, no traceback, and nothing half-written left there. What cannot be
replaced (``/dev/stdout``) is written in place; a symbolic link's file is replaced, the link kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit.practice import practice_files

CLI = [sys.executable, "-m", "alliancekit"]
EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
FULL = "No space left on device"
FILLER = "filler"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
def full(tmp_path: Path) -> Iterator[Path]:
    """A directory on a disk of its own with a few KiB left."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"tmpfs cannot be mounted here: {mounted.stderr.decode().strip()}")
    try:
        free = shutil.disk_usage(disk).free
        (disk / FILLER).write_bytes(b"\0" * (free - 8192))
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo practice, and its first episode's id."""
    db = tmp_path_factory.mktemp("full-disk") / "demo.sqlite"
    made = cli("demo", "--clients", "24", "--db", str(db), "-q")
    assert made.returncode == 0, made.stderr
    listed = cli("caseload", "--all", "--json", "--db", str(db))
    return db, str(json.loads(listed.stdout)[0]["episode_id"])


def left_files(disk: Path) -> list[str]:
    """Every file left on the disk but the filler (directories made for the output are not files)."""
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file() and p.name != FILLER)


def assert_refused(done: subprocess.CompletedProcess[str], says: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == f"alliancekit: error: {says}\n"


@pytest.mark.parametrize(
    "command",
    [
        "export fhir --episode",
        "export fhir --all",
        "export csv",
        "report",
    ],
)
def test_an_output_that_fills_the_disk_is_named_and_not_left_half_written(
    practice: tuple[Path, str], full: Path, command: str
) -> None:
    db, episode = practice
    out = full / "out"
    args = {
        "export fhir --episode": ["--episode", episode, "--out", str(out)],
        "export fhir --all": ["--all", "--out", str(out)],
        "export csv": ["--identified", "--out", str(out)],
        "report": ["--out", str(out), "--today", "2026-01-31"],
    }[command]
    done = cli(*command.split()[: 2 if command.startswith("export") else 1], "--db", str(db), *args)
    named = out / "report.html" if command == "report" else out
    assert_refused(done, f"--out {named}: {FULL}")  # named by the argument that gave it
    assert left_files(full) == []
    assert cli("verify", "--db", str(db)).returncode == 0


def everything_left(disk: Path) -> list[str]:
    """Every file and directory left on the disk but the filler."""
    return sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.name != FILLER)


@pytest.mark.parametrize(
    "command",
    [
        "export fhir --episode",
        "export fhir --all",
        "export csv",
        "report",
        "demo --out",
    ],
)
def test_an_output_that_fills_the_disk_leaves_no_directory_it_made(
    practice: tuple[Path, str], full: Path, tmp_path: Path, command: str
) -> None:
    """The directories made for the output (--out's missing parents, or --out itself) are removed again
    with what failed to be written in them: a failed command leaves the disk as it found it."""
    db, episode = practice
    out = full / "new" / "deeper" / "out"
    args = {
        "export fhir --episode": ["export", "fhir", "--db", str(db), "--episode", episode, "--out", str(out)],
        "export fhir --all": ["export", "fhir", "--db", str(db), "--all", "--out", str(out)],
        "export csv": ["export", "csv", "--db", str(db), "--identified", "--out", str(out)],
        "report": ["report", "--db", str(db), "--out", str(out), "--today", "2026-01-31"],
        "demo --out": [
            "demo",
            "--db",
            str(tmp_path / "d.sqlite"),
            "--clients",
            "12",
            "-q",
            "--out",
            str(out),
        ],
    }[command]
    done = cli(*args)
    assert done.returncode == 2, done.stderr
    assert FULL in done.stderr
    assert "Traceback" not in done.stderr
    assert everything_left(full) == []


def test_a_directory_that_was_there_before_is_kept(practice: tuple[Path, str], full: Path) -> None:
    db, _ = practice
    (full / "mine").mkdir()
    out = full / "mine" / "reports"
    out.mkdir()
    done = cli("report", "--db", str(db), "--out", str(out), "--today", "2026-01-31")
    assert done.returncode == 2, done.stderr
    assert everything_left(full) == ["mine", "mine/reports"]


def test_an_import_that_creates_its_database_on_a_full_disk_leaves_no_file(full: Path) -> None:
    db = full / "new.sqlite"
    done = cli(
        "import",
        "csv",
        "--create",
        "--db",
        str(db),
        "--mapping",
        str(EXAMPLES / "openfit-style.toml"),
        str(EXAMPLES / "openfit-style.csv"),
    )
    assert_refused(done, f"cannot write {db}: the disk is full")
    assert everything_left(full) == []


def test_a_demo_whose_database_fills_the_disk_says_so_and_removes_it(full: Path) -> None:
    db = full / "demo.sqlite"
    done = cli("demo", "--clients", "12", "--db", str(db), "-q")
    # the store's own opening removes the file it could not fill, so the demo has nothing left to remove
    assert_refused(done, f"cannot write {db}: the disk is full")
    assert not any(file.exists() for file in practice_files(db))
    assert left_files(full) == []


def test_a_device_is_written_in_place_and_a_link_keeps_pointing_at_the_new_file(
    practice: tuple[Path, str], tmp_path: Path
) -> None:
    db, episode = practice
    to_device = cli("export", "fhir", "--episode", episode, "--db", str(db), "--out", "/dev/stdout")
    assert to_device.returncode == 0, to_device.stderr
    bundle, _ = json.JSONDecoder().raw_decode(to_device.stdout)  # then the line saying what was written
    assert bundle["resourceType"] == "Bundle"
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()  # /dev is as it was
    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    through_link = cli(
        "export", "fhir", "--episode", episode, "--db", str(db), "--out", str(link), "--replace"
    )
    assert through_link.returncode == 0, through_link.stderr
    assert link.is_symlink()
    assert json.loads(real.read_text())["resourceType"] == "Bundle"
    assert real.stat().st_mode & 0o777 == 0o640  # the file's own mode kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]
