"""HL7 FHIR R4 export: an episode as a Bundle, a practice as Bulk Data NDJSON.

Mappings, one module per resource: :mod:`~alliancekit.fhir.episode_of_care`,
:mod:`~alliancekit.fhir.encounter`, :mod:`~alliancekit.fhir.goal`, :mod:`~alliancekit.fhir.questionnaire`,
:mod:`~alliancekit.fhir.questionnaire_response` and :mod:`~alliancekit.fhir.observation`,
:mod:`~alliancekit.fhir.flag`, :mod:`~alliancekit.fhir.care_plan`, :mod:`~alliancekit.fhir.rupture`,
:mod:`~alliancekit.fhir.provenance`. The host's identities: :mod:`~alliancekit.fhir.identity`. Privacy:
:mod:`~alliancekit.fhir.privacy`. See ``docs/guides/fhir.md`` for the mapping table and the hooks.
"""

from alliancekit.fhir.bulk import BulkResult, export_ndjson
from alliancekit.fhir.bundle import episode_bundle, episode_bundles
from alliancekit.fhir.context import ExportContext, ExportOptions
from alliancekit.fhir.identity import FhirIdentity, SystemIdentity
from alliancekit.fhir.privacy import Withhold

__all__ = [
    "BulkResult",
    "ExportContext",
    "ExportOptions",
    "FhirIdentity",
    "SystemIdentity",
    "Withhold",
    "episode_bundle",
    "episode_bundles",
    "export_ndjson",
]
