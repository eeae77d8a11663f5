"""Tamper evidence on PostgreSQL, end to end: a record made through the facade, changed behind its back by
someone who can write the database, and verified as ``alliancekit verify`` does (read-only, through the
facade). Each change is found, by the check that names it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from alliancekit_postgres import PostgresStore
from psycopg import sql

from alliancekit import Practice
from alliancekit.domain import Actor, Administration, Role, Session
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.concurrency import active_episode

from .older_schema import as_migration_12_left_it

CLINIC = "clinic-a"
KEY = b"postgres-tamper-test-seal-key-" + b"k" * 8
ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)
HOST = make_plugin_host(load_entry_points=False)
_T0 = datetime(2026, 3, 9, 9, 30, tzinfo=UTC)  # after the sessions recorded (none may be after today)

Change = Callable[[psycopg.Connection, sql.Identifier, str], None]


def _record(pg, schema: str) -> str:  # type: ignore[no-untyped-def]
    """Two episodes with sessions, a read and exports (one to hospital-x, one naming no recipient), sealed
    every 5 entries and on close; returns the first's id."""
    ticks = iter(range(10**9))
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    with Practice(
        store,
        plugins=HOST,
        audit_key=KEY,
        checkpoint_every=5,
        clock=lambda: _T0 + timedelta(seconds=next(ticks)),
    ) as practice:
        episodes = []
        for n in (1, 2):
            me = Actor(f"clin-{n}", Role.CLINICIAN, CLINIC)
            ep = active_episode(practice, me)
            for day in (1, 8):
                practice.record_session(
                    me, ep, Session(held_on=date(2026, 3, day), modality="video", attendance="attended")
                )
            practice.episode(me, ep)
            practice.export_record(me, ep, recipient="hospital-x" if n == 1 else None)
            episodes.append(ep)
    return episodes[0]


def _verify(pg, schema: str, clinic: str = CLINIC) -> IntegrityReport:  # type: ignore[no-untyped-def]
    store = PostgresStore(pg.app_dsn, clinic_id=clinic, schema=schema, pool_max=1, read_only=True)
    with Practice(store, plugins=HOST, audit_key=KEY) as practice:
        return practice.verify(Actor("adm-1", Role.ADMINISTRATOR, clinic))


def _one(conn: psycopg.Connection, statement: str, s: sql.Identifier, *params: object) -> None:
    changed = conn.execute(sql.SQL(statement).format(s=s), params).rowcount
    assert changed >= 1, "the change must change something, or the test proves nothing"


