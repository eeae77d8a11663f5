"""Long commands stopped by Ctrl-C (SIGINT) or a stop request (SIGTERM, what a container stop sends), as a
user at a terminal or a supervisor meets them: real subprocesses, real signals, each sent once the command
has shown its first progress line (an event it reports, never a guess of how long it takes).

Stopped, a command exits 130 (SIGINT) or 143 (SIGTERM) with one line on stderr that starts on a line of its
own (the progress line is ended first) and no traceback; it publishes nothing half-done and leaves no
temporary copy behind; an import keeps its last checkpoint and the same command resumes it; the audit log
verifies; an unfinished demo database is removed (an SQLite file) or named as unfinished (a store).
"""

from __future__ import annotations

import gc
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import weakref
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.progress import Progress
from alliancekit.cli.signals import Interrupted, stopping_cleanly
from alliancekit.plugins.manager import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV
from alliancekit.practice import practice_files

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and a pseudo-terminal")

CLI = [sys.executable, "-m", "alliancekit"]
EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
WORD = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
#: A guard against a hung command, not a timing assertion.
HANG = 300.0
#: What starts every progress line (it clears the terminal's line).
PROGRESS = b"\x1b[K"


def stopped(
    argv: list[str], signum: int, env: dict[str, str] | None = None, stdout: Path | None = None
) -> tuple[int, str]:
    """Run ``argv`` with stderr on a pseudo-terminal, send ``signum`` once it has shown its first progress
    line, and return its exit code and everything the terminal showed (standard output into ``stdout``,
    when named)."""
    leader, follower = pty.openpty()
    shown = b""
    with open(stdout or os.devnull, "wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=follower, env=env)
    os.close(follower)
    try:
        sent = False
        while True:
            ready, _, _ = select.select([leader], [], [], HANG)
            assert ready, f"no output for {HANG} s: {shown!r}"
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the command ended and everything was read
                break
            if not chunk:
                break
            shown += chunk
            if not sent and PROGRESS in shown:
                process.send_signal(signum)
                sent = True
        assert sent, f"the command ended before its first progress line: {shown!r}"
        code = process.wait(HANG)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
            process.wait()
    return code, shown.decode().replace("\r\n", "\n")


def assert_stopped_cleanly(code: int, shown: str, signum: int) -> str:
    """The exit code, and one line naming the stop after the progress line, which was ended first; returns
    that line."""
    assert code == EXIT[signum], shown
    assert "Traceback" not in shown
    assert "Exception ignored" not in shown
    lines = shown.split("\n")
    stop = [line for line in lines if line.startswith("alliancekit: ")]
    assert len(stop) == 1, shown
    assert stop[0].startswith(f"alliancekit: {WORD[signum]}")
    assert lines[-1] == "", shown  # the line ended
    return stop[0]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=HANG, check=False, env=env)


