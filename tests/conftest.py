"""Shared fixtures: the source tree (for tests that read README, docs, schemas), plugin isolation, a
PostgreSQL server of the run's own (for the tests that run on every store)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Installed third-party plugins must not leak into the library's own tests.
os.environ.setdefault("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")


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
