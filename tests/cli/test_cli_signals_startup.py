"""Ctrl-C in the first milliseconds of the ``alliancekit`` command, before and while its signal handling is
put in place: real subprocesses, real SIGINTs, through both entries (``python -m alliancekit`` and the
installed script).

What alliancekit controls starts once its entry module has loaded; from then on a Ctrl-C ends the command
with exit 130, its one line and (with ``--json``) its JSON object. Before that it is Python's start-up, which
ends the process as it ends any program. The tests pin both: the entry loads nothing but itself, a SIGINT at
every import the command makes until its handler is in place is reported cleanly, and a SIGINT sent from
outside at any delay ends the command one of the allowed ways, whichever phase it lands in.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import alliancekit
from alliancekit.cli.main import main
from alliancekit.cli.signals import AFTER_FINISHING

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

#: A guard against a hung command, not a timing assertion.
HANG = 300.0
PACKAGE = Path(alliancekit.__file__).parent

#: A ``sitecustomize`` that sends its own process a real SIGINT at the import numbered
#: ``ALLIANCEKIT_TEST_STOP_AT`` made once the entry has loaded (the installed script's
#: ``alliancekit.cli.main`` or ``python -m``'s ``alliancekit.__main__``), and writes which SIGINT handler was
#: in place then. It imports nothing Python has not loaded already, so the command imports what it always
#: does.
HOOK = """
import os, sys, _signal

_AT = int(os.environ["ALLIANCEKIT_TEST_STOP_AT"])
_MARK = os.environ["ALLIANCEKIT_TEST_MARK"]
_LOSE = os.environ.get("ALLIANCEKIT_TEST_LOSE") == "1"


class _Lost:
    def __del__(self):
        raise KeyboardInterrupt  # in a __del__: Python prints it as "Exception ignored" and goes on


def _entry_loaded():
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return "alliancekit.cli.main" in sys.modules or getattr(spec, "name", "") == "alliancekit.__main__"


class _StopAtImport:
    seen = 0

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if _entry_loaded():
            cls.seen += 1  # first: the KeyboardInterrupt is raised as os.kill returns
            if cls.seen == _AT + 1:
                handler = _signal.getsignal(_signal.SIGINT)
                with open(_MARK, "w") as mark:
                    mark.write(name + " " + getattr(handler, "__name__", str(handler)))
                if _LOSE:
                    _Lost()  # dropped at once, as an interrupt landing in a callback is lost
                else:
                    os.kill(os.getpid(), _signal.SIGINT)
        return None


sys.meta_path.insert(0, _StopAtImport)
"""

#: The most imports a command makes before its handler is in place that the sweep runs through.
MOST = 200


def entries() -> list[tuple[str, list[str]]]:
    """``python -m alliancekit`` and, when this environment has it, the installed ``alliancekit`` script."""
    script = Path(sys.executable).with_name("alliancekit")
    return [("module", [sys.executable, "-m", "alliancekit"])] + (
        [("script", [str(script)])] if script.is_file() else []
    )


def command(entry: list[str], tmp_path: Path) -> list[str]:
    """A command that, not stopped, ends at once with exit 2 (no such database)."""
    return [*entry, "verify", "--db", str(tmp_path / "missing.sqlite"), "--json"]


def test_the_entry_loads_nothing_before_its_ctrl_c_handling_but_itself() -> None:
    """Everything ``import alliancekit.cli.main`` (the installed script's import) loads runs before the
    command's handling: it used to load logging, typing, json and the signal module (some 30 modules)."""
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import sys; before = set(sys.modules); import alliancekit.cli.main; "
                "print(' '.join(sorted(set(sys.modules) - before)))"
            ),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=HANG,
    )
    assert shown.stdout.split() == ["alliancekit", "alliancekit.cli", "alliancekit.cli.main"]


@pytest.mark.parametrize(("how", "entry"), entries(), ids=[how for how, _ in entries()])
def test_a_ctrl_c_at_each_import_while_the_command_starts_is_reported_cleanly(
    tmp_path: Path, how: str, entry: list[str]
) -> None:
    """A SIGINT at the first import after the entry loaded, then the second, and so on until one lands with
    the command's own handler in place. Before the fix the first ones printed a traceback from the middle of
    the entry's imports (exit 1 or a death by SIGINT), and no JSON object."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    mark = tmp_path / "mark"
    path = os.pathsep.join([str(tmp_path / "hook"), os.environ.get("PYTHONPATH", "")])
    landed: list[str] = []
    for at in range(MOST):
        mark.unlink(missing_ok=True)
        env = {**os.environ, "PYTHONPATH": path, "ALLIANCEKIT_TEST_STOP_AT": str(at)}
        env["ALLIANCEKIT_TEST_MARK"] = str(mark)
        done = subprocess.run(command(entry, tmp_path), capture_output=True, text=True, env=env, timeout=HANG)
        assert mark.exists(), f"the command made {at} imports and ended: {done.stderr}"
        module, handler = mark.read_text().split()
        landed.append(module)
        assert done.returncode == 130, (at, module, done.stderr)
        assert done.stderr == "alliancekit: interrupted\n", (at, module)
        assert done.stdout == json.dumps({"error": {"kind": "stopped", "message": "interrupted"}}) + "\n"
        if handler == "_stop":  # stopping_cleanly's: the rest is the tests of test_cli_signals
            break
    else:
        pytest.fail(f"no handler of the command's in place after {MOST} imports")
    assert len(landed) > 1, landed  # some landed before the command's own handler was in place


@pytest.mark.parametrize(("how", "entry"), entries(), ids=[how for how, _ in entries()])
def test_an_interrupt_python_loses_in_a_callback_while_the_command_starts_still_stops_it(
    tmp_path: Path, how: str, entry: list[str]
) -> None:
    """An interrupt raised where Python cannot raise it (a ``__del__``, a callback of the import machinery)
    is printed as "Exception ignored" and lost: the command then went on to its end (exit 2 here) with a
    traceback on stderr. From the first line of ``main`` it is kept and raised once the handling is in place;
    from there on the command's own handler remembers a lost stop (``tests/cli/test_cli_signals.py``)."""
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(HOOK)
    mark = tmp_path / "mark"
    path = os.pathsep.join([str(tmp_path / "hook"), os.environ.get("PYTHONPATH", "")])
    checked = 0
    for at in range(MOST):
        mark.unlink(missing_ok=True)
        env = {
            **os.environ,
            "PYTHONPATH": path,
            "ALLIANCEKIT_TEST_STOP_AT": str(at),
            "ALLIANCEKIT_TEST_LOSE": "1",
        }
        env["ALLIANCEKIT_TEST_MARK"] = str(mark)
        done = subprocess.run(command(entry, tmp_path), capture_output=True, text=True, env=env, timeout=HANG)
        assert mark.exists(), f"the command made {at} imports and ended: {done.stderr}"
        module, handler = mark.read_text().split()
        if handler == "_stop":  # the command's own handler is in place: it raises a stop of its own
            break
        if module in ("alliancekit.cli", "alliancekit.cli.main"):  # ``-m``'s loading of the entry: Python's
            continue
        assert (done.returncode, done.stderr) == (130, "alliancekit: interrupted\n"), (
            at,
            module,
            done.stderr,
        )
        assert done.stdout == json.dumps({"error": {"kind": "stopped", "message": "interrupted"}}) + "\n"
        checked += 1
    else:
        pytest.fail(f"no handler of the command's in place after {MOST} imports")
    assert checked > 0


