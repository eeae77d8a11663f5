"""Importing into PostgreSQL when the server goes away mid-import (the import stops with the store's error,
not a row the library refused, and a second run resumes and writes nothing twice), and two imports of one
file at once (both finish, nothing written twice)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import StoreError
from alliancekit.imports.csv_source import CsvSource
from alliancekit.imports.mapping import load_mapping
from alliancekit.imports.writer import ImportProgress, ImportResult, run_import
from alliancekit.plugins.manager import make_plugin_host

CLINIC = "clinic-a"
MAPPING = """
[source]
date_formats = ["%Y-%m-%d"]

[columns]
client = "Client"
session_date = "Date"

[defaults]
clinician = "clin-a"
modality = "video"

[[measures]]
measure = "phq-9"
timing = "start"
total = "PHQ9"
"""
ROWS = [("c-1", "2024-01-10", "12"), ("c-1", "2024-01-17", "10"), ("c-2", "2024-01-11", "15")]


def _terminate_backend(admin: psycopg.Connection[tuple[object, ...]], store: PostgresStore) -> bool:
    """End the backend of the store's one pooled connection and wait for it to be gone (the server going
    away under the store)."""
    with store._connection() as conn:
        pid = conn.info.backend_pid
    row = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
    assert row is not None
    return bool(row[0])


def _files(tmp_path: Path) -> tuple[Path, Path]:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    source = tmp_path / "history.csv"
    source.write_text("Client,Date,PHQ9\n" + "".join(",".join(r) + "\n" for r in ROWS), encoding="utf-8")
    return mapping, source


def _waiting_for_a_lock(admin: psycopg.Connection[tuple[object, ...]], role: str) -> None:
    """Return once a backend of ``role`` waits for a lock (polled: no assertion on how long it takes)."""
    query = "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        row = admin.execute(query, (role,)).fetchone()
        if row is not None and row[0] > 0:
            return
        time.sleep(0.02)
    raise AssertionError("the second import never waited to commit")


def test_two_imports_of_one_file_at_once_both_finish_writing_nothing_twice(pg, admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the import whose batch lost the race stopped with exit 2 and "episode <id>: expected
    # version 0, found 5", the ConflictError of its batch's commit. The race is made certain here: the first
    # import holds the clinic's writers' lock (PostgresStore.exclusive) while the second decides its batch
    # and waits to commit it, then writes the whole file before letting it go on.
    mapping, source = _files(tmp_path)
    host = make_plugin_host(load_entry_points=False)
    schema = pg.new_schema()
    first = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    second = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    results: dict[str, object] = {}

    def run(name: str, practice: Practice) -> None:
        try:
            results[name] = run_import(
                practice,
                CsvSource(source, load_mapping(mapping), host.measures()),
                clinic_id=CLINIC,
                source_id="history.csv",
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[name] = exc

    try:
        one, two = Practice(first, plugins=host), Practice(second, plugins=host)
        racer = threading.Thread(target=run, args=("second", two))
        with first.exclusive():
            racer.start()
            _waiting_for_a_lock(admin, pg.app_role)  # the second decided its batch, and waits to commit it
            run("first", one)
        racer.join(60)
        assert not racer.is_alive()
        for name in ("first", "second"):
            result = results[name]
            assert isinstance(result, ImportResult), repr(result)
            assert (result.errors, result.checkpoint) == ((), 4)
        supervisor = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
        rows = one.caseload(supervisor, include_closed=True)
        assert sorted((r.client_ref, r.sessions_attended) for r in rows) == [("c-1", 2), ("c-2", 1)]
        # each episode's events once: opened, consultation, fit decision, then one per session
        assert sorted(len(first.load_events(r.episode_id)) for r in rows) == [4, 5]
    finally:
        first.close()
        second.close()


def test_a_store_failing_mid_import_stops_it_with_the_store_error(pg, admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the importer took the store's failure for the library refusing the next unit: with the
    # PostgreSQL connection lost it reported "row 1799, record_session: StoreError (refused by the library)",
    # exit 1, and told the user to fix the file. Here an operator's REVOKE makes the store fail.
    mapping, source = _files(tmp_path)
    host = make_plugin_host(load_entry_points=False)
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    commands = sql.Identifier(schema, "commands")
    revoked: list[bool] = []

    def after_a_batch(progress: ImportProgress) -> None:
        if not revoked:  # once, after the first batch is committed and checkpointed
            admin.execute(
                sql.SQL("REVOKE SELECT ON {} FROM {}").format(commands, sql.Identifier(pg.app_role))
            )
            revoked.append(True)

    try:
        practice = Practice(store, plugins=host)
        with pytest.raises(StoreError) as caught:
            run_import(
                practice,
                CsvSource(source, load_mapping(mapping), host.measures()),
                clinic_id=CLINIC,
                source_id="history.csv",
                batch_size=1,
                progress=after_a_batch,
            )
        assert "InsufficientPrivilege (42501)" in str(caught.value)
        admin.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(commands, sql.Identifier(pg.app_role)))
        again = run_import(
            practice,
            CsvSource(source, load_mapping(mapping), host.measures()),
            clinic_id=CLINIC,
            source_id="history.csv",
            batch_size=1,
        )
        assert again.errors == ()
        assert (again.skipped, again.written, again.checkpoint) == (1, 2, 4)
        supervisor = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
        rows = practice.caseload(supervisor, include_closed=True)
        assert sorted((r.client_ref, r.sessions_attended) for r in rows) == [("c-1", 2), ("c-2", 1)]
    finally:
        store.close()


def test_an_import_goes_on_after_the_server_ended_its_connection(pg, admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # The store sends a read again once on another connection when the server ended the one it used (a
    # restart, a terminated backend): the import's next batch starts with reads, so it goes on.
    mapping, source = _files(tmp_path)
    host = make_plugin_host(load_entry_points=False)
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    terminated: list[bool] = []

    def after_a_batch(progress: ImportProgress) -> None:
        if not terminated:  # once, after the first batch is committed and checkpointed
            terminated.append(_terminate_backend(admin, store))

    try:
        practice = Practice(store, plugins=host)
        result = run_import(
            practice,
            CsvSource(source, load_mapping(mapping), host.measures()),
            clinic_id=CLINIC,
            source_id="history.csv",
            batch_size=1,
            progress=after_a_batch,
        )
        assert terminated == [True]
        assert (result.errors, result.written, result.checkpoint) == ((), 3, 4)
    finally:
        store.close()
