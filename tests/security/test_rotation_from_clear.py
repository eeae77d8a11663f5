"""A key rotation that encrypts free text written before encryption was turned on, and verification.

An event's hash covers its canonical payload, where a ciphertext is reduced to its prefix (so that rotating a
key leaves hashes alone). Text written in clear was hashed as it is: once a rotation encrypted it, the event
no longer matched its hash, and ``verify`` (the API's, and the CLI's, which holds no key) reported a tamper
that never happened. The rotation now attests, in the event's clinic's audit log and in the same transaction
as the rewrite, the digest the event hashes to once encrypted; verification accepts that digest, and only
that one, for that event. On SQLite files (and the memory store, where noted).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.errors import AlliancekitError
from alliancekit.integrity.chain import REHASH_ACTION, REHASH_RECORD, event_hash
from alliancekit.security.encryption import PREFIX, FieldCipher, Keyring
from alliancekit.security.policy import Action
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .helpers import active_episode, actor

pytest.importorskip("cryptography")

K1, K2 = b"1" * 32, b"2" * 32
WORDS = "CLEAR-WORDS of the client"
ADMIN = actor("admin")
OWN = actor("clin_own")
_HEX = re.compile(r"[0-9a-f]{64}")


def _cipher(primary: str = "k1") -> FieldCipher:
    return FieldCipher(Keyring({"k1": K1, "k2": K2}, primary))


def _open(path: Path, cipher: FieldCipher | None = None) -> Practice:
    return Practice(SQLiteStore(path), cipher=cipher)


def _in_clear(path: Path) -> str:
    """A file whose one episode's free text (nine fields in six events) was all written in clear."""
    with _open(path) as practice:
        return active_episode(practice, text=WORDS).episode_id


def _rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return list(conn.execute(sql, params))


def _attestations(path: Path) -> list[tuple[object, ...]]:
    return _rows(
        path,
        "SELECT clinic_id, record_id, detail, client_ref FROM audit WHERE action = ? AND record_type = ?",
        (REHASH_ACTION, REHASH_RECORD),
    )


def _verify_cli(path: Path) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["verify", "--db", str(path)])
    return code, out.getvalue()


def _rotated(path: Path) -> str:
    ep = _in_clear(path)
    with _open(path, _cipher()) as rotating:
        rotating.rotate_encryption(ADMIN)
    return ep


def _event(path: Path, event_type: str) -> tuple[str, int, str]:
    (row,) = _rows(path, "SELECT episode_id, seq, payload FROM events WHERE type = ?", (event_type,))
    return str(row[0]), int(str(row[1])), str(row[2])


def _set_payload(path: Path, episode_id: str, seq: int, payload: str) -> None:
    _rows(path, "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?", (payload, episode_id, seq))


def test_text_in_clear_is_encrypted_and_the_record_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    ep = _in_clear(path)
    with _open(path) as before:
        assert before.verify(ADMIN).ok
    with _open(path, _cipher()) as rotating:
        report = rotating.rotate_encryption(ADMIN)
        assert (report.rewritten, report.from_clear) == (9, 9)
        assert rotating.verify(ADMIN).ok
        assert [n.text for n in rotating.process_notes(OWN, ep)] == [WORDS]
    assert not any(WORDS in str(payload) for (payload,) in _rows(path, "SELECT payload FROM events"))
    assert _verify_cli(path)[0] == 0
    # one attestation per event encrypted from clear, in the episode's clinic's log: its id and a digest,
    # never the client's words nor whose record it is
    attested = _attestations(path)
    events = _rows(path, "SELECT event_id, clinic_id FROM events WHERE payload LIKE ?", (f"%{PREFIX}%",))
    assert sorted((str(c), str(e)) for c, e, *_ in attested) == sorted((str(c), str(e)) for e, c in events)
    assert len(attested) == 6
    assert all(_HEX.fullmatch(str(detail)) and client_ref == "" for *_, detail, client_ref in attested)
    assert not any(WORDS in str(row) for row in _rows(path, "SELECT * FROM audit"))
    # the attested digest is the event's hash recomputed as it is now stored (its prev hash kept)
    with _open(path) as keyless:
        stored = {e.event_id: e for e in keyless.store.load_events(ep)}
    for _, event_id, detail, _ in attested:
        event = stored[str(event_id)]
        assert event_hash(event, event.prev_hash) == detail != event.hash


def test_the_attestation_is_the_rotation_s_own_entry() -> None:
    assert Action.ROTATE_KEYS == REHASH_ACTION


