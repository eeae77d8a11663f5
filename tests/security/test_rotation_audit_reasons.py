"""A key rotation and the audit log's stated reasons, on SQLite files.

A rotation re-encrypts the events' free text under the primary key, but never an audit entry's reason (a
break-glass read's, a lockbox override's): the entry's hash covers its ciphertext and the log is
append-only, so rewriting it would break the chain ``verify`` checks. Before, the rotation returned a bare
count of the fields it rewrote, as if nothing were left under the old key: a host that then retired that
key lost every reason written under it, reading ``[encrypted]`` ever after. The rotation now reports, by key
id, the reasons it left under keys other than the primary.
"""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
from collections import Counter
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Practice, Purpose, Role
from alliancekit.cli.main import main
from alliancekit.security.encryption import PREFIX, REDACTED, FieldCipher, Keyring
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.concurrency import active_episode

pytest.importorskip("cryptography")

CLINIC = "c1"
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
EMERGENCY = Actor("clin-b", Role.CLINICIAN, CLINIC, Purpose.EMERGENCY)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
KEYS = {"k0": b"0" * 32, "k1": b"1" * 32, "k2": b"2" * 32}
NOTE = "NOTE-MARKER the client's words"
GLASS = "GLASS-MARKER reason for the emergency read"
OVERRIDE = "OVERRIDE-MARKER reason for the override"
_KEY_ID = re.compile(re.escape(PREFIX) + r"([^:\"]+):")


def _cipher(primary: str, *others: str) -> FieldCipher:
    return FieldCipher(Keyring({k: KEYS[k] for k in (primary, *others)}, primary))


def _open(path: Path, cipher: FieldCipher | None) -> Practice:
    return Practice(SQLiteStore(path), cipher=cipher)


def _record(path: Path, cipher: FieldCipher | None, episode: str | None = None) -> str:
    """A process note (event free text), a break-glass read and a lockbox override, each with words."""
    with _open(path, cipher) as practice:
        ep = episode or active_episode(practice, OWN)
        practice.record_process_note(OWN, ep, written_on=date(2026, 1, 20), text=NOTE)
        practice.break_glass(EMERGENCY, ep, reason=GLASS)
        practice.shared_record(OWN, ep, override_reason=OVERRIDE)
    return ep


def _keys_in(path: Path, table: str, column: str) -> Counter[str]:
    """How many ciphertexts of each key id the raw rows hold."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        rows = conn.execute(f"SELECT {column} FROM {table}").fetchall()  # noqa: S608 - the test's own names
    return Counter(k for (text,) in rows for k in _KEY_ID.findall(text))


def _reasons(practice: Practice) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in practice.audit_entries(ADMIN):
        if entry.action in ("break-glass-read", "override-lockbox"):
            out.setdefault(entry.action, []).append(entry.detail)
    return out


def _verify_cli(path: Path) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main(["verify", "--db", str(path)])


def test_a_rotation_reports_the_reasons_it_leaves_under_the_old_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.sqlite"
    ep = _record(path, _cipher("k1"))
    with _open(path, _cipher("k2", "k1")) as rotating:
        report = rotating.rotate_encryption(ADMIN)
        assert report.rewritten > 0
        assert report.reasons_kept == {"k1": 2}
        # run again: nothing left to rewrite, and the reasons are still named (they are never rewritten)
        again = rotating.rotate_encryption(ADMIN)
    assert (again.rewritten, dict(again.reasons_kept)) == (0, {"k1": 2})
    # the stored rows say the same: the events' text is all under k2, the two reasons under k1
    assert _keys_in(path, "events", "payload")["k1"] == 0
    assert _keys_in(path, "events", "payload")["k2"] == report.rewritten
    assert _keys_in(path, "audit", "detail") == Counter({"k1": 2})

    # with the old key retired: the events' text reads, the reasons do not (what the report warned of), and
    # the record verifies (through the API and the CLI, which holds no key)
    with _open(path, _cipher("k2")) as retired:
        assert [n.text for n in retired.process_notes(OWN, ep)] == [NOTE]
        assert _reasons(retired) == {"break-glass-read": [REDACTED], "override-lockbox": [REDACTED]}
        assert retired.verify(ADMIN).ok
        # a rotation with the key already gone still names it: the host learns what it lost
        assert retired.rotate_encryption(ADMIN).reasons_kept == {"k1": 2}
    assert _verify_cli(path) == 0
    # with the old key kept, as the report says to, they read as typed
    with _open(path, _cipher("k2", "k1")) as kept:
        assert _reasons(kept) == {"break-glass-read": [GLASS], "override-lockbox": [OVERRIDE]}
        assert kept.verify(ADMIN).ok


def test_reasons_under_the_primary_key_are_not_reported_and_each_other_key_is(tmp_path: Path) -> None:
    """Only a ciphertext under another key than the primary is named; each key is counted on its own."""
    path = tmp_path / "enc.sqlite"
    ep = _record(path, _cipher("k0"))
    with _open(
        path, _cipher("k0")
    ) as same:  # two reasons, both under the primary key: none to keep a key for
        assert same.rotate_encryption(ADMIN).reasons_kept == {}
    _record(path, _cipher("k1", "k0"), ep)
    with _open(path, _cipher("k2", "k0", "k1")) as rotating:
        assert rotating.rotate_encryption(ADMIN).reasons_kept == {"k0": 2, "k1": 2}
    _record(path, _cipher("k2", "k0", "k1"), ep)  # two more under the new primary: not counted
    with _open(path, _cipher("k2", "k0", "k1")) as later:
        report = later.rotate_encryption(ADMIN)
        assert (report.rewritten, dict(report.reasons_kept)) == (0, {"k0": 2, "k1": 2})
        assert _reasons(later) == {"break-glass-read": [GLASS] * 3, "override-lockbox": [OVERRIDE] * 3}
        assert later.verify(ADMIN).ok


def test_reasons_in_clear_need_no_key_and_are_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "plain.sqlite"
    _record(path, None)  # written before encryption was turned on
    with _open(path, _cipher("k1")) as rotating:
        assert rotating.rotate_encryption(ADMIN).reasons_kept == {}
        assert _reasons(rotating) == {"break-glass-read": [GLASS], "override-lockbox": [OVERRIDE]}
