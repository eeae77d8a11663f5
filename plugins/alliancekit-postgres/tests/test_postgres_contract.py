"""The PostgreSQL store passes the store contract, against a real server, under row-level security."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit.store.protocol import Store
from alliancekit.testing import StoreContract

# The fault is raised by the server itself, from a trigger, so the real transaction has to roll back.
_FAULTS = {
    # The events are in (the episode row went before them), then the write fails.
    "after-events": "AFTER INSERT ON {s}.events",
    # Everything but the audit rows is in.
    "before-audit": "BEFORE INSERT ON {s}.audit",
}


class TestPostgresStore(StoreContract):
    same_key_submissions = 1000

    @pytest.fixture(autouse=True)
    def _server(self, pg) -> None:  # type: ignore[no-untyped-def]
        self.pg = pg

    def create_store(self) -> Store:
        return PostgresStore(self.pg.app_dsn, clinic_id=self.CLINIC, schema=self.pg.new_schema(), pool_max=8)

    def store_for_clinic(self, store: Store, clinic_id: str) -> Store:
        assert isinstance(store, PostgresStore)
        return store.for_clinic(clinic_id)

    def open_again(self, store: Store) -> Store:
        assert isinstance(store, PostgresStore)
        return PostgresStore(self.pg.app_dsn, clinic_id=store.clinic_id, schema=store.schema, pool_max=2)

    def open_read_only(self, store: Store) -> Store:
        assert isinstance(store, PostgresStore)
        return PostgresStore(
            self.pg.app_dsn, clinic_id=store.clinic_id, schema=store.schema, pool_max=2, read_only=True
        )

    def shared_location(self, store: Store) -> str:
        assert isinstance(store, PostgresStore)
        return str(self.pg.location(store.schema, store.clinic_id, pool_max=2))

    @contextlib.contextmanager
    def fail_writes(self, store: Store, point: str) -> Iterator[None]:
        assert isinstance(store, PostgresStore)
        s = sql.Identifier(store.schema)
        with self.pg.admin() as admin:
            admin.execute(
                sql.SQL(
                    "CREATE FUNCTION {s}.contract_fault() RETURNS trigger LANGUAGE plpgsql AS"
                    " $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$"
                ).format(s=s)
            )
            admin.execute(
                sql.SQL(
                    "CREATE TRIGGER contract_fault " + _FAULTS[point] + " FOR EACH ROW"
                    " EXECUTE FUNCTION {s}.contract_fault()"
                ).format(s=s)
            )
            try:
                yield
            finally:
                admin.execute(sql.SQL("DROP FUNCTION {s}.contract_fault() CASCADE").format(s=s))
