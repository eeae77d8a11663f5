"""Progress of ``alliancekit import``: rows, a rate and an ETA on stderr when it is a terminal, nothing when
it is not (unless ``--progress``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import CLINIC, row, write_csv, write_mapping

#: The ``on_a_terminal`` fixture (tests/conftest.py): the exit code, stdout, and what a terminal showed.
OnATerminal = Callable[[list[str]], tuple[int, bytes, str]]


def _argv(tmp_path: Path, *more: str) -> list[str]:
    rows = [row(f"p-{i:03d}", "08/01/2024", phq9=str(i % 28)) for i in range(40)]
    source, mapping = write_csv(tmp_path, rows), write_mapping(tmp_path)
    db = tmp_path / "p.sqlite"
    return [
        sys.executable,
        "-m",
        "alliancekit",
        "import",
        "csv",
        "--db",
        str(db),
        "--create",
        "--clinic",
        CLINIC,
        "--mapping",
        str(mapping),
        "--batch-size",
        "5",
        *more,
        str(source),
    ]


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
def test_a_terminal_shows_rows_rate_and_eta(tmp_path: Path, on_a_terminal: OnATerminal) -> None:
    code, _, text = on_a_terminal(_argv(tmp_path))
    assert code == 0
    assert "import: 6/41 (14%)" in text  # up to row 6 of 41: the first checkpoint, shown at once
    assert "rows/s" in text
    assert "ETA " in text
    assert "done in" in text.rstrip("\r\n").rsplit("\r", 1)[-1]
    assert not text.endswith("\r\n\r\n")  # the finished line is not followed by a blank one


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal is POSIX")
@pytest.mark.parametrize("batch", ["5", "7"])
def test_a_dry_run_on_a_terminal_ends_at_its_last_row(
    tmp_path: Path, batch: str, on_a_terminal: OnATerminal
) -> None:
    code, _, text = on_a_terminal([*_argv(tmp_path, "--dry-run"), "--batch-size", batch])
    assert code == 0
    last = text.rstrip("\r\n").rsplit("\r", 1)[-1]
    assert last.startswith("\x1b[Kcheck: 41/41 (100%)")  # a dry run checks, it imports nothing
    assert "import:" not in text
    assert "done in" in last
    assert not text.endswith("\r\n\r\n")


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path: Path) -> None:
    quiet = subprocess.run(_argv(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    assert quiet.returncode == 0
    assert quiet.stderr == ""
    forced = subprocess.run(
        _argv(tmp_path / "", "--progress", "--source-id", "again"),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert forced.returncode == 0
    assert forced.stderr.count("imported up to row") == 8


def test_the_progress_of_a_dry_run_says_checked_and_counts_from_the_checkpoint(tmp_path: Path) -> None:
    argv = _argv(tmp_path, "--progress")
    rows = [row(f"p-{i:03d}", "08/01/2024", phq9=str(i % 28)) for i in range(40)]
    write_csv(tmp_path, rows[:20])  # the same source, its first 20 rows imported
    assert subprocess.run(argv, capture_output=True, timeout=300, check=False).returncode == 0
    write_csv(tmp_path, rows)
    dry = subprocess.run([*argv, "--dry-run"], capture_output=True, text=True, timeout=300, check=False)
    assert dry.returncode == 0
    lines = dry.stderr.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        f"checked up to row {n} of ~41" for n in (26, 31, 36, 41)
    ]  # four batches of five after the checkpoint at row 21, as the import would commit them
    assert dry.stdout == "checked 40 units: 20 to write, 20 already imported; checkpoint at row 21\n"
