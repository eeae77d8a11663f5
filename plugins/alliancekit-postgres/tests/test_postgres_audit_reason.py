"""A break-glass or lockbox-override reason on PostgreSQL: stored encrypted when the practice has a cipher
(its hash computed by the database over the ciphertext, as written), read back decrypted by the auditor,
masked without the key, a changed ciphertext found by ``verify``, and left under its key by a
rotation, which reports the key (the entry is never rewritten)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.security.encryption import PREFIX, REDACTED, FieldCipher, Keyring
from alliancekit.testing.concurrency import active_episode

pytest.importorskip("cryptography")

CLINIC = "clinic-reason"
HOST = make_plugin_host(load_entry_points=False)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
EMERGENCY = Actor("clin-b", Role.CLINICIAN, CLINIC, Purpose.EMERGENCY)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
GLASS = "GLASS-MARKER client said she would harm herself"
OVERRIDE = "OVERRIDE-MARKER court order about Jane Roe"
NOTE = "NOTE-MARKER the client's words"
CIPHER = FieldCipher(Keyring({"k1": b"1" * 32}, "k1"))


def _practice(pg, schema: str, cipher: FieldCipher | None, *, read_only: bool = False) -> Practice:  # type: ignore[no-untyped-def]
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=read_only)
    return Practice(store, plugins=HOST, cipher=cipher)


def _stored(pg, schema: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    with pg.admin() as conn:
        query = sql.SQL("SELECT action, detail FROM {}.audit WHERE detail <> ''")
        return dict(conn.execute(query.format(sql.Identifier(schema))).fetchall())


def _reasons(practice: Practice) -> dict[str, str]:
    return {e.action: e.detail for e in practice.audit_entries(ADMIN) if e.detail}


@pytest.mark.parametrize("cipher", [CIPHER, None], ids=["cipher", "none"])
def test_reasons_are_encrypted_with_a_cipher_and_the_chain_verifies(pg, cipher: FieldCipher | None) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    with _practice(pg, schema, cipher) as practice:
        ep = active_episode(practice, OWN)
        practice.break_glass(EMERGENCY, ep, reason=GLASS)
        practice.shared_record(OWN, ep, override_reason=OVERRIDE)
    stored = _stored(pg, schema)
    assert set(stored) == {"break-glass-read", "override-lockbox"}
    if cipher is None:  # as before
        assert stored == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
    else:
        assert all(d.startswith(PREFIX) and "MARKER" not in d for d in stored.values())
    with _practice(pg, schema, cipher, read_only=True) as reading:
        report = reading.verify(ADMIN)
    assert report.ok, report.describe()
    with _practice(pg, schema, cipher) as auditor:
        assert _reasons(auditor) == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
    if cipher is not None:
        with _practice(pg, schema, None) as keyless:
            assert _reasons(keyless) == {"break-glass-read": REDACTED, "override-lockbox": REDACTED}


def test_a_changed_encrypted_reason_is_found(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    with _practice(pg, schema, CIPHER) as practice:
        ep = active_episode(practice, OWN)
        practice.break_glass(EMERGENCY, ep, reason=GLASS)
        practice.shared_record(OWN, ep, override_reason=OVERRIDE)
    other = _stored(pg, schema)["override-lockbox"]  # a well-formed ciphertext under the same key
    with pg.admin() as conn:
        changed = conn.execute(
            sql.SQL("UPDATE {}.audit SET detail = %s WHERE action = 'break-glass-read'").format(
                sql.Identifier(schema)
            ),
            (other,),
        ).rowcount
    assert changed == 1
    with _practice(pg, schema, CIPHER, read_only=True) as reading:
        report = reading.verify(ADMIN)
    assert not report.ok
    assert report.finding("audit") is not None, report.describe()


def _keys_in(pg, schema: str, table: str, column: str) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """How many ciphertexts of each key id the raw rows hold."""
    with pg.admin() as conn:
        query = sql.SQL("SELECT {} FROM {}.{}").format(
            sql.Identifier(column), sql.Identifier(schema), sql.Identifier(table)
        )
        texts = [str(text) for (text,) in conn.execute(query).fetchall()]
    found: dict[str, int] = {}
    for text in texts:
        for key_id in re.findall(re.escape(PREFIX) + r"([^:\"]+):", text):
            found[key_id] = found.get(key_id, 0) + 1
    return found


def test_a_rotation_leaves_the_reasons_under_their_key_and_reports_it(pg) -> None:  # type: ignore[no-untyped-def]
    """The rotation re-encrypts the events' free text, not an audit entry's reason (its hash covers the
    ciphertext): before, it returned a bare count, and a host that then retired the old key lost the
    reasons."""
    schema = pg.new_schema()
    with _practice(pg, schema, CIPHER) as practice:
        ep = active_episode(practice, OWN)
        practice.record_process_note(OWN, ep, written_on=date(2026, 1, 20), text=NOTE)
        practice.break_glass(EMERGENCY, ep, reason=GLASS)
        practice.shared_record(OWN, ep, override_reason=OVERRIDE)
    both = FieldCipher(Keyring({"k1": b"1" * 32, "k2": b"2" * 32}, "k2"))
    with _practice(pg, schema, both) as rotating:
        report = rotating.rotate_encryption(ADMIN)
        assert report.rewritten > 0
        assert report.reasons_kept == {"k1": 2}
        again = rotating.rotate_encryption(ADMIN)
        assert (again.rewritten, dict(again.reasons_kept)) == (0, {"k1": 2})
    assert _keys_in(pg, schema, "events", "payload") == {"k2": report.rewritten}
    assert _keys_in(pg, schema, "audit", "detail") == {"k1": 2}
    retired = FieldCipher(Keyring({"k2": b"2" * 32}, "k2"))
    with _practice(pg, schema, retired) as reading:
        assert _reasons(reading) == {"break-glass-read": REDACTED, "override-lockbox": REDACTED}
        assert [n.text for n in reading.process_notes(OWN, ep)] == [NOTE]
        assert reading.rotate_encryption(ADMIN).reasons_kept == {"k1": 2}
    with _practice(pg, schema, retired, read_only=True) as verifying:
        report_ok = verifying.verify(ADMIN)
    assert report_ok.ok, report_ok.describe()
    with _practice(pg, schema, both) as kept:
        assert _reasons(kept) == {"break-glass-read": GLASS, "override-lockbox": OVERRIDE}
