"""Databases written by older alliancekits (fixtures in old_stores/, made by make_old_store.py with the commit
each file names) open, migrate and verify with this one: snapshots of every older shape are compared with
the fold as their upcasters bring them to the current shape, not misread."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, FitDecision, FitOutcome, Role
from alliancekit.events.codec import SNAPSHOT_VERSION
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.store.definitions import BACKFILL_ACTION, BACKFILL_KEY
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION
from alliancekit.store.structure import SchemaFound

from .conftest import HOST

OLD_STORES = Path(__file__).parent / "old_stores"
CLINIC = "demo-clinic"  # the demo's, which made the fixtures
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
#: (fixture, schema version, snapshot shape) as the older alliancekit left them.
FIXTURES = [
    ("v1-shape1-f218494", 1, 1),
    ("v2-shape2-11b3d3e", 2, 2),
    ("v2-shape3-b8a705e", 2, 3),
]


def _restore(name: str, target: Path) -> Path:
    conn = sqlite3.connect(target)
    conn.executescript(gzip.decompress((OLD_STORES / f"{name}.sql.gz").read_bytes()).decode())
    conn.close()
    return target


def _verify(path: Path) -> IntegrityReport:
    """Verify the file as ``alliancekit verify`` does: read-only, through the facade."""
    with Practice(SQLiteStore(path, read_only=True), plugins=HOST) as practice:
        return practice.verify(ADMIN)


def _shapes_and_version(path: Path) -> tuple[set[int], int]:
    """The snapshot shapes the file holds and its schema version, read without alliancekit."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT state FROM episodes").fetchall()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
    finally:
        conn.close()
    return {json.loads(state).get("_v", 1) for (state,) in rows}, version


@pytest.mark.parametrize(("name", "version", "shape"), FIXTURES)
def test_an_older_database_migrates_verifies_and_takes_new_commands(
    tmp_path: Path, name: str, version: int, shape: int
) -> None:
    path = _restore(name, tmp_path / "old.sqlite")
    assert _shapes_and_version(path) == ({shape}, version)
    SQLiteStore(path).close()  # a writable open migrates; the snapshots stay as they were written
    assert _shapes_and_version(path) == ({shape if shape > 1 else 2}, LATEST_VERSION)
    report = _verify(path)
    assert report.ok, report.describe()
    assert report.episodes == 2
    # migrated, not yet opened by a practice: no definition stored, the administrations' counted, not found
    assert report.definitions == 0
    assert report.definitions_missing >= 1
    with Practice(SQLiteStore(path), plugins=HOST) as practice:
        (row,) = practice.caseload(SUPERVISOR)
        assert row.population is None  # opened before an episode could name one: the default norms
        clinician = Actor(row.clinician_id, Role.CLINICIAN, CLINIC)
        alerts = practice.alerts(clinician, row.episode_id)
        assert alerts
        assert all(a.participant is None for a in alerts.values())  # the identified client's
        # the directive in force, not the lifted one
        assert [d["classes"] for d in json.loads(row.lockbox_json).values()] == [["sessions"]]
        # the next command on the episode writes its snapshot in the current shape
        practice.acknowledge_alert(clinician, row.episode_id, next(iter(alerts)), on=row.last_session_on)
    assert SNAPSHOT_VERSION in _shapes_and_version(path)[0]
    report = _verify(path)
    assert report.ok, report.describe()
    # the practice recorded the registered measures' definitions: every administration's is now stored
    assert (report.definitions, report.definitions_missing) == (len(HOST.measures()), 0)


