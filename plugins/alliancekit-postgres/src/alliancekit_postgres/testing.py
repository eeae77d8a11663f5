"""A database and an ordinary role of a test run's own on a real PostgreSQL server, dropped afterwards.

For this plugin's tests and for hosts testing their own code against the store. ``ALLIANCEKIT_TEST_PG_DSN``
names a superuser connection (default: the local server). Without a reachable server :func:`test_server`
skips the test with a one-line reason, except under ``CI=true``, where that is a failure. A server that is
there but slow to answer (a loaded machine) is waited for, up to :data:`CONNECT_TIMEOUT`: only one that
refuses, or does not answer in that time, is taken for absent.

The run's database has ``synchronous_commit = off``: a commit returns before the server's write-ahead log
reaches the disk, which takes from nothing to several milliseconds a commit, machine by machine. A server
crash could lose the last commits, never corrupt the database; what every session reads and writes, its
locks and isolation, are as they ship.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
#: Seconds the run's own connections to the server wait for it to answer. A server that is not there
#: refuses a connection at once, so this only bounds the wait for one that is there and busy: on a machine
#: loaded by the rest of the run that has taken more than 3 seconds, and the run must not take such a
#: server for absent (a session fixture's failure fails every test of the process that asked for it).
CONNECT_TIMEOUT = 60


def _with_database(dsn: str, database: str, user: str | None = None) -> str:
    """``dsn`` naming ``database`` (and ``user``). By hand, not urlunsplit: that drops an empty authority,
    and ``postgresql://postgres@/test?host=/var/run/postgresql`` (the Unix socket) has one."""
    scheme, _, rest = dsn.partition("://")
    before_query, mark, query = rest.partition("?")
    authority = before_query.partition("/")[0]
    if user is not None:
        authority = f"{user}@{authority.rpartition('@')[2]}"
    return f"{scheme}://{authority}/{database}{mark}{query}"


class PgServer:
    """This run's database on the test server, with an ordinary (non-superuser) application role."""

    def __init__(self, admin_dsn: str) -> None:
        self.token = secrets.token_hex(4)
        self.database = f"alliancekit_test_{self.token}"
        self.app_role = f"alliancekit_test_{self.token}_app"
        self.server_admin_dsn = admin_dsn
        self.admin_dsn = _with_database(admin_dsn, self.database)
        self.app_dsn = _with_database(admin_dsn, self.database, user=self.app_role)
        self._schemas = 0

    def create(self) -> None:
        with psycopg.connect(self.server_admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            no_flush_wait = sql.SQL("ALTER DATABASE {} SET synchronous_commit = off")
            conn.execute(no_flush_wait.format(sql.Identifier(self.database)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(self.app_role)
                )
            )

    def drop(self) -> None:
        with psycopg.connect(self.server_admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.app_role)))

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)

    def new_schema(self, *, owned_by_app: bool = True) -> str:
        """An empty schema for one test; the application role owns it unless told otherwise."""
        self._schemas += 1
        name = f"t{self._schemas}"
        with self.admin() as conn:
            if owned_by_app:
                conn.execute(
                    sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                        sql.Identifier(name), sql.Identifier(self.app_role)
                    )
                )
            else:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return name

    def location(self, schema: str, clinic: str, **options: object) -> str:
        extra = "".join(f"&{k}={v}" for k, v in options.items())
        return f"{self.app_dsn}{'&' if '?' in self.app_dsn else '?'}clinic={clinic}&schema={schema}{extra}"


def _server(dsn: str) -> str:
    """Where ``dsn`` points, for a message: host and port, or the socket directory; never the password."""
    params = conninfo_to_dict(dsn)
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"


def test_server() -> Iterator[PgServer]:
    """A pytest fixture body: the run's :class:`PgServer`, created, yielded and dropped."""
    import pytest

    dsn = os.environ.get("ALLIANCEKIT_TEST_PG_DSN", DEFAULT_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        reason = f"PostgreSQL not reachable at {_server(dsn)} ({type(exc).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " and CI=true", pytrace=False)
        pytest.skip(reason)
    server = PgServer(dsn)
    server.create()
    try:
        yield server
    finally:
        server.drop()


test_server.__test__ = False  # type: ignore[attr-defined]  # a fixture body, not a test


def release_when_ready(procs: Sequence[subprocess.Popen[bytes]], start: Path) -> None:
    """Touch ``start`` once every process has made its ``ready-<n>`` file beside it (its store is open):
    the start line is when they are all ready, not a guess of how long connecting takes. A process that
    ends before it is ready fails the wait instead of hanging it."""
    ready = [start.with_name(f"ready-{n}") for n in range(len(procs))]
    while not all(r.exists() for r in ready):
        assert all(p.poll() is None for p in procs), "a process ended before it was ready"  # noqa: S101
        time.sleep(0.005)
    start.touch()
