"""``Practice.audit_entries`` on PostgreSQL lists what it listed before the listing was read by clinic in
the store's query: a clinic-scoped store holds its own clinic's entries only, so it is read whole (one
clinic) and filtered as before, entry for entry and in order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alliancekit_postgres import PostgresStore

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.plugins.manager import make_plugin_host

from .conftest import PgServer

CLINIC = "clinic-listing"
HOST = make_plugin_host(load_entry_points=False)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Pacific/Auckland")


def test_the_listing_is_the_scope_filtered_as_before(pg: PgServer) -> None:
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=2)
    ticks = iter(range(10**9))
    zones = {CLINIC: ZONE.key}
    with Practice(
        store, plugins=HOST, clock=lambda: T0 + timedelta(hours=20) * next(ticks), clinic_time_zones=zones
    ) as practice:
        for n in (1, 2):
            me = Actor(f"clin-{n}", Role.CLINICIAN, CLINIC)
            ep = practice.start_episode(me, client_ref=f"client-{n}", clinician_id=me.id, opened_on=T0.date())
            practice.episode(me, ep)
        admin = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)
        for about, by, first in (
            (None, None, None),
            ("client-2", None, None),
            (None, "clin-1", date(2026, 3, 3)),
        ):
            got = practice.audit_entries(admin, client_ref=about, actor_id=by, since=first)
            assert got
            assert got == sorted(
                (
                    r
                    for r in store.audit_records()
                    if (about is None or r.client_ref == about)
                    and (by is None or r.actor_id == by)
                    and (first is None or r.at.astimezone(ZONE).date() >= first)
                ),
                key=lambda r: (r.at, r.shard, r.position),
            )
