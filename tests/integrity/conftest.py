"""A clinic's record on SQLite, made through the facade, and the means to tamper with copies of it."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Practice
from alliancekit.domain import (
    Actor,
    Administration,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Review,
    ReviewDecision,
    Role,
    Session,
)
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import AuditCheckpoint
from alliancekit.store.sqlite import SQLiteStore

KEY = b"integrity-test-seal-key-" + b"k" * 8
CLINIC = "north"
DAY = date(2026, 2, 2)
#: The clock's start: after every day the record holds (no clinical date may be after today).
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOST = make_plugin_host(load_entry_points=False)


def clinician(n: int = 1) -> Actor:
    return Actor(f"clin-{n}", Role.CLINICIAN, CLINIC)


ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC)


def phq9(total: int) -> Administration:
    """A PHQ-9 whose answers add up to ``total`` (0..27)."""
    answers = {f"q{i}": min(3, max(0, total - 3 * (i - 1))) for i in range(1, 10)}
    assert sum(answers.values()) == total
    return Administration("phq-9", "1.0", "start", answers)


def practice_on(path: Path, **options: Any) -> Practice:
    ticks = iter(range(10**9))
    options.setdefault("clock", lambda: T0 + timedelta(seconds=next(ticks)))
    return Practice(SQLiteStore(path), plugins=HOST, **options)


def build_record(path: Path) -> dict[str, str]:
    """Three episodes with consultations, goals, sessions (PHQ-9 18 at intake), a review and alerts."""
    p = practice_on(path, audit_key=KEY, checkpoint_every=7)
    episodes: dict[str, str] = {}
    for n in (1, 2, 3):
        me = clinician(n)
        ep = p.start_episode(me, client_ref=f"client-{n}", clinician_id=me.id, opened_on=DAY)
        p.record_consultation(
            me,
            ep,
            Consultation(
                held_on=DAY,
                modality=Modality.VIDEO,
                consent=Consent(treatment=True, measures=True),
                presenting_concerns=("low mood",),
            ),
        )
        p.decide_fit(me, ep, FitDecision(FitOutcome.PROCEED, DAY))
        p.agree_goals(me, ep, [GoalDraft("get out more", ("walk daily",))], agreed_on=DAY)
        p.record_session(
            me,
            ep,
            Session(
                held_on=DAY + timedelta(days=7),
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                administrations=(phq9(18),),
            ),
        )
        p.record_session(
            me,
            ep,
            Session(held_on=DAY + timedelta(days=14), modality=Modality.PHONE, attendance=Attendance.NO_SHOW),
        )
        p.record_session(
            me,
            ep,
            Session(held_on=DAY + timedelta(days=21), modality=Modality.PHONE, attendance=Attendance.NO_SHOW),
        )
        p.record_review(me, ep, Review(held_on=DAY + timedelta(days=22), decision=ReviewDecision.CONTINUE))
        p.episode(me, ep)  # an audited read
        episodes[f"ep{n}"] = ep
    p.close()  # seals the tail
    return episodes


@pytest.fixture(scope="session")
def _pristine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("record") / "clinic.sqlite"
    episodes = build_record(path)
    # One file, no WAL side files, so a byte copy is the whole database.
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path, episodes


@attrs.define
class Record:
    path: Path
    episodes: dict[str, str]

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

    def verify(
        self, *, key: bytes | None = KEY, expected_head: AuditCheckpoint | None = None
    ) -> IntegrityReport:
        return verify_path(self.path, key=key, expected_head=expected_head)


def verify_path(
    path: Path, *, key: bytes | None = KEY, expected_head: AuditCheckpoint | None = None
) -> IntegrityReport:
    """Verify the file as ``alliancekit verify`` does: read-only, through the facade."""
    store = SQLiteStore(path, read_only=True)
    with Practice(store, plugins=HOST, audit_key=key) as practice:
        return practice.verify(ADMIN, expected_head=expected_head)


@pytest.fixture
def record(_pristine: tuple[Path, dict[str, str]], tmp_path: Path) -> Record:
    """A fresh copy of the record to tamper with."""
    source, episodes = _pristine
    copy = tmp_path / "copy.sqlite"
    shutil.copy(source, copy)
    return Record(copy, episodes)


#: The audit tables as the schema before chains per clinic kept them (every entry in the shared part): what
#: the tests that fake an older file run after the later versions' own changes, so that the file's structure
#: is the older version's, as a read-only open and verification check (:mod:`alliancekit.store.structure`).
BEFORE_CLINIC_CHAINS = """
    CREATE TABLE audit_v12 AS SELECT shard, position, entry_id, at, actor_id, actor_role, clinic_id, purpose,
        action, record_type, record_id, outcome, client_ref, detail, writes, prev_hash, hash, recipient
        FROM audit ORDER BY rowid;
    DROP TABLE audit;
    ALTER TABLE audit_v12 RENAME TO audit;
    CREATE TABLE audit_checkpoints_v12 AS SELECT seq, heads, root, mac, at FROM audit_checkpoints
        ORDER BY seq;
    DROP TABLE audit_checkpoints;
    ALTER TABLE audit_checkpoints_v12 RENAME TO audit_checkpoints;
"""
