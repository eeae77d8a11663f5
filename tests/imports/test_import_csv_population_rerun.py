"""``alliancekit import csv`` run again after its mapping gained a population (a column, or a default) or
changed it. An episode the first run opened has its population for good (the keyed ``start_episode``
carries it): when the rows now give it another, the re-run stops at the episode's first row with a row
error naming the row, ``population`` (and its column) and the rule ``population-changed``, never the
value, and writes nothing; under the same checkpoint too, which no longer vouches for the rows before it.
When the population agrees, the re-run writes nothing and succeeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliancekit import open_practice

from .conftest import SUPERVISOR, import_csv, write_csv
from .test_import_csv_population import HEADER, _episodes, _errors, _mapping

PLAIN = """
[columns]
client = "Client"
session_date = "Date"

[defaults]
clinician = "clin-a"
{defaults}
[[measures]]
measure = "ors"
total = "ORS"
"""
ROWS = [
    ["kid", "2024-01-08", "child", "30"],
    ["kid", "2024-01-15", "child", "31"],
    ["grown", "2024-01-08", "", "30"],
]
REFUSED = "population-changed (the episode was imported before with another population)"
#: Re-run under the same checkpoint (the import's file name), or under another (``--source-id``).
RERUNS = [(), ("--source-id", "again")]


def _plain(folder: Path, defaults: str = "") -> Path:
    path = folder / "plain.toml"
    path.write_text(PLAIN.format(defaults=defaults), encoding="utf-8")
    return path


def _events(db: Path) -> int:
    """Every event of every episode, read back through the facade."""
    with open_practice(db) as practice:
        rows = practice.caseload(SUPERVISOR, include_closed=True)
        return sum(len(practice.timeline(SUPERVISOR, row.episode_id)) for row in rows)


@pytest.mark.parametrize("more", RERUNS, ids=["same-checkpoint", "other-source-id"])
def test_adding_a_population_column_to_an_imported_episode_is_a_row_error_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], more: tuple[str, ...]
) -> None:
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, ROWS, header=HEADER)
    code, _, err = import_csv(capsys, db, _plain(tmp_path), source)
    assert code == 0, err
    before = (_episodes(db), _events(db))
    assert before[0] == {"kid": (None, [False, False]), "grown": (None, [False])}

    code, _, err = import_csv(capsys, db, _mapping(tmp_path), source, *more)

    assert code == 1
    assert _errors(err) == [f'error: row 2, column "Age group" (population): {REFUSED}']
    assert "child" not in err  # the value is never echoed
    assert "idempotency" not in err
    assert (_episodes(db), _events(db)) == before
    # the mapping as it was: the re-run is recognised again, nothing written twice
    code, _, err = import_csv(capsys, db, _plain(tmp_path), source, *more)
    assert code == 0, err
    assert (_episodes(db), _events(db)) == before


@pytest.mark.parametrize("more", RERUNS, ids=["same-checkpoint", "other-source-id"])
def test_changing_the_default_population_of_imported_episodes_is_a_row_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], more: tuple[str, ...]
) -> None:
    rows = [["a", "2024-01-08", "", "30"], ["a", "2024-01-15", "", "30"]]
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows, header=HEADER)
    code, _, err = import_csv(capsys, db, _plain(tmp_path, 'population = "child"'), source)
    assert code == 0, err
    before = (_episodes(db), _events(db))
    assert before[0] == {"a": ("child", [True, True])}

    code, _, err = import_csv(capsys, db, _plain(tmp_path, 'population = "adolescent"'), source, *more)

    assert code == 1
    assert _errors(err) == [f"error: row 2, population: {REFUSED}"]
    assert (_episodes(db), _events(db)) == before


@pytest.mark.parametrize("more", RERUNS, ids=["same-checkpoint", "other-source-id"])
def test_a_rerun_whose_population_agrees_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], more: tuple[str, ...]
) -> None:
    """A default of "child" first, then a column that says "Child" (mapped to child) for the same episode,
    and blank for the other: every episode's population is the one it opened with."""
    rows = [["kid", "2024-01-08", "Child", "30"], ["kid", "2024-01-15", "", "31"]]
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, rows, header=HEADER)
    code, _, err = import_csv(capsys, db, _plain(tmp_path, 'population = "child"'), source)
    assert code == 0, err
    before = (_episodes(db), _events(db))

    code, _, err = import_csv(capsys, db, _mapping(tmp_path), source, *more)

    assert (code, _errors(err)) == (0, []), err
    assert (_episodes(db), _events(db)) == before
    # and a plain mapping's episodes (no population) agree with a population column left blank
    rows = [["grown", "2024-01-08", "", "30"]]
    plain_source = write_csv(tmp_path, rows, header=HEADER, name="plain.csv")
    code, _, err = import_csv(capsys, db, _plain(tmp_path), plain_source)
    assert code == 0, err
    before = (_episodes(db), _events(db))
    code, _, err = import_csv(capsys, db, _mapping(tmp_path), plain_source, *more)
    assert (code, _errors(err)) == (0, []), err
    assert (_episodes(db), _events(db)) == before


