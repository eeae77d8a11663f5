"""Two processes writing to one episode at the same time, on an SQLite file and on PostgreSQL.

Without retries one of them must get a ConflictError now and then (the store's version check), and no
update is lost: the stream holds exactly the sessions whose calls succeeded. With the default retries every
command of both processes lands; so it does with one retry, however busy the machine: a retry runs under
the store's writers' lock (``SQLiteStore.exclusive``, ``PostgresStore.exclusive``) and cannot lose again.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.events.types import SessionRecorded
from alliancekit.plugins.manager import (
    ALLOW_LIST_ENV,
    DISABLE_AUTOLOAD_ENV,
    PluginHost,
    get_plugin_host,
    make_plugin_host,
)
from alliancekit.practice import DEFAULT_CONFLICT_RETRIES
from alliancekit.store.protocol import Store
from alliancekit.store.sqlite import SQLiteStore

from .conftest import active_episode, clinician, maintenance, stored_snapshot

WRITER = Path(__file__).parent / "scripts" / "writer.py"
N = 40


@attrs.frozen
class Backend:
    """Where the races run: a new store per race, and the plugins (and writers' environment) it needs."""

    new_location: Callable[[int], str]
    plugins: PluginHost | None = None
    env: dict[str, str] = attrs.field(factory=dict)

    def open(self, location: str) -> Store:
        store: Store = (self.plugins or get_plugin_host()).stores().open(location)
        return store


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend(lambda attempt: str(tmp_path / f"race-{attempt}.sqlite"))
    pg: Any = request.getfixturevalue("pg")
    return Backend(
        lambda attempt: str(pg.location(pg.new_schema(), clinician().clinic_id)),
        make_plugin_host(load_entry_points=True, allow=["postgres"]),
        {DISABLE_AUTOLOAD_ENV: "", ALLOW_LIST_ENV: "postgres"},
    )


def _race(backend: Backend, tmp: Path, attempt: int, retries: int) -> tuple[str, str, list[list[str]]]:
    """Run two writers against one episode, released at the same moment; return their output lines."""
    db = backend.new_location(attempt)
    go = tmp / f"go-{attempt}"
    store = backend.open(db)
    with contextlib.closing(store), open_practice(store) as practice:
        episode_id, _ = active_episode(practice, clinician())
    procs = [
        subprocess.Popen(
            [sys.executable, str(WRITER), "race", db, episode_id, str(N), str(retries), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **backend.env},
        )
        for _ in range(2)
    ]
    for proc in procs:  # both warmed up and waiting
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n", proc.stderr.read() if proc.stderr else ""
    go.touch()
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
        outputs.append(out.decode().split("\n")[:-1])
    return db, episode_id, outputs


def _sessions_in_stream(backend: Backend, db: str, episode_id: str) -> dict[int, str]:
    """seq -> session id of every session-recorded event; also checks the stream is whole."""
    store = backend.open(db)
    try:
        practice = open_practice(store, plugins=backend.plugins)
        events = store.load_events(episode_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert stored_snapshot(practice, episode_id) == practice.rebuild_state(maintenance(), episode_id)
        if isinstance(store, SQLiteStore):
            assert store.integrity_check() == "ok"
        return {
            entry.seq: entry.event.session_id
            for entry in practice.timeline(clinician(), episode_id)
            if isinstance(entry.event, SessionRecorded)
        }
    finally:
        store.close()


def test_without_retries_one_gets_a_conflict_and_no_update_is_lost(backend: Backend, tmp_path: Path) -> None:
    conflicts = 0
    for attempt in range(8):
        db, episode_id, outputs = _race(backend, tmp_path, attempt, retries=0)
        succeeded: dict[int, str] = {}
        for lines in outputs:
            assert len(lines) == N
            for line in lines:
                if line == "conflict":
                    conflicts += 1
                    continue
                _, version, session_id = line.split()
                assert int(version) not in succeeded, "two writers reported the same stream version"
                succeeded[int(version)] = session_id
        # Exactly the successful commands' sessions, each within the version its call returned (a command's
        # commit may add alerts after its session): nothing lost, nothing written by a refused call.
        in_stream = {sid: seq for seq, sid in _sessions_in_stream(backend, db, episode_id).items()}
        assert sorted(in_stream) == sorted(succeeded.values())
        assert all(in_stream[sid] <= version for version, sid in succeeded.items())
        if conflicts and attempt >= 1:
            break
    assert conflicts > 0, "two unsynchronised writers never collided in 8 races"
    print(f"{conflicts} conflicts in {attempt + 1} races of 2 x {N} sessions")


@pytest.mark.parametrize("retries", [DEFAULT_CONFLICT_RETRIES, 1])
def test_with_retries_every_command_of_both_lands(backend: Backend, tmp_path: Path, retries: int) -> None:
    db, episode_id, outputs = _race(backend, tmp_path, 0, retries=retries)
    reported = [line.split()[2] for lines in outputs for line in lines if line.startswith("ok ")]
    assert [line for lines in outputs for line in lines if not line.startswith("ok ")] == []
    sessions = _sessions_in_stream(backend, db, episode_id)
    assert len(sessions) == 2 * N
    assert sorted(sessions.values()) == sorted(reported)
    store = backend.open(db)
    try:
        events = store.load_events(episode_id)
        assert store.load_snapshot(episode_id)[0] == len(events)  # type: ignore[index]
        assert sum(e.type == "session-recorded" for e in events) == 2 * N
    finally:
        store.close()
