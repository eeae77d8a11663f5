"""The PostgreSQL schema, as numbered forward migrations recorded in ``<schema>.schema_migrations``.

Every table holding clinical or audit rows carries ``clinic_id`` as the first column of its primary key
(so that Citus can distribute by it, see the scaling guide) and a row-level security policy that lets a
transaction see and write only the rows of the clinic named in the ``alliancekit.clinic_id`` setting.
``FORCE ROW LEVEL SECURITY`` applies the policy to the table owner as well; only superusers and roles with
``BYPASSRLS`` escape it, and the store refuses to run as one of those.

Identifiers (the schema name) go through :mod:`psycopg.sql`; nothing else is formatted into SQL. Never edit a
released migration: add the next one.
"""

# The SQL here is this module's own constant text (DDL and function bodies); the only thing composed into it
# is the schema name, through psycopg.sql.Identifier. Values are bound when the functions are called.
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import attrs
from psycopg import Connection, sql

from alliancekit.errors import NotAnAlliancekitStore, StoreTooNew
from alliancekit.integrity import chain
from alliancekit.store import structure
from alliancekit.store.definitions import BACKFILL_KEY
from alliancekit.store.protocol import AuditRecord, StoredEvent
from alliancekit.store.structure import SchemaFound
from alliancekit.store.upgrade import adoption_entry, backfill_mark_entry, snapshot_v2

#: The session setting the policies read; set transaction-locally by the store before every statement.
CLINIC_SETTING = "alliancekit.clinic_id"
#: SQLSTATE raised by ``append_commit`` when a commit's expected stream version is stale.
STALE_VERSION_SQLSTATE = "AK409"
#: Tables under row-level security (after the latest migration; the legacy audit tables are too).
CLINIC_TABLES = (
    "events",
    "episodes",
    "commands",
    "outbox",
    "audit",
    "audit_heads",
    "audit_checkpoints",
    "practice_meta",
    "administration_requests",
    "kiosk_failures",
    "measure_definitions",
)
#: Version 1's audit chain and checkpoints, kept read-only by migration 2 (still under row-level security).
LEGACY_TABLES = ("audit_v1", "audit_checkpoints_v1")
#: The tables migration 1 created (frozen: that migration's text must never change).
_V1_TABLES = ("events", "episodes", "commands", "outbox", "audit", "audit_heads", "audit_checkpoints")

_POLICY = """
ALTER TABLE {s}.{t} ENABLE ROW LEVEL SECURITY;
ALTER TABLE {s}.{t} FORCE ROW LEVEL SECURITY;
CREATE POLICY clinic_isolation ON {s}.{t}
    USING (clinic_id = current_setting('alliancekit.clinic_id', true))
    WITH CHECK (clinic_id = current_setting('alliancekit.clinic_id', true));
"""


def _reader(name: str, params: str, returns: str, query: str) -> str:
    """A read as a PL/pgSQL function (its plan is cached, unlike a multi-statement SQL function's)."""
    # Built from this module's constants only; the schema is composed in later with psycopg.sql.
    return f"""
    CREATE FUNCTION {{s}}.{name}(p_scope text{params}) RETURNS TABLE ({returns}) LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        RETURN QUERY {query};
    END
    $$;
    """


# (name, extra parameters, result columns, query); columns are qualified so that they never resolve to the
# function's output parameters of the same name. Migration 1's readers (frozen).
_READERS_V1: tuple[tuple[str, str, str, str], ...] = (
    (
        "episode_version",
        ", p_episode text",
        "version integer",
        "SELECT e.version FROM {s}.episodes e WHERE e.clinic_id = p_scope AND e.episode_id = p_episode",
    ),
    (
        "load_snapshot",
        ", p_episode text",
        "version integer, state text",
        """SELECT e.version, e.state::text FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND e.episode_id = p_episode""",
    ),
    (
        "load_events",
        ", p_episode text, p_after integer",
        """episode_id text, seq integer, event_id text, type text, schema_version integer,
           occurred_at timestamptz, recorded_at timestamptz, actor_id text, actor_role text, clinic_id text,
           payload text, corrects text""",
        """SELECT e.episode_id::text, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
               e.recorded_at, e.actor_id, e.actor_role, e.clinic_id::text, e.payload::text, e.corrects
           FROM {s}.events e
           WHERE e.clinic_id = p_scope AND e.episode_id = p_episode AND e.seq > p_after ORDER BY e.seq""",
    ),
    (
        "caseload",
        ", p_clinician text, p_open_only boolean",
        """episode_id text, clinic_id text, clinician_id text, client_ref text, stage text,
           version integer, opened_on date, last_session_on date, sessions_attended integer,
           latest_scores text, open_alerts integer, next_review_at integer, review_due boolean,
           closed_on date, open_alerts_json text, highest_severity text, outcome_measure text,
           first_outcome double precision, latest_outcome double precision, outcome_sessions integer,
           modality text, ending_reason text""",
        """SELECT e.episode_id::text, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
               e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
               e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
               e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome, e.outcome_sessions,
               e.modality, e.ending_reason
           FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (NOT p_open_only OR e.closed_on IS NULL)
           ORDER BY e.episode_id""",
    ),
    (
        "closed_outcomes",
        "",
        """clinician_id text, closed_on date, outcome_measure text, first_outcome double precision,
           latest_outcome double precision, outcome_sessions integer, modality text, ending_reason text""",
        """SELECT e.clinician_id::text, e.closed_on, e.outcome_measure, e.first_outcome, e.latest_outcome,
               e.outcome_sessions, e.modality, e.ending_reason
           FROM {s}.episodes e WHERE e.clinic_id = p_scope AND e.closed_on IS NOT NULL
           ORDER BY e.episode_id""",
    ),
    (
        "outbox_status",
        "",
        "pending bigint, delivered bigint, dead bigint, oldest_pending_at timestamptz",
        """SELECT count(*) FILTER (WHERE o.state = 'pending'), count(*) FILTER (WHERE o.state = 'delivered'),
               count(*) FILTER (WHERE o.state = 'dead'), min(o.created_at) FILTER (WHERE o.state = 'pending')
           FROM {s}.outbox o WHERE o.clinic_id = p_scope""",
    ),
    (
        "outbox_records",
        ", p_state text, p_limit integer",
        """message_id text, episode_id text, kind text, channel text, body text, created_at timestamptz,
           state text, attempts integer, next_attempt_at timestamptz, lease_owner text,
           lease_expires_at timestamptz, last_error text""",
        """SELECT o.message_id::text, o.episode_id, o.kind, o.channel, o.body, o.created_at, o.state,
               o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_error
           FROM {s}.outbox o WHERE o.clinic_id = p_scope AND (p_state IS NULL OR o.state = p_state)
           ORDER BY o.seq LIMIT greatest(p_limit, 0)""",
    ),
    (
        "episode_ids",
        "",
        "episode_id text",
        "SELECT e.episode_id::text FROM {s}.episodes e WHERE e.clinic_id = p_scope ORDER BY e.episode_id",
    ),
    (
        "find_command",
        ", p_key text",
        "episode_id text, version integer",
        """SELECT c.episode_id, c.version FROM {s}.commands c
           WHERE c.clinic_id = p_scope AND c.idempotency_key = p_key""",
    ),
    (
        "audit_records",
        "",
        """entry_id text, at timestamptz, actor_id text, actor_role text, clinic_id text, purpose text,
           action text, record_type text, record_id text, outcome text, client_ref text, detail text,
           "position" bigint, prev_hash text, hash text""",
        """SELECT a.entry_id, a.at, a.actor_id, a.actor_role, a.clinic_id::text, a.purpose, a.action,
               a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, a.position, a.prev_hash, a.hash
           FROM {s}.audit a WHERE a.clinic_id = p_scope ORDER BY a.position""",
    ),
    (
        "audit_head",
        "",
        '"position" bigint, hash text',
        """SELECT h.position, h.hash FROM {s}.audit_heads h
           WHERE h.clinic_id = p_scope AND h.position > 0""",
    ),
    (
        "audit_checkpoints",
        "",
        '"position" bigint, hash text, mac text, at timestamptz',
        """SELECT c.position, c.hash, c.mac, c.at FROM {s}.audit_checkpoints c
           WHERE c.clinic_id = p_scope ORDER BY c.seq""",
    ),
)

# Migration 2's readers: the snapshot with its stream head, events with their hashes, the caseload and closed
# outcomes with the lockbox directives in force, scoped command keys, audit entries by shard, shard heads and
# checkpoints in the sealed shape.
_READERS_V2: tuple[tuple[str, str, str, str], ...] = (
    (
        "load_snapshot",
        ", p_episode text",
        "version integer, state text, head text",
        """SELECT e.version, e.state::text, e.head FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND e.episode_id = p_episode""",
    ),
    (
        "load_events",
        ", p_episode text, p_after integer",
        """episode_id text, seq integer, event_id text, type text, schema_version integer,
           occurred_at timestamptz, recorded_at timestamptz, actor_id text, actor_role text, clinic_id text,
           payload text, corrects text, prev_hash text, hash text""",
        """SELECT e.episode_id::text, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
               e.recorded_at, e.actor_id, e.actor_role, e.clinic_id::text, e.payload::text, e.corrects,
               e.prev_hash, e.hash
           FROM {s}.events e
           WHERE e.clinic_id = p_scope AND e.episode_id = p_episode AND e.seq > p_after ORDER BY e.seq""",
    ),
    (
        "caseload",
        ", p_clinician text, p_open_only boolean",
        """episode_id text, clinic_id text, clinician_id text, client_ref text, stage text,
           version integer, opened_on date, last_session_on date, sessions_attended integer,
           latest_scores text, open_alerts integer, next_review_at integer, review_due boolean,
           closed_on date, open_alerts_json text, highest_severity text, outcome_measure text,
           first_outcome double precision, latest_outcome double precision, outcome_sessions integer,
           modality text, ending_reason text, lockbox text""",
        """SELECT e.episode_id::text, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
               e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
               e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
               e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome, e.outcome_sessions,
               e.modality, e.ending_reason, e.lockbox
           FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (NOT p_open_only OR e.closed_on IS NULL)
           ORDER BY e.episode_id""",
    ),
    (
        "closed_outcomes",
        "",
        """clinician_id text, closed_on date, outcome_measure text, first_outcome double precision,
           latest_outcome double precision, outcome_sessions integer, modality text, ending_reason text,
           lockbox text""",
        """SELECT e.clinician_id::text, e.closed_on, e.outcome_measure, e.first_outcome, e.latest_outcome,
               e.outcome_sessions, e.modality, e.ending_reason, e.lockbox
           FROM {s}.episodes e WHERE e.clinic_id = p_scope AND e.closed_on IS NOT NULL
           ORDER BY e.episode_id""",
    ),
    (
        "find_command",
        ", p_command text, p_key text",
        "request_hash text, episode_id text, version integer",
        """SELECT c.request_hash, c.episode_id, c.version FROM {s}.commands c
           WHERE c.clinic_id = p_scope AND c.command = p_command AND c.key = p_key""",
    ),
    (
        "audit_records",
        "",
        """entry_id text, at timestamptz, actor_id text, actor_role text, clinic_id text, purpose text,
           action text, record_type text, record_id text, outcome text, client_ref text, detail text,
           writes text, shard integer, "position" bigint, prev_hash text, hash text""",
        """SELECT a.entry_id, a.at, a.actor_id, a.actor_role, a.clinic_id::text, a.purpose, a.action,
               a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, a.writes, a.shard, a.position,
               a.prev_hash, a.hash
           FROM {s}.audit a WHERE a.clinic_id = p_scope ORDER BY a.shard, a.position""",
    ),
    (
        "audit_heads",
        "",
        'shard integer, "position" bigint, hash text',
        """SELECT h.shard, h.position, h.hash FROM {s}.audit_heads h
           WHERE h.clinic_id = p_scope AND h.position > 0 ORDER BY h.shard""",
    ),
    (
        "audit_checkpoints",
        "",
        "seq bigint, heads text, root text, mac text, at timestamptz",
        """SELECT c.seq, c.heads::text, c.root, c.mac, c.at FROM {s}.audit_checkpoints c
           WHERE c.clinic_id = p_scope ORDER BY c.seq""",
    ),
)

