"""Whether what a FHIR plugin made is a resource the export can write.

A resource's ``resourceType`` names its NDJSON file, and the resource is written as JSON: a mapper or an
``alliancekit_fhir_resource`` implementation that leaves anything else would fail the export later, blamed
on nobody, or (a ``resourceType`` of ``../x``) write outside the export directory. A name of the right
shape is not enough: ``NotAType`` would be exported as a file and a manifest entry no FHIR server reads, so
the name must be one of R4's resource types, as the packaged FHIR R4 schema lists them.
"""

from __future__ import annotations

import json

from alliancekit.fhir.validate import packaged_schema

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
    # the packaged schema is read once per process, and only when an export first checks a resource
    if not isinstance(kind, str) or kind not in packaged_schema().resource_types:
        return True
    return as_json and not json_object(resource)
