"""Resource ids and references between exported resources.

Ids are UUIDs derived (v5) from the record's own id, so exporting the same record twice gives the same
resource id and the same conditional-create identifier: a re-export updates nothing and duplicates nothing.
References between exported resources are relative (``Encounter/<id>``), as in FHIR Bulk Data; a Bundle
rewrites them to its entries' ``urn:uuid:`` full URLs.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import lru_cache
from typing import Any

from alliancekit.fhir.codes import RESOURCE_ID_SYSTEM, WORKFLOW_EPISODE_OF_CARE

_NAMESPACE = uuid.UUID("0f6d1c2e-3b7a-5c4d-8e9f-a11a9cef1e80")
_NAMESPACE_BYTES = _NAMESPACE.bytes


def resource_id(resource_type: str, *parts: object) -> str:
    return _uuid5("/".join((resource_type, *map(str, parts))))


@lru_cache(maxsize=4096)
def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NAMESPACE, name))``, the same characters at a third of the cost (no UUID object);
    cached because an export names each resource again in every reference to it."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ref(resource_type: str, rid: str) -> dict[str, Any]:
    return {"reference": f"{resource_type}/{rid}"}


def identifier(rid: str) -> dict[str, Any]:
    """The resource's own identifier (what a conditional create matches on): the resource id in
    :data:`~alliancekit.fhir.codes.RESOURCE_ID_SYSTEM`. Not the ``urn:uuid:`` full URL a Bundle gives the
    entry: a server loading a Bundle rewrites every string equal to a full URL to the id it assigned, so an
    identifier holding one would no longer match when the same export is loaded again."""
    return {"system": RESOURCE_ID_SYSTEM, "value": rid}


def episode_extension(episode_id: str) -> dict[str, Any]:
    """HL7's ``workflow-episodeOfCare`` extension: the episode a Goal, Observation or Flag belongs to."""
    episode = ref("EpisodeOfCare", episode_of_care_id(episode_id))
    return {"url": WORKFLOW_EPISODE_OF_CARE, "valueReference": episode}


def episode_of_care_id(episode_id: str) -> str:
    return resource_id("EpisodeOfCare", episode_id)


def encounter_id(episode_id: str, key: str) -> str:
    return resource_id("Encounter", episode_id, key)


def goal_id(episode_id: str, goal: str) -> str:
    return resource_id("Goal", episode_id, goal)