def test_a_rotation_run_again_or_to_another_key_attests_nothing_new(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    _rotated(path)
    attested = _attestations(path)
    with _open(path, _cipher()) as again:
        report = again.rotate_encryption(ADMIN)
        assert (report.rewritten, report.from_clear) == (0, 0)
    assert _attestations(path) == attested
    # to a new key: every field is rewritten, none from clear, and the masked hashes do not change
    with _open(path, _cipher("k2")) as rotating:
        report = rotating.rotate_encryption(ADMIN)
        assert (report.rewritten, report.from_clear) == (9, 0)
        assert rotating.verify(ADMIN).ok
    assert _attestations(path) == attested
    assert _verify_cli(path)[0] == 0


def test_a_change_to_an_attested_event_after_the_rotation_fails_verification(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    _rotated(path)
    ep, seq, payload = _event(path, "process-note-recorded")
    changed = json.loads(payload)
    assert changed["written_on"] == "2026-01-12"
    changed["written_on"] = "2026-01-13"  # a field the rotation did not touch
    _set_payload(path, ep, seq, json.dumps(changed))
    with _open(path) as keyless:
        finding = keyless.verify(ADMIN).finding("events")
    assert finding is not None
    assert (finding.where, finding.problem) == (
        f"episode {ep} event {seq}",
        "content does not match its hash",
    )
    code, out = _verify_cli(path)
    assert code != 0
    assert "content does not match its hash" in out


def test_another_event_s_ciphertext_swapped_in_fails_verification_with_the_key(tmp_path: Path) -> None:
    """A ciphertext is masked in every hash, attested or not: a valid one of another event swapped in hashes
    alike, and AES-GCM, which binds it to its event and field, is what refuses it (a verification with the key
    folds the events, decrypting them)."""
    path = tmp_path / "clear.sqlite"
    _rotated(path)
    ep, seq, payload = _event(path, "process-note-recorded")
    rupture = json.loads(_event(path, "rupture-noted")[2])
    swapped = json.loads(payload)
    swapped["text"] = rupture["note"]["description"]
    assert swapped["text"].startswith(PREFIX)
    assert swapped["text"] != json.loads(payload)["text"]
    _set_payload(path, ep, seq, json.dumps(swapped))
    with _open(path, _cipher()) as keyed:
        report = keyed.verify(ADMIN)
    assert not report.ok
    assert report.finding("snapshots") is not None


def _append(path: Path, *entries: AuditRecord) -> None:
    with closing(SQLiteStore(path)) as store:
        store.append_audit(entries)


def _forged(event_id: str, digest: str, clinic: str = "c1") -> AuditRecord:
    """An attestation appended to the log by hand, hash-chained as the store links every entry."""
    return AuditRecord(
        entry_id=f"forged-{event_id}",
        at=datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
        actor_id="adm-1",
        actor_role="administrator",
        clinic_id=clinic,
        purpose="operations",
        action=REHASH_ACTION,
        record_type=REHASH_RECORD,
        record_id=event_id,
        outcome="allowed",
        client_ref="",
        detail=digest,
        writes="",
        shard=0,
    )


def test_an_attestation_of_another_digest_does_not_excuse_a_change(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    _rotated(path)
    ep, seq, payload = _event(path, "process-note-recorded")
    (event_id,) = _rows(path, "SELECT event_id FROM events WHERE episode_id = ? AND seq = ?", (ep, seq))[0]
    changed = json.loads(payload)
    changed["written_on"] = "2026-01-13"
    _set_payload(path, ep, seq, json.dumps(changed))
    # a sound entry, in the event's clinic's chain, naming the event, with the digest it had before the change
    (attested,) = [str(d) for _, e, d, _ in _attestations(path) if e == event_id]
    _append(path, _forged(str(event_id), attested), _forged(str(event_id), "f" * 64))
    with _open(path) as keyless:
        report = keyless.verify(ADMIN)
    assert [f.check for f in report.findings] == ["events"]
    assert _verify_cli(path)[0] != 0


def test_text_in_clear_rewritten_without_its_attestation_fails_verification(tmp_path: Path) -> None:
    """The attestation is what lets the event verify: the same rewrite without it (as a rotation did before)
    is a finding, and so is an attestation filed in another clinic's log."""
    path = tmp_path / "clear.sqlite"
    _in_clear(path)
    ep, seq, payload = _event(path, "process-note-recorded")
    (event_id,) = _rows(path, "SELECT event_id FROM events WHERE episode_id = ? AND seq = ?", (ep, seq))[0]
    encrypted = json.loads(payload)
    encrypted["text"] = _cipher().encrypt(str(event_id), "text", WORDS)
    with closing(SQLiteStore(path)) as store:
        store.replace_payloads([(ep, seq, json.dumps(encrypted))])
        event = next(e for e in store.load_events(ep) if e.seq == seq)
    with _open(path) as keyless:
        assert keyless.verify(ADMIN).finding("events") is not None
    _append(path, _forged(str(event_id), event_hash(event, event.prev_hash), clinic="c2"))
    with _open(path) as keyless:
        assert keyless.verify(ADMIN).finding("events") is not None
    _append(path, _forged(str(event_id), event_hash(event, event.prev_hash)))
    with _open(path) as keyless:
        assert keyless.verify(ADMIN).ok  # what an attestation vouches for (one appended by hand too)


def test_an_attestation_in_a_broken_chain_is_not_believed(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    _rotated(path)
    ep, seq, _ = _event(path, "process-note-recorded")
    (event_id,) = _rows(path, "SELECT event_id FROM events WHERE episode_id = ? AND seq = ?", (ep, seq))[0]
    # its digest kept, its entry changed (another actor): the entry no longer matches its hash
    _rows(
        path,
        "UPDATE audit SET actor_id = 'adm-2' WHERE action = ? AND record_id = ?",
        (REHASH_ACTION, event_id),
    )
    with _open(path) as keyless:
        report = keyless.verify(ADMIN)
    assert [f.check for f in report.findings] == ["events", "audit"]
    events = report.finding("events")
    assert events is not None
    assert events.where == f"episode {ep} event {seq}"


def test_an_event_changed_before_the_rotation_is_not_attested(tmp_path: Path) -> None:
    """A rotation must not hide a change made outside alliancekit by attesting the changed event."""
    path = tmp_path / "clear.sqlite"
    ep = _in_clear(path)
    seq, payload = _event(path, "process-note-recorded")[1:]
    changed = json.loads(payload)
    changed["text"] = "OTHER WORDS"
    _set_payload(path, ep, seq, json.dumps(changed))
    with _open(path, _cipher()) as rotating:
        assert rotating.verify(ADMIN).finding("events") is not None
        assert rotating.rotate_encryption(ADMIN).from_clear == 9
        finding = rotating.verify(ADMIN).finding("events")
    assert finding is not None
    assert finding.where == f"episode {ep} event {seq}"
    assert len(_attestations(path)) == 5  # the other five events


def test_on_the_memory_store_too() -> None:
    store = MemoryStore()
    ep = active_episode(Practice(store), text=WORDS).episode_id
    rotating = Practice(store, cipher=_cipher())
    assert rotating.rotate_encryption(ADMIN).from_clear == 9
    assert rotating.verify(ADMIN).ok
    assert WORDS not in json.dumps([e.payload_json for e in store.load_events(ep)])


def test_a_rotation_stopped_after_its_first_batch_leaves_that_batch_attested(tmp_path: Path) -> None:
    path = tmp_path / "clear.sqlite"
    _in_clear(path)

    first: list[int] = []

    def stop(done: int) -> None:
        first.append(done)
        raise KeyboardInterrupt  # the process is stopped once the first batch is written

    with _open(path, _cipher()) as rotating, pytest.raises(KeyboardInterrupt):
        rotating.rotate_encryption(ADMIN, batch_size=1, progress=stop)
    encrypted = _rows(path, "SELECT event_id FROM events WHERE payload LIKE ?", (f"%{PREFIX}%",))
    assert len(encrypted) == 1
    assert [str(e) for _, e, *_ in _attestations(path)] == [str(e) for (e,) in encrypted]
    assert _verify_cli(path)[0] == 0
    with _open(path, _cipher()) as resumed:
        assert resumed.rotate_encryption(ADMIN).from_clear == 9 - first[0]
        assert resumed.verify(ADMIN).ok
    assert len(_attestations(path)) == 6


def test_a_rewrite_whose_entries_cannot_be_written_rewrites_nothing(tmp_path: Path) -> None:
    """The payloads and the attestations are one transaction: an entry the file cannot take (text with a lone
    surrogate) leaves the event as it was, in clear and matching its hash."""
    path = tmp_path / "clear.sqlite"
    ep = _in_clear(path)
    with closing(SQLiteStore(path)) as store:
        before = store.load_events(ep)
        unstorable = attrs.evolve(_forged(before[-1].event_id, "0" * 64), record_id="\ud800")
        with pytest.raises((UnicodeError, AlliancekitError)):
            store.replace_payloads([(ep, before[-1].seq, '{"rewritten": true}')], audit=[unstorable])
        assert store.load_events(ep) == before
        assert not _attestations(path)
