"""A schema from before the caseload projection kept the episode's norm population (migration 14): a
read-only store reads each row's population from the episode's snapshot (and verifies), and opening it
writable fills the new column from each episode's ``episode-opened`` event, so the practice-outcomes report
reads a child's ORS intake of 30 against the child cutoff (32), an adult's against the adult one (25), as on
a new schema."""

from __future__ import annotations

from alliancekit_postgres import PostgresStore
from alliancekit_postgres.schema import LATEST_VERSION, POPULATION_FROM
from alliancekit_postgres.testing import PgServer

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.feedback.reports import Rate, practice_outcomes
from alliancekit.testing.store import closed_ors_episode
from alliancekit.testing.suite import builtin_plugins

from .older_schema import as_migration_13_left_it

CLINIC = "clinic-a"
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)
#: (clinician, population, intake); every episode improves by 6 points.
EPISODES = [("clin-child", "child", 30.0), ("clin-adult", None, 30.0), ("clin-teen", "adolescent", 27.9)]
POPULATIONS = {"clin-child": "child", "clin-adult": None, "clin-teen": "adolescent"}
# 30 is clinical for a child (below 32), not for an adult (25); 27.9 for an adolescent (below 28)
RECOVERY = {"clin-child": Rate(1, 1), "clin-adult": Rate(0, 0), "clin-teen": Rate(1, 1)}


def _read(practice: Practice) -> tuple[dict[str, str | None], dict[str, Rate]]:
    rows = {r.clinician_id: r.population for r in practice.caseload(SUPERVISOR, include_closed=True)}
    outcomes = practice_outcomes(practice, SUPERVISOR)
    return rows, {group.key: group.recovery for group in outcomes.by_clinician}


def test_a_schema_from_before_the_population_fills_it_from_the_events(pg: PgServer) -> None:
    schema = pg.new_schema()
    with Practice(
        PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1), plugins=builtin_plugins()
    ) as p:
        for clinician, population, intake in EPISODES:
            closed_ors_episode(p, Actor(clinician, Role.CLINICIAN, CLINIC), population, (intake, intake + 6))
        assert _read(p) == (POPULATIONS, RECOVERY)
    as_migration_13_left_it(pg, schema)
    reader = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1, read_only=True)
    with Practice(reader, plugins=builtin_plugins()) as verifier:  # never migrates: the snapshots'
        assert reader.schema_version() == POPULATION_FROM - 1
        assert {r.clinician_id: r.population for r in reader.caseload(open_only=False)} == POPULATIONS
        assert {o.clinician_id: o.population for o in reader.closed_outcomes()} == POPULATIONS
        report = verifier.verify(Actor("adm-1", Role.ADMINISTRATOR, CLINIC))  # as `alliancekit verify` does
        assert report.ok, report.describe()
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=schema, pool_max=1)  # migrates
    with Practice(store, plugins=builtin_plugins()) as p:
        assert store.schema_version() == LATEST_VERSION
        assert _read(p) == (POPULATIONS, RECOVERY)
        assert {o.clinician_id: o.population for o in store.closed_outcomes()} == POPULATIONS
