"""An episode as one FHIR Bundle: ``collection`` (to hand over) or ``transaction`` (to load into a server).

Every entry's ``fullUrl`` is ``urn:uuid:<resource id>`` and references between entries are rewritten to
those URLs, as FHIR asks of Bundles whose resources have no server yet. In a ``transaction`` each entry is
a conditional create: ``POST <type>`` with ``ifNoneExist`` on the resource's own identifier
(``identifier=urn:ietf:rfc:3986|urn:uuid:<id>``; for a Questionnaire, its canonical ``url`` and
``version``), so loading the same export twice creates nothing twice. Provenance has no identifier, so it
is created unconditionally.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_aware_datetime
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import ValidationError
from alliancekit.fhir import ids
from alliancekit.fhir.codes import V3_ACT_REASON, coding
from alliancekit.fhir.context import EXPORT_PURPOSES, ExportOptions
from alliancekit.fhir.export import EpisodeExport, Exporter, Resource
from alliancekit.fhir.privacy import REDACTED, outcome

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

BUNDLE_TYPES = ("collection", "transaction")


def episode_bundle(
    practice: Practice,
    actor: Actor,
    episode_id: str,
    *,
    purpose: Purpose | str | None = None,
    bundle_type: str = "collection",
    options: ExportOptions | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """Export one episode as a Bundle (JSON-ready dict). The episode is read through the facade
    (:meth:`~alliancekit.Practice.export_record`): decided by the access policy, the client's lockbox
    applied, free text decrypted, and audited as ``export-fhir`` with the client and the purpose.

    :param purpose: treatment, client-access or quality-improvement; the actor's purpose by default.
    :param bundle_type: ``"collection"`` or ``"transaction"`` (conditional creates).
    :raises NotFoundError: no such episode.
    :raises AccessDenied: the policy refuses this actor the episode.
    """
    if bundle_type not in BUNDLE_TYPES:
        raise ValidationError("bundle_type", "one-of", "collection or transaction")
    if timestamp is not None:
        check_aware_datetime("timestamp", timestamp)
    exporter = Exporter(practice, actor, purpose=purpose, options=options)
    exported = exporter.episode(episode_id)
    resources = exporter.questionnaires(exported.measures) + exported.resources
    return make_bundle(exported, resources, exporter.purpose, bundle_type, timestamp)


def make_bundle(
    exported: EpisodeExport,
    resources: list[Resource],
    purpose: Purpose,
    bundle_type: str = "collection",
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    local = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}" for r in resources if "id" in r}
    security = [coding(V3_ACT_REASON, EXPORT_PURPOSES[purpose])]
    if exported.withheld:
        security.append(REDACTED)
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "id": ids.resource_id("Bundle", exported.episode_id, bundle_type, purpose.value),
        "meta": {"security": security},
        "type": bundle_type,
        "timestamp": (timestamp or datetime.now(UTC)).isoformat(timespec="seconds"),
    }
    entries = []
    for resource in resources:
        _rewrite(resource, local)
        entry: dict[str, Any] = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = _request(resource)
        entries.append(entry)
    if exported.withheld and bundle_type == "collection":
        notice = outcome(
            ids.resource_id("OperationOutcome", exported.episode_id, "withheld"), exported.withheld
        )
        entries.append({"fullUrl": f"urn:uuid:{notice['id']}", "resource": notice})
    if entries:
        bundle["entry"] = entries
    return bundle


def _request(resource: Resource) -> dict[str, Any]:
    rtype = resource["resourceType"]
    request: dict[str, Any] = {"method": "POST", "url": rtype}
    if rtype == "Questionnaire":
        request["ifNoneExist"] = f"url={resource['url']}&version={resource['version']}"
        return request
    identifier = resource.get("identifier")
    own = identifier[0] if isinstance(identifier, list) and identifier else identifier
    if isinstance(own, dict) and own.get("system") and own.get("value"):
        request["ifNoneExist"] = f"identifier={own['system']}|{own['value']}"
    return request


def _rewrite(node: Any, local: dict[str, str]) -> None:
    """Point references at the Bundle's full URLs (a versioned Goal reference loses its version)."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            base = "/".join(ref.split("/")[:2])
            if base in local:
                node["reference"] = local[base]
        for value in node.values():
            _rewrite(value, local)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, local)
