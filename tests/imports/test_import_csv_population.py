"""``alliancekit import csv`` gives each episode its norm population (``[columns] population``, or a
default): a child's ORS of 30 is imported as clinical, an adult's is not; a population no registered
measure declares, a padded one and one that changes within an episode are row errors naming row, column and
rule (never the value), found by the dry run, and the import writes nothing from the first of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.events.types import EpisodeOpened, SessionRecorded

from .conftest import SUPERVISOR, import_csv, sessions, write_csv

MAPPING = """
[columns]
client = "Client"
session_date = "Date"
population = "Age group"

[defaults]
clinician = "clin-a"
{defaults}
[values.population]
"Child" = "child"

[[measures]]
measure = "ors"
total = "ORS"
"""
HEADER = ["Client", "Date", "Age group", "ORS"]


def _mapping(folder: Path, defaults: str = "") -> Path:
    path = folder / "population.toml"
    path.write_text(MAPPING.format(defaults=defaults), encoding="utf-8")
    return path


def _errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def _episodes(db: Path) -> dict[str, tuple[str | None, list[bool | None]]]:
    """Per client: the population its episode opened with and the clinical flag of each ORS score."""
    found: dict[str, tuple[str | None, list[bool | None]]] = {}
    with open_practice(db) as practice:
        for entry in practice.caseload(SUPERVISOR, include_closed=True):
            events: list[Any] = [item.event for item in practice.timeline(SUPERVISOR, entry.episode_id)]
            (opened,) = [e for e in events if isinstance(e, EpisodeOpened)]
            flags = [s.clinical for e in events if isinstance(e, SessionRecorded) for s in e.scores]
            found[entry.client_ref] = (opened.population, flags)
    return found


def test_each_episode_opens_with_its_rows_population_and_is_read_against_its_norm(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ["kid", "2024-01-08", "child", "31.9"],
        ["kid", "2024-01-15", "", "32"],  # blank in a later row: the episode's population stands
        ["kid2", "2024-01-08", "Child", "30"],  # mapped through [values.population]
        ["teen", "2024-01-08", "adolescent", "27.9"],
        ["grown", "2024-01-08", "", "30"],  # blank, no default: each measure's default population
        ["grown", "2024-01-15", "", "24.9"],
    ]
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows, header=HEADER)
    code, out, err = import_csv(capsys, db, _mapping(tmp_path), source, "--dry-run")
    assert (code, _errors(err)) == (0, []), err
    assert "6 to write" in out
    code, out, err = import_csv(capsys, db, _mapping(tmp_path), source)
    assert code == 0, err
    assert _episodes(db) == {
        "kid": ("child", [True, False]),  # the child cutoff is 32 (the adult one 25)
        "kid2": ("child", [True]),
        "teen": ("adolescent", [True]),
        "grown": (None, [False, True]),
    }
    # a re-run under another checkpoint name opens nothing twice: the same keyed start, the same population
    code, out, _ = import_csv(capsys, db, _mapping(tmp_path), source, "--source-id", "again")
    assert code == 0
    assert len(_episodes(db)) == 4


def test_a_default_population_names_every_episode_a_blank_cell_leaves_to_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [["a", "2024-01-08", "", "30"], ["b", "2024-01-08", "adolescent", "30"]]
    db = tmp_path / "p.sqlite"
    mapping = _mapping(tmp_path, 'population = "child"')
    code, _, err = import_csv(capsys, db, mapping, write_csv(tmp_path, rows, header=HEADER))
    assert code == 0, err
    assert _episodes(db) == {"a": ("child", [True]), "b": ("adolescent", [False])}


@pytest.mark.parametrize(
    ("cell", "error"),
    [
        ("martian", "error: row 4, Age group: declared-population"),
        ("child ", "error: row 4, Age group: whitespace"),
        ("ch\u200bild", "error: row 4, Age group: control-character"),
    ],
    ids=["undeclared", "padded", "control-character"],
)
def test_a_population_the_library_would_refuse_is_a_row_error_and_nothing_from_it_is_written(
    cell: str, error: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ["a", "2024-01-08", "child", "30"],
        ["z", "2024-01-08", "child", "30"],  # still open when the bad row is read: held back with it
        ["b", "2024-01-08", cell, "30"],
        ["c", "2024-01-08", "", "30"],
    ]
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows, header=HEADER)
    code, _, err = import_csv(capsys, db, _mapping(tmp_path), source, "--dry-run")
    assert code == 1
    (line,) = _errors(err)
    assert line.startswith(error)
    assert cell not in err  # the value is never echoed
    assert not db.exists()  # a dry run creates nothing
    code, _, err = import_csv(capsys, db, _mapping(tmp_path), source, "--batch-size", "1")
    assert code == 1
    assert _errors(err)[0].startswith(error)
    assert list(sessions(db)) == ["a"]  # the row before it only


def test_a_later_row_that_changes_its_episodes_population_is_a_row_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        ["kid", "2024-01-08", "child", "30"],
        ["kid", "2024-01-15", "child", "31"],  # the same: fine
        ["kid", "2024-01-22", "adolescent", "31"],
    ]
    source = write_csv(tmp_path, rows, header=HEADER)
    code, _, err = import_csv(capsys, tmp_path / "p.sqlite", _mapping(tmp_path), source, "--dry-run")
    assert code == 1
    assert _errors(err) == [
        "error: row 4, Age group: population-changed (differs from the episode's first row)"
    ]


def test_a_mapping_whose_default_population_no_measure_declares_is_refused_before_any_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [["a", "2024-01-08", "", "30"]]
    db = tmp_path / "p.sqlite"
    mapping = _mapping(tmp_path, 'population = "martian"')
    code, _, err = import_csv(capsys, db, mapping, write_csv(tmp_path, rows, header=HEADER))
    assert code == 2
    assert "alliancekit: error: mapping.defaults.population: declared-population" in err
    assert "martian" not in err
    assert not db.exists()


def test_without_a_population_column_nothing_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mapping = tmp_path / "plain.toml"
    mapping.write_text(
        '[columns]\nclient = "Client"\nsession_date = "Date"\n[defaults]\nclinician = "clin-a"\n'
        '[[measures]]\nmeasure = "ors"\ntotal = "ORS"\n',
        encoding="utf-8",
    )
    db = tmp_path / "p.sqlite"
    code, _, err = import_csv(
        capsys, db, mapping, write_csv(tmp_path, [["a", "2024-01-08", "x", "30"]], header=HEADER)
    )
    assert code == 0, err
    assert _episodes(db) == {"a": (None, [False])}
