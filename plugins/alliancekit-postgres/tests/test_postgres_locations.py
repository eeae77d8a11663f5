"""Locations in every form libpq reads (a Unix socket, several hosts, ``[IPv6]``, a percent-encoded password,
no authority at all), opened against the real server as an operator writes them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from alliancekit_postgres import PostgresStore, open_postgres, parse_location
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from alliancekit.errors import StoreError

CLINIC = "clinic-a"


@pytest.mark.parametrize(
    "location",
    [
        "postgresql:///practice?host=/var/run/postgresql",
        "postgresql://",
        "postgresql://?host=db&port=5433&dbname=practice",
        "postgresql://app@%2Fvar%2Frun%2Fpostgresql/practice",
        "postgresql://app:p%40ss%3Aw%2Frd@db/practice",
        "postgresql://app@db1:5432,db2:5433/practice?target_session_attrs=read-write",
        "postgresql://app@[::1]:5432,[2001:db8::2]/practice?sslmode=verify-full",
        "postgres://app@db/practice?options=-c%20search_path%3Dx",
    ],
)
def test_the_part_for_libpq_is_passed_on_as_written(location: str) -> None:
    # Before the fix postgresql:///practice?... (the Unix socket) became postgresql:/practice, which libpq
    # refuses ("invalid connection option"), and postgresql:// became postgresql:.
    sep = "&" if "?" in location else "?"
    conninfo, options = parse_location(f"{location}{sep}clinic=north&schema=ak")
    assert conninfo == location
    assert options == {"clinic": "north", "schema": "ak"}
    conninfo_to_dict(conninfo)  # libpq reads it


def test_a_percent_encoded_password_reaches_libpq_decoded_once() -> None:
    conninfo, _ = parse_location("postgresql://app:p%40ss%3Aw%2Frd%20x@db/practice?clinic=north")
    assert conninfo_to_dict(conninfo)["password"] == "p@ss:w/rd x"  # noqa: S105 - synthetic


def tcp_server(dsn: str) -> tuple[str, int]:
    """The test server's TCP host and port (skipping a test that needs them when it is reached by socket)."""
    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "")
    if not host or host.startswith("/") or "," in host:
        pytest.skip("the test server is reached by a Unix socket or several hosts here")
    return host, int(params.get("port") or 5432)


@pytest.fixture
def schema(pg) -> str:  # type: ignore[no-untyped-def]
    return str(pg.new_schema())


def _socket_directory(admin) -> str:  # type: ignore[no-untyped-def]
    row = admin.execute(
        "SELECT current_setting('unix_socket_directories'), current_setting('port')"
    ).fetchone()
    directory = row[0].split(",")[0].strip()
    if not directory or not os.path.exists(os.path.join(directory, f".s.PGSQL.{row[1]}")):
        pytest.skip("the test server listens on no Unix socket here")
    return directory


def _over_socket(store: PostgresStore) -> bool:
    with store._connection() as conn:
        row = conn.execute("SELECT inet_client_addr() IS NULL").fetchone()  # NULL: a Unix-socket client
    return bool(row[0])


@pytest.fixture
def opened() -> Iterator[list[PostgresStore]]:
    stores: list[PostgresStore] = []
    yield stores
    for store in stores:
        store.close()


def test_a_unix_socket_location_opens_the_store(pg, admin, schema, opened) -> None:  # type: ignore[no-untyped-def]
    # Before the fix: "libpq cannot read it: invalid connection option" for the first form.
    directory = _socket_directory(admin)
    tail = f"clinic={CLINIC}&schema={schema}"
    for location in (
        f"postgresql:///{pg.database}?host={directory}&user={pg.app_role}&{tail}",
        f"postgresql://{pg.app_role}@{quote(directory, safe='')}/{pg.database}?{tail}",
        f"postgresql://?host={directory}&user={pg.app_role}&dbname={pg.database}&{tail}",
    ):
        store = open_postgres(location)
        opened.append(store)
        store.save_meta("k", '{"n": 1}')
        assert store.load_meta("k") == '{"n": 1}'
        assert _over_socket(store)


