"""The open caseload with the closed rows under a lockbox (migration 7's reader), and one clinician's caseload
with the other clinicians' rows under a lockbox (migration 8's), on a schema from before each: a read-only
store filters the whole caseload instead, and opening it writable adds the reader."""

from __future__ import annotations

from datetime import date

import psycopg
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import CASELOAD_LOCKBOX_FROM, LATEST_VERSION, OTHERS_UNDER_LOCKBOX_FROM
from alliancekit_postgres.testing import PgServer
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Consent, Consultation, FitDecision, Role
from alliancekit.plugins.manager import make_plugin_host

CLINIC = "clinic-a"
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
DAY = date(2026, 1, 6)


def _closed(p: Practice, client_ref: str) -> str:
    """An episode closed at its fit decision (the client is not proceeding)."""
    ep = p.start_episode(OWN, client_ref=client_ref, clinician_id=OWN.id, opened_on=DAY)
    consent = Consent(treatment=True, measures=True)
    p.record_consultation(OWN, ep, Consultation(held_on=DAY, modality="video", consent=consent))
    p.decide_fit(OWN, ep, FitDecision(outcome="not-proceed", decided_on=DAY))
    return ep


def _ids(store: PostgresStore) -> list[str]:
    return [r.episode_id for r in store.caseload(closed_under_lockbox=True)]


def test_a_schema_from_before_the_reader(pg: PgServer, admin: psycopg.Connection) -> None:
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        p = Practice(store, plugins=make_plugin_host(load_entry_points=False))
        locked, plain = _closed(p, "ref-1"), _closed(p, "ref-2")
        still_open = p.start_episode(OWN, client_ref="ref-3", clinician_id=OWN.id, opened_on=DAY)
        p.set_lockbox(OWN, locked, scope="class", classes=["consultation"], on=DAY)
        expected = sorted([locked, still_open])
        assert _ids(store) == expected
        assert plain not in _ids(store)
    finally:
        store.close()
    s = sql.Identifier(schema)
    admin.execute(sql.SQL("DROP FUNCTION {}.caseload_open_or_lockbox").format(s))
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s), (CASELOAD_LOCKBOX_FROM,)
    )
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        assert reader.schema_version() == CASELOAD_LOCKBOX_FROM - 1
        assert _ids(reader) == expected
        assert [r.episode_id for r in reader.caseload(clinician_id="nobody", closed_under_lockbox=True)] == []
    finally:
        reader.close()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)  # migrates again
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _ids(store) == expected
    finally:
        store.close()


NEW = Actor("clin-b", Role.CLINICIAN, CLINIC)
#: (clinician, open_only, closed_under_lockbox) of the reads compared across schema versions.
QUERIES = [
    (clinician, open_only, closed)
    for clinician in (OWN.id, NEW.id, "nobody")
    for open_only in (True, False)
    for closed in (True, False)
]


def _with_others(store: PostgresStore) -> list[list[str]]:
    return [
        [
            r.episode_id
            for r in store.caseload(
                clinician_id=clinician,
                open_only=open_only,
                closed_under_lockbox=closed,
                others_under_lockbox=True,
            )
        ]
        for clinician, open_only, closed in QUERIES
    ]


def test_a_schema_from_before_the_reader_of_other_clinicians_rows(
    pg: PgServer, admin: psycopg.Connection
) -> None:
    """One clinician's caseload with the other clinicians' rows under a lockbox (migration 8's reader and
    index): a read-only store on version 7 filters the whole caseload to the same rows, and opening it
    writable adds them again."""
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)
    try:
        p = Practice(store, plugins=make_plugin_host(load_entry_points=False))
        moved, moved_closed = (
            p.start_episode(OWN, client_ref=ref, clinician_id=OWN.id, opened_on=DAY)
            for ref in ("ref-1", "ref-2")
        )
        for ep in (moved, moved_closed):
            p.transfer(OWN, ep, to_clinician_id=NEW.id, on=DAY, reason="leave")
            p.set_lockbox(NEW, ep, scope="class", classes=["administrative"], on=DAY)
        consent = Consent(treatment=True, measures=True)  # clin-b closes it at the fit decision
        p.record_consultation(NEW, moved_closed, Consultation(held_on=DAY, modality="video", consent=consent))
        p.decide_fit(NEW, moved_closed, FitDecision(outcome="not-proceed", decided_on=DAY))
        plain = _closed(p, "ref-3")  # clin-a's, closed, no directive
        kept = p.start_episode(OWN, client_ref="ref-4", clinician_id=OWN.id, opened_on=DAY)
        theirs = p.start_episode(NEW, client_ref="ref-5", clinician_id=NEW.id, opened_on=DAY)
        expected = _with_others(store)
        # clin-a's open caseload brings clin-b's open row under a directive; with the closed ones, both
        assert expected[QUERIES.index((OWN.id, True, False))] == sorted([moved, kept])
        assert expected[QUERIES.index((OWN.id, False, False))] == sorted([moved, moved_closed, plain, kept])
        assert expected[QUERIES.index((NEW.id, True, False))] == sorted([moved, theirs])
    finally:
        store.close()
    s = sql.Identifier(schema)
    admin.execute(sql.SQL("DROP FUNCTION {}.caseload_with_others_under_lockbox").format(s))
    admin.execute(sql.SQL("DROP INDEX {}.episodes_under_lockbox").format(s))
    admin.execute(
        sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s),
        (OTHERS_UNDER_LOCKBOX_FROM,),
    )
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        assert reader.schema_version() == OTHERS_UNDER_LOCKBOX_FROM - 1
        assert _with_others(reader) == expected
    finally:
        reader.close()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)  # migrates again
    try:
        assert store.schema_version() == LATEST_VERSION
        assert _with_others(store) == expected
    finally:
        store.close()
