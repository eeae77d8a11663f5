"""The CLI's conventions, for every command enumerated from the parser, on SQLite and on PostgreSQL.

Every command works on both stores, named by ``--db`` or by ``ALLIANCEKIT_DB``; ``--out -`` writes to
standard output; ``--json`` prints JSON with ISO 8601 times and no JSON inside strings; exit codes are 0 done,
1 a finding, 2 a usage or input error, with no traceback for a user's mistake. A new command must be added to
the tables below (a test compares them with the parser).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit.cli.common import DB_ENV
from alliancekit.cli.main import main
from alliancekit.cli.reference import commands
from alliancekit.plugins.manager import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV, reset_plugin_host

DEMO_CLINIC = "demo-clinic"
EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
IMPORT_DATA = Path(__file__).parents[1] / "imports" / "data"
BACKENDS = ("sqlite", "postgresql")
WEBHOOK_SECRET = "cli-conventions-secret-0123456789abcdef"  # noqa: S105 - a test receiver's


@attrs.frozen
class Store:
    backend: str
    location: str
    episode: str
    fresh: Callable[[Path], str]
    """A location where nothing is stored yet."""


@attrs.frozen
class Case:
    args: Callable[[Store, Path], list[str]]
    """The arguments after the command path (and ``--db``)."""
    code: int = 0
    says: str = ""
    """What its standard error says when ``code`` is not 0 (proof that the command reached the store)."""
    on_postgresql: tuple[int, str] | None = None
    """``code`` and ``says`` on PostgreSQL, where they differ (a command for SQLite files only)."""

    def expected(self, store: Store) -> tuple[int, str]:
        if store.backend == "postgresql" and self.on_postgresql is not None:
            return self.on_postgresql
        return self.code, self.says


#: Commands that open a practice: their arguments and what a sound practice makes them do.
DB_COMMANDS: dict[str, Case] = {
    "demo": Case(lambda s, tmp: ["--clients", "12", "--quiet"]),  # at a fresh location, see _argv
    "caseload": Case(lambda s, tmp: ["--all"]),
    "episode show": Case(lambda s, tmp: [s.episode[:10]]),
    "report": Case(lambda s, tmp: ["--out", str(tmp / "report"), "--today", "2026-01-31"]),
    "quality": Case(lambda s, tmp: ["--today", "2026-01-31"]),
    "export fhir": Case(lambda s, tmp: ["--all", "--out", str(tmp / "bulk")]),
    "export csv": Case(lambda s, tmp: ["--identified", "--out", str(tmp / "tables")]),
    "outbox status": Case(lambda s, tmp: ["--dead"]),
    "outbox dispatch": Case(lambda s, tmp: ["--limit", "5"]),
    "outbox retry": Case(lambda s, tmp: ["0" * 32], 2, "no dead message"),
    "audit show": Case(lambda s, tmp: ["--since", "2025-01-01"]),
    "audit verify": Case(lambda s, tmp: []),
    "verify": Case(lambda s, tmp: []),
    "backup": Case(lambda s, tmp: [str(tmp / "copy.sqlite")], on_postgresql=(2, "pg_dump")),
    "import csv": Case(
        lambda s, tmp: [
            "--dry-run",
            "--mapping",
            str(EXAMPLES / "openfit-style.toml"),
            str(EXAMPLES / "openfit-style.csv"),
        ]
    ),
    "import fhir": Case(lambda s, tmp: ["--dry-run", str(IMPORT_DATA / "episode-bundle.json")]),
}

#: Commands that need no practice (those in PRACTICE_OPTIONAL take one: see there).
OTHER_COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "measures list": lambda tmp: [],
    "measures show": lambda tmp: ["phq-9"],
    "measures validate": lambda tmp: ["ors", str(tmp / "answers.json")],
    "measures check": lambda tmp: [str(tmp / "definition.json")],
    "plugins": lambda tmp: [],
}

#: Commands that work without a practice and take one with --db (or $ALLIANCEKIT_DB): the measures a
#: practice stored definitions of count too (tests/cli/test_cli_measures_stored.py).
PRACTICE_OPTIONAL = {"measures list", "measures show", "measures validate"}

#: Commands that print data, or a summary of what they did (counts, files written, warnings, whether it
#: succeeded), hence have --json.
DATA_COMMANDS = {
    "demo",
    "caseload",
    "episode show",
    "quality",
    "measures list",
    "measures show",
    "measures validate",
    "measures check",
    "report",
    "plugins",
    "outbox status",
    "outbox dispatch",
    "outbox retry",
    "audit show",
    "audit verify",
    "verify",
    "backup",
    "export fhir",
    "export csv",
    "import csv",
    "import fhir",
}

#: Commands without --json, and why: where JSON makes no sense (a command that prints nothing a script
#: would read). Empty today: every command's result, or summary of what it did, is one JSON document with
#: --json, its failure too. A command added without --json fails the tests below until it is given --json or
#: a reason here.
NO_JSON: dict[str, str] = {}

#: Where a command's call in DB_COMMANDS fails on purpose (so prints no summary): a call that succeeds.
JSON_ARGS: dict[str, Callable[[Store, Path], list[str]]] = {"outbox retry": lambda s, tmp: ["--all-dead"]}


def _has(command: str, option: str) -> bool:
    return any(option in a.option_strings for a in commands()[command]._actions)


def test_the_tables_hold_every_command_of_the_parser() -> None:
    assert set(DB_COMMANDS) | set(OTHER_COMMANDS) == set(commands())
    assert set(OTHER_COMMANDS) >= PRACTICE_OPTIONAL
    assert {c for c in commands() if _has(c, "--db")} == set(DB_COMMANDS) | PRACTICE_OPTIONAL


def test_every_command_that_prints_data_has_json() -> None:
    assert {c for c in commands() if _has(c, "--json")} == DATA_COMMANDS


def test_every_command_has_json_or_a_reason_why_not() -> None:
    """A command added later is in one table or the other: a summary it prints gets --json, or a reason."""
    assert not DATA_COMMANDS & set(NO_JSON)
    assert DATA_COMMANDS | set(NO_JSON) == set(commands())
    assert all(reason.strip() for reason in NO_JSON.values())


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module", autouse=True)
def cli_plugins() -> Iterator[None]:
    """The CLI's plugin host loads the installed postgres and webhook plugins, the webhook aimed at a real
    receiver on 127.0.0.1 (so that `outbox dispatch` has a channel)."""
    if os.environ.get("CI") != "true":
        pytest.importorskip("alliancekit_webhook", reason="alliancekit-webhook is not installed")
    from alliancekit_webhook.testing import LocalWebhookReceiver

    with LocalWebhookReceiver(WEBHOOK_SECRET) as receiver, pytest.MonkeyPatch.context() as patch:
        patch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
        patch.setenv(ALLOW_LIST_ENV, "postgres,webhook")
        patch.setenv("ALLIANCEKIT_WEBHOOK_URL", receiver.url)
        patch.setenv("ALLIANCEKIT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        patch.setenv("ALLIANCEKIT_WEBHOOK_ALLOW_HTTP", "1")
        patch.delenv(DB_ENV, raising=False)
        reset_plugin_host()
        yield
    reset_plugin_host()


def _first_episode(location: str) -> str:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["caseload", "--db", location, "--json"]) == 0
    return str(json.loads(out.getvalue())[0]["episode_id"])


@pytest.fixture(scope="module", params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A demo practice made by the CLI itself, on each store."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("cli-sqlite")
        location = str(folder / "demo.sqlite")

        def fresh(tmp: Path) -> str:
            return str(tmp / "fresh.sqlite")

    else:
        pg = request.getfixturevalue("pg")
        location = pg.location(pg.new_schema(), DEMO_CLINIC)

        def fresh(tmp: Path) -> str:
            return str(pg.location(pg.new_schema(), DEMO_CLINIC))

    assert main(["demo", "--db", location, "--clients", "12", "--quiet"]) == 0
    return Store(request.param, location, _first_episode(location), fresh)


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    (tmp_path / "answers.json").write_text(
        '{"answers": {"individually": 5, "interpersonally": 5, "socially": 5, "overall": 5}}'
    )
    from alliancekit.plugins.manager import get_plugin_host

    definition = get_plugin_host().measures().get("gad-7").definition
    (tmp_path / "definition.json").write_text(json.dumps(definition))
    return tmp_path


def _argv(command: str, store: Store, tmp: Path, *, db: bool = True) -> list[str]:
    location = store.fresh(tmp) if command == "demo" else store.location
    return [*command.split(), *(["--db", location] if db else []), *DB_COMMANDS[command].args(store, tmp)]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


# ------------------------------------------------------------------------------ every command, every store


@pytest.mark.parametrize("command", sorted(DB_COMMANDS))
def test_every_command_works_on_every_store(
    command: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected_code, says = DB_COMMANDS[command].expected(store)
    code, out, err = run(capsys, _argv(command, store, tmp_path))
    assert code == expected_code, err
    assert says in err
    if code == 0:
        assert out


@pytest.mark.parametrize("command", sorted(set(DB_COMMANDS) - {"demo"}))
def test_ALLIANCEKIT_DB_names_the_practice_when_db_is_absent(
    command: str,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(DB_ENV, store.location)
    expected_code, says = DB_COMMANDS[command].expected(store)
    code, _, err = run(capsys, _argv(command, store, tmp_path, db=False))
    assert code == expected_code, err
    assert says in err


def test_db_wins_over_ALLIANCEKIT_DB(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DB_ENV, str(tmp_path / "elsewhere.sqlite"))
    code, out, err = run(capsys, ["caseload", "--db", store.location, "--json"])
    assert code == 0, err
    assert json.loads(out)


def test_the_demo_never_takes_ALLIANCEKIT_DB(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "real.sqlite"
    real.write_bytes(b"")
    monkeypatch.setenv(DB_ENV, str(real))
    monkeypatch.chdir(tmp_path)
    assert run(capsys, ["demo", "--clients", "12", "--quiet"])[0] == 0
    assert (tmp_path / "demo.sqlite").stat().st_size > 0
    assert real.read_bytes() == b""


@pytest.mark.parametrize("command", sorted(OTHER_COMMANDS))
def test_commands_without_a_practice_work(
    command: str, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, [*command.split(), *OTHER_COMMANDS[command](inputs)])
    assert code == 0, err
    assert out


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_python_dash_m_alliancekit_is_the_command(store: Store, tmp_path: Path) -> None:
    # Data on stdout is UTF-8 whatever the locale says (here: ASCII).
    ascii_locale = {**os.environ, "PYTHONIOENCODING": "ascii"}
    done = subprocess.run(
        [sys.executable, "-m", "alliancekit", "report", "--db", store.location, "--out", "-"],
        capture_output=True,
        check=False,
        env=ascii_locale,
    )
    assert done.returncode == 0, done.stderr
    html = done.stdout.decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    measure = subprocess.run(
        [sys.executable, "-m", "alliancekit", "measures", "show", "ors", "--json"],
        capture_output=True,
        check=False,
        env=ascii_locale,
    )
    assert measure.returncode == 0, measure.stderr
    assert "\u00a9" in json.dumps(json.loads(measure.stdout.decode("utf-8")), ensure_ascii=False)
    version = subprocess.run(
        [sys.executable, "-m", "alliancekit", "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert version.stdout.startswith("alliancekit ")


# --------------------------------------------------------------------------------------------- --out -


def _out_dash(argv: list[str]) -> list[str]:
    at = argv.index("--out")
    return [*argv[: at + 1], "-", *argv[at + 2 :]]


#: For each command with --out: its arguments with ``--out -``, and how its standard output must read.
OUT_CASES: dict[str, tuple[Callable[[Store, Path], list[str]], Callable[[str], None]]] = {}


def _html(out: str) -> None:
    assert out.startswith("<!DOCTYPE html>")
    assert out.rstrip().endswith("</html>")


def _bundle(out: str) -> None:
    assert json.loads(out)["resourceType"] == "Bundle"


def _ndjson_resources(out: str) -> None:
    lines = out.splitlines()
    assert lines
    types = {json.loads(line)["resourceType"] for line in lines}
    assert {"EpisodeOfCare", "Observation"} <= types


def _csv_rows(out: str) -> None:
    lines = out.splitlines()
    assert lines[0].startswith("client,episode,clinician,session_number,")
    assert len(lines) > 1


def _summary(out: str) -> None:
    assert json.loads(out)["clients"] == 12


OUT_CASES = {
    "report": (lambda s, tmp: ["report", "--db", s.location, "--out", "-"], _html),
    "export fhir --episode": (
        lambda s, tmp: ["export", "fhir", "--db", s.location, "--episode", s.episode, "--out", "-"],
        _bundle,
    ),
    "export fhir --all": (
        lambda s, tmp: ["export", "fhir", "--db", s.location, "--all", "--out", "-"],
        _ndjson_resources,
    ),
    "demo": (lambda s, tmp: ["demo", "--db", s.fresh(tmp), "--clients", "12", "--out", "-"], _summary),
    "export csv": (
        lambda s, tmp: ["export", "csv", "--db", s.location, "--identified", "--out", "-"],
        _csv_rows,
    ),
}


def test_every_out_option_is_covered() -> None:
    assert {c for c in commands() if _has(c, "--out")} == {case.split(" --")[0] for case in OUT_CASES}


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_out_dash_writes_to_standard_output(
    case: str,
    store: Store,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    argv, check = OUT_CASES[case]
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, argv(store, tmp_path))
    assert code == 0, err
    check(out)
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("case", sorted(OUT_CASES))
def test_every_file_a_command_writes_is_owner_only(
    case: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports, exports, summaries and a new SQLite database hold client records: files 0600 and
    directories 0700 under the common umask 022, which would make them readable by every local user."""
    argv, _ = OUT_CASES[case]
    args = argv(store, tmp_path)
    args[args.index("--out") + 1] = str(tmp_path / "written" / "out")
    previous = os.umask(0o022)
    try:
        code, _, err = run(capsys, args)
    finally:
        os.umask(previous)
    assert code == 0, err
    written = list(tmp_path.rglob("*"))  # the new parent "written" too
    assert written
    assert {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in written} == {
        str(p.relative_to(tmp_path)): oct(0o700 if p.is_dir() else 0o600) for p in written
    }