@pytest.mark.parametrize(("name", "shape"), [(n, s) for n, v, s in FIXTURES if v >= 2])
def test_an_older_database_verifies_read_only_as_it_is(tmp_path: Path, name: str, shape: int) -> None:
    path = _restore(name, tmp_path / "old.sqlite")
    before = path.read_bytes()
    report = _verify(path)
    assert report.ok, report.describe()
    assert path.read_bytes() == before  # read, never migrated
    # its schema predates stored definitions: none to check, the administrations' only counted
    assert (report.definitions, report.findings) == (0, ())
    assert report.definitions_missing >= 1
    assert _shapes_and_version(path)[0] == {shape}
    # the upcast fills in only what the older shape could not hold: a changed snapshot is still found
    conn = sqlite3.connect(path)
    conn.execute("UPDATE episodes SET state = json_set(state, '$.sessions_attended', 99)")
    conn.commit()
    conn.close()
    report = _verify(path)
    assert not report.ok
    assert "snapshot differs" in report.describe()


#: Exports and shares audited by an alliancekit whose entries did not name a recipient (schema 9, made by
#: make_exports_store.py): one to hospital-x, one naming none, one refused.
EXPORTS = "v9-exports-9c40a8b"


def test_export_entries_from_before_recipients_verify_read_only_and_migrated(tmp_path: Path) -> None:
    path = _restore(EXPORTS, tmp_path / "old.sqlite")
    assert _shapes_and_version(path)[1] == 9
    before = path.read_bytes()
    report = _verify(path)  # read-only: the entries read as naming no recipient, as they were hashed
    assert report.ok, report.describe()
    assert path.read_bytes() == before
    SQLiteStore(path).close()  # a writable open migrates
    assert _shapes_and_version(path)[1] == LATEST_VERSION
    report = _verify(path)
    assert report.ok, report.describe()
    clinician = Actor("clin-1", Role.CLINICIAN, CLINIC)
    with Practice(SQLiteStore(path), plugins=HOST) as practice:
        old = [e for e in practice.audit_entries(ADMIN) if e.action.startswith("export")]
        assert sorted((e.action, e.outcome) for e in old) == [
            ("export", "allowed"),
            ("export-fhir", "allowed"),
            ("export-fhir", "refused"),
        ]
        assert {e.recipient for e in old} == {""}  # written before entries said to whom: as they were
        (episode,) = {e.record_id for e in old}
        practice.export_record(clinician, episode, recipient="hospital-x")
        (new,) = [
            e
            for e in practice.audit_entries(ADMIN)
            if e.action == "export-fhir" and e.entry_id not in {o.entry_id for o in old}
        ]
        assert new.recipient == "hospital-x"
    report = _verify(path)
    assert report.ok, report.describe()


#: A store an alliancekit of schema 10 upgraded to keep definitions (made by make_backfilled_store.py from
#: v2-shape3-b8a705e): its mark, "done", is in the metadata only, as every release before schema 11 left it.
BACKFILLED = "v10-backfilled-2ab21ee"


def test_a_backfill_mark_left_by_an_earlier_release_verifies_read_only_and_migrated(tmp_path: Path) -> None:
    path = _restore(BACKFILLED, tmp_path / "old.sqlite")
    assert _shapes_and_version(path)[1] == 10
    conn = sqlite3.connect(path)
    # the definitions of a measure whose plugin was gone when the backfill ran: the case the mark is for
    conn.execute("DELETE FROM measure_definitions WHERE measure_id = 'phq-9'")
    conn.commit()
    assert conn.execute("SELECT count(*) FROM audit WHERE action = ?", (BACKFILL_ACTION,)).fetchone() == (0,)
    conn.close()
    before = path.read_bytes()
    report = _verify(path)  # read-only: as the release that wrote it left it, the mark needs no entry
    assert report.ok, report.describe()
    assert report.definitions_missing == 1
    assert path.read_bytes() == before
    SQLiteStore(path).close()  # a writable open migrates: the mark found is recorded in the audit log
    assert _shapes_and_version(path)[1] == LATEST_VERSION
    conn = sqlite3.connect(path)
    entries = conn.execute(
        "SELECT clinic_id, record_type, record_id FROM audit WHERE action = ?", (BACKFILL_ACTION,)
    ).fetchall()
    conn.close()
    assert entries == [("(none)", "practice-meta", BACKFILL_KEY)]
    report = _verify(path)
    assert report.ok, report.describe()
    assert report.definitions_missing == 1  # counted, not a finding
    SQLiteStore(path).close()  # opened again: no second entry
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM audit WHERE action = ?", (BACKFILL_ACTION,)).fetchone() == (1,)
    conn.close()


