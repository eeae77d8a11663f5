"""Canonical URLs and code systems: HL7's where one fits, the project's own where none exists.

The project's own code systems live under :data:`CANONICAL_BASE`. They cover what no published terminology
does: scores of measures without LOINC codes (ORS, SRS, WAI-SR, CORE-10), severity bands, rupture kinds,
markers, causes and repair strategies (3RS), alert rules, attendance, modality, maintenance activities, what
a Consent is consent to, and the types of the stored events (a Provenance's).
Every code is the value of the matching enum in :mod:`alliancekit.domain.vocab`, so the codes are as stable
as the stored events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CANONICAL_BASE = "https://alliancekit.dev/fhir"


def code_system(name: str) -> str:
    """The canonical URL of one of the project's code systems."""
    return f"{CANONICAL_BASE}/CodeSystem/{name}"


def extension_url(name: str) -> str:
    return f"{CANONICAL_BASE}/StructureDefinition/{name}"


def questionnaire_url(measure_id: str) -> str:
    return f"{CANONICAL_BASE}/Questionnaire/{measure_id}"


GROUP_ID_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/group"
"""The system of a therapy group's id (the identifier of a group member's CareTeam)."""
RESOURCE_ID_SYSTEM = f"{CANONICAL_BASE}/NamingSystem/resource-id"
"""The system of every exported resource's own identifier; its value is the resource's (UUID) id, never a
Bundle's ``urn:uuid:`` full URL, which servers rewrite to the id they assign."""


# -- the project's code systems ------------------------------------------------------------------------
MEASURE_SCORES = code_system("measure-scores")
"""``<measure>-total`` and ``<measure>-<subscale>``: scores of measures without a LOINC code."""
MEASURE_BANDS = code_system("measure-bands")
"""``<measure>-<band>``: severity bands, used in Observation.interpretation."""
RUPTURE = code_system("rupture")
RUPTURE_KIND = code_system("rupture-kind")
RUPTURE_MARKER = code_system("rupture-marker")
RUPTURE_CAUSE = code_system("rupture-cause")
REPAIR_STRATEGY = code_system("repair-strategy")
ALERT_RULE = code_system("alert-rule")
ALERT_SEVERITY = code_system("alert-severity")
ATTENDANCE = code_system("attendance")
MODALITY = code_system("modality")
ENCOUNTER_KIND = code_system("encounter-kind")
MAINTENANCE_ACTIVITY = code_system("maintenance-activity")
EXPORT_NOTICE = code_system("export-notice")
ADMINISTRATION_TIMING = code_system("administration-timing")
PARTICIPANT_ROLE = code_system("participant-role")
"""A participant's role in an episode with several clients (``ParticipantRole``), and ``facilitator``."""
RATER = code_system("rater")
"""Who completed a measure (``Rater``): the client, a parent, a partner, a teacher, the clinician."""
GOAL_STATUS = code_system("goal-status")
"""A goal's own status (``GoalStatus``): FHIR's lifecycle says ``completed`` once the episode has ended."""
ENDING_REASON = code_system("ending-reason")
FIT_OUTCOME = code_system("fit-outcome")
REVIEW = code_system("review")
"""``goal-progress``: a goal's progress judged at a review (an Observation about the Goal)."""
REVIEW_DECISION = code_system("review-decision")
CONSENT_POLICY = code_system("consent-policy")
"""``measures``: what a Consent is consent to (its ``policyRule``): the client being asked for measures."""
EVENT_TYPE = code_system("event-type")
"""The type of the stored event a Provenance describes (``episode-put-on-hold``, ``goal-revised``, ...): the
second coding of its ``activity``, which tells apart the events that target one resource."""