#: change -> (what it does to the database, the checks that must fail)
CHANGES: dict[str, tuple[Change, set[str]]] = {
    "edited event payload": (
        lambda c, s, ep: _one(
            c,
            "UPDATE {s}.events SET payload = payload || '{{\"edited\": 1}}'"
            " WHERE episode_id = %s AND seq = 5",
            s,
            ep,
        ),
        {"events"},
    ),
    "deleted event": (
        lambda c, s, ep: _one(c, "DELETE FROM {s}.events WHERE episode_id = %s AND seq = 3", s, ep),
        {"events"},
    ),
    "reordered events": (
        lambda c, s, ep: (
            _one(c, "UPDATE {s}.events SET seq = 1011 - seq WHERE episode_id = %s AND seq IN (5, 6)", s, ep),
            _one(c, "UPDATE {s}.events SET seq = seq - 1000 WHERE episode_id = %s AND seq > 1000", s, ep),
        ),
        {"events"},
    ),
    "edited audit entry": (
        lambda c, s, ep: _one(
            c,
            "UPDATE {s}.audit SET outcome = 'refused'"
            " WHERE (shard, position) = (SELECT shard, position FROM {s}.audit"
            " ORDER BY shard, position LIMIT 1)",
            s,
        ),
        {"audit"},
    ),
    "edited audit recipient": (
        lambda c, s, ep: _one(
            c, "UPDATE {s}.audit SET recipient = 'hospital-y' WHERE recipient = 'hospital-x'", s
        ),
        {"audit"},
    ),
    "emptied audit recipient": (
        lambda c, s, ep: _one(c, "UPDATE {s}.audit SET recipient = '' WHERE recipient = '(unnamed)'", s),
        {"audit"},
    ),
    "recipient added to an audit entry": (
        lambda c, s, ep: _one(
            c,
            "UPDATE {s}.audit SET recipient = 'hospital-x'"
            " WHERE (shard, position) = (SELECT shard, position FROM {s}.audit WHERE recipient = ''"
            " ORDER BY shard, position LIMIT 1)",
            s,
        ),
        {"audit"},
    ),
    "cut audit tail": (
        lambda c, s, ep: (
            _one(
                c,
                "DELETE FROM {s}.audit WHERE (shard, position) IN (SELECT shard, max(position) FROM {s}.audit"
                " GROUP BY shard)",
                s,
            ),
            _one(
                c,
                "UPDATE {s}.audit_heads h SET position = a.position, hash = a.hash FROM (SELECT DISTINCT ON"
                " (shard) shard, position, hash FROM {s}.audit ORDER BY shard, position DESC) a"
                " WHERE h.shard = a.shard",
                s,
            ),
        ),
        {"seals"},
    ),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_behind_the_facades_back_is_found(pg, change: str) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    episode = _record(pg, schema)
    assert _verify(pg, schema).ok
    do, checks = CHANGES[change]
    with pg.admin() as conn:
        do(conn, sql.Identifier(schema), episode)
    report = _verify(pg, schema)
    assert not report.ok
    assert checks <= {finding.check for finding in report.findings}, report.describe()


def test_each_clinic_verifies_its_own_rows_and_chains(pg) -> None:  # type: ignore[no-untyped-def]
    """Row-level security scopes the store, the shards and the checkpoints to one clinic: nothing shared."""
    schema = pg.new_schema()
    _record(pg, schema)
    other = PostgresStore(pg.app_dsn, clinic_id="clinic-b", schema=schema, pool_max=2)
    with Practice(other, plugins=HOST, audit_key=KEY, clock=lambda: _T0) as practice:
        theirs = active_episode(practice, Actor("clin-b", Role.CLINICIAN, "clinic-b"))
    mine = _verify(pg, schema)
    assert (mine.ok, mine.clinic, mine.episodes, mine.shared_audit) == (True, CLINIC, 2, False)
    assert theirs not in str(mine.as_dict())
    report = _verify(pg, schema, "clinic-b")
    assert (report.ok, report.clinic, report.episodes, report.shared_audit) == (True, "clinic-b", 1, False)
    assert report.checkpoints >= 1
    assert report.seals_checked


def _verify_on(pg, schema: str, store_clinic: str, actor_clinic: str) -> IntegrityReport:  # type: ignore[no-untyped-def]
    """Verify by an administrator of ``actor_clinic`` on a store opened for ``store_clinic``."""
    store = PostgresStore(pg.app_dsn, clinic_id=store_clinic, schema=schema, pool_max=1, read_only=True)
    with Practice(store, plugins=HOST, audit_key=KEY) as practice:
        return practice.verify(Actor("adm-9", Role.ADMINISTRATOR, actor_clinic))


def test_another_clinics_administrator_verifies_nothing_of_the_stores_clinic(pg) -> None:  # type: ignore[no-untyped-def]
    """A store acts for one clinic: as its caseload is empty for another clinic, so is its verification.
    Another clinic's administrator learns nothing of it: no counts, no chain positions, not even a break."""
    schema = pg.new_schema()
    _record(pg, schema)
    with pg.admin() as conn:
        CHANGES["edited audit entry"][0](conn, sql.Identifier(schema), "")
    mine = _verify_on(pg, schema, CLINIC, CLINIC)  # the store's own clinic sees its broken chain
    assert (mine.ok, mine.episodes, mine.shared_audit) == (False, 2, False)
    assert mine.finding("audit") is not None
    assert mine.audit_entries > 0
    assert mine.checkpoints > 0
    theirs = _verify_on(pg, schema, CLINIC, "clinic-b")
    assert (theirs.ok, theirs.clinic, theirs.findings, theirs.shared_audit) == (True, "clinic-b", (), False)
    counts = (theirs.episodes, theirs.events, theirs.audit_entries, theirs.checkpoints, theirs.seals_checked)
    assert counts == (0, 0, 0, 0, False)
    assert "shard" not in theirs.describe()


def test_progress_counts_the_stores_episodes_and_tells_another_clinic_nothing(pg) -> None:  # type: ignore[no-untyped-def]
    """``Practice.verify(progress=)`` on PostgreSQL: (1, 2), (2, 2) for the store's clinic; for another
    clinic's administrator no call at all, so not even how many episodes the store holds."""
    schema = pg.new_schema()
    _record(pg, schema)
    for actor_clinic, expected in ((CLINIC, [(1, 2), (2, 2)]), ("clinic-b", [])):
        calls: list[tuple[int, int]] = []
        store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
        with Practice(store, plugins=HOST, audit_key=KEY) as practice:
            report = practice.verify(
                Actor("adm-9", Role.ADMINISTRATOR, actor_clinic),
                progress=lambda done, total, calls=calls: calls.append((done, total)),
            )
        assert report.ok
        assert calls == expected


def _scored_record(pg, schema: str) -> str:  # type: ignore[no-untyped-def]
    """One episode with a session scoring a PHQ-9 (its definition stored with the data); returns its id."""
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    with Practice(store, plugins=HOST, audit_key=KEY, clock=lambda: _T0) as practice:
        me = Actor("clin-1", Role.CLINICIAN, CLINIC)
        ep = active_episode(practice, me)
        answers = {f"q{i}": 1 for i in range(1, 10)}
        session = Session(
            held_on=date(2026, 3, 1),
            modality="video",
            attendance="attended",
            administrations=(Administration("phq-9", "1.0", "start", answers),),
        )
        practice.record_session(me, ep, session)
    return ep


def test_a_changed_or_deleted_measure_definition_is_found(pg) -> None:  # type: ignore[no-untyped-def]
    """A cutoff edited with its SHA-256 recomputed (only the installed definition tells), then the row
    deleted (the administration's definition is missing): each is the ``definitions`` check's finding."""
    schema = pg.new_schema()
    episode = _scored_record(pg, schema)
    report = _verify(pg, schema)
    assert (report.ok, report.definitions, report.definitions_missing) == (True, 1, 0), report.describe()
    s = sql.Identifier(schema)
    with pg.admin() as conn:
        [(text,)] = conn.execute(
            sql.SQL("SELECT definition FROM {s}.measure_definitions WHERE measure_id = 'phq-9'").format(s=s)
        ).fetchall()
        cutoff = '"clinical_if":"at-or-above","value":10}'
        edited = text.replace(cutoff, cutoff.replace("10", "15"))
        assert edited != text
        digest = hashlib.sha256(edited.encode("utf-8")).hexdigest()
        _one(conn, "UPDATE {s}.measure_definitions SET definition = %s, sha256 = %s", s, edited, digest)
    report = _verify(pg, schema)
    assert [(f.check, f.where, f.problem) for f in report.findings] == [
        (
            "definitions",
            "measure phq-9 version 1.0",
            "it differs from the installed plugin's definition of the same version",
        )
    ]
    with pg.admin() as conn:
        _one(conn, "DELETE FROM {s}.measure_definitions WHERE measure_id = 'phq-9'", s)
    report = _verify(pg, schema)
    assert [(f.check, f.where, f.problem) for f in report.findings] == [
        (
            "definitions",
            "measure phq-9 version 1.0",
            f"administered in episode {episode} but no definition of it is stored",
        )
    ]
    assert (report.definitions, report.definitions_missing) == (0, 1)


MARK_UNRECORDED = (
    "the mark excusing administrations without a stored definition has no audit entry"
    " (set outside alliancekit)"
)


@pytest.mark.parametrize("mark", ['"pending"', '"done"'])
def test_a_backfill_mark_set_by_hand_is_found(pg, mark: str) -> None:  # type: ignore[no-untyped-def]
    """The mark that lets administrations go without a stored definition, written into the clinic's
    metadata by hand (its definition deleted with it): no migration recorded it, so it is a finding, not a
    licence; the missing definition is still counted."""
    schema = pg.new_schema()
    _scored_record(pg, schema)
    s = sql.Identifier(schema)
    with pg.admin() as conn:
        _one(conn, "DELETE FROM {s}.measure_definitions WHERE measure_id = 'phq-9'", s)
        _one(
            conn,
            "INSERT INTO {s}.practice_meta (clinic_id, key, value)"
            " VALUES (%s, 'measure-definitions-backfill', %s)",
            s,
            CLINIC,
            mark,
        )
    report = _verify(pg, schema)
    assert [(f.check, f.where, f.problem) for f in report.findings] == [
        ("definitions", "practice metadata measure-definitions-backfill", MARK_UNRECORDED)
    ]
    assert (report.definitions, report.definitions_missing) == (0, 1)


def test_a_backfill_mark_left_by_an_earlier_release_verifies_read_only_and_migrated(pg) -> None:  # type: ignore[no-untyped-def]
    """A clinic marked by migration 6 of a release before migration 13 (mark in the metadata only, schema at
    12): read-only, it verifies as that release left it; migrated, its mark gets its audit entry (one, in
    its own clinic's chain) and it still verifies, the missing definition counted, not found."""
    schema = pg.new_schema()
    _scored_record(pg, schema)
    s = sql.Identifier(schema)
    with pg.admin() as conn:
        _one(conn, "DELETE FROM {s}.measure_definitions WHERE measure_id = 'phq-9'", s)
        _one(
            conn,
            "INSERT INTO {s}.practice_meta (clinic_id, key, value)"
            " VALUES (%s, 'measure-definitions-backfill', '\"done\"')",
            s,
            CLINIC,
        )
    # the schema as that release left it: no migration from the one that records the mark on (those after it
    # run again safely)
    as_migration_12_left_it(pg, schema)
    report = _verify(pg, schema)
    assert report.ok, report.describe()
    assert report.definitions_missing == 1
    PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1).close()  # migrates
    with pg.admin() as conn:
        entries = conn.execute(
            sql.SQL(
                "SELECT clinic_id::text, record_type, record_id FROM {s}.audit"
                " WHERE action = 'mark-definitions-backfill'"
            ).format(s=s)
        ).fetchall()
    assert entries == [(CLINIC, "practice-meta", "measure-definitions-backfill")]
    report = _verify(pg, schema)
    assert report.ok, report.describe()
    assert report.definitions_missing == 1


