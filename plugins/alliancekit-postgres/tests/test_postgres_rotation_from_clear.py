"""A key rotation that encrypts free text written in clear, on PostgreSQL: the rewrite and its attestations in
one transaction, and the record still verifies (the API's, and the CLI's, which holds no key); a change to
an attested event after the rotation is still found."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import AlliancekitError
from alliancekit.integrity.chain import REHASH_ACTION, REHASH_RECORD
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.security.encryption import FieldCipher, Keyring
from alliancekit.store.protocol import AuditRecord
from alliancekit.testing.concurrency import active_episode

pytest.importorskip("cryptography")

CLINIC = "clinic-clear"
HOST = make_plugin_host(load_entry_points=False)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
NOTE = "NOTE-MARKER the client's words, in clear"
CIPHER = FieldCipher(Keyring({"k1": b"1" * 32}, "k1"))


def _practice(pg, schema: str, cipher: FieldCipher | None = None, *, read_only: bool = False) -> Practice:  # type: ignore[no-untyped-def]
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=read_only)
    return Practice(store, plugins=HOST, cipher=cipher)


def _in_clear(pg, schema: str) -> str:  # type: ignore[no-untyped-def]
    """An episode with a process note (and goals), all written before encryption was turned on."""
    with _practice(pg, schema) as practice:
        ep = active_episode(practice, OWN)
        practice.record_process_note(OWN, ep, written_on=date(2026, 1, 20), text=NOTE)
    return ep


def _admin_rows(pg, statement: str, schema: str, *params: object) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with pg.admin() as conn:
        cursor = conn.execute(sql.SQL(statement).format(s=sql.Identifier(schema)), params)
        return cursor.fetchall() if cursor.description else [(cursor.rowcount,)]


def _attested(pg, schema: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = _admin_rows(
        pg,
        "SELECT record_id FROM {s}.audit WHERE action = %s AND record_type = %s ORDER BY record_id",
        schema,
        REHASH_ACTION,
        REHASH_RECORD,
    )
    return [str(r[0]) for r in rows]


def _encrypted(pg, schema: str) -> list[str]:  # type: ignore[no-untyped-def]
    rows = _admin_rows(
        pg,
        "SELECT event_id FROM {s}.events WHERE payload::text LIKE '%%ak:enc:v1:%%' ORDER BY event_id",
        schema,
    )
    return [str(r[0]) for r in rows]


def _verify_ok(pg, schema: str) -> bool:  # type: ignore[no-untyped-def]
    with _practice(pg, schema, read_only=True) as keyless:
        return keyless.verify(ADMIN).ok


def _verify_cli(pg, schema: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"}
    env["ALLIANCEKIT_PLUGINS"] = "postgres"
    argv = ["verify", "--db", pg.location(schema, CLINIC)]
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *argv], capture_output=True, text=True, env=env, check=False
    )


def test_text_in_clear_is_encrypted_attested_and_verifies_until_changed(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    ep = _in_clear(pg, schema)
    with _practice(pg, schema, CIPHER) as rotating:
        report = rotating.rotate_encryption(ADMIN)
        assert report.from_clear == report.rewritten > 0
        assert [n.text for n in rotating.process_notes(OWN, ep)] == [NOTE]
        again = rotating.rotate_encryption(ADMIN)
    assert (again.rewritten, again.from_clear) == (0, 0)
    stored = _admin_rows(pg, "SELECT payload::text FROM {s}.events", schema)
    assert not any("NOTE-MARKER" in str(p) for (p,) in stored)
    assert _attested(pg, schema) == _encrypted(pg, schema)  # each event encrypted from clear, once
    assert _verify_ok(pg, schema)
    done = _verify_cli(pg, schema)
    assert done.returncode == 0, done.stdout + done.stderr

    # a field the rotation did not touch, changed afterwards: the attestation does not cover it
    (changed,) = _admin_rows(
        pg,
        "UPDATE {s}.events SET payload = jsonb_set(payload, '{{written_on}}', '\"2026-01-21\"')"
        " WHERE type = 'process-note-recorded'",
        schema,
    )
    assert changed == (1,)
    with _practice(pg, schema, read_only=True) as keyless:
        finding = keyless.verify(ADMIN).finding("events")
    assert finding is not None
    assert finding.problem == "content does not match its hash"
    assert _verify_cli(pg, schema).returncode != 0


def test_a_rotation_stopped_midway_leaves_what_it_encrypted_attested(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    _in_clear(pg, schema)

    def stop(_done: int) -> None:
        raise KeyboardInterrupt  # stopped once the first batch is written

    with _practice(pg, schema, CIPHER) as rotating, pytest.raises(KeyboardInterrupt):
        rotating.rotate_encryption(ADMIN, batch_size=1, progress=stop)
    assert len(_encrypted(pg, schema)) == 1
    assert _attested(pg, schema) == _encrypted(pg, schema)
    assert _verify_ok(pg, schema)
    with _practice(pg, schema, CIPHER) as resumed:
        assert resumed.rotate_encryption(ADMIN).from_clear > 0
    assert _attested(pg, schema) == _encrypted(pg, schema)
    assert _verify_ok(pg, schema)


def test_a_rewrite_whose_entries_cannot_be_written_rewrites_nothing(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    ep = _in_clear(pg, schema)
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        before = store.load_events(ep)
        unstorable = AuditRecord(
            "a-1", before[0].recorded_at, "adm-1", "administrator", CLINIC, "operations", REHASH_ACTION,
            REHASH_RECORD, before[-1].event_id, "allowed", detail="no\x00nul",
        )  # fmt: skip
        with pytest.raises(AlliancekitError):
            store.replace_payloads([(ep, before[-1].seq, '{"rewritten": true}')], audit=[unstorable])
        assert store.load_events(ep) == before
    finally:
        store.close()
