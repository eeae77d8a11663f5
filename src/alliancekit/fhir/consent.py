"""consent -> Consent: each change of a participant's consent to measures after it was first given.

The client's consent given at the consultation is the consultation Encounter's consent extension, another
participant's given when they joined is their CareTeam entry's; each later change
(``measures-consent-changed``) is a Consent of its own, so the history is kept and the one in force is
found by its ``status``:

* ``status`` ``active`` for the participant's change in force, ``inactive`` for each one a later change of
  the same participant's consent replaced;
* ``provision.type`` ``permit`` (the client agreed to measures) or ``deny`` (they withdrew), for the
  ``collect`` action on QuestionnaireResponses and Observations (``provision.class``) related to the
  episode (``provision.data``, meaning ``related``); ``provision.period`` runs from the change's day to
  the next change's;
* ``dateTime`` the change's day; ``performer`` whose say it is: the client (the Patient), or another
  participant (a RelatedPerson, as the export names them everywhere), who is also named in the
  ``consent-about`` extension; ``patient`` is the client either way, the only Patient of the record, since
  R4's ``Consent.patient`` takes no RelatedPerson (as a score about another participant keeps the client as
  its ``subject`` and names them in ``focus``);
* ``scope`` ``patient-privacy`` (the collection of information about the client), ``category`` LOINC
  59284-0, ``policyRule`` the project's ``consent-policy`` code ``measures``, which says what it is
  consent to (and is what ``alliancekit import fhir`` reads a Consent by); HL7's workflow-episodeOfCare
  extension names the episode, as on a Goal or a Flag.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    CONSENT_ACTION,
    CONSENT_POLICY,
    CONSENT_SCOPE,
    EXT_CONSENT_ABOUT,
    LOINC,
    RESOURCE_TYPES,
    coding,
    concept,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import ConsentRecord

#: What the consent is about: the measures' answers and their scores.
MEASURED = ("QuestionnaireResponse", "Observation")


def consent_id(episode_id: str, number: int, participant: str | None = None) -> str:
    """The id of the ``number``-th change of the client's consent (``participant`` ``None``), or of that
    participant's; the client's are numbered as before participants' changes were exported."""
    if participant is None:
        return ids.resource_id("Consent", episode_id, "measures", number)
    return ids.resource_id("Consent", episode_id, "measures", "participant", participant, number)


def map_consent(record: ConsentRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    rid = consent_id(record.episode_id, record.number, record.participant)
    extension = [ids.episode_extension(record.episode_id)]
    if record.participant is not None:
        extension.append({"url": EXT_CONSENT_ABOUT, "valueReference": ctx.party(record.participant)})
    period = {"start": record.changed_on.isoformat()}
    if record.until is not None:
        period["end"] = record.until.isoformat()
    episode = ids.ref("EpisodeOfCare", ids.episode_of_care_id(record.episode_id))
    provision = {
        "type": "permit" if record.measures else "deny",
        "period": period,
        "action": [concept(CONSENT_ACTION, "collect", "Collect")],
        "class": [coding(RESOURCE_TYPES, kind) for kind in MEASURED],
        "data": [{"meaning": "related", "reference": episode}],
    }
    return [
        {
            "resourceType": "Consent",
            "id": rid,
            "extension": extension,
            "identifier": [ids.identifier(rid)],
            "status": "active" if record.until is None else "inactive",
            "scope": concept(CONSENT_SCOPE, "patient-privacy", "Privacy Consent"),
            "category": [concept(LOINC, "59284-0")],
            "patient": ctx.client,
            "dateTime": record.changed_on.isoformat(),
            "performer": [ctx.party(record.participant)],
            "policyRule": concept(CONSENT_POLICY, "measures", "Consent to measures"),
            "provision": provision,
        }
    ]
