"""An export loaded into a FHIR server and exported again from it keeps each resource's ``identifier`` but
gets logical ids of the server's (every reference following them). Imported into the practice that holds
the first export's import, its episodes, sessions and other records are recognised by the identifier the
export wrote (system and value), so nothing is written twice; an identifier in another system is no match,
and a source without identifiers is keyed on its ids, as before. The demo practice, exported and imported
through the CLI, SQLite files on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.fhir.codes import RESOURCE_ID_SYSTEM

from .conftest import run
from .fhir_served import as_a_server_exports, resources

CLINIC = "demo-clinic"
READER = Actor("sup", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)
AUDITOR = Actor("adm", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
OTHER_SYSTEM = "https://other.example/fhir/NamingSystem/resource-id"


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo practice's Bulk Data export (every kind of record the importer reads)."""
    folder = tmp_path_factory.mktemp("demo")
    db, out = folder / "demo.sqlite", folder / "export"
    assert main(["demo", "--db", str(db), "--clients", "12", "--today", "2026-11-30"]) == 0
    assert main(["export", "fhir", "--db", str(db), "--all", "--out", str(out), "--time-zone", "UTC"]) == 0
    return out


def _import(capsys: pytest.CaptureFixture[str], source: Path, db: Path, source_id: str) -> str:
    code, out, err = run(
        capsys, "import", "fhir", str(source), "--db", str(db), "--create", "--source-id", source_id
    )
    assert code == 0, err
    return out.splitlines()[0]


def _held(db: Path) -> tuple[int, int, int]:
    """Episodes, events (every episode's timeline), and refused audit entries."""
    with open_practice(db) as p:
        rows = p.caseload(READER, include_closed=True)
        events = sum(len(p.timeline(READER, r.episode_id)) for r in rows)
        refused = sum(e.outcome not in ("allowed", "replayed") for e in p.audit_entries(AUDITOR))
    return len(rows), events, refused


def test_the_export_has_what_the_cases_need(export: Path) -> None:
    found = resources(export)
    assert len(found["EpisodeOfCare.ndjson"]) == 20
    for name in ("Encounter", "Flag", "Goal", "Observation", "QuestionnaireResponse", "CarePlan"):
        assert found[f"{name}.ndjson"], name
        assert all(r["id"] in json.dumps(r.get("identifier")) for r in found[f"{name}.ndjson"])


def test_a_servers_export_of_an_imported_export_writes_nothing_twice(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served, db = as_a_server_exports(export, tmp_path / "served"), tmp_path / "p.sqlite"
    ids = {r["id"] for rs in resources(served).values() for r in rs}
    assert not ids & {r["id"] for rs in resources(export).values() for r in rs}  # every id rewritten
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 20 written")
    held = _held(db)
    assert held[2] == 0
    assert _import(capsys, served, db, "server").startswith("imported 20 units: 0 written, 20 already")
    assert _held(db) == held


def test_a_servers_export_imported_first_is_recognised_in_our_own_export(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The other order; and the server's export alone brings back what ours does."""
    served, db, ours = (
        as_a_server_exports(export, tmp_path / "served"),
        tmp_path / "p.sqlite",
        tmp_path / "o",
    )
    assert _import(capsys, served, db, "server").startswith("imported 20 units: 20 written")
    assert _import(capsys, export, ours, "ours").startswith("imported 20 units: 20 written")
    assert _held(db) == _held(ours)
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 0 written, 20 already")
    assert _held(db) == _held(ours)


def test_identifiers_of_another_system_are_no_match(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = as_a_server_exports(export, tmp_path / "served", system=OTHER_SYSTEM)
    db = tmp_path / "p.sqlite"
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 20 written")
    episodes, events, _ = _held(db)
    assert _import(capsys, served, db, "server").startswith("imported 20 units: 20 written, 0 already")
    assert _held(db)[:2] == (2 * episodes, 2 * events)


@pytest.mark.parametrize("new_ids", [False, True], ids=["ids kept", "ids rewritten"])
def test_a_source_without_identifiers_is_keyed_on_its_ids(
    new_ids: bool, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = as_a_server_exports(export, tmp_path / "bare", system=None, new_ids=new_ids)
    assert not any(RESOURCE_ID_SYSTEM in f.read_text("utf-8") for f in bare.glob("*.ndjson"))
    db = tmp_path / "p.sqlite"
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 20 written")
    episodes, events, _ = _held(db)
    written = 20 if new_ids else 0
    assert _import(capsys, bare, db, "bare").startswith(f"imported 20 units: {written} written")
    assert _held(db)[:2] == ((2 if new_ids else 1) * episodes, (2 if new_ids else 1) * events)
