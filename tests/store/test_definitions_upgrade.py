"""A SQLite store upgraded to keep measure definitions records those of the measures still registered, once,
at the first writable open of a practice; a new store records only what its administrations use."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

from alliancekit import Actor, Role, open_practice
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import DEFINITIONS_FROM

DAY = date(2026, 3, 2)
PLUGINS = make_plugin_host(load_entry_points=False)
ACTOR = Actor("clin-1", Role.CLINICIAN, "clinic-a")


def _older_store_with_an_episode(path: Path) -> None:
    with open_practice(path, plugins=PLUGINS) as practice:
        practice.start_episode(ACTOR, client_ref="ref-1", clinician_id="clin-1", opened_on=DAY)
    with sqlite3.connect(path) as conn:  # back to the schema before definitions were kept
        conn.execute("DROP TABLE measure_definitions")
        conn.execute("DROP INDEX outbox_waits")  # and migration 8's outbox column
        conn.execute("ALTER TABLE outbox DROP COLUMN wait_began_at")
        conn.execute("DROP INDEX outbox_leases")  # and migration 9's
        conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
        conn.execute(f"PRAGMA user_version = {DEFINITIONS_FROM - 1}")


def test_an_upgraded_store_records_the_registered_definitions_once(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _older_store_with_an_episode(path)
    store = SQLiteStore(path)  # the migration alone: marked, nothing recorded yet
    assert store.measure_definitions() == []
    assert store.load_meta("measure-definitions-backfill") == '"pending"'
    store.close()
    with open_practice(path, plugins=PLUGINS) as practice:
        registered = sorted(practice.plugins.measures())
        assert [(m.id, m.version) for m in practice.measure_definitions(ACTOR)] == registered
    store = SQLiteStore(path)
    assert store.load_meta("measure-definitions-backfill") == '"done"'
    store.close()


def test_a_new_store_records_only_what_administrations_use(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with open_practice(path, plugins=PLUGINS) as practice:
        practice.start_episode(ACTOR, client_ref="ref-1", clinician_id="clin-1", opened_on=DAY)
    with open_practice(path, plugins=PLUGINS) as practice:
        assert practice.measure_definitions(ACTOR) == []
    store = SQLiteStore(path)
    assert store.load_meta("measure-definitions-backfill") is None
    store.close()