# -- extensions the project defines ---------------------------------------------------------------------
EXT_ATTENDANCE = extension_url("attendance")
EXT_ADMINISTRATION_TIMING = extension_url("administration-timing")
EXT_ALERT_SEVERITY = extension_url("alert-severity")
EXT_ALERT_ACKNOWLEDGED = extension_url("alert-acknowledged")
EXT_ALERT_MEASURE = extension_url("alert-measure")
"""On Flag: the measure whose scores raised the alert (``valueCanonical``, its Questionnaire's URL)."""
EXT_ALERT_ABOUT = extension_url("alert-about")
"""On Flag: the other participant the alert is about (``valueReference``, a RelatedPerson); the Flag's
``subject`` stays the identified client, whose record it is in."""
EXT_CONSENT_ABOUT = extension_url("consent-about")
"""On Consent: the other participant whose consent to measures it is (``valueReference``, a RelatedPerson,
also its ``performer``); the Consent's ``patient`` stays the identified client, as R4 takes a Patient only.
Absent: the identified client's own consent."""
EXT_RATER = extension_url("rater")
EXT_GROUP_SESSION = extension_url("group-session")
EXT_FIRST_HELD_ON = extension_url("first-held-on")
"""On a session's Encounter: the day it was held as first recorded (``valueDate``), when a correction moved
it earlier (``period`` is the day as corrected), so that ``alliancekit import fhir`` records it as it was and
corrects it: the rules judge a measure by its day, and one taken with consent stays valid when corrected to a
day before consent was given again."""
EXT_GOAL_STATUS = extension_url("goal-status")
"""On Goal: the goal's own status, which ``lifecycleStatus`` cannot keep once the episode has closed."""
EXT_ENDING = extension_url("ending")
"""On EpisodeOfCare (which has no element for it): how the episode ended or is planned to end. Complex:
``planned-on`` and ``target`` (valueDate, the ending plan), ``reason`` (valueCoding, ``ending-reason``),
``planned`` (valueBoolean), ``reflection`` and ``no-plan-reason`` (valueString, free text only)."""
EXT_FIT_OUTCOME = extension_url("fit-outcome")
"""On EpisodeOfCare: the fit decision's outcome (``cancelled`` does not say referred or not proceeding)."""
EXT_NORM_POPULATION = extension_url("norm-population")
"""On EpisodeOfCare: the norm population the episode's scores are read against (valueString: ``child``,
``adolescent``), when it names one; absent: each measure's default population."""
EXT_CLINICIAN_OF_RECORD = extension_url("clinician-of-record")
"""On EpisodeOfCare, one per clinician of record in order (``careManager`` is only the current one).
Complex: ``clinician`` (valueReference) and ``start`` (valueDate: the opening or the transfer)."""
EXT_CONSENT = extension_url("consent")
"""On the consultation Encounter (the client's) and on a CareTeam participant (another participant's): the
consent given. Complex: ``treatment``, ``measures``, ``data-sharing`` (valueBoolean)."""
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
WORKFLOW_EPISODE_OF_CARE = "http://hl7.org/fhir/StructureDefinition/workflow-episodeOfCare"
"""HL7's extension naming the EpisodeOfCare a resource belongs to: on a Goal, a review's or a rupture's
Observations, a Flag and a Consent, none of which has an element for it in R4."""

# -- published systems ----------------------------------------------------------------------------------
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
V3_PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
RFC3986 = "urn:ietf:rfc:3986"

#: LOINC's own display (its Long Common Name, which FHIR takes as a LOINC code's display) for the LOINC codes
#: the built-in definitions put on a form or a total, checked at loinc.org. :func:`coding` writes these
#: whatever display a definition gives: the built-in PHQ-9 and GAD-7 1.0 definitions carry shortened names
#: ("... total score" without the method), and a published definition is never edited in place (the store
#: keeps its SHA-256 and refuses a changed one), so the correction is made here, when a coding is written.
#: A code not listed keeps its definition's display.
LOINC_DISPLAY: dict[str, str] = {
    # https://loinc.org/44261-6 ("Member of these Panels": 44249-1)
    "44249-1": "PHQ-9 quick depression assessment panel [Reported.PHQ]",
    # https://loinc.org/44261-6
    "44261-6": "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
    # https://loinc.org/69729-2 (the PHQ-SADS panel lists it with its Long Common Name)
    "70274-6": "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
}

#: LOINC answer codes that an item's own LOINC term lists where the measure's answer list has another code,
#: by measure id and item key, for definitions published before an item could carry its own list
#: (``items[].loinc_answers``): each is read as the measure's answer whose LOINC code it maps to, and never
#: written (:mod:`alliancekit.fhir.coded_answers` reads it; nothing else does). GAD-7 item 2's term, 68509-9,
#: has its own answer list: LOINC's GAD-7 panel (69737-5, as HL7's Person-Centered Outcomes IG publishes it)
#: answers it LA6568-5, LA6569-3, LA18938-3 "More days than not", LA6571-9, where the publisher's form, and
#: GAD-7 1.0 and 1.1, have LA6570-1 "More than half the days" third. GAD-7 1.2 lists it on the item itself
#: and writes it; 1.0 and 1.1 are published and never edited, so for them it is read here.
LOINC_ITEM_ANSWER_ALIASES: dict[tuple[str, str], dict[str, str]] = {
    ("gad-7", "q2"): {"LA18938-3": "LA6570-1"},
}


def loinc_item_answers(measure_id: str, item_key: str, loinc: Mapping[str, Any]) -> dict[str, Any]:
    """``loinc`` (LOINC answer code -> what it is read as, for the measure's answer list) with the item's
    own LOINC answer codes (:data:`LOINC_ITEM_ANSWER_ALIASES`) read as the answers they stand for."""
    aliases = LOINC_ITEM_ANSWER_ALIASES.get((measure_id, item_key), {})
    return {**loinc, **{alias: loinc[code] for alias, code in aliases.items() if code in loinc}}


def consent_extension(consent: Any) -> dict[str, Any]:
    """The consent extension of a :class:`~alliancekit.domain.records.Consent`."""
    given = {
        "treatment": consent.treatment,
        "measures": consent.measures,
        "data-sharing": consent.data_sharing,
    }
    return {"url": EXT_CONSENT, "extension": [{"url": k, "valueBoolean": v} for k, v in given.items()]}


def coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    """A Coding; a LOINC code listed in :data:`LOINC_DISPLAY` gets LOINC's display, not ``display``."""
    if system == LOINC:
        display = LOINC_DISPLAY.get(code, display)
    out: dict[str, Any] = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": [coding(system, code, display)]}
    if text:
        out["text"] = text
    return out
