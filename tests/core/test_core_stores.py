"""Opening stores (locations, empty files, migrations) and idempotency keys, on both builtin stores."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, RuptureNote
from alliancekit.errors import NotAnAlliancekitStore, ValidationError
from alliancekit.practice import Practice
from alliancekit.store import Store
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import APPLICATION_ID, LATEST_VERSION

from .conftest import (
    CANARY,
    active_episode,
    attended,
    day,
    footprint,
    goals,
    new_episode,
    ors,
    srs,
    unplanned_ending,
)

TABLES = {"events", "episodes", "commands", "outbox", "audit"}


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


@pytest.mark.parametrize("empty", ["missing", "zero-bytes"])
def test_migrations_from_an_empty_database(tmp_path: Path, empty: str, actor: Actor) -> None:
    path = tmp_path / "fresh.sqlite"
    if empty == "zero-bytes":
        path.write_bytes(b"")
    store = SQLiteStore(path)
    assert store.schema_version() == LATEST_VERSION
    assert store.integrity_check() == "ok"
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert _tables(path) >= TABLES
    # Opening it again is a no-op that keeps the data.
    with open_practice(path) as practice:
        ep = new_episode(practice, actor)
    with open_practice(path) as practice:
        assert practice.episode(actor, ep).version == 1
        assert isinstance(practice.store, SQLiteStore)
        assert practice.store.schema_version() == LATEST_VERSION


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "settings.sqlite")
    conn = store._connect()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    store.close()


@pytest.mark.parametrize("form", ["path", "str", "sqlite-scheme"])
def test_open_practice_sqlite_locations(tmp_path: Path, form: str, actor: Actor) -> None:
    path = tmp_path / "loc.sqlite"
    location = {"path": path, "str": str(path), "sqlite-scheme": f"sqlite:{path}"}[form]
    with open_practice(location) as practice:
        assert isinstance(practice.store, SQLiteStore)
        assert practice.store.path == path
        ep = new_episode(practice, actor)
    assert path.exists()
    with open_practice(path) as again:
        assert again.episode(actor, ep).client_ref == "client-1"


def test_open_practice_memory_and_store_object(actor: Actor) -> None:
    with open_practice("memory:") as practice:
        assert isinstance(practice.store, MemoryStore)
        ep = new_episode(practice, actor)
        assert practice.episode(actor, ep).version == 1
    with open_practice("memory:") as other:
        assert list(other.store.episode_ids()) == []  # each memory: location is a new store
    store = MemoryStore()
    assert isinstance(store, Store)
    with open_practice(store) as practice:
        assert practice.store is store


def _open_files_on(path: Path) -> list[str]:
    """This process's open files that are ``path`` or its SQLite companions (``-wal``, ``-shm``)."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            target = os.readlink(fd)
            if target.startswith(str(path)):
                found.append(target)
    return found


needs_proc = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files through /proc")


@needs_proc
@pytest.mark.parametrize("read_only", [False, True])
def test_a_foreign_file_is_refused_without_leaving_it_open(tmp_path: Path, read_only: bool) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"plain text, not an SQLite database\n" * 200)
    with pytest.raises(NotAnAlliancekitStore) as caught:
        open_practice(path, read_only=read_only)
    # ``caught`` keeps the traceback, so its frames and the connection they made are still alive:
    # only a close releases the file here (Python 3.13 warns about a connection collected unclosed).
    assert caught.value is not None
    assert _open_files_on(path) == []


@needs_proc
def test_a_refused_option_leaves_the_store_closed(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path) as practice:  # control: an open practice does hold the file
        assert _open_files_on(path)
        assert practice.store.schema_version() == LATEST_VERSION
    with pytest.raises(ValidationError) as caught:
        open_practice(path, time_zone="Mars/Olympus_Mons")
    assert caught.value.field == "time_zone"
    assert _open_files_on(path) == []


@needs_proc
def test_a_store_given_as_an_object_stays_open_for_its_owner(tmp_path: Path, actor: Actor) -> None:
    """deploying.md: a practice per request is built on a store opened once, which ``open_practice(store)``
    leaves open. Closing such a practice closed the host's store under every other practice on it."""
    path = tmp_path / "shared.sqlite"
    store = SQLiteStore(path)
    try:
        with open_practice(store) as first:
            ep = new_episode(first, actor)
        assert _open_files_on(path), "the practice closed a store it did not open"
        with open_practice(store) as second:
            assert second.episode(actor, ep).version == 1
        assert _open_files_on(path)
    finally:
        store.close()
    assert _open_files_on(path) == []


