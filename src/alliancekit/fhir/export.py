"""The export pipeline shared by Bundles and Bulk export: records -> filter -> mapper -> integrator hooks.

For each record of an episode (see :mod:`alliancekit.fhir.records`):

1. ``alliancekit_fhir_export_filter`` may withhold it (the privacy seam, :mod:`alliancekit.fhir.privacy`);
2. the mapper registered for its kind (``alliancekit_fhir_mappers``) makes its resources;
3. ``alliancekit_fhir_resource`` receives each resource with the record, and may add identifiers,
   profiles, extensions or codes (every implementation is called, so they compose).

Provenance comes last, one per exported event, targeting the resources that were emitted, in the order
the events were stored (what ``alliancekit import fhir`` orders events stored at one instant by). One
episode is held in memory at a time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_optional_recipient
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import PluginCall, PluginError, ValidationError
from alliancekit.fhir.context import ExportContext, ExportOptions, check_purpose
from alliancekit.fhir.identity import FhirIdentity, is_placeholder
from alliancekit.fhir.mappers import MapperRegistry, mapper_registry
from alliancekit.fhir.output_check import BUILTIN, WANTED, unfit
from alliancekit.fhir.privacy import Withhold, label_redacted
from alliancekit.fhir.records import (
    NOT_EXPORTED_EVENT_TYPES,
    AdministrationRecord,
    Envelope,
    GoalRecord,
    MeasureRecord,
    ProvenanceRecord,
    Record,
    SessionRecord,
    assemble,
)
from alliancekit.fhir.stored_measures import ExportMeasures

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

Resource = dict[str, Any]
FILTER_HOOK = "alliancekit_fhir_export_filter"
RESOURCE_HOOK = "alliancekit_fhir_resource"


@attrs.frozen
class EpisodeExport:
    """One episode's resources, in emission order, and what was withheld (reason code -> count)."""

    episode_id: str
    resources: list[Resource]
    measures: tuple[tuple[str, str], ...]
    withheld: Counter[str]
    not_exported: Counter[str] = attrs.field(factory=Counter)
    """Records of the episode that no mapping exports, by event type (see ``NOT_EXPORTED_REASONS``)."""


