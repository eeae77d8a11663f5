"""Shared helpers of the importer tests: a mapping, CSV files written in any encoding and delimiter, the
CLI run in process, and what a practice holds read back through the facade."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.cli.main import main

CLINIC = "north"
SUPERVISOR = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)

MAPPING = """
[source]
encoding = "{encoding}"
delimiter = "{delimiter}"
date_formats = ["%d/%m/%Y", "%Y-%m-%d"]

[columns]
client = "Client"
episode = "Episode"
session_date = "Date"
attendance = "Came"

[defaults]
clinician = "clin-a"
modality = "video"

[values.attendance]
"Y" = "attended"
"N" = "no-show"

[[measures]]
measure = "phq-9"
timing = "start"
total = "PHQ9"

[[measures]]
measure = "gad-7"
timing = "start"
items = {{ q1 = "G1", q2 = "G2", q3 = "G3", q4 = "G4", q5 = "G5", q6 = "G6", q7 = "G7" }}
"""
HEADER = ["Client", "Episode", "Date", "Came", "PHQ9", "G1", "G2", "G3", "G4", "G5", "G6", "G7", "Comment"]


def row(client: str, day: str, phq9: str = "", gad: Sequence[str] = (), came: str = "Y") -> list[str]:
    items = list(gad) or [""] * 7
    return [client, "1", day, came, phq9, *items, "synthetic"]


def write_mapping(folder: Path, *, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    path = folder / "mapping.toml"
    shown = "\\t" if delimiter == "\t" else delimiter
    path.write_text(MAPPING.format(encoding=encoding, delimiter=shown), encoding="utf-8")
    return path


def write_csv(
    folder: Path,
    rows: Sequence[Sequence[str]],
    *,
    header: Sequence[str] = HEADER,
    encoding: str = "utf-8",
    delimiter: str = ",",
    name: str = "history.csv",
) -> Path:
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = folder / name
    path.write_bytes(text.getvalue().encode(encoding))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def import_csv(
    capsys: pytest.CaptureFixture[str], db: Path, mapping: Path, source: Path, *more: str
) -> tuple[int, str, str]:
    return run(
        capsys,
        "import",
        "csv",
        "--db",
        str(db),
        "--create",
        "--clinic",
        CLINIC,
        "--mapping",
        str(mapping),
        str(source),
        *more,
    )


def sessions(db: Path, clinic: str = CLINIC) -> dict[str, list[tuple[str, str, tuple[Any, ...]]]]:
    """Per client reference: each recorded session's date, attendance and scores (measure, total), read
    back through the facade."""
    supervisor = Actor("sup", Role.SUPERVISOR, clinic, Purpose.OPERATIONS)
    found: dict[str, list[tuple[str, str, tuple[Any, ...]]]] = {}
    if not db.exists():
        return found
    with open_practice(db) as practice:
        for entry in practice.caseload(supervisor, include_closed=True):
            held = found.setdefault(entry.client_ref, [])
            for item in practice.timeline(supervisor, entry.episode_id):
                if item.type != "session-recorded":
                    continue
                event: Any = item.event
                scores = tuple(sorted((s.measure_id, s.total) for s in event.scores))
                held.append((event.session.held_on.isoformat(), event.session.attendance.value, scores))
    return found
