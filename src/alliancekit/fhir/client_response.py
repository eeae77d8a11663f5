"""client response -> QuestionnaireResponse authored by the Patient, with the Observations of its scores.

A measure the client filled in themselves (through a link or a kiosk code, or on paper and recorded for
them by a clinician) maps as a measure given in a session does (:mod:`.questionnaire_response`), with:

* ``author`` and ``source`` the Patient, and each score Observation's ``performer`` the Patient;
* ``encounter`` the session's Encounter when it was given for a session, and none between sessions;
* ``authored`` (and the Observations' ``effectiveDateTime``) when the client filled it in;
* three extensions that say what FHIR has no element for, so that ``import fhir`` recreates it as a client
  response: the point it was asked for (``request-point``: start, end or between), the session its score
  counts at (``at-session``), and the episode (``workflow-episodeOfCare``, HL7's extension), which a
  response given between sessions names no other way.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import WORKFLOW_EPISODE_OF_CARE, code_system, coding, extension_url
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.questionnaire_response import map_administration
from alliancekit.fhir.records import ClientResponseRecord

REQUEST_POINT = code_system("request-point")
"""When the client was asked to fill it in (``RequestPoint``): start or end of a session, or between."""
EXT_REQUEST_POINT = extension_url("request-point")
EXT_AT_SESSION = extension_url("at-session")
"""The session number a client response's score counts at (0: before any session)."""


def map_client_response(record: ClientResponseRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    response, *scores = map_administration(record, ctx)
    patient = ctx.client
    response["extension"] += [
        {"url": EXT_REQUEST_POINT, "valueCoding": coding(REQUEST_POINT, record.point.value)},
        {"url": EXT_AT_SESSION, "valueInteger": record.at_session},
        {
            "url": WORKFLOW_EPISODE_OF_CARE,
            "valueReference": ids.ref("EpisodeOfCare", ids.episode_of_care_id(record.episode_id)),
        },
    ]
    response["author"] = response["source"] = patient
    for observation in scores:
        observation["performer"] = [patient]
    return [response, *scores]
