"""The line ``alliancekit import`` ends a failed run with says what to do about the error it stopped at, for
each kind of error: running the same command again resumes only after a checkpoint of committed rows, and
only a row a user can fix is worth fixing. (Before, every failed import said "stopped at the first row with
an error; fix the file and run again to resume", also for a FHIR source that holds no episode, where there
is no row to fix and nothing to resume, and a dry run said nothing.)"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from alliancekit.cli.main import main

EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
MAPPING = EXAMPLES / "openfit-style.toml"
SOURCE = EXAMPLES / "openfit-style.csv"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def hint(err: str) -> str:
    """The hint: the stderr line after the errors and notes (``alliancekit: ...``), not the removal's."""
    lines = [line for line in err.splitlines() if line.startswith("alliancekit: ")]
    return lines[0].removeprefix("alliancekit: ")


def _csv(tmp_path: Path, edit: dict[tuple[int, str], str], header: list[str] | None = None) -> Path:
    """The example CSV with the cells ``edit`` names (row as a spreadsheet numbers it, column) changed."""
    rows = list(csv.DictReader(SOURCE.read_text(encoding="utf-8").splitlines()))
    for (row, column), value in edit.items():
        rows[row - 2][column] = value
    out = io.StringIO()
    names = list(rows[0])
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header or names)
    writer.writerows([r[n] for n in names] for r in rows)
    path = tmp_path / "history.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _import_csv(tmp_path: Path, source: Path, *more: str) -> list[str]:
    return [
        "import",
        "csv",
        "--db",
        str(tmp_path / "p.sqlite"),
        "--mapping",
        str(MAPPING),
        str(source),
        *more,
    ]


# -- FHIR ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_fhir_source_without_episodes_is_not_told_to_resume(
    tmp_path: Path, dry_run: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "export"
    source.mkdir()
    (source / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "p1"}\n')
    argv = ["import", "fhir", "--db", str(tmp_path / "p.sqlite"), "--create", str(source)]
    code, _, err = run(capsys, *argv, *(["--dry-run"] if dry_run else []))
    assert code == 1
    assert "row 1, EpisodeOfCare: required" in err
    nothing = "nothing would be imported" if dry_run else "nothing was imported"
    assert hint(err) == (
        f"{nothing}: the source holds no episodes; name an export of episodes, as `alliancekit export fhir` "
        "writes"
    )
    assert "resume" not in err


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_fhir_source_with_a_bad_resource_says_nothing_of_it_was_imported(
    tmp_path: Path, dry_run: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "export"
    source.mkdir()
    (source / "EpisodeOfCare.ndjson").write_text('{"resourceType": "EpisodeOfCare"}\n')
    argv = ["import", "fhir", "--db", str(tmp_path / "p.sqlite"), "--create", str(source)]
    code, _, err = run(capsys, *argv, *(["--dry-run"] if dry_run else []))
    assert code == 1
    nothing = "nothing would be imported" if dry_run else "nothing was imported"
    assert hint(err) == (
        f"{nothing}: a FHIR source is imported only when every resource in it reads; fix the errors listed, "
        "then run the same command again"
    )
    assert not (tmp_path / "p.sqlite").exists()


def test_an_episode_a_lockboxed_export_withheld_records_of_is_not_to_be_fixed_by_editing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.imports.test_import_lockboxed_export import _export

    source, _ = _export(tmp_path, "class-consultation", "ndjson")
    code, _, err = run(capsys, "import", "fhir", "--db", str(tmp_path / "p.sqlite"), "--create", str(source))
    assert code == 1
    assert "refused by the library; the export says records were withheld from it" in err
    assert hint(err) == (
        "stopped at row 1: the export withheld records this episode needs (a lockbox), which editing the "
        "file cannot supply; leave the episode out of the source, then run the same command again to resume"
    )


# -- CSV ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_header_that_does_not_fit_the_mapping_says_nothing_was_imported(
    tmp_path: Path, dry_run: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    names = SOURCE.read_text(encoding="utf-8").splitlines()[0].split(",")
    doubled = [*names[:-1], "Clinician"]  # the mapped Clinician column twice
    source = _csv(tmp_path, {}, header=doubled)
    code, _, err = run(
        capsys, *_import_csv(tmp_path, source, "--create", *(["--dry-run"] if dry_run else []))
    )
    assert code == 1
    assert "row 1, Clinician: duplicate-column" in err
    nothing = "nothing would be imported" if dry_run else "nothing was imported"
    assert hint(err) == (
        f"{nothing}: the header (row 1) does not fit the mapping; fix the file or the mapping, then run the "
        "same command again"
    )


def test_a_bad_row_after_a_checkpoint_is_fixed_and_the_import_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, {(10, "ORS Total"): "99"})
    code, out, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--batch-size", "2"))
    assert code == 1
    assert "checkpoint at row 8" in out
    assert hint(err) == (
        "stopped at row 10, the first with an error: imported up to the checkpoint at row 8; fix the file "
        "and run the same command again to resume after it"
    )
    _csv(tmp_path, {})  # the file fixed, as the hint says: the same command resumes after row 8
    code, out, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--batch-size", "2"))
    assert code == 0, err
    assert "7 already imported" in out


