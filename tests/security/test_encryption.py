"""Encryption of free text at rest: round trip, swapped ciphertexts refused, interrupted rotation resumed."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.domain import RepairAttempt
from alliancekit.errors import AlliancekitError
from alliancekit.events import converter
from alliancekit.security.encryption import PREFIX, REDACTED, DecryptionError, FieldCipher, Keyring
from alliancekit.store.sqlite import SQLiteStore

from .helpers import active_episode, actor

pytest.importorskip("cryptography")

K1 = b"1" * 32
K2 = b"2" * 32
WORDS = "CLIENT-WORDS"


def _cipher(primary: str = "k1", **keys: bytes) -> FieldCipher:
    return FieldCipher(Keyring(keys or {"k1": K1}, primary))


def _practice(path: Path, cipher: FieldCipher | None) -> Practice:
    return Practice(SQLiteStore(path), cipher=cipher)


def _payloads(path: Path) -> list[tuple[str, int, str, str]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return list(conn.execute("SELECT episode_id, seq, type, payload FROM events ORDER BY rowid"))


def test_free_text_is_encrypted_at_rest_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    setup = active_episode(_practice(path, _cipher()), text=WORDS)
    me, ep = actor("clin_own"), setup.episode_id
    rows = _payloads(path)
    assert not any(WORDS in payload for *_, payload in rows)
    assert sum(payload.count(PREFIX) for *_, payload in rows) >= 7
    # ids, dates, enums and scores stay readable in the stored JSON
    session = next(json.loads(p) for *_, t, p in rows if t == "session-recorded")
    assert session["session"]["modality"] == "video"
    assert session["scores"][0]["total"] == 20.0
    timeline = setup.practice.timeline(me, ep)
    dumped = json.dumps([converter.unstructure(e.event) for e in timeline])
    assert dumped.count(WORDS) >= 6
    assert [n.text for n in setup.practice.process_notes(me, ep)] == [WORDS]


def test_queries_without_free_text_work_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    setup = active_episode(_practice(path, _cipher()), text=WORDS)
    setup.practice.close()
    keyless = _practice(path, None)
    me, ep = actor("clin_own"), setup.episode_id
    assert keyless.episode(me, ep).sessions_attended == 1
    assert len(keyless.caseload(me)) == 1
    timeline = keyless.timeline(me, ep)
    session = next(e.event for e in timeline if e.type == "session-recorded")
    assert session.session.helpful == REDACTED  # type: ignore[attr-defined]
    assert session.scores[0].total == 20.0  # type: ignore[attr-defined]
    # writing needs no free text of what is already there either
    keyless.record_repair(
        me,
        ep,
        setup.rupture_id,
        RepairAttempt(attempted_on=date(2026, 1, 19), strategies=("give-rationale",), resolved=True),
    )
    # a practice that holds a cipher with no keys reads alike
    assert FieldCipher(None).decode(keyless.store.load_events(ep)[2]) is not None


def test_swapped_ciphertexts_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    setup = active_episode(_practice(path, _cipher()), text=WORDS)
    setup.practice.close()
    rows = _payloads(path)
    session = next(r for r in rows if r[2] == "session-recorded")
    note = next(r for r in rows if r[2] == "process-note-recorded")
    session_text = json.loads(session[3])["session"]["helpful"]
    moved = json.loads(note[3])
    moved["text"] = session_text  # another row's ciphertext
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
            (json.dumps(moved), note[0], note[1]),
        )
    p = _practice(path, _cipher())
    with pytest.raises(DecryptionError) as refused:
        p.process_notes(actor("clin_own"), setup.episode_id)
    assert WORDS not in str(refused.value)
    assert "text" in str(refused.value)
    # within one row, moving a ciphertext to another field fails too
    consultation = next(r for r in rows if r[2] == "consultation-recorded")
    fit = next(r for r in rows if r[2] == "fit-decided")
    data = json.loads(fit[3])
    data["decision"]["rationale"] = json.loads(consultation[3])["consultation"]["presenting_concerns"][0]
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "UPDATE events SET payload = ? WHERE episode_id = ? AND seq = ?",
            (json.dumps(data), fit[0], fit[1]),
        )
    with pytest.raises(DecryptionError):
        p.timeline(actor("clin_own"), setup.episode_id)
    # and a wrong key never decrypts
    wrong = _practice(path, FieldCipher(Keyring({"k1": K2}, "k1")))
    with pytest.raises(DecryptionError):
        wrong.process_notes(actor("clin_own"), setup.episode_id)


def test_interrupted_rotation_resumes_with_every_record_readable(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    practice = _practice(path, _cipher())
    episodes = [active_episode(practice, text=f"{WORDS}-{i}").episode_id for i in range(6)]
    practice.close()

    # an unencrypted row from before encryption was turned on is picked up as well
    plain = Practice(SQLiteStore(path))
    plain.record_process_note(actor("clin_own"), episodes[0], written_on=date(2026, 2, 1), text="PLAIN")
    plain_note = plain.store.load_events(episodes[0])[-1].event_id
    plain.close()

    both = FieldCipher(Keyring({"k1": K1, "k2": K2}, "k2"))
    rotating = _practice(path, both)
    admin = actor("admin")
    calls = []

    def crash_after_two_batches(done: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is stopped mid-rotation

    with pytest.raises(KeyboardInterrupt):
        rotating.rotate_encryption(admin, batch_size=5, progress=crash_after_two_batches)
    payloads = " ".join(p for *_, p in _payloads(path))
    assert f"{PREFIX}k1:" in payloads
    assert f"{PREFIX}k2:" in payloads  # half done

    # mid-rotation every record is readable with both keys, and verifies (the note encrypted from clear, if
    # its batch was written, with its attestation, written in the same transaction)
    for ep in episodes:
        rotating.timeline(actor("clin_own"), ep)
    assert rotating.verify(admin).ok

    remaining = rotating.rotate_encryption(admin, batch_size=5)
    assert remaining.rewritten > 0
    again = rotating.rotate_encryption(admin, batch_size=5)
    assert (again.rewritten, again.from_clear) == (0, 0)  # nothing left to do
    assert rotating.verify(admin).ok
    payloads = " ".join(p for *_, p in _payloads(path))
    assert f"{PREFIX}k1:" not in payloads
    assert "PLAIN" not in payloads

    only_new = _practice(path, FieldCipher(Keyring({"k2": K2}, "k2")))
    for i, ep in enumerate(episodes):
        texts = json.dumps([converter.unstructure(e.event) for e in only_new.timeline(actor("clin_own"), ep)])
        assert f"{WORDS}-{i}" in texts
        notes = [n.text for n in only_new.process_notes(actor("clin_own"), ep)]
        assert notes[0] == f"{WORDS}-{i}"
    assert "PLAIN" in [n.text for n in only_new.process_notes(actor("clin_own"), episodes[0])]
    rotation = [r for r in only_new.store.audit_records() if r.action == "rotate-keys"]
    assert len([r for r in rotation if r.record_type == "keys"]) == 3
    # the one event written in clear is attested once, whichever run encrypted it
    assert [r.record_id for r in rotation if r.record_type == "event"] == [plain_note]
    assert only_new.verify(admin).ok
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["verify", "--db", str(path)]) == 0  # the CLI holds no key


def test_keyrings_are_checked() -> None:
    with pytest.raises(AlliancekitError):
        Keyring({"k1": b"short"}, "k1")
    with pytest.raises(AlliancekitError):
        Keyring({"k1": K1}, "k2")
    with pytest.raises(AlliancekitError):
        Keyring({"k:1": K1}, "k:1")
    assert "1111" not in repr(Keyring({"k1": K1}, "k1"))
    assert "1111" not in repr(_cipher())


def test_rotation_without_an_old_key_names_the_key_to_put_back(tmp_path: Path) -> None:
    """An operator who rotates with a keyring that lost the old key is told which key id is missing (a label
    the host chose, not key material), and nothing under that key is rewritten."""
    path = tmp_path / "enc.sqlite"
    practice = _practice(path, _cipher("2026-01", **{"2026-01": K1}))
    active_episode(practice, text=WORDS)
    practice.close()
    before = _payloads(path)

    lost = _practice(path, _cipher("2026-07", **{"2026-07": K2}))
    with pytest.raises(DecryptionError) as refused:
        lost.rotate_encryption(actor("admin"))
    lost.close()
    message = str(refused.value)
    assert "under key '2026-01', which the keyring does not hold" in message
    assert WORDS not in message
    assert K1.decode() not in message
    assert _payloads(path) == before

    both = _practice(path, _cipher("2026-07", **{"2026-01": K1, "2026-07": K2}))
    assert both.rotate_encryption(actor("admin")).rewritten > 0
    both.close()
