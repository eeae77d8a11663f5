"""Measure definitions kept with the data: how one is stored, read back, and added without changing one.

A definition is stored as the canonical JSON (sorted keys, compact) of the document the registry loaded, with
its SHA-256. The hash makes "already stored" a comparison of two short strings, and tells a changed
definition (the same id and version with other content: a plugin edited a published definition instead of
versioning it) from a repeat, which is refused rather than silently kept or replaced.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from alliancekit.errors import MeasureDefinitionChanged, MeasureDefinitionError
from alliancekit.events.converter import encode_payload
from alliancekit.measures.definition import Measure, parse_definition
from alliancekit.store.protocol import Commit, StoredDefinition

#: The practice-metadata key a migration sets on a store that held data before definitions were kept
#: (``"pending"`` until a practice records the registered measures' definitions, then ``"done"``).
BACKFILL_KEY = "measure-definitions-backfill"
#: The action of the audit entry a migration writes with :data:`BACKFILL_KEY` (record type
#: ``practice-meta``, record id the key): the hash chain covers it, so a mark set by hand later has none.
BACKFILL_ACTION = "mark-definitions-backfill"


def stored_definition(measure: Measure) -> StoredDefinition:
    """The measure's definition as a store keeps it."""
    text = encode_payload(measure.definition)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return StoredDefinition(measure.id, measure.version, digest, text)


def load_stored(stored: StoredDefinition) -> Measure:
    """The :class:`Measure` a stored definition describes, checked as the registry checks a plugin's (the
    measure-definition meta-schema, then consistency).

    :raises MeasureDefinitionError: the text is not the one its hash names, or not a valid definition.
    """
    if hashlib.sha256(stored.definition_json.encode("utf-8")).hexdigest() != stored.sha256:
        raise MeasureDefinitionError("$", "sha256", f"stored definition of {stored.measure_id} was altered")
    measure = parse_definition(json.loads(stored.definition_json))
    if (measure.id, measure.version) != (stored.measure_id, stored.version):
        raise MeasureDefinitionError("$.id", "stored-key", "the definition names another measure or version")
    return measure


def absent(
    stored: Mapping[tuple[str, str], str], incoming: Iterable[StoredDefinition]
) -> list[StoredDefinition]:
    """The definitions of ``incoming`` to insert, given the SHA-256 already ``stored`` by (id, version).

    Repeats (stored, or twice in ``incoming``) are dropped; every backend applies this one rule.

    :raises MeasureDefinitionChanged: one has another SHA-256 than the one stored (or given) before it.
    """
    seen = dict(stored)
    new: list[StoredDefinition] = []
    for definition in incoming:
        key = (definition.measure_id, definition.version)
        known = seen.get(key)
        if known is None:
            seen[key] = definition.sha256
            new.append(definition)
        elif known != definition.sha256:
            raise MeasureDefinitionChanged(*key)
    return new


def in_order(definitions: Iterable[StoredDefinition]) -> list[StoredDefinition]:
    """Ordered as :meth:`~alliancekit.store.protocol.DefinitionStore.measure_definitions` returns them."""
    return sorted(definitions, key=lambda d: (d.measure_id, d.version))


def of_commits(commits: Sequence[Commit]) -> list[StoredDefinition]:
    """Every definition the commits carry, in order (a batch writes them as one)."""
    return [d for commit in commits for d in commit.definitions]