def test_the_bulk_export_on_stdout_is_what_its_files_hold(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, ["export", "fhir", "--db", store.location, "--all", "--out", "-"])
    assert code == 0
    code, _, _ = run(
        capsys, ["export", "fhir", "--db", store.location, "--all", "--out", str(tmp_path / "x")]
    )
    assert code == 0
    files = sorted(tmp_path.joinpath("x").glob("*.ndjson"))
    in_files = sorted(line for f in files for line in f.read_text(encoding="utf-8").splitlines())
    assert sorted(out.splitlines()) == in_files


# ------------------------------------------------------------------------------------------------ --json

_STR_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}")  # str(datetime), not ISO 8601


def _check_json(value: Any, key: str = "") -> int:
    """Walk a JSON value: no JSON text inside strings, and times in ISO 8601. Returns the times seen."""
    if isinstance(value, dict):
        return sum(_check_json(v, k) for k, v in value.items())
    if isinstance(value, list):
        return sum(_check_json(v, key) for v in value)
    if not isinstance(value, str):
        return 0
    assert not _STR_TIME.match(value), f"{key}: {value!r} is not ISO 8601"
    if value[:1] in "{[":
        with pytest.raises(json.JSONDecodeError):
            json.loads(value)
    if key == "at" or key.endswith("_at"):
        assert "T" in value
        datetime.fromisoformat(value)
        return 1
    if key.endswith("_on") or key in ("today", "opened_on"):
        date.fromisoformat(value)
        return 1
    return 0


