"""Verification walks the audit log once, as a store streams it, without holding it: the same report as
from the whole list, page boundaries of the SQLite store's stream included."""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit.integrity.verify import IntegrityReport, verify_record
from alliancekit.store import sqlite
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .conftest import KEY, Record


def _no_episodes(_: object) -> Any:
    raise AssertionError("no episode to fold or project")


def _entries(record: Record) -> tuple[list[AuditRecord], SQLiteStore]:
    store = SQLiteStore(record.path, read_only=True)
    return sorted(store.audit_records(), key=lambda r: (r.shard, r.position)), store


def _audit_only(store: SQLiteStore, audit: Any) -> IntegrityReport:
    """The audit entries, references and seals checked (no episodes: every write claim names a missing
    episode, which shows the claims were read)."""
    checkpoints = store.audit_checkpoints()
    return verify_record([], audit, checkpoints, key=KEY, fold=_no_episodes, project=_no_episodes)


def test_a_one_shot_stream_of_entries_is_verified_as_the_list_is(record: Record) -> None:
    entries, store = _entries(record)
    listed = _audit_only(store, entries)
    assert listed.audit_entries == len(entries)
    assert listed.seals_checked
    assert listed.finding("references") is not None  # the claims were read
    assert {f.check for f in listed.findings} == {"references"}
    assert _audit_only(store, iter(entries)) == listed
    assert _audit_only(store, tuple(reversed(entries))) == listed  # a list is put in order first
    store.close()


def test_a_stream_out_of_position_order_is_an_entry_out_of_place(record: Record) -> None:
    entries, store = _entries(record)
    shard = min(r.shard for r in entries if r.position == 3)
    at = next(i for i, r in enumerate(entries) if (r.shard, r.position) == (shard, 2))
    entries[at], entries[at + 1] = entries[at + 1], entries[at]  # positions 3, then 2
    report = _audit_only(store, iter(entries))
    finding = report.finding("audit")
    assert finding is not None, report.describe()
    assert (finding.where, finding.problem) == (
        f"audit shard {shard} entry 2",
        "entry out of place (deleted, inserted or moved)",
    )
    assert _audit_only(store, entries).finding("audit") is None  # the list, sorted, is in order
    store.close()


@pytest.mark.parametrize("extra", [-1, 0, 1])
def test_the_sqlite_stream_pages_at_their_boundaries(
    record: Record, monkeypatch: pytest.MonkeyPatch, extra: int
) -> None:
    entries, store = _entries(record)
    # pages of one entry fewer than the log, exactly the log (then an empty page), and one more
    monkeypatch.setattr(sqlite, "_AUDIT_PAGE_ROWS", len(entries) + extra)
    assert list(store.iter_audit_records()) == entries
    monkeypatch.setattr(sqlite, "_AUDIT_PAGE_ROWS", 1)
    assert list(store.iter_audit_records()) == entries
    store.close()


def test_an_unreadable_entry_on_a_later_page_makes_the_whole_log_unreadable(
    record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite, "_AUDIT_PAGE_ROWS", 2)
    # a break on the first page, then a row that cannot be read on the last: the log is unreadable, and
    # nothing read of it before that row counts (as when the whole list could not be read)
    record.sql("UPDATE audit SET hash = ? WHERE rowid = (SELECT min(rowid) FROM audit)", ("f" * 64,))
    record.sql(
        "UPDATE audit SET at = ? WHERE rowid = (SELECT rowid FROM audit ORDER BY shard DESC, position DESC"
        " LIMIT 1)",
        ("not-a-time",),
    )
    report = record.verify()
    finding = report.finding("audit")
    assert finding is not None, report.describe()
    assert (report.audit_entries, report.shared_audit) == (0, False)
    assert finding.where.startswith("audit row shard ")  # the row that cannot be read, by its place
    assert report.finding("references") is None


@pytest.mark.parametrize("page", [1, 2, 3])
def test_a_duplicated_position_is_not_skipped_at_a_page_edge(
    record: Record, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """A tamperer who rebuilds the table without its UNIQUE (shard, position) can add a second entry at a
    position; however the pages fall, the stream yields it, and verification finds it out of place."""
    entries, store = _entries(record)
    store.close()
    first = entries[0]
    record.sql("CREATE TABLE audit_loose AS SELECT * FROM audit")
    record.sql("DROP TABLE audit")
    record.sql("ALTER TABLE audit_loose RENAME TO audit")
    record.sql(  # an exact copy of the shard's first entry, after every other row
        "INSERT INTO audit SELECT * FROM audit WHERE shard = ? AND position = 1", (first.shard,)
    )
    monkeypatch.setattr(sqlite, "_AUDIT_PAGE_ROWS", page)
    store = SQLiteStore(record.path, read_only=True)
    streamed = list(store.iter_audit_records())
    store.close()
    assert len(streamed) == len(entries) + 1
    report = record.verify()
    finding = report.finding("audit")
    assert finding is not None, report.describe()
    assert finding.problem == "entry out of place (deleted, inserted or moved)"
