"""Ready for a distributed PostgreSQL (Citus, distribution column ``clinic_id``) as the schema is: every
table's primary key and unique constraints include the clinic id, no foreign key joins rows of different
clinics, and every statement the store runs names the clinic it acts for.

Read from the catalog of a schema the store created and migrated, not from the migration text."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import CLINIC_TABLES, LEGACY_TABLES
from alliancekit_postgres.store import _SQL_TEXT

CLINIC = "clinic-dist"
#: Tables without clinical rows: a distributed database keeps them as reference (replicated) tables.
REFERENCE_TABLES = ("schema_migrations",)


@pytest.fixture
def schema(pg) -> Iterator[tuple[psycopg.Connection, str]]:  # type: ignore[no-untyped-def]
    name = pg.new_schema()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=name, pool_max=1)
    store.close()
    with psycopg.connect(pg.admin_dsn) as conn:
        yield conn, name


def _tables(conn: psycopg.Connection, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
        (schema,),
    ).fetchall()
    return [r[0] for r in rows]


def _columns(conn: psycopg.Connection, schema: str, sql_text: str) -> list[tuple[str, str, list[str]]]:
    """(table, constraint or index, its columns) for each row of ``sql_text``'s catalog query."""
    return [(r[0], r[1], list(r[2])) for r in conn.execute(sql_text, (schema,)).fetchall()]


def test_every_table_is_keyed_by_clinic(schema: tuple[psycopg.Connection, str]) -> None:
    conn, name = schema
    tables = _tables(conn, name)
    assert set(tables) == {*CLINIC_TABLES, *LEGACY_TABLES, *REFERENCE_TABLES}, (
        "a table this test does not know"
    )
    keys = _columns(
        conn,
        name,
        "SELECT t.relname, i.relname, array_agg(a.attname::text ORDER BY a.attnum)"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)"
        " WHERE n.nspname = %s AND (x.indisunique OR x.indisprimary) GROUP BY 1, 2",
    )
    with_primary_key = {
        r[0]
        for r in conn.execute(
            "SELECT t.relname FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid"
            " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND k.contype = 'p'",
            (name,),
        )
    }
    assert with_primary_key == set(tables), "a table without a primary key cannot be distributed"
    assert keys, "no keys found: the catalog query is wrong"
    missing = [
        (table, index)
        for table, index, columns in keys
        if table not in REFERENCE_TABLES and "clinic_id" not in columns
    ]
    assert missing == []


def test_no_foreign_key_crosses_clinics(schema: tuple[psycopg.Connection, str]) -> None:
    conn, name = schema
    foreign = conn.execute(
        "SELECT t.relname, k.conname,"
        " ARRAY(SELECT attname::text FROM pg_attribute"
        "       WHERE attrelid = k.conrelid AND attnum = ANY (k.conkey)),"
        " ARRAY(SELECT attname::text FROM pg_attribute"
        "       WHERE attrelid = k.confrelid AND attnum = ANY (k.confkey))"
        " FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid"
        " JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = %s AND k.contype = 'f'",
        (name,),
    ).fetchall()
    crossing = [
        (table, key)
        for table, key, mine, theirs in foreign
        if "clinic_id" not in mine or "clinic_id" not in theirs
    ]
    assert crossing == []


#: A table of the store's schema named in SQL text (``"schema".table`` or ``schema.table``).
_TABLE = re.compile(
    r'(?:"[^"]+"|\w+)\.(events|episodes|audit|audit_heads|audit_checkpoints|commands|outbox)\b'
)


def test_every_query_names_its_clinic(schema: tuple[psycopg.Connection, str]) -> None:
    """Each function of the schema that reads or writes a table, and each statement the store sends that
    names a table, mentions the clinic id (a filter, a key or the row's own column): none reads across
    clinics, so each runs on the one shard that holds its clinic."""
    conn, name = schema
    functions = conn.execute(
        "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s",
        (name,),
    ).fetchall()
    assert functions, "the store defines its statements as functions of its schema"
    bodies = [(f"function {fname}", src) for fname, src in functions]
    bodies += [(f"statement {key}", text) for key, text in _SQL_TEXT.items()]
    unscoped = []
    for where, text in bodies:
        for statement in text.split(";"):
            if _TABLE.search(statement) and "clinic_id" not in statement and "p_scope" not in statement:
                unscoped.append((where, _TABLE.search(statement).group(1)))  # type: ignore[union-attr]
    assert unscoped == []
