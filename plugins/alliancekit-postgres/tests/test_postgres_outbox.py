"""The PostgreSQL store passes the outbox contract: claims with FOR UPDATE SKIP LOCKED, leases, retries."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alliancekit_postgres import PostgresStore

from alliancekit.testing.outbox import OutboxStoreContract


class TestPostgresStoreOutbox(OutboxStoreContract):
    @pytest.fixture
    def outbox_store(self, pg) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        store = PostgresStore(pg.app_dsn, clinic_id="clinic-outbox", schema=pg.new_schema(), pool_max=8)
        yield store
        store.close()

    @pytest.fixture
    def outbox_store_twin(self, pg, outbox_store: PostgresStore) -> Iterator[PostgresStore]:  # type: ignore[no-untyped-def]
        # A second pool on the same schema, as another dispatcher process would have.
        twin = PostgresStore(
            pg.app_dsn, clinic_id=outbox_store.clinic_id, schema=outbox_store.schema, pool_max=8
        )
        yield twin
        twin.close()
