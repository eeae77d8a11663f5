"""Core benchmark: ``record_session`` on SQLite against a raw durable SQLite commit, in one run.

Both run against files in the same temporary directory with the same durability settings (WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE``), interleaved so that disk noise hits both alike. Also the time
to load an episode's state after 50 sessions.

Run from the repository root: ``python benchmarks/bench_core.py`` (with alliancekit installed, or with
``PYTHONPATH=src``). The machine's load moves the figures: compare medians of several runs.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

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


def run() -> dict[str, float]:
    actor = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
    with tempfile.TemporaryDirectory() as tmp:
        raw, _ = _raw(Path(tmp) / "raw.sqlite")
        practice = open_practice(Path(tmp) / "practice.sqlite")
        episodes = [_active_episode(practice, actor) for _ in range(ROUNDS // 50 + 1)]
        raw_times, session_times = [], []
        day = date(2026, 1, 6)
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
        del raw_times[:WARMUP], session_times[:WARMUP]
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
    raw_p50 = statistics.median(raw_times) * 1e6
    session_p50 = statistics.median(session_times) * 1e6
    return {
        "raw durable SQLite commit p50 (µs)": raw_p50,
        "record_session p50 (µs)": session_p50,
        "record_session / raw commit (target ≤ 2.0)": session_p50 / raw_p50,
        "load state after 50 sessions p50 (µs)": statistics.median(loads) * 1e6,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:50s} {value:10.2f}")
