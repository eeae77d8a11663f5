"""who recorded what -> Provenance, one per exported event.

``target``: every resource the event produced or changed (a Goal's agreement and revisions target the
version they made, ``Goal/<id>/_history/<n>``); ``recorded``: when alliancekit stored the event;
``occurredDateTime``: when it happened: for a goal's agreement and each revision, the day it names (a Goal
is its current version only, so its versions' days are kept here, and ``alliancekit import fhir`` reads
them back), for any other event the instant it was stored (its resources carry its day); ``activity``:
``CREATE`` for events that create a record, ``UPDATE`` for the rest (corrections, revisions, reviews,
transfers, holds, the ending), and the event's type (which of the events that target one resource it is:
``alliancekit import fhir`` replays a day's records in the order they were recorded); ``agent``: the actor,
through the host's identity mapping (clinicians, supervisors and administrators as Practitioner, a client
as Patient, the system as Device), with the role ``author``. Provenance has no identifier element, so a
transaction Bundle creates it unconditionally.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import EVENT_TYPE, PROVENANCE_PARTICIPANT, V3_DATA_OPERATION, coding, concept
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.identity import actor_kind
from alliancekit.fhir.records import ProvenanceRecord

CREATING_EVENTS = frozenset(
    {
        "episode-opened",
        "consultation-recorded",
        "goal-agreed",
        "session-recorded",
        "client-response-recorded",
        "rupture-noted",
        "alert-raised",
    }
)


def map_provenance(record: ProvenanceRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    (env,) = record.entries
    activity = concept(V3_DATA_OPERATION, "CREATE" if env.type in CREATING_EVENTS else "UPDATE")
    activity["coding"].append(coding(EVENT_TYPE, env.type))
    return [
        {
            "resourceType": "Provenance",
            "id": ids.resource_id("Provenance", record.episode_id, env.event_id),
            "target": [{"reference": target} for target in record.targets],
            "occurredDateTime": (env.occurred_at if env.on is None else env.on).isoformat(),
            "recorded": env.recorded_at.isoformat(),
            "activity": activity,
            "agent": [
                {
                    "type": concept(PROVENANCE_PARTICIPANT, "author", "Author"),
                    "who": ctx.ref(actor_kind(env.actor_role), env.actor_id),
                }
            ],
        }
    ]
