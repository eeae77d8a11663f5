"""A stop (Ctrl-C, SIGTERM) that comes once a command has finished its work, while it is still writing what it
says to standard output (a pipe nobody reads yet, a log shipper behind): the command exits 130 or 143 with one
line saying it had finished, its output whole, rather than dying by the signal with nothing said.

Before, the command's last words were still in Python's buffer when its signal handlers were restored; the
stop then killed the process by the signal's default action while Python flushed them at exit: no line, and
what it had to say (``wrote DIR/report.html``, an export's JSON summary) lost.

Real subprocesses and real signals, synchronised on events, never on time: standard output is a pipe filled
to the brim beforehand, so the command blocks on its first write there; the signal is sent once the command
is seen (in ``/proc``) blocked writing to its standard output with its report published.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alliancekit.cli.main import main, stopped
from alliancekit.cli.signals import AFTER_FINISHING, Interrupted

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/PID/syscall")

CLI = [sys.executable, "-m", "alliancekit"]
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
WORD = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
#: A guard against a hung command, not a timing assertion.
HANG = 300.0
FILLER = b"."
#: The environment of a command as a user runs it: its standard output buffered (unbuffered, its last words
#: are written while it runs, and a stop then is a stop of the running command, said as such).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("finishing") / "practice.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--today", "2026-01-31", "--quiet"]) == 0
    return db


def full_pipe() -> tuple[int, int, int]:
    """A pipe whose buffer is full: its read end, its write end (blocking again) and the bytes in it."""
    read_end, write_end = os.pipe()
    flags = fcntl.fcntl(write_end, fcntl.F_GETFL)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    filled = 0
    with contextlib.suppress(BlockingIOError):
        while True:
            filled += os.write(write_end, FILLER * 4096)
    fcntl.fcntl(write_end, fcntl.F_SETFL, flags)  # the child shares the flags: it must block, not fail
    return read_end, write_end, filled


def blocked_writing_stdout(pid: int) -> bool:
    """Whether the process is in a system call on its file descriptor 1 (a write, the only one it makes
    there): ``/proc/PID/syscall`` gives the call's number and arguments, or ``running``."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except (ProcessLookupError, FileNotFoundError):  # ended (the caller says why)
        return False
    return len(fields) > 1 and fields[0] != "running" and int(fields[1], 16) == 1


def stopped_after_finishing(argv: list[str], signum: int, done: Path, tmp: Path) -> tuple[int, bytes, str]:
    """Run ``argv`` with standard output a full pipe; once ``done`` exists and the command is blocked writing
    its standard output, send ``signum`` and read the pipe. Its exit code, standard output and error."""
    read_end, write_end, filled = full_pipe()
    errors = tmp / "stderr.txt"
    with errors.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=write_end, stderr=sink, env=ENV)
    os.close(write_end)
    try:
        give_up = time.monotonic() + HANG
        while not (done.exists() and blocked_writing_stdout(process.pid)):
            assert process.poll() is None, errors.read_text()
            assert time.monotonic() < give_up, f"not blocked writing its output after {HANG} s"
            time.sleep(0.01)  # polling for an event; nothing depends on how long it takes
        process.send_signal(signum)
        with os.fdopen(read_end, "rb") as pipe:
            read_end = -1
            shown = pipe.read()
        code = process.wait(HANG)
    finally:
        if read_end != -1:
            os.close(read_end)
        if process.poll() is None:
            process.kill()
            process.wait()
    assert shown[:filled] == FILLER * filled
    return code, shown[filled:], errors.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_after_the_report_is_written_is_said_and_loses_no_output(
    practice: Path, tmp_path: Path, signum: int
) -> None:
    out = tmp_path / "out"
    report = out / "report.html"
    argv = [*CLI, "report", "--db", str(practice), "--out", str(out), "--today", "2026-01-31"]
    code, shown, said = stopped_after_finishing(argv, signum, report, tmp_path)
    assert code == EXIT[signum], said
    assert said == f"alliancekit: {WORD[signum]}; the command had already finished, and what it did stands\n"
    assert shown == f"wrote {report}\n".encode()
    assert report.read_text(encoding="utf-8").rstrip().endswith("</html>")


def test_a_stop_after_finishing_adds_no_json_object_after_the_document(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With ``--json``, standard output already holds the finished command's whole document: the stop adds
    no ``{"error": ...}`` after it (two documents); the exit code and the stderr line say it. A stop of a
    running command does add it (the other side)."""
    after = Interrupted(signal.SIGTERM, AFTER_FINISHING, finished=True)
    assert stopped(after, ["report", "--json"]) == 143
    shown, said = capsys.readouterr()
    assert (shown, said) == ("", f"alliancekit: terminated; {AFTER_FINISHING}\n")
    assert stopped(Interrupted(signal.SIGTERM), ["report", "--json"]) == 143
    shown, said = capsys.readouterr()
    assert json.loads(shown) == {"error": {"kind": "stopped", "message": "terminated"}}


def test_a_finished_command_not_stopped_exits_as_it_said(practice: Path, tmp_path: Path) -> None:
    """The other side: the same command, its full pipe read without a signal, exits 0 and says nothing
    more."""
    read_end, write_end, filled = full_pipe()
    out = tmp_path / "out"
    argv = [*CLI, "report", "--db", str(practice), "--out", str(out), "--today", "2026-01-31"]
    process = subprocess.Popen(argv, stdout=write_end, stderr=subprocess.PIPE, env=ENV)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        shown = pipe.read()
    assert process.wait(HANG) == 0
    assert process.stderr is not None
    assert process.stderr.read() == b""
    process.stderr.close()
    assert shown[filled:] == f"wrote {out / 'report.html'}\n".encode()


#: The command, with a SIGINT sent to itself the moment it has finished (``finishing`` has run): the window
#: a Ctrl-C from outside meets only by chance (``test_cli_signals_startup``), here every time.
SIGINT_ONCE_FINISHED = """
import os, signal, sys
from alliancekit.cli import signals
finished = signals.finishing
def finishing():
    finished()
    os.kill(os.getpid(), signal.SIGINT)
signals.finishing = finishing
from alliancekit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_stop_once_a_usage_error_is_reported_leaves_that_error_whole(tmp_path: Path) -> None:
    """A command ended by its own usage error (no such database: exit 2) has finished too: a stop then exits
    130 with the error's line and the finished line on stderr, and the error's JSON object alone on stdout."""
    argv = ["verify", "--db", str(tmp_path / "missing.sqlite"), "--json"]
    shown = subprocess.run(
        [sys.executable, "-c", SIGINT_ONCE_FINISHED, *argv], capture_output=True, text=True, timeout=HANG
    )
    assert shown.returncode == 130, shown.stderr
    usage, finished = shown.stderr.splitlines(keepends=True)
    assert usage.startswith("alliancekit: error: no alliancekit database at "), shown.stderr
    assert finished == f"alliancekit: interrupted; {AFTER_FINISHING}\n"
    assert json.loads(shown.stdout)["error"]["kind"] == "usage"