class Exporter:
    """Exports episodes of one practice for one actor and purpose. Cheap to create; not thread-safe."""

    def __init__(
        self,
        practice: Practice,
        actor: Actor,
        *,
        purpose: Purpose | str | None = None,
        options: ExportOptions | None = None,
        kind: str = "fhir",
        recipient: str | None = None,
    ) -> None:
        self.practice = practice
        # Not checked here: the facade refuses (and audits) a call without an actor on the first read.
        self.actor = actor
        stated = getattr(actor, "purpose", Purpose.TREATMENT) if purpose is None else purpose
        self.purpose = check_purpose(stated)
        self.options = options or ExportOptions()
        self.kind = kind
        """Named in the audit entry of each episode read: ``export-<kind>``."""
        # checked now, before a file or an audit entry is written; the lockbox applies for it (none: for all)
        self.recipient = check_optional_recipient("recipient", recipient)
        self.plugins = practice.plugins
        self.mappers: MapperRegistry = mapper_registry(practice.plugins)
        self._refiners = practice.plugins.implementers(RESOURCE_HOOK)
        self.measures = ExportMeasures(
            practice.plugins.measures(),
            uncovered=lambda: practice.measure_definitions(
                actor, purpose=self.purpose, kind=kind, recipient=self.recipient
            ),
        )
        """The registered measures, then those stored with the data (a plugin removed): read with the first
        episode exported, under its entry; an export asked for questionnaires before any episode reads them
        through :meth:`~alliancekit.Practice.measure_definitions`, audited as the export."""
        self._identities: dict[str, tuple[FhirIdentity, str | None]] = {}
        self.missing: dict[tuple[str, str], None] = {}
        """``(measure_id, version)`` of administrations whose definition is neither registered nor stored
        (a plugin removed before its definition was kept): their QuestionnaireResponses name a
        Questionnaire the export cannot contain."""
        self.placeholder_identifiers = False
        """An episode was exported with the default identity and no ``identifier_system`` configured: its
        references are in the placeholder systems (:data:`~alliancekit.fhir.identity.DEFAULT_SYSTEM_BASE`)."""

    # -- contexts ---------------------------------------------------------------------------------------

    def identity(self, clinic_id: str) -> tuple[FhirIdentity, str | None]:
        """The clinic's identity mapping and the plugin that supplied it."""
        found = self._identities.get(clinic_id)
        if found is None:
            found = self.plugins.call_first(
                "alliancekit_fhir_identity", clinic_id=clinic_id, options=self.options
            )
            if found[0] is None:  # pragma: no cover - the builtin plugin always answers
                raise ValidationError("identity", "required", "no plugin supplied FHIR identities")
            self._identities[clinic_id] = found
        return found

    def context(self, clinic_id: str, state: Any = None) -> ExportContext:
        identity, supplier = self.identity(clinic_id)
        return ExportContext(
            actor=self.actor,
            purpose=self.purpose,
            identity=identity,
            identity_supplier=supplier,
            options=self.options,
            measures=self.measures,
            clinic_id=clinic_id,
            episode_id=None if state is None else state.episode_id,
            state=state,
        )

    # -- one record ---------------------------------------------------------------------------------------

    def withheld_by(self, record: Any, ctx: ExportContext) -> str | None:
        """The reason code of the first filter that withholds ``record``, or ``None``.

        :raises PluginError: a filter answered something other than a ``Withhold`` or ``None``.
        """
        answers = self.plugins.call_hook(FILTER_HOOK, record=record, context=ctx)
        if any(not isinstance(answer, Withhold) for answer in answers):
            # A filter is the privacy seam: its mistake must not let the record out unfiltered.
            raise self._wrong_filter_answer(record, ctx)
        return answers[0].reason if answers else None

    def _wrong_filter_answer(self, record: Any, ctx: ExportContext) -> PluginError:
        """The error naming the filter that answered neither ``Withhold`` nor ``None`` (asked again, one by
        one: pluggy's answers do not say whose they are)."""
        culprit = None
        for plugin in self.plugins.implementers(FILTER_HOOK):
            answers = self.plugins.call_hook(FILTER_HOOK, plugin=plugin, record=record, context=ctx)
            if any(not isinstance(answer, Withhold) for answer in answers):
                culprit = plugin
                break
        return PluginError.wrong_answer(FILTER_HOOK, culprit, "a Withhold or None")

    def mapped(self, record: Any, ctx: ExportContext) -> list[Resource]:
        """The record's resources as its kind's mapper makes them.

        :raises PluginError: the mapper made something other than writable resources.
        """
        found = self.mappers.entry(record.KIND)
        if found is None:
            return []
        mapper, supplier = found
        what = f"fhir mapper for {record.KIND}"
        with PluginCall(what, supplier):
            resources = list(mapper(record, ctx))
        plugin_made = supplier != BUILTIN  # the builtin mappers' output is JSON by construction
        if any(unfit(resource, as_json=plugin_made) for resource in resources):
            raise PluginError.wrong_answer(what, supplier, WANTED)
        return resources

    def refine(self, resources: list[Resource], record: Any, ctx: ExportContext) -> None:
        """Hand each resource to ``alliancekit_fhir_resource``.

        :raises PluginError: an implementation left a resource that cannot be written.
        """
        if not self._refiners:
            return
        for resource in resources:
            self.plugins.call_hook(RESOURCE_HOOK, resource=resource, record=record, context=ctx)
        if any(unfit(resource, as_json=True) for resource in resources):
            raise self._spoiled(record, ctx)

    def _spoiled(self, record: Any, ctx: ExportContext) -> PluginError:
        """The error naming the ``alliancekit_fhir_resource`` implementation that spoiled the record's
        resources: found by mapping the record again and handing its resources to one plugin at a time."""
        culprit = None
        fresh = self.mapped(record, ctx)
        for plugin in reversed(self._refiners):  # in pluggy's order: the latest registered first
            for resource in fresh:
                self.plugins.call_hook(
                    RESOURCE_HOOK, plugin=plugin, resource=resource, record=record, context=ctx
                )
            if any(unfit(resource, as_json=True) for resource in fresh):
                culprit = plugin
                break
        who = "an unidentified plugin" if culprit is None else f"plugin {culprit!r}"
        message = f"{who} left a resource in {RESOURCE_HOOK} that is not one of the {WANTED}"
        return PluginError(message).attributed(RESOURCE_HOOK, culprit)

    # -- questionnaires -----------------------------------------------------------------------------------

    def questionnaires(self, keys: Iterable[tuple[str, str]]) -> list[Resource]:
        """The Questionnaire of each ``(measure_id, version)`` that is registered or stored."""
        out: list[Resource] = []
        ctx = self.context(self.actor.clinic_id)
        for measure_id, version in keys:
            try:
                measure = self.measures.get(measure_id, version)
            except LookupError:
                self.missing[(measure_id, version)] = None
                continue
            record = MeasureRecord(measure)
            if self.withheld_by(record, ctx) is not None:
                continue
            resources = self.mapped(record, ctx)
            self.refine(resources, record, ctx)
            out += resources
        return out

    # -- one episode ----------------------------------------------------------------------------------------

    def episode(self, episode_id: str) -> EpisodeExport:
        """Export one episode of the actor's clinic.

        The record comes from the facade (:meth:`~alliancekit.Practice.export_record`): the access policy
        decides, the client's lockbox applies, free text is decrypted with the practice's cipher, and the
        read is audited with the client's reference and the export's purpose before anything is mapped.

        :raises NotFoundError: no such episode.
        :raises AccessDenied: the policy refuses this actor the episode.
        """
        shared = self.practice.export_record(
            self.actor, episode_id, purpose=self.purpose, kind=self.kind, recipient=self.recipient
        )
        self.measures.covered_by(shared)  # the stored definitions, if needed, under this read's entry
        not_exported = Counter(e.type for e in shared.entries if e.type in NOT_EXPORTED_EVENT_TYPES)
        withheld: Counter[str] = Counter()
        if shared.withheld:
            withheld["lockbox"] += 1
        if shared.frame_withheld:  # a whole-record lockbox: not even that the episode exists is exported
            return EpisodeExport(episode_id, [], (), withheld, not_exported)
        # the state as shared: its episode-level facts follow the shared entries (the lockbox applied)
        state = shared.state
        assert state is not None  # noqa: S101 - a record whose opening is shared carries its state
        ctx = self.context(state.clinic_id, state)
        self.placeholder_identifiers |= is_placeholder(ctx.identity)
        assembled = assemble(state, shared.entries)
        reason = self.withheld_by(assembled.episode, ctx)
        if reason is not None:
            withheld[reason] += 1
            return EpisodeExport(episode_id, [], (), withheld, not_exported)

        emitted: list[tuple[Record, list[Resource]]] = [
            (assembled.episode, self.mapped(assembled.episode, ctx))
        ]
        hidden: set[str] = set()
        withheld_sessions: set[str] = set()
        for record in assembled.records:
            if isinstance(record, AdministrationRecord) and record.session_id in withheld_sessions:
                reason = "withheld-session"
            else:
                reason = self.withheld_by(record, ctx)
            resources = self.mapped(record, ctx)
            if reason is not None:
                withheld[reason] += 1
                hidden.update(f"{r['resourceType']}/{r['id']}" for r in resources if "id" in r)
                if isinstance(record, SessionRecord):
                    withheld_sessions.add(record.session_id)
                continue
            emitted.append((record, resources))

        out: list[Resource] = []
        targets: dict[str, list[str]] = {}
        envelopes: dict[str, Envelope] = {}
        for record, resources in emitted:
            if hidden:
                for resource in resources:
                    _prune(resource, hidden)
            self.refine(resources, record, ctx)
            out += resources
            _collect_targets(record, resources, targets, envelopes)

        for event_id in sorted(targets, key=lambda event: envelopes[event].seq):
            env = envelopes[event_id]
            prov = ProvenanceRecord(episode_id, (env,), tuple(targets[event_id]))
            if (reason := self.withheld_by(prov, ctx)) is not None:
                withheld[reason] += 1
                continue
            resources = self.mapped(prov, ctx)
            self.refine(resources, prov, ctx)
            out += resources
        if withheld:  # say which episode had records withheld: an outcome of a Bulk export names none
            for resource in emitted[0][1]:
                if resource.get("resourceType") == "EpisodeOfCare":
                    label_redacted(resource)
        measures = tuple(
            dict.fromkeys(
                (r.administration.measure_id, r.administration.version)
                for r, _ in emitted
                if isinstance(r, AdministrationRecord)
            )
        )
        return EpisodeExport(episode_id, out, measures, withheld, not_exported)

    def episodes(self, episode_ids: Iterable[str] | None = None) -> Iterator[EpisodeExport]:
        """Export episodes one at a time: every episode of the actor's clinic when ``episode_ids`` is None."""
        ids = self.practice.episode_ids(self.actor) if episode_ids is None else episode_ids
        for episode_id in ids:
            yield self.episode(episode_id)


