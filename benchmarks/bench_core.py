"""Core benchmark: ``record_session`` on SQLite against a raw durable SQLite commit, in one run.

Both run against files in the same temporary directory with the same durability settings (WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE``), interleaved so that disk noise hits both alike. Also the time
to load an episode's state after 50 sessions, and ``record_session``'s CPU time with the disk taken out
(``synchronous=NORMAL``) against an ideal one-transaction write of the same event, snapshot and a
hash-chained audit row with the JSON already encoded, interleaved in the same run.

Layout: one clinic, one writer (this process), 21 episodes written in turn.

Run from the repository root: ``python benchmarks/bench_core.py`` (with alliancekit installed, or with
``PYTHONPATH=src``). The machine's load moves the figures: compare medians of several runs.
"""

from __future__ import annotations

import hashlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Role,
    Session,
)
from alliancekit.events import converter

ROUNDS = 1000
#: Unmeasured rounds first, on both sides: statement caches, page cache and allocator warm up.
WARMUP = 50


def _raw(path: Path) -> tuple[sqlite3.Connection, int]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    return conn, 0


def _active_episode(practice, actor) -> str:  # type: ignore[no-untyped-def]
    start = date(2026, 1, 5)
    ep = practice.start_episode(actor, client_ref="bench-client", clinician_id=actor.id, opened_on=start)
    practice.record_consultation(
        actor,
        ep,
        Consultation(held_on=start, modality="video", consent=Consent(treatment=True, measures=True)),
    )
    practice.decide_fit(actor, ep, FitDecision(outcome="proceed", decided_on=start))
    practice.agree_goals(actor, ep, [GoalDraft("a goal", ("a task",))], agreed_on=start)
    return ep


def _session(day: date) -> Session:
    ors = {"individually": 5.1, "interpersonally": 6.0, "socially": 4.2, "overall": 5.5}
    srs = {"relationship": 9.1, "goals_topics": 8.7, "approach": 9.0, "overall": 9.2}
    return Session(
        held_on=day,
        modality="in-person",
        attendance="attended",
        administrations=(
            Administration("ors", _version("ors"), "start", ors),
            Administration("srs", _version("srs"), "end", srs),
        ),
    )


def _version(measure_id: str) -> str:
    from alliancekit.plugins import get_plugin_host

    return str(get_plugin_host().measures().latest_version(measure_id))