_MIGRATION_2 = (
    """
    -- 2: tamper evidence over the whole record, scoped idempotency keys, audit chains per shard, seals.
    --
    -- Events carry their chain hashes and each episode row its stream head (both computed by the core).
    -- Rows written before this migration get theirs from backfill_2 (Python, same transaction).
    ALTER TABLE {s}.events ADD COLUMN prev_hash text NOT NULL DEFAULT '',
        ADD COLUMN hash text NOT NULL DEFAULT '';
    ALTER TABLE {s}.episodes ADD COLUMN head text NOT NULL DEFAULT '';

    -- The lockbox directives in force (canonical JSON, kept as text byte for byte), with the caseload
    -- projection, so that the summary a reader may see (a caseload row, a closed outcome) is decided without
    -- reading the snapshot. The covering index of closed outcomes carries them too. Rows written before
    -- this migration get theirs from backfill_2, which also upgrades their snapshots to shape 2.
    ALTER TABLE {s}.episodes ADD COLUMN lockbox text NOT NULL DEFAULT '{{}}';
    DROP INDEX {s}.episodes_closed_outcomes;
    CREATE INDEX episodes_closed_outcomes ON {s}.episodes (clinic_id, episode_id)
        INCLUDE (clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,
                 modality, ending_reason, lockbox)
        WHERE closed_on IS NOT NULL;

    -- Idempotency keys are scoped to (clinic, command, key) and bound to the request's hash. Keys written
    -- before keep an empty command, so they match no new command.
    ALTER TABLE {s}.commands RENAME COLUMN idempotency_key TO key;
    ALTER TABLE {s}.commands ADD COLUMN command text COLLATE "C" NOT NULL DEFAULT '',
        ADD COLUMN request_hash text NOT NULL DEFAULT '';
    ALTER TABLE {s}.commands DROP CONSTRAINT commands_pkey;
    ALTER TABLE {s}.commands ADD CONSTRAINT commands_pkey PRIMARY KEY (clinic_id, command, key);

    -- The single per-clinic audit chain (and its checkpoints) is kept, read-only, under a legacy name:
    -- its hashes follow the old entry format. New entries go to AUDIT_SHARDS chains per clinic; backfill_2
    -- re-links the old entries into shard 0.
    DROP FUNCTION {s}.append_commit;
    DROP FUNCTION {s}.append_audit;
    DROP FUNCTION {s}.link_audit;
    DROP FUNCTION {s}.append_checkpoint;
    DROP FUNCTION {s}.load_snapshot;
    DROP FUNCTION {s}.load_events;
    DROP FUNCTION {s}.caseload;
    DROP FUNCTION {s}.closed_outcomes;
    DROP FUNCTION {s}.find_command;
    DROP FUNCTION {s}.audit_records;
    DROP FUNCTION {s}.audit_head;
    DROP FUNCTION {s}.audit_checkpoints;
    ALTER TABLE {s}.audit RENAME TO audit_v1;
    ALTER INDEX {s}.audit_pkey RENAME TO audit_v1_pkey;
    ALTER TABLE {s}.audit_checkpoints RENAME TO audit_checkpoints_v1;
    ALTER INDEX {s}.audit_checkpoints_pkey RENAME TO audit_checkpoints_v1_pkey;
    DROP TABLE {s}.audit_heads;

    CREATE TABLE {s}.audit (
        clinic_id   text COLLATE "C" NOT NULL,
        shard       integer     NOT NULL,
        position    bigint      NOT NULL,
        entry_id    text        NOT NULL,
        at          timestamptz NOT NULL,
        actor_id    text        NOT NULL,
        actor_role  text        NOT NULL,
        purpose     text        NOT NULL,
        action      text        NOT NULL,
        record_type text        NOT NULL,
        record_id   text        NOT NULL,
        outcome     text        NOT NULL,
        client_ref  text        NOT NULL,
        detail      text        NOT NULL,
        writes      text        NOT NULL,
        prev_hash   text        NOT NULL,
        hash        text        NOT NULL,
        PRIMARY KEY (clinic_id, shard, position)
    );

    -- One head per (clinic, shard). A write locks (FOR UPDATE) only the heads of the shards it appends to,
    -- in shard order, as its last step: writers of one clinic on episodes of different shards never wait
    -- for each other.
    CREATE TABLE {s}.audit_heads (
        clinic_id text COLLATE "C" NOT NULL,
        shard     integer NOT NULL,
        position  bigint  NOT NULL,
        hash      text    NOT NULL,
        PRIMARY KEY (clinic_id, shard)
    );

    -- A seal over every shard's head: heads as [[shard, position, hash], ...], their Merkle root, and the
    -- HMAC chained to the previous checkpoint. The primary key refuses a second checkpoint with one number.
    CREATE TABLE {s}.audit_checkpoints (
        clinic_id text COLLATE "C" NOT NULL,
        seq       bigint      NOT NULL,
        heads     jsonb       NOT NULL,
        root      text        NOT NULL,
        mac       text        NOT NULL,
        at        timestamptz NOT NULL,
        PRIMARY KEY (clinic_id, seq)
    );

    -- Chains and writes audit entries for the clinic in the setting. p_audit is sorted by shard (entries of
    -- one shard in their order); each shard's head is locked, then its entries are linked after it.
    -- The hash is alliancekit.integrity.chain.entry_hash: SHA-256 over "<length>:<text>;" of each field,
    -- lengths in characters (the database is UTF8: checked when the store opens); at_iso is the time as
    -- Python's isoformat() gives it, in UTC. A test proves byte-equality with the Python function.
    CREATE FUNCTION {s}.link_audit(p_scope text, p_audit jsonb) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        cur_shard integer := -1;
        head_position bigint;
        head_hash text;
        digest text;
        a record;
    BEGIN
        FOR a IN SELECT * FROM jsonb_to_recordset(p_audit) AS r(clinic_id text, shard integer,
                entry_id text, at timestamptz, at_iso text, actor_id text, actor_role text, purpose text,
                action text, record_type text, record_id text, outcome text, client_ref text, detail text,
                writes text)
        LOOP
            IF a.shard <> cur_shard THEN
                IF cur_shard >= 0 THEN
                    UPDATE {s}.audit_heads SET position = head_position, hash = head_hash
                    WHERE clinic_id = p_scope AND shard = cur_shard;
                END IF;
                cur_shard := a.shard;
                SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
                WHERE h.clinic_id = p_scope AND h.shard = cur_shard FOR UPDATE;
                IF NOT FOUND THEN  -- the shard's first entry in this clinic: create its head (once), lock it
                    INSERT INTO {s}.audit_heads (clinic_id, shard, position, hash)
                    VALUES (p_scope, cur_shard, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
                    SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
                    WHERE h.clinic_id = p_scope AND h.shard = cur_shard FOR UPDATE;
                END IF;
            END IF;
            head_position := head_position + 1;
            digest := encode(sha256(convert_to(
                length(cur_shard::text) || ':' || cur_shard::text || ';'
                || length(head_position::text) || ':' || head_position::text || ';'
                || length(head_hash) || ':' || head_hash || ';'
                || length(a.entry_id) || ':' || a.entry_id || ';'
                || length(a.at_iso) || ':' || a.at_iso || ';'
                || length(a.actor_id) || ':' || a.actor_id || ';'
                || length(a.actor_role) || ':' || a.actor_role || ';'
                || length(a.clinic_id) || ':' || a.clinic_id || ';'
                || length(a.purpose) || ':' || a.purpose || ';'
                || length(a.action) || ':' || a.action || ';'
                || length(a.record_type) || ':' || a.record_type || ';'
                || length(a.record_id) || ':' || a.record_id || ';'
                || length(a.outcome) || ':' || a.outcome || ';'
                || length(a.client_ref) || ':' || a.client_ref || ';'
                || length(a.detail) || ':' || a.detail || ';'
                || length(a.writes) || ':' || a.writes || ';', 'UTF8')), 'hex');
            INSERT INTO {s}.audit (clinic_id, shard, position, entry_id, at, actor_id, actor_role, purpose,
                action, record_type, record_id, outcome, client_ref, detail, writes, prev_hash, hash)
            VALUES (a.clinic_id, cur_shard, head_position, a.entry_id, a.at, a.actor_id, a.actor_role,
                a.purpose, a.action, a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, a.writes,
                head_hash, digest);
            head_hash := digest;
        END LOOP;
        IF cur_shard >= 0 THEN
            UPDATE {s}.audit_heads SET position = head_position, hash = head_hash
            WHERE clinic_id = p_scope AND shard = cur_shard;
        END IF;
    END
    $$;

    -- One command's writes, in this order: the episode row (conditionally on the expected version, else
    -- SQLSTATE AK409), the command's key (a used one is a unique violation on commands_pkey), the events,
    -- the outbox, and last the audit entries, so that a shard head is locked for as short a time as can be.
    CREATE FUNCTION {s}.append_commit(
        p_scope text, p_clinic text, p_command text, p_key text, p_request_hash text, p_command_episode text,
        p_command_version integer, p_episode text, p_expected integer, p_new integer, p_head text,
        p_state jsonb, p_clinician text, p_client_ref text, p_stage text, p_opened date, p_last_session date,
        p_attended integer, p_scores text, p_alerts integer, p_next_review integer, p_review_due boolean,
        p_closed date, p_alerts_json text, p_severity text, p_outcome_measure text,
        p_first_outcome double precision, p_latest_outcome double precision, p_outcome_sessions integer,
        p_modality text, p_ending_reason text, p_lockbox text, p_events jsonb, p_outbox jsonb,
        p_audit jsonb
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        written integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        IF p_expected = 0 THEN
            INSERT INTO {s}.episodes (clinic_id, episode_id, version, head, state, clinician_id, client_ref,
                stage, opened_on, last_session_on, sessions_attended, latest_scores, open_alerts,
                next_review_at, review_due, closed_on, open_alerts_json, highest_severity, outcome_measure,
                first_outcome, latest_outcome, outcome_sessions, modality, ending_reason, lockbox)
            VALUES (p_clinic, p_episode, p_new, p_head, p_state, p_clinician, p_client_ref, p_stage,
                p_opened, p_last_session, p_attended, p_scores, p_alerts, p_next_review, p_review_due,
                p_closed, p_alerts_json, p_severity, p_outcome_measure, p_first_outcome, p_latest_outcome,
                p_outcome_sessions, p_modality, p_ending_reason, p_lockbox)
            ON CONFLICT DO NOTHING;
        ELSE
            -- Under READ COMMITTED a concurrent writer's update makes this one wait, then re-check the
            -- version on the new row: the loser touches no row, never overwrites.
            UPDATE {s}.episodes SET version = p_new, head = p_head, state = p_state,
                clinician_id = p_clinician, client_ref = p_client_ref, stage = p_stage, opened_on = p_opened,
                last_session_on = p_last_session,
                sessions_attended = p_attended, latest_scores = p_scores, open_alerts = p_alerts,
                next_review_at = p_next_review, review_due = p_review_due, closed_on = p_closed,
                open_alerts_json = p_alerts_json, highest_severity = p_severity,
                outcome_measure = p_outcome_measure, first_outcome = p_first_outcome,
                latest_outcome = p_latest_outcome, outcome_sessions = p_outcome_sessions,
                modality = p_modality, ending_reason = p_ending_reason, lockbox = p_lockbox
            WHERE clinic_id = p_clinic AND episode_id = p_episode AND version = p_expected;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written <> 1 THEN
            RAISE EXCEPTION 'stale stream version' USING ERRCODE = 'AK409';
        END IF;
        IF p_key IS NOT NULL THEN
            INSERT INTO {s}.commands (clinic_id, command, key, request_hash, episode_id, version)
            VALUES (p_clinic, p_command, p_key, p_request_hash, p_command_episode, p_command_version);
        END IF;
        INSERT INTO {s}.events (clinic_id, episode_id, seq, event_id, type, schema_version, occurred_at,
            recorded_at, actor_id, actor_role, corrects, payload, prev_hash, hash)
        SELECT e.clinic_id, e.episode_id, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
            e.recorded_at, e.actor_id, e.actor_role, e.corrects, e.payload, e.prev_hash, e.hash
        FROM jsonb_to_recordset(p_events) AS e(clinic_id text, episode_id text, seq integer, event_id text,
            type text, schema_version integer, occurred_at timestamptz, recorded_at timestamptz,
            actor_id text, actor_role text, corrects text, payload jsonb, prev_hash text, hash text);
        INSERT INTO {s}.outbox (clinic_id, message_id, episode_id, kind, channel, body, created_at,
            next_attempt_at)
        SELECT p_clinic, m.message_id, m.episode_id, m.kind, m.channel, m.body, m.created_at,
            coalesce(m.next_attempt_at, m.created_at)
        FROM jsonb_to_recordset(p_outbox) AS m(message_id text, episode_id text, kind text, channel text,
            body text, created_at timestamptz, next_attempt_at timestamptz);
        IF jsonb_array_length(p_audit) > 0 THEN
            PERFORM {s}.link_audit(p_scope, p_audit);
        END IF;
    END
    $$;

    CREATE FUNCTION {s}.append_audit(p_scope text, p_audit jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        PERFORM {s}.link_audit(p_scope, p_audit);
    END
    $$;
    """
    + "".join(_reader(*spec) for spec in _READERS_V2)
    + "".join(_POLICY.replace("{t}", table) for table in ("audit", "audit_heads", "audit_checkpoints"))
)

# 3: practice metadata, per clinic (the fitted expectation model, the demo mark): small JSON texts about the
# practice, never client data. Kept as text, so a value reads back byte for byte.
_MIGRATION_3 = (
    """
    CREATE TABLE {s}.practice_meta (
        clinic_id text COLLATE "C" NOT NULL,
        key       text COLLATE "C" NOT NULL,
        value     text NOT NULL,
        PRIMARY KEY (clinic_id, key)
    );

    CREATE FUNCTION {s}.save_meta(p_scope text, p_key text, p_value text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        INSERT INTO {s}.practice_meta (clinic_id, key, value) VALUES (p_scope, p_key, p_value)
        ON CONFLICT (clinic_id, key) DO UPDATE SET value = excluded.value;
    END
    $$;
    """
    + _reader(
        "load_meta",
        ", p_key text",
        "value text",
        "SELECT m.value FROM {s}.practice_meta m WHERE m.clinic_id = p_scope AND m.key = p_key",
    )
    + _POLICY.replace("{t}", "practice_meta")
)

