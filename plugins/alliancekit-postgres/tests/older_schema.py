"""A schema faked back to an older version, as that version's migrations left it: the later versions' tables,
columns and routines gone with their ``schema_migrations`` rows, so that the structure is the older
version's (a read-only store reads the structure there, :mod:`alliancekit.store.structure`)."""

from __future__ import annotations

import contextlib

import psycopg
from alliancekit_postgres import schema as pg_schema
from alliancekit_postgres.schema import BACKFILL_AUDITED_FROM, POPULATION_FROM
from alliancekit_postgres.testing import PgServer
from psycopg import sql

# The schema as migration 13 left it: the column and its place in the covering index gone, append_commit of
# 36 parameters and the readers without the population (migrations 2, 5, 7 and 8 made them; those of 5, 7
# and 8 run again safely).
_INDEX_2 = """CREATE INDEX episodes_closed_outcomes ON {s}.episodes (clinic_id, episode_id)
    INCLUDE (clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,
             modality, ending_reason, lockbox)
    WHERE closed_on IS NOT NULL"""
_APPEND_COMMIT_14 = """DROP FUNCTION {s}.append_commit(text, text, text, text, text, text, integer, text,
    integer, integer, text, jsonb, text, text, text, date, date, integer, text, integer, integer, boolean,
    date, text, text, text, double precision, double precision, integer, text, text, text, jsonb, jsonb,
    jsonb, text, text)"""
(_CLOSED_OUTCOMES_2,) = [spec for spec in pg_schema._READERS_V2 if spec[0] == "closed_outcomes"]


def as_migration_13_left_it(pg: PgServer, schema: str) -> None:
    """``schema`` as migration 13 left it (the later migrations' population column and ``find_code`` gone)."""
    s = sql.Identifier(schema)
    with contextlib.closing(psycopg.connect(pg.app_dsn, autocommit=True)) as owner:
        owner.execute(sql.SQL("ALTER TABLE {}.episodes DROP COLUMN population CASCADE").format(s))
        owner.execute(sql.SQL(_INDEX_2).format(s=s))
        owner.execute(sql.SQL(_APPEND_COMMIT_14).format(s=s))
        owner.execute(sql.SQL("DROP FUNCTION {}.closed_outcomes(text)").format(s))
        owner.execute(
            sql.SQL("DROP FUNCTION {}.find_code(text, text, timestamptz)").format(s)
        )  # migration 15's
        for text in (
            pg_schema._MIGRATION_MISSED,
            pg_schema._MIGRATION_CASELOAD_LOCKBOX,
            pg_schema._MIGRATION_OTHERS_UNDER_LOCKBOX,
            pg_schema._reader(*_CLOSED_OUTCOMES_2),
        ):
            owner.execute(sql.SQL(text).format(s=s))
        owner.execute(
            sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s), (POPULATION_FROM,)
        )


def as_migration_12_left_it(pg: PgServer, schema: str) -> None:
    """``schema`` as migration 12 left it: migration 13's readers of commands and requests gone too."""
    as_migration_13_left_it(pg, schema)
    s = sql.Identifier(schema)
    with contextlib.closing(psycopg.connect(pg.app_dsn, autocommit=True)) as owner:
        owner.execute(
            sql.SQL("DROP FUNCTION {s}.command_records(text), {s}.request_records(text)").format(s=s)
        )
        owner.execute(
            sql.SQL("DELETE FROM {}.schema_migrations WHERE version >= %s").format(s),
            (BACKFILL_AUDITED_FROM,),
        )