def _eventsourcing(path: Path) -> Callable[[int, Session], None] | None:
    """Save the same session events with the ``eventsourcing`` package (SQLite, WAL, its defaults).

    The aggregate stays in memory between saves, as alliancekit's decoded state does, so both sides pay
    for serialising and durably committing one new event. ``None`` when the package is not installed
    (it is in the ``bench`` extra).
    """
    try:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate, event
    except ImportError:
        return None

    class EpisodeAggregate(Aggregate):  # type: ignore[misc]
        @event("Opened")
        def __init__(self, client_ref: str) -> None:
            self.client_ref = client_ref
            self.sessions = 0

        @event("SessionRecorded")
        def record_session(self, session: dict[str, Any]) -> None:
            self.sessions += 1

    app = Application(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    aggregates = [EpisodeAggregate(client_ref=f"bench-{i}") for i in range(ROUNDS // 50 + 1)]
    app.save(*aggregates)

    def save(i: int, session: Session) -> None:
        aggregate = aggregates[i % len(aggregates)]
        aggregate.record_session(session=converter.unstructure(session))
        app.save(aggregate)

    return save


def _ideal(path: Path, event_json: str, snapshot_json: str, audit_json: str) -> Callable[[int], None]:
    """The least a durable command can do: in one transaction, insert the event row, update the snapshot
    row under a version check, and append an audit row hash-chained onto the last one, with JSON already
    encoded (of the sizes alliancekit writes). The yardstick of the guarded path's CPU cost."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(
        "CREATE TABLE e (stream TEXT, seq INTEGER, payload TEXT, hash TEXT, PRIMARY KEY (stream, seq));"
        "CREATE TABLE s (stream TEXT PRIMARY KEY, version INTEGER, state TEXT);"
        "CREATE TABLE a (position INTEGER PRIMARY KEY, entry TEXT, prev TEXT, hash TEXT);"
    )
    streams = 21
    for i in range(streams):
        conn.execute("INSERT INTO s VALUES (?, 0, ?)", (f"s{i}", snapshot_json))
    versions = [0] * streams
    head = ["0" * 64]

    def write(i: int) -> None:
        k = i % streams
        conn.execute("BEGIN IMMEDIATE")
        digest = hashlib.sha256(f"{head[0]}{event_json}".encode()).hexdigest()
        conn.execute("INSERT INTO e VALUES (?,?,?,?)", (f"s{k}", versions[k] + 1, event_json, digest))
        updated = conn.execute(
            "UPDATE s SET version = ?, state = ? WHERE stream = ? AND version = ?",
            (versions[k] + 1, snapshot_json, f"s{k}", versions[k]),
        ).rowcount
        assert updated == 1
        last = conn.execute("SELECT position, hash FROM a ORDER BY position DESC LIMIT 1").fetchone()
        prev = last[1] if last else "0" * 64
        entry_hash = hashlib.sha256(f"{prev}{audit_json}".encode()).hexdigest()
        conn.execute("INSERT INTO a (entry, prev, hash) VALUES (?,?,?)", (audit_json, prev, entry_hash))
        conn.execute("COMMIT")
        versions[k] += 1
        head[0] = digest

    return write


def _cpu_side_by_side(tmp: Path, actor: Actor) -> dict[str, float]:
    """``record_session`` CPU on a database whose disk is taken out (``synchronous=NORMAL``) against the
    ideal one-transaction write, interleaved, in one process."""
    practice = open_practice(tmp / "cpu.sqlite")
    conn = practice.store._connect()  # type: ignore[attr-defined] # noqa: SLF001 - the benchmark's own knob
    conn.execute("PRAGMA synchronous = NORMAL")
    episodes = [_active_episode(practice, actor) for _ in range(21)]
    day = date(2023, 1, 6)  # the days recorded stay before today (no clinical date may be after it)
    sessions = [_session(day + timedelta(days=i // len(episodes))) for i in range(WARMUP + ROUNDS)]
    practice.record_session(actor, episodes[0], sessions[0])
    stored = practice.store.load_events(episodes[0])[-1]
    snapshot = practice.store.load_snapshot(episodes[0])
    audit = practice.store.audit_records()[-1]
    ideal = _ideal(
        tmp / "ideal.sqlite",
        stored.payload_json,
        snapshot.state_json if snapshot else "{}",
        "x" * len(repr(audit)),
    )
    ours, theirs = [], []
    for i in range(1, WARMUP + ROUNDS):
        t0 = time.thread_time()
        practice.record_session(actor, episodes[i % len(episodes)], sessions[i])
        ours.append(time.thread_time() - t0)
        t0 = time.thread_time()
        ideal(i)
        theirs.append(time.thread_time() - t0)
    practice.close()
    del ours[:WARMUP], theirs[:WARMUP]
    ours_us, theirs_us = statistics.median(ours) * 1e6, statistics.median(theirs) * 1e6
    return {
        "record_session CPU, disk taken out, p50 (µs)": ours_us,
        "ideal one-transaction write CPU p50 (µs)": theirs_us,
        "record_session CPU / ideal write (target ≤ 4.0)": ours_us / theirs_us,
    }


def run() -> dict[str, float]:
    actor = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
    with tempfile.TemporaryDirectory() as tmp:
        raw, _ = _raw(Path(tmp) / "raw.sqlite")
        practice = open_practice(Path(tmp) / "practice.sqlite")
        es_save = _eventsourcing(Path(tmp) / "eventsourcing.sqlite")
        episodes = [_active_episode(practice, actor) for _ in range(ROUNDS // 50 + 1)]
        raw_times, session_times, es_times = [], [], []
        day = date(2023, 1, 6)  # up to 1,050 days on: still before today (no clinical date after it)
        for i in range(WARMUP + ROUNDS):
            t0 = time.perf_counter()
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO t (payload) VALUES (?)", ("x" * 300,))
            raw.execute("COMMIT")
            raw_times.append(time.perf_counter() - t0)
            session = _session(day + timedelta(days=i // len(episodes)))
            t0 = time.perf_counter()
            practice.record_session(actor, episodes[i % len(episodes)], session)
            session_times.append(time.perf_counter() - t0)
            if es_save is not None:
                t0 = time.perf_counter()
                es_save(i, session)
                es_times.append(time.perf_counter() - t0)
        del raw_times[:WARMUP], session_times[:WARMUP], es_times[:WARMUP]
        # load after 50 sessions
        ep = _active_episode(practice, actor)
        for i in range(50):
            practice.record_session(actor, ep, _session(day + timedelta(days=i)))
        loads = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            practice.episode(actor, ep)
            loads.append(time.perf_counter() - t0)
        practice.close()
        raw.close()
        cpu = _cpu_side_by_side(Path(tmp), actor)
    raw_p50 = statistics.median(raw_times) * 1e6
    session_p50 = statistics.median(session_times) * 1e6
    figures = {
        "raw durable SQLite commit p50 (µs)": raw_p50,
        "record_session p50 (µs)": session_p50,
        "record_session / raw commit (target ≤ 1.3)": session_p50 / raw_p50,
        "load state after 50 sessions p50 (µs)": statistics.median(loads) * 1e6,
    }
    figures.update(cpu)
    if es_times:
        es_p50 = statistics.median(es_times) * 1e6
        figures["eventsourcing save of the same event p50 (µs)"] = es_p50
        figures["eventsourcing save / raw commit"] = es_p50 / raw_p50
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:50s} {value:10.2f}")
