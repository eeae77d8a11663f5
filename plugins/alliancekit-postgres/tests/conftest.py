"""A real PostgreSQL server for the plugin's tests (:mod:`alliancekit_postgres.testing`): a database and a
role of this run's own, dropped after."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import pytest

if os.environ.get("CI") != "true":
    # Outside CI a checkout without the plugin installed skips these tests with one line; in CI it fails.
    pytest.importorskip("psycopg", reason="psycopg is not installed")
    pytest.importorskip("alliancekit_postgres", reason="alliancekit-postgres is not installed")

import psycopg  # after the guard above
from alliancekit_postgres.testing import PgServer, test_server

__all__ = ["PgServer"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: minutes rather than seconds (still run by default and in CI; -m 'not slow' skips)"
    )


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    yield from test_server()


@pytest.fixture
def admin(pg: PgServer) -> Iterator[psycopg.Connection]:
    with contextlib.closing(pg.admin()) as conn:
        yield conn
