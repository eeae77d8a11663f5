"""SIGKILL during ``alliancekit import csv``: a real subprocess killed at least 20 times, at points chosen
by its progress (after its k-th checkpoint, while it writes the next batch), each kill followed by a resume;
at the end the store holds every source row exactly once: nothing lost, nothing twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from .conftest import CLINIC, row, sessions, write_csv, write_mapping

CLIENTS = 40
SESSIONS = 5
KILLS = 22


def _rows() -> list[list[str]]:
    rows = []
    for c in range(CLIENTS):
        day = date(2024, 1, 1) + timedelta(days=c % 7)
        for s in range(SESSIONS):
            gad = [str((c + s + i) % 4) for i in range(7)] if s % 2 else []
            rows.append(row(f"k-{c:03d}", day.strftime("%d/%m/%Y"), phq9=str((c * 3 + s) % 28), gad=gad))
            day += timedelta(days=7)
    return rows


def _start(db: Path, mapping: Path, source: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "alliancekit", "import", "csv", "--db", str(db), "--create"]
    argv += ["--clinic", CLINIC, "--mapping", str(mapping), "--batch-size", "2", "--progress", str(source)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX")
def test_sigkill_during_an_import_then_resume_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rows = _rows()
    db, mapping, source = tmp_path / "p.sqlite", write_mapping(tmp_path), write_csv(tmp_path, rows)
    kills = 0
    for attempt in range(KILLS):
        proc = _start(db, mapping, source)
        assert proc.stderr is not None
        wanted = 1 + attempt % 3  # after the 1st, 2nd or 3rd checkpoint of this run: varied points
        seen = 0
        for line in proc.stderr:
            if line.startswith("imported up to row"):
                seen += 1
                if seen == wanted:
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
        proc.wait(timeout=120)
        proc.stderr.close()
        assert proc.returncode in (-signal.SIGKILL, 0)
        if proc.returncode == 0:
            break
    assert kills >= 20  # the file is long enough that every run is killed before its end
    final = _start(db, mapping, source)
    _, err = final.communicate(timeout=300)
    assert final.returncode == 0, err
    expected: dict[str, list[str]] = {}
    for r in rows:
        expected.setdefault(r[0], []).append(date(*map(int, reversed(r[2].split("/")))).isoformat())  # type: ignore[misc]
    held = sessions(db)
    assert {client: [s[0] for s in found] for client, found in held.items()} == expected
    for r, (client, found) in zip(rows[::SESSIONS], sorted(held.items()), strict=True):
        assert client == r[0]
        assert found[0][2] == (("phq-9", float(r[4])),)
