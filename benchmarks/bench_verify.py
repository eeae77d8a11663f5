"""The memory of ``alliancekit verify`` against the size of the record: two demo practices, one four times
the other.

Layout: ``alliancekit demo``'s practice (:func:`alliancekit.demo.simulate_practice`, one SQLite file) of
``SIZES`` clients each, verified as ``alliancekit verify --db`` does (read-only, an administrator of the
demo clinic, no seal key). Figures: the traced memory peak (tracemalloc) of each verification, their ratio,
and the audit entries and write claims of each record. The audit log is walked as the store pages it, not
held, so the peak should not grow with it; what still grows with the record is what verification keeps to
match entries to episodes (one compact tuple per entry that names a write) and the caseload rows it reads
up front (one per episode).

Run: ``python benchmarks/run.py verify``; ``ALLIANCEKIT_BENCH_VERIFY_CLIENTS`` changes the smaller size
(the larger is four times it).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import tracemalloc
from datetime import date
from pathlib import Path

CLIENTS = int(os.environ.get("ALLIANCEKIT_BENCH_VERIFY_CLIENTS", "400"))
SIZES = (CLIENTS, 4 * CLIENTS)
#: The demo's today: the same records in every run.
TODAY = date(2026, 6, 1)


def _build(path: Path, clients: int) -> tuple[int, int]:
    """A demo practice of ``clients`` clients at ``path``; returns its audit entries and write claims."""
    from alliancekit.demo import simulate_practice

    simulate_practice(path, clients=clients, today=TODAY)
    with sqlite3.connect(path) as conn:
        entries, claims = conn.execute("SELECT count(*), count(nullif(writes, '')) FROM audit").fetchone()
    return int(entries), int(claims)


def _peak(path: Path) -> float:
    """The traced memory peak (MiB) of verifying ``path`` as ``alliancekit verify --db`` does."""
    from alliancekit import Practice
    from alliancekit.demo.simulate import CLINIC
    from alliancekit.domain import Actor, Purpose, Role
    from alliancekit.store.sqlite import SQLiteStore

    verifier = Actor("bench-verify", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
    tracemalloc.start()
    try:
        with Practice(SQLiteStore(path, read_only=True)) as practice:
            report = practice.verify(verifier)
        assert report.ok, report.describe()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    peaks = []
    with tempfile.TemporaryDirectory() as tmp:
        for clients in SIZES:
            path = Path(tmp) / f"demo-{clients}.sqlite"
            entries, claims = _build(path, clients)
            peak = _peak(path)
            peaks.append(peak)
            figures[f"verify memory peak MiB ({clients} clients)"] = peak
            figures[f"audit entries ({clients} clients)"] = entries
            figures[f"write claims ({clients} clients)"] = claims
    figures[f"verify memory peak ratio ({SIZES[1]} / {SIZES[0]} clients; flat: near 1)"] = peaks[1] / peaks[0]
    return figures
