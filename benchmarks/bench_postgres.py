"""PostgreSQL store benchmark: ``record_session`` against a raw durable insert, writer throughput, caseload.

Figures, all from one run on one machine against a real server (``ALLIANCEKIT_BENCH_PG_DSN``, else
``ALLIANCEKIT_TEST_PG_DSN``, else the local server; a superuser DSN: the run creates a database and an
ordinary role of its own and drops both at the end):

* ``record_session`` p50 through the public facade on the PostgreSQL store, and a raw psycopg durable
  single-row insert (autocommit, ``synchronous_commit=on``, a ~300-byte JSONB payload) by the same role on
  the same server, interleaved so that noise hits both alike; their ratio (target ≤ 2.0);
* one clinic's write throughput with 1, 4, 8 and 16 writer processes, each on its own episodes, after a
  warm-up, in commands/s and as a ratio to one writer (target: 8 writers at least 2.5 times one), measured
  three ways side by side: ``record_session`` through the facade; the store's ``append`` alone with commits
  built beforehand (each audit entry in its episode's shard, as the core writes them); and the same commits
  with every audit entry in shard 0, which is the old design's single audit head per clinic (every writer
  of the clinic queues on one row lock held through the commit); with each, the share of active writers
  found waiting for a lock (``pg_stat_activity`` sampled every 5 ms), which shows the queueing directly
  where throughput is capped by the machine's cores;
* caseload query p50 with 100,000 episodes in the table (50 clinics, 20 clinicians each, 100 episodes a
  clinician, about a third open), loaded with ``COPY``: one clinician's open caseload, and a whole clinic's.

Run: ``python benchmarks/bench_postgres.py`` (or ``tox -e bench``). Needs ``alliancekit-postgres``.
``python benchmarks/bench_postgres.py scaling [MODE ...]`` runs the throughput comparison only (modes:
``record_session``, ``store_append_sharded``, ``store_append_one_head``; all by default).

Writers are processes (``spawn``), one connection each: the facade's Python work would otherwise be
serialised by the GIL, which says nothing about the database.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit import open_practice
from alliancekit.domain import Actor, Attendance, Modality, Role, Session
from alliancekit.integrity import chain
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.store.protocol import AuditRecord, CaseloadRow, Commit, StoredEvent
from alliancekit.testing.concurrency import active_episode

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ROUNDS = 400
WRITER_COMMANDS = 300
#: Commands each writer runs before the clock starts (connections, caches, plans, the episodes' rows).
WARMUP_COMMANDS = 30
#: The writer counts compared, and each writer's own episodes (commands go round them).
WRITER_COUNTS = (1, 4, 8, 16)
EPISODES_PER_WRITER = 4
#: Each (way, writer count) is measured this many times, interleaved with the others; the median is kept.
REPEATS = 3
EPISODES = 100_000
CLINICS, CLINICIANS = 50, 20
CLINIC = "bench-clinic"

#: The first session's day: the last (some 430 days on) is still before today, by the real clock.
_DAY = date(2024, 1, 6)


def _dsn(base: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(base)
    netloc = parts.netloc if user is None else f"{user}@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + database))


@contextmanager
def _scratch_database() -> Iterator[tuple[str, str, str]]:
    """(admin DSN, app DSN, app role) for a database and role of this run's own, dropped afterwards."""
    base = (
        os.environ.get("ALLIANCEKIT_BENCH_PG_DSN") or os.environ.get("ALLIANCEKIT_TEST_PG_DSN") or DEFAULT_DSN
    )
    token = secrets.token_hex(4)
    database, role = f"alliancekit_bench_{token}", f"alliancekit_bench_{token}_app"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        admin = _dsn(base, database)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
        yield admin, _dsn(base, database, role), role
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _session(i: int) -> Session:
    return Session(
        held_on=_DAY + timedelta(days=i),
        modality=Modality.IN_PERSON,
        attendance=Attendance.ATTENDED,
        helpful="the breathing exercise",
        not_helpful="",
    )


