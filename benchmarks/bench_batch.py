"""The batch path against raw ``executemany``: an import of a practice's history, side by side in one run.

Layout: one clinic, one SQLite file (WAL, ``synchronous=FULL``), ``CLIENTS`` clients each opened, consulted,
decided, given a goal and ``SESSIONS`` sessions with an ORS and an SRS, through ``Practice.batch`` (500
commands per transaction): validated, scored, alert rules run, audited, hash-chained. Then the very rows the
batch wrote (events, episodes, audit, commands, outbox) are inserted into a fresh database of the same
schema with plain ``executemany`` (one transaction per 500 commands' worth of rows): the floor any import
through SQLite has. Figures: both rates in commands/s and their ratio (target, issue 14: batch >= 0.5 x
raw), and the traced memory peak of imports of two sizes (a long import must stay flat: the ratio of the
peaks should be near 1, not near the ratio of the sizes). Beside them, the same layout for a fifth of the
clients through the facade one command per durable commit (what a host without the batch path does), and
the batch path's rate over it.

The ceiling, in the same run: the least work a command of any import that keeps the record tamper-evident
must do in Python, timed over the very rows the batch wrote with the library's own functions: the
canonical JSON of each event payload (from its decoded form), each event's hash in its episode's chain
and each audit entry's hash in its shard's chain. No checks, scoring, alert rules, state, ids or audit
decisions: less than any real path does. ``raw / (raw + floor)`` is then the best ratio a pure-Python
path could reach, however it were built (one process; the CPU work cannot hide behind SQLite's, which also
runs on the CPU).

The importer, side by side in the same run: a synthetic OpenFIT-style CSV (``examples/imports``, ORS and
SRS totals, ``IMPORT_SESSIONS`` sessions per client) through ``alliancekit import csv``'s own
``run_import`` (reading, mapping, idempotency keys, checkpoints, on the batch path), against
``executemany`` of the rows it wrote (one transaction per batch of units the importer commits).

The same comparison for ``alliancekit import fhir``: the FHIR export of a demo practice (``simulate_practice``
with ``FHIR_MEMORY_SIZES`` clients, ``export_ndjson``, written before tracing starts) through its own
``FhirSource`` and ``run_import``, committing every ``FHIR_BATCH`` episodes (a FHIR unit is a whole episode,
and a batch holds its units until its commit: the default of 500 would hold both sizes whole).

Run: ``python benchmarks/run.py batch``; ``ALLIANCEKIT_BENCH_BATCH_CLIENTS`` changes the size (issue 14
names 10,000 clients x 20 sessions; the default is smaller, for a shared machine), and
``ALLIANCEKIT_BENCH_IMPORT_CLIENTS`` the import's (issue 14: 10,000 clients x 3 sessions).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

CLIENTS = int(os.environ.get("ALLIANCEKIT_BENCH_BATCH_CLIENTS", "500"))
SESSIONS = 20
BATCH = 500
CLINIC = "bench-clinic"
IMPORT_CLIENTS = int(os.environ.get("ALLIANCEKIT_BENCH_IMPORT_CLIENTS", "1000"))
IMPORT_SESSIONS = 3
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "imports"
#: The two import sizes (clients) whose memory peaks are compared. Past a few thousand clients: the caches
#: kept by identity (the state's JSON texts, the caseload's alert columns; 8,192 entries each) hold values
#: of recent episodes and fill up over the first thousands, so a long import's peak grows until they are
#: full and is flat after (measured 2026-11-30: 7.8 MiB at 1,600 clients, 9.9 at 3,200, 10.8 at 6,400).
MEMORY_SIZES = (3200, 6400)
#: The same for ``import csv`` (``IMPORT_SESSIONS`` sessions a client): past the caches' filling, the peak
#: must not follow the number of episodes read (until 2026-12-02 it did, about 0.7 KB an episode).
CSV_MEMORY_SIZES = (10000, 40000)
#: The same for ``import fhir`` (demo clients: about 1.02 episodes and 85 resources a client): until
#: 2026-12-03 it read and joined its whole source in memory, about 6 KB a resource.
FHIR_MEMORY_SIZES = (100, 400)
#: Episodes per commit in that comparison: well below both sizes, so that the batch is not what is compared.
FHIR_BATCH = 25
#: The clients imported one command per durable commit, beside the batch path (a fifth: that path is slower).
ONE_BY_ONE_CLIENTS = max(1, CLIENTS // 5)
_TABLES = ("episodes", "events", "audit", "commands", "outbox")


def _import(location: str, clients: int, *, batched: bool = True) -> int:
    """The import through the batch path (or, with ``batched=False``, one command per commit through the
    facade, as a host without the batch path would); returns the commands run."""
    from alliancekit import open_practice
    from alliancekit.domain import (
        Actor,
        Administration,
        Attendance,
        Consent,
        Consultation,
        FitDecision,
        FitOutcome,
        GoalDraft,
        Modality,
        Role,
        Session,
    )

    # after the last session (client 299's 20th, 2025-03-23): no clinical date may be after today
    start = datetime(2025, 6, 2, 9, tzinfo=UTC)
    actor = Actor("bench-clinician", Role.CLINICIAN, CLINIC)
    commands = 0
    with open_practice(location, clock=lambda: start) as practice:
        registry = practice.plugins.measures()
        ors = registry.get("ors", str(registry.latest_version("ors")))
        srs = registry.get("srs", str(registry.latest_version("srs")))
        ors_keys = [item.key for item in ors.items]
        srs_keys = [item.key for item in srs.items]
        with practice.batch(size=BATCH) if batched else nullcontext(practice) as batch:
            for client in range(clients):
                day = date(2024, 1, 8) + timedelta(days=client % 300)
                ep = batch.start_episode(
                    actor, client_ref=f"bench-client-{client}", clinician_id=actor.id, opened_on=day
                )
                batch.record_consultation(
                    actor, ep, Consultation(day, Modality.IN_PERSON, Consent(treatment=True, measures=True))
                )
                batch.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, day))
                batch.agree_goals(actor, ep, [GoalDraft("synthetic goal")], agreed_on=day)
                commands += 4
                for n in range(1, SESSIONS + 1):
                    level = min(9.5, 3.0 + n * 0.25)
                    session = Session(
                        held_on=day + timedelta(days=7 * n),
                        modality=Modality.IN_PERSON,
                        attendance=Attendance.ATTENDED,
                        administrations=(
                            Administration(ors.id, ors.version, "start", dict.fromkeys(ors_keys, level)),
                            Administration(srs.id, srs.version, "end", dict.fromkeys(srs_keys, 9.0)),
                        ),
                    )
                    batch.record_session(actor, ep, session)
                    commands += 1
    return commands


def _history(path: Path, clients: int, sessions: int) -> None:
    """Write the synthetic CSV history of ``examples/imports/make_history.py`` (its own generator)."""
    spec = importlib.util.spec_from_file_location("make_history", EXAMPLES / "make_history.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(clients, sessions, str(path))


def _import_csv(location: str, source: Path) -> tuple[int, int]:
    """``source`` imported as ``alliancekit import csv`` does; returns the commands run and the batches
    (store transactions) they were committed in."""
    from alliancekit import open_practice
    from alliancekit.imports.csv_source import CsvSource
    from alliancekit.imports.mapping import load_mapping
    from alliancekit.imports.writer import DEFAULT_BATCH_SIZE, run_import

    mapping = load_mapping(EXAMPLES / "openfit-style.toml")
    with open_practice(location) as practice:
        csv = CsvSource(source, mapping, practice.plugins.measures())
        result = run_import(practice, csv, clinic_id=CLINIC, source_id="bench-history")
    assert not result.errors, result.to_json()
    assert result.written == result.units, result.to_json()
    with sqlite3.connect(location) as conn:
        commands = conn.execute("SELECT count(*) FROM commands").fetchone()[0]  # every write is keyed
    return commands, -(-result.units // DEFAULT_BATCH_SIZE)


def _rows(path: Path) -> dict[str, tuple[str, list[tuple[Any, ...]]]]:
    """Every row the import wrote, by table, with the INSERT that puts it back."""
    with sqlite3.connect(path) as conn:
        found = {}
        for table in _TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()  # noqa: S608
            marks = ", ".join("?" * len(columns))
            found[table] = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
    return found


def _raw(path: Path, rows: dict[str, tuple[str, list[tuple[Any, ...]]]], transactions: int) -> float:
    """Seconds to insert ``rows`` with executemany, in ``transactions`` transactions."""
    from alliancekit.store.sqlite import SQLiteStore

    SQLiteStore(path).close()  # the same schema, pragmas and indexes, empty
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    began = time.perf_counter()
    for part in range(transactions):
        conn.execute("BEGIN IMMEDIATE")
        for sql, table_rows in rows.values():
            size = -(-len(table_rows) // transactions)
            conn.executemany(sql, table_rows[part * size : (part + 1) * size])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def _floor(rows: dict[str, tuple[str, list[tuple[Any, ...]]]]) -> float:
    """Seconds of the least Python work behind ``rows`` (see the module docstring): canonical JSON of each
    event payload and the event and audit hash chains, with the library's own encoder and hash functions."""
    import json

    from alliancekit.integrity.chain import _CANONICAL, _event_digest, entry_hash
    from alliancekit.store.protocol import AuditRecord

    events = [(row, json.loads(row[11])) for row in rows["events"][1]]
    audit = [
        (AuditRecord(row[2], datetime.fromisoformat(row[3]), *row[4:15], shard=row[0]), row[1], row[15])
        for row in rows["audit"][1]
    ]
    encode = _CANONICAL.encode
    began = time.perf_counter()
    event_hashes = [_event_digest(row[12], *row[:11], encode(payload)) for row, payload in events]
    audit_hashes = [entry_hash(record, position, prev) for record, position, prev in audit]
    seconds = time.perf_counter() - began
    # the work timed is the real work: it gives back every hash the batch stored
    assert event_hashes == [row[13] for row, _ in events]
    assert audit_hashes == [row[16] for row in rows["audit"][1]]
    return seconds