def with_postgres() -> dict[str, str]:
    """The environment of a command that loads the installed postgres plugin (and no other)."""
    env = {k: v for k, v in os.environ.items() if k != DISABLE_AUTOLOAD_ENV}
    return {**env, ALLOW_LIST_ENV: "postgres"}


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo practice of 200 clients: enough episodes that an export is still running when stopped."""
    db = tmp_path_factory.mktemp("signals") / "demo.sqlite"
    made = cli("demo", "--clients", "200", "--db", str(db), "-q")
    assert made.returncode == 0, made.stderr
    return db


SIGNALS = [signal.SIGINT, signal.SIGTERM]


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_stopped_demo_removes_its_unfinished_database(tmp_path: Path, signum: int) -> None:
    db = tmp_path / "demo.sqlite"
    code, shown = stopped([*CLI, "demo", "--clients", "2000", "--db", str(db)], signum)
    line = assert_stopped_cleanly(code, shown, signum)
    assert line == f"alliancekit: {WORD[signum]}; the unfinished demo database {db} was removed"
    assert not any(file.exists() for file in practice_files(db))
    # and the same command makes the demo from scratch
    again = cli("demo", "--clients", "12", "--db", str(db), "-q")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_stopped_demo_in_a_store_removes_what_it_made(pg: object, signum: int) -> None:
    # Before the fix it said "empty the store before running the demo again" and left its tables, so the
    # same command was then refused ("the store already holds a practice").
    location = pg.location(pg.new_schema(), "demo-clinic")  # type: ignore[attr-defined]
    code, shown = stopped([*CLI, "demo", "--clients", "2000", "--db", location], signum, with_postgres())
    line = assert_stopped_cleanly(code, shown, signum)
    assert line.endswith("was removed")
    again = cli("demo", "--clients", "12", "--db", location, "-q", env=with_postgres())
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("fmt", ["fhir", "csv"])
def test_a_stopped_export_to_a_directory_publishes_nothing(
    practice: Path, tmp_path: Path, signum: int, fmt: str
) -> None:
    out = tmp_path / "out" / "export"
    naming = ["--all"] if fmt == "fhir" else ["--identified"]
    code, shown = stopped([*CLI, "export", fmt, *naming, "--out", str(out), "--db", str(practice)], signum)
    assert_stopped_cleanly(code, shown, signum)
    # no export, no staging directory, and not the parent the command made for them
    assert list(tmp_path.iterdir()) == []
    verified = cli("verify", "--db", str(practice))
    assert verified.returncode == 0, verified.stdout


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("fmt", ["fhir", "csv"])
def test_a_stopped_export_to_stdout_leaves_no_temporary_copy(
    practice: Path, tmp_path: Path, signum: int, fmt: str
) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    naming = ["--all"] if fmt == "fhir" else ["--identified"]
    argv = [*CLI, "export", fmt, *naming, "--out", "-", "--db", str(practice)]
    code, shown = stopped(argv, signum, env={**os.environ, "TMPDIR": str(temp)})
    assert_stopped_cleanly(code, shown, signum)
    assert list(temp.iterdir()) == []  # the export's staging copy (clinical records) is gone


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_stopped_verify_says_so(practice: Path, signum: int) -> None:
    code, shown = stopped([*CLI, "verify", "--db", str(practice)], signum)
    assert_stopped_cleanly(code, shown, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", ["verify", "demo"])
def test_a_stopped_command_run_with_json_prints_its_json_error_object(
    practice: Path, tmp_path: Path, signum: int, command: str
) -> None:
    """A script reading ``--json`` output finds ``{"error": {"kind": "stopped", ...}}``, as it finds a failed
    command's object; before, a stop printed its stderr line only and standard output was empty."""
    out = tmp_path / "stdout.json"
    db = practice if command == "verify" else tmp_path / "demo.sqlite"
    more = ["--clients", "2000"] if command == "demo" else []
    code, shown = stopped([*CLI, command, *more, "--db", str(db), "--json"], signum, stdout=out)
    line = assert_stopped_cleanly(code, shown, signum)
    written = out.read_text()
    assert written.endswith("\n")
    assert [json.loads(printed) for printed in written.splitlines()] == [
        {"error": {"kind": "stopped", "message": line.removeprefix("alliancekit: ")}}
    ]


#: The stopped import's history: clients of four sessions each, in batches of ``BATCH`` rows. The signal is
#: sent at the first progress line, which follows the first checkpoint, and is acted on by the next one at
#: the latest, so ten batches leave the first run unfinished; more rows would only lengthen the resume.
CLIENTS, BATCH = 300, 120
ROWS = CLIENTS * 4


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_stopped_import_resumes_from_its_checkpoint(
    request: pytest.FixtureRequest, tmp_path: Path, signum: int, backend: str
) -> None:
    history = tmp_path / "history.csv"
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_history.py"), str(CLIENTS), "4", str(history)], check=False
    )
    assert made.returncode == 0
    env = None
    db = str(tmp_path / "practice.sqlite")
    if backend == "postgresql":
        pg = request.getfixturevalue("pg")
        db, env = pg.location(pg.new_schema(), "north"), with_postgres()
    argv = ["import", "csv", "--db", db, "--create", "--mapping", str(EXAMPLES / "openfit-style.toml")]
    argv += ["--batch-size", str(BATCH)]
    code, shown = stopped([*CLI, *argv, str(history)], signum, env)
    line = assert_stopped_cleanly(code, shown, signum)
    # the line says what was kept (before, it said "interrupted" alone, and left the user to guess)
    said = re.fullmatch(
        rf"alliancekit: {WORD[signum]}; imported up to the checkpoint at row (\d+); "
        "the same command resumes there",
        line,
    )
    assert said, line
    verified = cli("verify", "--db", db, env=env)
    assert verified.returncode == 0, verified.stdout
    resumed = cli(*argv, str(history), env=env)
    assert resumed.returncode == 0, resumed.stderr
    written, kept = resumed.stdout.split(": ")[1].split(",")[:2]
    assert int(written.split()[0]) < ROWS  # the first run's checkpoint was kept: only the rest is written
    assert int(written.split()[0]) + int(kept.split()[0]) == ROWS
    assert int(kept.split()[0]) == int(said[1]) - 1  # the rows before the checkpoint row (1 is the header)
    assert resumed.stdout.rstrip().endswith(f"checkpoint at row {ROWS + 1}")