def _collect_targets(
    record: Record, resources: list[Resource], targets: dict[str, list[str]], envelopes: dict[str, Envelope]
) -> None:
    refs = [f"{r['resourceType']}/{r['id']}" for r in resources if "id" in r]
    if not refs:
        return
    for version, env in enumerate(_goal_versions(record) if isinstance(record, GoalRecord) else (), start=1):
        envelopes.setdefault(env.event_id, env)
        targets.setdefault(env.event_id, []).extend(f"{ref}/_history/{version}" for ref in refs)
    for env in record.entries:
        if isinstance(record, GoalRecord) and env.type in ("goal-agreed", "goal-revised"):
            continue
        envelopes.setdefault(env.event_id, env)
        found = targets.setdefault(env.event_id, [])
        found.extend(ref for ref in refs if ref not in found)


def _goal_versions(record: GoalRecord) -> list[Envelope]:
    return [env for env in record.entries if env.type in ("goal-agreed", "goal-revised")]


def _prune(node: Any, hidden: set[str]) -> None:
    """Remove references to withheld resources from ``node`` (in place)."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if isinstance(value, list):
                value[:] = [item for item in value if not _is_hidden(item, hidden)]
            if _is_hidden(value, hidden) or value == []:
                del node[key]  # FHIR has no empty arrays
            else:
                _prune(value, hidden)
    elif isinstance(node, list):
        for item in node:
            _prune(item, hidden)


def _is_hidden(value: Any, hidden: set[str]) -> bool:
    return isinstance(value, dict) and value.get("reference") in hidden
