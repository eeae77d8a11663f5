"""A database and an ordinary role of a test run's own on a real PostgreSQL server, dropped afterwards.

For this plugin's tests and for hosts testing their own code against the store. ``ALLIANCEKIT_TEST_PG_DSN``
names a superuser connection (default: the local server). Without a reachable server :func:`test_server`
skips the test with a one-line reason, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _with_database(dsn: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        host = netloc.rpartition("@")[2]
        netloc = f"{user}@{host}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + database))


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
        with psycopg.connect(self.server_admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE").format(
                    sql.Identifier(self.app_role)
                )
            )

    def drop(self) -> None:
        with psycopg.connect(self.server_admin_dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.database))
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.app_role)))

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_dsn, autocommit=True)

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
        return f"{self.app_dsn}?clinic={clinic}&schema={schema}{extra}"


def test_server() -> Iterator[PgServer]:
    """A pytest fixture body: the run's :class:`PgServer`, created, yielded and dropped."""
    import pytest

    dsn = os.environ.get("ALLIANCEKIT_TEST_PG_DSN", DEFAULT_DSN)
    try:
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        parts = urlsplit(dsn)
        reason = f"PostgreSQL not reachable at {parts.hostname}:{parts.port or 5432} ({type(exc).__name__})"
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
