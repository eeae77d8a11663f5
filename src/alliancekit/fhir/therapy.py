"""What every Observation of the therapy process shares (a rupture, a repair attempt, a review and the
goal progress judged at it), written once."""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import OBSERVATION_CATEGORY, concept
from alliancekit.fhir.context import ExportContext


def therapy_observation(
    oid: str, episode_id: str, code: dict[str, Any], ctx: ExportContext
) -> dict[str, Any]:
    """The head of a therapy Observation: its id and identifier, the episode it belongs to (HL7's
    ``workflow-episodeOfCare``: R4's Observation has no element for it), the category, ``code`` and the
    client; the caller adds what it observed."""
    return {
        "resourceType": "Observation",
        "id": oid,
        "extension": [ids.episode_extension(episode_id)],
        "identifier": [ids.identifier(oid)],
        "status": "final",
        "category": [concept(OBSERVATION_CATEGORY, "therapy", "Therapy")],
        "code": code,
        "subject": ctx.client,
    }
