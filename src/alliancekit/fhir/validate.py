"""Check resources against HL7's FHIR R4 JSON Schema, resource by resource, with precise error paths.

The schema (``fhir.schema.json`` of FHIR 4.0.1, published CC0) ships with the package under
``alliancekit/schemas/fhir/``, so ``alliancekit export fhir --validate`` works from an installed wheel.
Validating against the root schema is slow and gives vague errors (it is a ``oneOf`` over every resource
type), so each resource is checked against its own type's definition only: first by a check compiled once per
definition (:mod:`.schema_check`, many times faster than jsonschema), and only a resource it does not
pass by jsonschema, against ``{"$ref": "#/definitions/<resourceType>"}`` with the schema's definitions (a
validator compiled once per type), for the errors. A Bundle is checked as a shell (its entries' resources as
plain objects) and then entry by entry; a contained resource that is not valid, by its own type's definition.
The schema checks structure and inlined value sets, not FHIRPath invariants, terminology bindings or profiles.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from importlib.resources import files
from pathlib import Path
from typing import Any

import attrs
import jsonschema

from alliancekit.errors import ValidationError
from alliancekit.fhir.schema_check import FastChecks

#: What a Bundle's shell checks its entries' resources as (each is then checked by its own type).
_SHELL = {"ResourceList": {"type": "object"}}
#: How an element of FHIR is named: an unexpected property is named in an error only when it reads as one
#: (a key of another shape may be anything, client data included).
_ELEMENT_NAME = re.compile(r"_?[A-Za-z][A-Za-z0-9_]{0,63}")


@attrs.frozen
class SchemaError:
    """One error: which resource, where in it, and what rule failed."""

    resource: str
    """``<resourceType>/<id>`` (or the entry index in a Bundle when a resource has no id)."""
    path: str
    """JSON path inside the resource, e.g. ``$.item[0].answer[0]``: of the element a missing or unexpected
    property (rules ``required``, ``additionalProperties``) would be, e.g. ``$.code``."""
    message: str
    """jsonschema's message, which may quote the value: for the resource's own author (an export's)."""
    rule: str = ""
    """The JSON Schema keyword that failed: ``type``, ``enum``, ``required``, ``additionalProperties``..."""

    def __str__(self) -> str:
        return f"{self.resource} at {self.path}: {self.message}"


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _elements(found: jsonschema.ValidationError) -> list[str]:
    """The path of each element a jsonschema error is about: for ``required``, each missing property; for
    ``additionalProperties``, each unexpected one (``?`` for one whose name does not read as an element's)."""
    at = _path(found.absolute_path)
    instance, value = found.instance, found.validator_value
    if found.validator == "required" and isinstance(instance, Mapping) and isinstance(value, list):
        return [f"{at}.{name}" for name in value if name not in instance]
    if found.validator == "additionalProperties" and isinstance(instance, Mapping):
        known = found.schema.get("properties", {}) if isinstance(found.schema, Mapping) else {}
        return [
            f"{at}.{name if _ELEMENT_NAME.fullmatch(str(name)) else '?'}"
            for name in instance
            if name not in known
        ]
    return [at]


def packaged_schema_path() -> Path:
    return Path(str(files("alliancekit") / "schemas" / "fhir" / "fhir.r4.schema.json"))


@functools.cache
def packaged_schema() -> R4Schema:
    """The packaged schema, read once per process (its checks are compiled as they are first needed)."""
    return R4Schema()


class R4Schema:
    """The FHIR R4 JSON Schema: a fast check per definition and, for the errors of a resource that fails it, a
    jsonschema validator per resource type, each built on first use."""

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
        self._fast = FastChecks(self.definitions)
        self._fast_shell = FastChecks(self.definitions, _SHELL)

    def _validator(self, type_name: str, shell: bool = False) -> jsonschema.protocols.Validator:
        key = f"{type_name}#shell" if shell else type_name
        found = self._validators.get(key)
        if found is None:
            definitions = dict(self.definitions)
            if shell:  # entries' resources are validated one by one, with their own type's validator
                definitions.update(_SHELL)
            found = jsonschema.Draft6Validator(
                {"$ref": f"#/definitions/{type_name}", "definitions": definitions}
            )
            self._validators[key] = found
        return found

    def errors(self, resource: Any, label: str | None = None, entries: bool = True) -> Iterator[SchemaError]:
        """Every schema error of ``resource`` (a Bundle's entries included, unless ``entries`` is false: then
        the caller checks them one by one)."""
        rtype = resource.get("resourceType") if isinstance(resource, Mapping) else None
        name = label or (f"{rtype}/{resource.get('id')}" if rtype else "resource")
        if not isinstance(rtype, str) or rtype not in self.resource_types:
            yield SchemaError(name, "$.resourceType", "not a FHIR R4 resource type", "enum")
            return
        bundle = rtype == "Bundle"
        if (self._fast if entries else self._fast_shell).valid(rtype, resource):
            return  # the valid (the commonest) never reach jsonschema
        seen: set[tuple[str, str]] = set()
        for found in self._validator(rtype, shell=bundle).iter_errors(resource):
            inner = found.instance
            if found.validator == "oneOf" and isinstance(inner, Mapping) and "resourceType" in inner:
                # a contained resource: its errors by its own type's definition, not the oneOf over all
                at = _path(found.absolute_path)
                own = [attrs.evolve(e, path=f"{at}{e.path[1:]}") for e in self.errors(inner, name)]
                if own:
                    yield from own
                    continue
            for path in _elements(found):
                if (path, str(found.validator)) not in seen:  # required: one error per missing property
                    seen.add((path, str(found.validator)))
                    yield SchemaError(name, path, found.message[:300], str(found.validator))
        if bundle and entries:
            for i, entry in enumerate(resource.get("entry") or ()):
                inner = entry.get("resource") if isinstance(entry, Mapping) else None
                if isinstance(inner, Mapping):
                    inner_name = f"{inner.get('resourceType')}/{inner.get('id')}"
                    for error in self.errors(inner, inner_name):
                        yield attrs.evolve(error, path=f"$.entry[{i}].resource{error.path[1:]}")

    def check(self, resource: Any) -> list[SchemaError]:
        return list(self.errors(resource))