@needs_proc
def test_a_store_opened_from_a_location_closes_with_its_practice(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "own.sqlite"
    with open_practice(path) as practice:
        new_episode(practice, actor)
        assert _open_files_on(path)
    assert _open_files_on(path) == []


# ----------------------------------------------------------------------------------------------- idempotency


def test_start_episode_with_the_same_key_opens_one(practice: Practice, actor: Actor) -> None:
    first = practice.start_episode(
        actor, client_ref="c-1", clinician_id=actor.id, opened_on=day(0), idempotency_key="open-1"
    )
    second = practice.start_episode(
        actor, client_ref="c-1", clinician_id=actor.id, opened_on=day(0), idempotency_key="open-1"
    )
    assert first == second
    assert list(practice.store.episode_ids()) == [first]
    # the repeat was answered: audited as replayed, naming the command and the episode, writing nothing
    entries = sorted(practice.store.audit_records(), key=lambda r: r.outcome)
    assert [(r.outcome, r.action, r.record_id, r.client_ref) for r in entries] == [
        ("allowed", "start-episode", first, "c-1"),
        ("replayed", "start-episode", first, "c-1"),
    ]
    assert [bool(r.writes) for r in entries] == [True, False]
    assert len(practice.store.load_events(first)) == 1


def test_record_session_with_the_same_key_writes_once(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    session = attended(day(3), ors(practice), srs(practice))
    first = practice.record_session(actor, ep, session, idempotency_key="session-key-1")
    before = footprint(practice, ep)
    second = practice.record_session(actor, ep, session, idempotency_key="session-key-1")
    assert first.duplicate is False
    assert second.duplicate is True
    assert second.record_id == first.record_id is not None
    assert (second.episode_id, second.version) == (first.episode_id, first.version)
    snapshot, events, audited, caseload = footprint(practice, ep)
    assert (snapshot, events, audited - 1, caseload) == before  # one audit entry, nothing else
    replays = [r for r in practice.store.audit_records() if r.outcome == "replayed"]
    assert [(r.action, r.record_id, r.writes) for r in replays] == [("record-session", ep, "")]
    assert practice.episode(actor, ep).sessions_attended == 1
    # A different key is a different command.
    third = practice.record_session(actor, ep, attended(day(4)), idempotency_key="session-key-2")
    assert third.duplicate is False
    assert third.record_id != first.record_id
    assert third.version == first.version + 1


def test_same_key_from_another_practice_on_the_same_file(tmp_path: Path, actor: Actor, opened: Any) -> None:
    path = tmp_path / "idem.sqlite"
    one, two = opened(path), opened(path)
    ep, goal_ids = active_episode(one, actor)
    again = two.agree_goals(actor, ep, goals(1), agreed_on=day(3), idempotency_key="goals-key")
    assert one.agree_goals(actor, ep, goals(1), agreed_on=day(3), idempotency_key="goals-key") == again
    note = RuptureNote(
        noted_on=day(3),
        kind="confrontation",
        markers=("complaint-about-progress",),
        likely_cause="goal-disagreement",
        description=CANARY,
    )
    r1 = one.note_rupture(actor, ep, note, idempotency_key="rupture-key")
    r2 = two.note_rupture(actor, ep, note, idempotency_key="rupture-key")
    assert (r2.duplicate, r2.record_id) == (True, r1.record_id)
    st = two.episode(actor, ep)
    assert len(st.goals) == len(goal_ids) + 1
    assert st.ruptures_noted == 1
    assert st.version == len(one.store.load_events(ep))


def test_duplicate_after_a_refusal_is_still_refused(practice: Practice, actor: Actor) -> None:
    """A refused command records nothing under its key, so repeating it is refused again, not 'duplicate'."""
    from alliancekit.errors import LifecycleError

    ep = new_episode(practice, actor)
    for _ in range(2):
        with pytest.raises(LifecycleError):
            practice.record_session(actor, ep, attended(day(3)), idempotency_key="refused-key")
    assert practice.store.find_command(actor.clinic_id, "record-session", "refused-key") is None


class _SameCommandFirst:
    """A clock for practice A that, once, lets practice B make a command first (B has its own clock).

    ``Practice._commit`` reads the clock after deciding and before writing: B's write lands exactly between
    A's read and A's write, as when a host retries a request that is still in flight.
    """

    def __init__(self, other_call: Any) -> None:
        self.other_call = other_call

    def __call__(self) -> datetime:
        call, self.other_call = self.other_call, None
        if call is not None:
            call()
        return datetime(2026, 6, 1, 9, tzinfo=UTC)  # the fixed clock's now


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_same_key_in_flight_twice_closes_once(kind: str, tmp_path: Path, actor: Actor, opened: Any) -> None:
    shared: Any = MemoryStore() if kind == "memory" else tmp_path / "inflight.sqlite"
    b = opened(shared)
    ep, _ = active_episode(b, actor)
    ending = unplanned_ending(day(9))
    a = opened(
        shared, clock=_SameCommandFirst(lambda: b.close_episode(actor, ep, ending, idempotency_key="k"))
    )
    done = a.close_episode(actor, ep, ending, idempotency_key="k")
    assert done.duplicate is True
    assert done.version == b.episode(actor, ep).version
    assert [e.type for e in b.store.load_events(ep)].count("episode-closed") == 1


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_same_key_in_flight_twice_opens_one_episode(
    kind: str, tmp_path: Path, actor: Actor, opened: Any
) -> None:
    shared: Any = MemoryStore() if kind == "memory" else tmp_path / "inflight-open.sqlite"
    b = opened(shared)
    opening = {
        "client_ref": "c-9",
        "clinician_id": actor.id,
        "opened_on": day(0),
        "idempotency_key": "open-k",
    }
    a = opened(shared, clock=_SameCommandFirst(lambda: b.start_episode(actor, **opening)))
    assert a.start_episode(actor, **opening) == b.start_episode(actor, **opening)
    assert len(list(b.store.episode_ids())) == 1
