"""Whether what a FHIR plugin made is a resource the export can write.

A resource's ``resourceType`` names its NDJSON file, and the resource is written as JSON: a mapper or an
``alliancekit_fhir_resource`` implementation that leaves anything else would fail the export later, blamed
on nobody, or (a ``resourceType`` of ``../x``) write outside the export directory.
"""

from __future__ import annotations

import json
import re

#: A FHIR resource type name: letters, an upper-case first one (R4's are at most 40 long).
_RESOURCE_TYPE = re.compile(r"[A-Z][A-Za-z]{0,63}")

WANTED = "FHIR resources (JSON objects whose resourceType is a FHIR type name)"
#: The plugin that supplies the builtin mappers and identity: its output is JSON by construction.
BUILTIN = "alliancekit.fhir.builtin"


def json_object(value: object) -> bool:
    """Whether ``value`` is a JSON object (a dict that serialises, without NaN)."""
    if not isinstance(value, dict):
        return False
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def unfit(resource: object, *, as_json: bool) -> bool:
    """Whether ``resource`` is not a writable resource; ``as_json``: check that it is JSON data too (one
    serialisation: only for what a plugin made or changed)."""
    if not isinstance(resource, dict):
        return True
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or _RESOURCE_TYPE.fullmatch(kind) is None:
        return True
    return as_json and not json_object(resource)
