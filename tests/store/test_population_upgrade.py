"""A database from before the caseload projection kept the episode's norm population (SQLite migration 12):
a read-only open reads each row's population from its snapshot, and a writable open fills the new column
from each episode's ``episode-opened`` event, so the practice-outcomes report reads a child's ORS intake of
30 against the child cutoff (32), an adult's against the adult one (25), as on a new database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.integrity.conftest import BEFORE_CLINIC_CHAINS

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.feedback.reports import Rate, practice_outcomes
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import LATEST_VERSION, POPULATION_FROM
from alliancekit.testing.store import closed_ors_episode
from alliancekit.testing.suite import builtin_plugins

CLINIC = "clinic-a"
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
#: (clinician, population, intake); every episode improves by 6 points.
EPISODES = [("clin-child", "child", 30.0), ("clin-adult", None, 30.0), ("clin-teen", "adolescent", 27.9)]
#: The index of closed outcomes as migration 2 made it (before the population was in it).
_INDEX_2 = (
    "CREATE INDEX episodes_closed_outcomes ON episodes (clinic_id, episode_id, clinician_id, closed_on,"
    " outcome_measure, first_outcome, latest_outcome, outcome_sessions, modality, ending_reason, lockbox)"
    " WHERE closed_on IS NOT NULL"
)


def _practice(path: Path, **options: object) -> Practice:
    return Practice(SQLiteStore(path, **options), plugins=builtin_plugins())  # type: ignore[arg-type]


def _read(practice: Practice) -> tuple[dict[str, str | None], dict[str, Rate]]:
    """Each clinician's episode's population, and its recovery rate in the practice-outcomes report."""
    rows = {r.clinician_id: r.population for r in practice.caseload(SUPERVISOR, include_closed=True)}
    outcomes = practice_outcomes(practice, SUPERVISOR)
    return rows, {group.key: group.recovery for group in outcomes.by_clinician}


EXPECTED = (
    {"clin-child": "child", "clin-adult": None, "clin-teen": "adolescent"},
    # 30 is clinical for a child (below 32), not for an adult (25); 27.9 for an adolescent (below 28)
    {"clin-child": Rate(1, 1), "clin-adult": Rate(0, 0), "clin-teen": Rate(1, 1)},
)


def test_an_older_database_reads_and_then_keeps_each_episodes_population(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with _practice(path) as practice:
        for clinician, population, intake in EPISODES:
            actor = Actor(clinician, Role.CLINICIAN, CLINIC)
            closed_ors_episode(practice, actor, population, (intake, intake + 6))
        assert _read(practice) == EXPECTED
    with sqlite3.connect(path) as conn:  # the database as migration 11 left it: nor migration 13's chains
        conn.executescript(BEFORE_CLINIC_CHAINS)
        conn.execute("DROP INDEX episodes_closed_outcomes")
        conn.execute("ALTER TABLE episodes DROP COLUMN population")
        conn.execute(_INDEX_2)
        conn.execute(f"PRAGMA user_version = {POPULATION_FROM - 1}")
    conn.close()
    reader = SQLiteStore(path, read_only=True)  # never migrates: the snapshots' populations
    try:
        assert reader.schema_version() == POPULATION_FROM - 1
        assert {r.clinician_id: r.population for r in reader.caseload(open_only=False)} == EXPECTED[0]
        assert {o.clinician_id: o.population for o in reader.closed_outcomes()} == EXPECTED[0]
    finally:
        reader.close()
    with _practice(path, read_only=True) as verifier:  # as `alliancekit verify` reads it: nothing amiss
        assert verifier.verify(Actor("adm-1", Role.ADMINISTRATOR, CLINIC)).ok
    with _practice(path) as practice:  # migrates: the column filled from the events
        assert practice._s.store.schema_version() == LATEST_VERSION
        assert _read(practice) == EXPECTED
    with sqlite3.connect(path) as conn:  # kept in the column, read from the covering index
        stored = conn.execute(
            "SELECT clinician_id, population FROM episodes ORDER BY clinician_id"
        ).fetchall()
        plan = conn.execute(
            "EXPLAIN QUERY PLAN SELECT population FROM episodes INDEXED BY episodes_closed_outcomes"
            " WHERE closed_on IS NOT NULL"
        ).fetchall()
    conn.close()
    assert stored == [("clin-adult", None), ("clin-child", "child"), ("clin-teen", "adolescent")]
    assert "COVERING INDEX" in plan[0][-1]