@pytest.mark.parametrize("more", RERUNS, ids=["same-checkpoint", "other-source-id"])
def test_a_dry_run_after_the_population_changed_reports_the_refusal_the_import_would_make(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], more: tuple[str, ...]
) -> None:
    """The mapping gains a population column that gives the imported "kid" episode another population: the
    dry run reports the refusal of each of its sessions (row, column, rule) as the import makes it at the
    first, counts nothing to write, exits 1, and the file is left as it was."""
    db, source = tmp_path / "p.sqlite", write_csv(tmp_path, ROWS, header=HEADER)
    assert import_csv(capsys, db, _plain(tmp_path), source)[0] == 0
    stored = db.read_bytes()

    code, out, err = import_csv(capsys, db, _mapping(tmp_path), source, *more, "--dry-run")

    assert db.read_bytes() == stored  # nothing written, not even an audit entry
    assert code == 1
    assert out == "checked 3 units: 0 to write, 0 already imported; checkpoint at row 0\n"
    assert _errors(err) == [
        f'error: row 2, column "Age group" (population): {REFUSED}',
        f'error: row 3, column "Age group" (population): {REFUSED}',
    ]
    assert "child" not in err
    code, _, real = import_csv(capsys, db, _mapping(tmp_path), source, *more)
    assert code == 1
    assert _errors(real)[0] == _errors(err)[0]  # the import stops at the first of them


@pytest.mark.parametrize("more", RERUNS, ids=["same-checkpoint", "other-source-id"])
def test_a_dry_run_after_the_population_agrees_reports_every_unit_already_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], more: tuple[str, ...]
) -> None:
    """A default of "child" first, then a column whose cells map to child: every session is stored, and the
    dry run says so, as the import then does."""
    rows = [
        ["kid", "2024-01-08", "Child", "30"],
        ["kid", "2024-01-15", "", "31"],
        ["kid", "2024-01-22", "", "33"],
    ]
    db, first = tmp_path / "p.sqlite", write_csv(tmp_path, rows[:2], header=HEADER)
    assert import_csv(capsys, db, _plain(tmp_path, 'population = "child"'), first)[0] == 0
    source = write_csv(tmp_path, rows, header=HEADER)  # the same file, one session longer
    stored = db.read_bytes()

    code, out, err = import_csv(capsys, db, _mapping(tmp_path), source, *more, "--dry-run")

    assert db.read_bytes() == stored
    assert (code, _errors(err)) == (0, []), err
    assert out == "checked 3 units: 1 to write, 2 already imported; checkpoint at row 0\n"
    code, out, err = import_csv(capsys, db, _mapping(tmp_path), source, *more)
    assert (code, _errors(err)) == (0, []), err
    assert out == "imported 3 units: 1 written, 2 already imported; checkpoint at row 4\n"
    assert _episodes(db) == {"kid": ("child", [True, True, False])}  # the child cutoff is 32