def test_an_interrupt_lost_in_a_weakref_callback_is_raised_at_the_next_progress_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Python raises Ctrl-C wherever the program is; in a callback the garbage collector runs, it is printed
    as "Exception ignored" and lost, and the command ran on to its end (seen in ``import csv``)."""

    class Thing:
        pass

    def receive(_: object) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _n in range(1000):  # Python runs the handler at a loop's jump: in here, where it is lost
            pass

    thing = Thing()
    before = signal.getsignal(signal.SIGINT)
    with stopping_cleanly():
        ref = weakref.ref(thing, receive)
        del thing
        gc.collect()
        assert ref() is None
        with pytest.raises(Interrupted) as raised:
            Progress("working", enabled=False)(1, 2)
    assert raised.value.signum == signal.SIGINT
    assert "Exception ignored" not in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before  # restored


#: A module the command imports while it starts and that is not imported before its Ctrl-C handling is in
#: place: the library's errors. Python's own import timing (``PYTHONPROFILEIMPORTTIME``) names each module on
#: stderr as its import ends, so the signal is sent during the start-up's imports, not at a guessed moment.
STARTING = "alliancekit.errors"


def started(script: list[str]) -> list[list[str]]:
    """``python -m alliancekit`` and, when this environment has it, the installed ``alliancekit`` script."""
    command = Path(sys.executable).with_name("alliancekit.exe" if os.name == "nt" else "alliancekit")
    return [[*CLI], *([[str(command)]] if command.is_file() else [])]


def stopped_while_starting(argv: list[str], signum: int, ignore_sigint: bool = False) -> tuple[int, str]:
    """Run ``argv``, send ``signum`` once the start-up has imported :data:`STARTING`, and return its exit
    code and its stderr (the import timings included)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}

    def ignoring() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    shown: list[bytes] = []
    sent = False
    with subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=ignoring if ignore_sigint else None,  # sets a signal only
    ) as process:
        assert process.stderr is not None
        try:
            for line in process.stderr:
                shown.append(line)
                if not sent and line.rsplit(b"|", 1)[-1].strip() == STARTING.encode():
                    process.send_signal(signum)
                    sent = True
            code = process.wait(HANG)
        finally:
            if process.poll() is None:
                process.kill()
    assert sent, b"".join(shown).decode()
    return code, b"".join(shown).decode()


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("how", ["module", "script"])
def test_a_stop_while_the_command_starts_is_said_in_one_line(
    tmp_path: Path, signum: signal.Signals, how: str
) -> None:
    """Ctrl-C in the second or so the command takes to import its commands and the library printed a
    traceback from the middle of an import (and SIGTERM ended it without a word and exit 143). The command
    run would end by itself at once (exit 2: no such database), so exit 130 shows the stop landed first."""
    forms = started(CLI)
    if how == "script" and len(forms) < 2:
        pytest.skip("no alliancekit script next to this Python")
    argv = [*forms[0 if how == "module" else 1], "verify", "--db", str(tmp_path / "missing.sqlite")]
    code, shown = stopped_while_starting(argv, signum)
    assert code == EXIT[signum], shown
    assert "Traceback" not in shown
    assert "Exception ignored" not in shown
    said = [line for line in shown.splitlines() if not line.startswith("import time:")]
    assert said == [f"alliancekit: {WORD[signum]}"]


