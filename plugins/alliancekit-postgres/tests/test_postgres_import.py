"""Importing into PostgreSQL when the server goes away mid-import: the import stops with the store's error,
not a row the library refused, and a second run resumes and writes nothing twice."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from alliancekit_postgres import PostgresStore

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import StoreError
from alliancekit.imports.csv_source import CsvSource
from alliancekit.imports.mapping import load_mapping
from alliancekit.imports.writer import ImportProgress, run_import
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


def _terminate_app_backends(admin: psycopg.Connection[tuple[object, ...]], role: str) -> int:
    """Terminate the role's backends and wait for each to end (the server going away under the store)."""
    row = admin.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_stat_activity"
        " WHERE usename = %s",
        (role,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_a_connection_lost_mid_import_stops_it_with_the_store_error(pg, admin, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the importer took the store's failure for the library refusing the next unit: it
    # reported "row 3, record_session: StoreError (refused by the library)" and told the user to fix the file.
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    source = tmp_path / "history.csv"
    source.write_text("Client,Date,PHQ9\n" + "".join(",".join(r) + "\n" for r in ROWS), encoding="utf-8")
    host = make_plugin_host(load_entry_points=False)
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    terminated: list[int] = []

    def after_a_batch(progress: ImportProgress) -> None:
        if not terminated:  # once, after the first batch is committed and checkpointed
            terminated.append(_terminate_app_backends(admin, pg.app_role))

    try:
        practice = Practice(store, plugins=host)
        with pytest.raises(StoreError):
            run_import(
                practice,
                CsvSource(source, load_mapping(mapping), host.measures()),
                clinic_id=CLINIC,
                source_id="history.csv",
                batch_size=1,
                progress=after_a_batch,
            )
        assert terminated == [1]
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