_REQUEST_COLUMNS = """clinic_id text, request_id text, episode_id text, measure_id text, version text,
           point text, session_id text, language text, token_hash text, code_hash text,
           created_at timestamptz, expires_at timestamptz, remind_at timestamptz, revoked_at timestamptz,
           used_at timestamptz"""
_REQUEST_SELECT = """r.clinic_id::text, r.request_id::text, r.episode_id, r.measure_id, r.version, r.point,
               r.session_id, r.language, r.token_hash::text, r.code_hash::text, r.created_at, r.expires_at,
               r.remind_at, r.revoked_at, r.used_at"""

# 4: administration requests (links and kiosk codes a client fills a measure in with) and failed kiosk
# attempts per clinic, source and window. Only SHA-256 hashes of tokens and codes are kept.
_MIGRATION_4 = (
    """
    CREATE TABLE {s}.administration_requests (
        clinic_id   text COLLATE "C" NOT NULL,
        request_id  text COLLATE "C" NOT NULL,
        episode_id  text        NOT NULL,
        measure_id  text        NOT NULL,
        version     text        NOT NULL,
        point       text        NOT NULL,
        session_id  text,
        language    text,
        token_hash  text COLLATE "C",
        code_hash   text COLLATE "C",
        created_at  timestamptz NOT NULL,
        expires_at  timestamptz NOT NULL,
        remind_at   timestamptz,
        revoked_at  timestamptz,
        used_at     timestamptz,
        PRIMARY KEY (clinic_id, request_id),
        UNIQUE (clinic_id, token_hash),
        UNIQUE (clinic_id, code_hash)
    );

    CREATE TABLE {s}.kiosk_failures (
        clinic_id    text COLLATE "C" NOT NULL,
        source       text COLLATE "C" NOT NULL,
        window_start timestamptz NOT NULL,
        failures     integer     NOT NULL,
        PRIMARY KEY (clinic_id, source, window_start)
    );

    -- A command's change to a request, run in the transaction of its append_commit. A consume that finds
    -- no live request raises AK410: the whole commit rolls back.
    CREATE FUNCTION {s}.write_request(p_scope text, p_action text, p_request text, p_at timestamptz,
        p_record jsonb, p_cancel text[]) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        IF p_action = 'create' THEN
            INSERT INTO {s}.administration_requests (clinic_id, request_id, episode_id, measure_id, version,
                point, session_id, language, token_hash, code_hash, created_at, expires_at, remind_at)
            SELECT p_scope, p_request, r.episode_id, r.measure_id, r.version, r.point, r.session_id,
                r.language, r.token_hash, r.code_hash, r.created_at, r.expires_at, r.remind_at
            FROM jsonb_to_record(p_record) AS r(episode_id text, measure_id text, version text, point text,
                session_id text, language text, token_hash text, code_hash text, created_at timestamptz,
                expires_at timestamptz, remind_at timestamptz);
        ELSIF p_action = 'revoke' THEN
            UPDATE {s}.administration_requests r SET revoked_at = p_at
            WHERE r.clinic_id = p_scope AND r.request_id = p_request AND r.used_at IS NULL
                AND r.revoked_at IS NULL;
        ELSE
            UPDATE {s}.administration_requests r SET used_at = p_at
            WHERE r.clinic_id = p_scope AND r.request_id = p_request AND r.used_at IS NULL
                AND r.revoked_at IS NULL AND r.token_hash IS NOT NULL AND r.expires_at > p_at;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'request not live' USING ERRCODE = 'AK410';
            END IF;
        END IF;
        -- A reminder still waiting is settled unsent (the outbox has no cancelled state).
        UPDATE {s}.outbox o SET state = 'delivered', last_error = 'cancelled', lease_owner = NULL,
            lease_expires_at = NULL
        WHERE o.clinic_id = p_scope AND o.message_id = ANY (p_cancel) AND o.state = 'pending';
    END
    $$;

    CREATE FUNCTION {s}.redeem_code(p_scope text, p_code text, p_token text, p_at timestamptz)
    RETURNS TABLE ("""
    + _REQUEST_COLUMNS
    + """) LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        RETURN QUERY UPDATE {s}.administration_requests r SET token_hash = p_token
            WHERE r.clinic_id = p_scope AND r.code_hash = p_code AND r.token_hash IS NULL
                AND r.used_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > p_at
            RETURNING """
    + _REQUEST_SELECT
    + """;
    END
    $$;

    CREATE FUNCTION {s}.count_failure(p_scope text, p_source text, p_window timestamptz) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
        counted integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        INSERT INTO {s}.kiosk_failures AS k (clinic_id, source, window_start, failures)
        VALUES (p_scope, p_source, p_window, 1)
        ON CONFLICT (clinic_id, source, window_start) DO UPDATE SET failures = k.failures + 1
        RETURNING k.failures INTO counted;
        RETURN counted;
    END
    $$;
    """
    + _reader(
        "find_request",
        ", p_token text",
        _REQUEST_COLUMNS,
        "SELECT " + _REQUEST_SELECT + " FROM {s}.administration_requests r"
        " WHERE r.clinic_id = p_scope AND r.token_hash = p_token",
    )
    + _reader(
        "get_request",
        ", p_request text",
        _REQUEST_COLUMNS,
        "SELECT " + _REQUEST_SELECT + " FROM {s}.administration_requests r"
        " WHERE r.clinic_id = p_scope AND r.request_id = p_request",
    )
    + _reader(
        "kiosk_failures",
        ", p_source text, p_window timestamptz",
        "failures integer",
        "SELECT k.failures FROM {s}.kiosk_failures k"
        " WHERE k.clinic_id = p_scope AND k.source = p_source AND k.window_start = p_window",
    )
    + "".join(_POLICY.replace("{t}", table) for table in ("administration_requests", "kiosk_failures"))
)

# 5: the measures an episode missed under its measurement protocol (a JSON list of measure ids),
# kept with the caseload projection. append_commit takes it last, and the caseload reader returns it last;
# both are replaced (a function's signature and result type cannot be altered in place). Rows written
# before read as none missed until their next command. Safe to run again (IF EXISTS, OR REPLACE): a test
# that fabricates an older schema by deleting its migration records runs it a second time.
_MIGRATION_MISSED = """
    ALTER TABLE {s}.episodes ADD COLUMN IF NOT EXISTS missed_measures text NOT NULL DEFAULT '[]';

    DROP FUNCTION IF EXISTS {s}.append_commit(text, text, text, text, text, text, integer, text, integer,
        integer, text, jsonb, text, text, text, date, date, integer, text, integer, integer, boolean, date,
        text, text, text, double precision, double precision, integer, text, text, text, jsonb, jsonb, jsonb);
    CREATE OR REPLACE FUNCTION {s}.append_commit(
        p_scope text, p_clinic text, p_command text, p_key text, p_request_hash text, p_command_episode text,
        p_command_version integer, p_episode text, p_expected integer, p_new integer, p_head text,
        p_state jsonb, p_clinician text, p_client_ref text, p_stage text, p_opened date, p_last_session date,
        p_attended integer, p_scores text, p_alerts integer, p_next_review integer, p_review_due boolean,
        p_closed date, p_alerts_json text, p_severity text, p_outcome_measure text,
        p_first_outcome double precision, p_latest_outcome double precision, p_outcome_sessions integer,
        p_modality text, p_ending_reason text, p_lockbox text, p_events jsonb, p_outbox jsonb,
        p_audit jsonb, p_missed text
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        written integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        IF p_expected = 0 THEN
            INSERT INTO {s}.episodes (clinic_id, episode_id, version, head, state, clinician_id, client_ref,
                stage, opened_on, last_session_on, sessions_attended, latest_scores, open_alerts,
                next_review_at, review_due, closed_on, open_alerts_json, highest_severity, outcome_measure,
                first_outcome, latest_outcome, outcome_sessions, modality, ending_reason, lockbox,
                missed_measures)
            VALUES (p_clinic, p_episode, p_new, p_head, p_state, p_clinician, p_client_ref, p_stage,
                p_opened, p_last_session, p_attended, p_scores, p_alerts, p_next_review, p_review_due,
                p_closed, p_alerts_json, p_severity, p_outcome_measure, p_first_outcome, p_latest_outcome,
                p_outcome_sessions, p_modality, p_ending_reason, p_lockbox, p_missed)
            ON CONFLICT DO NOTHING;
        ELSE
            -- Under READ COMMITTED a concurrent writer's update makes this one wait, then re-check the
            -- version on the new row: the loser touches no row, never overwrites.
            UPDATE {s}.episodes SET version = p_new, head = p_head, state = p_state,
                clinician_id = p_clinician, client_ref = p_client_ref, stage = p_stage, opened_on = p_opened,
                last_session_on = p_last_session,
                sessions_attended = p_attended, latest_scores = p_scores, open_alerts = p_alerts,
                next_review_at = p_next_review, review_due = p_review_due, closed_on = p_closed,
                open_alerts_json = p_alerts_json, highest_severity = p_severity,
                outcome_measure = p_outcome_measure, first_outcome = p_first_outcome,
                latest_outcome = p_latest_outcome, outcome_sessions = p_outcome_sessions,
                modality = p_modality, ending_reason = p_ending_reason, lockbox = p_lockbox,
                missed_measures = p_missed
            WHERE clinic_id = p_clinic AND episode_id = p_episode AND version = p_expected;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written <> 1 THEN
            RAISE EXCEPTION 'stale stream version' USING ERRCODE = 'AK409';
        END IF;
        IF p_key IS NOT NULL THEN
            INSERT INTO {s}.commands (clinic_id, command, key, request_hash, episode_id, version)
            VALUES (p_clinic, p_command, p_key, p_request_hash, p_command_episode, p_command_version);
        END IF;
        INSERT INTO {s}.events (clinic_id, episode_id, seq, event_id, type, schema_version, occurred_at,
            recorded_at, actor_id, actor_role, corrects, payload, prev_hash, hash)
        SELECT e.clinic_id, e.episode_id, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
            e.recorded_at, e.actor_id, e.actor_role, e.corrects, e.payload, e.prev_hash, e.hash
        FROM jsonb_to_recordset(p_events) AS e(clinic_id text, episode_id text, seq integer, event_id text,
            type text, schema_version integer, occurred_at timestamptz, recorded_at timestamptz,
            actor_id text, actor_role text, corrects text, payload jsonb, prev_hash text, hash text);
        INSERT INTO {s}.outbox (clinic_id, message_id, episode_id, kind, channel, body, created_at,
            next_attempt_at)
        SELECT p_clinic, m.message_id, m.episode_id, m.kind, m.channel, m.body, m.created_at,
            coalesce(m.next_attempt_at, m.created_at)
        FROM jsonb_to_recordset(p_outbox) AS m(message_id text, episode_id text, kind text, channel text,
            body text, created_at timestamptz, next_attempt_at timestamptz);
        IF jsonb_array_length(p_audit) > 0 THEN
            PERFORM {s}.link_audit(p_scope, p_audit);
        END IF;
    END
    $$;

    DROP FUNCTION IF EXISTS {s}.caseload(text, text, boolean);
    """ + _reader(
    "caseload",
    ", p_clinician text, p_open_only boolean",
    """episode_id text, clinic_id text, clinician_id text, client_ref text, stage text,
           version integer, opened_on date, last_session_on date, sessions_attended integer,
           latest_scores text, open_alerts integer, next_review_at integer, review_due boolean,
           closed_on date, open_alerts_json text, highest_severity text, outcome_measure text,
           first_outcome double precision, latest_outcome double precision, outcome_sessions integer,
           modality text, ending_reason text, lockbox text, missed_measures text""",
    """SELECT e.episode_id::text, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
               e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
               e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
               e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome, e.outcome_sessions,
               e.modality, e.ending_reason, e.lockbox, e.missed_measures
           FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (NOT p_open_only OR e.closed_on IS NULL)
           ORDER BY e.episode_id""",
)

#: SQLSTATE raised by ``save_definitions`` when a definition is stored under its id and version with another
#: SHA-256 (a plugin changed a published definition without a new version): the whole commit rolls back.
DEFINITION_CHANGED_SQLSTATE = "AK412"

