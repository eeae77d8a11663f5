"""scores of an administration -> Observation (the total, and one per subscale).

``code``: LOINC where the measure's definition has a code for the total (PHQ-9 44261-6, GAD-7 70274-6);
otherwise the project's ``measure-scores`` code system (``ors-total``, ``wai-sr-bond``, ...); subscales
always use the project's system (LOINC has none for these). ``derivedFrom`` the QuestionnaireResponse.
``interpretation``: ``A`` (abnormal) or ``N`` (normal) as the score was recorded: against the clinical
cutoff of the episode's norm population where the measure declares it, else of its default population;
and the severity band (``measure-bands``: ``phq-9-moderate``) where the measure has bands.
Scores are unitless: ``valueQuantity`` with the UCUM annotation ``{score}``.
``subject`` is the episode's client (the Patient): R4 allows only a Patient, Group, Device or Location
there. A score about another participant (a partner's ORS) names them as a RelatedPerson in ``focus``,
which R4 defines for an observation about someone associated with the patient, such as a spouse or parent.
"""

from __future__ import annotations

from typing import Any

from alliancekit.events.types import RecordedScore
from alliancekit.fhir import ids
from alliancekit.fhir.codes import (
    MEASURE_BANDS,
    MEASURE_SCORES,
    OBSERVATION_CATEGORY,
    UCUM,
    V3_INTERPRETATION,
    concept,
)
from alliancekit.fhir.context import ExportContext
from alliancekit.fhir.records import AdministrationRecord


def _measure(ctx: ExportContext, measure_id: str, version: str) -> Any:
    try:
        return ctx.measures.get(measure_id, version)
    except LookupError:  # a measure whose plugin is no longer installed: codes from our system only
        return None


def total_code(measure: Any, measure_id: str) -> dict[str, Any]:
    if measure is not None:
        for code in measure.codes:
            if code.target.value == "total":
                return concept(code.system, code.code, code.display)
    title = measure.title if measure is not None else measure_id
    return concept(MEASURE_SCORES, f"{measure_id}-total", f"{title} total score")


def interpretation(measure: Any, score: RecordedScore) -> list[dict[str, Any]]:
    out = []
    if score.clinical is not None:
        out.append(
            concept(V3_INTERPRETATION, "A", "Abnormal")
            if score.clinical
            else concept(V3_INTERPRETATION, "N", "Normal")
        )
    if score.band is not None:
        label = None
        if measure is not None:
            label = next((b.label for b in measure.bands if b.key == score.band), None)
        out.append(concept(MEASURE_BANDS, f"{score.measure_id}-{score.band}", label))
    return out


def quantity(value: float) -> dict[str, Any]:
    number: float | int = int(value) if float(value).is_integer() else round(value, 4)
    return {"value": number, "unit": "score", "system": UCUM, "code": "{score}"}


def encounter_of(record: AdministrationRecord) -> dict[str, Any]:
    """``{"encounter": ...}`` for an administration given in a session; empty for one given between."""
    if record.session_id is None:
        return {}
    return {"encounter": ids.ref("Encounter", ids.encounter_id(record.episode_id, record.session_id))}


def map_scores(record: AdministrationRecord, ctx: ExportContext, response_id: str) -> list[dict[str, Any]]:
    score = record.score
    if score is None:
        return []
    measure = _measure(ctx, score.measure_id, score.version)
    status = "amended" if record.corrected else "final"
    encounter = encounter_of(record)
    party = ctx.party(score.about)
    about = {} if party == ctx.client else {"focus": [party]}

    def observation(key: str, code: dict[str, Any], value: float) -> dict[str, Any]:
        rid = ids.resource_id("Observation", record.episode_id, *record.key, key)
        return {
            "resourceType": "Observation",
            "id": rid,
            "identifier": [ids.identifier(rid)],
            "status": status,
            "category": [concept(OBSERVATION_CATEGORY, "survey", "Survey")],
            "code": code,
            "subject": ctx.client,
            **about,
            **encounter,
            "effectiveDateTime": record.authored,
            "valueQuantity": quantity(value),
        }

    total = observation("total", total_code(measure, score.measure_id), score.total)
    interpreted = interpretation(measure, score)
    if interpreted:
        total["interpretation"] = interpreted
    total["derivedFrom"] = [ids.ref("QuestionnaireResponse", response_id)]
    out = [total]
    labels = {s.key: s.label for s in measure.subscales} if measure is not None else {}
    for key, value in score.subscales.items():
        code = concept(MEASURE_SCORES, f"{score.measure_id}-{key}", labels.get(key))
        sub = observation(key, code, value)
        sub["derivedFrom"] = [ids.ref("QuestionnaireResponse", response_id)]
        out.append(sub)
    return out