#: Delays (seconds) after the process is spawned: from within the interpreter's own start-up to after the
#: command ended by itself. Not a timing assertion: every phase has its allowed outcome.
DELAYS = [0.0, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.4, 1.0]


def python_start_up_only(stderr: str) -> bool:
    """Whether a traceback (if any) ends in Python's start-up: none of its frames is in alliancekit's code,
    except the entry's own lines that run before :func:`main`'s handling (the package's and the entry
    modules' bodies, and the call of ``main`` itself)."""
    entry_files = {PACKAGE / "__init__.py", PACKAGE / "__main__.py", PACKAGE / "cli" / "__init__.py"}
    main_file = PACKAGE / "cli" / "main.py"
    main_line = inspect.getsourcelines(main)[1]
    for file, line, function in re.findall(r'File "([^"]+)", line (\d+), in (\S+)', stderr):
        where = Path(file)
        if not where.is_relative_to(PACKAGE):
            continue
        if where in entry_files and function == "<module>":
            continue
        if where == main_file and (function == "<module>" or (function == "main" and int(line) == main_line)):
            continue
        return False
    return True


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize(("how", "entry"), entries(), ids=[how for how, _ in entries()])
def test_a_ctrl_c_sent_right_after_spawning_ends_the_command_an_allowed_way(
    tmp_path: Path, how: str, entry: list[str], delay: float
) -> None:
    """Whichever phase the SIGINT lands in: the command's own stop (130, its line, its JSON object); a stop
    once the command had reported its usage error and was ending (130, that error whole, then the line saying
    the command had finished, and no stop object: see ``test_cli_signals_after_finishing``); the command's
    own end when the signal came after it (its usage error, and exit 2, or a death by SIGINT when the signal
    came while Python ended the process) or was lost in a callback of Python's start-up; or Python's
    start-up, before alliancekit's code ran (killed by SIGINT, or exit 1 when Python could not load
    ``runpy``)."""
    with subprocess.Popen(
        command(entry, tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        if delay:
            # The delay spreads the signal over the start-up's phases; nothing is asserted about time.
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(delay)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=HANG)
    code = process.returncode
    finished = f"alliancekit: interrupted; {AFTER_FINISHING}\n"
    if code == 130 and err.endswith(finished):
        # the stop came once the command had reported its own usage error, before its handlers were restored
        # (signals.finishing): that error stands whole, one line each, and no stop object follows it
        usage = err.removesuffix(finished)
        assert usage.startswith("alliancekit: error: no alliancekit database at "), err
        assert usage.count("\n") == 1, err
        assert json.loads(out)["error"]["kind"] == "usage"
    elif code == 130:
        # the stop is reported last; a signal landing while the command reported its own error (between
        # its stdout and stderr lines) leaves that error's lines before the stop's
        assert err.endswith("alliancekit: interrupted\n"), err
        assert out.endswith(json.dumps({"error": {"kind": "stopped", "message": "interrupted"}}) + "\n"), out
        assert all(json.loads(line)["error"]["kind"] in ("usage", "stopped") for line in out.splitlines())
    elif out:  # it ended by itself: the signal came after, also while Python was ending the process
        assert code in (2, -signal.SIGINT), (code, err)
        lost, usage = err[: err.find("alliancekit: error: ")], err[err.find("alliancekit: error: ") :]
        assert usage.startswith("alliancekit: error: no alliancekit database at "), err
        assert python_start_up_only(usage), err
        # or the signal landed in a callback of Python's import machinery before the command's handling was
        # in place: Python prints the interrupt as "Exception ignored" and goes on (a rare, short window)
        assert lost == "" or (lost.startswith("Exception ignored in: ") and "KeyboardInterrupt" in lost), err
        assert python_start_up_only(lost), err
        assert json.loads(out)["error"]["kind"] == "usage"
    else:
        assert code in (-signal.SIGINT, 1), (code, err)
        assert out == ""
        assert python_start_up_only(err), err
