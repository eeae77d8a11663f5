"""An export loaded into a FHIR server and exported again from it keeps each resource's ``identifier`` but
gets logical ids of the server's (every reference following them). Imported into the practice that holds
the first export's import, its episodes, sessions and other records are recognised by the identifier the
export wrote (system and value), so nothing is written twice; an identifier in another system is no match,
and a source without identifiers is keyed on its ids, as before. The demo practice, exported and imported
through the CLI, SQLite files on disk."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.cli.main import main
from alliancekit.fhir.codes import RESOURCE_ID_SYSTEM

from .conftest import run

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


def _resources(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        f.name: [json.loads(line) for line in f.read_text("utf-8").splitlines() if line.strip()]
        for f in sorted(folder.glob("*.ndjson"))
    }


def _references(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every ``reference`` to a resource in ``ids`` (``Type/id``, or one of its versions)
    following its new id."""
    if isinstance(value, dict):
        out = {k: _references(v, ids) for k, v in value.items()}
        reference = value.get("reference")
        if isinstance(reference, str):
            # a version's reference (Goal/<id>/_history/<n>) follows its resource too
            resource, _, version = reference.partition("/_history/")
            if resource in ids:
                out["reference"] = ids[resource] + (f"/_history/{version}" if version else "")
        return out
    if isinstance(value, list):
        return [_references(v, ids) for v in value]
    return value


def _identified(resource: dict[str, Any], system: str | None) -> dict[str, Any]:
    """``resource`` with the export's resource-id identifier kept (``RESOURCE_ID_SYSTEM``), moved to
    another system, or removed (``None``)."""
    named = resource.get("identifier")
    single = isinstance(named, dict)
    kept = []
    for identifier in [named] if single else named or []:
        if identifier.get("system") != RESOURCE_ID_SYSTEM:
            kept.append(identifier)
        elif system is not None:
            kept.append({**identifier, "system": system})
    out = {k: v for k, v in resource.items() if k != "identifier"}
    if kept:
        out["identifier"] = kept[0] if single else kept
    return out


def _as_a_server_exports(
    source: Path, folder: Path, *, system: str | None = RESOURCE_ID_SYSTEM, new_ids: bool = True
) -> Path:
    """``source`` as a FHIR server exports it again: every resource a logical id of the server's (each
    reference following it, consistently), the identifiers as they were (or in ``system``, or none)."""
    found = _resources(source)
    new = {
        f"{r['resourceType']}/{r['id']}": str(uuid.uuid5(uuid.NAMESPACE_URL, r["id"]))
        for rs in found.values()
        for r in rs
        if new_ids
    }
    ids = {old: f"{old.split('/')[0]}/{rid}" for old, rid in new.items()}
    folder.mkdir()
    (folder / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
    for name, resources in found.items():
        lines = []
        for resource in resources:
            moved = _identified(_references(resource, ids), system)
            moved["id"] = new.get(f"{resource['resourceType']}/{resource['id']}", resource["id"])
            lines.append(json.dumps(moved))
        (folder / name).write_text("\n".join(lines) + "\n", "utf-8")
    return folder


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
    found = _resources(export)
    assert len(found["EpisodeOfCare.ndjson"]) == 20
    for name in ("Encounter", "Flag", "Goal", "Observation", "QuestionnaireResponse", "CarePlan"):
        assert found[f"{name}.ndjson"], name
        assert all(r["id"] in json.dumps(r.get("identifier")) for r in found[f"{name}.ndjson"])


def test_a_servers_export_of_an_imported_export_writes_nothing_twice(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served, db = _as_a_server_exports(export, tmp_path / "served"), tmp_path / "p.sqlite"
    ids = {r["id"] for rs in _resources(served).values() for r in rs}
    assert not ids & {r["id"] for rs in _resources(export).values() for r in rs}  # every id rewritten
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
        _as_a_server_exports(export, tmp_path / "served"),
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
    served = _as_a_server_exports(export, tmp_path / "served", system=OTHER_SYSTEM)
    db = tmp_path / "p.sqlite"
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 20 written")
    episodes, events, _ = _held(db)
    assert _import(capsys, served, db, "server").startswith("imported 20 units: 20 written, 0 already")
    assert _held(db)[:2] == (2 * episodes, 2 * events)


@pytest.mark.parametrize("new_ids", [False, True], ids=["ids kept", "ids rewritten"])
def test_a_source_without_identifiers_is_keyed_on_its_ids(
    new_ids: bool, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = _as_a_server_exports(export, tmp_path / "bare", system=None, new_ids=new_ids)
    assert not any(RESOURCE_ID_SYSTEM in f.read_text("utf-8") for f in bare.glob("*.ndjson"))
    db = tmp_path / "p.sqlite"
    assert _import(capsys, export, db, "ours").startswith("imported 20 units: 20 written")
    episodes, events, _ = _held(db)
    written = 20 if new_ids else 0
    assert _import(capsys, bare, db, "bare").startswith(f"imported 20 units: {written} written")
    assert _held(db)[:2] == ((2 if new_ids else 1) * episodes, (2 if new_ids else 1) * events)
