"""``record_session`` against the ideal write of ``bench_core``, counted in instructions (valgrind).

Instruction counts do not move with the machine's load, unlike times. Runs valgrind's callgrind four
times (each side with 100 and 200 measured calls after the same setup and warm-up) and prints the
instructions per call of each side (the difference of the two runs over 100) and their ratio.
Layout: one clinic, one writer, SQLite with the disk taken out (``synchronous=NORMAL``).

Run from the repository root (needs ``valgrind``): ``python benchmarks/callgrind_record_session.py``.
"""

from __future__ import annotations

# The benchmark drives bench_core's own helpers.
# ruff: noqa: SLF001
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import callgrind

WARMUP = 40
EPISODES = 21


def _drive(mode: str, n: int) -> None:
    """Set up, warm both sides up, then make ``n`` calls of one side (run under valgrind)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bench_core as b
    from alliancekit import open_practice
    from alliancekit.domain import Actor, Role

    actor = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
    tmp = Path(tempfile.mkdtemp())
    practice = open_practice(tmp / "cpu.sqlite")
    practice.store._connect().execute("PRAGMA synchronous = NORMAL")  # type: ignore[attr-defined]
    episodes = [b._active_episode(practice, actor) for _ in range(EPISODES)]
    day = date(2026, 1, 6)
    sessions = [b._session(day + timedelta(days=i // EPISODES)) for i in range(WARMUP + n)]
    for i in range(WARMUP):
        practice.record_session(actor, episodes[i % EPISODES], sessions[i])
    stored = practice.store.load_events(episodes[0])[-1]
    snapshot = practice.store.load_snapshot(episodes[0])
    audit = practice.store.audit_records()[-1]
    ideal = b._ideal(
        tmp / "ideal.sqlite",
        stored.payload_json,
        snapshot.state_json if snapshot else "{}",
        "x" * len(repr(audit)),
    )
    for i in range(1, WARMUP):
        ideal(i)
    for i in range(WARMUP, WARMUP + n):
        if mode == "ours":
            practice.record_session(actor, episodes[i % EPISODES], sessions[i])
        else:
            ideal(i)


def _instructions(mode: str, n: int, out: Path) -> int:
    return callgrind.instructions(__file__, mode, n, out)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(4) as pool:
        runs = {
            (mode, n): pool.submit(_instructions, mode, n, Path(tmp))
            for mode in ("ours", "ideal")
            for n in (100, 200)
        }
        per_call = {
            mode: (runs[mode, 200].result() - runs[mode, 100].result()) / 100 for mode in ("ours", "ideal")
        }
    print(f"record_session instructions per call  {per_call['ours']:14,.0f}")
    print(f"ideal write instructions per call     {per_call['ideal']:14,.0f}")
    print(f"ratio (target ≤ 4.0)                  {per_call['ours'] / per_call['ideal']:14.2f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        _drive(sys.argv[2], int(sys.argv[3]))
    else:
        main()
