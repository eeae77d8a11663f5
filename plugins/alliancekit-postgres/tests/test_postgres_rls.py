"""Row-level security: a connection acting for one clinic can neither read nor write another clinic's rows.

Proved by trying, with the application's own role, both through the store and in raw SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import attrs
import psycopg
import pytest
from alliancekit_postgres import PostgresStore, migrate
from alliancekit_postgres.schema import CLINIC_TABLES, LATEST_VERSION, LEGACY_TABLES
from psycopg import errors, sql

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import AccessDenied, MissingActor, StoreError
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import AuditRecord, Store
from alliancekit.testing.concurrency import active_episode

NORTH, SOUTH = "clinic-north", "clinic-south"


@pytest.fixture
def two_clinics(pg) -> Iterator[tuple[PostgresStore, PostgresStore, str, str]]:  # type: ignore[no-untyped-def]
    """One database, an episode in each of two clinics, a store for each."""
    north = PostgresStore(pg.app_dsn, clinic_id=NORTH, schema=pg.new_schema(), pool_max=2)
    south = north.for_clinic(SOUTH)
    host = make_plugin_host(load_entry_points=False)
    ep_north = active_episode(Practice(north, plugins=host), Actor("n-clin", Role.CLINICIAN, NORTH))
    ep_south = active_episode(Practice(south, plugins=host), Actor("s-clin", Role.CLINICIAN, SOUTH))
    yield north, south, ep_north, ep_south
    north.close()


def _app_connection(pg, clinic: str | None) -> psycopg.Connection:  # type: ignore[no-untyped-def]
    """A raw connection as the application role, inside a transaction acting for ``clinic``."""
    conn = psycopg.connect(pg.app_dsn)
    if clinic is not None:
        conn.execute("SELECT set_config('alliancekit.clinic_id', %s, true)", (clinic,))
    return conn


def test_the_store_sees_its_own_clinic_only(two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, south, ep_north, ep_south = two_clinics
    assert north.load_snapshot(ep_south) is None
    assert north.load_events(ep_south) == []
    assert list(north.episode_ids()) == [ep_north]
    assert list(south.episode_ids()) == [ep_south]
    assert {r.clinic_id for r in north.audit_records()} == {NORTH}
    # Asking for the other clinic's caseload by name gets nothing either.
    assert north.caseload(clinic_id=SOUTH, open_only=False) == []
    # The facade says "no such episode", not "forbidden": the other clinic's records do not exist here.
    practice = Practice(north, plugins=make_plugin_host(load_entry_points=False))
    with pytest.raises(LookupError):
        practice.episode(Actor("n-clin", Role.CLINICIAN, NORTH), ep_south)


def test_the_store_cannot_write_rows_of_another_clinic(two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, south, _, ep_south = two_clinics
    south_practice = Practice(south, plugins=make_plugin_host(load_entry_points=False))
    version = south.load_snapshot(ep_south)[0]
    captured = []

    class Capture:
        def append(self, commit):  # type: ignore[no-untyped-def]
            captured.append(commit)

    # Every other member is south's, declared on the class: Python 3.12+ checks the Store protocol with
    # getattr_static, which never calls __getattr__.
    for name in [n for n in dir(Store) if not n.startswith("_") and n != "append"]:
        setattr(Capture, name, property(lambda self, n=name: getattr(south, n)))

    from alliancekit.domain import Attendance, Modality, Session

    session = Session(held_on=date(2026, 1, 9), modality=Modality.VIDEO, attendance=Attendance.ATTENDED)
    Practice(Capture(), plugins=south_practice.plugins).record_session(
        Actor("s-clin", Role.CLINICIAN, SOUTH), ep_south, session
    )
    [commit] = captured
    # North's store is handed south's perfectly valid commit: refused.
    with pytest.raises(AccessDenied):
        north.append(commit)
    # A commit that claims north's episode row but carries south's events gets past the store's own check;
    # row-level security refuses the events, and nothing at all is written.
    ep_north = next(iter(north.episode_ids()))
    north_version = north.load_snapshot(ep_north)[0]
    forged = attrs.evolve(
        commit,
        episode_id=ep_north,
        expected_version=north_version,
        caseload=attrs.evolve(commit.caseload, episode_id=ep_north, clinic_id=NORTH),
        events=[attrs.evolve(e, episode_id=ep_north, seq=north_version + 1) for e in commit.events],
        audit=[],
    )
    assert forged.events[0].clinic_id == SOUTH
    with pytest.raises(AccessDenied):
        north.append(forged)
    assert north.load_snapshot(ep_north)[0] == north_version
    assert len(north.load_events(ep_north)) == north_version
    audit = AuditRecord(
        "x",
        datetime.now(UTC),
        "n-clin",
        "clinician",
        SOUTH,
        "treatment",
        "read",
        "episode",
        ep_south,
        "allowed",
    )
    with pytest.raises(AccessDenied):
        north.append_audit([audit])
    assert south.load_snapshot(ep_south)[0] == version
    assert all(r.entry_id != "x" for r in south.audit_records())
    south.append(commit)  # and the right store writes it
    assert south.load_snapshot(ep_south)[0] == version + 1


def test_raw_sql_acting_for_one_clinic_cannot_reach_the_other(pg, two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, _, ep_north, ep_south = two_clinics
    s = sql.Identifier(north.schema)
    with _app_connection(pg, NORTH) as conn:
        for table in CLINIC_TABLES:
            rows = conn.execute(
                sql.SQL("SELECT DISTINCT clinic_id FROM {}.{}").format(s, sql.Identifier(table))
            )
            assert {r[0] for r in rows} <= {NORTH}, table
        found = conn.execute(
            sql.SQL("SELECT count(*) FROM {}.events WHERE clinic_id = %s").format(s), (SOUTH,)
        )
        assert found.fetchone() == (0,)
        # Updates and deletes of the other clinic's rows touch nothing.
        cur = conn.execute(
            sql.SQL("UPDATE {}.episodes SET stage = 'closed' WHERE episode_id = %s").format(s), (ep_south,)
        )
        assert cur.rowcount == 0
        cur = conn.execute(sql.SQL("DELETE FROM {}.events WHERE episode_id = %s").format(s), (ep_south,))
        assert cur.rowcount == 0
        # Moving one of our own rows into the other clinic is refused.
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                sql.SQL("UPDATE {}.episodes SET clinic_id = %s WHERE episode_id = %s").format(s),
                (SOUTH, ep_north),
            )
    # Inserting a row for the other clinic is refused.
    with _app_connection(pg, NORTH) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(
            sql.SQL(
                "INSERT INTO {}.commands (clinic_id, command, key, request_hash, episode_id, version)"
                " VALUES (%s, 'c', 'k', 'h', %s, 1)"
            ).format(s),
            (SOUTH, ep_south),
        )
    # Switching row security off is an error for a role it applies to, not a way round it.
    with _app_connection(pg, NORTH) as conn:
        conn.execute("SET row_security = off")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("SELECT count(*) FROM {}.events").format(s))
    # The other clinic's rows are all still there.
    with _app_connection(pg, SOUTH) as conn:
        left = conn.execute(sql.SQL("SELECT count(*), max(stage) FROM {}.episodes").format(s)).fetchone()
        assert left == (1, "active")
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}.events").format(s)).fetchone() == (4,)


def test_without_a_clinic_nothing_is_visible_or_writable(pg, two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, *_ = two_clinics
    s = sql.Identifier(north.schema)
    with _app_connection(pg, None) as conn:
        for table in CLINIC_TABLES + LEGACY_TABLES:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}.{}").format(s, sql.Identifier(table)))
            assert count.fetchone() == (0,), table
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("INSERT INTO {}.commands VALUES (%s, 'k', 'e', 1)").format(s), (NORTH,))


def test_the_clinic_setting_does_not_outlive_its_transaction(pg, two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, _, ep_north, _ = two_clinics
    north.load_snapshot(ep_north)
    # Pooled connections come back with no clinic: the store sets it transaction-locally on every call.
    with north._db.pool.connection() as conn:
        setting = conn.execute("SELECT current_setting('alliancekit.clinic_id', true)").fetchone()
        assert setting in ((None,), ("",))
        count = conn.execute(sql.SQL("SELECT count(*) FROM {}.episodes").format(sql.Identifier(north.schema)))
        assert count.fetchone() == (0,)


def test_superusers_are_refused(pg) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StoreError, match=r"superuser or a BYPASSRLS role"):
        PostgresStore(pg.admin_dsn, clinic_id=NORTH, schema=pg.new_schema(owned_by_app=False))


def test_owner_migrates_and_the_app_role_cannot_switch_security_off(pg) -> None:  # type: ignore[no-untyped-def]
    """The hardened deployment: the owner migrates and grants data privileges; the app role has no DDL."""
    schema = pg.new_schema(owned_by_app=False)
    assert migrate(pg.admin_dsn, schema=schema, grant_to=pg.app_role) == LATEST_VERSION
    store = PostgresStore(pg.app_dsn, clinic_id=NORTH, schema=schema, migrate=False, pool_max=2)
    try:
        practice = Practice(store, plugins=make_plugin_host(load_entry_points=False))
        ep = active_episode(practice, Actor("n-clin", Role.CLINICIAN, NORTH))
        assert len(store.load_events(ep)) == 4
        s = sql.Identifier(schema)
        for statement in (
            sql.SQL("ALTER TABLE {}.events DISABLE ROW LEVEL SECURITY").format(s),
            sql.SQL("ALTER TABLE {}.events NO FORCE ROW LEVEL SECURITY").format(s),
            sql.SQL("DROP POLICY clinic_isolation ON {}.events").format(s),
        ):
            with _app_connection(pg, NORTH) as conn, pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
        with _app_connection(pg, NORTH) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql.SQL("DELETE FROM {}.events").format(s))  # append-only: no DELETE granted
    finally:
        store.close()


def test_a_store_behind_the_schema_without_migrate_says_so(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema(owned_by_app=False)
    with pg.admin() as conn:
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(pg.app_role)
            )
        )
    with pytest.raises(StoreError, match=r"alliancekit_postgres\.migrate"):
        PostgresStore(pg.app_dsn, clinic_id=NORTH, schema=schema, migrate=False)


def test_payloads_are_jsonb(pg, two_clinics) -> None:  # type: ignore[no-untyped-def]
    north, _, ep_north, _ = two_clinics
    with _app_connection(pg, NORTH) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT payload->>'clinician_id', jsonb_typeof(payload) FROM {}.events"
                " WHERE episode_id = %s AND seq = 1"
            ).format(sql.Identifier(north.schema)),
            (ep_north,),
        ).fetchone()
        assert row == ("n-clin", "object")
        state = conn.execute(
            sql.SQL("SELECT state FROM {}.episodes WHERE episode_id = %s").format(
                sql.Identifier(north.schema)
            ),
            (ep_north,),
        ).fetchone()
        assert state is not None
        assert state[0]["stage"] == "active"
    assert json.loads(north.load_snapshot(ep_north)[1])["stage"] == "active"


def test_a_role_that_cannot_make_the_schema_is_told_what_it_needs(pg) -> None:  # type: ignore[no-untyped-def]
    """It was told only "PostgreSQL migration failed: InsufficientPrivilege"."""
    schema = pg.new_schema(owned_by_app=False)
    with pg.admin() as conn:
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), sql.Identifier(pg.app_role)
            )
        )
    with pytest.raises(StoreError) as refused:
        PostgresStore(pg.app_dsn, clinic_id=NORTH, schema=schema)
    said = str(refused.value)
    assert said.startswith("PostgreSQL migration failed: InsufficientPrivilege (the role lacks a privilege")
    assert "grant_to=ROLE" in said
    assert pg.app_role not in said  # names no role, schema or value of the server's message
    assert schema not in said


@pytest.mark.parametrize("call", ["episode", "record"])
def test_a_call_without_an_actor_is_refused_as_missing_and_audited_in_the_stores_clinic(
    two_clinics, call
) -> None:  # type: ignore[no-untyped-def]
    """A clinic-scoped store holds its clinic's log only (row-level security refuses any other clinic id),
    so a call made with no actor, whose entry belongs to no clinic elsewhere, is filed in the store's own
    clinic's log: the caller gets MissingActor, as on every store, not the row-level refusal of the entry."""
    north, _south, ep_north, _ep_south = two_clinics
    practice = Practice(north, plugins=make_plugin_host(load_entry_points=False))
    before = set(north.audit_records())
    calls = {
        "episode": lambda: practice.episode(None, ep_north),  # type: ignore[arg-type]
        "record": lambda: practice.acknowledge_alert(None, ep_north, "alert-x"),  # type: ignore[arg-type]
    }
    with pytest.raises(MissingActor):
        calls[call]()
    (entry,) = set(north.audit_records()) - before
    assert (entry.actor_id, entry.clinic_id, entry.outcome) == ("(none)", NORTH, "refused")
    assert (
        Practice(north, plugins=make_plugin_host(load_entry_points=False))
        .verify(Actor("n-admin", Role.ADMINISTRATOR, NORTH))
        .ok
    )


@pytest.mark.parametrize("read_only", [True, False])
def test_a_role_that_may_not_use_the_schema_is_told_that_not_to_create_it(pg, read_only: bool) -> None:  # type: ignore[no-untyped-def]
    """A role without USAGE on an existing schema (an auditor's role for `alliancekit verify`, say) was told
    to open the store with migrate=False or be given CREATE on the database: neither lets it in."""
    schema = pg.new_schema(owned_by_app=False)
    migrate(pg.admin_dsn, schema=schema)  # made by its owner, with nothing granted to the application
    with pytest.raises(StoreError) as refused:
        PostgresStore(pg.app_dsn, clinic_id=NORTH, schema=schema, read_only=read_only)
    said = str(refused.value)
    assert said.startswith(
        "PostgreSQL schema check failed: InsufficientPrivilege (the role may not use the schema"
    )
    assert "grant_to=ROLE" in said
    assert "GRANT USAGE ON SCHEMA" in said
    assert "migrate=False" not in said
    assert "CREATE on the database" not in said
    assert pg.app_role not in said
    assert schema not in said
