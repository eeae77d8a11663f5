"""``examples/imports/make_history.py``: a command-line interface of its own (help, usage errors without a
traceback), a history ``alliancekit import csv`` takes with the OpenFIT-style mapping, and ``main`` still
callable with its three arguments (``benchmarks/bench_batch.py`` calls it)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import import_csv, sessions

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "imports"
SCRIPT = EXAMPLES / "make_history.py"


def _script(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )


def test_help_describes_the_arguments() -> None:
    done = _script("--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: make_history.py [-h] CLIENTS SESSIONS PATH")
    assert "synthetic" in done.stdout


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        ((), "the following arguments are required: CLIENTS, SESSIONS, PATH"),
        (("ten", "3", "h.csv"), "argument CLIENTS: not a whole number"),
        (("0", "3", "h.csv"), "argument CLIENTS: at least 1"),
        (("1", "0", "h.csv"), "argument SESSIONS: at least 1"),
        (("1", "1", "h.csv", "extra"), "unrecognized arguments"),
        (("1", "1", "."), "make_history.py: error: .: Is a directory"),  # cannot be written
    ],
)
def test_usage_errors_exit_2_without_a_traceback(argv: tuple[str, ...], says: str, tmp_path: Path) -> None:
    done = _script(*argv, cwd=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "h.csv").exists()


def test_the_history_imports_with_the_openfit_style_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.csv"
    done = _script("1", "2", str(history))  # the smallest history it makes
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    db = tmp_path / "p.sqlite"
    code, out, err = import_csv(capsys, db, EXAMPLES / "openfit-style.toml", history)
    assert code == 0, err
    assert out.startswith("imported 2 units: 2 written")
    assert [len(s) for s in sessions(db).values()] == [2]


def test_main_is_callable_as_the_benchmark_calls_it(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("make_history", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(3, 2, str(tmp_path / "h.csv"))
    assert len((tmp_path / "h.csv").read_text(encoding="utf-8").splitlines()) == 1 + 3 * 2


def _dates(path: Path) -> list[str]:
    rows = path.read_text(encoding="utf-8").splitlines()[1:]
    return [row.split(",")[2] for row in rows]


@pytest.mark.parametrize("shift", [0, 1])
def test_no_session_is_after_today(tmp_path: Path, shift: int) -> None:
    spec = importlib.util.spec_from_file_location("make_history", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # 300 clients x 5 weekly sessions from 2 January 2023 end exactly 299 + 28 days later: on that day the
    # layout is unchanged; a day earlier it moves back one day, so its last session is still today
    last = module.FIRST + timedelta(days=299 + 28)
    today = last - timedelta(days=shift)
    module.main(300, 5, str(tmp_path / "h.csv"), today=today)
    days = [date(*map(int, reversed(d.split("/")))) for d in _dates(tmp_path / "h.csv")]
    assert max(days) == today
    assert min(days) == module.FIRST - timedelta(days=shift)