@pytest.mark.parametrize("command", sorted(DATA_COMMANDS & set(DB_COMMANDS)))
def test_json_output_is_json_with_iso_times(
    command: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = _argv(command, store, tmp_path)
    expected = 0
    if command in JSON_ARGS:
        argv = [*command.split(), "--db", store.location, *JSON_ARGS[command](store, tmp_path)]
    else:
        expected = DB_COMMANDS[command].expected(store)[0]  # backup: an SQLite file only
    code, out, err = run(capsys, [*argv, "--json"])
    assert code == expected, err
    _check_json(json.loads(out))  # a refusal too is one JSON document (its error object)


@pytest.mark.parametrize("command", sorted(DATA_COMMANDS - set(DB_COMMANDS)))
def test_json_output_of_commands_without_a_practice(
    command: str, inputs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, [*command.split(), *OTHER_COMMANDS[command](inputs), "--json"])
    assert code == 0, err
    _check_json(json.loads(out))


def test_caseload_json_carries_objects_and_iso_dates(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, ["caseload", "--db", store.location, "--all", "--json"])
    assert code == 0
    rows = json.loads(out)
    assert not any(key.endswith("_json") for row in rows for key in row)
    assert all(isinstance(row["latest_scores"], dict) for row in rows)
    assert all(isinstance(row["alerts"], list) for row in rows)
    assert any(row["latest_scores"] for row in rows)
    assert sum(_check_json(row) for row in rows) >= len(rows)  # opened_on at least, as ISO dates


def test_audit_show_streams_json_and_ndjson(store: Store, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ["audit", "show", "--db", store.location, "--json"])
    assert code == 0
    document = json.loads(out)
    assert list(document) == ["entries"]  # no "error": the whole log
    entries = document["entries"]
    assert entries
    assert _check_json(entries) >= len(entries)
    code, out, _ = run(capsys, ["audit", "show", "--db", store.location, "--ndjson"])
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    # the second read is itself audited, so it sees at least the entries the first one saw
    assert len(lines) >= len(entries)
    assert [e["entry_id"] for e in lines[: len(entries)]] == [e["entry_id"] for e in entries]


# ----------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("command", sorted(set(DB_COMMANDS) - {"demo"}))
def test_a_missing_database_is_an_input_error_and_nothing_is_created(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo.sqlite"
    fake = Store("sqlite", str(missing), "0" * 32, lambda tmp: "")
    code, _, err = run(capsys, _argv(command, fake, tmp_path))
    assert code == 2
    assert f"no alliancekit database at {missing}" in err
    assert not missing.exists()


@pytest.mark.parametrize("command", sorted(set(DB_COMMANDS) - {"demo"}))
def test_no_db_and_no_ALLIANCEKIT_DB_is_a_usage_error(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = Store("sqlite", "", "0" * 32, lambda tmp: "")
    code, _, err = run(capsys, _argv(command, fake, tmp_path, db=False))
    assert code == 2
    assert f"--db: name the practice (a file path or a store URL), or set {DB_ENV}" in err


def _tampered(store: Store, tmp_path: Path) -> str:
    copy = tmp_path / "tampered.sqlite"
    copy.write_bytes(Path(store.location).read_bytes())
    with closing(sqlite3.connect(copy)) as conn, conn:  # the connection's ``with`` commits, never closes
        conn.execute("UPDATE events SET actor_id = 'someone-else' WHERE seq = 2")
    return str(copy)


#: name -> (argv for a store and a tmp folder, the exit code, what standard error says)
ERRORS: dict[str, tuple[Callable[[Store, Path], list[str]], int, str]] = {
    "unknown clinic": (
        lambda s, tmp: ["caseload", "--db", s.location, "--clinic", "nope"],
        2,
        "--clinic: no such clinic in this practice (it holds: demo-clinic)",
    ),
    "unknown episode": (lambda s, tmp: ["episode", "show", "--db", s.location, "zzzz"], 2, "no episode"),
    "report into a file's folder": (
        lambda s, tmp: ["report", "--db", s.location, "--out", str(tmp / "file.txt" / "sub")],
        2,
        "file.txt",
    ),
    "bundle into a file's folder": (
        lambda s, tmp: [
            "export",
            "fhir",
            "--db",
            s.location,
            "--episode",
            s.episode,
            "--out",
            str(tmp / "file.txt" / "b.json"),
        ],
        2,
        "file.txt",
    ),
    "missing key file": (
        lambda s, tmp: ["audit", "verify", "--db", s.location, "--key-file", str(tmp / "no-key")],
        2,
        "no-key: No such file or directory",
    ),
    "short key": (
        lambda s, tmp: ["verify", "--db", s.location, "--key-file", str(tmp / "short.key")],
        2,
        "short.key: too-short (a key of at least 32 bytes)",
    ),
    "bad date": (
        lambda s, tmp: ["report", "--db", s.location, "--out", "-", "--today", "31/01/2026"],
        2,
        "--today: expected a date as YYYY-MM-DD",
    ),
    "unknown measure": (lambda s, tmp: ["measures", "validate", "nope", str(tmp / "file.txt")], 2, "nope"),
    "missing response file": (
        lambda s, tmp: ["measures", "validate", "ors", str(tmp / "no.json")],
        2,
        "no such file",
    ),
    "invalid response (a finding)": (
        lambda s, tmp: ["measures", "validate", "ors", str(tmp / "file.txt")],
        1,
        "error:",
    ),
    "broken record (a finding)": (lambda s, tmp: ["verify", "--db", _tampered(s, tmp)], 1, ""),
    "demo over a file not alliancekit's": (
        lambda s, tmp: ["demo", "--db", str(tmp / "file.txt"), "--clients", "12"],
        2,
        "not an alliancekit database; the demo never replaces other files",
    ),
    "demo --out onto a file": (
        lambda s, tmp: ["demo", "--db", str(tmp / "d.sqlite"), "--out", str(tmp / "file.txt")],
        2,
        "exists and is not a directory",
    ),
    "sqlite URL with a host": (
        lambda s, tmp: ["caseload", "--db", "sqlite://host/x.sqlite"],
        2,
        "location: sqlite-url",
    ),
    "unknown store scheme": (lambda s, tmp: ["caseload", "--db", "nosuch://x"], 2, "unknown-store-scheme"),
}


# The error paths are the CLI's own, whatever the store: SQLite's practice serves them.
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_exit_with_their_kinds_code_in_one_line(
    name: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file.txt").write_text("not a response, not a database\n")
    (tmp_path / "short.key").write_text("31 bytes are one short of a key")
    argv, expected, says = ERRORS[name]
    try:
        code, _, err = run(capsys, argv(store, tmp_path))
    except SystemExit as exited:  # argparse's own usage errors
        code, err = int(str(exited.code)), capsys.readouterr().err
    assert code == expected, err
    assert says in err
    assert "Traceback" not in err
    if expected == 2:  # one line says what is wrong (argparse's usage lines aside)
        assert len([line for line in err.splitlines() if "error:" in line]) == 1


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_the_demo_fills_only_an_empty_postgresql_store(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before, _ = run(capsys, ["caseload", "--db", store.location, "--all", "--json"])
    code, _, err = run(capsys, ["demo", "--db", store.location, "--clients", "12", "--force"])
    assert code == 2
    assert "the store already holds a practice (it holds the clinics demo-clinic)" in err
    _, after, _ = run(capsys, ["caseload", "--db", store.location, "--all", "--json"])
    assert json.loads(after) == json.loads(before)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_sqlite_urls_name_the_file(store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from urllib.parse import quote

    spaced = tmp_path / "a folder" / "the practice.sqlite"
    spaced.parent.mkdir()
    spaced.write_bytes(Path(store.location).read_bytes())
    expected = json.loads(run(capsys, ["caseload", "--db", store.location, "--all", "--json"])[1])
    for location in (f"sqlite://{quote(str(spaced))}", f"sqlite:{spaced}", str(spaced)):
        code, out, err = run(capsys, ["caseload", "--db", location, "--all", "--json"])
        assert code == 0, err
        assert [r["episode_id"] for r in json.loads(out)] == [r["episode_id"] for r in expected]
