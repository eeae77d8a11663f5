"""The PostgreSQL store passes the store contract, against a real server, under row-level security."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.testing import release_when_ready
from psycopg import sql

from alliancekit.store.protocol import Store
from alliancekit.testing.store import StoreContract

# The fault is raised by the server itself, from a trigger, so the real transaction has to roll back.
_FAULTS = {
    # The events are in (the episode row went before them), then the write fails.
    "after-events": "AFTER INSERT ON {s}.events",
    # Everything but the audit rows is in.
    "before-audit": "BEFORE INSERT ON {s}.audit",
}


# One process of the sealing race: its own Practice (with the PostgreSQL plugin loaded, which the suite's
# own worker cannot: it builds a host of the builtins only), released with the others, then ROUNDS times:
# start an episode, record a consultation, read it, seal; closing seals once more.
_SEALER = """
import sys, time
from pathlib import Path
from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.store import SEAL_KEY, _consultation, _DAY

location, clinic, w, rounds, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
host = make_plugin_host(load_entry_points=True, allow=["postgres"])
practice = open_practice(location, plugins=host, audit_key=SEAL_KEY, checkpoint_every=5)
actor, admin = Actor(f"clin-p{w}", Role.CLINICIAN, clinic), Actor("admin-1", Role.ADMINISTRATOR, clinic)
Path(start).with_name(f"ready-{w}").touch()
while not Path(start).exists():
    time.sleep(0.005)
try:
    for round_ in range(rounds):
        ref = f"p-{round_}-{w}"
        ep = practice.start_episode(actor, client_ref=ref, clinician_id=actor.id, opened_on=_DAY)
        practice.record_consultation(actor, ep, _consultation())
        practice.episode(actor, ep)
        practice.audit_checkpoint(admin)
finally:
    practice.close()
"""


class TestPostgresStore(StoreContract):
    same_key_submissions = 1000
    seal_process_rounds = 20

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

    @pytest.mark.slow
    def test_concurrent_sealing_in_processes_keeps_the_record_verifiable(self, store: Store) -> None:
        """6 processes, each with its own Practice on one schema, 20 rounds of writing and sealing at once.

        Overrides the suite's version, whose workers load the builtin plugins only (no ``postgresql``
        scheme); the scenario and the checks are the same, each process running its rounds back to back.
        """
        location = self.shared_location(store)
        start = self.tmp_path / "start"
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _SEALER,
                    location,
                    self.CLINIC,
                    str(w),
                    str(self.seal_process_rounds),
                    str(start),
                ]
            )
            for w in range(self.seal_processes)
        ]
        release_when_ready(procs, start)
        assert [p.wait(timeout=600) for p in procs] == [0] * self.seal_processes
        report = self._verify(store)
        assert report.ok, report.describe()
        assert report.seals_checked
        checkpoints = store.audit_checkpoints()
        assert [c.seq for c in checkpoints] == list(range(1, len(checkpoints) + 1))
        # every round sealed something; a sealer that finds nothing new since the last seal writes none
        assert len(checkpoints) >= self.seal_process_rounds

    def tamper_audit_entry(self, store: Store, clinic_id: str) -> bool:
        assert isinstance(store, PostgresStore)
        with self.pg.admin() as admin:  # the server's administrator: row-level security does not apply
            changed = admin.execute(
                sql.SQL(
                    "UPDATE {s}.audit SET actor_id = 'x' WHERE (clinic_id, shard, position) ="
                    " (SELECT clinic_id, shard, position FROM {s}.audit WHERE clinic_id = %s"
                    " ORDER BY shard, position LIMIT 1)"
                ).format(s=sql.Identifier(store.schema)),
                (clinic_id,),
            ).rowcount
        return changed == 1

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
