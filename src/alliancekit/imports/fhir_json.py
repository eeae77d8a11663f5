"""Reading values out of FHIR JSON as alliancekit's export writes it, tolerant of anything else (a value
that is not there, or not in the expected shape, reads as ``None``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from alliancekit.fhir.codes import RESOURCE_ID_SYSTEM

#: Where a resource is in its source, to read it again: the file's number, the offset and length of its
#: line (or Bundle), its entry in that Bundle (-1: none), its row for errors, and a keyed digest of the bytes.
Place = tuple[int, int, int, int, int, str]


class Resource:
    """One resource of the source, and where it was read (for row errors, and to read it again)."""

    __slots__ = ("at", "data", "file", "line")

    def __init__(self, data: dict[str, Any], file: str, line: int, at: Place | None = None) -> None:
        self.data, self.file, self.line, self.at = data, file, line, at


class UrlTable(Protocol):
    """The full URLs of a Bundle's entries: ``fullUrl`` -> (resource type, id)."""

    def __contains__(self, url: object) -> bool: ...

    def __getitem__(self, url: str) -> tuple[str, str]: ...


def coding_of(concepts: Any, system: str) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in as_list(as_dict(concept).get("coding")):
            if isinstance(coding, dict) and coding.get("system") == system:
                return str(coding.get("code"))
    return None


def extension_of(resource: Mapping[str, Any], url: str, system: str) -> str | None:
    for ext in as_list(resource.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == url:
            return coding_of({"coding": [ext.get("valueCoding")]}, system)
    return None


def ref_id(reference: Any, rtype: str, full_urls: UrlTable) -> str | None:
    """The id a reference names: ``Type/id`` (NDJSON), or a Bundle entry's ``fullUrl``."""
    if isinstance(reference, dict):
        ref = reference.get("reference")
        if isinstance(ref, str) and ref.startswith(f"{rtype}/"):
            return ref.split("/", 1)[1]
        if isinstance(ref, str) and ref in full_urls:
            kind, rid = full_urls[ref]
            return rid if kind == rtype else None
    return None


#: The parties whose identifiers the import reads (a client, a clinician, another participant), by the
#: resource type a reference names them as: ``kind`` of :data:`~alliancekit.fhir.identity.KINDS`.
PARTIES = {"Patient": "client", "Practitioner": "practitioner", "RelatedPerson": "participant"}


def other_system(data: Mapping[str, Any], systems: Mapping[str, str]) -> str | None:
    """The path of the first reference of ``data`` (a resource) naming a party by an identifier in a
    system other than its kind's in ``systems`` (``Patient`` -> the client system, ...; an untyped one, in
    none of them); ``None`` when there is none. The import reads an identifier only in its own system: the
    same value in another organisation's system is another person."""

    def walk(node: Any, path: str) -> str | None:
        if isinstance(node, list):
            return next((f for n in node if (f := walk(n, path)) is not None), None)
        if not isinstance(node, dict):
            return None
        identifier, kind = node.get("identifier"), node.get("type")
        party = kind if isinstance(kind, str) and kind in systems else None
        if isinstance(identifier, dict) and (party is not None or kind is None):
            allowed = [systems[party]] if party is not None else list(systems.values())
            if identifier.get("system") not in allowed:
                return f"{path}.identifier.system"
        return next((f for k, v in node.items() if (f := walk(v, f"{path}.{k}")) is not None), None)

    kind = str(data.get("resourceType"))
    # the resource's own identifier (a QuestionnaireResponse's one) names the record, not a party
    return next((f for k, v in data.items() if k != "identifier" and (f := walk(v, f"{kind}.{k}"))), None)


def identifier_of(reference: Any) -> str | None:
    if isinstance(reference, dict) and isinstance(reference.get("identifier"), dict):
        value = reference["identifier"].get("value")
        return value if isinstance(value, str) and value else None
    return None


def key_id(resource: Mapping[str, Any]) -> str:
    """What an import keys the records of ``resource`` on: the value of its one identifier in the system
    alliancekit's export names every resource in (:data:`~alliancekit.fhir.codes.RESOURCE_ID_SYSTEM`), which
    a FHIR server keeps when it gives the resource a logical id of its own; else (no such identifier, one in
    another system, or two that differ) its logical ``id``, as before identifiers were read. The export
    writes its id as that value: its own resources are keyed as they always were."""
    named = as_list(resource.get("identifier")) or [resource.get("identifier")]  # a list, or one
    values = [i.get("value") for i in named if isinstance(i, dict) and i.get("system") == RESOURCE_ID_SYSTEM]
    if values and all(isinstance(v, str) and v for v in values) and len(set(values)) == 1:
        return str(values[0])
    return str(resource["id"])


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def sub_extensions(resource: Mapping[str, Any], url: str) -> list[dict[str, Any]]:
    """The parts (``url`` -> the extension) of each complex extension ``url`` of ``resource``, in order."""
    found = []
    for ext in resource.get("extension", []) if isinstance(resource.get("extension"), list) else []:
        if isinstance(ext, dict) and ext.get("url") == url:
            parts = ext.get("extension")
            found.append(
                {p["url"]: p for p in parts if isinstance(p, dict) and isinstance(p.get("url"), str)}
                if isinstance(parts, list)
                else {}
            )
    return found


def extension_value(resource: Mapping[str, Any], url: str) -> Any:
    """The ``value[x]`` of the first extension ``url`` of ``resource``."""
    for ext in resource.get("extension", []) if isinstance(resource.get("extension"), list) else []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for k, v in ext.items() if k.startswith("value")), None)
    return None


def notes(resource: Mapping[str, Any]) -> list[str]:
    """The texts of ``note``."""
    found = as_list(resource.get("note"))
    return [n["text"] for n in found if isinstance(n, dict) and isinstance(n.get("text"), str)]
