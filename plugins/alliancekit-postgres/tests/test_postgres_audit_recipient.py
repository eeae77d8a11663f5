"""Audit entries written by the schema before ``audit.recipient`` (migration 12) still verify: read-only on
that schema, and after the migration, with new entries naming recipients chained after them. The hash of
``link_audit`` is :func:`alliancekit.integrity.chain.entry_hash` with and without a recipient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import psycopg
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import (
    AUDIT_RECIPIENT_FROM,
    LATEST_VERSION,
    MIGRATIONS,
    _backfill_2,
    audit_array,
)
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.integrity import chain
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import AuditRecord

from .conftest import PgServer

CLINIC = "clinic-recipient"
HOST = make_plugin_host(load_entry_points=False)
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)
T0 = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)


def _entry(n: int, shard: int) -> AuditRecord:
    return AuditRecord(
        entry_id=f"old-{n}",
        at=T0 + timedelta(seconds=n),
        actor_id="clin-1",
        actor_role="clinician",
        clinic_id=CLINIC,
        purpose="treatment",
        action="read-episode",
        record_type="episode",
        record_id="ep-1",
        outcome="allowed",
        client_ref="client-1",
        shard=shard,
    )


def _schema_before_the_recipient(pg: PgServer) -> str:
    """A schema migrated to the version before migration 12 (as that alliancekit-postgres left it), with
    entries written by its own ``link_audit``."""
    schema = pg.new_schema()
    s = sql.Identifier(schema)
    with pg.admin() as owner:
        owner.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(pg.app_role)))
        owner.execute(
            sql.SQL(
                "CREATE TABLE {}.schema_migrations (version integer PRIMARY KEY,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(s)
        )
        for number in range(1, AUDIT_RECIPIENT_FROM):
            owner.execute(sql.SQL(MIGRATIONS[number - 1]).format(s=s))
            if number == 2:
                _backfill_2(owner, schema)
            owner.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(s), (number,)
            )
        entries = sorted((_entry(n, n % 3) for n in range(6)), key=lambda e: e.shard)
        owner.execute(sql.SQL("SELECT {}.append_audit(%s, %s)").format(s), (CLINIC, audit_array(entries)))
    return schema


def _verify(pg: PgServer, schema: str) -> IntegrityReport:
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    with Practice(store, plugins=HOST) as practice:
        return practice.verify(ADMIN)


def test_entries_from_before_the_recipient_verify_read_only_and_migrated(
    pg: PgServer, admin: psycopg.Connection
) -> None:
    schema = _schema_before_the_recipient(pg)
    report = _verify(pg, schema)  # read-only on the older schema: every entry names none, as it was hashed
    assert report.ok, report.describe()
    assert report.audit_entries == 6
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)  # migrates
    try:
        assert store.schema_version() == LATEST_VERSION
        old = store.audit_records()
        assert [r.recipient for r in old] == [""] * 6
        assert all(r.hash == chain.entry_hash(r, r.position, r.prev_hash) for r in old)
        store.append_audit(
            [
                attrs.evolve(_entry(10, 1), entry_id="share-1", recipient="hospital-x"),
                attrs.evolve(_entry(11, 1), entry_id="share-2", recipient="(unnamed)"),
            ]
        )
        shared = {r.entry_id: r for r in store.audit_records() if r.entry_id.startswith("share")}
        assert {k: r.recipient for k, r in shared.items()} == {
            "share-1": "hospital-x",
            "share-2": "(unnamed)",
        }
        assert (
            shared["share-1"].prev_hash
            == max((r for r in old if r.shard == 1), key=lambda r: r.position).hash
        )
    finally:
        store.close()
    report = _verify(pg, schema)
    assert report.ok, report.describe()
    # migration 12 runs again safely (a schema fabricated older by deleting its migration record)
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(sql.Identifier(schema)),
        (AUDIT_RECIPIENT_FROM,),
    )
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()
    assert _verify(pg, schema).ok