# 6: the measure definitions that administrations used, kept with the data so that an export can still
# describe them once a plugin is removed (alliancekit.store.definitions): the canonical JSON text the
# registry loaded and its SHA-256. Per clinic, like every table here: not client data, but which measures a
# clinic uses (and its own in-house ones) are the clinic's business, one clinic's plugins never refuse
# another's commits, and the rows stay under the same policy and distribution column as the rest. A clinic
# that already held episodes is marked in practice_meta for its first writable practice to record the
# measures still registered (alliancekit.core.definitions): the owner writes those marks for every clinic,
# so row-level security is not forced for this transaction (as in migration 2). Safe to run again.
_MIGRATION_DEFINITIONS = (
    """
    CREATE TABLE IF NOT EXISTS {s}.measure_definitions (
        clinic_id  text COLLATE "C" NOT NULL,
        measure_id text COLLATE "C" NOT NULL,
        version    text COLLATE "C" NOT NULL,
        sha256     text NOT NULL,
        definition text NOT NULL,
        PRIMARY KEY (clinic_id, measure_id, version)
    );

    -- Insert the absent ones; one stored with another hash raises AK412 (nothing of the commit stays).
    CREATE OR REPLACE FUNCTION {s}.save_definitions(p_scope text, p_definitions jsonb) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        changed text;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        SELECT d.measure_id INTO changed
        FROM jsonb_to_recordset(p_definitions) AS d(measure_id text, version text, sha256 text)
        JOIN {s}.measure_definitions m
            ON m.clinic_id = p_scope AND m.measure_id = d.measure_id AND m.version = d.version
        WHERE m.sha256 <> d.sha256
        LIMIT 1;
        IF changed IS NOT NULL THEN
            RAISE EXCEPTION 'measure definition changed' USING ERRCODE = 'AK412';
        END IF;
        INSERT INTO {s}.measure_definitions (clinic_id, measure_id, version, sha256, definition)
        SELECT p_scope, d.measure_id, d.version, d.sha256, d.definition
        FROM jsonb_to_recordset(p_definitions) AS d(measure_id text, version text, sha256 text,
            definition text)
        ON CONFLICT (clinic_id, measure_id, version) DO NOTHING;
    END
    $$;

    DROP FUNCTION IF EXISTS {s}.measure_definitions(text);
    """
    + _reader(
        "measure_definitions",
        "",
        "measure_id text, version text, sha256 text, definition text",
        "SELECT m.measure_id::text, m.version::text, m.sha256, m.definition FROM {s}.measure_definitions m"
        " WHERE m.clinic_id = p_scope ORDER BY m.measure_id, m.version",
    )
    + """
    ALTER TABLE {s}.measure_definitions ENABLE ROW LEVEL SECURITY;
    ALTER TABLE {s}.measure_definitions FORCE ROW LEVEL SECURITY;
    DROP POLICY IF EXISTS clinic_isolation ON {s}.measure_definitions;
    CREATE POLICY clinic_isolation ON {s}.measure_definitions
        USING (clinic_id = current_setting('alliancekit.clinic_id', true))
        WITH CHECK (clinic_id = current_setting('alliancekit.clinic_id', true));

    ALTER TABLE {s}.episodes NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE {s}.practice_meta NO FORCE ROW LEVEL SECURITY;
    INSERT INTO {s}.practice_meta (clinic_id, key, value)
        SELECT DISTINCT e.clinic_id, 'measure-definitions-backfill', '"pending"' FROM {s}.episodes e
        ON CONFLICT (clinic_id, key) DO NOTHING;
    ALTER TABLE {s}.episodes FORCE ROW LEVEL SECURITY;
    ALTER TABLE {s}.practice_meta FORCE ROW LEVEL SECURITY;
    """
)

# 7: the open caseload with the closed rows that carry lockbox directives (Store.caseload with
# closed_under_lockbox): a reader from whom a directive withholds the closing sees such an episode open, and
# its absence from the open caseload would tell them it closed. A reader of its own beside caseload (kept as
# it is, for readers of an older schema): the same scan of the clinic's rows as the open caseload, with one
# more term, so no index is added. Safe to run again (as migration 5).
_MIGRATION_CASELOAD_LOCKBOX = "DROP FUNCTION IF EXISTS {s}.caseload_open_or_lockbox(text, text);" + _reader(
    "caseload_open_or_lockbox",
    ", p_clinician text",
    """episode_id text, clinic_id text, clinician_id text, client_ref text, stage text,
           version integer, opened_on date, last_session_on date, sessions_attended integer,
           latest_scores text, open_alerts integer, next_review_at integer, review_due boolean,
           closed_on date, open_alerts_json text, highest_severity text, outcome_measure text,
           first_outcome double precision, latest_outcome double precision, outcome_sessions integer,
           modality text, ending_reason text, lockbox text, missed_measures text""",
    """SELECT e.episode_id::text, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
               e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
               e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
               e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome, e.outcome_sessions,
               e.modality, e.ending_reason, e.lockbox, e.missed_measures
           FROM {s}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (e.closed_on IS NULL OR e.lockbox <> '{{}}')
           ORDER BY e.episode_id""",
)

# 8: one clinician's caseload with the other clinicians' rows that carry lockbox directives (Store.caseload
# with others_under_lockbox): a reader from whom a directive withholds a transfer sees such an episode as
# the earlier clinician's, and its absence from that clinician's caseload would tell them it was
# transferred. A partial index of the rows under a lockbox (a few of a clinic's) finds them without reading
# the others; a command that leaves an episode's directives as they were stays a HOT update (no column of
# the index, nor of its predicate, changes). A reader of its own, in legs each on an index: the clinician's
# rows (open, with the closed ones under a lockbox when p_closed, or all), then the others' under a lockbox
# (open, or all when p_closed or not p_open_only). The readers of migrations 5 and 7 stay, for readers of
# an older schema. Safe to run again (as migration 5).
_MIGRATION_OTHERS_UNDER_LOCKBOX = """
    CREATE INDEX IF NOT EXISTS episodes_under_lockbox ON {s}.episodes (clinic_id, episode_id)
        WHERE lockbox <> '{{}}';
    DROP FUNCTION IF EXISTS {s}.caseload_with_others_under_lockbox(text, text, boolean, boolean);
    """ + _reader(
    "caseload_with_others_under_lockbox",
    ", p_clinician text, p_open_only boolean, p_closed boolean",
    """episode_id text, clinic_id text, clinician_id text, client_ref text, stage text,
           version integer, opened_on date, last_session_on date, sessions_attended integer,
           latest_scores text, open_alerts integer, next_review_at integer, review_due boolean,
           closed_on date, open_alerts_json text, highest_severity text, outcome_measure text,
           first_outcome double precision, latest_outcome double precision, outcome_sessions integer,
           modality text, ending_reason text, lockbox text, missed_measures text""",
    """SELECT u.* FROM (
               SELECT e.episode_id, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
                   e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
                   e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
                   e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome,
                   e.outcome_sessions, e.modality, e.ending_reason, e.lockbox, e.missed_measures
               FROM {s}.episodes e
               WHERE e.clinic_id = p_scope AND e.clinician_id = p_clinician
                   AND (NOT p_open_only OR e.closed_on IS NULL OR (p_closed AND e.lockbox <> '{{}}'))
               UNION ALL
               SELECT e.episode_id, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage,
                   e.version, e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores,
                   e.open_alerts, e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json,
                   e.highest_severity, e.outcome_measure, e.first_outcome, e.latest_outcome,
                   e.outcome_sessions, e.modality, e.ending_reason, e.lockbox, e.missed_measures
               FROM {s}.episodes e
               WHERE e.clinic_id = p_scope AND e.lockbox <> '{{}}' AND e.clinician_id <> p_clinician
                   AND (NOT p_open_only OR p_closed OR e.closed_on IS NULL)
           ) u
           ORDER BY u.episode_id""",
)

# 9: when a pending message's wait for its next_attempt_at began (NULL: a time of its own, a reminder's), so
# that a claim at an earlier clock reading (the clock stepped back, or this dispatcher's clock is behind the
# writer's) begins the wait again rather than holding the message until the clock passes the stamp
# (Store.claim_outbox). A message inserted due at its creation waits from it (a trigger: append_commit stays
# as it is); a failure's wait begins at the failure (outbox_failed_at, which the store calls instead of
# outbox_failed); a requeue's at the requeue. Pending rows due at their creation get theirs here; the others
# keep their time. The claim begins the waits again under FOR UPDATE SKIP LOCKED, so that two claims never
# wait for each other. outbox_records_after pages through the messages in their order. Safe to run again
# (as migration 5).
_MIGRATION_OUTBOX_WAITS = """
    ALTER TABLE {s}.outbox ADD COLUMN IF NOT EXISTS wait_began_at timestamptz;
    CREATE INDEX IF NOT EXISTS outbox_waits ON {s}.outbox (clinic_id, wait_began_at)
        WHERE state = 'pending' AND wait_began_at IS NOT NULL;
    -- The owner sets every clinic's rows: row-level security is not forced for this transaction's length.
    ALTER TABLE {s}.outbox NO FORCE ROW LEVEL SECURITY;
    UPDATE {s}.outbox SET wait_began_at = created_at
        WHERE state = 'pending' AND next_attempt_at = created_at AND wait_began_at IS NULL;
    ALTER TABLE {s}.outbox FORCE ROW LEVEL SECURITY;

    CREATE OR REPLACE FUNCTION {s}.outbox_wait_from_creation() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.next_attempt_at = NEW.created_at THEN
            NEW.wait_began_at := NEW.created_at;
        END IF;
        RETURN NEW;
    END
    $$;
    DROP TRIGGER IF EXISTS outbox_wait_from_creation ON {s}.outbox;
    CREATE TRIGGER outbox_wait_from_creation BEFORE INSERT ON {s}.outbox
        FOR EACH ROW EXECUTE FUNCTION {s}.outbox_wait_from_creation();

    CREATE OR REPLACE FUNCTION {s}.claim_outbox(p_scope text, p_owner text, p_channels text[],
        p_now timestamptz, p_until timestamptz, p_limit integer)
    RETURNS TABLE (message_id text, episode_id text, kind text, channel text, body text,
        created_at timestamptz, state text, attempts integer, next_attempt_at timestamptz, lease_owner text,
        lease_expires_at timestamptz, last_error text)
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET next_attempt_at = p_now + (o.next_attempt_at - o.wait_began_at),
            wait_began_at = p_now
        WHERE o.clinic_id = p_scope AND o.message_id IN (
            SELECT w.message_id FROM {s}.outbox w
            WHERE w.clinic_id = p_scope AND w.state = 'pending' AND w.wait_began_at > p_now
            FOR UPDATE SKIP LOCKED);
        RETURN QUERY
        WITH due AS (
            SELECT d.message_id FROM {s}.outbox d
            WHERE d.clinic_id = p_scope AND d.state = 'pending' AND d.channel = ANY (p_channels)
                AND d.next_attempt_at <= p_now AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= p_now)
            ORDER BY d.next_attempt_at, d.message_id
            LIMIT greatest(p_limit, 0)
            FOR UPDATE SKIP LOCKED
        )
        UPDATE {s}.outbox o SET lease_owner = p_owner, lease_expires_at = p_until
        FROM due WHERE o.clinic_id = p_scope AND o.message_id = due.message_id
        RETURNING o.message_id::text, o.episode_id, o.kind, o.channel, o.body, o.created_at, o.state,
            o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_error;
    END
    $$;

    -- A failed attempt (p_dead: the last one), only by the dispatcher holding the lease; the next one's
    -- wait begins at p_at.
    CREATE OR REPLACE FUNCTION {s}.outbox_failed_at(p_scope text, p_owner text, p_id text, p_error text,
        p_next timestamptz, p_dead boolean, p_at timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET attempts = o.attempts + 1, lease_owner = NULL, lease_expires_at = NULL,
            last_error = p_error,
            state = CASE WHEN p_dead THEN 'dead' ELSE o.state END,
            next_attempt_at = CASE WHEN p_dead THEN o.next_attempt_at ELSE p_next END,
            wait_began_at = CASE WHEN p_dead THEN NULL ELSE p_at END
        WHERE o.clinic_id = p_scope AND o.message_id = p_id AND o.state = 'pending'
            AND o.lease_owner = p_owner;
        RETURN FOUND;
    END
    $$;

    CREATE OR REPLACE FUNCTION {s}.outbox_requeue(p_scope text, p_id text, p_now timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET state = 'pending', attempts = 0, next_attempt_at = p_now,
            wait_began_at = p_now, last_error = NULL
        WHERE o.clinic_id = p_scope AND o.message_id = p_id AND o.state = 'dead';
        RETURN FOUND;
    END
    $$;

    DROP FUNCTION IF EXISTS {s}.outbox_records_after(text, text, integer, text);
    """ + _reader(
    "outbox_records_after",
    ", p_state text, p_limit integer, p_after text",
    """message_id text, episode_id text, kind text, channel text, body text, created_at timestamptz,
           state text, attempts integer, next_attempt_at timestamptz, lease_owner text,
           lease_expires_at timestamptz, last_error text""",
    """SELECT o.message_id::text, o.episode_id, o.kind, o.channel, o.body, o.created_at, o.state,
               o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_error
           FROM {s}.outbox o WHERE o.clinic_id = p_scope AND (p_state IS NULL OR o.state = p_state)
               AND o.seq > (SELECT a.seq FROM {s}.outbox a
                            WHERE a.clinic_id = p_scope AND a.message_id = p_after)
           ORDER BY o.seq LIMIT greatest(p_limit, 0)""",
)

