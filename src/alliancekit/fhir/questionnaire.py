"""measure definition -> Questionnaire.

Canonical ``url`` (``https://alliancekit.dev/fhir/Questionnaire/<measure id>``) and ``version`` (the
definition's version), so a QuestionnaireResponse names exactly the form it answers. Item text only where
the definition's licence allows it (PHQ-9, GAD-7); for copyrighted measures (ORS, SRS, WAI-SR, CORE-10) the
item shows our own short label and its key as ``linkId``, never the published wording. The licence notice
is the Questionnaire's ``copyright``. LOINC codes from the definition go on the form (panel) and items.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import MAX_VALUE, MIN_VALUE, coding, questionnaire_url
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import MeasureRecord


def questionnaire_id(measure_id: str, version: str) -> str:
    return ids.resource_id("Questionnaire", measure_id, version)


def canonical(measure_id: str, version: str) -> str:
    return f"{questionnaire_url(measure_id)}|{version}"


def computable_name(measure_id: str) -> str:
    """A name that satisfies Questionnaire's ``name`` rule (starts with a capital, letters and digits)."""
    name = "".join(ch for ch in measure_id.upper() if ch.isalnum())
    return name if name[:1].isalpha() else f"M{name}"


def _bound(url: str, value: float, integral: bool) -> dict[str, Any]:
    if integral:
        return {"url": url, "valueInteger": int(value)}
    return {"url": url, "valueDecimal": value}


def map_measure(record: MeasureRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    m = record.measure
    rid = questionnaire_id(m.id, m.version)
    item_codes: dict[str, list[dict[str, Any]]] = {}
    panel = []
    for code in m.codes:
        if code.target.value == "panel":
            panel.append(coding(code.system, code.code, code.display))
        elif code.target.value == "item" and code.item:
            item_codes.setdefault(code.item, []).append(coding(code.system, code.code, code.display))
    items = []
    for item in m.items:
        integral = item.integral
        entry: dict[str, Any] = {
            "extension": [_bound(MIN_VALUE, item.min, integral), _bound(MAX_VALUE, item.max, integral)],
            "linkId": item.key,
        }
        if item.key in item_codes:
            entry["code"] = item_codes[item.key]
        entry["text"] = item.text if m.item_text_allowed and item.text else item.label
        entry["type"] = "integer" if integral else "decimal"
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": rid,
        "url": questionnaire_url(m.id),
        "identifier": [ids.identifier(rid)],
        "version": m.version,
        "name": computable_name(m.id),
        "title": m.title,
        "status": "active",
        "subjectType": ["Patient"],
        "copyright": m.licence_notice,
    }
    if panel:
        resource["code"] = panel
    resource["item"] = items
    return [resource]