def _budget(path: str, commands: int, seconds: float, raw: float, floor: float) -> dict[str, float]:
    """The ceiling and the budget at the target: what is left per command, at 0.5 x raw, for everything
    but SQLite, the chains and canonical JSON (checks, scoring, alert rules, state, ids, audit decisions),
    against what ``path`` spends on it now (its time less the raw writes and the floor)."""
    per = 1e6 / commands
    return {
        f"{path} ceiling: raw / (raw + chains and canonical JSON alone)": raw / (raw + floor),
        f"{path} us/command left at 0.5 x for checks, scoring, rules, state, audit": max(0.0, raw - floor)
        * per,
        f"{path} us/command spent on them now": (seconds - raw - floor) * per,
    }


def _traced_peak(work: Callable[[], object]) -> float:
    """The traced memory peak (MiB) of ``work``."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def _peak(directory: Path, clients: int) -> float:
    """The traced memory peak (MiB) of an import of ``clients`` clients through the batch path."""
    return _traced_peak(lambda: _import(str(directory / f"memory-{clients}.sqlite"), clients))


def _csv_peak(directory: Path, clients: int) -> float:
    """The traced memory peak (MiB) of ``import csv`` of a history of ``clients`` clients (the CSV written
    before tracing starts): the importer remembers every episode it has read, on disk, not in a dict."""
    source = directory / f"memory-{clients}.csv"
    _history(source, clients, IMPORT_SESSIONS)
    return _traced_peak(lambda: _import_csv(str(directory / f"memory-csv-{clients}.sqlite"), source))


def _fhir_peak(directory: Path, clients: int) -> float:
    """The traced memory peak (MiB) of ``import fhir`` of the FHIR export of a demo of ``clients`` clients
    (made and exported before tracing starts): the join of the source is kept on disk, and one episode is
    read at a time."""
    from alliancekit import Actor, Purpose, Role, open_practice
    from alliancekit.demo import simulate_practice
    from alliancekit.fhir import export_ndjson
    from alliancekit.fhir.validate import packaged_schema
    from alliancekit.imports.fhir_source import FhirSource
    from alliancekit.imports.writer import run_import

    demo, exported = directory / f"fhir-demo-{clients}.sqlite", directory / f"fhir-{clients}"
    simulate_practice(demo, clients=clients, seed=7, today=date(2026, 11, 30))
    with open_practice(demo) as practice:
        actor = Actor("bench-exporter", Role.SUPERVISOR, "demo-clinic", Purpose.OPERATIONS)
        export_ndjson(practice, actor, exported, purpose="treatment")

    packaged_schema()  # loaded once per process (the first size would count it, the second not)

    def work() -> None:
        with open_practice(directory / f"memory-fhir-{clients}.sqlite") as practice:
            source = FhirSource(exported, practice.plugins.measures())
            result = run_import(practice, source, clinic_id=CLINIC, source_id="bench", batch_size=FHIR_BATCH)
        assert not result.errors, result.to_json()
        assert result.written == result.units, result.to_json()

    return _traced_peak(work)


def _import_side_by_side(directory: Path) -> dict[str, float]:
    """The importer's rate against raw ``executemany`` of the rows it wrote, in commands/s."""
    source = directory / "history.csv"
    _history(source, IMPORT_CLIENTS, IMPORT_SESSIONS)
    imported = directory / "import.sqlite"
    began = time.perf_counter()
    commands, transactions = _import_csv(str(imported), source)
    import_seconds = time.perf_counter() - began
    rows = _rows(imported)
    raw_seconds = _raw(directory / "import-raw.sqlite", rows, transactions)
    floor_seconds = _floor(rows)
    layout = f"{IMPORT_CLIENTS} clients x {IMPORT_SESSIONS} sessions CSV"
    return {
        f"import csv commands/s ({layout})": commands / import_seconds,
        "raw executemany commands/s (the import's rows)": commands / raw_seconds,
        "import / raw executemany (target >= 0.5)": raw_seconds / import_seconds,
        **_budget("import", commands, import_seconds, raw_seconds, floor_seconds),
    }


