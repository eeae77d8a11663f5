"""An episode as FHIR Bundles: ``collection`` (to hand over), ``batch`` or ``transaction`` (to load into a
server, again and again without duplicates).

- **collection** and **batch**: every entry's ``fullUrl`` is ``urn:uuid:<resource id>`` and references
  between entries are rewritten to those URLs, as FHIR asks of Bundles whose resources have no server yet.
- **batch** entries are conditional creates: ``POST <type>`` with ``ifNoneExist`` on the resource's own
  identifier (``identifier=<RESOURCE_ID_SYSTEM>|<id>``; a Questionnaire on its canonical ``url`` and
  ``version``), so loading the same export twice creates nothing twice. The identifier's value is the
  resource id, never the ``urn:uuid:`` full URL (a server rewrites those to the ids it assigns). Provenance
  has no identifier element: it is ``PUT Provenance/<id>`` (update as create with its own id).
- **transaction** entries are ``PUT <type>/<id>``: update as create with the export's own, stable ids, so a
  second load updates in place. A transaction with conditional entries needs the server's strict isolation,
  which servers bound (Medplum refuses more than 8 such entries); plain updates need none, so an episode is
  split into transactions of at most ``max_entries`` entries (:data:`TRANSACTION_MAX_ENTRIES` by default)
  whose references stay relative (``Encounter/<id>``) and therefore hold across them. Load them in order:
  a transaction's entries come after the resources they refer to (a review's ``hasMember`` after the
  goal-progress Observations it names), so no part refers to a resource only a later one creates.
"""

from __future__ import annotations

from collections.abc import Iterator
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

BUNDLE_TYPES = ("collection", "batch", "transaction")
#: Entries per transaction Bundle by default: Medplum refuses a transaction of more than 50 updates.
TRANSACTION_MAX_ENTRIES = 50

#: What ``max_entries`` may be, as an error says it to a CLI and a library user alike.
MAX_ENTRIES_RULE = "a whole number from 1 to 10000, or no limit for one Bundle"


def episode_bundle(
    practice: Practice,
    actor: Actor,
    episode_id: str,
    *,
    purpose: Purpose | str | None = None,
    bundle_type: str = "collection",
    options: ExportOptions | None = None,
    timestamp: datetime | None = None,
    recipient: str | None = None,
) -> dict[str, Any]:
    """Export one episode as a Bundle (JSON-ready dict). The episode is read through the facade
    (:meth:`~alliancekit.Practice.export_record`): decided by the access policy, the client's lockbox
    applied, free text decrypted, and audited as ``export-fhir`` with the client and the purpose.

    :param purpose: treatment, client-access or quality-improvement; the actor's purpose by default.
    :param bundle_type: ``"collection"``, ``"batch"`` (conditional creates) or ``"transaction"`` (updates
        by id, the whole episode in one Bundle; :func:`episode_bundles` splits it).
    :param timestamp: the Bundle's ``timestamp``; by default :meth:`~alliancekit.Practice.now`, the
        practice's clock.
    :param recipient: whom the Bundle is for: the lockbox withholds what the client withheld from them,
        and the export's audit entries name them. With none named, whatever any directive withholds from
        anyone is withheld, and the entries record ``(unnamed)``.
    :raises NotFoundError: no such episode.
    :raises AccessDenied: the policy refuses this actor the episode.
    """
    if bundle_type not in BUNDLE_TYPES:
        raise ValidationError("bundle_type", "one-of", "collection, batch or transaction")
    if timestamp is not None:
        check_aware_datetime("timestamp", timestamp)
    exporter = Exporter(practice, actor, purpose=purpose, options=options, recipient=recipient)
    exported = exporter.episode(episode_id)
    resources = exporter.questionnaires(exported.measures) + exported.resources
    # stamped by the practice's clock, as the export's audit entry is, when the caller gives no time
    when = practice.now() if timestamp is None else timestamp
    return make_bundle(exported, resources, exporter.purpose, bundle_type, when)


def episode_bundles(
    practice: Practice,
    actor: Actor,
    episode_id: str,
    *,
    purpose: Purpose | str | None = None,
    bundle_type: str = "transaction",
    max_entries: int | None = TRANSACTION_MAX_ENTRIES,
    options: ExportOptions | None = None,
    timestamp: datetime | None = None,
    recipient: str | None = None,
) -> list[dict[str, Any]]:
    """One episode as Bundles of at most ``max_entries`` entries each (only transactions are split: a
    collection or batch Bundle is one, whatever its size). Load them in the order given.

    :param max_entries: 1 to 10,000, or ``None`` for one Bundle.
    :raises ValidationError: ``max_entries: range``, and see :func:`episode_bundle`.
    """
    check_max_entries(max_entries)
    bundle = episode_bundle(
        practice,
        actor,
        episode_id,
        purpose=purpose,
        bundle_type=bundle_type,
        options=options,
        timestamp=timestamp,
        recipient=recipient,
    )
    return split_bundle(bundle, max_entries)


def check_max_entries(max_entries: object) -> None:
    """Refuse a ``max_entries`` that is not ``None`` (no limit: one Bundle) or a whole number from 1 to
    10,000. The message is read by a CLI user (who leaves ``--max-entries`` out for no limit) as well as a
    library user (who passes ``None``), so it says "no limit", not Python's ``None``."""
    size = max_entries
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 10_000):
        raise ValidationError("max_entries", "range", MAX_ENTRIES_RULE)


