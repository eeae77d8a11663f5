"""A break-glass or lockbox-override reason on PostgreSQL: stored encrypted when the practice has a cipher
(its hash computed by the database over the ciphertext, as written), read back decrypted by the auditor,
masked without the key, and a changed ciphertext found by ``verify``."""

from __future__ import annotations

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
