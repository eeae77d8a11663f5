"""The audit log's hash chain and checkpoints: every tampering found, at the right position."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.security.audit_chain import GENESIS, entry_hash, link, make_checkpoint, verify
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .helpers import KEY, active_episode, actor

N = 1000
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _entry(i: int) -> AuditRecord:
    return AuditRecord(
        entry_id=f"entry-{i:04d}",
        at=T0 + timedelta(minutes=i),
        actor_id=f"clin-{i % 7}",
        actor_role="clinician",
        clinic_id="c1",
        purpose="treatment",
        action="read-timeline" if i % 3 else "record-session",
        record_type="episode",
        record_id=f"ep-{i % 50:03d}",
        outcome="allowed",
        client_ref=f"client-{i % 50}",
    )


@pytest.fixture(scope="module")
def log() -> tuple[list[AuditRecord], list[AuditCheckpoint]]:
    """1,000 chained entries, sealed every 100 entries (the last seal at the end)."""
    records = link((_entry(i) for i in range(1, N + 1)), None)
    checkpoints: list[AuditCheckpoint] = []
    for position in range(100, N + 1, 100):
        head = (position, records[position - 1].hash)
        checkpoints.append(make_checkpoint(KEY, head, checkpoints[-1] if checkpoints else None, T0))
    return records, checkpoints


def test_the_untouched_log_verifies(log: tuple[list[AuditRecord], list[AuditCheckpoint]]) -> None:
    records, checkpoints = log
    assert records[0].prev_hash == GENESIS
    result = verify(records, checkpoints, KEY)
    assert result.ok, result.describe()
    assert (result.entries, result.checkpoints, result.checkpoints_checked) == (N, 10, True)


def test_changing_any_entry_is_found_there(log: tuple[list[AuditRecord], list[AuditCheckpoint]]) -> None:
    records, checkpoints = log
    fields = ("actor_id", "outcome", "record_id", "client_ref", "purpose", "action")
    for i in range(N):
        tampered = list(records)
        field = fields[i % len(fields)]
        tampered[i] = attrs.evolve(records[i], **{field: "tampered"})
        result = verify(tampered, checkpoints, KEY)
        assert result.first_bad == i + 1, (i, field, result)


def test_deleting_any_entry_is_found_there(log: tuple[list[AuditRecord], list[AuditCheckpoint]]) -> None:
    records, checkpoints = log
    for i in range(N):
        result = verify(records[:i] + records[i + 1 :], checkpoints, KEY)
        assert result.first_bad == i + 1, (i, result)


def test_reordering_any_entry_is_found_there(log: tuple[list[AuditRecord], list[AuditCheckpoint]]) -> None:
    records, checkpoints = log
    for i in range(N - 1):
        tampered = list(records)
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
        result = verify(tampered, checkpoints, KEY)
        assert result.first_bad == i + 1, (i, result)


def test_inserting_before_any_entry_is_found_there(
    log: tuple[list[AuditRecord], list[AuditCheckpoint]],
) -> None:
    records, checkpoints = log
    for i in range(N + 1):
        forged = attrs.evolve(_entry(5000 + i), position=i + 1, prev_hash="f" * 64, hash="e" * 64)
        result = verify([*records[:i], forged, *records[i:]], checkpoints, KEY)
        assert result.first_bad == i + 1, (i, result)


def test_a_well_forged_insertion_breaks_the_chain_right_after_it(
    log: tuple[list[AuditRecord], list[AuditCheckpoint]],
) -> None:
    records, checkpoints = log
    for i in (0, 1, 499, 999):
        prev = records[i - 1].hash if i else GENESIS
        forged = attrs.evolve(_entry(9000), position=i + 1, prev_hash=prev)
        forged = attrs.evolve(forged, hash=entry_hash(forged, i + 1, prev))
        result = verify([*records[:i], forged, *records[i:]], checkpoints, KEY)
        assert result.first_bad == i + 2, (i, result)


def test_a_rewritten_chain_is_caught_by_the_next_checkpoint(
    log: tuple[list[AuditRecord], list[AuditCheckpoint]],
) -> None:
    records, checkpoints = log
    changed = [*records[:449], attrs.evolve(records[449], outcome="refused"), *records[450:]]
    relinked = link(changed[449:], (449, records[448].hash))
    result = verify(records[:449] + relinked, checkpoints, KEY)
    assert result.first_bad == 500  # the first checkpoint after the change
    assert "checkpoint" in result.problem


def test_cutting_the_tail_is_found_at_the_first_missing_entry(
    log: tuple[list[AuditRecord], list[AuditCheckpoint]],
) -> None:
    records, checkpoints = log
    for keep in range(N):
        result = verify(records[:keep], checkpoints, KEY)
        assert result.first_bad == keep + 1, (keep, result)
        assert not verify(records[:keep], checkpoints, None).ok  # even without the key


def test_a_forged_checkpoint_is_refused(log: tuple[list[AuditRecord], list[AuditCheckpoint]]) -> None:
    records, checkpoints = log
    # cut the tail back to 700 and seal it with a made-up key: the seal does not verify
    forged = make_checkpoint(b"x" * 32, (700, records[699].hash), checkpoints[5], T0)
    result = verify(records[:700], [*checkpoints[:6], forged], KEY)
    assert not result.ok
    assert "seal" in result.problem


def test_cutting_tail_and_checkpoints_needs_the_expected_head(
    log: tuple[list[AuditRecord], list[AuditCheckpoint]],
) -> None:
    records, checkpoints = log
    assert verify(records[:700], checkpoints[:7], KEY).ok  # indistinguishable without outside help
    result = verify(records[:700], checkpoints[:7], KEY, expected_head=checkpoints[-1])
    assert result.first_bad == 701


def _tampered_copy(src: Path, dst: Path, sql: str, *params: object) -> Path:
    shutil.copy(src, dst)
    with sqlite3.connect(dst) as conn:
        conn.execute(sql, params)
    return dst


@pytest.fixture
def sealed_db(tmp_path: Path) -> Path:
    path = tmp_path / "clinic.sqlite"
    setup = active_episode(Practice(SQLiteStore(path), audit_key=KEY, checkpoint_every=5))
    p = setup.practice
    for _ in range(5):
        p.timeline(actor("clin_own"), setup.episode_id)
    p.close()  # seals the tail
    return path


def test_practice_chains_in_the_store_transaction_and_seals_on_close(sealed_db: Path) -> None:
    store = SQLiteStore(sealed_db)
    records, checkpoints = store.audit_records(), store.audit_checkpoints()
    assert [r.position for r in records] == list(range(1, len(records) + 1))
    assert checkpoints[-1].position == len(records)
    assert len(checkpoints) >= 3  # every 5 entries, and on close
    assert verify(records, checkpoints, KEY).ok
    store.close()


def test_memory_and_sqlite_stores_chain_alike(tmp_path: Path) -> None:
    a = active_episode(Practice(MemoryStore(), ids=_counter()))
    b = active_episode(Practice(SQLiteStore(tmp_path / "x.sqlite"), ids=_counter()))
    hashes = [[r.hash for r in s.practice.store.audit_records()] for s in (a, b)]
    assert verify(a.practice.store.audit_records()).ok
    assert len(hashes[0]) == len(hashes[1]) > 5


def _counter() -> object:
    count = iter(range(10**6))
    return lambda kind: f"{kind}-{next(count)}"


def test_cli_audit_verify_passes_then_fails_on_a_tampered_copy(
    sealed_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    assert main(["audit", "verify", "--db", str(sealed_db), "--key-file", str(key_file)]) == 0
    assert "audit log ok" in capsys.readouterr().out
    cases = {
        "change": ("UPDATE audit SET outcome = 'allowed' WHERE seq = ?", 3),
        "delete": ("DELETE FROM audit WHERE seq = ?", 3),
        "cut": ("DELETE FROM audit WHERE seq >= ?", 3),
    }
    for name, (sql, position) in cases.items():
        copy = _tampered_copy(sealed_db, tmp_path / f"{name}.sqlite", sql, position)
        if name == "change":
            with sqlite3.connect(copy) as conn:
                conn.execute("UPDATE audit SET actor_id = 'someone-else' WHERE seq = 3")
        code = main(["audit", "verify", "--db", str(copy), "--key-file", str(key_file)])
        out = capsys.readouterr().out
        assert code == 1, name
        assert "broken at entry 3" in out, (name, out)


def test_cli_audit_show_filters(sealed_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["audit", "show", "--db", str(sealed_db), "--client", "client-1", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries
    assert {e["client_ref"] for e in entries} == {"client-1"}
    assert main(["audit", "show", "--db", str(sealed_db), "--actor", "nobody"]) == 0
    assert "0 entries" in capsys.readouterr().out
    assert main(["audit", "show", "--db", str(sealed_db), "--since", "2999-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    # the show itself was audited
    last = SQLiteStore(sealed_db).audit_records()[-1]
    assert (last.action, last.actor_role) == ("read-audit", "administrator")


def test_cli_audit_verify_passes_on_the_demo_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--quiet"]) == 0
    assert main(["audit", "verify", "--db", str(db)]) == 0
    assert "audit log ok" in capsys.readouterr().out
    copy = _tampered_copy(db, tmp_path / "t.sqlite", "DELETE FROM audit WHERE seq = ?", 10)
    assert main(["audit", "verify", "--db", str(copy)]) == 1
    assert "broken at entry 10" in capsys.readouterr().out


def test_concurrent_writers_keep_one_chain(tmp_path: Path) -> None:
    """Threads with their own practices on one file: the chain is linked under the write lock."""
    import threading

    path = tmp_path / "busy.sqlite"
    setup = active_episode(Practice(SQLiteStore(path)))
    errors: list[BaseException] = []

    def reader() -> None:
        practice = Practice(SQLiteStore(path))
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
    records = SQLiteStore(path).audit_records()
    assert len(records) >= 200
    assert verify(records).ok


def test_practice_verify_audit_with_an_outside_anchor() -> None:
    setup = active_episode(Practice(MemoryStore(), audit_key=KEY))
    p = setup.practice
    anchor = p.audit_checkpoint(actor("admin"))
    assert anchor is not None
    assert p.verify_audit(actor("admin"), expected_head=anchor).ok
    p.timeline(actor("clin_own"), setup.episode_id)
    assert p.verify_audit(actor("admin"), expected_head=anchor).ok  # entries after the anchor are fine
    # cut the tail and the checkpoints back to before the anchor: only the anchor shows it
    store = p.store
    assert isinstance(store, MemoryStore)
    store._audit[:] = store._audit[: anchor.position - 2]
    store._checkpoints.clear()
    result = p.verify_audit(actor("admin"), expected_head=anchor)
    assert result.first_bad == anchor.position - 1
    assert p.verify_audit(actor("admin")).ok  # without the anchor the cut log looks whole


def test_a_call_without_an_actor_is_audited_as_anonymous() -> None:
    setup = active_episode()
    from alliancekit.errors import AccessDenied

    with pytest.raises(AccessDenied):
        setup.practice.episode(None, setup.episode_id)  # type: ignore[arg-type]
    last = setup.practice.store.audit_records()[-1]
    assert (last.actor_id, last.outcome, last.record_id) == ("(none)", "refused", setup.episode_id)
