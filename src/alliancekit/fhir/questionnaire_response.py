"""administration -> QuestionnaireResponse (plus the Observations of its scores, see ``observation``).

``questionnaire`` is the Questionnaire's canonical URL with its version (``...|1.0``); each answer's
``linkId`` is the item key. Whole-number items answer ``valueInteger``, others (ORS and SRS read off a
line to one decimal) ``valueDecimal``; an item left unanswered has no answer. ``status`` is ``completed``,
or ``amended`` when the session was corrected. The answering party (``source``) is the client.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import ADMINISTRATION_TIMING, EXT_ADMINISTRATION_TIMING, coding
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.observation import _measure, map_scores
from alliancekit.fhir.questionnaire import canonical
from alliancekit.fhir.records import AdministrationRecord


def response_id(record: AdministrationRecord) -> str:
    return ids.resource_id("QuestionnaireResponse", record.episode_id, record.session_id, record.index)


def _answer(value: float, integral: bool) -> dict[str, Any]:
    if integral and float(value).is_integer():
        return {"valueInteger": int(value)}
    return {"valueDecimal": value}


def map_administration(record: AdministrationRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    admin = record.administration
    measure = _measure(ctx, admin.measure_id, admin.version)
    integral = {item.key: item.integral for item in measure.items} if measure is not None else {}
    order = list(integral) or sorted(admin.answers)
    items = []
    for key in order:
        value = admin.answers.get(key)
        item: dict[str, Any] = {"linkId": key}
        if value is not None:
            item["answer"] = [_answer(value, integral.get(key, False))]
        items.append(item)
    rid = response_id(record)
    client = ctx.client
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "extension": [
            {
                "url": EXT_ADMINISTRATION_TIMING,
                "valueCoding": coding(ADMINISTRATION_TIMING, admin.timing.value),
            }
        ],
        "identifier": ids.identifier(rid),
        "questionnaire": canonical(admin.measure_id, admin.version),
        "status": "amended" if record.corrected else "completed",
        "subject": client,
        "encounter": ids.ref("Encounter", ids.encounter_id(record.episode_id, record.session_id)),
        "authored": record.held_on.isoformat(),
        "source": client,
        "item": items,
    }
    return [resource, *map_scores(record, ctx, rid)]
