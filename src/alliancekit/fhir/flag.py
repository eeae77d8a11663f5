"""alert -> Flag (active and past alerts).

Built from the alert events ``alert-raised``, ``alert-acknowledged`` and ``alert-resolved``. ``status`` is
``active`` until the alert is resolved, then ``inactive``; ``period`` runs from raised to resolved.
``code`` is the alert rule in the project's ``alert-rule`` code system; the severity, the acknowledgement
date, the measure whose scores raised it and the other participant it is about are extensions (Flag has no
element for any of them), and HL7's workflow-episodeOfCare extension names the episode. The category is
``clinical``. The resolution note is free text and is not exported.
"""

from __future__ import annotations

from typing import Any

from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    ALERT_RULE,
    ALERT_SEVERITY,
    EXT_ALERT_ABOUT,
    EXT_ALERT_ACKNOWLEDGED,
    EXT_ALERT_MEASURE,
    EXT_ALERT_SEVERITY,
    FLAG_CATEGORY,
    coding,
    concept,
    questionnaire_url,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import AlertRecord


def map_alert(record: AlertRecord, ctx: ExportContext) -> list[dict[str, Any]]:
    rid = ids.resource_id("Flag", record.episode_id, record.alert_id)
    extension = [ids.episode_extension(record.episode_id)]
    if record.severity:
        extension.append({"url": EXT_ALERT_SEVERITY, "valueCoding": coding(ALERT_SEVERITY, record.severity)})
    if record.measure_id is not None:
        extension.append({"url": EXT_ALERT_MEASURE, "valueCanonical": questionnaire_url(record.measure_id)})
    if record.participant is not None:
        extension.append({"url": EXT_ALERT_ABOUT, "valueReference": ctx.party(record.participant)})
    if record.acknowledged_on is not None:
        extension.append({"url": EXT_ALERT_ACKNOWLEDGED, "valueDate": record.acknowledged_on.isoformat()})
    period: dict[str, Any] = {"start": record.raised_on.isoformat()}
    if record.resolved_on is not None:
        period["end"] = record.resolved_on.isoformat()
    resource: dict[str, Any] = {"resourceType": "Flag", "id": rid}
    if extension:
        resource["extension"] = extension
    resource.update(
        {
            "identifier": [ids.identifier(rid)],
            "status": "inactive" if record.resolved_on is not None else "active",
            "category": [concept(FLAG_CATEGORY, "clinical", "Clinical")],
            "code": concept(ALERT_RULE, record.rule),
            "subject": ctx.client,
            "period": period,
        }
    )
    return [resource]
