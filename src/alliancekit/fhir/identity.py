"""The host's identities: how its client reference, clinicians and organisation appear in FHIR.

alliancekit knows a client only by the host's opaque ``client_ref``, and clinicians and clinics by the
host's ids. The host decides what those become in FHIR through the ``alliancekit_fhir_identity`` hook; the
default, :class:`SystemIdentity`, makes each a logical reference by identifier in a system URL the host
configures (``ExportOptions.identifier_system``). Nothing else about a client is ever put in a resource:
no name, no birth date, no display text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import attrs

#: The kinds of party a resource refers to, and the FHIR resource type of each.
KINDS: dict[str, str] = {
    "client": "Patient",
    "practitioner": "Practitioner",
    "organization": "Organization",
    "device": "Device",
    "participant": "RelatedPerson",
}
"""``participant``: another client of an episode with several (a partner, a parent) or a collateral rater,
related to the identified client (FHIR R4 lets a RelatedPerson, not a Patient, take part in an Encounter)."""

#: Used when the host configures no system: a URN that says "the host's own ids", not a global namespace.
#: A placeholder (``alliancekit`` is no registered URN namespace, and every host's default is the same),
#: kept as it is because a server that loaded earlier exports matches references against it; a host sets
#: its own (docs/guides/fhir.md, "The host's identities").
DEFAULT_SYSTEM_BASE = "urn:alliancekit:host"

#: What a host sets so that its exports do not use :data:`DEFAULT_SYSTEM_BASE` (named by the warnings).
SYSTEM_SETTING = "ExportOptions.identifier_system (alliancekit export fhir --identifier-system URL)"


@runtime_checkable
class FhirIdentity(Protocol):
    """What an identity hook returns."""

    def reference(self, kind: str, local_id: str) -> dict[str, Any]:
        """A FHIR Reference for the party ``local_id`` of ``kind`` (a key of :data:`KINDS`)."""
        ...


@attrs.frozen
class SystemIdentity:
    """References by identifier: ``{"type": "Patient", "identifier": {"system": f"{base}/client", ...}}``.

    A logical reference needs no Patient or Practitioner resource in the export: the receiving system
    resolves the identifier against its own master index, which is where the client's identity belongs.
    """

    base: str = DEFAULT_SYSTEM_BASE

    def system(self, kind: str) -> str:
        sep = ":" if self.base.startswith("urn:") else "/"
        return f"{self.base}{sep}{kind}"

    def reference(self, kind: str, local_id: str) -> dict[str, Any]:
        return {"type": KINDS[kind], "identifier": {"system": self.system(kind), "value": local_id}}


def is_placeholder(identity: object) -> bool:
    """Whether ``identity`` is the default one with no system configured (:data:`DEFAULT_SYSTEM_BASE`)."""
    return isinstance(identity, SystemIdentity) and identity.base == DEFAULT_SYSTEM_BASE


def placeholder_identifiers(resources: Iterable[dict[str, Any]]) -> bool:
    """Whether any identifier in ``resources`` (Bundles too: their entries are walked) is in a placeholder
    system (``urn:alliancekit:host:<kind>``): the export must not leave the host as it is, since every
    host's clients would share those systems. Set :data:`SYSTEM_SETTING`."""
    return any(_has_placeholder(resource) for resource in resources)


def _has_placeholder(node: object) -> bool:
    if isinstance(node, dict):
        system = node.get("system")
        if isinstance(system, str) and system.startswith(f"{DEFAULT_SYSTEM_BASE}:"):
            return True
        return any(_has_placeholder(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_placeholder(item) for item in node)
    return False


def actor_kind(role: str) -> str:
    """Which kind of party an actor of ``role`` is (Provenance agents)."""
    if role == "client":
        return "client"
    if role == "system":
        return "device"
    return "practitioner"