def _keyed_record(pg, schema: str) -> str:  # type: ignore[no-untyped-def]
    """One episode with a keyed session, a link request and a kiosk code; returns the episode's id."""
    ticks = iter(range(10**9))
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=2)
    with Practice(
        store, plugins=HOST, audit_key=KEY, clock=lambda: _T0 + timedelta(seconds=next(ticks))
    ) as practice:
        me = Actor("clin-1", Role.CLINICIAN, CLINIC)
        ep = active_episode(practice, me)
        session = Session(held_on=date(2026, 3, 1), modality="video", attendance="attended")
        practice.record_session(me, ep, session, idempotency_key="client-jane-doe-1")
        practice.request_administration(me, ep, measure="phq-9")
        practice.kiosk_code(me, ep, measure="gad-7")
    return ep


@pytest.mark.parametrize(
    ("change", "check", "problem"),
    [
        ("UPDATE {s}.commands SET version = version + 100", "commands", "names a version the episode's"),
        (
            "UPDATE {s}.commands SET episode_id = 'not-an-episode'",
            "commands",
            "names an episode the clinic's",
        ),
        (
            "UPDATE {s}.commands SET request_hash = 'plain'",
            "commands",
            "its request is not bound by a SHA-256",
        ),
        (
            "UPDATE {s}.administration_requests SET token_hash = 'the-token-itself' WHERE code_hash IS NULL",
            "requests",
            "its token_hash is not a SHA-256 digest",
        ),
        (
            "UPDATE {s}.administration_requests SET expires_at = created_at WHERE code_hash IS NULL",
            "requests",
            "expires before it was made",
        ),
        (
            "UPDATE {s}.administration_requests SET used_at = created_at, revoked_at = created_at",
            "requests",
            "it is both used and revoked",
        ),
    ],
)
def test_tampered_idempotency_and_request_rows_are_found(pg, change: str, check: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    schema = pg.new_schema()
    _keyed_record(pg, schema)
    report = _verify(pg, schema)
    assert report.ok, report.describe()
    assert (report.commands, report.requests) == (1, 2)
    with pg.admin() as conn:
        _one(conn, change, sql.Identifier(schema))
    report = _verify(pg, schema)
    assert [f.check for f in report.findings] == [check], report.describe()
    assert report.findings[0].problem.startswith(problem)
    assert "client-jane-doe-1" not in report.describe()
    assert "the-token-itself" not in report.describe()
    # another clinic's administrator learns nothing of the store's rows
    other = _verify_on(pg, schema, CLINIC, "clinic-b")
    assert (other.ok, other.commands, other.requests) == (True, 0, 0)
