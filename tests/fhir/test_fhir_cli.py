"""``alliancekit export fhir`` in-process, against the demo database on disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit.cli.main import main

from .conftest import DATA

#: The host's own identifier systems, so that stderr holds no warning about the placeholder ones.
OWN_SYSTEM = ("--identifier-system", "https://clinic.example.org/ids")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def export_fhir(
    capsys: pytest.CaptureFixture[str],
    db: Path | str,
    *options: str,
    out: Path | str,
    episode: str | None = None,
) -> tuple[int, str, str]:
    """``alliancekit export fhir --db DB [--episode EPISODE] --out OUT OPTIONS``: the exit code, stdout and
    stderr."""
    one = () if episode is None else ("--episode", episode)
    return run(capsys, "export", "fhir", "--db", str(db), *one, "--out", str(out), *options)


def strict_schema(tmp_path: Path, tighten: Callable[[dict[str, Any]], None]) -> Path:
    """The FHIR R4 schema with ``tighten`` applied to its definitions, written to a file of the test's."""
    schema = json.loads((DATA / "fhir.r4.schema.json").read_text(encoding="utf-8"))
    tighten(schema["definitions"])
    path = tmp_path / "strict.schema.json"
    path.write_text(json.dumps(schema))
    return path


def _first_episode(db: Path) -> str:
    from alliancekit import open_practice

    with open_practice(db) as practice:
        return next(iter(practice.store.episode_ids()))


def test_export_one_episode_as_a_valid_bundle(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episode = _first_episode(demo_db)[:12]
    out = tmp_path / "b" / "bundle.json"
    code, stdout, _ = export_fhir(
        capsys,
        demo_db,
        "--validate",
        "--type",
        "transaction",
        "--identifier-system",
        "https://clinic.example.org/ids",
        episode=episode,
        out=out,
    )
    assert code == 0
    assert "valid: every resource passes" in stdout
    bundle = json.loads(out.read_text())
    assert bundle["type"] == "transaction"
    first = bundle["entry"][0]
    assert first["request"] == {"method": "PUT", "url": f"Questionnaire/{first['resource']['id']}"}
    assert "https://clinic.example.org/ids/client" in out.read_text()


def test_export_all_as_ndjson(demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bulk"
    code, stdout, _ = export_fhir(
        capsys, demo_db, "--all", "--validate", "--purpose", "quality-improvement", out=out
    )
    assert code == 0
    assert "of 32 episodes" in stdout  # 24 clients seen alone, two couples, two families, a group of four
    manifest = json.loads((out / "manifest.json").read_text())
    assert {o["type"] for o in manifest["output"]} >= {
        "EpisodeOfCare",
        "Encounter",
        "Observation",
        "Provenance",
    }
    assert manifest["extension"]["https://alliancekit.dev/fhir/bulk/purpose"] == "quality-improvement"


def test_validate_reports_each_error_with_resource_and_path(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a schema in which no Encounter may be "finished": every attended session is then an error
    strict = strict_schema(
        tmp_path, lambda d: d["Encounter"]["properties"]["status"]["enum"].remove("finished")
    )
    episode = _first_episode(demo_db)
    code, _, err = export_fhir(
        capsys,
        demo_db,
        "--validate",
        "--schema",
        str(strict),
        *OWN_SYSTEM,
        episode=episode,
        out=tmp_path / "b.json",
    )
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith("invalid: Encounter/")
    assert ".resource.status: " in first
    assert "schema error(s)" in err


def test_export_needs_exactly_one_of_episode_and_all(
    demo_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["export", "fhir", "--db", str(demo_db), "--out", "x", "--episode", "a", "--all"])
    assert caught.value.code == 2
    code, _, err = export_fhir(capsys, "/nonexistent.sqlite", "--all", out="x")
    assert code == 2
    assert "no alliancekit database at /nonexistent.sqlite" in err


def test_validate_in_bulk_prints_the_first_errors_and_counts_the_rest(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strict = strict_schema(tmp_path, lambda d: d["Provenance"]["required"].append("policy"))
    code, _, err = export_fhir(
        capsys, demo_db, "--all", "--validate", "--schema", str(strict), *OWN_SYSTEM, out=tmp_path / "bulk"
    )
    assert code == 1
    # the report of records no mapping exports (the demo's client requests, say) comes apart from errors
    lines = [line for line in err.splitlines() if not line.startswith("not exported:")]
    assert sum(line.startswith("invalid: Provenance/") for line in lines) == 50
    # the path and the JSON Schema keyword, never jsonschema's message (it may quote a value)
    assert lines[0].endswith(" at $.policy: required")
    assert "is a required property" not in err
    more = int(lines[50].split()[2])
    assert lines[51] == f"alliancekit: {50 + more} schema error(s)"
    provenance = (tmp_path / "bulk" / "Provenance.ndjson").read_text().splitlines()
    assert 50 + more == len(provenance)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--all", "--base-url", "exports/2026"], "--base-url: absolute-url"),
        (["--all", "--base-url", "file:///srv/exports"], "--base-url: absolute-url"),
        (["--all", "--request", "$export"], "--request: absolute-url"),
        (["--all", "--identifier-system", "not a uri"], "--identifier-system: absolute-uri"),
        (
            ["--episode", "0", "--identifier-system", "https://x.example/ids#a"],
            "--identifier-system: absolute-uri",
        ),
        (["--episode", ""], "error: --episode: required"),
        (["--episode", "  "], "error: --episode: required"),
        (["--episode", "0", "--max-entries", "8"], "--max-entries: transaction-only"),
        (
            ["--episode", "0", "--type", "transaction", "--max-entries", "0"],
            "--max-entries: range (a whole number from 1 to 10000, or no limit for one Bundle)\n",
        ),
        (
            ["--episode", "0", "--type", "transaction", "--max-entries", "10001"],
            "--max-entries: range (a whole number from 1 to 10000, or no limit for one Bundle)\n",
        ),
        (["--all", "--type", "transaction", "--max-entries", "8"], "--type: not with --all"),
        (["--all", "--max-entries", "8"], "--max-entries: not with --all"),
    ],
)
def test_bad_export_options_exit_2_and_write_nothing(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], says: str
) -> None:
    before = demo_db.stat().st_mtime_ns
    code, _, err = export_fhir(capsys, demo_db, *extra, out=tmp_path / "out")
    assert code == 2
    assert says in err
    assert not (tmp_path / "out").exists()
    assert demo_db.stat().st_mtime_ns == before  # not even an audit entry


def test_transactions_split_with_max_entries_are_ndjson_bundles(
    demo_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "t.ndjson"
    episode = _first_episode(demo_db)
    code, stdout, err = export_fhir(
        capsys, demo_db, "--type", "transaction", "--max-entries", "8", "--validate", episode=episode, out=out
    )
    assert code == 0, err
    assert "valid: every resource passes the FHIR R4 schema" in stdout  # each Bundle of the split, checked
    bundles = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(bundles) > 1
    assert all(b["type"] == "transaction" and 1 <= len(b["entry"]) <= 8 for b in bundles)
