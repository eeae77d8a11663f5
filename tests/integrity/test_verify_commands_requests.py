"""The idempotency records and the administration requests, tampered with on a real SQLite file: ``verify``
checks each of the clinic's rows (``commands``, ``requests``), names the first bad one by command and
position or by request id, never by key, token, code or client, and the CLI's JSON says so."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Attendance, Modality, Role, Session
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.concurrency import active_episode

from .conftest import HOST, KEY, verify_path

CLINIC = "north"
ME = Actor("clin-1", Role.CLINICIAN, CLINIC)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: The idempotency key: a host may derive one from what it knows, so no report may carry it.
IDEMPOTENCY_KEY = "client-jane-doe-session-1"


@pytest.fixture(scope="module")
def _pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("commands") / "record.sqlite"
    ticks = iter(range(10**9))
    with Practice(
        SQLiteStore(path), plugins=HOST, audit_key=KEY, clock=lambda: T0 + timedelta(seconds=next(ticks))
    ) as practice:
        ep = active_episode(practice, ME)
        session = Session(held_on=date(2026, 2, 2), modality=Modality.VIDEO, attendance=Attendance.ATTENDED)
        practice.record_session(ME, ep, session, idempotency_key=IDEMPOTENCY_KEY)
        practice.request_administration(ME, ep, measure="phq-9")
        practice.kiosk_code(ME, ep, measure="gad-7")
    return path


def _store(path: Path) -> Any:
    from alliancekit.store.sqlite import SQLiteStore

    return SQLiteStore(path)


@pytest.fixture
def db(_pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(_pristine, copy)
    return copy


def _sql(path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        cur = conn.execute(statement, params)
        rows = cur.fetchall()
        assert statement.startswith("SELECT") or cur.rowcount >= 1, "the change must change something"
        return rows
    finally:
        conn.close()


def _only(report: IntegrityReport, check: str) -> tuple[str, str]:
    assert [f.check for f in report.findings] == [check], report.describe()
    finding = report.findings[0]
    assert IDEMPOTENCY_KEY not in report.describe()
    return finding.where, finding.problem


def test_the_untouched_rows_verify_and_are_counted(db: Path) -> None:
    report = verify_path(db)
    assert report.ok, report.describe()
    assert (report.commands, report.requests) == (1, 2)
    assert "1 idempotency records, 2 administration requests" in report.describe()


def test_a_command_naming_an_episode_the_record_does_not_hold_is_found(db: Path) -> None:
    _sql(db, "UPDATE commands SET episode_id = 'not-an-episode'")
    assert _only(verify_path(db), "commands") == (
        "command record-session record 1",
        "names an episode the clinic's record does not hold",
    )


def test_a_command_version_is_checked_at_both_ends_of_the_stream(db: Path) -> None:
    [(episode, length)] = _sql(db, "SELECT episode_id, max(seq) FROM events GROUP BY episode_id")
    _sql(db, "UPDATE commands SET version = ?", (length,))
    assert verify_path(db).ok  # the stream's last version: held
    _sql(db, "UPDATE commands SET version = ?", (length + 1,))
    where, problem = _only(verify_path(db), "commands")
    assert problem == f"names a version the episode's stream does not reach (it holds {length})"
    _sql(db, "UPDATE commands SET version = 1")
    assert verify_path(db).ok
    _sql(db, "UPDATE commands SET version = 0")
    assert _only(verify_path(db), "commands")[1].startswith("names a version")
    _sql(db, "UPDATE commands SET version = 'three'")  # SQLite keeps what it is given: no number
    where, problem = _only(verify_path(db), "commands")
    assert where == "commands row command record-session of clinic north"
    assert problem.startswith("a value in it is not of its column's type (or is NULL where one is needed)")
    assert episode not in where


def test_a_command_whose_request_hash_is_not_a_digest_is_found(db: Path) -> None:
    _sql(db, "UPDATE commands SET request_hash = upper(request_hash)")
    assert _only(verify_path(db), "commands")[1] == "its request is not bound by a SHA-256 digest"


def test_a_command_moved_to_another_clinic_is_that_clinics_finding(db: Path) -> None:
    _sql(db, "UPDATE commands SET clinic_id = 'south'")
    mine = verify_path(db)
    assert mine.ok, mine.describe()
    assert mine.commands == 0
    with Practice(SQLiteStore(db, read_only=True), plugins=HOST, audit_key=KEY) as practice:
        theirs = practice.verify(Actor("adm-s", Role.ADMINISTRATOR, "south"))
    assert theirs.commands == 1
    finding = theirs.finding("commands")
    assert finding is not None
    assert finding.problem == "names an episode the clinic's record does not hold"


def _store_read_only(path: Path) -> Any:
    from alliancekit.store.sqlite import SQLiteStore

    return SQLiteStore(path, read_only=True)


MICROSECOND = 1


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            "SET token_hash = 'the-token-itself' WHERE code_hash IS NULL",
            "its token_hash is not a SHA-256 digest",
        ),
        ("SET code_hash = 'ABCD2345' WHERE code_hash IS NOT NULL", "its code_hash is not a SHA-256 digest"),
        ("SET episode_id = 'not-an-episode' WHERE code_hash IS NULL", "names an episode the clinic's record"),
        ("SET expires_at = created_at WHERE code_hash IS NULL", "expires before it was made"),
        ("SET remind_at = expires_at WHERE remind_at IS NOT NULL", "its reminder is not between"),
        ("SET remind_at = created_at WHERE remind_at IS NOT NULL", "its reminder is not between"),
        (
            "SET used_at = created_at, revoked_at = created_at WHERE code_hash IS NULL",
            "it is both used and revoked",
        ),
        ("SET used_at = expires_at WHERE code_hash IS NULL", "used at or after its expiry"),
        ("SET used_at = created_at WHERE code_hash IS NOT NULL", "used without a token"),
        ("SET token_hash = NULL WHERE code_hash IS NULL", "it has neither a token hash nor a code hash"),
    ],
)
def test_a_tampered_request_is_found(db: Path, change: str, problem: str) -> None:
    _sql(db, f"UPDATE administration_requests {change}")
    where, found = _only(verify_path(db), "requests")
    assert found.startswith(problem)
    (request_id,) = where.removeprefix("request ").split()
    assert _sql(db, "SELECT 1 FROM administration_requests WHERE request_id = ?", (request_id,))


def test_request_times_at_their_boundaries_verify(db: Path) -> None:
    """One microsecond inside each bound is sound: the expiry after the making, the reminder between them,
    the use before the expiry."""
    _sql(db, "UPDATE administration_requests SET expires_at = created_at + 2 WHERE remind_at IS NOT NULL")
    _sql(db, "UPDATE administration_requests SET remind_at = created_at + 1 WHERE remind_at IS NOT NULL")
    _sql(db, "UPDATE administration_requests SET used_at = expires_at - 1 WHERE remind_at IS NOT NULL")
    report = verify_path(db)
    assert report.ok, report.describe()


def test_the_cli_json_names_the_checks(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _sql(db, "UPDATE administration_requests SET token_hash = 'the-token-itself' WHERE code_hash IS NULL")
    assert main(["verify", "--db", str(db), "--json"]) == 1
    out = capsys.readouterr().out
    assert "the-token-itself" not in out
    assert IDEMPOTENCY_KEY not in out
    (report,) = json.loads(out)["reports"]
    assert (report["commands"], report["requests"]) == (1, 2)
    assert [f["check"] for f in report["findings"]] == ["requests"]


def test_the_memory_store_rows_are_checked_too() -> None:
    """The memory store lists its idempotency records and requests (it listed none: verify was blind to
    them there): counted when sound, and a record changed behind the store's back is a finding."""
    store = MemoryStore()
    ticks = iter(range(10**9))
    practice = Practice(store, plugins=HOST, clock=lambda: T0 + timedelta(seconds=next(ticks)))
    ep = active_episode(practice, ME)
    session = Session(held_on=date(2026, 2, 2), modality=Modality.VIDEO, attendance=Attendance.ATTENDED)
    practice.record_session(ME, ep, session, idempotency_key=IDEMPOTENCY_KEY)
    practice.request_administration(ME, ep, measure="phq-9")
    practice.kiosk_code(ME, ep, measure="gad-7")
    admin = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
    report = practice.verify(admin)
    assert report.ok, report.describe()
    assert (report.commands, report.requests) == (1, 2)
    [key] = store._commands
    store._commands[key] = attrs.evolve(store._commands[key], version=99)
    where, problem = _only(practice.verify(admin), "commands")
    assert (where, problem.startswith("names a version the episode's stream does not reach")) == (
        "command record-session record 1",
        True,
    )
