"""Shared fixtures: the source tree (for tests that read README, docs, schemas), plugin isolation, a
PostgreSQL server of the run's own (for the tests that run on every store), and where the run's files live
(in memory unless a test's subject is the disk)."""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Installed third-party plugins must not leak into the library's own tests.
os.environ.setdefault("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")

# Where the run's files live. Every command and audited read is an SQLite commit, and the store runs
# ``synchronous=FULL``: each commit waits for the disk to flush. That wait is nothing on one machine and
# about 5 ms on another (CI's shared disks): the same suite took 457 s on one and 1,353 s on another. So the
# run's temporary folder (``tmp_path``, ``tempfile``, the commands the tests start) is in memory (tmpfs,
# ``/dev/shm``) where the machine has it: the same SQLite, files, locks and processes, only no flush to wait
# for. A test whose subject is what reaches the disk takes ``disk_path``. ``ALLIANCEKIT_TEST_ON_DISK=1`` puts
# every file on the disk. The first process sets it (pytest, or the xdist controller); its workers and the
# commands they start inherit it.
MEMORY_ROOT = "/dev/shm"
_DISK_TEMP = "ALLIANCEKIT_TEST_DISK_TMPDIR"  # the temporary folder the run found, before it moved
os.environ.setdefault(_DISK_TEMP, tempfile.gettempdir())


def _own_folder_in_memory() -> str | None:
    """``/dev/shm/alliancekit-tests-<uid>``, made private to this user, or None where it cannot be."""
    if not os.path.isdir(MEMORY_ROOT) or not os.access(MEMORY_ROOT, os.W_OK):
        return None
    folder = os.path.join(MEMORY_ROOT, f"alliancekit-tests-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    found = os.lstat(folder)  # not a link, nor a folder another user made for us to write into
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or stat.S_IMODE(found.st_mode) != 0o700:
        return None
    return folder


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Move the temporary folder into memory before pytest makes its base folder (``tmp_path``'s)."""
    if os.environ.get("ALLIANCEKIT_TEST_ON_DISK") == "1":
        return
    folder = _own_folder_in_memory()
    if folder is not None:
        os.environ["TMPDIR"] = folder
        tempfile.tempdir = None  # forget the folder tempfile already chose


@pytest.fixture
def disk_path() -> Iterator[Path]:
    """A fresh folder on the disk (the temporary folder the run started with), removed afterwards: for the
    tests whose subject is what a commit leaves on the disk, with the store's flushes as they ship."""
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="alliancekit-disk-", dir=os.environ[_DISK_TEMP]))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _looks_like_source_root(path: Path) -> bool:
    return (
        (path / "pyproject.toml").is_file()
        and (path / "src" / "alliancekit" / "__init__.py").is_file()
        and (path / "schemas").is_dir()
    )


def find_source_root() -> Path | None:
    """The source tree: ``ALLIANCEKIT_SOURCE_ROOT`` (tox sets it) or a parent of this file."""
    configured = os.environ.get("ALLIANCEKIT_SOURCE_ROOT")
    if configured:
        root = Path(configured).resolve()
        if not _looks_like_source_root(root):
            pytest.fail(f"ALLIANCEKIT_SOURCE_ROOT={configured} is not an alliancekit source tree")
        return root
    for parent in Path(__file__).resolve().parents:
        if _looks_like_source_root(parent):
            return parent
    return None


@pytest.fixture(scope="session")
def source_root() -> Path:
    root = find_source_root()
    if root is None:
        pytest.skip("the alliancekit source tree is not available (set ALLIANCEKIT_SOURCE_ROOT)")
    return root


@pytest.fixture
def fresh_plugin_host() -> Iterator[None]:
    """Forget the process-wide plugin host before and after a test that changes plugins."""
    from alliancekit.plugins.manager import reset_plugin_host

    reset_plugin_host()
    yield
    reset_plugin_host()


@pytest.fixture(scope="session")
def pg() -> Iterator[Any]:
    """The run's database and ordinary role on the PostgreSQL server (see alliancekit_postgres.testing)."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("alliancekit_postgres", reason="alliancekit-postgres is not installed")
    from alliancekit_postgres.testing import test_server

    yield from test_server()


#: ``run(argv)``: the exit code, stdout and what a terminal showed of stderr.
OnATerminal = Callable[[list[str]], tuple[int, bytes, str]]


@pytest.fixture
def on_a_terminal() -> OnATerminal:
    """Run a command with stderr on a pseudo-terminal (POSIX), as a user at a terminal sees its progress."""
    import pty

    def run(argv: list[str]) -> tuple[int, bytes, str]:
        leader, follower = pty.openpty()
        try:
            done = subprocess.run(argv, stderr=follower, stdout=subprocess.PIPE, timeout=300, check=False)
            os.close(follower)
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the follower is closed and everything was read
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(leader)
        return done.returncode, done.stdout, shown.decode()

    return run


@pytest.fixture(autouse=True)
def _a_terminal_that_knows_escape_sequences(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests of the progress line on a (pseudo-)terminal read its ANSI erase sequence, which ``TERM=dumb``
    (some CI consoles, an editor's shell) turns off: they run as on a common terminal, the commands they
    start too. The dumb terminal's own tests set it themselves."""
    if os.environ.get("TERM") == "dumb":
        monkeypatch.setenv("TERM", "xterm")