def missing_questionnaires(bundles: list[dict[str, Any]]) -> list[str]:
    """The Questionnaire canonicals (``url|version``) the Bundles' responses name but none of them contains:
    the measure's definition is neither registered nor stored with the data, so the export is incomplete."""
    named: dict[str, None] = {}
    present: set[str] = set()
    for bundle in bundles:
        for entry in bundle.get("entry", ()):
            resource = entry["resource"]
            if resource["resourceType"] == "QuestionnaireResponse":
                named[resource["questionnaire"]] = None
            elif resource["resourceType"] == "Questionnaire":
                present.add(f"{resource['url']}|{resource['version']}")
    return [c for c in named if c not in present]


def split_bundle(bundle: dict[str, Any], max_entries: int | None) -> list[dict[str, Any]]:
    """A transaction Bundle as transactions of at most ``max_entries`` entries, in order (ids ``<id>``,
    ``<id>-2``, ...); any other Bundle, or one that fits, unchanged.

    The entries are put in reference order first (each after what it refers to) and a cut never falls inside a
    cycle of references, so every reference is to a resource of the same or an earlier part.

    :raises ValidationError: ``max_entries: cycle``: more resources than ``max_entries`` refer to each other
        in a cycle (only a plugin's resources can), which no split into parts loaded in order can keep.
    """
    entries = bundle.get("entry", [])
    if bundle["type"] != "transaction" or max_entries is None or len(entries) <= max_entries:
        return [bundle]
    chunks: list[list[dict[str, Any]]] = [[]]
    for group in _reference_groups(entries):
        if len(group) > max_entries:
            raise ValidationError(
                "max_entries",
                "cycle",
                f"at least {len(group)} for this episode: that many resources refer to each other in a "
                "cycle, and a transaction referring to one a later transaction creates would be refused",
            )
        if len(chunks[-1]) + len(group) > max_entries:
            chunks.append([])
        chunks[-1].extend(group)
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        part = {**bundle, "entry": chunk}
        if n > 1:
            part["id"] = f"{bundle['id']}-{n}"
        parts.append(part)
    return parts


def _reference_groups(entries: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The entries in reference order: groups each after every group its entries refer to, a group being one
    entry or, where references form a cycle, all the entries of the cycle (in their given order).

    The order is that of a depth-first walk in the given order (Tarjan's strongly connected components), so
    each entry moves only to come after what it refers to, and entries already in reference order keep their
    order. References to resources not in ``entries`` (and a resource's reference to itself) are ignored.
    """
    position = {_key(entry["resource"]): i for i, entry in enumerate(entries)}
    targets = [
        sorted({position[ref] for ref in _references(entry["resource"]) if ref in position} - {i})
        for i, entry in enumerate(entries)
    ]
    # Tarjan's algorithm, iterative (a long chain of references would exceed Python's recursion limit)
    number = [-1] * len(entries)
    low = [0] * len(entries)
    on_stack = [False] * len(entries)
    stack: list[int] = []
    groups: list[list[dict[str, Any]]] = []
    counter = 0
    for root in range(len(entries)):
        if number[root] >= 0:
            continue
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        walk = [(root, 0)]
        while walk:
            node, k = walk[-1]
            if k < len(targets[node]):
                walk[-1] = (node, k + 1)
                target = targets[node][k]
                if number[target] < 0:
                    number[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack[target] = True
                    walk.append((target, 0))
                elif on_stack[target]:
                    low[node] = min(low[node], number[target])
                continue
            walk.pop()
            if walk:
                parent = walk[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == number[node]:  # the root of a group: it and everything above it on the stack
                members = []
                while True:
                    member = stack.pop()
                    on_stack[member] = False
                    members.append(member)
                    if member == node:
                        break
                groups.append([entries[i] for i in sorted(members)])
    return groups


def _key(resource: Resource) -> str:
    return f"{resource['resourceType']}/{resource.get('id')}"


def _references(node: Any) -> Iterator[str]:
    """Every reference in ``node`` as ``<type>/<id>`` (a versioned one without its version)."""
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str):
            yield "/".join(ref.split("/")[:2])
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def make_bundle(
    exported: EpisodeExport,
    resources: list[Resource],
    purpose: Purpose,
    bundle_type: str = "collection",
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    # A transaction keeps relative references (they hold across the transactions it is split into); every
    # Bundle drops the version of a versioned reference (a server numbers versions its own way).
    by_url = bundle_type != "transaction"
    local = {
        f"{r['resourceType']}/{r['id']}": f"urn:uuid:{r['id']}"
        if by_url
        else f"{r['resourceType']}/{r['id']}"
        for r in resources
        if "id" in r
    }
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
        if bundle_type == "batch":
            entry["request"] = conditional_create(resource)
        elif bundle_type == "transaction":
            entry["request"] = {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        entries.append(entry)
    if exported.withheld and bundle_type == "collection":
        notice = outcome(
            ids.resource_id("OperationOutcome", exported.episode_id, "withheld"), exported.withheld
        )
        entries.append({"fullUrl": f"urn:uuid:{notice['id']}", "resource": notice})
    if bundle_type == "transaction":  # loaded in order when split: each entry after what it refers to
        entries = [entry for group in _reference_groups(entries) for entry in group]
    if entries:
        bundle["entry"] = entries
    return bundle


def conditional_create(resource: Resource) -> dict[str, Any]:
    """The request of a batch entry: a create that matches what an earlier load created, so a reload
    creates nothing twice (Provenance, which has no identifier, is an update by its own id)."""
    rtype = resource["resourceType"]
    if rtype == "Provenance":
        return {"method": "PUT", "url": f"Provenance/{resource['id']}"}
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
