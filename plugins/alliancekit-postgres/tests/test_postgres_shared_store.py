"""One store shared by practices (one per request, a view per clinic), as deploying.md advises: closing a
practice opened on a store object leaves the store, and its pool, to the host that opened it."""

from __future__ import annotations

import pytest
from alliancekit_postgres import PostgresStore

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import StoreError
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.concurrency import active_episode


def test_closing_a_practice_leaves_the_shared_store_open(pg) -> None:  # type: ignore[no-untyped-def]
    store = PostgresStore(pg.app_dsn, clinic_id="north", schema=pg.new_schema(), pool_max=2)
    host = make_plugin_host(load_entry_points=False)
    north, south = Actor("n-clin", Role.CLINICIAN, "north"), Actor("s-clin", Role.CLINICIAN, "south")
    try:
        with open_practice(store.for_clinic("south"), plugins=host) as south_practice:
            with open_practice(store, plugins=host) as request:  # one request's practice, then closed
                ep_north = active_episode(request, north)
            ep_south = active_episode(south_practice, south)  # the other clinic's practice goes on
            with open_practice(store, plugins=host) as next_request:
                assert next_request.episode(north, ep_north).version > 0
            assert south_practice.episode(south, ep_south).version > 0
    finally:
        store.close()
    with pytest.raises(StoreError, match="closed"):  # the host's close does close it
        store.load_snapshot(ep_north)
