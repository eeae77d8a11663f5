"""The PostgreSQL store passes the administration-request contract: a token consumed in the commit's own
transaction (a racing second consume finds the row used and rolls its commit back), under row-level
security."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alliancekit_postgres import PostgresStore

from alliancekit.testing.requests import CLINIC, RequestStoreContract


class TestPostgresStoreRequests(RequestStoreContract):
    @pytest.fixture
    def request_store(self, pg) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=8)
        yield store
        store.close()

    @pytest.fixture
    def request_store_twin(self, pg, request_store: PostgresStore) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        twin = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=request_store.schema, pool_max=8)
        yield twin
        twin.close()
