"""Check resources against HL7's FHIR R4 JSON Schema, resource by resource, with precise error paths.

The schema (``fhir.schema.json`` of FHIR 4.0.1, published CC0) ships with the package under
``alliancekit/schemas/fhir/``, so ``alliancekit export fhir --validate`` works from an installed wheel.
Validating against the root schema gives vague errors (it is a ``oneOf`` over every resource type), so each
resource is validated against ``{"$ref": "#/definitions/<resourceType>"}`` with the schema's definitions,
a validator compiled once per type. A Bundle is checked as a shell (its entries' resources as plain
objects) and then entry by entry. The schema checks structure and inlined value sets, not FHIRPath
invariants, terminology bindings or profiles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs
import jsonschema

from alliancekit.errors import ValidationError


@attrs.frozen
class SchemaError:
    """One error: which resource, where in it, and what rule failed."""

    resource: str
    """``<resourceType>/<id>`` (or the entry index in a Bundle when a resource has no id)."""
    path: str
    """JSON path inside the resource, e.g. ``$.item[0].answer[0]``."""
    message: str

    def __str__(self) -> str:
        return f"{self.resource} at {self.path}: {self.message}"


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def packaged_schema_path() -> Path:
    return Path(str(files("alliancekit") / "schemas" / "fhir" / "fhir.r4.schema.json"))


class R4Schema:
    """The FHIR R4 JSON Schema with one compiled validator per resource type, built on first use."""

    def __init__(self, path: str | Path | None = None) -> None:
        source = Path(path) if path is not None else packaged_schema_path()
        try:
            schema = json.loads(source.read_text(encoding="utf-8"))
            self.definitions: Mapping[str, Any] = schema["definitions"]
            self.resource_types = frozenset(
                ref["$ref"].rsplit("/", 1)[1] for ref in self.definitions["ResourceList"]["oneOf"]
            )
        except (ValueError, LookupError, TypeError, AttributeError):  # not JSON, or not the schema's shape
            raise ValidationError(
                "schema", "fhir-schema", "not the FHIR R4 JSON Schema (fhir.schema.json)"
            ) from None
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    def _validator(self, type_name: str, shell: bool = False) -> jsonschema.protocols.Validator:
        key = f"{type_name}#shell" if shell else type_name
        found = self._validators.get(key)
        if found is None:
            definitions = dict(self.definitions)
            if shell:  # entries' resources are validated one by one, with their own type's validator
                definitions["ResourceList"] = {"type": "object"}
            found = jsonschema.Draft6Validator(
                {"$ref": f"#/definitions/{type_name}", "definitions": definitions}
            )
            self._validators[key] = found
        return found

    def errors(self, resource: Any, label: str | None = None) -> Iterator[SchemaError]:
        """Every schema error of ``resource`` (a Bundle's entries included)."""
        rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
        name = label or (f"{rtype}/{resource.get('id')}" if rtype else "resource")
        if not isinstance(rtype, str) or rtype not in self.resource_types:
            yield SchemaError(name, "$.resourceType", "not a FHIR R4 resource type")
            return
        bundle = rtype == "Bundle"
        for found in self._validator(rtype, shell=bundle).iter_errors(resource):
            yield SchemaError(name, _path(found.absolute_path), found.message[:300])
        if bundle:
            for i, entry in enumerate(resource.get("entry") or ()):
                inner = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(inner, Mapping):
                    inner_name = f"{inner.get('resourceType')}/{inner.get('id')}"
                    for error in self.errors(inner, inner_name):
                        yield attrs.evolve(error, path=f"$.entry[{i}].resource{error.path[1:]}")

    def check(self, resource: Any) -> list[SchemaError]:
        return list(self.errors(resource))
