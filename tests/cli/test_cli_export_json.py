"""``alliancekit export fhir|csv --json``: what the export wrote, as one JSON document on standard output
(counts, files, what was not exported and why, Questionnaires it cannot contain, the schema check's
outcome, and ``ok``: whether the exit code is 0), as ``demo``, ``import`` and ``outbox dispatch`` print
theirs. Before, the exports printed their summary as text only, and a script learned of a missing
Questionnaire or a schema error from the exit code alone. With ``--out -`` the export itself is standard
output, so ``--json`` is refused there."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from alliancekit.cli.main import main
from alliancekit.fhir.records import NOT_EXPORTED_REASONS


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    assert main(["demo", "--db", str(path), "--clients", "12", "--today", "2026-01-31", "--quiet"]) == 0
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_a_bulk_export_s_summary_counts_what_its_files_hold(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bulk = tmp_path / "bulk"
    code, out, err = run(
        capsys, "export", "fhir", "--db", str(demo_db), "--all", "--out", str(bulk), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)  # the whole of standard output: one document
    lines = {f.name: len(f.read_text(encoding="utf-8").splitlines()) for f in bulk.glob("*.ndjson")}
    assert summary["files"] == lines
    assert summary["resources"] == sum(lines.values())
    assert summary["episodes"] == lines["EpisodeOfCare.ndjson"]
    assert summary["out"] == str(bulk)
    assert summary["withheld_episodes"] == 0
    assert summary["missing_questionnaires"] == []
    assert summary["schema"] is None  # not validated
    assert summary["ok"] is True
    for event_type, left_out in summary["not_exported"].items():
        assert left_out == {"count": left_out["count"], "reason": NOT_EXPORTED_REASONS[event_type]}
    assert "not exported:" not in err  # in the document instead
    code, text, _ = run(capsys, "export", "fhir", "--db", str(demo_db), "--all", "--out", str(tmp_path / "b"))
    assert code == 0
    assert text.startswith(f"wrote {summary['resources']} resources of {summary['episodes']} episodes")


def test_a_validated_export_s_summary_has_the_schema_outcome(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["export", "fhir", "--db", str(demo_db), "--all", "--out", str(tmp_path / "bulk"), "--validate"]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["schema"] == {"valid": True, "error_count": 0, "errors": []}
    assert summary["ok"] is True
    assert "valid:" not in out + err


def test_a_bundle_export_s_summary(demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "caseload", "--db", str(demo_db), "--json")
    episode = json.loads(out)[0]["episode_id"]
    bundle = tmp_path / "episode.json"
    code, out, err = run(
        capsys, "export", "fhir", "--db", str(demo_db), "--episode", episode, "--out", str(bundle), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    entries = len(json.loads(bundle.read_text(encoding="utf-8"))["entry"])
    assert summary == {
        "out": str(bundle),
        "episodes": 1,
        "resources": entries,
        "bundle_type": "collection",
        "bundles": 1,
        "missing_questionnaires": [],
        "placeholder_identifiers": True,  # no --identifier-system given
        "schema": None,
        "ok": True,
    }


def test_a_table_export_s_summary_names_its_files(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tables = tmp_path / "tables"
    code, out, err = run(
        capsys, "export", "csv", "--db", str(demo_db), "--identified", "--out", str(tables), "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["files"] == sorted(p.name for p in tables.iterdir())
    with (tables / "administrations.csv").open(encoding="utf-8") as rows:
        assert summary["administrations"] == sum(1 for _ in csv.DictReader(rows))
    with (tables / "episodes.csv").open(encoding="utf-8") as rows:
        assert summary["episodes"] == sum(1 for _ in csv.DictReader(rows))
    assert (summary["format"], summary["identified"], summary["ok"]) == ("csv", True, True)


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "fhir", "--all"],
        ["export", "fhir", "--episode", "0"],
        ["export", "csv", "--identified"],
    ],
)
def test_json_with_the_export_on_standard_output_is_refused(
    demo_db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv, "--db", str(demo_db), "--out", "-", "--json")
    assert code == 2
    message = "--json: not with --out - (standard output is the export itself; the summary is on stderr)"
    assert err == f"alliancekit: error: {message}\n"
    assert json.loads(out) == {"error": {"kind": "usage", "message": message}}