# 10: when a message's lease began (read only while lease_expires_at is set), so that a claim at an earlier
# clock reading (the clock stepped back) begins a lease that began after it again, at that reading and for
# the lease's length, rather than leaving a dead dispatcher's message unclaimable until the clock passes the
# old end (Store.claim_outbox). The lease keeps its holder, so outbox_failed_at and the dead transition still
# apply only for it. claim_outbox is replaced (its signature as before) to begin such leases again under FOR
# UPDATE SKIP LOCKED, after the waits and before taking the due messages, and to record each lease's start.
# A lease taken before this migration has no start and runs to its end, as before. Safe to run again (as
# migration 5).
_MIGRATION_OUTBOX_LEASES = """
    ALTER TABLE {s}.outbox ADD COLUMN IF NOT EXISTS lease_began_at timestamptz;
    CREATE INDEX IF NOT EXISTS outbox_leases ON {s}.outbox (clinic_id, lease_began_at)
        WHERE state = 'pending' AND lease_expires_at IS NOT NULL;

    CREATE OR REPLACE FUNCTION {s}.claim_outbox(p_scope text, p_owner text, p_channels text[],
        p_now timestamptz, p_until timestamptz, p_limit integer)
    RETURNS TABLE (message_id text, episode_id text, kind text, channel text, body text,
        created_at timestamptz, state text, attempts integer, next_attempt_at timestamptz, lease_owner text,
        lease_expires_at timestamptz, last_error text)
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET next_attempt_at = p_now + (o.next_attempt_at - o.wait_began_at),
            wait_began_at = p_now
        WHERE o.clinic_id = p_scope AND o.message_id IN (
            SELECT w.message_id FROM {s}.outbox w
            WHERE w.clinic_id = p_scope AND w.state = 'pending' AND w.wait_began_at > p_now
            FOR UPDATE SKIP LOCKED);
        UPDATE {s}.outbox o SET lease_expires_at = p_now + (o.lease_expires_at - o.lease_began_at),
            lease_began_at = p_now
        WHERE o.clinic_id = p_scope AND o.message_id IN (
            SELECT l.message_id FROM {s}.outbox l
            WHERE l.clinic_id = p_scope AND l.state = 'pending' AND l.lease_expires_at IS NOT NULL
                AND l.lease_began_at > p_now
            FOR UPDATE SKIP LOCKED);
        RETURN QUERY
        WITH due AS (
            SELECT d.message_id FROM {s}.outbox d
            WHERE d.clinic_id = p_scope AND d.state = 'pending' AND d.channel = ANY (p_channels)
                AND d.next_attempt_at <= p_now AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= p_now)
            ORDER BY d.next_attempt_at, d.message_id
            LIMIT greatest(p_limit, 0)
            FOR UPDATE SKIP LOCKED
        )
        UPDATE {s}.outbox o SET lease_owner = p_owner, lease_expires_at = p_until, lease_began_at = p_now
        FROM due WHERE o.clinic_id = p_scope AND o.message_id = due.message_id
        RETURNING o.message_id::text, o.episode_id, o.kind, o.channel, o.body, o.created_at, o.state,
            o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_error;
    END
    $$;
    """
# 11: outbox_status with the earliest next_attempt_at of the pending messages (OutboxStatus.next_due_at):
# the oldest created_at alone took a reminder, written with its request days before it is due, for a
# message left undelivered since then. A reader of its own beside outbox_status (kept as it is, for readers
# of an older schema); the same scan of the clinic's rows. Safe to run again (as migration 5).
_MIGRATION_OUTBOX_DUE = "DROP FUNCTION IF EXISTS {s}.outbox_status_due(text);" + _reader(
    "outbox_status_due",
    "",
    "pending bigint, delivered bigint, dead bigint, oldest_pending_at timestamptz, next_due_at timestamptz",
    """SELECT count(*) FILTER (WHERE o.state = 'pending'), count(*) FILTER (WHERE o.state = 'delivered'),
               count(*) FILTER (WHERE o.state = 'dead'), min(o.created_at) FILTER (WHERE o.state = 'pending'),
               min(coalesce(o.next_attempt_at, o.created_at)) FILTER (WHERE o.state = 'pending')
           FROM {s}.outbox o WHERE o.clinic_id = p_scope""",
)

# 12: whom an export or a share went to (a recipient's id, or '(unnamed)'), on its audit entry, hashed with
# it: link_audit is replaced (same signature, so append_commit and append_audit call the new one) with the
# hash of alliancekit.integrity.chain.entry_hash, which hashes the recipient only when it is not empty, as
# two more parts after the others (its name, "recipient", then its value): entries without one, every
# entry written before, hash as they did. An entry given without the key (an older caller) names none.
# audit_records_with_recipient reads it; audit_records stays, for readers of an older schema. Safe to run
# again (as migration 5).
_MIGRATION_AUDIT_RECIPIENT = """
    ALTER TABLE {s}.audit ADD COLUMN IF NOT EXISTS recipient text NOT NULL DEFAULT '';

    CREATE OR REPLACE FUNCTION {s}.link_audit(p_scope text, p_audit jsonb) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        cur_shard integer := -1;
        head_position bigint;
        head_hash text;
        digest text;
        to_whom text;
        a record;
    BEGIN
        FOR a IN SELECT * FROM jsonb_to_recordset(p_audit) AS r(clinic_id text, shard integer,
                entry_id text, at timestamptz, at_iso text, actor_id text, actor_role text, purpose text,
                action text, record_type text, record_id text, outcome text, client_ref text, detail text,
                writes text, recipient text)
        LOOP
            IF a.shard <> cur_shard THEN
                IF cur_shard >= 0 THEN
                    UPDATE {s}.audit_heads SET position = head_position, hash = head_hash
                    WHERE clinic_id = p_scope AND shard = cur_shard;
                END IF;
                cur_shard := a.shard;
                SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
                WHERE h.clinic_id = p_scope AND h.shard = cur_shard FOR UPDATE;
                IF NOT FOUND THEN  -- the shard's first entry in this clinic: create its head (once), lock it
                    INSERT INTO {s}.audit_heads (clinic_id, shard, position, hash)
                    VALUES (p_scope, cur_shard, 0, repeat('0', 64)) ON CONFLICT DO NOTHING;
                    SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
                    WHERE h.clinic_id = p_scope AND h.shard = cur_shard FOR UPDATE;
                END IF;
            END IF;
            head_position := head_position + 1;
            to_whom := coalesce(a.recipient, '');
            digest := encode(sha256(convert_to(
                length(cur_shard::text) || ':' || cur_shard::text || ';'
                || length(head_position::text) || ':' || head_position::text || ';'
                || length(head_hash) || ':' || head_hash || ';'
                || length(a.entry_id) || ':' || a.entry_id || ';'
                || length(a.at_iso) || ':' || a.at_iso || ';'
                || length(a.actor_id) || ':' || a.actor_id || ';'
                || length(a.actor_role) || ':' || a.actor_role || ';'
                || length(a.clinic_id) || ':' || a.clinic_id || ';'
                || length(a.purpose) || ':' || a.purpose || ';'
                || length(a.action) || ':' || a.action || ';'
                || length(a.record_type) || ':' || a.record_type || ';'
                || length(a.record_id) || ':' || a.record_id || ';'
                || length(a.outcome) || ':' || a.outcome || ';'
                || length(a.client_ref) || ':' || a.client_ref || ';'
                || length(a.detail) || ':' || a.detail || ';'
                || length(a.writes) || ':' || a.writes || ';'
                || CASE WHEN to_whom = '' THEN ''
                        ELSE '9:recipient;' || length(to_whom) || ':' || to_whom || ';' END, 'UTF8')), 'hex');
            INSERT INTO {s}.audit (clinic_id, shard, position, entry_id, at, actor_id, actor_role, purpose,
                action, record_type, record_id, outcome, client_ref, detail, writes, prev_hash, hash,
                recipient)
            VALUES (a.clinic_id, cur_shard, head_position, a.entry_id, a.at, a.actor_id, a.actor_role,
                a.purpose, a.action, a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, a.writes,
                head_hash, digest, to_whom);
            head_hash := digest;
        END LOOP;
        IF cur_shard >= 0 THEN
            UPDATE {s}.audit_heads SET position = head_position, hash = head_hash
            WHERE clinic_id = p_scope AND shard = cur_shard;
        END IF;
    END
    $$;

    DROP FUNCTION IF EXISTS {s}.audit_records_with_recipient(text);
    """ + _reader(
    "audit_records_with_recipient",
    "",
    """entry_id text, at timestamptz, actor_id text, actor_role text, clinic_id text, purpose text,
           action text, record_type text, record_id text, outcome text, client_ref text, detail text,
           writes text, shard integer, "position" bigint, prev_hash text, hash text, recipient text""",
    """SELECT a.entry_id, a.at, a.actor_id, a.actor_role, a.clinic_id::text, a.purpose, a.action,
               a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, a.writes, a.shard, a.position,
               a.prev_hash, a.hash, a.recipient
           FROM {s}.audit a WHERE a.clinic_id = p_scope ORDER BY a.shard, a.position""",
)

# 13: the mark migration 6 left on a clinic that held episodes before it kept measure definitions
# (practice_meta measure-definitions-backfill) recorded in that clinic's audit log, where its hash chain
# covers it: ``backfill_13`` (Python, same transaction) appends one mark-definitions-backfill entry per
# marked clinic through link_audit. Verification then reads a mark without its entry as written outside
# alliancekit. And the readers verification lists a clinic's keyed commands and administration requests
# with (command_records, request_records). No table changes.
_MIGRATION_BACKFILL_AUDITED = (
    """
    SELECT 'mark-definitions-backfill';
    DROP FUNCTION IF EXISTS {s}.command_records(text);
    DROP FUNCTION IF EXISTS {s}.request_records(text);
    """
    + _reader(
        "command_records",
        "",
        "command text, key text, request_hash text, episode_id text, version integer",
        "SELECT c.command, c.key, c.request_hash, c.episode_id::text, c.version FROM {s}.commands c"
        " WHERE c.clinic_id = p_scope ORDER BY c.command, c.key",
    )
    + _reader(
        "request_records",
        "",
        _REQUEST_COLUMNS,
        "SELECT " + _REQUEST_SELECT + " FROM {s}.administration_requests r"
        " WHERE r.clinic_id = p_scope ORDER BY r.request_id",
    )
)

