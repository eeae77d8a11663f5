"""Older SQLite databases migrate to the latest version, and their record then verifies; a read-only open
reads a version-2 database as it is (migration 3 only added the practice metadata)."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from alliancekit import Practice
from alliancekit.integrity import chain
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import APPLICATION_ID, LATEST_VERSION, MIGRATIONS

from .conftest import (
    ADMIN,
    BEFORE_CLINIC_CHAINS,
    CLINIC,
    DAY,
    HOST,
    KEY,
    build_record,
    clinician,
    practice_on,
    verify_path,
)

_V1_EVENTS = (
    "episode_id, seq, event_id, type, schema_version, occurred_at, recorded_at, actor_id, actor_role,"
    " clinic_id, corrects, payload"
)
_V1_AUDIT = (
    "entry_id, at, actor_id, actor_role, clinic_id, purpose, action, record_type, record_id, outcome,"
    " client_ref, detail"
)


def _as_version_1(source: Path, target: Path) -> None:
    """``target``: the rows of ``source`` as alliancekit 1 would have stored them (schema version 1)."""
    old = sqlite3.connect(target, isolation_level=None)
    old.executescript(MIGRATIONS[0])
    old.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    old.execute("PRAGMA user_version = 1")
    old.execute("ATTACH DATABASE ? AS new", (str(source),))
    old.execute(f"INSERT INTO events SELECT {_V1_EVENTS} FROM new.events")  # noqa: S608
    columns = [r[1] for r in old.execute("PRAGMA table_info(episodes)")]
    old.execute(f"INSERT INTO episodes SELECT {', '.join(columns)} FROM new.episodes")  # noqa: S608
    # Version-1 snapshots had no lockbox in the state and no shape marker.
    old.execute("UPDATE episodes SET state = json_remove(state, '$._v', '$.lockbox')")
    old.execute("INSERT INTO commands SELECT key, episode_id, version FROM new.commands")
    # One chain in write order, hashed the old way (the migration re-links it).
    old.execute(
        f"INSERT INTO audit (seq, {_V1_AUDIT}, prev_hash, hash)"  # noqa: S608
        f" SELECT row_number() OVER (ORDER BY at, shard, position), {_V1_AUDIT}, '', '' FROM new.audit"
    )
    old.execute("DETACH DATABASE new")
    old.close()


def test_a_version_1_database_migrates_and_verifies(tmp_path: Path) -> None:
    source = tmp_path / "v2.sqlite"
    episodes = build_record(source)
    with practice_on(source) as practice:  # a client's directive, which version 1 kept in events only
        practice.set_lockbox(clinician(1), episodes["ep1"], scope="class", classes=["sessions"], on=DAY)
    path = tmp_path / "v1.sqlite"
    _as_version_1(source, path)
    store = SQLiteStore(path)  # migrates
    assert store.schema_version() == LATEST_VERSION
    events = store.load_events(episodes["ep1"])
    assert events[0].prev_hash == chain.GENESIS
    assert all(e.hash for e in events)
    snapshot = store.load_snapshot(episodes["ep1"])
    assert snapshot is not None
    assert snapshot.head == events[-1].hash
    (row,) = [r for r in store.caseload(open_only=False) if r.episode_id == episodes["ep1"]]
    assert '"classes":["sessions"]' in row.lockbox_json  # the projection knows the directive again
    assert '"_v":2' in snapshot.state_json.replace(" ", "")
    adopted = [a for a in store.audit_records() if a.action == "migrate-schema"]
    assert sorted(a.record_id for a in adopted) == sorted(episodes.values())
    store.close()
    report = verify_path(path)
    assert report.ok, report.describe()
    assert not report.checkpoints  # version-1 seals are kept aside, not verified
    # The migrated database takes new writes, seals and still verifies.
    practice = practice_on(path, audit_key=KEY, checkpoint_every=3)
    practice.episode(clinician(1), episodes["ep1"])
    practice.audit_checkpoint(ADMIN)
    practice.close()
    assert verify_path(path).ok
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert {"audit_checkpoints_v1", "commands"} <= tables


def _as_version_2(source: Path, target: Path) -> None:
    """``target``: ``source`` as alliancekit stored it at schema version 2 (before practice metadata)."""
    shutil.copyfile(source, target)
    conn = sqlite3.connect(target, isolation_level=None)
    conn.execute("DROP TABLE practice_meta")
    conn.execute("DROP TABLE administration_requests")
    conn.execute("DROP TABLE kiosk_failures")
    conn.execute("ALTER TABLE episodes DROP COLUMN missed_measures")
    conn.execute("DROP TABLE measure_definitions")
    conn.execute("DROP INDEX outbox_waits")  # and migration 8's outbox column
    conn.execute("ALTER TABLE outbox DROP COLUMN wait_began_at")
    conn.execute("DROP INDEX outbox_leases")  # and migration 9's
    conn.execute("ALTER TABLE outbox DROP COLUMN lease_began_at")
    conn.execute("DROP INDEX episodes_under_lockbox")  # and migration 7's
    conn.executescript(BEFORE_CLINIC_CHAINS)  # and migration 13's, 12's and 10's
    conn.execute("DROP INDEX episodes_closed_outcomes")
    conn.execute("ALTER TABLE episodes DROP COLUMN population")
    conn.execute("ALTER TABLE audit DROP COLUMN recipient")
    conn.execute("PRAGMA user_version = 2")
    conn.close()


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def test_a_version_2_database_is_read_as_it_is_by_a_read_only_open(tmp_path: Path) -> None:
    source = tmp_path / "v3.sqlite"
    episodes = build_record(source)
    path = tmp_path / "v2.sqlite"
    _as_version_2(source, path)
    before = path.read_bytes()
    store = SQLiteStore(path, read_only=True)
    with Practice(store, plugins=HOST, audit_key=KEY) as practice:
        assert store.schema_version() == 2
        assert store.load_meta("demo") is None  # no metadata table yet: absent, not an error
        assert practice.is_demo() is False
        assert practice.expectations.fit.fitted_at is None  # the norms stand in
        assert practice.clinics() == [CLINIC]
        report = practice.verify(ADMIN)
        assert report.ok, report.describe()
        assert report.episodes == len(episodes)
    assert path.read_bytes() == before
    assert "practice_meta" not in _tables(path)


def test_a_version_2_database_migrates_and_keeps_its_record(tmp_path: Path) -> None:
    source = tmp_path / "v3.sqlite"
    episodes = build_record(source)
    path = tmp_path / "v2.sqlite"
    _as_version_2(source, path)
    store = SQLiteStore(path)  # migrates
    assert store.schema_version() == LATEST_VERSION
    assert store.load_meta("demo") is None
    store.save_meta("demo", '{"demo": true}')
    assert store.load_meta("demo") == '{"demo": true}'
    assert sorted(store.episode_ids()) == sorted(episodes.values())
    store.close()
    assert "practice_meta" in _tables(path)
    report = verify_path(path)
    assert report.ok, report.describe()
