"""The builtin FHIR plugin: the mappings of this package and the default identity.

Registered by the plugin manager like any external plugin, so a host's plugin can replace a mapping
(``alliancekit_fhir_mappers``) or supply its own identities (``alliancekit_fhir_identity``).
"""

from __future__ import annotations

from alliancekit.fhir.care_plan import map_maintenance_plan
from alliancekit.fhir.client_response import map_client_response
from alliancekit.fhir.consent import map_consent
from alliancekit.fhir.context import ExportOptions
from alliancekit.fhir.encounter import map_consultation, map_session
from alliancekit.fhir.episode_of_care import map_episode
from alliancekit.fhir.flag import map_alert
from alliancekit.fhir.goal import map_goal
from alliancekit.fhir.identity import DEFAULT_SYSTEM_BASE, FhirIdentity, SystemIdentity
from alliancekit.fhir.mappers import Mapper, MapperRegistrar
from alliancekit.fhir.provenance import map_provenance
from alliancekit.fhir.questionnaire import map_measure
from alliancekit.fhir.questionnaire_response import map_administration
from alliancekit.fhir.review import map_review
from alliancekit.fhir.rupture import map_rupture
from alliancekit.plugins.hookspecs import hookimpl

BUILTIN_MAPPERS: dict[str, Mapper] = {
    "episode": map_episode,
    "consultation": map_consultation,
    "session": map_session,
    "administration": map_administration,
    "client-response": map_client_response,
    "goal": map_goal,
    "review": map_review,
    "rupture": map_rupture,
    "alert": map_alert,
    "consent": map_consent,
    "maintenance-plan": map_maintenance_plan,
    "measure": map_measure,
    "provenance": map_provenance,
}


@hookimpl
def alliancekit_fhir_mappers(register: MapperRegistrar) -> None:
    for kind, mapper in BUILTIN_MAPPERS.items():
        register(kind, mapper)


@hookimpl(trylast=True)
def alliancekit_fhir_identity(clinic_id: str, options: ExportOptions) -> FhirIdentity:
    return SystemIdentity(options.identifier_system or DEFAULT_SYSTEM_BASE)
