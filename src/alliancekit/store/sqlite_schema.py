"""The SQLite schema, as forward migrations. Migration *n* takes a database from version n-1 to n.

A database is recognised as alliancekit's by ``PRAGMA application_id``; its schema version is
``PRAGMA user_version``. Never edit a released migration: add the next one.
"""

from __future__ import annotations

#: "AkIt" in ASCII: marks a SQLite file as an alliancekit store.
APPLICATION_ID = 0x416B4974

MIGRATIONS: tuple[str, ...] = (
    # 1: events, episodes (snapshot + caseload projection), commands (idempotency), outbox, audit
    # (hash-chained) and its checkpoints
    """
    CREATE TABLE events (
        episode_id     TEXT    NOT NULL,
        seq            INTEGER NOT NULL,
        event_id       TEXT    NOT NULL,
        type           TEXT    NOT NULL,
        schema_version INTEGER NOT NULL,
        occurred_at    TEXT    NOT NULL,
        recorded_at    TEXT    NOT NULL,
        actor_id       TEXT    NOT NULL,
        actor_role     TEXT    NOT NULL,
        clinic_id      TEXT    NOT NULL,
        corrects       TEXT,
        payload        TEXT    NOT NULL,
        PRIMARY KEY (episode_id, seq)
    );
    -- Rows of a few hundred bytes to a few KB: appended to a rowid table (no page splits in the middle),
    -- found through a small index on the stream position.

    -- One row per episode: its snapshot (the folded state) and its caseload projection, kept together so a
    -- command touches one row and one set of index pages.
    CREATE TABLE episodes (
        episode_id        TEXT    PRIMARY KEY,
        version           INTEGER NOT NULL,
        state             TEXT    NOT NULL,
        clinic_id         TEXT    NOT NULL,
        clinician_id      TEXT    NOT NULL,
        client_ref        TEXT    NOT NULL,
        stage             TEXT    NOT NULL,
        opened_on         TEXT    NOT NULL,
        last_session_on   TEXT,
        sessions_attended INTEGER NOT NULL,
        latest_scores     TEXT    NOT NULL,
        open_alerts       INTEGER NOT NULL,
        next_review_at    INTEGER,
        review_due        INTEGER NOT NULL,
        closed_on         TEXT,
        open_alerts_json  TEXT    NOT NULL DEFAULT '[]',
        highest_severity  TEXT,
        outcome_measure   TEXT,
        first_outcome     REAL,
        latest_outcome    REAL,
        outcome_sessions  INTEGER,
        modality          TEXT,
        ending_reason     TEXT
    );
    CREATE INDEX episodes_by_clinician ON episodes (clinic_id, clinician_id, closed_on);
    -- The practice-outcomes report and the expectation fit read closed episodes' outcome columns only: a
    -- covering partial index, so they never touch the wide rows that hold the snapshots.
    CREATE INDEX episodes_closed_outcomes ON episodes (
        clinic_id, episode_id, clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome,
        outcome_sessions, modality, ending_reason
    ) WHERE closed_on IS NOT NULL;

    CREATE TABLE commands (
        idempotency_key TEXT    PRIMARY KEY,
        episode_id      TEXT    NOT NULL,
        version         INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Delivery times are INTEGER microseconds since the epoch (UTC) so that "due" is a numeric comparison.
    CREATE TABLE outbox (
        message_id       TEXT    PRIMARY KEY,
        episode_id       TEXT    NOT NULL,
        kind             TEXT    NOT NULL,
        channel          TEXT    NOT NULL,
        body             TEXT    NOT NULL,
        created_at       TEXT    NOT NULL,
        state            TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
        attempts         INTEGER NOT NULL DEFAULT 0,
        next_attempt_at  INTEGER NOT NULL,
        lease_owner      TEXT,
        lease_expires_at INTEGER,
        last_error       TEXT,
        settled_at       INTEGER
    );
    -- Only pending rows are indexed, so the index stays as small as the backlog however many were delivered.
    CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';

    CREATE TABLE audit (
        seq         INTEGER PRIMARY KEY,
        entry_id    TEXT NOT NULL,
        at          TEXT NOT NULL,
        actor_id    TEXT NOT NULL,
        actor_role  TEXT NOT NULL,
        clinic_id   TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        action      TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_id   TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        client_ref  TEXT NOT NULL,
        detail      TEXT NOT NULL,
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL
    );
    -- audit.seq is the entry's position in the hash chain (alliancekit.security.audit_chain).

    CREATE TABLE audit_checkpoints (
        seq      INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        hash     TEXT    NOT NULL,
        mac      TEXT    NOT NULL,
        at       TEXT    NOT NULL
    );
    """,
    # 2: tamper evidence over the whole record (alliancekit.integrity.chain): hash-chained events with the
    # stream head on the episodes row; idempotency scoped to (clinic, command, key) and bound to a hash of
    # the request; audit entries in independent shard chains (position per shard, the head of each shard
    # read through their index) naming the stream head they wrote; checkpoints sealing every shard head.
    # Rows written under version 1 get their hashes in ``backfill_2`` (same transaction).
    """
    ALTER TABLE events ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
    ALTER TABLE episodes ADD COLUMN head TEXT NOT NULL DEFAULT '';

    -- Version-1 keys were global and not bound to a request: they cannot be scoped afterwards, so they go.
    DROP TABLE commands;
    CREATE TABLE commands (
        clinic_id    TEXT    NOT NULL,
        command      TEXT    NOT NULL,
        key          TEXT    NOT NULL,
        request_hash TEXT    NOT NULL,
        episode_id   TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        PRIMARY KEY (clinic_id, command, key)
    ) WITHOUT ROWID;

    CREATE TABLE audit_v2 (
        shard       INTEGER NOT NULL,
        position    INTEGER NOT NULL,
        entry_id    TEXT NOT NULL,
        at          TEXT NOT NULL,
        actor_id    TEXT NOT NULL,
        actor_role  TEXT NOT NULL,
        clinic_id   TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        action      TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_id   TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        client_ref  TEXT NOT NULL,
        detail      TEXT NOT NULL,
        writes      TEXT NOT NULL DEFAULT '',
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL,
        UNIQUE (shard, position)
    );
    INSERT INTO audit_v2 (shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose, action,
                          record_type, record_id, outcome, client_ref, detail, prev_hash, hash)
        SELECT 0, seq, entry_id, at, actor_id, actor_role, clinic_id, purpose, action, record_type,
               record_id, outcome, client_ref, detail, prev_hash, hash FROM audit ORDER BY seq;
    DROP TABLE audit;
    ALTER TABLE audit_v2 RENAME TO audit;

    -- The last entry of a shard is found through the (shard, position) index, under the write lock: no
    -- table of heads to rewrite on every commit.

    -- Version-1 checkpoints sealed one chain with another MAC message: kept for the record, not verified.
    ALTER TABLE audit_checkpoints RENAME TO audit_checkpoints_v1;
    CREATE TABLE audit_checkpoints (
        seq   INTEGER PRIMARY KEY,
        heads TEXT    NOT NULL,
        root  TEXT    NOT NULL,
        mac   TEXT    NOT NULL,
        at    TEXT    NOT NULL
    );

    -- The lockbox directives in force, kept with the caseload projection so that the summary a reader
    -- may see (a caseload row, a closed outcome) is decided without reading the snapshot. The covering
    -- index of closed outcomes carries them too.
    ALTER TABLE episodes ADD COLUMN lockbox TEXT NOT NULL DEFAULT '{}';
    DROP INDEX episodes_closed_outcomes;
    CREATE INDEX episodes_closed_outcomes ON episodes (
        clinic_id, episode_id, clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome,
        outcome_sessions, modality, ending_reason, lockbox
    ) WHERE closed_on IS NOT NULL;
    """,
    # 3: practice metadata, a few small JSON records about the practice (the fitted expectation model, the
    # demo mark), read and written through Store.load_meta and Store.save_meta. No client data.
    """
    CREATE TABLE practice_meta (
        key   TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 4: administration requests (links and kiosk codes a client fills a measure in with) and failed kiosk
    # attempts per clinic, source and window. Only SHA-256 hashes of tokens and codes are kept. Times are
    # microseconds since the epoch (compared in SQL, as in the outbox).
    """
    CREATE TABLE administration_requests (
        clinic_id   TEXT    NOT NULL,
        request_id  TEXT    NOT NULL,
        episode_id  TEXT    NOT NULL,
        measure_id  TEXT    NOT NULL,
        version     TEXT    NOT NULL,
        point       TEXT    NOT NULL,
        session_id  TEXT,
        language    TEXT,
        token_hash  TEXT,
        code_hash   TEXT,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        remind_at   INTEGER,
        revoked_at  INTEGER,
        used_at     INTEGER,
        PRIMARY KEY (clinic_id, request_id)
    ) WITHOUT ROWID;
    -- A token is looked up by its hash alone (it names its clinic), a kiosk code by clinic and hash.
    CREATE UNIQUE INDEX administration_requests_token
        ON administration_requests (token_hash, clinic_id) WHERE token_hash IS NOT NULL;
    CREATE UNIQUE INDEX administration_requests_code
        ON administration_requests (clinic_id, code_hash) WHERE code_hash IS NOT NULL;

    CREATE TABLE kiosk_failures (
        clinic_id    TEXT    NOT NULL,
        source       TEXT    NOT NULL,
        window_start INTEGER NOT NULL,
        failures     INTEGER NOT NULL,
        PRIMARY KEY (clinic_id, source, window_start)
    ) WITHOUT ROWID;
    """,
    # 5: the measures an episode missed under its measurement protocol (a JSON list of measure ids), kept
    # with the caseload projection. Rows written before read as none missed until their next command.
    """
    ALTER TABLE episodes ADD COLUMN missed_measures TEXT NOT NULL DEFAULT '[]';
    """,
    # 6: the measure definitions that administrations used, kept with the data so that an export can still
    # describe them once a plugin is removed (alliancekit.store.definitions). One row per measure and
    # version: the canonical JSON the registry loaded and its SHA-256. Published instruments, no client data.
    # A store upgraded to this version holds none for its older administrations until a practice opened on
    # it records the registered ones (alliancekit.core.definitions).
    """
    CREATE TABLE measure_definitions (
        measure_id TEXT NOT NULL,
        version    TEXT NOT NULL,
        sha256     TEXT NOT NULL,
        definition TEXT NOT NULL,
        PRIMARY KEY (measure_id, version)
    ) WITHOUT ROWID;
    -- A store that already held data is marked for the first writable practice to record the definitions
    -- of the measures still registered.
    INSERT INTO practice_meta (key, value)
        SELECT 'measure-definitions-backfill', '"pending"' WHERE EXISTS (SELECT 1 FROM events);
    """,
    # 7: the rows that carry lockbox directives (a few of a clinic's), found without reading the others: one
    # clinician's caseload reads the other clinicians' rows under a lockbox with its own
    # (``Store.caseload(others_under_lockbox=True)``), as a directive may withhold a transfer from a reader.
    # Only rows with directives are in it, so a command on an episode without any writes no entry of it. Safe
    # to run again (tests fabricate an older version by lowering user_version alone).
    """
    CREATE INDEX IF NOT EXISTS episodes_under_lockbox ON episodes (clinic_id, clinician_id)
        WHERE lockbox <> '{}';
    """,
    # 8: when a pending message's wait for its next_attempt_at began (microseconds; NULL: a time of its own,
    # a reminder's), so that a claim at an earlier clock reading (the clock stepped back) begins the wait
    # again rather than holding the message until the clock passes the stamp (Store.claim_outbox). Only
    # pending messages with a wait are indexed: a claim finds those to begin again without a scan. Pending
    # rows due at their creation get theirs in ``backfill_8`` (same transaction); the others keep their time.
    """
    ALTER TABLE outbox ADD COLUMN wait_began_at INTEGER;
    CREATE INDEX outbox_waits ON outbox (wait_began_at) WHERE state = 'pending' AND wait_began_at IS NOT NULL;
    """,
    # 9: when a message's lease began (microseconds; read only while lease_expires_at is set), so that a claim
    # at an earlier clock reading (the clock stepped back) begins a lease that began after it again, for its
    # length, rather than leaving a dead dispatcher's message unclaimable until the clock passes the old end
    # (Store.claim_outbox). Only leased pending messages are indexed. A lease taken before this migration has
    # no start and runs to its end, as before.
    """
    ALTER TABLE outbox ADD COLUMN lease_began_at INTEGER;
    CREATE INDEX outbox_leases ON outbox (lease_began_at)
        WHERE state = 'pending' AND lease_expires_at IS NOT NULL;
    """,
    # 10: whom an export or a share went to (a recipient's id, or '(unnamed)'), on its audit entry, hashed
    # with it (alliancekit.integrity.chain.entry_hash hashes it only when not empty, so the entries written
    # before keep their hashes and read as naming none). No index: the log is read whole. Safe to run again
    # (a column already there is not added again: alliancekit.store.sqlite._column_there).
    """
    ALTER TABLE audit ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
    """,
    # 11: the mark migration 6 left on a store that held administrations before it kept measure definitions
    # (practice metadata measure-definitions-backfill) recorded in the audit log, where the hash chain covers
    # it: ``backfill_11`` (same transaction) writes one mark-definitions-backfill entry, filed under no
    # clinic (the mark is the whole file's), when the mark is there. Verification then reads a mark without
    # its entry as written outside alliancekit. No table changes.
    """
    SELECT 'mark-definitions-backfill';
    """,
    # 12: the episode's norm population (NULL: each measure's default), kept with the caseload projection so
    # that the practice-outcomes report and the expectation fit read each closed episode against its own
    # norm (Measure.norm_for); the covering index of closed outcomes carries it too. Rows written before get
    # theirs from their episode-opened event (its population is never encrypted: not free text); an episode
    # opened before version 2 of that event names none, which reads as NULL. Safe to run again (as 10).
    """
    ALTER TABLE episodes ADD COLUMN population TEXT;
    UPDATE episodes SET population = (
        SELECT json_extract(e.payload, '$.population') FROM events e
        WHERE e.episode_id = episodes.episode_id AND e.type = 'episode-opened' ORDER BY e.seq LIMIT 1
    );
    DROP INDEX IF EXISTS episodes_closed_outcomes;
    CREATE INDEX episodes_closed_outcomes ON episodes (
        clinic_id, episode_id, clinician_id, closed_on, outcome_measure, first_outcome, latest_outcome,
        outcome_sessions, modality, ending_reason, lockbox, population
    ) WHERE closed_on IS NOT NULL;
    """,
    # 13: audit chains and checkpoints per clinic. ``chain`` is the clinic whose chains hold the entry (its
    # ``clinic_id``; ``(none)`` for a call made without an actor), so one clinic's writers and verification
    # never touch another's chains, and a break in one clinic's chains is not in another's report. Entries
    # and checkpoints written before keep their hashes, their shared chains and their seals, with ``chain``
    # empty: the shared part, still checked whole (its checkpoints may still seal its heads once, after this
    # migration, when its tail was not sealed yet). Both tables are rebuilt, as a table's UNIQUE constraint
    # and primary key cannot be changed in place; the rows keep their order (the log's order of writing).
    """
    CREATE TABLE audit_v11 (
        chain       TEXT    NOT NULL,
        shard       INTEGER NOT NULL,
        position    INTEGER NOT NULL,
        entry_id    TEXT NOT NULL,
        at          TEXT NOT NULL,
        actor_id    TEXT NOT NULL,
        actor_role  TEXT NOT NULL,
        clinic_id   TEXT NOT NULL,
        purpose     TEXT NOT NULL,
        action      TEXT NOT NULL,
        record_type TEXT NOT NULL,
        record_id   TEXT NOT NULL,
        outcome     TEXT NOT NULL,
        client_ref  TEXT NOT NULL,
        detail      TEXT NOT NULL,
        writes      TEXT NOT NULL DEFAULT '',
        prev_hash   TEXT NOT NULL,
        hash        TEXT NOT NULL,
        recipient   TEXT NOT NULL DEFAULT '',
        UNIQUE (chain, shard, position)
    );
    INSERT INTO audit_v11 (chain, shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose,
                           action, record_type, record_id, outcome, client_ref, detail, writes, prev_hash,
                           hash, recipient)
        SELECT '', shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose, action,
               record_type, record_id, outcome, client_ref, detail, writes, prev_hash, hash, recipient
        FROM audit ORDER BY rowid;
    DROP TABLE audit;
    ALTER TABLE audit_v11 RENAME TO audit;

    CREATE TABLE audit_checkpoints_v11 (
        chain TEXT    NOT NULL,
        seq   INTEGER NOT NULL,
        heads TEXT    NOT NULL,
        root  TEXT    NOT NULL,
        mac   TEXT    NOT NULL,
        at    TEXT    NOT NULL,
        PRIMARY KEY (chain, seq)
    ) WITHOUT ROWID;
    INSERT INTO audit_checkpoints_v11 (chain, seq, heads, root, mac, at)
        SELECT '', seq, heads, root, mac, at FROM audit_checkpoints ORDER BY seq;
    DROP TABLE audit_checkpoints;
    ALTER TABLE audit_checkpoints_v11 RENAME TO audit_checkpoints;
    """,
)

LATEST_VERSION = len(MIGRATIONS)
#: The schema version that added ``episodes.missed_measures`` (found by content, not by number: migrations of
#: other work may be ordered before it); a read-only open of an older database reads none missed.
MISSED_MEASURES_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "missed_measures" in m)
#: The schema version that added ``measure_definitions`` (found by content, as above); a read-only open of an
#: older database reads none stored.
DEFINITIONS_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "CREATE TABLE measure_definitions" in m)
#: The schema version that added the index ``episodes_under_lockbox`` (found by content, as above); a
#: read-only open of an older database finds the rows under a lockbox without it.
UNDER_LOCKBOX_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "episodes_under_lockbox" in m)
#: The schema version that added ``outbox.wait_began_at`` (found by content, as above).
OUTBOX_WAITS_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "outbox_waits" in m)
#: The schema version that added ``outbox.lease_began_at`` (found by content, as above).
OUTBOX_LEASES_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "outbox_leases" in m)
#: The schema version that added ``audit.recipient`` (found by content, as above); a read-only open of
#: an older database reads every entry as naming no recipient, and a migration's backfill that writes the
#: audit table before it (``backfill_2``) writes it without the column.
AUDIT_RECIPIENT_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "audit ADD COLUMN recipient" in m)

#: The schema version from which a backfill mark has its audit entry (found by content, as above); a
#: read-only open of an older database holds a mark without one, as the alliancekit that wrote it did.
BACKFILL_AUDITED_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "'mark-definitions-backfill'" in m)

#: The schema version that added ``episodes.population`` (found by content, as above); a read-only open of an
#: older database reads each episode's population from its snapshot.
POPULATION_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "ADD COLUMN population" in m)

#: The schema version that keeps audit chains and checkpoints per clinic (found by content, as above); a
#: read-only open of an older database reads every entry and checkpoint as the shared part (``chain`` empty).
CLINIC_CHAINS_FROM = next(i + 1 for i, m in enumerate(MIGRATIONS) if "CREATE TABLE audit_v11" in m)

#: The oldest schema version a read-only open reads: migration 3 only added ``practice_meta``, which reads
#: as empty on a version-2 database (a read-only open never migrates).
READABLE_FROM = 2

#: What each version's migration adds that a database at an older version lacks (a table, ``table.column``
#: or an index): its *marker*, by version. A read-only open reads the file as the newest version whose own
#: and earlier markers are all there, whatever its ``user_version`` states, and verification reports a
#: stated version they disagree with (:mod:`alliancekit.store.structure`). Migration 11 added nothing to tell
#: it by.
STRUCTURE: dict[int, str] = {
    2: "events.hash",
    3: "practice_meta",
    4: "administration_requests",
    MISSED_MEASURES_FROM: "episodes.missed_measures",
    DEFINITIONS_FROM: "measure_definitions",
    UNDER_LOCKBOX_FROM: "episodes_under_lockbox",
    OUTBOX_WAITS_FROM: "outbox.wait_began_at",
    OUTBOX_LEASES_FROM: "outbox.lease_began_at",
    AUDIT_RECIPIENT_FROM: "audit.recipient",
    POPULATION_FROM: "episodes.population",
    CLINIC_CHAINS_FROM: "audit.chain",
}
