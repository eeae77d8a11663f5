"""The plugin module named by the ``alliancekit`` entry point: registers the ``postgresql`` scheme."""

from __future__ import annotations

from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.store.registry import StoreRegistrar


@hookimpl
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    # Imported here so that listing plugins does not import psycopg.
    from alliancekit_postgres.store import open_postgres

    register("postgresql", open_postgres)
    register("postgres", open_postgres)
