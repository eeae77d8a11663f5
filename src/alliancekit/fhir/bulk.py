"""A whole practice as NDJSON files per resource type, in the shape of a FHIR Bulk Data export.

Episodes are exported one at a time and written as they come: memory holds one episode's resources and
the open file handles, never the practice. The output directory gets ``<ResourceType>.ndjson`` files and a
``manifest.json`` shaped like the Bulk Data ``$export`` completion response (``transactionTime``,
``request``, ``requiresAccessToken``, ``output`` with ``type``, ``url`` and ``count``, ``error``). The
``url`` of each file is its name relative to the manifest, since the files are not served. When records
were withheld, ``OperationOutcome.ndjson`` holds one outcome per episode concerned (the count and reason
codes only) and is listed under ``error``, as Bulk Data lists its OperationOutcomes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.vocab import Purpose
from alliancekit.fhir import ids
from alliancekit.fhir.context import ExportOptions
from alliancekit.fhir.export import Exporter, Resource
from alliancekit.fhir.privacy import outcome

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

AUDIT_BATCH = 1000


@attrs.frozen
class BulkResult:
    """What a bulk export wrote."""

    directory: Path
    manifest: dict[str, Any]
    episodes: int
    resources: int
    counts: dict[str, int]
    withheld_episodes: int


class _Writer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = {}

    def write(self, resource: Resource) -> None:
        rtype = resource["resourceType"]
        handle = self.files.get(rtype)
        if handle is None:
            handle = (self.directory / f"{rtype}.ndjson").open("w", encoding="utf-8")
            self.files[rtype] = handle
            self.counts[rtype] = 0
        handle.write(json.dumps(resource, ensure_ascii=False, separators=(",", ":")))
        handle.write("\n")
        self.counts[rtype] += 1

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def export_ndjson(
    practice: Practice,
    actor: Actor,
    directory: str | Path,
    *,
    purpose: Purpose | str | None = None,
    options: ExportOptions | None = None,
    episode_ids: Iterable[str] | None = None,
    on_resource: Callable[[Resource], None] | None = None,
) -> BulkResult:
    """Export every episode of the actor's clinic (or ``episode_ids``) as NDJSON files in ``directory``.

    :param on_resource: called with each resource before it is written (the CLI validates there).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    exporter = Exporter(practice, actor, purpose=purpose, options=options)
    started = datetime.now(UTC)
    writer = _Writer(out)
    seen_measures: set[tuple[str, str]] = set()
    audited: list[str] = []
    episodes = withheld_episodes = 0
    try:
        for exported in exporter.episodes(episode_ids):
            new = [m for m in exported.measures if m not in seen_measures]
            seen_measures.update(new)
            batch = exporter.questionnaires(new) + exported.resources
            if exported.withheld:
                withheld_episodes += 1
                batch.append(
                    outcome(
                        ids.resource_id("OperationOutcome", exported.episode_id, "withheld"),
                        exported.withheld,
                    )
                )
            for resource in batch:
                if on_resource is not None:
                    on_resource(resource)
                writer.write(resource)
            episodes += 1
            audited.append(exported.episode_id)
            if len(audited) >= AUDIT_BATCH:
                exporter.audit(audited, "export-fhir-bulk")
                audited = []
        exporter.audit(audited, "export-fhir-bulk")
    finally:
        writer.close()
    counts = dict(sorted(writer.counts.items()))
    manifest = {
        "transactionTime": started.isoformat(timespec="seconds"),
        "request": "alliancekit export fhir --all",
        "requiresAccessToken": False,
        "output": [
            {"type": t, "url": f"{t}.ndjson", "count": n}
            for t, n in counts.items()
            if t != "OperationOutcome"
        ],
        "error": [
            {
                "type": "OperationOutcome",
                "url": "OperationOutcome.ndjson",
                "count": counts["OperationOutcome"],
            }
        ]
        if "OperationOutcome" in counts
        else [],
        "extension": {"https://alliancekit.dev/fhir/bulk/purpose": exporter.purpose.value},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return BulkResult(out, manifest, episodes, sum(counts.values()), counts, withheld_episodes)
