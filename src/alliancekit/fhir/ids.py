"""Resource ids and references between exported resources.

Ids are UUIDs derived (v5) from the record's own id, so exporting the same record twice gives the same
resource id and the same conditional-create identifier: a re-export updates nothing and duplicates nothing.
References between exported resources are relative (``Encounter/<id>``), as in FHIR Bulk Data; a Bundle
rewrites them to its entries' ``urn:uuid:`` full URLs.
"""

from __future__ import annotations

import uuid
from typing import Any

from alliancekit.fhir.codes import RFC3986

_NAMESPACE = uuid.UUID("0f6d1c2e-3b7a-5c4d-8e9f-a11a9cef1e80")


def resource_id(resource_type: str, *parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join((resource_type, *map(str, parts)))))


def ref(resource_type: str, rid: str) -> dict[str, Any]:
    return {"reference": f"{resource_type}/{rid}"}


def identifier(rid: str) -> dict[str, Any]:
    """The resource's own identifier (what a transaction's conditional create matches on)."""
    return {"system": RFC3986, "value": f"urn:uuid:{rid}"}


def episode_of_care_id(episode_id: str) -> str:
    return resource_id("EpisodeOfCare", episode_id)


def encounter_id(episode_id: str, key: str) -> str:
    return resource_id("Encounter", episode_id, key)


def goal_id(episode_id: str, goal: str) -> str:
    return resource_id("Goal", episode_id, goal)