# 14: the episode's norm population (NULL: each measure's default), kept with the caseload projection so that
# the practice-outcomes report and the expectation fit read each closed episode against its own norm
# (Measure.norm_for); the covering index of closed outcomes carries it too. Rows written before get theirs
# from their episode-opened event (its population is never encrypted: not free text; an episode opened
# before version 2 of that event names none, NULL); the owner sets every clinic's rows, so row-level
# security is not forced for this transaction (as in migration 6). append_commit takes the population last
# and the caseload readers and closed_outcomes return it last; all are replaced (a function's signature and
# result type cannot be altered in place). Safe to run again (as migration 5).
_CASELOAD_RESULT_13 = (
    "episode_id text, clinic_id text, clinician_id text, client_ref text, stage text, version integer,"
    " opened_on date, last_session_on date, sessions_attended integer, latest_scores text,"
    " open_alerts integer, next_review_at integer, review_due boolean, closed_on date,"
    " open_alerts_json text, highest_severity text, outcome_measure text, first_outcome double precision,"
    " latest_outcome double precision, outcome_sessions integer, modality text, ending_reason text,"
    " lockbox text, missed_measures text, population text"
)
_CASELOAD_COLUMNS_13 = (
    "e.episode_id::text, e.clinic_id::text, e.clinician_id::text, e.client_ref, e.stage, e.version,"
    " e.opened_on, e.last_session_on, e.sessions_attended, e.latest_scores, e.open_alerts,"
    " e.next_review_at, e.review_due, e.closed_on, e.open_alerts_json, e.highest_severity,"
    " e.outcome_measure, e.first_outcome, e.latest_outcome, e.outcome_sessions, e.modality,"
    " e.ending_reason, e.lockbox, e.missed_measures, e.population"
)
_MIGRATION_POPULATION = (
    """
    ALTER TABLE {s}.episodes ADD COLUMN IF NOT EXISTS population text;
    ALTER TABLE {s}.episodes NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE {s}.events NO FORCE ROW LEVEL SECURITY;
    UPDATE {s}.episodes e SET population = (
        SELECT v.payload ->> 'population' FROM {s}.events v
        WHERE v.clinic_id = e.clinic_id AND v.episode_id = e.episode_id AND v.type = 'episode-opened'
        ORDER BY v.seq LIMIT 1);
    ALTER TABLE {s}.episodes FORCE ROW LEVEL SECURITY;
    ALTER TABLE {s}.events FORCE ROW LEVEL SECURITY;
    DROP INDEX IF EXISTS {s}.episodes_closed_outcomes;
    CREATE INDEX episodes_closed_outcomes ON {s}.episodes (clinic_id, episode_id)
        INCLUDE (clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,
                 modality, ending_reason, lockbox, population)
        WHERE closed_on IS NOT NULL;

    DROP FUNCTION IF EXISTS {s}.append_commit(text, text, text, text, text, text, integer, text, integer,
        integer, text, jsonb, text, text, text, date, date, integer, text, integer, integer, boolean, date,
        text, text, text, double precision, double precision, integer, text, text, text, jsonb, jsonb, jsonb,
        text);
    CREATE OR REPLACE FUNCTION {s}.append_commit(
        p_scope text, p_clinic text, p_command text, p_key text, p_request_hash text, p_command_episode text,
        p_command_version integer, p_episode text, p_expected integer, p_new integer, p_head text,
        p_state jsonb, p_clinician text, p_client_ref text, p_stage text, p_opened date, p_last_session date,
        p_attended integer, p_scores text, p_alerts integer, p_next_review integer, p_review_due boolean,
        p_closed date, p_alerts_json text, p_severity text, p_outcome_measure text,
        p_first_outcome double precision, p_latest_outcome double precision, p_outcome_sessions integer,
        p_modality text, p_ending_reason text, p_lockbox text, p_events jsonb, p_outbox jsonb,
        p_audit jsonb, p_missed text, p_population text
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        written integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        IF p_expected = 0 THEN
            INSERT INTO {s}.episodes (clinic_id, episode_id, version, head, state, clinician_id, client_ref,
                stage, opened_on, last_session_on, sessions_attended, latest_scores, open_alerts,
                next_review_at, review_due, closed_on, open_alerts_json, highest_severity, outcome_measure,
                first_outcome, latest_outcome, outcome_sessions, modality, ending_reason, lockbox,
                missed_measures, population)
            VALUES (p_clinic, p_episode, p_new, p_head, p_state, p_clinician, p_client_ref, p_stage,
                p_opened, p_last_session, p_attended, p_scores, p_alerts, p_next_review, p_review_due,
                p_closed, p_alerts_json, p_severity, p_outcome_measure, p_first_outcome, p_latest_outcome,
                p_outcome_sessions, p_modality, p_ending_reason, p_lockbox, p_missed, p_population)
            ON CONFLICT DO NOTHING;
        ELSE
            -- Under READ COMMITTED a concurrent writer's update makes this one wait, then re-check the
            -- version on the new row: the loser touches no row, never overwrites.
            UPDATE {s}.episodes SET version = p_new, head = p_head, state = p_state,
                clinician_id = p_clinician, client_ref = p_client_ref, stage = p_stage, opened_on = p_opened,
                last_session_on = p_last_session,
                sessions_attended = p_attended, latest_scores = p_scores, open_alerts = p_alerts,
                next_review_at = p_next_review, review_due = p_review_due, closed_on = p_closed,
                open_alerts_json = p_alerts_json, highest_severity = p_severity,
                outcome_measure = p_outcome_measure, first_outcome = p_first_outcome,
                latest_outcome = p_latest_outcome, outcome_sessions = p_outcome_sessions,
                modality = p_modality, ending_reason = p_ending_reason, lockbox = p_lockbox,
                missed_measures = p_missed, population = p_population
            WHERE clinic_id = p_clinic AND episode_id = p_episode AND version = p_expected;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written <> 1 THEN
            RAISE EXCEPTION 'stale stream version' USING ERRCODE = 'AK409';
        END IF;
        IF p_key IS NOT NULL THEN
            INSERT INTO {s}.commands (clinic_id, command, key, request_hash, episode_id, version)
            VALUES (p_clinic, p_command, p_key, p_request_hash, p_command_episode, p_command_version);
        END IF;
        INSERT INTO {s}.events (clinic_id, episode_id, seq, event_id, type, schema_version, occurred_at,
            recorded_at, actor_id, actor_role, corrects, payload, prev_hash, hash)
        SELECT e.clinic_id, e.episode_id, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
            e.recorded_at, e.actor_id, e.actor_role, e.corrects, e.payload, e.prev_hash, e.hash
        FROM jsonb_to_recordset(p_events) AS e(clinic_id text, episode_id text, seq integer, event_id text,
            type text, schema_version integer, occurred_at timestamptz, recorded_at timestamptz,
            actor_id text, actor_role text, corrects text, payload jsonb, prev_hash text, hash text);
        INSERT INTO {s}.outbox (clinic_id, message_id, episode_id, kind, channel, body, created_at,
            next_attempt_at)
        SELECT p_clinic, m.message_id, m.episode_id, m.kind, m.channel, m.body, m.created_at,
            coalesce(m.next_attempt_at, m.created_at)
        FROM jsonb_to_recordset(p_outbox) AS m(message_id text, episode_id text, kind text, channel text,
            body text, created_at timestamptz, next_attempt_at timestamptz);
        IF jsonb_array_length(p_audit) > 0 THEN
            PERFORM {s}.link_audit(p_scope, p_audit);
        END IF;
    END
    $$;

    DROP FUNCTION IF EXISTS {s}.caseload(text, text, boolean);
    DROP FUNCTION IF EXISTS {s}.caseload_open_or_lockbox(text, text);
    DROP FUNCTION IF EXISTS {s}.caseload_with_others_under_lockbox(text, text, boolean, boolean);
    DROP FUNCTION IF EXISTS {s}.closed_outcomes(text);
    """
    + _reader(
        "caseload",
        ", p_clinician text, p_open_only boolean",
        _CASELOAD_RESULT_13,
        f"""SELECT {_CASELOAD_COLUMNS_13}
           FROM {{s}}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (NOT p_open_only OR e.closed_on IS NULL)
           ORDER BY e.episode_id""",
    )
    + _reader(
        "caseload_open_or_lockbox",
        ", p_clinician text",
        _CASELOAD_RESULT_13,
        f"""SELECT {_CASELOAD_COLUMNS_13}
           FROM {{s}}.episodes e
           WHERE e.clinic_id = p_scope AND (p_clinician IS NULL OR e.clinician_id = p_clinician)
               AND (e.closed_on IS NULL OR e.lockbox <> '{{{{}}}}')
           ORDER BY e.episode_id""",
    )
    + _reader(
        "caseload_with_others_under_lockbox",
        ", p_clinician text, p_open_only boolean, p_closed boolean",
        _CASELOAD_RESULT_13,
        f"""SELECT u.* FROM (
               SELECT {_CASELOAD_COLUMNS_13}
               FROM {{s}}.episodes e
               WHERE e.clinic_id = p_scope AND e.clinician_id = p_clinician
                   AND (NOT p_open_only OR e.closed_on IS NULL OR (p_closed AND e.lockbox <> '{{{{}}}}'))
               UNION ALL
               SELECT {_CASELOAD_COLUMNS_13}
               FROM {{s}}.episodes e
               WHERE e.clinic_id = p_scope AND e.lockbox <> '{{{{}}}}' AND e.clinician_id <> p_clinician
                   AND (NOT p_open_only OR p_closed OR e.closed_on IS NULL)
           ) u
           ORDER BY u.episode_id""",
    )
    + _reader(
        "closed_outcomes",
        "",
        """clinician_id text, closed_on date, outcome_measure text, first_outcome double precision,
           latest_outcome double precision, outcome_sessions integer, modality text, ending_reason text,
           lockbox text, population text""",
        """SELECT e.clinician_id::text, e.closed_on, e.outcome_measure, e.first_outcome, e.latest_outcome,
               e.outcome_sessions, e.modality, e.ending_reason, e.lockbox, e.population
           FROM {s}.episodes e WHERE e.clinic_id = p_scope AND e.closed_on IS NOT NULL
           ORDER BY e.episode_id""",
    )
)

