"""A FHIR server's export of an alliancekit export, made in the test: each resource gets a logical id of
the server's (every reference following it, consistently) and keeps its identifiers, as a server that
loaded the export and exported it again would leave them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from alliancekit.fhir.codes import RESOURCE_ID_SYSTEM


def resources(folder: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        f.name: [json.loads(line) for line in f.read_text("utf-8").splitlines() if line.strip()]
        for f in sorted(folder.glob("*.ndjson"))
    }


def references(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every ``reference`` to a resource in ``ids`` (``Type/id``, or one of its versions)
    following its new id."""
    if isinstance(value, dict):
        out = {k: references(v, ids) for k, v in value.items()}
        reference = value.get("reference")
        if isinstance(reference, str):
            # a version's reference (Goal/<id>/_history/<n>) follows its resource too
            resource, _, version = reference.partition("/_history/")
            if resource in ids:
                out["reference"] = ids[resource] + (f"/_history/{version}" if version else "")
        return out
    if isinstance(value, list):
        return [references(v, ids) for v in value]
    return value


def identified(resource: dict[str, Any], system: str | None) -> dict[str, Any]:
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


def as_a_server_exports(
    source: Path, folder: Path, *, system: str | None = RESOURCE_ID_SYSTEM, new_ids: bool = True
) -> Path:
    """``source`` as a FHIR server exports it again: every resource a logical id of the server's (each
    reference following it, consistently), the identifiers as they were (or in ``system``, or none)."""
    found = resources(source)
    new = {
        f"{r['resourceType']}/{r['id']}": str(uuid.uuid5(uuid.NAMESPACE_URL, r["id"]))
        for rs in found.values()
        for r in rs
        if new_ids
    }
    ids = {old: f"{old.split('/')[0]}/{rid}" for old, rid in new.items()}
    folder.mkdir()
    (folder / "manifest.json").write_bytes((source / "manifest.json").read_bytes())
    for name, listed in found.items():
        lines = []
        for resource in listed:
            moved = identified(references(resource, ids), system)
            moved["id"] = new.get(f"{resource['resourceType']}/{resource['id']}", resource["id"])
            lines.append(json.dumps(moved))
        (folder / name).write_text("\n".join(lines) + "\n", "utf-8")
    return folder
