"""Verification through the facade and the CLI (ported from the single-chain audit tests)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.domain import (
    Actor,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.errors import AccessDenied, ValidationError
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION

from .conftest import ADMIN, CLINIC, DAY, KEY, T0, Record, clinician, verify_path


@attrs.frozen
class _Setup:
    practice: Practice
    episode_id: str


def active_episode(practice: Practice) -> _Setup:
    """An episode with a consultation, a fit decision, goals and a session, and an audited read."""
    me = clinician(1)
    ep = practice.start_episode(me, client_ref="client-1", clinician_id=me.id, opened_on=DAY)
    consent = Consent(treatment=True, measures=True)
    practice.record_consultation(me, ep, Consultation(held_on=DAY, modality=Modality.VIDEO, consent=consent))
    practice.decide_fit(me, ep, FitDecision(FitOutcome.PROCEED, DAY))
    practice.agree_goals(me, ep, [GoalDraft("sleep", ("diary",))], agreed_on=DAY)
    session = Session(held_on=DAY, modality=Modality.VIDEO, attendance=Attendance.ATTENDED)
    practice.record_session(me, ep, session)
    practice.timeline(me, ep)
    return _Setup(practice, ep)


def actor(kind: str) -> Actor:
    supervisor = Actor("sup-1", Role.SUPERVISOR, CLINIC)
    return {"admin": ADMIN, "clin_own": clinician(1), "supervisor": supervisor}[kind]


def test_practice_verify_audit_with_an_outside_anchor() -> None:
    setup = active_episode(Practice(MemoryStore(), audit_key=KEY, clock=lambda: T0))
    p = setup.practice
    admin = actor("admin")
    anchor = p.audit_checkpoint(admin)
    assert anchor is not None
    assert p.verify_audit(admin, expected_head=anchor).ok
    p.timeline(actor("clin_own"), setup.episode_id)
    assert p.verify_audit(admin, expected_head=anchor).ok  # entries after the anchor are fine
    # Cut one shard back below the anchor, and every checkpoint: only the anchor shows it.
    store = p.store
    assert isinstance(store, MemoryStore)
    head = anchor.heads[0]
    store._audit[:] = [r for r in store._audit if r.shard != head.shard or r.position < head.position]
    store._checkpoints.clear()
    report = p.verify_audit(admin, expected_head=anchor)
    finding = report.finding("seals")
    assert finding is not None
    assert finding.where == f"audit shard {head.shard} entry {head.position}"
    with pytest.raises(ValidationError):
        p.verify_audit(admin, expected_head=b"x")  # type: ignore[arg-type]


def test_memory_and_sqlite_stores_hash_alike(tmp_path: Path) -> None:
    def counter() -> object:
        count = iter(range(10**6))
        return lambda kind: f"{kind}-{next(count)}"

    a = active_episode(Practice(MemoryStore(), ids=counter(), clock=lambda: T0))
    b = active_episode(Practice(SQLiteStore(tmp_path / "x.sqlite"), ids=counter(), clock=lambda: T0))
    stores = (a.practice.store, b.practice.store)
    assert next([r.hash for r in s.audit_records()] for s in stores) == [
        r.hash for r in stores[1].audit_records()
    ]
    assert [e.hash for e in stores[0].load_events(a.episode_id)] == [
        e.hash for e in stores[1].load_events(b.episode_id)
    ]
    assert a.practice.verify_audit(actor("admin")).ok
    assert b.practice.verify_audit(actor("admin")).ok


def test_a_call_without_an_actor_is_audited_as_anonymous() -> None:
    setup = active_episode(Practice(MemoryStore()))
    before = set(setup.practice.store.audit_records())
    with pytest.raises(AccessDenied):
        setup.practice.episode(None, setup.episode_id)  # type: ignore[arg-type]
    [entry] = [r for r in setup.practice.store.audit_records() if r not in before]
    assert (entry.actor_id, entry.outcome, entry.record_id) == ("(none)", "refused", setup.episode_id)


def test_cli_audit_verify_passes_then_names_the_first_bad_entry(
    record: Record, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    assert main(["audit", "verify", "--db", str(record.path), "--key-file", str(key_file)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clinic north: record ok:")
    assert "seals verified" in out
    ep = record.episodes["ep1"]
    copy = tmp_path / "tampered.sqlite"
    shutil.copy(record.path, copy)
    with closing(sqlite3.connect(copy)) as conn, conn:
        conn.execute("UPDATE events SET actor_id = 'x' WHERE episode_id = ? AND seq = 2", (ep,))
    assert main(["audit", "verify", "--db", str(copy), "--key-file", str(key_file)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("clinic north: record broken: events")
    assert f"events: episode {ep} event 2: content does not match its hash" in out


def test_cli_audit_verify_with_a_key_but_nothing_sealed_claims_no_seal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "unsealed.sqlite"
    active_episode(Practice(SQLiteStore(path))).practice.close()  # no audit key: no checkpoints
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    argv = ["audit", "verify", "--db", str(path), "--key-file", str(key_file)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("clinic north: record ok:")
    assert out.rstrip().endswith(f"0 checkpoints; no seals yet; schema version {LATEST_VERSION}")
    assert main([*argv, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    [report] = result["reports"]
    assert (result["ok"], report["ok"]) == (True, True)
    assert (report["checkpoints"], report["seals_checked"]) == (0, False)
    assert report["clinic"] == "north"


def test_cli_audit_show_filters(record: Record, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "show", "--db", str(record.path), "--client", "client-1", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert entries
    assert {e["client_ref"] for e in entries} == {"client-1"}
    assert main(["audit", "show", "--db", str(record.path), "--actor", "nobody"]) == 0
    assert "0 entries" in capsys.readouterr().out
    store = SQLiteStore(record.path)
    last = max(store.audit_records(), key=lambda e: e.at)
    store.close()
    assert (last.action, last.actor_role) == ("read-audit", "administrator")  # the show itself was audited


def test_cli_audit_verify_passes_on_the_demo_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clinic ")
    assert ": record ok:" in out
    assert "record broken" not in out
    assert verify_path(db, key=None).ok


def test_concurrent_practices_on_one_file_keep_every_shard_a_chain(tmp_path: Path) -> None:
    path = tmp_path / "busy.sqlite"
    setup = active_episode(Practice(SQLiteStore(path), audit_key=KEY, checkpoint_every=10))
    setup.practice.close()
    errors: list[BaseException] = []

    def reader() -> None:
        practice = Practice(SQLiteStore(path), audit_key=KEY, checkpoint_every=10)
        try:
            for _ in range(25):
                practice.episode(actor("clin_own"), setup.episode_id)
                practice.timeline(actor("supervisor"), setup.episode_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            practice.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = verify_path(path)
    assert report.ok, report.describe()
    assert report.audit_entries >= 200
    # Sealers that race may find a seal already covering their entries and write none, so the count of
    # checkpoints varies; what must hold is that, every practice closed, the last seal covers every entry.
    assert report.checkpoints >= 1
    store = SQLiteStore(path, read_only=True)
    try:
        assert store.audit_checkpoints()[-1].heads == tuple(store.audit_heads())
    finally:
        store.close()
