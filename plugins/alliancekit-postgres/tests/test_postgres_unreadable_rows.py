"""A row changed outside alliancekit on PostgreSQL reads as on SQLite: a value psycopg cannot load (a date or
time PostgreSQL allows past Python's: 'infinity', year 10000) or JSON past what Python parses is named by
table and key (:class:`~alliancekit.errors.UnreadableRow`), and `alliancekit verify` reports it (exit 1),
never the write error ("a value cannot be stored", exit 2) nor an internal error (exit 70)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import psycopg
import pytest
from alliancekit_postgres import open_postgres
from psycopg import sql

from alliancekit.errors import UnreadableRow

CLINIC = "demo-clinic"
DEMO = ("--clients", "12", "--seed", "7", "--today", "2024-06-01", "-q")
DEEP = "[" * (sys.getrecursionlimit() * 3) + "]" * (sys.getrecursionlimit() * 3)


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"}
    env["ALLIANCEKIT_PLUGINS"] = "postgres"
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *argv], capture_output=True, text=True, env=env, check=False
    )


@pytest.fixture
def planted(pg, admin: psycopg.Connection):  # type: ignore[no-untyped-def]
    """(location, plant): a demo practice in a schema of its own; ``plant(statement)`` runs ``statement`` as
    a superuser there (``{s}`` the schema, ``%(episode)s`` the first episode) and returns that episode."""
    schema = pg.new_schema()
    s = sql.Identifier(schema)
    location = pg.location(schema, CLINIC)
    done = _run("demo", "--db", location, *DEMO)
    assert done.returncode == 0, done.stderr

    def plant(statement: str) -> str:
        episode = admin.execute(
            sql.SQL("SELECT min(episode_id)::text FROM {s}.episodes").format(s=s)
        ).fetchone()
        assert episode is not None
        changed = admin.execute(sql.SQL(statement).format(s=s), {"episode": episode[0]}).rowcount
        assert changed >= 1, "the change must change something, or the test proves nothing"
        return str(episode[0])

    return location, plant


def _opened_on(plant, value: str) -> str:  # type: ignore[no-untyped-def]
    statement = "UPDATE {s}.episodes SET opened_on = '" + value + "' WHERE episode_id = %(episode)s"  # noqa: S608
    return plant(statement)  # type: ignore[no-any-return]


def test_a_date_past_python_is_named_by_table_and_key_in_verify_and_caseload(planted) -> None:  # type: ignore[no-untyped-def]
    # Before the fix both stopped with exit 2 "value: value (a value cannot be stored)": psycopg's DataError
    # on loading the row was taken for a write's, and the CLI decoded the whole caseload to choose clinics.
    location, plant = planted
    episode = _opened_on(plant, "infinity")
    done = _run("verify", "--db", location)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"  projections: episodes row episode {episode}: a value in it is not what its column holds"
        " (a time, date, number or JSON that is not one) (changed outside alliancekit)"
    ) in done.stdout.splitlines()
    done = _run("caseload", "--db", location)
    assert done.returncode == 2
    assert f"episodes row episode {episode}: cannot be read (value)" in done.stderr
    assert "cannot be stored" not in done.stderr


@pytest.mark.parametrize(("value", "readable"), [("9999-12-31", True), ("10000-01-01", False)])
def test_the_last_date_python_holds_is_read_and_the_next_is_named(
    planted, value: str, readable: bool
) -> None:  # type: ignore[no-untyped-def]
    location, plant = planted
    episode = _opened_on(plant, value)
    store = open_postgres(location, read_only=True)
    try:
        if readable:
            rows = {r.episode_id: r for r in store.caseload(open_only=False)}
            assert rows[episode].opened_on == date(9999, 12, 31)
        else:
            with pytest.raises(UnreadableRow) as caught:
                store.caseload(open_only=False)
            assert (caught.value.table, caught.value.key, caught.value.rule) == (
                "episodes",
                f"episode {episode}",
                "value",
            )
            assert caught.value.clinic == CLINIC
        assert store.episode_clinics() == [CLINIC]  # never decodes a row
    finally:
        store.close()


def test_an_audit_time_past_python_is_named_by_shard_and_position(planted) -> None:  # type: ignore[no-untyped-def]
    location, plant = planted
    plant("UPDATE {s}.audit SET at = 'infinity' WHERE shard = 0 AND position = 1 AND %(episode)s <> ''")
    done = _run("verify", "--db", location)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "audit row shard 0 position 1: a value in it is not what its column holds" in done.stdout


def test_a_closing_date_past_python_in_the_outcomes_is_an_unreadable_row(planted) -> None:  # type: ignore[no-untyped-def]
    # closed_outcomes' rows go through no decoder: the DataError of reading them names the table only.
    location, plant = planted
    plant("UPDATE {s}.episodes SET closed_on = 'infinity' WHERE closed_on IS NOT NULL AND %(episode)s <> ''")
    store = open_postgres(location, read_only=True)
    try:
        with pytest.raises(UnreadableRow) as caught:
            store.closed_outcomes()
        assert (caught.value.table, caught.value.key) == ("episodes", "(key not readable)")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("statement", "finding"),
    [
        pytest.param(
            f"UPDATE {{s}}.events SET payload = '{DEEP}'::jsonb WHERE episode_id = %(episode)s AND seq = 2",  # noqa: S608
            "events: episode {episode} event 2: content does not match its hash",
            id="events.payload",
        ),
        pytest.param(
            f"UPDATE {{s}}.episodes SET latest_scores = '{DEEP}' WHERE episode_id = %(episode)s",  # noqa: S608
            "projections: episode {episode} caseload row: caseload row differs from the snapshot's"
            " projection",
            id="episodes.latest_scores",
        ),
    ],
)
def test_json_nested_past_the_stack_is_a_finding(planted, statement: str, finding: str) -> None:  # type: ignore[no-untyped-def]
    # Before the fix: exit 70, "internal error: RecursionError".
    location, plant = planted
    episode = plant(statement)
    done = _run("verify", "--db", location)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  " + finding.format(episode=episode) in done.stdout.splitlines()
