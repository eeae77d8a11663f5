"""PostgreSQL store benchmark: ``record_session`` against a raw durable insert, writer throughput, caseload.

Figures, all from one run on one machine against a real server (``ALLIANCEKIT_BENCH_PG_DSN``, else
``ALLIANCEKIT_TEST_PG_DSN``, else the local server; a superuser DSN: the run creates a database and an
ordinary role of its own and drops both at the end):

* ``record_session`` p50 through the public facade on the PostgreSQL store, and a raw psycopg durable
  single-row insert (autocommit, ``synchronous_commit=on``, a ~300-byte JSONB payload) by the same role on
  the same server, interleaved so that noise hits both alike; their ratio (target ≤ 2.0);
* throughput of 1, 4 and 8 writer processes, each recording sessions on its own episode;
* caseload query p50 with 100,000 episodes in the table (50 clinics, 20 clinicians each, 100 episodes a
  clinician, about a third open), loaded with ``COPY``: one clinician's open caseload, and a whole clinic's.

Run: ``python benchmarks/bench_postgres.py`` (or ``tox -e bench``). Needs ``alliancekit-postgres``.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from alliancekit import open_practice
from alliancekit.domain import Actor, Attendance, Modality, Role, Session
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.testing.concurrency import active_episode

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
ROUNDS = 400
WRITER_COMMANDS = 300
EPISODES = 100_000
CLINICS, CLINICIANS = 50, 20
CLINIC = "bench-clinic"

_DAY = date(2026, 1, 6)


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
        for i in range(ROUNDS):
            t0 = time.perf_counter()
            raw.execute("INSERT INTO raw_bench.raw_insert (payload) VALUES (%s)", (payload,))
            raw_times.append(time.perf_counter() - t0)
            session = _session(i // len(episodes))
            t0 = time.perf_counter()
            practice.record_session(actor, episodes[i % len(episodes)], session)
            session_times.append(time.perf_counter() - t0)
    raw.close()
    raw_p50, session_p50 = _p50_us(raw_times), _p50_us(session_times)
    return {
        "raw_psycopg_durable_insert_p50_us": raw_p50,
        "record_session_p50_us": session_p50,
        "record_session_ratio": session_p50 / raw_p50,
        "store_append_p50_us": _p50_us(append_times[-ROUNDS:]),
        # The facade decides on the state it last wrote and reads the snapshot only after a conflict.
        "store_snapshot_reads_per_record_session": len(load_times) / ROUNDS,
    }


# ------------------------------------------------------------------------------------------ throughput


def _writer(location: str, commands: int, start: Any, results: Any) -> None:
    try:
        actor = Actor(f"w-{os.getpid()}", Role.CLINICIAN, CLINIC)
        with open_practice(location, plugins=_plugins()) as practice:
            ep = active_episode(practice, actor)
            start.wait()
            for i in range(commands):
                practice.record_session(actor, ep, _session(i // 5))
        results.put(None)
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put(f"{type(exc).__name__}: {exc}")


def _throughput(app: str, processes: int) -> float:
    location = f"{app}?clinic={CLINIC}&pool_max=1"
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [
        ctx.Process(target=_writer, args=(location, WRITER_COMMANDS, start, results))
        for _ in range(processes)
    ]
    for p in workers:
        p.start()
    start.wait(timeout=120)
    t0 = time.perf_counter()
    errors = [e for e in (results.get(timeout=600) for _ in workers) if e is not None]
    seconds = time.perf_counter() - t0
    for p in workers:
        p.join()
    if errors:
        raise RuntimeError(errors[0])
    return processes * WRITER_COMMANDS / seconds


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
        for processes in (1, 4, 8):
            figures[f"throughput_{processes}_writers_commands_per_s"] = _throughput(app, processes)
        figures.update(_caseload(admin, app))
    return figures


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name, value in run().items():
        print(f"{name:50s} {value:12.2f}")
