"""The recipient an export's audit entry names is hashed with the entry, only when there is one: entries
without it (all those written before it existed) hash exactly as they did, an edited, emptied or added
recipient is found by verify, and a SQLite file from before the column verifies, read-only and migrated."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from alliancekit.integrity import chain
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import AUDIT_RECIPIENT_FROM, LATEST_VERSION

from .conftest import (
    ADMIN,
    BEFORE_CLINIC_CHAINS,
    KEY,
    Record,
    build_record,
    clinician,
    practice_on,
    verify_path,
)

ENTRY = AuditRecord(
    entry_id="e-1",
    at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    actor_id="clin-1",
    actor_role="clinician",
    clinic_id="north",
    purpose="treatment",
    action="export-fhir",
    record_type="episode",
    record_id="ep-1",
    outcome="allowed",
    client_ref="client-1",
    shard=3,
)


def _parts(r: AuditRecord, position: int, prev: str) -> tuple[str, ...]:
    """The sixteen fields an entry was hashed over before the recipient, in their order."""
    return (
        str(r.shard), str(position), prev, r.entry_id, r.at.isoformat(), r.actor_id, r.actor_role,
        r.clinic_id, r.purpose, r.action, r.record_type, r.record_id, r.outcome, r.client_ref, r.detail,
        r.writes,
    )  # fmt: skip


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _encoded(parts: tuple[str, ...]) -> str:
    return "".join(f"{len(p)}:{p};" for p in parts)


def test_an_entry_without_a_recipient_hashes_as_before() -> None:
    assert chain.entry_hash(ENTRY, 7, chain.GENESIS) == _sha(_encoded(_parts(ENTRY, 7, chain.GENESIS)))


def test_the_recipient_is_hashed_after_the_other_fields_by_name_and_value() -> None:
    named = attrs.evolve(ENTRY, recipient="hospital-x")
    expected = _sha(_encoded(_parts(ENTRY, 7, chain.GENESIS)) + "9:recipient;10:hospital-x;")
    assert chain.entry_hash(named, 7, chain.GENESIS) == expected
    hashes = {
        chain.entry_hash(attrs.evolve(ENTRY, recipient=to), 7, chain.GENESIS)
        for to in ("", "hospital-x", "hospital-y", "(unnamed)")
    }
    assert len(hashes) == 4


def test_link_keeps_the_recipient() -> None:
    (linked,) = chain.link([attrs.evolve(ENTRY, recipient="hospital-x")], None)
    assert linked.recipient == "hospital-x"
    assert linked.hash == chain.entry_hash(linked, 1, chain.GENESIS)


def _export(record: Record, recipient: str | None) -> AuditRecord:
    """Clinician 1 exports their episode (``recipient`` named or not); its entry as stored."""
    ep = record.episodes["ep1"]
    with practice_on(record.path, audit_key=KEY) as p:
        p.export_record(clinician(1), ep, recipient=recipient)
    store = SQLiteStore(record.path, read_only=True)
    try:
        return [a for a in store.audit_records() if a.action == "export-fhir" and a.record_id == ep][-1]
    finally:
        store.close()


def _finding(record: Record) -> str:
    report = record.verify()
    finding = report.finding("audit")
    assert finding is not None, report.describe()
    assert not report.ok
    return str(finding.where)


@pytest.mark.parametrize(("named", "edited"), [("hospital-x", "hospital-y"), ("hospital-x", ""), (None, "")])
def test_an_edited_recipient_is_found(record: Record, named: str | None, edited: str) -> None:
    entry = _export(record, named)
    assert entry.recipient == (named or "(unnamed)")
    assert record.verify().ok
    record.sql("UPDATE audit SET recipient = ? WHERE entry_id = ?", (edited, entry.entry_id))
    assert _finding(record) == f"audit shard {entry.shard} entry {entry.position}"


def test_a_recipient_added_to_an_entry_that_named_none_is_found(record: Record) -> None:
    (shard, position, entry_id) = record.sql(
        "SELECT shard, position, entry_id FROM audit WHERE recipient = '' ORDER BY rowid LIMIT 1"
    )[0]
    record.sql("UPDATE audit SET recipient = 'hospital-x' WHERE entry_id = ?", (entry_id,))
    assert _finding(record) == f"audit shard {shard} entry {position}"


def _as_before_the_column(path: Path) -> None:
    """The file as the migration before the column left it: no recipient column, nor the later versions'
    population column and chains per clinic, the version one lower."""
    conn = sqlite3.connect(path)
    conn.executescript(BEFORE_CLINIC_CHAINS)
    conn.execute("DROP INDEX episodes_closed_outcomes")
    conn.execute("ALTER TABLE episodes DROP COLUMN population")
    conn.execute("ALTER TABLE audit DROP COLUMN recipient")
    conn.execute(f"PRAGMA user_version = {AUDIT_RECIPIENT_FROM - 1}")
    conn.commit()
    conn.close()


def test_a_file_from_before_the_column_verifies_read_only_and_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    episodes = build_record(path)  # commands and reads only: no entry names a recipient
    _as_before_the_column(path)
    before = path.read_bytes()
    report = verify_path(path)  # read-only: every entry read as naming none, as it was hashed
    assert report.ok, report.describe()
    assert path.read_bytes() == before  # read, never migrated
    with practice_on(path, audit_key=KEY) as p:  # a writable open migrates
        assert p.verify(ADMIN).ok
        p.export_record(clinician(1), episodes["ep1"], recipient="hospital-x")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        named = conn.execute("SELECT recipient FROM audit WHERE recipient <> ''").fetchall()
    finally:
        conn.close()
    assert named == [("hospital-x",)]
    report = verify_path(path)
    assert report.ok, report.describe()
