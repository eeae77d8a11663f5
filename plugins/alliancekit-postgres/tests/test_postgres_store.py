"""The PostgreSQL store beyond the contract: locations, the plugin entry point, migrations, retries."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from alliancekit_postgres import PostgresStore, open_postgres, parse_location
from alliancekit_postgres.schema import LATEST_VERSION
from psycopg import sql

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import NotAnAlliancekitStore, StoreBusy, StoreError, StoreTooNew, ValidationError
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.concurrency import active_episode
from alliancekit.testing.store import StoreContract

CLINIC = "clinic-a"


# ------------------------------------------------------------------------------------------------ locations


def test_location_options_are_taken_out_and_the_rest_goes_to_libpq() -> None:
    conninfo, options = parse_location(
        "postgresql://app:s3cret@db.example:5433/practice?sslmode=require&clinic=north&schema=ak&pool_max=4"
    )
    assert conninfo == "postgresql://app:s3cret@db.example:5433/practice?sslmode=require"
    assert options == {"clinic": "north", "schema": "ak", "pool_max": "4"}


@pytest.mark.parametrize(
    ("query", "passed_on"),
    [
        # a space, written as %20 or as + in the location, reaches libpq as %20: libpq takes + literally
        ("options=-c%20statement_timeout%3D5000", "options=-c%20statement_timeout%3D5000"),
        ("options=-c+statement_timeout%3D5000", "options=-c%20statement_timeout%3D5000"),
        # a literal plus stays a plus
        ("application_name=a%2Bb", "application_name=a%2Bb"),
    ],
)
def test_options_reach_libpq_percent_encoded(query: str, passed_on: str) -> None:
    conninfo, options = parse_location(f"postgresql://app@db/practice?clinic=north&{query}")
    assert conninfo == f"postgresql://app@db/practice?{passed_on}"
    assert options == {"clinic": "north"}


def test_options_with_a_space_work_against_the_server(pg) -> None:  # type: ignore[no-untyped-def]
    location = pg.location(pg.new_schema(), CLINIC) + "&options=-c%20statement_timeout%3D4321"
    store = open_postgres(location)
    try:
        with store._connection() as conn:
            row = conn.execute("SHOW statement_timeout").fetchone()
    finally:
        store.close()
    assert row is not None
    assert row[0] == "4321ms"


def test_a_connection_that_cannot_succeed_fails_at_once_with_the_servers_reason(pg) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the pool retried such a connection in the background until its 30 s open timeout and
    # then said only that it could not connect: the server's reason is what only the first attempt reports.
    location = pg.location(pg.new_schema(), CLINIC) + "&options=-c%20no_such_setting%3D1"
    with pytest.raises(StoreError) as caught:
        open_postgres(location)
    assert 'unrecognized configuration parameter "no_such_setting"' in str(caught.value)
    assert "within 30 s" not in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ("&no_such_parameter=1", "invalid URI query parameter"),
        ("&connect_timeout=soon", "bad value for connect_timeout"),
    ],
)
def test_a_location_libpq_cannot_read_is_refused_naming_the_location(extra: str, reason: str) -> None:
    # Before the fix psycopg's ProgrammingError escaped the opener, and the CLI said only "plugin 'postgres'
    # failed in store opener for postgresql: ProgrammingError".
    with pytest.raises(ValidationError) as caught:
        open_postgres(f"postgresql://app:pw-s3cret@127.0.0.1/practice?clinic=north{extra}")
    assert (caught.value.field, caught.value.rule) == ("location", "conninfo")
    assert reason in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_location_libpq_cannot_read_never_echoes_its_password() -> None:
    # libpq quotes a bad percent-escape whole: here it is in the password.
    with pytest.raises(ValidationError) as caught:
        open_postgres("postgresql://app:pw%zzs3cret@127.0.0.1/practice?clinic=north")
    assert caught.value.rule == "conninfo"
    assert "invalid percent-encoded token" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__  # the driver's error is not shown in a traceback


def test_a_connect_timeout_is_set_unless_the_location_sets_one() -> None:
    from alliancekit_postgres.store import DEFAULT_CONNECT_TIMEOUT, _with_connect_timeout
    from psycopg.conninfo import conninfo_to_dict

    default = conninfo_to_dict(_with_connect_timeout("postgresql://app@db/practice"))
    assert default["connect_timeout"] == str(DEFAULT_CONNECT_TIMEOUT)
    own = conninfo_to_dict(_with_connect_timeout("postgresql://app@db/practice?connect_timeout=3"))
    assert own["connect_timeout"] == "3"


def _terminate_backend(admin, store: PostgresStore) -> bool:  # type: ignore[no-untyped-def]
    """End the backend of the store's one pooled connection, as a server restart does, and wait for it to
    be gone."""
    with store._connection() as conn:
        pid = conn.info.backend_pid
    row = admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()
    return bool(row[0])


def test_a_read_on_a_connection_the_server_ended_is_sent_again(pg, admin) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the first read after the server ended a pooled connection failed with "PostgreSQL read
    # failed: AdminShutdown (57P01)" although a read is safe to send again.
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    try:
        store.save_meta("k", '{"n": 1}')
        assert _terminate_backend(admin, store)
        assert store.load_meta("k") == '{"n": 1}'
    finally:
        store.close()


def test_a_write_on_a_connection_the_server_ended_says_the_outcome_is_unknown(pg, admin) -> None:  # type: ignore[no-untyped-def]
    from alliancekit_postgres import ConnectionLost

    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    try:
        assert _terminate_backend(admin, store)
        with pytest.raises(ConnectionLost) as caught:
            store.save_meta("k", '{"n": 1}')
        assert isinstance(caught.value, StoreError)
        message = str(caught.value)
        assert "the connection to the server was lost (AdminShutdown, 57P01)" in message
        assert "whether it was written is unknown" in message
        assert store.load_meta("k") is None  # sent on a dead connection: never reached the server
    finally:
        store.close()


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("postgresql://app@db/practice", "clinic-required"),
        ("postgresql://app@db/practice?clinic=", "required"),
        ("postgresql://app@db/practice?clinic=%20", "required"),
        ("postgresql://app@db/practice?clinic=north%20", "whitespace"),
        ("postgresql://app@db/practice?clinic=%E2%80%8Bnorth", "control-character"),
        ("postgresql://app@db/practice?clinic=re%CC%81gion", "unicode-nfc"),
        # the clinic of calls made without an actor: no store can act for it
        ("postgresql://app@db/practice?clinic=%28none%29", "reserved"),
        ("postgresql://app@db/practice?clinic=a&pool_max=many", "integer"),
        ("postgresql://app@db/practice?clinic=a&schema=no-dashes", "identifier"),
    ],
)
def test_bad_locations_are_refused_before_connecting(location: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        open_postgres(location)
    assert caught.value.rule == rule


def test_the_entry_point_registers_both_schemes(pg) -> None:  # type: ignore[no-untyped-def]
    # By name: test suites (this project's included) switch entry-point autoloading off.
    host = make_plugin_host(load_entry_points=True, allow=["postgres"])
    schemes = host.stores().schemes()
    assert schemes["postgresql"] == schemes["postgres"] == "postgres"
    schema = pg.new_schema()
    location = pg.location(schema, CLINIC, pool_max=2)
    with open_practice(location, plugins=host) as practice:
        assert isinstance(practice.store, PostgresStore)
        assert practice.store.clinic_id == CLINIC
        ep = active_episode(practice, Actor("clin", Role.CLINICIAN, CLINIC))
    with open_practice(location.replace("postgresql://", "postgres://"), plugins=host) as again:
        assert list(again.store.episode_ids()) == [ep]


def test_repr_never_shows_the_connection_string(pg) -> None:  # type: ignore[no-untyped-def]
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    try:
        assert pg.app_role not in repr(store)
        assert "127.0.0.1" not in repr(store)
    finally:
        store.close()


# ----------------------------------------------------------------------------------------------- migrations


def test_migrations_are_recorded_and_run_once_under_concurrent_opening(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait()
            stores.append(PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors, errors
        assert {s.schema_version() for s in stores} == {LATEST_VERSION}
        with pg.admin() as conn:
            rows = conn.execute(
                sql.SQL("SELECT version FROM {}.schema_migrations ORDER BY version").format(
                    sql.Identifier(schema)
                )
            ).fetchall()
        assert rows == [(v,) for v in range(1, LATEST_VERSION + 1)]
    finally:
        for s in stores:
            s.close()


def test_a_schema_of_someone_elses_tables_is_refused(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    with pg.admin() as conn:
        conn.execute(sql.SQL("CREATE TABLE {}.invoices (id int)").format(sql.Identifier(schema)))
    with pytest.raises(NotAnAlliancekitStore):
        PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema)


def test_a_schema_from_a_newer_plugin_is_refused(pg) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()
    with pg.admin() as conn:
        conn.execute(
            sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(sql.Identifier(schema)),
            (LATEST_VERSION + 1,),
        )
    with pytest.raises(StoreTooNew):
        PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema)


# ---------------------------------------------------------------------------------- serialization retries


@pytest.fixture
def flaky(pg) -> Iterator[tuple[PostgresStore, object]]:  # type: ignore[no-untyped-def]
    """A store whose server aborts the next N commits with a given SQLSTATE, from a trigger.

    A sequence counts the attempts: sequences are not rolled back, so the count survives the aborts.
    """
    schema = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2, retries=3)
    s = sql.Identifier(schema)
    admin = pg.admin()

    def arm(times: int, sqlstate: str) -> None:
        admin.execute(sql.SQL("DROP TRIGGER IF EXISTS flaky ON {}.audit").format(s))
        admin.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}.attempts").format(s))
        admin.execute(sql.SQL("CREATE SEQUENCE {}.attempts").format(s))
        admin.execute(
            sql.SQL("GRANT USAGE ON SEQUENCE {}.attempts TO {}").format(s, sql.Identifier(pg.app_role))
        )
        admin.execute(
            sql.SQL(
                "CREATE OR REPLACE FUNCTION {s}.flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF nextval({seq}) <= {times} THEN"
                " RAISE EXCEPTION 'injected' USING ERRCODE = {code}; END IF; RETURN NEW; END $$"
            ).format(
                s=s,
                seq=sql.Literal(f"{schema}.attempts"),
                times=sql.Literal(times),
                code=sql.Literal(sqlstate),
            )
        )
        admin.execute(
            sql.SQL(
                "CREATE TRIGGER flaky BEFORE INSERT ON {s}.audit FOR EACH ROW EXECUTE FUNCTION {s}.flaky()"
            ).format(s=s)
        )

    def attempts() -> int:
        row = admin.execute(sql.SQL("SELECT last_value FROM {}.attempts").format(s)).fetchone()
        assert row is not None
        return int(row[0])

    arm.attempts = attempts  # type: ignore[attr-defined]
    yield store, arm
    store.close()
    admin.close()


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_serialization_failures_and_deadlocks_are_retried(flaky, sqlstate: str) -> None:  # type: ignore[no-untyped-def]
    store, arm = flaky
    commit = StoreContract().commit("ep-1", 0, 2)
    arm(2, sqlstate)
    store.append(commit)
    assert arm.attempts() == 3  # two aborted, the third went through
    assert [e.seq for e in store.load_events("ep-1")] == [1, 2]


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_retries_are_bounded_then_store_busy(flaky, sqlstate: str) -> None:  # type: ignore[no-untyped-def]
    store, arm = flaky
    arm(100, sqlstate)
    with pytest.raises(StoreBusy, match=sqlstate):
        store.append(StoreContract().commit("ep-1", 0, 2))
    assert arm.attempts() == 4  # the first try and three retries
    assert store.load_events("ep-1") == []
    assert store.load_snapshot("ep-1") is None


# ------------------------------------------------------------------------------------------- the test server


def test_the_test_servers_database_does_not_wait_for_the_disk_at_commit(pg) -> None:  # type: ignore[no-untyped-def]
    """alliancekit_postgres.testing: the run's database commits without waiting for its log to be flushed,
    for every session, the application role's included (what the tests run as)."""
    with psycopg.connect(pg.app_dsn) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
