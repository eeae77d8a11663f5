"""The reasons a clinician types for a break-glass read or a lockbox override are free text: with a cipher,
the audit log keeps them encrypted (bound to the entry), the chain still verifies, the auditor reads them
back, and a changed ciphertext is found by ``verify`` as any changed detail is."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from alliancekit import Actor, Practice, Purpose, Role
from alliancekit.cli.main import main
from alliancekit.errors import ValidationError
from alliancekit.security.encryption import PREFIX, REDACTED, DecryptionError, FieldCipher, Keyring
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.concurrency import active_episode

pytest.importorskip("cryptography")

CLINIC = "c1"
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
EMERGENCY = Actor("clin-b", Role.CLINICIAN, CLINIC, Purpose.EMERGENCY)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
GLASS = "GLASS-MARKER client said she would harm herself"
OVERRIDE = "OVERRIDE-MARKER court order about Jane Roe"
CIPHER = FieldCipher(Keyring({"k1": b"1" * 32}, "k1"))


def _record(path: Path, cipher: FieldCipher | None) -> str:
    """An episode read by break-glass and shared with its lockbox overridden, each with a marked reason."""
    with Practice(SQLiteStore(path), cipher=cipher) as practice:
        ep = active_episode(practice, OWN)
        practice.break_glass(EMERGENCY, ep, reason=GLASS)
        practice.shared_record(OWN, ep, override_reason=OVERRIDE)
    return ep


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))  # with -wal/-shm, if any


def _details(path: Path) -> dict[str, str]:
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT action, detail FROM audit WHERE detail != ''").fetchall()
    return dict(rows)


def _reasons(practice: Practice) -> dict[str, str]:
    return {e.action: e.detail for e in practice.audit_entries(ADMIN) if e.detail}


def _cli(*argv: str) -> tuple[int, str]:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(list(argv))
    return code, out.getvalue()


def test_with_a_cipher_reasons_are_encrypted_at_rest_and_read_back_by_the_auditor(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    _record(path, CIPHER)
    data = _file_bytes(path)
    assert b"GLASS-MARKER" not in data
    assert b"OVERRIDE-MARKER" not in data
    stored = _details(path)
    assert set(stored) == {"break-glass-read", "override-lockbox"}
    assert all(d.startswith(PREFIX) for d in stored.values())
    with Practice(SQLiteStore(path), cipher=CIPHER) as practice:
        assert _reasons(practice) == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
        assert practice.verify(ADMIN).ok
    with Practice(SQLiteStore(path)) as keyless:  # the auditor of a process without the key
        assert _reasons(keyless) == {"break-glass-read": REDACTED, "override-lockbox": REDACTED}
    # the CLI holds no encryption key: it shows the reason masked, and verifies the chain without it
    code, out = _cli("audit", "show", "--db", str(path), "--json")
    assert code == 0
    assert "MARKER" not in out
    shown = {e["action"]: e["detail"] for e in json.loads(out)["entries"] if e["detail"]}
    assert shown == {"break-glass-read": REDACTED, "override-lockbox": REDACTED}
    assert _cli("verify", "--db", str(path))[0] == 0


def test_without_a_cipher_reasons_are_kept_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    _record(path, None)
    data = _file_bytes(path)
    assert GLASS.encode() in data
    assert OVERRIDE.encode() in data
    assert _details(path) == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
    with Practice(SQLiteStore(path)) as practice:
        assert _reasons(practice) == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
    assert _cli("verify", "--db", str(path))[0] == 0


def _set_detail(path: Path, action: str, detail: str) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        changed = conn.execute("UPDATE audit SET detail = ? WHERE action = ?", (detail, action)).rowcount
    assert changed == 1


@pytest.mark.parametrize("change", ["altered", "swapped", "decrypted"])
def test_a_changed_encrypted_reason_is_found(tmp_path: Path, change: str) -> None:
    path = tmp_path / "enc.sqlite"
    _record(path, CIPHER)
    stored = _details(path)
    glass = stored["break-glass-read"]
    replacement = {
        # one character of the ciphertext changed, still a well-formed ciphertext
        "altered": glass[:-3] + ("A" if glass[-3] != "A" else "B") + glass[-2:],
        # the other entry's ciphertext, under the same key
        "swapped": stored["override-lockbox"],
        # the reason written back in clear
        "decrypted": GLASS,
    }[change]
    _set_detail(path, "break-glass-read", replacement)
    with Practice(SQLiteStore(path, read_only=True), cipher=CIPHER) as practice:
        report = practice.verify(ADMIN)
    assert not report.ok
    assert report.finding("audit") is not None, report.describe()
    assert "MARKER" not in report.describe()
    assert _cli("verify", "--db", str(path))[0] == 1
    if change != "decrypted":  # whoever reads the log with the key is told too, without the text
        with Practice(SQLiteStore(path), cipher=CIPHER) as practice, pytest.raises(DecryptionError) as raised:
            practice.audit_entries(ADMIN)
        assert "MARKER" not in str(raised.value)


def test_a_cipher_without_keys_refuses_to_write_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    with Practice(SQLiteStore(path), cipher=CIPHER) as practice:
        ep = active_episode(practice, OWN)
    with Practice(SQLiteStore(path), cipher=FieldCipher(None)) as keyless:
        before = len(keyless.store.audit_records())
        with pytest.raises(ValidationError) as raised:
            keyless.break_glass(EMERGENCY, ep, reason=GLASS)
        assert (raised.value.field, raised.value.rule) == ("cipher", "no-key")
        assert len(keyless.store.audit_records()) == before  # nothing in clear, nothing half written
    assert GLASS.encode() not in _file_bytes(path)