# 15: find_code, a kiosk code found as redeem_code finds it, read only: a redemption refused after the read
# (the episode closed, the measure's plugin gone, the policy) writes nothing. Safe to run again (as 5).
_MIGRATION_FIND_CODE = "DROP FUNCTION IF EXISTS {s}.find_code(text, text, timestamptz);" + _reader(
    "find_code",
    ", p_code text, p_at timestamptz",
    _REQUEST_COLUMNS,
    "SELECT " + _REQUEST_SELECT + " FROM {s}.administration_requests r"
    " WHERE r.clinic_id = p_scope AND r.code_hash = p_code AND r.token_hash IS NULL"
    " AND r.used_at IS NULL AND r.revoked_at IS NULL AND r.expires_at > p_at",
)

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
        open_alerts_json  text    NOT NULL,
        highest_severity  text,
        outcome_measure   text,
        first_outcome     double precision,
        latest_outcome    double precision,
        outcome_sessions  integer,
        modality          text,
        ending_reason     text,
        PRIMARY KEY (clinic_id, episode_id)
    ) WITH (fillfactor = 70);
    -- Every command rewrites its episode's row; room left on each page lets PostgreSQL update it in place
    -- (a HOT update: no new index entries) instead of moving it.
    CREATE INDEX episodes_by_clinician ON {s}.episodes (clinic_id, clinician_id, episode_id);
    -- The practice-outcomes report reads the closed episodes' outcome columns from this index alone.
    CREATE INDEX episodes_closed_outcomes ON {s}.episodes (clinic_id, episode_id)
        INCLUDE (clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome, outcome_sessions,
                 modality, ending_reason)
        WHERE closed_on IS NOT NULL;

    CREATE TABLE {s}.commands (
        clinic_id       text COLLATE "C" NOT NULL,
        idempotency_key text COLLATE "C" NOT NULL,
        episode_id      text    NOT NULL,
        version         integer NOT NULL,
        PRIMARY KEY (clinic_id, idempotency_key)
    );

    -- The body stays text, byte for byte: a signed webhook signs exactly what it sends.
    CREATE TABLE {s}.outbox (
        clinic_id        text COLLATE "C" NOT NULL,
        message_id       text COLLATE "C" NOT NULL,
        seq              bigint GENERATED ALWAYS AS IDENTITY,
        episode_id       text        NOT NULL,
        kind             text        NOT NULL,
        channel          text        NOT NULL,
        body             text        NOT NULL,
        created_at       timestamptz NOT NULL,
        state            text        NOT NULL DEFAULT 'pending',
        attempts         integer     NOT NULL DEFAULT 0,
        next_attempt_at  timestamptz NOT NULL,
        lease_owner      text,
        lease_expires_at timestamptz,
        last_error       text,
        PRIMARY KEY (clinic_id, message_id)
    );
    CREATE INDEX outbox_due ON {s}.outbox (clinic_id, next_attempt_at, message_id) WHERE state = 'pending';

    -- Claims a clinic's due messages for one dispatcher: FOR UPDATE SKIP LOCKED, so concurrent dispatchers
    -- each take different messages and never wait for each other; the lease is set in the same statement.
    CREATE FUNCTION {s}.claim_outbox(p_scope text, p_owner text, p_channels text[], p_now timestamptz,
        p_until timestamptz, p_limit integer)
    RETURNS TABLE (message_id text, episode_id text, kind text, channel text, body text,
        created_at timestamptz, state text, attempts integer, next_attempt_at timestamptz, lease_owner text,
        lease_expires_at timestamptz, last_error text)
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        RETURN QUERY
        WITH due AS (
            SELECT d.message_id FROM {s}.outbox d
            WHERE d.clinic_id = p_scope AND d.state = 'pending' AND d.channel = ANY (p_channels)
                AND d.next_attempt_at <= p_now AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= p_now)
            ORDER BY d.next_attempt_at, d.message_id
            LIMIT greatest(p_limit, 0)
            FOR UPDATE SKIP LOCKED
        )
        UPDATE {s}.outbox o SET lease_owner = p_owner, lease_expires_at = p_until
        FROM due WHERE o.clinic_id = p_scope AND o.message_id = due.message_id
        RETURNING o.message_id::text, o.episode_id, o.kind, o.channel, o.body, o.created_at, o.state,
            o.attempts, o.next_attempt_at, o.lease_owner, o.lease_expires_at, o.last_error;
    END
    $$;

    CREATE FUNCTION {s}.outbox_delivered(p_scope text, p_ids text[]) RETURNS integer
    LANGUAGE plpgsql AS $$
    DECLARE
        done integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET state = 'delivered', attempts = o.attempts + 1, lease_owner = NULL,
            lease_expires_at = NULL, last_error = NULL
        WHERE o.clinic_id = p_scope AND o.message_id = ANY (p_ids) AND o.state = 'pending';
        GET DIAGNOSTICS done = ROW_COUNT;
        RETURN done;
    END
    $$;

    -- A failed attempt (p_dead: the last one), only by the dispatcher holding the lease.
    CREATE FUNCTION {s}.outbox_failed(p_scope text, p_owner text, p_id text, p_error text,
        p_next timestamptz, p_dead boolean) RETURNS boolean LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET attempts = o.attempts + 1, lease_owner = NULL, lease_expires_at = NULL,
            last_error = p_error,
            state = CASE WHEN p_dead THEN 'dead' ELSE o.state END,
            next_attempt_at = CASE WHEN p_dead THEN o.next_attempt_at ELSE p_next END
        WHERE o.clinic_id = p_scope AND o.message_id = p_id AND o.state = 'pending'
            AND o.lease_owner = p_owner;
        RETURN FOUND;
    END
    $$;

    CREATE FUNCTION {s}.outbox_requeue(p_scope text, p_id text, p_now timestamptz) RETURNS boolean
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.outbox o SET state = 'pending', attempts = 0, next_attempt_at = p_now, last_error = NULL
        WHERE o.clinic_id = p_scope AND o.message_id = p_id AND o.state = 'dead';
        RETURN FOUND;
    END
    $$;

    -- The audit log: one hash chain per clinic (see alliancekit.security.audit_chain), so that each clinic's
    -- log can be verified from its own rows, which are all row-level security lets it see.
    CREATE TABLE {s}.audit (
        clinic_id   text COLLATE "C" NOT NULL,
        position    bigint      NOT NULL,
        entry_id    text        NOT NULL,
        at          timestamptz NOT NULL,
        actor_id    text        NOT NULL,
        actor_role  text        NOT NULL,
        purpose     text        NOT NULL,
        action      text        NOT NULL,
        record_type text        NOT NULL,
        record_id   text        NOT NULL,
        outcome     text        NOT NULL,
        client_ref  text        NOT NULL,
        detail      text        NOT NULL,
        prev_hash   text        NOT NULL,
        hash        text        NOT NULL,
        PRIMARY KEY (clinic_id, position)
    );

    -- Each clinic's chain head, locked (FOR UPDATE) by every audit write of that clinic: two writers can
    -- never fork the chain.
    CREATE TABLE {s}.audit_heads (
        clinic_id text COLLATE "C" PRIMARY KEY,
        position  bigint NOT NULL,
        hash      text   NOT NULL
    );

    CREATE TABLE {s}.audit_checkpoints (
        clinic_id text COLLATE "C" NOT NULL,
        seq       bigint GENERATED ALWAYS AS IDENTITY,
        position  bigint      NOT NULL,
        hash      text        NOT NULL,
        mac       text        NOT NULL,
        at        timestamptz NOT NULL,
        PRIMARY KEY (clinic_id, seq)
    );

    -- Chains and writes audit rows for the clinic in the setting, after its head, under the head's lock.
    -- The hash is alliancekit.security.audit_chain.entry_hash: SHA-256 over "<length>:<text>;" of each field
    -- (lengths in characters); at_iso is the time as Python's isoformat() gives it, in UTC.
    CREATE FUNCTION {s}.link_audit(p_scope text, p_audit jsonb) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        head_position bigint;
        head_hash text;
        digest text;
        a record;
    BEGIN
        SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
        WHERE h.clinic_id = p_scope FOR UPDATE;
        IF NOT FOUND THEN  -- the clinic's first audit row: create its head (once), then lock it
            INSERT INTO {s}.audit_heads (clinic_id, position, hash) VALUES (p_scope, 0, repeat('0', 64))
            ON CONFLICT DO NOTHING;
            SELECT h.position, h.hash INTO head_position, head_hash FROM {s}.audit_heads h
            WHERE h.clinic_id = p_scope FOR UPDATE;
        END IF;
        FOR a IN SELECT * FROM jsonb_to_recordset(p_audit) AS r(clinic_id text, entry_id text, at timestamptz,
                at_iso text, actor_id text, actor_role text, purpose text, action text, record_type text,
                record_id text, outcome text, client_ref text, detail text)
        LOOP
            head_position := head_position + 1;
            digest := encode(sha256(convert_to(
                length(head_position::text) || ':' || head_position::text || ';'
                || length(head_hash) || ':' || head_hash || ';'
                || length(a.entry_id) || ':' || a.entry_id || ';'
                || length(a.at_iso) || ':' || a.at_iso || ';'
                || length(a.actor_id) || ':' || a.actor_id || ';'
                || length(a.actor_role) || ':' || a.actor_role || ';'
                || length(a.clinic_id) || ':' || a.clinic_id || ';'
                || length(a.purpose) || ':' || a.purpose || ';'
                || length(a.action) || ':' || a.action || ';'
                || length(a.record_type) || ':' || a.record_type || ';'
                || length(a.record_id) || ':' || a.record_id || ';'
                || length(a.outcome) || ':' || a.outcome || ';'
                || length(a.client_ref) || ':' || a.client_ref || ';'
                || length(a.detail) || ':' || a.detail || ';', 'UTF8')), 'hex');
            INSERT INTO {s}.audit (clinic_id, position, entry_id, at, actor_id, actor_role, purpose, action,
                record_type, record_id, outcome, client_ref, detail, prev_hash, hash)
            VALUES (a.clinic_id, head_position, a.entry_id, a.at, a.actor_id, a.actor_role, a.purpose,
                a.action, a.record_type, a.record_id, a.outcome, a.client_ref, a.detail, head_hash, digest);
            head_hash := digest;
        END LOOP;
        UPDATE {s}.audit_heads SET position = head_position, hash = head_hash WHERE clinic_id = p_scope;
    END
    $$;

    CREATE FUNCTION {s}.append_checkpoint(p_scope text, p_position bigint, p_hash text, p_mac text,
        p_at timestamptz) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        INSERT INTO {s}.audit_checkpoints (clinic_id, position, hash, mac, at)
        VALUES (p_scope, p_position, p_hash, p_mac, p_at);
    END
    $$;

    -- Re-encryption of free text under a new key: the payloads change, the plaintext does not.
    CREATE FUNCTION {s}.replace_payloads(p_scope text, p_updates jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        UPDATE {s}.events e SET payload = u.payload
        FROM jsonb_to_recordset(p_updates) AS u(episode_id text, seq integer, payload jsonb)
        WHERE e.clinic_id = p_scope AND e.episode_id = u.episode_id AND e.seq = u.seq;
    END
    $$;

    -- The store's statements, one function each, so that every call is one statement and one network round
    -- trip that sets the clinic for its own transaction and then runs under the row-level security policies.
    -- Functions run with the caller's rights (SECURITY INVOKER): they grant nothing the caller lacks.
    CREATE FUNCTION {s}.append_commit(
        p_scope text, p_clinic text, p_key text, p_episode text, p_expected integer, p_new integer,
        p_state jsonb, p_clinician text, p_client_ref text, p_stage text, p_opened date, p_last_session date,
        p_attended integer, p_scores text, p_alerts integer, p_next_review integer, p_review_due boolean,
        p_closed date, p_alerts_json text, p_severity text, p_outcome_measure text,
        p_first_outcome double precision, p_latest_outcome double precision, p_outcome_sessions integer,
        p_modality text, p_ending_reason text, p_events jsonb, p_outbox jsonb, p_audit jsonb
    ) RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        written integer;
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        IF p_expected = 0 THEN
            INSERT INTO {s}.episodes (clinic_id, episode_id, version, state, clinician_id, client_ref, stage,
                opened_on, last_session_on, sessions_attended, latest_scores, open_alerts, next_review_at,
                review_due, closed_on, open_alerts_json, highest_severity, outcome_measure, first_outcome,
                latest_outcome, outcome_sessions, modality, ending_reason)
            VALUES (p_clinic, p_episode, p_new, p_state, p_clinician, p_client_ref, p_stage, p_opened,
                p_last_session, p_attended, p_scores, p_alerts, p_next_review, p_review_due, p_closed,
                p_alerts_json, p_severity, p_outcome_measure, p_first_outcome, p_latest_outcome,
                p_outcome_sessions, p_modality, p_ending_reason)
            ON CONFLICT DO NOTHING;
        ELSE
            -- Under READ COMMITTED a concurrent writer's update makes this one wait, then re-check the
            -- version on the new row: the loser touches no row, never overwrites.
            UPDATE {s}.episodes SET version = p_new, state = p_state, clinician_id = p_clinician,
                client_ref = p_client_ref, stage = p_stage, opened_on = p_opened,
                last_session_on = p_last_session,
                sessions_attended = p_attended, latest_scores = p_scores, open_alerts = p_alerts,
                next_review_at = p_next_review, review_due = p_review_due, closed_on = p_closed,
                open_alerts_json = p_alerts_json, highest_severity = p_severity,
                outcome_measure = p_outcome_measure, first_outcome = p_first_outcome,
                latest_outcome = p_latest_outcome, outcome_sessions = p_outcome_sessions,
                modality = p_modality, ending_reason = p_ending_reason
            WHERE clinic_id = p_clinic AND episode_id = p_episode AND version = p_expected;
        END IF;
        GET DIAGNOSTICS written = ROW_COUNT;
        IF written <> 1 THEN
            RAISE EXCEPTION 'stale stream version' USING ERRCODE = 'AK409';
        END IF;
        -- Then the key: a used one is a unique violation on commands_pkey (as in the core stores, a stale
        -- version is reported before a used key).
        IF p_key IS NOT NULL THEN
            INSERT INTO {s}.commands (clinic_id, idempotency_key, episode_id, version)
            VALUES (p_clinic, p_key, p_episode, p_new);
        END IF;
        INSERT INTO {s}.events (clinic_id, episode_id, seq, event_id, type, schema_version, occurred_at,
            recorded_at, actor_id, actor_role, corrects, payload)
        SELECT e.clinic_id, e.episode_id, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at,
            e.recorded_at, e.actor_id, e.actor_role, e.corrects, e.payload
        FROM jsonb_to_recordset(p_events) AS e(clinic_id text, episode_id text, seq integer, event_id text,
            type text, schema_version integer, occurred_at timestamptz, recorded_at timestamptz,
            actor_id text,
            actor_role text, corrects text, payload jsonb);
        INSERT INTO {s}.outbox (clinic_id, message_id, episode_id, kind, channel, body, created_at,
            next_attempt_at)
        SELECT p_clinic, m.message_id, m.episode_id, m.kind, m.channel, m.body, m.created_at,
            coalesce(m.next_attempt_at, m.created_at)
        FROM jsonb_to_recordset(p_outbox) AS m(message_id text, episode_id text, kind text, channel text,
            body text, created_at timestamptz, next_attempt_at timestamptz);
        IF jsonb_array_length(p_audit) > 0 THEN
            PERFORM {s}.link_audit(p_scope, p_audit);
        END IF;
    END
    $$;

    CREATE FUNCTION {s}.append_audit(p_scope text, p_audit jsonb) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM set_config('alliancekit.clinic_id', p_scope, true);
        PERFORM {s}.link_audit(p_scope, p_audit);
    END
    $$;
    """
    + "".join(_reader(*spec) for spec in _READERS_V1)
    + "".join(_POLICY.replace("{t}", table) for table in _V1_TABLES),
    _MIGRATION_2,
    _MIGRATION_3,
    _MIGRATION_4,
    _MIGRATION_MISSED,
    _MIGRATION_DEFINITIONS,
    _MIGRATION_CASELOAD_LOCKBOX,
    _MIGRATION_OTHERS_UNDER_LOCKBOX,
    _MIGRATION_OUTBOX_WAITS,
    _MIGRATION_OUTBOX_LEASES,
    _MIGRATION_OUTBOX_DUE,
    _MIGRATION_AUDIT_RECIPIENT,
    _MIGRATION_BACKFILL_AUDITED,
    _MIGRATION_POPULATION,
    _MIGRATION_FIND_CODE,
)
LATEST_VERSION = len(MIGRATIONS)
#: The oldest schema version a read-only store reads: migration 3 only added ``practice_meta``, which reads
#: as empty before it (a read-only store never migrates).
READABLE_FROM = 2
#: The schema version that added ``measure_definitions``; a read-only store on an older one reads none.
DEFINITIONS_FROM = MIGRATIONS.index(_MIGRATION_DEFINITIONS) + 1
#: The schema version from which a clinic's backfill mark has its audit entry; a read-only store on an older
#: one holds a mark without one, as the alliancekit-postgres that wrote it did.
BACKFILL_AUDITED_FROM = MIGRATIONS.index(_MIGRATION_BACKFILL_AUDITED) + 1
#: The schema version that added ``caseload_open_or_lockbox``; a read-only store on an older one filters
#: the whole caseload instead.
CASELOAD_LOCKBOX_FROM = MIGRATIONS.index(_MIGRATION_CASELOAD_LOCKBOX) + 1
#: The schema version that added ``caseload_with_others_under_lockbox``; a read-only store on an older one
#: filters the whole caseload instead.
OTHERS_UNDER_LOCKBOX_FROM = MIGRATIONS.index(_MIGRATION_OTHERS_UNDER_LOCKBOX) + 1
#: The schema version that added ``outbox.wait_began_at`` and ``outbox_records_after``; a read-only store on
#: an older one lists the outbox without paging.
OUTBOX_WAITS_FROM = MIGRATIONS.index(_MIGRATION_OUTBOX_WAITS) + 1
#: The schema version that added ``outbox.lease_began_at``.
OUTBOX_LEASES_FROM = MIGRATIONS.index(_MIGRATION_OUTBOX_LEASES) + 1
#: The schema version that added ``outbox_status_due``; a read-only store on an older one reports no
#: ``next_due_at``.
OUTBOX_DUE_FROM = MIGRATIONS.index(_MIGRATION_OUTBOX_DUE) + 1
#: The schema version that added ``audit.recipient`` and ``audit_records_with_recipient``; a read-only store
#: on an older one reads every entry as naming no recipient (as it was hashed).
AUDIT_RECIPIENT_FROM = MIGRATIONS.index(_MIGRATION_AUDIT_RECIPIENT) + 1
#: The schema version that added ``episodes.population``; a read-only store on an older one reads every
#: row's population as ``None`` (the caseload readers and closed_outcomes of that schema return none).
POPULATION_FROM = MIGRATIONS.index(_MIGRATION_POPULATION) + 1
#: The schema version that added ``find_code``; a read-only store on an older one looks through
#: ``request_records`` instead.
FIND_CODE_FROM = MIGRATIONS.index(_MIGRATION_FIND_CODE) + 1

#: What each version's migration adds that a schema at an older version lacks (a table, ``table.column``, an
#: index or ``routine()``): its *marker*, by version. A read-only store reads the schema as the newest version
#: whose own and earlier markers are all there, whatever its ``schema_migrations`` rows state, and
#: verification reports a stated version they disagree with (:mod:`alliancekit.store.structure`,
#: :func:`structure_found`).
STRUCTURE: dict[int, str] = {
    2: "commands.command",
    3: "practice_meta",
    4: "administration_requests",
    5: "episodes.missed_measures",
    DEFINITIONS_FROM: "measure_definitions",
    CASELOAD_LOCKBOX_FROM: "caseload_open_or_lockbox()",
    OTHERS_UNDER_LOCKBOX_FROM: "caseload_with_others_under_lockbox()",
    OUTBOX_WAITS_FROM: "outbox.wait_began_at",
    OUTBOX_LEASES_FROM: "outbox.lease_began_at",
    OUTBOX_DUE_FROM: "outbox_status_due()",
    AUDIT_RECIPIENT_FROM: "audit.recipient",
    BACKFILL_AUDITED_FROM: "command_records()",
    POPULATION_FROM: "episodes.population",
    FIND_CODE_FROM: "find_code()",
}


def utc(at: datetime) -> datetime:
    """``at`` as an aware UTC time (a naive one is taken as UTC), as PostgreSQL gives it back."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def audit_object(a: AuditRecord) -> str:
    """One audit record as ``link_audit`` takes it (a JSON object; ``at_iso`` is what the hash covers)."""
    # The chain hashes the time as it will read back: aware, in UTC (a naive time is taken as UTC).
    at = utc(a.at).isoformat()
    return json.dumps(
        {
            "clinic_id": a.clinic_id,
            "shard": a.shard,
            "writes": a.writes,
            "entry_id": a.entry_id,
            "at": at,
            "at_iso": at,
            "client_ref": a.client_ref,
            "detail": a.detail,
            "actor_id": a.actor_id,
            "actor_role": a.actor_role,
            "purpose": a.purpose,
            "action": a.action,
            "record_type": a.record_type,
            "record_id": a.record_id,
            "outcome": a.outcome,
            "recipient": a.recipient,
        },
        separators=(",", ":"),
    )


def audit_array(records: Iterable[AuditRecord]) -> str:
    return "[" + ",".join(audit_object(a) for a in records) + "]"


def _backfill_2(conn: Connection[object], schema: str) -> None:
    """Give the rows of a version-1 schema what migration 2 expects of them, inside its transaction.

    As the SQLite store does: every episode's events are hash-chained as they stand and the head kept on
    its row; its snapshot gains the lockbox directives in force, which its row keeps in ``lockbox``
    (:func:`alliancekit.store.upgrade.snapshot_v2`); the version-1 audit entries are re-linked, in their
    order, into shard 0 with the version-2 entry hash (the originals stay in ``audit_v1``); and one
    ``migrate-schema`` entry per episode, in the episode's shard, names the head it adopted, so every head
    is referenced from the audit log. Tamper evidence starts here: what was changed before the migration
    cannot be told apart.

    The owner runs it for every clinic: row-level security is not forced on these tables for the length of
    the transaction (DDL is transactional; no other session sees them unforced), then forced again.
    """
    s = sql.Identifier(schema)
    tables = ("events", "episodes", "audit_v1", "audit", "audit_heads")
    for table in tables:
        conn.execute(
            sql.SQL("ALTER TABLE {}.{} NO FORCE ROW LEVEL SECURITY").format(s, sql.Identifier(table))
        )
    conn.execute("SET LOCAL TIME ZONE 'UTC'")  # times read back as the store reads them, so hashes match
    now = datetime.now(UTC)
    entries: dict[str, list[AuditRecord]] = {}
    old: list[Any] = conn.execute(
        sql.SQL(
            "SELECT entry_id, at, actor_id, actor_role, clinic_id::text, purpose, action, record_type,"
            " record_id, outcome, client_ref, detail FROM {}.audit_v1 ORDER BY clinic_id, position"
        ).format(s)
    ).fetchall()
    for r in old:
        entries.setdefault(r[4], []).append(AuditRecord(*r))
    episodes: list[Any] = conn.execute(
        sql.SQL(
            "SELECT clinic_id::text, episode_id::text, client_ref, state::text FROM {}.episodes ORDER BY 1, 2"
        ).format(s)
    ).fetchall()
    for clinic_id, episode_id, client_ref, state_json in episodes:
        rows: list[Any] = conn.execute(
            sql.SQL(
                "SELECT episode_id::text, seq, event_id, type, schema_version, occurred_at, recorded_at,"
                " actor_id, actor_role, clinic_id::text, payload::text, corrects FROM {}.events"
                " WHERE clinic_id = %s AND episode_id = %s ORDER BY seq"
            ).format(s),
            (clinic_id, episode_id),
        ).fetchall()
        head = chain.GENESIS
        updates = []
        events = [StoredEvent(*row) for row in rows]
        for event in events:
            digest = chain.event_hash(event, head)
            updates.append((head, digest, clinic_id, episode_id, event.seq))
            head = digest
        with conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "UPDATE {}.events SET prev_hash = %s, hash = %s"
                    " WHERE clinic_id = %s AND episode_id = %s AND seq = %s"
                ).format(s),
                updates,
            )
        snapshot, lockbox = snapshot_v2(state_json, events)
        conn.execute(
            sql.SQL(
                "UPDATE {}.episodes SET head = %s, state = %s, lockbox = %s"
                " WHERE clinic_id = %s AND episode_id = %s"
            ).format(s),
            (head, snapshot, lockbox, clinic_id, episode_id),
        )
        entries.setdefault(clinic_id, []).append(
            adoption_entry(episode_id, clinic_id, client_ref, len(rows), head, now)
        )
    for clinic_id, records in sorted(entries.items()):
        # link_audit takes the entries grouped by shard in shard order (the old ones are shard 0).
        ordered = sorted(records, key=lambda r: r.shard)
        conn.execute(sql.SQL("SELECT {}.link_audit(%s, %s)").format(s), (clinic_id, audit_array(ordered)))
    for table in tables:
        conn.execute(sql.SQL("ALTER TABLE {}.{} FORCE ROW LEVEL SECURITY").format(s, sql.Identifier(table)))