def _plugins() -> PluginHost:
    """The builtins and the PostgreSQL plugin, even where autoloading entry points is switched off."""
    return make_plugin_host(load_entry_points=True, allow=["postgres"])


def _p50_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# ------------------------------------------------------------------------------------- record_session


def _record_session_vs_raw(app: str) -> dict[str, float]:
    location = f"{app}?clinic={CLINIC}&pool_max=2"
    actor = Actor("bench-clinician", Role.CLINICIAN, CLINIC)
    raw = psycopg.connect(app, autocommit=True)
    raw.execute("CREATE SCHEMA raw_bench")
    raw.execute("CREATE TABLE raw_bench.raw_insert (id bigserial PRIMARY KEY, payload jsonb NOT NULL)")
    payload = '{"note": "' + "x" * 280 + '"}'
    with open_practice(location, plugins=_plugins()) as practice:
        episodes = [active_episode(practice, actor) for _ in range(ROUNDS // 50 + 1)]
        raw_times, session_times = [], []
        # Where the time goes: the store's calls timed inside record_session (the rest is the core).
        append_times: list[float] = []
        load_times: list[float] = []
        store = practice.store
        append, load = store.append, store.load_snapshot

        def timed_append(commit: Any) -> None:
            t0 = time.perf_counter()
            append(commit)
            append_times.append(time.perf_counter() - t0)

        def timed_load(episode_id: str) -> Any:
            t0 = time.perf_counter()
            found = load(episode_id)
            load_times.append(time.perf_counter() - t0)
            return found

        store.append, store.load_snapshot = timed_append, timed_load  # type: ignore[method-assign]
        for i in range(WARMUP_COMMANDS + ROUNDS):  # the first WARMUP_COMMANDS rounds are not kept
            if i == WARMUP_COMMANDS:
                load_times.clear()
            t0 = time.perf_counter()
            raw.execute("INSERT INTO raw_bench.raw_insert (payload) VALUES (%s)", (payload,))
            raw_times.append(time.perf_counter() - t0)
            session = _session(i // len(episodes))
            t0 = time.perf_counter()
            practice.record_session(actor, episodes[i % len(episodes)], session)
            session_times.append(time.perf_counter() - t0)
    raw.close()
    del raw_times[:WARMUP_COMMANDS], session_times[:WARMUP_COMMANDS]
    raw_p50, session_p50 = _p50_us(raw_times), _p50_us(session_times)
    return {
        "raw_psycopg_durable_insert_p50_us": raw_p50,
        "record_session_p50_us": session_p50,
        "record_session_ratio": session_p50 / raw_p50,
        "store_append_p50_us": _p50_us(append_times[-ROUNDS:]),
        # The facade decides on the state it last wrote and reads the snapshot only after a conflict.
        "store_snapshot_reads_per_record_session": len(load_times) / ROUNDS,
        "layout: clinics, writers (record_session against raw insert)": 1.0,
    }


# ------------------------------------------------------------------------------------------ throughput


def _facade_writer(location: str, commands: int, start: Any, results: Any) -> None:
    """``record_session`` on this writer's own episodes: a warm-up, then ``commands`` timed ones."""
    try:
        actor = Actor(f"w-{os.getpid()}", Role.CLINICIAN, CLINIC)
        with open_practice(location, plugins=_plugins()) as practice:
            episodes = [active_episode(practice, actor) for _ in range(EPISODES_PER_WRITER)]
            for i in range(WARMUP_COMMANDS):
                practice.record_session(actor, episodes[i % len(episodes)], _session(0))
            start.wait()
            t0 = time.perf_counter()
            for i in range(commands):
                practice.record_session(actor, episodes[i % len(episodes)], _session(1 + i // 20))
            t1 = time.perf_counter()
        results.put((t0, t1))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put(f"{type(exc).__name__}: {exc}")


_SNAPSHOT = json.dumps(
    {"stage": "active", "sessions": [{"n": i, "scores": {"ors": 24.5}} for i in range(40)]}
)
_PAYLOAD = {
    "session_id": "s",
    "held_on": "2026-01-06",
    "modality": "in-person",
    "attendance": "attended",
    "helpful": "the breathing exercise",
    "administrations": [
        {"measure": m, "answers": [7.5, 8.0, 6.5, 9.0], "total": 31.0} for m in ("ors", "srs")
    ],
}


def _commits(writer: int, count: int, *, sharded: bool) -> list[Commit]:
    """``count`` commits of one session each, going round this writer's episodes, chained as the core does.

    ``sharded``: each audit entry goes to its episode's shard (the redesign); otherwise all to shard 0 (one
    head per clinic, as before it).
    """
    episodes = [f"w{writer:02d}-ep{j}" for j in range(EPISODES_PER_WRITER)]
    heads = dict.fromkeys(episodes, chain.GENESIS)
    versions = dict.fromkeys(episodes, 0)
    now = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    out = []
    for i in range(count):
        ep = episodes[i % len(episodes)]
        seq = versions[ep] + 1
        payload = json.dumps(_PAYLOAD, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        event = StoredEvent(
            ep, seq, f"{ep}-e{seq}", "session-recorded", 1, now, now, "clin", "clinician", CLINIC, payload
        )
        [event] = chain.chain_events([event], heads[ep])
        row = CaseloadRow(
            ep, CLINIC, "clin", f"ref-{ep}", "active", seq, _DAY, _DAY, seq, '{"ors":24.5}', 0, 6, False, None
        )
        audit = AuditRecord(
            f"{ep}-a{seq}", now, "clin", "clinician", CLINIC, "treatment", "record-session", "episode", ep,
            "allowed", client_ref=f"ref-{ep}", writes=f"{seq}:{event.hash}",
            shard=chain.shard_of(ep) if sharded else 0,
        )  # fmt: skip
        out.append(Commit(ep, seq - 1, [event], _SNAPSHOT, row, (), [audit], None, event.hash))
        heads[ep], versions[ep] = event.hash, seq
    return out


def _store_writer(
    app: str, schema: str, writer: int, commands: int, sharded: bool, start: Any, results: Any
) -> None:
    """The store's ``append`` alone, on commits built beforehand: a warm-up, then ``commands`` timed ones."""
    try:
        commits = _commits(writer, WARMUP_COMMANDS + commands, sharded=sharded)
        store = PostgresStore(app, clinic_id=CLINIC, schema=schema, pool_max=1)
        try:
            for commit in commits[:WARMUP_COMMANDS]:
                store.append(commit)
            start.wait()
            t0 = time.perf_counter()
            for commit in commits[WARMUP_COMMANDS:]:
                store.append(commit)
            t1 = time.perf_counter()
        finally:
            store.close()
        results.put((t0, t1))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put(f"{type(exc).__name__}: {exc}")


class _LockWaits:
    """Samples ``pg_stat_activity`` while the writers run: the share of active writer backends that are
    waiting for a lock (a row lock on an audit head, mostly). It does not depend on how much CPU the
    machine has to spare, unlike throughput: it says directly how much the writers queue on each other.
    """

    def __init__(self, app: str) -> None:
        self.app = app
        self.waiting = self.active = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _LockWaits:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        with psycopg.connect(self.app, autocommit=True) as conn:
            while not self._stop.wait(0.005):
                row = conn.execute(
                    "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active'"
                ).fetchone()
                if row is not None:
                    self.waiting += int(row[0])
                    self.active += int(row[1])

    @property
    def share(self) -> float:
        return self.waiting / self.active if self.active else 0.0


#: The lock-wait share of the last :func:`_timed` run (see :class:`_LockWaits`).
_last_lock_share = [0.0]


def _timed(
    processes: int, target: Callable[..., None], args: Callable[[int], tuple[Any, ...]], app: str
) -> float:
    """Commands/s of ``processes`` writers released together once all have warmed up.

    Each writer reports when its timed commands began and ended (``perf_counter`` is the system's monotonic
    clock, shared by processes); the rate is every writer's commands over first start to last end, so that
    starting and closing processes and pools is not counted.
    """
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [ctx.Process(target=target, args=(*args(n), start, results)) for n in range(processes)]
    for p in workers:
        p.start()
    with _LockWaits(app) as waits:
        start.wait(timeout=300)
        reports: list[Any] = [results.get(timeout=900) for _ in workers]
    _last_lock_share[0] = waits.share
    for p in workers:
        p.join()
    errors = [r for r in reports if isinstance(r, str)]
    if errors:
        raise RuntimeError(errors[0])
    seconds = float(max(end for _, end in reports) - min(begin for begin, _ in reports))
    return processes * WRITER_COMMANDS / seconds


def _scaling(app: str, only: tuple[str, ...] = ()) -> dict[str, float]:
    """One clinic's throughput with 1, 4, 8 and 16 writers, three ways, and each one's ratio to 1 writer."""
    figures: dict[str, float] = {}
    modes: dict[str, Callable[[int, int], float]] = {}

    def facade(processes: int, repeat: int) -> float:
        schema = f"facade_{processes}_{repeat}"
        location = f"{app}?clinic={CLINIC}&schema={schema}&pool_max=1"
        PostgresStore(app, clinic_id=CLINIC, schema=schema, pool_max=1).close()  # migrate before the race
        return _timed(processes, _facade_writer, lambda n: (location, WRITER_COMMANDS), app)

    def store(sharded: bool) -> Callable[[int, int], float]:
        def measure(processes: int, repeat: int) -> float:
            schema = f"store_{'sharded' if sharded else 'one_head'}_{processes}_{repeat}"
            PostgresStore(app, clinic_id=CLINIC, schema=schema, pool_max=1).close()
            return _timed(processes, _store_writer, lambda n: (app, schema, n, WRITER_COMMANDS, sharded), app)

        return measure

    modes["record_session"] = facade
    modes["store_append_sharded"] = store(True)
    modes["store_append_one_head"] = store(False)
    chosen = {mode: measure for mode, measure in modes.items() if not only or mode in only}
    rates: dict[tuple[str, int], list[float]] = {}
    lock_shares: dict[tuple[str, int], list[float]] = {}
    # Interleaved (every way and writer count once per repeat) so that load from elsewhere on the machine
    # spreads over all of them rather than landing on one.
    for repeat in range(REPEATS):
        for processes in WRITER_COUNTS:
            for mode, measure in chosen.items():
                rates.setdefault((mode, processes), []).append(measure(processes, repeat))
                lock_shares.setdefault((mode, processes), []).append(_last_lock_share[0])
    for mode in chosen:
        one = statistics.median(rates[mode, 1])
        for processes in WRITER_COUNTS:
            rate = statistics.median(rates[mode, processes])
            figures[f"{mode}_{processes}_writers_commands_per_s"] = rate
            figures[f"{mode}_{processes}_writers_ratio_to_1"] = rate / one
            figures[f"{mode}_{processes}_writers_lock_wait_share"] = statistics.median(
                lock_shares[mode, processes]
            )
    return figures


# ------------------------------------------------------------------------------------------- caseload


def _load_episodes(admin: str, schema: str) -> None:
    """100,000 caseload rows with COPY (as the superuser: COPY FROM does not run under row-level security)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        columns = sql.SQL(
            "(clinic_id, episode_id, version, state, clinician_id, client_ref, stage, opened_on,"
            " last_session_on, sessions_attended, latest_scores, open_alerts, next_review_at, review_due,"
            " closed_on, open_alerts_json)"
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {}.episodes {} FROM STDIN").format(sql.Identifier(schema), columns)
            ) as copy,
        ):
            per_clinic = EPISODES // CLINICS
            for n in range(EPISODES):
                clinic = f"clinic-{n // per_clinic:03d}"
                clinician = f"clin-{n % CLINICIANS:02d}"
                closed = n % 3 != 0
                opened = _DAY - timedelta(days=n % 700)
                copy.write_row(
                    (
                        clinic,
                        f"ep-{n:07d}",
                        20,
                        '{"stage": "active"}',
                        clinician,
                        f"client-{n}",
                        "closed" if closed else "active",
                        opened,
                        opened + timedelta(days=60),
                        12,
                        '{"ors":24.5,"srs":37.0}',
                        n % 4,
                        18,
                        False,
                        opened + timedelta(days=90) if closed else None,
                        "[]",
                    )
                )
        conn.execute(sql.SQL("ANALYZE {}.episodes").format(sql.Identifier(schema)))


def _caseload(admin: str, app: str) -> dict[str, float]:
    schema = "caseload_bench"
    location = f"{app}?clinic=clinic-007&schema={schema}&pool_max=1"
    with open_practice(location, plugins=_plugins()) as practice:  # creates the schema
        t0 = time.perf_counter()
        _load_episodes(admin, schema)
        load_seconds = time.perf_counter() - t0
        actor = Actor("clin-03", Role.CLINICIAN, "clinic-007")
        supervisor = Actor("supervisor", Role.SUPERVISOR, "clinic-007")  # reads the whole clinic's list
        for _ in range(WARMUP_COMMANDS):  # unmeasured: plans, caches
            practice.caseload(actor, clinician_id="clin-03")
            practice.caseload(supervisor)
        mine, clinic = [], []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            rows = practice.caseload(actor, clinician_id="clin-03")
            mine.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            everyone = practice.caseload(supervisor)
            clinic.append(time.perf_counter() - t0)
        assert len(rows) == 33, len(rows)
        assert len(everyone) == 667, len(everyone)
    return {
        "caseload_episodes_in_table": float(EPISODES),
        "caseload_load_100k_rows_s": load_seconds,
        "caseload_clinician_open_p50_us": _p50_us(mine),
        "caseload_clinic_open_p50_us": _p50_us(clinic),
    }


def run() -> dict[str, float]:
    with _scratch_database() as (admin, app, _role):
        figures = _record_session_vs_raw(app)
        figures.update(_scaling(app))
        figures.update(_caseload(admin, app))
    return figures


def run_scaling(only: tuple[str, ...] = ()) -> dict[str, float]:
    with _scratch_database() as (_admin, app, _role):
        return _scaling(app, only)


def _print_scaling(figures: dict[str, float]) -> None:
    """The throughput figures side by side: one line per writer count, commands/s, the ratio to 1 writer and
    the share of active writers waiting for a lock."""
    modes = sorted({name.split("_1_writers")[0] for name in figures if "_1_writers_commands" in name})
    print(f"{'writers':>8s}" + "".join(f"{mode:>32s}" for mode in modes))
    for processes in WRITER_COUNTS:
        cells = []
        for mode in modes:
            rate = figures.get(f"{mode}_{processes}_writers_commands_per_s")
            ratio = figures.get(f"{mode}_{processes}_writers_ratio_to_1")
            waits = figures.get(f"{mode}_{processes}_writers_lock_wait_share", 0.0)
            cells.append(
                "-" if rate is None or ratio is None else f"{rate:,.0f}/s {ratio:.2f}x {waits:.0%} lock"
            )
        print(f"{processes:>8d}" + "".join(f"{cell:>32s}" for cell in cells))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    results = run_scaling(tuple(sys.argv[2:])) if sys.argv[1:2] == ["scaling"] else run()
    for name, value in results.items():
        print(f"{name:50s} {value:12.2f}")
    _print_scaling(results)