@pytest.mark.parametrize(("name", "version", "shape"), FIXTURES)
def test_a_store_marked_by_its_migration_today_records_the_mark_in_the_audit_log(
    tmp_path: Path, name: str, version: int, shape: int
) -> None:
    path = _restore(name, tmp_path / "old.sqlite")
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    marks = conn.execute("SELECT count(*) FROM audit WHERE action = ?", (BACKFILL_ACTION,)).fetchone()
    (meta,) = conn.execute("SELECT value FROM practice_meta WHERE key = ?", (BACKFILL_KEY,)).fetchone()
    conn.close()
    assert (marks, meta) == ((1,), '"pending"')


#: Two clinics whose audit chains and checkpoints were shared in one file (schema 10, before chains per
#: clinic; made by make_shared_store.py), sealed with SHARED_KEY, its last entries not sealed yet.
SHARED = "v10-shared-chains-2ab21ee"
SHARED_KEY = b"shared-chains-fixture-key-" + b"s" * 6
NORTH, SOUTH = "north", "south"


def _verify_clinic(path: Path, clinic: str) -> IntegrityReport:
    with Practice(SQLiteStore(path, read_only=True), plugins=HOST, audit_key=SHARED_KEY) as practice:
        return practice.verify(Actor(f"adm-{clinic}", Role.ADMINISTRATOR, clinic))


def _sql(path: Path, statement: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def _new_entries(path: Path) -> None:
    """A command and a read in each clinic, with the fixture's key, sealing as it goes and on closing."""
    with Practice(SQLiteStore(path), plugins=HOST, audit_key=SHARED_KEY, checkpoint_every=4) as practice:
        for clinic in (NORTH, SOUTH):
            me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic)
            (row, *_) = practice.caseload(me)
            practice.episode(me, row.episode_id)
            practice.decide_fit(me, row.episode_id, FitDecision(FitOutcome.PROCEED, row.opened_on))


def test_shared_chains_upgrade_verify_and_new_entries_chain_per_clinic(tmp_path: Path) -> None:
    path = _restore(SHARED, tmp_path / "old.sqlite")
    for clinic in (NORTH, SOUTH):  # read-only, as it is: the shared chains checked whole, and sealed
        report = _verify_clinic(path, clinic)
        assert (report.ok, report.shared_audit, report.seals_checked) == (True, True, True), report.describe()
    entries = _sql(path, "SELECT * FROM audit ORDER BY rowid")
    checkpoints = _sql(path, "SELECT * FROM audit_checkpoints ORDER BY seq")
    SQLiteStore(path).close()  # a writable open migrates: the entries and checkpoints kept as they were
    assert _shapes_and_version(path)[1] == LATEST_VERSION
    assert _sql(path, "SELECT * FROM audit ORDER BY rowid") == [("", *row) for row in entries]
    assert _sql(path, "SELECT * FROM audit_checkpoints ORDER BY seq") == [("", *row) for row in checkpoints]
    for clinic in (NORTH, SOUTH):
        report = _verify_clinic(path, clinic)
        assert (report.ok, report.shared_audit, report.checkpoints) == (True, True, 2), report.describe()
    _new_entries(path)
    # new entries chain per clinic; the shared part is as it was, its unsealed tail sealed once
    assert _sql(path, "SELECT DISTINCT chain FROM audit ORDER BY chain") == [("",), (NORTH,), (SOUTH,)]
    assert _sql(path, "SELECT * FROM audit WHERE chain = '' ORDER BY rowid") == [("", *r) for r in entries]
    assert _sql(path, "SELECT count(*) FROM audit_checkpoints WHERE chain = ''") == [(3,)]
    for clinic in (NORTH, SOUTH):
        report = _verify_clinic(path, clinic)
        assert (report.ok, report.shared_audit) == (True, True), report.describe()
        assert "audit chains shared with other clinics, checked whole" in report.describe()
    # a tamper of a new south entry is south's finding only
    [(entry_id, shard, position)] = _sql(
        path, "SELECT entry_id, shard, position FROM audit WHERE chain = ? ORDER BY rowid LIMIT 1", (SOUTH,)
    )
    _sql(path, "UPDATE audit SET actor_id = 'x' WHERE entry_id = ?", (entry_id,))
    finding = _verify_clinic(path, SOUTH).finding("audit")
    assert finding is not None
    assert (finding.where, finding.problem) == (
        f"audit shard {shard} entry {position}",
        "content does not match its hash",
    )
    assert _verify_clinic(path, NORTH).ok


