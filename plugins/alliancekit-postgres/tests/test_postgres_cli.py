"""The command line on PostgreSQL prints what it prints on SQLite: the same demo practice (fixed seed and
today) in an SQLite file and in a fresh PostgreSQL schema, read back by the CLI in a process of its own (with
the plugin's entry point, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alliancekit_postgres import open_postgres

from alliancekit.errors import NotAnAlliancekitStore

DEMO = ("--clients", "12", "--seed", "5", "--today", "2026-06-30", "-q")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD"}
    env["ALLIANCEKIT_PLUGINS"] = "postgres"
    return subprocess.run(
        [sys.executable, "-m", "alliancekit", *argv], capture_output=True, text=True, env=env, check=False
    )


def _cli(*argv: str) -> str:
    done = _run(*argv)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_episode_show_json_is_the_same_text_on_both_stores(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before the fix the state's maps (scores by measure, alerts, goals...) and the payloads' answers came
    # back in JSONB's key order on PostgreSQL and in the written order on SQLite: the same episode printed
    # differently.
    sqlite = str(tmp_path / "demo.sqlite")
    postgres = pg.location(pg.new_schema(), "demo-clinic")
    _cli("demo", "--db", sqlite, *DEMO)
    _cli("demo", "--db", postgres, *DEMO)
    rows = json.loads(_cli("caseload", "--db", sqlite, "--all", "--json"))
    assert json.loads(_cli("caseload", "--db", postgres, "--all", "--json")) == rows
    scored = [r["episode_id"] for r in rows if len(r["latest_scores"]) > 2]
    assert scored  # episodes with several measures' scores: maps whose order differed
    for episode_id in scored[:3]:
        on_sqlite = _cli("episode", "show", "--db", sqlite, "--json", episode_id)
        on_postgres = _cli("episode", "show", "--db", postgres, "--json", episode_id)
        assert on_postgres == on_sqlite


def test_without_clinic_the_cli_acts_for_the_clinic_the_location_names(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Before the fix a practice without episodes was taken for clinic "default" whatever the store acted
    # for: on PostgreSQL (?clinic=north) `audit show` failed ("append_audit: row-level security refused an
    # audit row"), `verify` reported "clinic default", and `import csv` without --clinic wrote for
    # "default" and failed ("append: the episode belongs to another clinic than this store's").
    location = pg.location(pg.new_schema(), "north")
    open_postgres(location).close()  # the schema made, no episodes yet
    _cli("audit", "show", "--db", location)
    assert _cli("verify", "--db", location).startswith("clinic north: record ok")
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        '[source]\ndate_formats = ["%Y-%m-%d"]\n[columns]\nclient = "Client"\nsession_date = "Date"\n'
        '[defaults]\nclinician = "clin-a"\nmodality = "video"\n'
        '[[measures]]\nmeasure = "phq-9"\ntiming = "start"\ntotal = "PHQ9"\n',
        encoding="utf-8",
    )
    source = tmp_path / "history.csv"
    source.write_text("Client,Date,PHQ9\nc-1,2024-01-10,12\nc-2,2024-01-11,15\n", encoding="utf-8")
    _cli("import", "csv", "--db", location, "--mapping", str(mapping), str(source))
    rows = json.loads(_cli("caseload", "--db", location, "--all", "--json"))
    assert sorted((r["clinic_id"], r["client_ref"]) for r in rows) == [("north", "c-1"), ("north", "c-2")]


def test_the_demo_at_a_location_naming_another_clinic_is_refused_before_writing(pg) -> None:  # type: ignore[no-untyped-def]
    # Before the fix it failed at its first write with "append_audit: row-level security refused an audit
    # row", which did not say that the demo's clinic is demo-clinic.
    schema = pg.new_schema()
    done = _run("demo", "--db", pg.location(schema, "north"), *DEMO)
    assert done.returncode == 2
    assert "the demo's clinic is demo-clinic, so the location must name it: clinic=demo-clinic" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(NotAnAlliancekitStore):  # nothing written, and the tables it made are gone too
        open_postgres(pg.location(schema, "north"), read_only=True)


def test_caseload_and_verify_print_nothing_on_stderr(pg) -> None:  # type: ignore[no-untyped-def]
    # Nothing from the driver or its pool (a pool's logged warning goes to stderr through logging's last
    # resort handler) may reach a user's terminal on a command that succeeds; verify reads in one read
    # transaction on a connection it pins, which must go back to the pool ended.
    location = pg.location(pg.new_schema(), "demo-clinic")
    _cli("demo", "--db", location, *DEMO)
    for argv in (("caseload", "--all"), ("verify",), ("audit", "verify")):
        done = _run(*argv, "--db", location)
        assert (done.returncode, done.stderr) == (0, ""), argv
        assert done.stdout


def test_an_import_that_creates_its_store_and_commits_nothing_leaves_nothing(pg, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``import csv --create`` refused at its first row left the tables it had made in the empty schema, so
    the store then held a practice with no episodes; now they go, and the fixed file imports anew."""
    examples = Path(__file__).parents[3] / "examples" / "imports"
    lines = (examples / "openfit-style.csv").read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[2] = "31/02/2024"  # the first row's date made invalid: the import stops before any unit
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", encoding="utf-8")
    schema = pg.new_schema()
    location = pg.location(schema, "north")
    mapping = str(examples / "openfit-style.toml")
    done = _run("import", "csv", "--create", "--db", location, "--mapping", mapping, str(bad))
    assert done.returncode == 1, done.stderr
    assert "alliancekit: the new store was removed (nothing was imported)" in done.stderr
    with pytest.raises(NotAnAlliancekitStore):
        open_postgres(location, read_only=True)
    _cli(
        "import",
        "csv",
        "--create",
        "--db",
        location,
        "--mapping",
        mapping,
        str(examples / "openfit-style.csv"),
    )
    assert json.loads(_cli("caseload", "--db", location, "--all", "--json"))