def _backfill_13(conn: Connection[object], schema: str) -> None:
    """Record each clinic's backfill mark in its audit log (migration 13): one entry per marked clinic,
    chained after its shard's head by ``link_audit``. The owner runs it for every clinic, with row-level
    security not forced for the length of the transaction (as in migration 2)."""
    s = sql.Identifier(schema)
    tables = ("practice_meta", "audit", "audit_heads")
    for table in tables:
        conn.execute(
            sql.SQL("ALTER TABLE {}.{} NO FORCE ROW LEVEL SECURITY").format(s, sql.Identifier(table))
        )
    marked: list[Any] = conn.execute(
        sql.SQL("SELECT clinic_id::text FROM {}.practice_meta WHERE key = %s ORDER BY 1").format(s),
        (BACKFILL_KEY,),
    ).fetchall()
    now = datetime.now(UTC)
    for (clinic_id,) in marked:
        entry = backfill_mark_entry(clinic_id, now, BACKFILL_AUDITED_FROM)
        conn.execute(sql.SQL("SELECT {}.link_audit(%s, %s)").format(s), (clinic_id, audit_array([entry])))
    for table in tables:
        conn.execute(sql.SQL("ALTER TABLE {}.{} FORCE ROW LEVEL SECURITY").format(s, sql.Identifier(table)))


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


#: The schema's tables and indexes, its tables' columns (``table.column``) and its routines (``name()``).
_STRUCTURE_NAMES = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %(n)s AND c.relkind IN ('r', 'p', 'i')"
    " UNION ALL SELECT c.relname || '.' || a.attname FROM pg_attribute a"
    " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = %(n)s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped"
    " UNION ALL SELECT p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
    " WHERE n.nspname = %(n)s"
)


def structure_found(conn: Connection[object], schema: str, stated: int) -> SchemaFound:
    """What ``schema``'s structure says of its ``stated`` version (:data:`STRUCTURE`)."""
    present = {str(row[0]) for row in _rows(conn, _STRUCTURE_NAMES, {"n": schema})}
    return structure.found(stated, STRUCTURE, present, LATEST_VERSION)


@attrs.frozen
class Creation:
    """What a migration from nothing found: whether it made the schema, and the objects already in it."""

    schema_made: bool
    before: frozenset[tuple[str, int]]


#: The schema's namespace, by name: ``'x'::regnamespace`` would fold an unquoted name to lower case.
_NAMESPACE = "(SELECT oid FROM pg_namespace WHERE nspname = %(n)s)"

_OBJECTS = (
    f"SELECT 'class', oid::bigint FROM pg_class WHERE relnamespace = {_NAMESPACE}"
    f" UNION ALL SELECT 'proc', oid::bigint FROM pg_proc WHERE pronamespace = {_NAMESPACE}"
    f" UNION ALL SELECT 'type', oid::bigint FROM pg_type WHERE typnamespace = {_NAMESPACE}"
)


def _rows(conn: Connection[object], query: str, params: dict[str, str]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(query, params).fetchall()]  # type: ignore[arg-type]


def _objects(conn: Connection[object], schema: str) -> frozenset[tuple[str, int]]:
    return frozenset((str(kind), int(oid)) for kind, oid in _rows(conn, _OBJECTS, {"n": schema}))


def discard_creation(conn: Connection[object], schema: str, creation: Creation) -> bool:
    """Undo a migration from nothing (:class:`Creation`): drop the schema if it made it, else every table,
    view, sequence and routine it made there, and nothing that was there before. Returns whether nothing
    it made is left."""
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_NAMESPACE, schema))
        if creation.schema_made:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(s))
            return True
        kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        for relkind, what in kinds.items():  # tables first: their indexes, policies and triggers go too
            query = f"SELECT relname, oid::bigint FROM pg_class WHERE relnamespace = {_NAMESPACE}"
            query += " AND relkind = %(k)s"
            for name, oid in _rows(conn, query, {"n": schema, "k": relkind}):
                if ("class", int(oid)) not in creation.before:
                    drop = sql.SQL("DROP {} IF EXISTS {} CASCADE")
                    conn.execute(drop.format(sql.SQL(what), sql.Identifier(schema, str(name))))
        query = f"SELECT oid::bigint, oid::regprocedure::text FROM pg_proc WHERE pronamespace = {_NAMESPACE}"
        for oid, signature in _rows(conn, query, {"n": schema}):
            if ("proc", int(oid)) not in creation.before:
                # regprocedure's text is PostgreSQL's own quoting of the name and argument types.
                conn.execute(sql.SQL("DROP ROUTINE IF EXISTS {} CASCADE").format(sql.SQL(str(signature))))
        return _objects(conn, schema) <= creation.before


def migrate_connection(
    conn: Connection[object],
    schema: str,
    *,
    grant_to: str | None = None,
    created: list[Creation] | None = None,
) -> int:
    """Bring ``schema`` up to :data:`LATEST_VERSION` on ``conn`` (autocommit), one transaction per run.

    Concurrent openers serialise on an advisory lock, so exactly one of them migrates. Returns the version.

    :param grant_to: a role to grant the data privileges (and nothing else) to: for deployments where an
        owner role migrates and the application connects as another role.
    :param created: given, a migration from nothing appends its :class:`Creation` (for
        :func:`discard_creation`): decided under the lock, so only the opener that made the store has one.
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
            if created is not None:
                before = frozenset() if exists is None else _objects(conn, schema)
                created.append(Creation(exists is None, before))
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
            conn.execute(sql.SQL(MIGRATIONS[number - 1]).format(s=s))
            if number == 2:
                _backfill_2(conn, schema)
            elif number == BACKFILL_AUDITED_FROM:
                _backfill_13(conn, schema)
            conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version) VALUES (%s)").format(s), (number,)
            )
        if grant_to is not None:
            role = sql.Identifier(grant_to)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, role))
            conn.execute(sql.SQL("GRANT SELECT ON {}.schema_migrations TO {}").format(s, role))
            for table in CLINIC_TABLES:
                conn.execute(
                    sql.SQL("GRANT SELECT, INSERT, UPDATE ON {}.{} TO {}").format(
                        s, sql.Identifier(table), role
                    )
                )
            conn.execute(sql.SQL("GRANT USAGE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, role))
            conn.execute(sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {} TO {}").format(s, role))
    return LATEST_VERSION