def test_a_shared_tail_cut_after_the_upgrade_is_found_by_its_last_seal(tmp_path: Path) -> None:
    """The tail the old file had not sealed is sealed by the first seal after the upgrade: cut afterwards,
    every clinic's report finds it."""
    path = _restore(SHARED, tmp_path / "old.sqlite")
    _new_entries(path)
    [(shard, last)] = _sql(
        path,
        "SELECT shard, max(position) FROM audit WHERE chain = '' GROUP BY shard ORDER BY 2 DESC, 1 LIMIT 1",
    )
    _sql(path, "DELETE FROM audit WHERE chain = '' AND shard = ? AND position = ?", (shard, last))
    for clinic in (NORTH, SOUTH):
        finding = _verify_clinic(path, clinic).finding("seals")
        assert finding is not None
        assert finding.where == f"shared audit shard {shard} entry {last}"


@pytest.mark.parametrize("clinic_of_entry", [NORTH, SOUTH])
def test_a_tamper_made_before_the_upgrade_is_still_found_in_every_report(
    tmp_path: Path, clinic_of_entry: str
) -> None:
    """An entry of the shared chains changed before the upgrade: the upgrade keeps it where it was, in
    the shared part every clinic's report checks whole, so neither the migration nor later writes in
    the clinics' own chains make it disappear."""
    path = _restore(SHARED, tmp_path / "old.sqlite")
    [(entry_id, shard, position)] = _sql(
        path,
        "SELECT entry_id, shard, position FROM audit WHERE clinic_id = ? ORDER BY shard, position LIMIT 1",
        (clinic_of_entry,),
    )
    _sql(path, "UPDATE audit SET actor_id = 'x' WHERE entry_id = ?", (entry_id,))
    for clinic in (NORTH, SOUTH):  # as it is, read-only: one set of chains, named as before
        finding = _verify_clinic(path, clinic).finding("audit")
        assert finding is not None
        assert finding.where == f"audit shard {shard} entry {position}"
    SQLiteStore(path).close()
    _new_entries(path)
    for clinic in (NORTH, SOUTH):
        report = _verify_clinic(path, clinic)
        finding = report.finding("audit")
        assert finding is not None, report.describe()
        assert (finding.where, finding.problem) == (
            f"shared audit shard {shard} entry {position}",
            "content does not match its hash",
        )


@pytest.mark.parametrize(
    "name",
    sorted(
        p.name.removesuffix(".sql.gz") for p in OLD_STORES.glob("*.sql.gz") if not p.name.startswith("v1-")
    ),
)
def test_every_older_database_states_the_version_its_structure_has(tmp_path: Path, name: str) -> None:
    """Each fixture, as an older alliancekit left it, reads and verifies as the version it states: its tables
    are that version's (no ``schema`` finding), and the report shows that version. (v1 is never read
    read-only: it must migrate first.)"""
    path = _restore(name, tmp_path / "old.sqlite")
    version = _shapes_and_version(path)[1]
    assert version == int(name.split("-")[0][1:])  # the fixture's name says the version it was made at
    store = SQLiteStore(path, read_only=True)
    try:
        assert store.schema_found() == SchemaFound(version, version)
        assert store.schema_version() == version
    finally:
        store.close()
    report = _verify(path)
    assert report.finding("schema") is None, report.describe()
    assert report.schema_version == version
    assert f"; schema version {version}" in report.describe()
