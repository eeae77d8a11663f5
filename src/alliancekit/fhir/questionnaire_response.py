"""administration -> QuestionnaireResponse (plus the Observations of its scores, see ``observation``).

``questionnaire`` is the Questionnaire's canonical URL with its version (``...|1.0``); each answer's
``linkId`` is the item key. Whole-number items answer ``valueInteger``, others (ORS and SRS read off a
line to one decimal) ``valueDecimal``; an item left unanswered has no answer. ``status`` is ``completed``,
or ``amended`` when the session was corrected.

``subject`` is whom the measure is about (the identified client as the Patient, another participant as a
RelatedPerson); who rated is in the rater extension (client, parent, partner, teacher, clinician) and in
``author`` and ``source``: the participant themselves, the collateral rater the host named (a
RelatedPerson), or the clinician of record (a Practitioner). A collateral rater the host did not name has
no ``author``/``source``: the extension still says what kind of rater it was. The score Observations name
the same rater as ``performer`` (none for an unnamed collateral rater).
"""

from __future__ import annotations

from typing import Any

from alliancekit.domain.vocab import Rater
from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    ADMINISTRATION_TIMING,
    EXT_ADMINISTRATION_TIMING,
    EXT_RATER,
    RATER,
    coding,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.observation import _measure, encounter_of, map_scores
from alliancekit.fhir.questionnaire import canonical
from alliancekit.fhir.records import AdministrationRecord


def response_id(record: AdministrationRecord) -> str:
    return ids.resource_id("QuestionnaireResponse", record.episode_id, *record.key)


def _answer(value: float, integral: bool) -> dict[str, Any]:
    if integral and float(value).is_integer():
        return {"valueInteger": int(value)}
    return {"valueDecimal": value}


def map_administration(record: AdministrationRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    admin = record.administration
    measure = _measure(ctx, admin.measure_id, admin.version)
    integral = {item.key: item.integral for item in measure.items} if measure is not None else {}
    # a total-only administration has no answers to list: its total is the score Observation's
    order = [] if admin.total is not None else list(integral) or sorted(admin.answers)
    items = []
    for key in order:
        value = admin.answers.get(key)
        item: dict[str, Any] = {"linkId": key}
        if value is not None:
            item["answer"] = [_answer(value, integral.get(key, False))]
        items.append(item)
    rid = response_id(record)
    subject = ctx.party(admin.about)
    rater = _rater(record, ctx, subject)
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": rid,
        "extension": [
            {
                "url": EXT_ADMINISTRATION_TIMING,
                "valueCoding": coding(ADMINISTRATION_TIMING, admin.timing.value),
            },
            {"url": EXT_RATER, "valueCoding": coding(RATER, admin.rater.value)},
        ],
        "identifier": ids.identifier(rid),
        "questionnaire": canonical(admin.measure_id, admin.version),
        "status": "amended" if record.corrected else "completed",
        "subject": subject,
        **encounter_of(record),
        "authored": record.authored,
    }
    scores = map_scores(record, ctx, rid)
    if rater is not None:
        resource["author"] = rater
        resource["source"] = rater
        # the scores say who rated as well: a parent's CORS of a child and the child's own share subject
        # and code, and an Observation read without its response told them apart no other way
        for observation in scores:
            observation["performer"] = [rater]
    resource["item"] = items
    return [resource, *scores]


def _rater(
    record: AdministrationRecord, ctx: ExportContext, subject: dict[str, Any]
) -> dict[str, Any] | None:
    admin = record.administration
    if admin.rater is Rater.CLINICIAN:
        return ctx.ref("practitioner", admin.rater_ref or record.clinician_id)
    if admin.rater_ref is not None:
        return ctx.party(admin.rater_ref)
    return subject if admin.rater is Rater.CLIENT else None