def test_several_hosts_bracketed_ipv6_first_reach_the_one_that_answers(pg, schema, opened) -> None:  # type: ignore[no-untyped-def]
    # Port 1 answers nowhere: libpq moves on to the next host, as it does for an operator's standby list.
    host, port = tcp_server(pg.app_dsn)
    hosts = f"[::1]:1,{host}:1,{host}:{port}"
    location = (
        f"postgresql://{pg.app_role}@{hosts}/{pg.database}?sslmode=disable&clinic={CLINIC}&schema={schema}"
    )
    store = open_postgres(location)
    opened.append(store)
    store.save_meta("k", '{"n": 2}')
    assert store.load_meta("k") == '{"n": 2}'


def test_a_percent_encoded_password_opens_and_a_refusal_never_echoes_it(pg, admin, schema, opened) -> None:  # type: ignore[no-untyped-def]
    password = "p@ss:w/rd %s3cret"  # noqa: S105 - synthetic, for this run's own role
    admin.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(pg.app_role), sql.Literal(password))
    )
    host, port = tcp_server(pg.app_dsn)
    userinfo = f"{pg.app_role}:{quote(password, safe='')}"
    base = f"postgresql://{userinfo}@{host}:{port}"
    store = open_postgres(f"{base}/{pg.database}?clinic={CLINIC}&schema={schema}")
    opened.append(store)
    assert store.load_meta("absent") is None
    for refused in (f"{base}/no_such_database_{pg.token}", f"{base}/{pg.database}?sslmode=require"):
        with pytest.raises(StoreError) as caught:
            open_postgres(f"{refused}{'&' if '?' in refused else '?'}clinic={CLINIC}&schema={schema}")
        assert "s3cret" not in str(caught.value)
        assert quote(password, safe="") not in str(caught.value)


def test_the_test_server_keeps_a_unix_socket_dsn_a_unix_socket_location() -> None:
    # Before the fix the run's admin DSN lost its "//" (postgresql:/run?host=..., which libpq refuses) and
    # its locations had a second "?" (...?host=/var/run/postgresql?clinic=...).
    from alliancekit_postgres.testing import PgServer

    server = PgServer("postgresql:///test?host=/var/run/postgresql&user=postgres")
    assert server.admin_dsn == f"postgresql:///{server.database}?host=/var/run/postgresql&user=postgres"
    location = PgServer("postgresql://postgres@/test?host=/var/run/postgresql").location("s", "north")
    conninfo, options = parse_location(location)
    assert conninfo_to_dict(conninfo)["host"] == "/var/run/postgresql"
    assert options == {"clinic": "north", "schema": "s"}


def test_a_refusal_carries_the_location_without_its_password(pg, admin, schema) -> None:  # type: ignore[no-untyped-def]
    """``StoreError.location`` names the store for a caller (the CLI's ``--db``): the URL as given, less the
    password in its user part and its secret query parameters. Before, the error carried no location."""
    from alliancekit.errors import NotAnAlliancekitStore

    password = "loc-s3cret"  # noqa: S105 - synthetic, for this run's own role
    admin.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(pg.app_role), sql.Literal(password))
    )
    host, port = tcp_server(pg.app_dsn)
    base = f"postgresql://{pg.app_role}:{password}@{host}:{port}"
    shown = f"postgresql://{pg.app_role}@{host}:{port}"
    tail = f"clinic={CLINIC}&schema={schema}"
    # an empty schema, read-only: no store there
    with pytest.raises(NotAnAlliancekitStore) as caught:
        open_postgres(f"{base}/{pg.database}?sslpassword=k3y-s3cret&{tail}", read_only=True)
    assert caught.value.location == f"{shown}/{pg.database}?{tail}"
    # a database that is not there: the connection is refused
    with pytest.raises(StoreError) as refused:
        open_postgres(f"{base}/no_such_database_{pg.token}?{tail}")
    assert refused.value.location == f"{shown}/no_such_database_{pg.token}?{tail}"
    for error in (caught.value, refused.value):
        assert "s3cret" not in f"{error} {error.location} {error!r}"
