"""A re-run of ``alliancekit import csv`` under the same checkpoint: it skips the rows up to the checkpoint
only when the file's units up to it are the ones committed then (a digest kept in the checkpoint says so).
Any other file under the same name (shorter, re-sorted, changed before the checkpoint's row) is read whole,
its idempotency keys recognising what is stored, so that what is new is written and nothing twice. SQLite
practice files on disk, through the CLI (and the FHIR import, which shares the writer, through the
library)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.demo import simulate_practice
from alliancekit.fhir import export_ndjson
from alliancekit.imports import ImportCheckpoint
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import ImportProgress, import_actor, run_import

from .conftest import CLINIC, import_csv, row, sessions, write_csv, write_mapping

SYSTEM = Actor("alliancekit-import", Role.SYSTEM, CLINIC, Purpose.OPERATIONS)
RECHECKED = re.compile(r"alliancekit: the checkpoint at row (\d+) does not match the source")
GAD = ["1", "2", "0", "1", "2", "1", "0"]


def _rechecked(err: str) -> list[int]:
    return [int(found) for found in RECHECKED.findall(err)]


def _counts(db: Path) -> dict[str, list[str]]:
    return {client: [s[0] for s in held] for client, held in sessions(db).items()}


def _saved(db: Path) -> ImportCheckpoint | None:
    with open_practice(db) as practice:
        return practice.import_checkpoint(SYSTEM, "history.csv")


def test_a_shorter_file_under_the_same_name_writes_its_new_client_and_new_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Next month's export under the same name, with fewer rows than the checkpoint's row: a new session of
    a client imported before, and a new client. No unit ends on the checkpoint's row."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    january = [row(f"c-{i}", "11/01/2024", phq9=str(i)) for i in range(1, 7)]
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, january))[0] == 0  # checkpoint at row 7
    february = [january[0], row("c-1", "08/02/2024", phq9="9"), row("c-9", "08/02/2024", phq9="12")]
    code, out, err = import_csv(capsys, db, mapping, write_csv(tmp_path, february))
    assert code == 0, err
    assert out == "imported 3 units: 2 written, 1 already imported; checkpoint at row 4\n"
    assert _rechecked(err) == [7]
    held = _counts(db)
    assert held["c-1"] == ["2024-01-11", "2024-02-08"]
    assert held["c-9"] == ["2024-02-08"]
    assert sum(len(days) for days in held.values()) == 8
    # the new checkpoint is the shorter file's: the same file again skips every row, checking nothing
    code, out, err = import_csv(capsys, db, mapping, write_csv(tmp_path, february))
    assert (code, out, _rechecked(err)) == (
        0,
        "imported 3 units: 0 written, 3 already imported; checkpoint at row 4\n",
        [],
    )


def test_a_dry_run_of_a_shorter_file_counts_what_the_import_would_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    january = [row(f"c-{i}", "11/01/2024", phq9=str(i)) for i in range(1, 7)]
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, january))[0] == 0
    february = [january[0], row("c-9", "08/02/2024", phq9="12")]
    code, out, err = import_csv(capsys, db, mapping, write_csv(tmp_path, february), "--dry-run")
    assert code == 0, err
    assert out.startswith("checked 2 units: 1 to write, 1 already imported")
    assert "the whole source would be checked" in err
    assert _rechecked(err) == [7]
    saved = _saved(db)
    assert saved is not None
    assert saved.row == 7
    assert sessions(db).keys() == {f"c-{i}" for i in range(1, 7)}


def test_a_resorted_file_with_a_new_client_first_and_the_checkpoint_inside_a_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same export re-sorted a month later: a new client sorts first, and a session imported as one
    row comes as two (one per measure), so the checkpoint's row falls inside it."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    first = [
        row("c-1", "11/01/2024", phq9="5"),
        row("c-2", "11/01/2024", phq9="6", gad=GAD),
        row("c-3", "11/01/2024", phq9="7"),
    ]
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, first))[0] == 0
    assert _saved(db).row == 4  # type: ignore[union-attr]
    resorted = [
        row("c-0", "05/01/2024", phq9="4"),
        first[0],
        row("c-2", "11/01/2024", phq9="6"),  # row 4: the checkpoint's row, inside c-2's session
        row("c-2", "11/01/2024", gad=GAD),
        first[2],
        row("c-4", "11/01/2024", phq9="8"),
    ]
    code, out, err = import_csv(capsys, db, mapping, write_csv(tmp_path, resorted))
    assert code == 0, err
    assert out == "imported 5 units: 2 written, 3 already imported; checkpoint at row 7\n"
    assert _rechecked(err) == [4]
    assert _counts(db) == {f"c-{i}": [day] for i, day in enumerate(["2024-01-05", *["2024-01-11"] * 4])}
    assert sessions(db)["c-2"][0][2] == (("gad-7", 7.0), ("phq-9", 6.0))  # nothing doubled


def test_a_row_changed_before_the_checkpoint_is_not_skipped_but_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same clients, dates and rows, one score changed before the checkpoint: not the record committed
    there, so the file is read whole and the changed session is refused by its key, not skipped."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    rows = [row(f"c-{i}", "11/01/2024", phq9=str(i)) for i in range(1, 4)]
    assert import_csv(capsys, db, mapping, write_csv(tmp_path, rows))[0] == 0
    rows[0] = row("c-1", "11/01/2024", phq9="9")
    code, _, err = import_csv(capsys, db, mapping, write_csv(tmp_path, rows))
    assert code == 1
    assert "error: row 2, idempotency_key: reused (refused by the library)" in err
    assert _rechecked(err) == [4]
    assert sessions(db)["c-1"][0][2] == (("phq-9", 1.0),)


def test_an_unchanged_file_resumes_after_its_checkpoint_without_reading_it_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The import stopped at a bad row after committing batches; the row fixed (after the checkpoint), the
    same command skips up to the checkpoint: the digest of the rows before it is the checkpoint's."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    rows = [row(f"c-{i}", "08/01/2024", phq9=str(i)) for i in range(1, 9)]
    rows[5] = row("c-6", "08/01/2024", phq9="99")  # row 7: above the measure's range
    source = write_csv(tmp_path, rows)
    assert import_csv(capsys, db, mapping, source, "--batch-size", "2")[0] == 1
    saved = _saved(db)
    assert saved is not None
    assert saved.row == 5
    assert re.fullmatch("[0-9a-f]{64}", saved.prefix)
    rows[5] = row("c-6", "08/01/2024", phq9="6")
    write_csv(tmp_path, rows)
    code, out, err = import_csv(capsys, db, mapping, source, "--batch-size", "2", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["written"], report["skipped"], report["rechecked"]) == (4, 4, 0)
    assert _rechecked(err) == []
    assert _counts(db) == {f"c-{i}": ["2024-01-08"] for i in range(1, 9)}


def test_a_checkpoint_saved_before_the_digest_reads_the_file_again_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    source = write_csv(tmp_path, [row(f"c-{i}", "08/01/2024", phq9=str(i)) for i in range(1, 4)])
    assert import_csv(capsys, db, mapping, source)[0] == 0
    old = _saved(db)
    assert old is not None
    with open_practice(db) as practice:  # as an earlier version saved it: no digest
        practice.save_import_checkpoint(SYSTEM, "history.csv", ImportCheckpoint(old.row, old.key, old.units))
    code, out, err = import_csv(capsys, db, mapping, source)
    assert (code, out, _rechecked(err)) == (
        0,
        "imported 3 units: 0 written, 3 already imported; checkpoint at row 4\n",
        [4],
    )
    code, out, err = import_csv(capsys, db, mapping, source)
    assert (code, out, _rechecked(err)) == (
        0,
        "imported 3 units: 0 written, 3 already imported; checkpoint at row 4\n",
        [],
    )


class _Stop(Exception):
    """Raised from the progress callback: the run stops after its first checkpoint, as a kill would."""


def test_an_interrupted_fhir_import_resumes_after_its_checkpoint(tmp_path: Path) -> None:
    simulate_practice(tmp_path / "demo.sqlite", clients=12, seed=7)
    with open_practice(tmp_path / "demo.sqlite") as practice:
        reader = Actor("exporter", Role.SUPERVISOR, "demo-clinic", Purpose.OPERATIONS)
        export_ndjson(practice, reader, tmp_path / "export", purpose="treatment")

    def stop(progress: ImportProgress) -> None:
        raise _Stop()

    with open_practice(tmp_path / "imported.sqlite") as practice:

        def source() -> FhirSource:
            return FhirSource(tmp_path / "export", practice.plugins.measures())

        with pytest.raises(_Stop):
            run_import(
                practice, source(), clinic_id="demo-clinic", source_id="x", batch_size=2, progress=stop
            )
        saved = practice.import_checkpoint(import_actor("demo-clinic"), "x")
        assert saved is not None
        assert saved.units == 2
        assert saved.prefix
        resumed = run_import(practice, source(), clinic_id="demo-clinic", source_id="x", batch_size=2)
        assert resumed.errors == ()
        assert resumed.rechecked == 0
        assert (resumed.written, resumed.skipped) == (resumed.units - 2, 2)
        # a checkpoint past the source's end (another export under the name): read whole, nothing doubled
        practice.save_import_checkpoint(
            import_actor("demo-clinic"), "x", ImportCheckpoint(10_000, saved.key, 2, saved.prefix)
        )
        again = run_import(practice, source(), clinic_id="demo-clinic", source_id="x")
        assert (again.rechecked, again.written, again.skipped) == (10_000, 0, resumed.units)
