"""The privacy seam of exports: what may leave, for which purpose, and saying so when something did not.

Three layers, innermost first:

1. **Allow-list of event types** (``records.EXPORTED_EVENT_TYPES``): anything else in an episode's stream,
   a therapist's private process notes above all, is never decoded, let alone mapped. New event types are
   not exported until a mapping is written for them.
2. **Purpose** (:data:`~alliancekit.fhir.context.EXPORT_PURPOSES`): treatment, client access or quality
   improvement; stated on the Bundle as a purpose-of-use security label. Free text goes out for treatment
   and client access only (minimum necessary for quality improvement), unless the host says otherwise.
3. **The export filter** (``alliancekit_fhir_export_filter``): called once per record before it is
   mapped, with the export's context (actor, purpose, episode state). Any implementation returning a
   :class:`Withhold` keeps the record out. This is where the access policy and the client's lockbox
   directives plug in. Withholding the episode record withholds the whole episode; withholding a session
   withholds the measures given in it; references to withheld resources are removed from the rest.

When anything is withheld, the export says so without saying what: the Bundle gets the security label
``REDACTED`` (HL7 v3 ObservationValue) and, in a collection Bundle, an OperationOutcome entry with an issue
of code ``suppressed`` giving the number of records withheld and the reasons' codes; a Bulk export lists an
``OperationOutcome.ndjson`` file with one such outcome per episode in its manifest's ``error`` array. The
episode's own ``EpisodeOfCare`` carries the ``REDACTED`` label too (:func:`label_redacted`): an outcome names
no episode, so the label is what tells, among the episodes of a Bulk export, which had records withheld.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from alliancekit.fhir.codes import EXPORT_NOTICE, V3_OBSERVATION_VALUE, coding

#: The security label that says a resource set has had something removed.
REDACTED = coding(V3_OBSERVATION_VALUE, "REDACTED", "redacted")


@attrs.frozen
class Withhold:
    """What an export filter returns to keep a record out. ``reason`` is a code, never client data."""

    reason: str = "policy"


def outcome(resource_id: str, withheld: Counter[str]) -> dict[str, Any]:
    """An OperationOutcome saying how many records were withheld and why (codes only)."""
    total = sum(withheld.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(withheld.items()))
    return {
        "resourceType": "OperationOutcome",
        "id": resource_id,
        "meta": {"security": [REDACTED]},
        "issue": [
            {
                "severity": "information",
                "code": "suppressed",
                "details": {
                    "coding": [coding(EXPORT_NOTICE, "withheld", "Records withheld from this export")],
                    "text": f"{total} record(s) withheld from this export ({reasons})",
                },
            }
        ],
    }


def label_redacted(resource: dict[str, Any]) -> None:
    """Add the ``REDACTED`` security label to ``resource`` (keeping any other ``meta`` a hook added)."""
    security = resource.setdefault("meta", {}).setdefault("security", [])
    if not any(c.get("system") == REDACTED["system"] and c.get("code") == REDACTED["code"] for c in security):
        security.append(dict(REDACTED))