def test_a_command_started_with_ctrl_c_ignored_keeps_ignoring_it_while_it_starts(tmp_path: Path) -> None:
    """A background job of a shell without job control starts with SIGINT ignored: the command goes on."""
    argv = [*CLI, "verify", "--db", str(tmp_path / "missing.sqlite")]
    code, shown = stopped_while_starting(argv, signal.SIGINT, ignore_sigint=True)
    assert code == 2, shown
    said = [line for line in shown.splitlines() if not line.startswith("import time:")]
    assert len(said) == 1, said
    assert said[0].startswith("alliancekit: error: no alliancekit database at "), said


def test_a_connection_the_server_ended_is_not_reported_by_the_pool_on_stderr(pg: Any, tmp_path: Path) -> None:
    """The server ends the command's connections midway (a restart, ``pg_terminate_backend``): the store
    reads again on a new connection and the import goes on, and the connection pool's own warning
    ("discarding closed connection: <psycopg.Connection [BAD] at 0x...>", printed by Python's last-resort
    logging handler) is not on the operator's terminal: the command says what it has to say itself."""
    history = tmp_path / "history.csv"
    made = subprocess.run(
        [sys.executable, str(EXAMPLES / "make_history.py"), "500", "4", str(history)], check=False
    )
    assert made.returncode == 0
    db, env = pg.location(pg.new_schema(), "north"), with_postgres()
    argv = [*CLI, "import", "csv", "--db", db, "--create", "--mapping", str(EXAMPLES / "openfit-style.toml")]
    with pg.admin() as admin:
        [(since,)] = admin.execute("SELECT clock_timestamp()").fetchall()
        leader, follower = pty.openpty()
        shown = b""
        with open(os.devnull, "wb") as sink:
            process = subprocess.Popen([*argv, str(history)], stdout=sink, stderr=follower, env=env)
        os.close(follower)
        ended = 0
        try:
            while True:
                ready, _, _ = select.select([leader], [], [], HANG)
                assert ready, f"no output for {HANG} s: {shown!r}"
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # the command ended and everything was read
                    break
                if not chunk:
                    break
                shown += chunk
                if not ended and PROGRESS in shown:  # the command's own connections, opened since it started
                    ended = len(
                        admin.execute(
                            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND usename = %s AND backend_start >= %s",
                            (pg.app_role, since),
                        ).fetchall()
                    )
            code = process.wait(HANG)
        finally:
            os.close(leader)
            if process.poll() is None:
                process.kill()
                process.wait()
    said = shown.decode().replace("\r\n", "\n")
    assert ended >= 1, said
    assert "discarding closed connection" not in said
    assert "psycopg.Connection" not in said
    assert "Traceback" not in said
    assert code == 0, said


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("form", ["--json", "--ndjson"])
def test_audit_show_stopped_midway_keeps_its_output_whole(practice: Path, signum: int, form: str) -> None:
    """The signal is sent once the first output is read, while the command still has far more to write than
    a pipe holds (it cannot have finished). ``--json`` used to print the array's beginning followed by the
    error object, two documents, the first cut short; it is now one document whose ``error`` member ends
    it. ``--ndjson`` (which prints no error object: it is not ``--json``) is cut between two lines, never
    inside one."""
    argv = [*CLI, "audit", "show", "--db", str(practice), form]
    everything = cli(*argv[len(CLI) :])
    assert len(everything.stdout) > 1_000_000  # far more than a pipe holds (64 KiB on Linux)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        first = os.read(process.stdout.fileno(), 4096)
        assert first
        process.send_signal(signum)
        rest, err = process.communicate(timeout=HANG)
    assert process.returncode == EXIT[signum], err
    assert err.decode() == f"alliancekit: {WORD[signum]}\n"
    error = {"kind": "stopped", "message": WORD[signum]}
    written = (first + rest).decode()
    if form == "--json":
        document = json.loads(written)
        assert list(document) == ["entries", "error"]
        assert document["error"] == error
        entries = document["entries"]
    else:
        assert written.endswith("\n")
        entries = [json.loads(line) for line in written.splitlines()]
    assert 0 < len(entries) < len(everything.stdout.splitlines())
    assert all("hash" in entry and "error" not in entry for entry in entries)
