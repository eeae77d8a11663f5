"""SQLite writer scaling: 1, 2 and 4 writer processes on one database file, one clinic.

Layout: one clinic, one SQLite file (WAL, ``synchronous=FULL``); each writer process records sessions on
its own episodes (so writers queue on the database's write lock, not on one episode's version), after a
warm-up, all writers released together. Figures: commands/s of all writers, the per-command latency p50 and
p99 over all writers, and the throughput ratio to one writer. Targets (issue 15): p99 at 4 writers
<= 10 ms, 2 writers at least as fast as 1.

Run from the repository root: ``python benchmarks/bench_sqlite_writers.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

WRITERS = (1, 2, 4)
COMMANDS = 300
WARMUP = 30
EPISODES_EACH = 5
CLINIC = "bench-clinic"


def _writer(location: str, writer: int, start: Any, results: Any) -> None:
    from alliancekit import open_practice
    from alliancekit.domain import Actor, Attendance, Modality, Role, Session
    from alliancekit.testing.concurrency import active_episode

    actor = Actor(f"bench-clinician-{writer}", Role.CLINICIAN, CLINIC)
    try:
        with open_practice(location) as practice:
            episodes = [active_episode(practice, actor) for _ in range(EPISODES_EACH)]
            day = date(2026, 1, 6)
            latencies = []
            for i in range(WARMUP + COMMANDS):
                if i == WARMUP:
                    start.wait()
                session = Session(
                    held_on=day + timedelta(days=i // EPISODES_EACH),
                    modality=Modality.IN_PERSON,
                    attendance=Attendance.ATTENDED,
                )
                t0 = time.perf_counter()
                practice.record_session(actor, episodes[i % EPISODES_EACH], session)
                latencies.append(time.perf_counter() - t0)
            results.put(("ok", latencies[WARMUP:], time.perf_counter()))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        results.put(("error", f"{type(exc).__name__}", 0.0))


def _run(directory: Path, processes: int) -> tuple[float, list[float]]:
    location = str(directory / f"writers-{processes}.sqlite")
    from alliancekit import open_practice

    open_practice(location).close()  # create and migrate once, before the writers race to
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    workers = [ctx.Process(target=_writer, args=(location, w, start, results)) for w in range(processes)]
    for p in workers:
        p.start()
    start.wait(timeout=300)
    began = time.perf_counter()
    outcomes = [results.get(timeout=900) for _ in workers]
    for p in workers:
        p.join(timeout=60)
    errors = [o[1] for o in outcomes if o[0] != "ok"]
    if errors:
        raise RuntimeError(f"{len(errors)} writers failed: {errors[0]}")
    ended = max(o[2] for o in outcomes)
    latencies = [x for o in outcomes for x in o[1]]
    return processes * COMMANDS / (ended - began), latencies


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        one = 0.0
        for processes in WRITERS:
            rate, latencies = _run(Path(tmp), processes)
            one = one or rate
            q = statistics.quantiles(latencies, n=100)
            layout = f"1 clinic, {processes} writer process{'es' if processes > 1 else ''}"
            figures[f"commands/s ({layout})"] = rate
            figures[f"ratio to 1 writer ({layout})"] = rate / one
            figures[f"latency p50 ms ({layout})"] = statistics.median(latencies) * 1e3
            figures[f"latency p99 ms ({layout})"] = q[98] * 1e3
    return figures


if __name__ == "__main__":
    print(f"load average before: {os.getloadavg()}")
    for name, value in run().items():
        print(f"{name:55s} {value:10.2f}")
