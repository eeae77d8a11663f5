"""Fixtures of the CLI tests: a PostgreSQL server of the run's own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def pg() -> Iterator[Any]:
    """The run's database and ordinary role on the PostgreSQL server (see alliancekit_postgres.testing)."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("alliancekit_postgres", reason="alliancekit-postgres is not installed")
    from alliancekit_postgres.testing import test_server

    yield from test_server()
