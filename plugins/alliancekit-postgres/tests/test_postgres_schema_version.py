"""A schema version lowered by hand on PostgreSQL (rows deleted from ``schema_migrations``) hides none of
verification's checks: the read-only store reads the structure there, and a stated version the markers
(:data:`alliancekit_postgres.schema.STRUCTURE`) disagree with is a ``schema`` finding."""

from __future__ import annotations

import os
import subprocess
import sys

from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import DEFINITIONS_FROM, LATEST_VERSION, READABLE_FROM, STRUCTURE
from alliancekit_postgres.testing import PgServer
from psycopg import sql

from alliancekit.store.structure import SchemaFound

CLINIC = "clinic-a"
UNCHANGED = "changed outside alliancekit"
NEWEST = max(STRUCTURE)
CHANGED_ORS = (
    "UPDATE {}.measure_definitions SET definition = replace(definition, '\"ors\"', '\"ors \"')"
    " WHERE measure_id = 'ors'"
)


def _state(pg: PgServer, schema: str, version: int) -> None:
    """The schema's ``schema_migrations`` rows from ``version`` on deleted (as someone lowering it would)."""
    with pg.admin() as conn:
        conn.execute(
            sql.SQL("DELETE FROM {}.schema_migrations WHERE version > %s").format(sql.Identifier(schema)),
            (version,),
        )


def _found(pg: PgServer, schema: str) -> SchemaFound:
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    try:
        return store.schema_found()
    finally:
        store.close()


def _drop(pg: PgServer, schema: str, marker: str) -> None:
    s = sql.Identifier(schema)
    with pg.admin() as conn:
        if marker.endswith("()"):
            conn.execute(sql.SQL("DROP FUNCTION {}.{} CASCADE").format(s, sql.Identifier(marker[:-2])))
        elif "." in marker:
            table, column = marker.split(".")
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} DROP COLUMN {} CASCADE").format(
                    s, sql.Identifier(table), sql.Identifier(column)
                )
            )
        else:
            conn.execute(sql.SQL("DROP TABLE {}.{} CASCADE").format(s, sql.Identifier(marker)))


def test_verify_finds_a_lowered_version_and_still_checks_the_later_tables(pg: PgServer) -> None:
    """Through the command line, as a user runs it: exit 1, the schema finding, and the changed measure
    definition (a table from version 6) still found with the version stated below it."""
    schema = pg.new_schema()
    location = pg.location(schema, "demo-clinic")
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"}
    env["ALLIANCEKIT_PLUGINS"] = "postgres"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "alliancekit", *argv], capture_output=True, text=True, env=env, check=False
        )

    made = run("demo", "--db", location, "--clients", "12", "--seed", "5", "--today", "2026-06-30", "-q")
    assert made.returncode == 0, made.stderr
    with pg.admin() as conn:
        conn.execute(sql.SQL(CHANGED_ORS).format(sql.Identifier(schema)))
    _state(pg, schema, DEFINITIONS_FROM - 1)
    done = run("verify", "--db", location)
    assert done.returncode == 1, done.stderr
    assert (
        f"schema: the store's schema: version {DEFINITIONS_FROM - 1} is lower than its structure (version"
        f" {NEWEST}'s {STRUCTURE[NEWEST]} is present; {UNCHANGED})" in done.stdout
    )
    assert "definitions: measure ors version 1.0: its text does not match its SHA-256" in done.stdout
    assert f"; schema version {DEFINITIONS_FROM - 1}" in done.stdout


def test_a_new_schema_has_every_versions_marker_and_a_lowered_one_is_found(pg: PgServer) -> None:
    schema = pg.new_schema()
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()
    assert _found(pg, schema) == SchemaFound(LATEST_VERSION, LATEST_VERSION)
    _state(pg, schema, NEWEST - 1)  # one below the newest marker: found
    assert _found(pg, schema) == SchemaFound(
        NEWEST - 1,
        LATEST_VERSION,
        f"version {NEWEST - 1} is lower than its structure (version {NEWEST}'s {STRUCTURE[NEWEST]} is"
        f" present; {UNCHANGED})",
    )


def test_every_versions_marker_is_told_removed_newest_first(pg: PgServer) -> None:
    """From a new schema, each version's marker removed (newest first) is found missing while the rows
    still state its version; with the rows deleted down to the version before, the schema fits again."""
    schema = pg.new_schema()
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()
    stated = LATEST_VERSION
    for version in sorted(STRUCTURE, reverse=True):
        _drop(pg, schema, STRUCTURE[version])
        assert _found(pg, schema) == SchemaFound(
            stated,
            max(version - 1, min(STRUCTURE)),
            f"version {stated} is higher than its structure (version {version}'s {STRUCTURE[version]} is"
            f" missing; {UNCHANGED})",
        )
        if version == READABLE_FROM:
            break  # a read-only store refuses a schema stating a version older than the oldest it reads
        stated = version - 1
        _state(pg, schema, stated)
        assert _found(pg, schema) == SchemaFound(stated, stated)
