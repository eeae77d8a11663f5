"""The PostgreSQL schema, as numbered forward migrations recorded in ``<schema>.schema_migrations``.

Every table holding clinical or audit rows carries ``clinic_id`` as the first column of its primary key
(so that Citus can distribute by it, see the scaling guide) and a row-level security policy that lets a
transaction see and write only the rows of the clinic named in the ``alliancekit.clinic_id`` setting.
``FORCE ROW LEVEL SECURITY`` applies the policy to the table owner as well; only superusers and roles with
``BYPASSRLS`` escape it, and the store refuses to run as one of those.

Identifiers (the schema name) go through :mod:`psycopg.sql`; nothing else is formatted into SQL. Never edit a
released migration: add the next one.
"""

from __future__ import annotations

from psycopg import Connection, sql

from alliancekit.errors import NotAnAlliancekitStore, StoreTooNew

#: The session setting the policies read; set transaction-locally by the store before every statement.
CLINIC_SETTING = "alliancekit.clinic_id"
#: SQLSTATE raised by ``expect_one`` when a commit's expected stream version is stale.
STALE_VERSION_SQLSTATE = "AK409"
#: Tables under row-level security.
CLINIC_TABLES = ("events", "episodes", "commands", "outbox", "audit")

_POLICY = """
ALTER TABLE {s}.{t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.{t} FORCE ROW LEVEL SECURITY;
CREATE POLICY clinic_isolation ON {s}.{t}
    USING (clinic_id = current_setting('alliancekit.clinic_id', true))
    WITH CHECK (clinic_id = current_setting('alliancekit.clinic_id', true));
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: events, episodes (snapshot + caseload projection), commands (idempotency keys), outbox, audit
    """
    CREATE TABLE {s}.events (
        clinic_id      text COLLATE "C" NOT NULL,
        episode_id     text COLLATE "C" NOT NULL,
        seq            integer     NOT NULL,
        event_id       text        NOT NULL,
        type           text        NOT NULL,
        schema_version integer     NOT NULL,
        occurred_at    timestamptz NOT NULL,
        recorded_at    timestamptz NOT NULL,
        actor_id       text        NOT NULL,
        actor_role     text        NOT NULL,
        corrects       text,
        payload        jsonb       NOT NULL,
        PRIMARY KEY (clinic_id, episode_id, seq)
    );

    -- One row per episode: the snapshot (folded state) and the caseload projection together, so that a
    -- command reads one row and writes one row.
    CREATE TABLE {s}.episodes (
        clinic_id         text COLLATE "C" NOT NULL,
        episode_id        text COLLATE "C" NOT NULL,
        version           integer NOT NULL,
        state             jsonb   NOT NULL,
        clinician_id      text COLLATE "C" NOT NULL,
        client_ref        text    NOT NULL,
        stage             text    NOT NULL,
        opened_on         date    NOT NULL,
        last_session_on   date,
        sessions_attended integer NOT NULL,
        latest_scores     text    NOT NULL,
        open_alerts       integer NOT NULL,
        next_review_at    integer,
        review_due        boolean NOT NULL,
        closed_on         date,
        PRIMARY KEY (clinic_id, episode_id)
    );
    CREATE INDEX episodes_by_clinician ON {s}.episodes (clinic_id, clinician_id, episode_id);

    CREATE TABLE {s}.commands (
        clinic_id       text COLLATE "C" NOT NULL,
        idempotency_key text COLLATE "C" NOT NULL,
        episode_id      text    NOT NULL,
        version         integer NOT NULL,
        PRIMARY KEY (clinic_id, idempotency_key)
    );

    CREATE TABLE {s}.outbox (
        clinic_id  text COLLATE "C" NOT NULL,
        message_id text COLLATE "C" NOT NULL,
        episode_id text        NOT NULL,
        kind       text        NOT NULL,
        channel    text        NOT NULL,
        body       jsonb       NOT NULL,
        created_at timestamptz NOT NULL,
        PRIMARY KEY (clinic_id, message_id)
    );

    CREATE TABLE {s}.audit (
        clinic_id   text COLLATE "C" NOT NULL,
        seq         bigint GENERATED ALWAYS AS IDENTITY,
        entry_id    text        NOT NULL,
        at          timestamptz NOT NULL,
        actor_id    text        NOT NULL,
        actor_role  text        NOT NULL,
        purpose     text        NOT NULL,
        action      text        NOT NULL,
        record_type text        NOT NULL,
        record_id   text        NOT NULL,
        outcome     text        NOT NULL,
        PRIMARY KEY (clinic_id, seq)
    );

    -- Raises a distinct SQLSTATE when the conditional write of the episodes row touched no row, so that
    -- the whole commit can be sent in one round trip and still be refused on a stale version.
    CREATE FUNCTION {s}.expect_one(n bigint) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        IF n <> 1 THEN
            RAISE EXCEPTION 'stale stream version' USING ERRCODE = 'AK409';
        END IF;
    END
    $$;
    """
    + "".join(_POLICY.replace("{t}", table) for table in CLINIC_TABLES),
)

LATEST_VERSION = len(MIGRATIONS)

_LOCK_NAMESPACE = 0x416B  # "Ak": advisory-lock class for schema migrations


def current_version(conn: Connection[object], schema: str) -> int | None:
    """The schema's migration version; ``None`` when the schema has no alliancekit tables at all.

    :raises NotAnAlliancekitStore: the schema holds tables but no migration table.
    """
    tables = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
        (schema,),
    ).fetchall()
    names = {row[0] for row in tables}  # type: ignore[index]
    if not names:
        return None
    if "schema_migrations" not in names:
        raise NotAnAlliancekitStore(f"schema {schema!r} holds tables that alliancekit did not create")
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_migrations").format(sql.Identifier(schema))
    ).fetchone()
    return int(row[0]) if row is not None else 0  # type: ignore[index]


def migrate_connection(conn: Connection[object], schema: str, *, grant_to: str | None = None) -> int:
    """Bring ``schema`` up to :data:`LATEST_VERSION` on ``conn`` (autocommit), one transaction per run.

    Concurrent openers serialise on an advisory lock, so exactly one of them migrates. Returns the version.

    :param grant_to: a role to grant the data privileges (and nothing else) to: for deployments where an
        owner role migrates and the application connects as another role.
    :raises StoreTooNew: the schema was migrated by a newer alliancekit-postgres.
    """
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, schema))
        version = current_version(conn, schema)
        if version is not None and version > LATEST_VERSION:
            raise StoreTooNew(
                f"schema {schema!r} has version {version}; this alliancekit-postgres knows up to "
                f"{LATEST_VERSION}: upgrade it"
            )
        if version is None:
            exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE SCHEMA {}").format(s))
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {}.schema_migrations (version integer PRIMARY KEY,"
                    " applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(s)
            )
            version = 0
        for number in range(version + 1, LATEST_VERSION + 1):
            # The migration text is this module's constant; only the schema identifier is composed in.
            conn.execute(sql.SQL(MIGRATIONS[number - 1]).format(s=s))  # type: ignore[arg-type]
            conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(s), (number,)
            )
        if grant_to is not None:
            role = sql.Identifier(grant_to)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, role))
            conn.execute(sql.SQL("GRANT SELECT ON {}.schema_migrations TO {}").format(s, role))
            for table in CLINIC_TABLES:
                conn.execute(
                    sql.SQL("GRANT SELECT, INSERT, UPDATE ON {}.{} TO {}").format(s, sql.Identifier(table), role)
                )
            conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, role))
            conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(s, role))
    return LATEST_VERSION
