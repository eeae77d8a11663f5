"""A whole practice as NDJSON files per resource type, in the shape of a FHIR Bulk Data export.

Episodes are exported one at a time and written as they come: memory holds one episode's resources, the
open file handles and the exported episode ids, never the practice. The output directory gets
``<ResourceType>.ndjson`` files and a ``manifest.json`` shaped like the Bulk Data ``$export`` completion
response (``transactionTime``, ``request``, ``requiresAccessToken``, ``output`` with ``type``, ``url`` and
``count``, ``error``), as the Bulk Data IG requires: every ``url`` absolute, ``<base_url>/<file name>`` where
the host serves the directory (``base_url``, ``--base-url``), else the ``file:`` URL of the published file;
``request`` the kick-off request's URL (``<base_url>/$export`` unless given). When records were withheld,
``OperationOutcome.ndjson`` holds one outcome per episode concerned (the count and reason codes only) and
is listed under ``error``, as Bulk Data lists its OperationOutcomes; an outcome names no episode, the
``REDACTED`` label on that episode's EpisodeOfCare does.

The export is crash-safe (:mod:`alliancekit.exports.publish`): every file is written to a hidden temporary
sibling of the output directory (``.<name>.partial-<random>``), the manifest last; the files are fsynced,
every exported episode is audited, and only then is the directory published under its name by one atomic
rename. A killed export leaves nothing under the output directory's name and no published file unaudited;
the next export to the same directory removes its leftovers. An existing, non-empty output directory is
refused unless ``replace=True`` (and then only a previous export, one holding a ``manifest.json``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_aware_datetime
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import ValidationError
from alliancekit.exports.publish import StagedDirectory
from alliancekit.fhir import ids
from alliancekit.fhir.context import ExportOptions
from alliancekit.fhir.export import Exporter, Resource
from alliancekit.fhir.privacy import outcome
from alliancekit.fhir.questionnaire import canonical

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

#: The most episode ids handed to one call of the audit callable.
AUDIT_BATCH = 1000
#: The file that marks a directory as a bulk export (written last): ``replace=True`` replaces only those.
MANIFEST = "manifest.json"

#: Records that the episodes with these ids were exported; returns only once the records are durable.
#: Called before anything is published, once per batch of at most :data:`AUDIT_BATCH` ids.
AuditEpisodes = Callable[[Sequence[str]], None]


@attrs.frozen
class BulkResult:
    """What a bulk export wrote."""

    directory: Path
    manifest: dict[str, Any]
    episodes: int
    resources: int
    counts: dict[str, int]
    withheld_episodes: int
    not_exported: dict[str, int] = attrs.field(factory=dict)
    """Records no mapping exports, by event type (why: ``alliancekit.fhir.records.NOT_EXPORTED_REASONS``)."""
    missing_questionnaires: tuple[str, ...] = ()
    """Canonicals (``url|version``) that exported QuestionnaireResponses name but the export lacks, because
    the measure's definition is neither registered nor stored with the data. Not empty: the export is
    incomplete (``alliancekit export fhir`` warns and exits 1)."""
    placeholder_identifiers: bool = False
    """Whether references are in the placeholder systems ``urn:alliancekit:host:<kind>``: no
    ``ExportOptions.identifier_system`` was set and no plugin supplied identities. Such an export must not
    be loaded beside another host's (their clients would share identifiers); ``alliancekit export fhir``
    warns, and exits 0: the export itself is complete and valid."""


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


def check_base_url(field: str, value: object, *, query: bool = False) -> str:
    """An absolute ``http``/``https`` URL without fragment (nor query, unless ``query``), without its
    trailing ``/``."""
    if not isinstance(value, str):
        raise ValidationError(field, "type", "an absolute http or https URL")
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.fragment
        or (parts.query and not query)
        or any(ch.isspace() for ch in value)
    ):
        rule = "an absolute http or https URL" + ("" if query else " without query") + " or fragment"
        raise ValidationError(field, "absolute-url", rule)
    return value if query else value.rstrip("/")


def _manifest(
    started: datetime,
    counts: dict[str, int],
    purpose: str,
    *,
    base: str,
    request: str,
    requires_access_token: bool,
) -> dict[str, Any]:
    return {
        "transactionTime": started.isoformat(timespec="milliseconds"),
        "request": request,
        "requiresAccessToken": requires_access_token,
        "output": [
            {"type": t, "url": f"{base}/{t}.ndjson", "count": n}
            for t, n in counts.items()
            if t != "OperationOutcome"
        ],
        "error": [
            {
                "type": "OperationOutcome",
                "url": f"{base}/OperationOutcome.ndjson",
                "count": counts["OperationOutcome"],
            }
        ]
        if "OperationOutcome" in counts
        else [],
        "extension": {"https://alliancekit.dev/fhir/bulk/purpose": purpose},
    }


def write_ndjson(
    directory: str | Path,
    episodes: Iterable[tuple[str, Sequence[Resource]]],
    *,
    audit: AuditEpisodes,
    purpose: str,
    replace: bool = False,
    on_resource: Callable[[Resource], None] | None = None,
    base_url: str | None = None,
    request: str | None = None,
    requires_access_token: bool = False,
    transaction_time: datetime | None = None,
) -> BulkResult:
    """Write ``episodes`` (each an episode id and its resources) as a Bulk Data export in ``directory``.

    The storage-free half of :func:`export_ndjson`. In order: check ``directory`` (absent or empty, or with
    ``replace`` a previous export) and remove what killed runs for it left; write every resource to
    ``<ResourceType>.ndjson`` in a temporary sibling directory, ``manifest.json`` last; fsync the files and
    the directory; call ``audit`` with every episode id (in batches of at most :data:`AUDIT_BATCH`); publish
    the directory with one atomic rename; fsync its parent. An episode whose resources include an
    ``OperationOutcome`` counts as having records withheld.

    If anything raises before the rename (the episodes, ``on_resource``, ``audit``), nothing is published and
    the temporary directory is removed. If the process is killed, nothing partial is ever visible under
    ``directory`` and no published file is unaudited; a kill after ``audit`` returned and before the rename
    leaves audit entries for an export that was never published (over-reporting, which is safe). With
    ``replace``, the previous export is renamed aside just before the new one is renamed into place and
    removed after: between those two renames ``directory`` does not exist (see
    :mod:`alliancekit.exports.publish`).

    :param audit: records the export of the given episode ids; must return only once the records are
        durable, and raise (an :class:`~alliancekit.errors.AlliancekitError`) to refuse the export.
    :param purpose: the purpose of use, recorded in the manifest's ``extension``.
    :param replace: replace an existing non-empty ``directory``, if it holds a previous export's manifest.
    :param on_resource: called with each resource before it is written (the CLI validates there).
    :param base_url: the absolute URL the directory will be served at: the manifest's file URLs start
        with it (without it, the ``file:`` URLs of the published files).
    :param request: the kick-off request's URL (default ``<base_url>/$export``).
    :param requires_access_token: what the manifest says of the server that will serve the files.
    :param transaction_time: the manifest's ``transactionTime``, when the export started (default: now).
    :raises ValidationError: ``base_url: absolute-url``, ``request: absolute-url``, ``directory: exists``
        (not empty, ``replace`` not given), ``directory:
        not-an-export``, ``directory: not-a-directory``, or another rule of
        :class:`~alliancekit.exports.publish.StagedDirectory` (a path that cannot be a directory).
    """
    base = None if base_url is None else check_base_url("base_url", base_url)
    kickoff = None if request is None else check_base_url("request", request, query=True)
    if not isinstance(requires_access_token, bool):
        raise ValidationError("requires_access_token", "type", "True or False")
    if transaction_time is not None:
        check_aware_datetime("transaction_time", transaction_time)
    started = datetime.now(UTC) if transaction_time is None else transaction_time
    exported: list[str] = []
    withheld_episodes = 0
    with StagedDirectory(directory, replace=replace, replaces=MANIFEST) as staged:
        writer = _Writer(staged.path)
        try:
            for episode_id, resources in episodes:
                for resource in resources:
                    if on_resource is not None:
                        on_resource(resource)
                    writer.write(resource)
                if any(r.get("resourceType") == "OperationOutcome" for r in resources):
                    withheld_episodes += 1
                exported.append(episode_id)
        finally:
            writer.close()
        counts = dict(sorted(writer.counts.items()))
        served = base or staged.target.as_uri()
        manifest = _manifest(
            started,
            counts,
            purpose,
            base=served,
            request=kickoff or f"{served}/$export",
            requires_access_token=requires_access_token,
        )
        (staged.path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

        def audit_all() -> None:
            for start in range(0, len(exported), AUDIT_BATCH):
                audit(exported[start : start + AUDIT_BATCH])

        staged.publish(audit_all)
    return BulkResult(
        Path(directory), manifest, len(exported), sum(counts.values()), counts, withheld_episodes
    )


def export_ndjson(
    practice: Practice,
    actor: Actor,
    directory: str | Path,
    *,
    purpose: Purpose | str | None = None,
    options: ExportOptions | None = None,
    episode_ids: Iterable[str] | None = None,
    on_resource: Callable[[Resource], None] | None = None,
    replace: bool = False,
    base_url: str | None = None,
    request: str | None = None,
    requires_access_token: bool = False,
    progress: Callable[[int], None] | None = None,
    recipient: str | None = None,
) -> BulkResult:
    """Export every episode of the actor's clinic (or ``episode_ids``) as NDJSON files in ``directory``.

    Crash-safe and audited before it is published: see :func:`write_ndjson`, which does the writing.

    :param episode_ids: the episodes to export, iterated once, when the export reaches them (after the
        ``directory`` checks); default: :meth:`~alliancekit.Practice.episode_ids` of the actor's clinic.
    :param on_resource: called with each resource before it is written (the CLI validates there).
    :param progress: called with the number of episodes exported so far, after each is written.
    :param replace: replace an existing non-empty ``directory`` that holds a previous export.
    :param base_url: where the directory will be served (the manifest's absolute file URLs).
    :param request: the kick-off request's URL for the manifest (default ``<base_url>/$export``).
    :param recipient: whom the export is for: the lockbox withholds what the client withheld from them,
        and each episode's audit entry names them. With none named, whatever any directive withholds from
        anyone is withheld, and the entries record ``(unnamed)``.
    :raises ValidationError: ``recipient: ...`` (not an id; ``reserved``: in parentheses), ``base_url:
        absolute-url`` or ``request: absolute-url`` (checked before anything is read), ``directory: exists``
        when ``directory`` is not empty and ``replace`` is not given (and see :func:`write_ndjson`).
    """
    started = practice.now()  # the manifest's transactionTime, by the clock the audit entries use
    exporter = Exporter(
        practice, actor, purpose=purpose, options=options, kind="fhir-bulk", recipient=recipient
    )

    not_exported: Counter[str] = Counter()

    def episodes() -> Iterable[tuple[str, list[Resource]]]:
        seen_measures: set[tuple[str, str]] = set()
        for done, exported in enumerate(exporter.episodes(episode_ids), start=1):
            not_exported.update(exported.not_exported)
            new = [m for m in exported.measures if m not in seen_measures]
            seen_measures.update(new)
            batch = exporter.questionnaires(new) + exported.resources
            if exported.withheld:
                batch.append(
                    outcome(
                        ids.resource_id("OperationOutcome", exported.episode_id, "withheld"),
                        exported.withheld,
                    )
                )
            yield exported.episode_id, batch
            if progress is not None:  # resumed for the next episode: this one has been written
                progress(done)

    # Each episode's read is audited as it is made (``export-fhir-bulk``, with the client and the purpose,
    # through the facade's guard), in a batch: one transaction per 1,000 entries, the rest written by the
    # audit step, so every entry is durable before anything is published.
    with practice.batched_reads() as audit:
        result = write_ndjson(
            directory,
            episodes(),
            audit=lambda _: audit.flush(),
            purpose=exporter.purpose.value,
            replace=replace,
            on_resource=on_resource,
            base_url=base_url,
            request=request,
            requires_access_token=requires_access_token,
            transaction_time=started,
        )
    return attrs.evolve(
        result,
        not_exported=dict(sorted(not_exported.items())),
        missing_questionnaires=tuple(canonical(m, v) for m, v in exporter.missing),
        placeholder_identifiers=exporter.placeholder_identifiers,
    )