def run() -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        batch_db = directory / "batch.sqlite"
        began = time.perf_counter()
        commands = _import(str(batch_db), CLIENTS)
        batch_seconds = time.perf_counter() - began
        rows = _rows(batch_db)
        raw_seconds = _raw(directory / "raw.sqlite", rows, max(1, commands // BATCH))
        floor_seconds = _floor(rows)
        del rows
        layout = f"{CLIENTS} clients x {SESSIONS} sessions, 1 SQLite file, {BATCH} commands/transaction"
        figures[f"batch path commands/s ({layout})"] = commands / batch_seconds
        figures["raw executemany commands/s (the same rows)"] = commands / raw_seconds
        figures["batch / raw executemany (target >= 0.5)"] = raw_seconds / batch_seconds
        figures.update(_budget("batch", commands, batch_seconds, raw_seconds, floor_seconds))
        began = time.perf_counter()
        single = _import(str(directory / "one-by-one.sqlite"), ONE_BY_ONE_CLIENTS, batched=False)
        single_rate = single / (time.perf_counter() - began)
        figures[f"one-command path commands/s ({ONE_BY_ONE_CLIENTS} clients, a commit each)"] = single_rate
        figures["batch / one-command path"] = commands / batch_seconds / single_rate
        figures.update(_import_side_by_side(directory))
        small, large = (_peak(directory, n) for n in MEMORY_SIZES)
        figures[f"memory peak MiB ({MEMORY_SIZES[0]} clients)"] = small
        figures[f"memory peak MiB ({MEMORY_SIZES[1]} clients)"] = large
        figures[f"memory peak ratio ({MEMORY_SIZES[1]} / {MEMORY_SIZES[0]} clients; flat: near 1)"] = (
            large / small
        )
        small, large = (_csv_peak(directory, n) for n in CSV_MEMORY_SIZES)
        figures[f"import csv memory peak MiB ({CSV_MEMORY_SIZES[0]} clients)"] = small
        figures[f"import csv memory peak MiB ({CSV_MEMORY_SIZES[1]} clients)"] = large
        figures[
            f"import csv memory peak ratio ({CSV_MEMORY_SIZES[1]} / {CSV_MEMORY_SIZES[0]}; flat: near 1)"
        ] = large / small
        small, large = (_fhir_peak(directory, n) for n in FHIR_MEMORY_SIZES)
        figures[f"import fhir memory peak MiB ({FHIR_MEMORY_SIZES[0]} demo clients)"] = small
        figures[f"import fhir memory peak MiB ({FHIR_MEMORY_SIZES[1]} demo clients)"] = large
        figures[
            f"import fhir memory peak ratio ({FHIR_MEMORY_SIZES[1]} / {FHIR_MEMORY_SIZES[0]}; flat: near 1)"
        ] = large / small
    return figures


if __name__ == "__main__":
    print(f"load average before: {os.getloadavg()}")
    for name, value in run().items():
        print(f"{name:75s} {value:10.2f}")
    print(f"load average after: {os.getloadavg()}")
