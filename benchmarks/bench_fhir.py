"""FHIR Bulk export benchmark: resources per second for a practice of 10,000 episodes, and peak memory.

The practice is built once and cached in the temporary directory (``alliancekit-bench-fhir-<n>-v1.sqlite``):
the demo simulator makes 96 template episodes (two seeds, every lifecycle course), and each of the 10,000
episodes is a template's events committed again under a new episode id through the store's ``append``
(one durable commit per episode, as the practice would have written them). Figures:

* ``ndjson_resources_per_s`` and ``ndjson_episodes_per_s``: ``export_ndjson`` of every episode, end to end
  (reading events, assembling, mapping, hooks, writing NDJSON and the audit rows);
  ``ndjson_resources_per_cpu_s`` the same per second of the process's CPU time (on a shared machine);
* ``peak_traced_mb_<k>_episodes``: the largest Python allocation (tracemalloc) while exporting the first
  ``k`` episodes, for two sizes ten times apart (1% and 10% of the practice, as tracemalloc slows the run):
  flat when the export streams, ten times larger if it held the practice;
* ``maxrss_mb``: the process's peak resident memory at the end (everything the run did, the build included);
* ``html report audit transactions``: the audit transactions ``render_report`` writes for this practice
  (its reads are batched: at most one per 1,000 entries), and the entries they hold.

Layout: one clinic, one reader (the exporter), no writer. The cached practice is never changed: each run
exports from a copy of it (an export writes its audit entries), after a warm-up export of 1% of it.

Run: ``python benchmarks/run.py fhir``; ``ALLIANCEKIT_BENCH_FHIR_EPISODES`` changes the size.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Sequence
from pathlib import Path

import attrs

from alliancekit import open_practice
from alliancekit.demo import simulate_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.events.codec import Codec
from alliancekit.feedback.reports import render_report
from alliancekit.fhir import export_ndjson
from alliancekit.integrity.chain import GENESIS, chain_events
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.projections import caseload_row
from alliancekit.store.protocol import AuditRecord, Commit
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import MIGRATIONS

EPISODES = int(os.environ.get("ALLIANCEKIT_BENCH_FHIR_EPISODES", "10000"))
CLINIC = "demo-clinic"
TEMPLATE_SEEDS = (7, 8)
TEMPLATE_CLIENTS = 48


def _templates(workdir: Path) -> list[tuple[str, list, EpisodeState]]:  # type: ignore[type-arg]
    out = []
    for seed in TEMPLATE_SEEDS:
        path = workdir / f"template-{seed}.sqlite"
        simulate_practice(path, clients=TEMPLATE_CLIENTS, seed=seed)
        with open_practice(path) as practice:
            for episode_id in practice.store.episode_ids():
                found = practice.store.load_snapshot(episode_id)
                assert found is not None
                state = Codec.decode_state(found.state_json)
                assert state is not None
                out.append((episode_id, practice.store.load_events(episode_id), state))
    return out


def build(path: Path, episodes: int) -> None:
    """Write ``episodes`` episodes cloned from the demo's into a new SQLite practice at ``path``."""
    with tempfile.TemporaryDirectory() as tmp:
        templates = _templates(Path(tmp))
        partial = path.with_suffix(".partial")
        for stale in (partial, *(Path(f"{partial}-{end}") for end in ("wal", "shm", "writer"))):
            stale.unlink(missing_ok=True)
        with open_practice(partial) as practice:
            for n, (_, events, state) in zip(range(episodes), itertools.cycle(templates), strict=False):
                episode_id = f"{n:08d}{uuid.uuid4().hex[:24]}"
                new_ids = {e.event_id: uuid.uuid4().hex for e in events}
                cloned = [
                    attrs.evolve(
                        e,
                        episode_id=episode_id,
                        event_id=new_ids[e.event_id],
                        corrects=new_ids.get(e.corrects) if e.corrects else None,
                    )
                    for e in events
                ]
                cloned = chain_events(cloned, GENESIS)
                new_state = attrs.evolve(state, episode_id=episode_id)
                practice.store.append(
                    Commit(
                        episode_id=episode_id,
                        expected_version=0,
                        events=cloned,
                        snapshot_json=Codec.encode_state(new_state),
                        caseload=caseload_row(new_state, review_every=practice.review_every),
                        head=cloned[-1].hash,
                    )
                )
    partial.rename(path)  # only a complete practice is ever reused
    Path(f"{partial}-writer").unlink(missing_ok=True)


def practice_path(episodes: int) -> Path:
    # keyed by a hash of the SQLite schema too: a file cached by an older alliancekit is never reused
    schema = hashlib.sha256("".join(MIGRATIONS).encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"alliancekit-bench-fhir-{episodes}-v1-{schema}.sqlite"
    if not path.exists():
        started = time.perf_counter()
        build(path, episodes)
        print(
            f"  built {episodes} episodes in {time.perf_counter() - started:.0f} s: {path}", file=sys.stderr
        )
    return path


def _peak_traced_mb(practice, actor, out: Path, episode_ids: list[str]) -> float:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    try:
        export_ndjson(practice, actor, out, episode_ids=episode_ids)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run() -> dict[str, float]:
    cached = practice_path(EPISODES)
    actor = Actor("bench-exporter", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "practice.sqlite"
        shutil.copyfile(cached, path)  # the export audits into the copy: the cached fixture stays as built
        with open_practice(path) as practice:
            figures = _measure(practice, actor, Path(tmp))
        store = _CountingStore(path)
        with contextlib.closing(store), open_practice(store) as practice:
            render_report(practice, actor)
        figures["html report audit transactions"] = float(len(store.transactions))
        figures["html report audit entries"] = float(sum(store.transactions))
        return figures


class _CountingStore(SQLiteStore):
    """The SQLite store, counting the entries of each audit transaction written outside a command."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[int] = []

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        super().append_audit(records)
        self.transactions.append(len(records))


def _measure(practice, actor, tmp: Path) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ids = list(itertools.islice(practice.store.episode_ids(), EPISODES))
    small, large = max(1, EPISODES // 100), max(1, EPISODES // 10)
    export_ndjson(practice, actor, Path(tmp) / "warm-up", episode_ids=ids[:small])
    out = Path(tmp) / "bulk"
    started, cpu_started = time.perf_counter(), time.process_time()
    result = export_ndjson(practice, actor, out)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    size = sum(p.stat().st_size for p in out.iterdir())
    # everything built once per process (registries, compiled mappers) is already built by the warm-up
    figures = {
        "layout: clinics (one exporter, no writer)": 1.0,
        "episodes": float(result.episodes),
        "resources": float(result.resources),
        "ndjson_seconds": elapsed,
        "ndjson_resources_per_s": result.resources / elapsed,
        # what the export costs in CPU, whatever else the machine runs (target: 40,000 a second)
        "ndjson_resources_per_cpu_s": result.resources / cpu,
        "ndjson_episodes_per_s": result.episodes / elapsed,
        "ndjson_output_mb": size / 2**20,
        f"peak_traced_mb_{small}_episodes": _peak_traced_mb(practice, actor, Path(tmp) / "s", ids[:small]),
        f"peak_traced_mb_{large}_episodes": _peak_traced_mb(practice, actor, Path(tmp) / "l", ids[:large]),
    }
    # ru_maxrss is in KiB on Linux, bytes on macOS
    scale = 2**20 if sys.platform == "darwin" else 2**10
    figures["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:,.3f}")