def test_a_bad_row_before_any_checkpoint_says_nothing_was_imported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, {(2, "ORS Total"): "99"})
    code, _, err = run(capsys, *_import_csv(tmp_path, source, "--create"))
    assert code == 1
    assert hint(err) == (
        "stopped at row 2, the first with an error: this run imported nothing; fix the file and run the same "
        "command again"
    )
    assert "resume" not in err


def test_a_row_the_library_refuses_is_fixed_and_the_import_resumed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, {(7, "Session Date"): "01/01/2099"})  # the first episode's last session
    code, _, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--batch-size", "1"))
    assert code == 1
    assert 'row 7, column "Session Date" (session.held_on): future (refused by the library)' in err
    assert hint(err) == (
        "stopped at row 7, the first with an error: imported up to the checkpoint at row 6; fix the file and "
        "run the same command again to resume after it"
    )


def test_a_dry_run_says_where_the_import_would_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, {(10, "ORS Total"): "99", (20, "ORS Total"): "99"})
    code, out, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--dry-run"))
    assert code == 1
    assert "7 to write" in out
    assert hint(err) == (
        "the import would stop at row 10, the first with an error (7 units to write before it); fix the rows "
        "listed before importing"
    )
    assert not (tmp_path / "p.sqlite").exists()


def test_an_import_without_errors_gives_no_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *_import_csv(tmp_path, SOURCE, "--create"))
    assert (code, err) == (0, "")


# -- --json -------------------------------------------------------------------------------------------------


def test_the_json_result_carries_the_hint_and_the_removal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --json the document says what the text says: the hint and the new database's removal (before,
    they were only on stderr, and a script reading the document saw neither)."""
    db = tmp_path / "p.sqlite"
    source = _csv(tmp_path, {(2, "ORS Total"): "99"})
    code, _, text_err = run(capsys, *_import_csv(tmp_path, source, "--create"))
    assert code == 1
    code, out, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--json"))
    assert code == 1
    document = json.loads(out)
    assert document["hint"] == hint(text_err) == hint(err)
    assert document["removed"] == f"the new database {db} was removed (nothing was imported)"
    assert f"alliancekit: {document['removed']}" in err.splitlines()
    assert not db.exists()


def test_the_json_result_of_a_dry_run_carries_its_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path, {(10, "ORS Total"): "99"})
    code, out, err = run(capsys, *_import_csv(tmp_path, source, "--create", "--dry-run", "--json"))
    assert code == 1
    document = json.loads(out)
    assert document["hint"] == hint(err)
    assert document["hint"].startswith("the import would stop at row 10")
    assert document["removed"] is None


def test_the_json_result_without_errors_has_no_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *_import_csv(tmp_path, SOURCE, "--create", "--json"))
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert (document["hint"], document["removed"]) == (None, None)
