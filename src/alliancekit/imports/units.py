"""What an importer hands the writer: units of work, each ending at a source row, and the errors found.

A *unit* is what is written (and acknowledged) together: one session of a CSV import (its consecutive rows),
one episode of a FHIR import. Its ``last_row`` becomes the checkpoint once it is committed, so a re-run
resumes after it. Every write carries an idempotency key derived from the source's identity of the record
(client, episode, date), never from a position, so a re-run writes nothing twice even without a checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

import attrs

from alliancekit.domain.vocab import Modality


@attrs.frozen
class RowError:
    """A problem with one source row: where (row, field) and which rule. Never the value."""

    row: int
    """The row as a spreadsheet numbers it (the header is row 1), or the line of an NDJSON file."""
    field: str
    """The source column (CSV) or the resource path (FHIR)."""
    rule: str
    message: str = ""

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.rule}" + (f" ({self.message})" if self.message else "")

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "field": self.field, "rule": self.rule, "message": self.message}


@attrs.frozen
class EpisodeRef:
    """An episode as the source knows it: the client, the source's episode reference, who treats."""

    client_ref: str
    episode_ref: str
    clinician_id: str
    opened_on: date
    modality: Modality

    def key(self, what: str) -> str:
        return idempotency_key(self.client_ref, self.episode_ref, what)


@attrs.frozen
class MadeBy:
    """A step argument naming the record an earlier step of the same unit made (the session a client
    response was given in): the writer passes that step's ``record_id``, known only once it has run."""

    key: str
    """The earlier step's idempotency key."""


@attrs.frozen
class Step:
    """One facade command of a unit, run on the unit's episode: ``method(actor, episode_id, **args)``."""

    method: str
    args: Mapping[str, Any] = attrs.field(repr=False)
    key: str
    """The idempotency key: the same source record always gives the same key."""


@attrs.frozen
class Unit:
    """Commands written together; ``last_row`` is the checkpoint once they are committed."""

    first_row: int
    last_row: int
    episode: EpisodeRef
    steps: tuple[Step, ...]
    proceed: bool = True
    """Whether the episode's fit decision is to proceed (an episode still in consultation has none)."""
    consulted: bool = True
    """Whether the episode's consultation is recorded (an episode just opened has none yet)."""

    @property
    def key(self) -> str:
        """The key of the unit's last write: a re-run checks that the checkpoint's row still holds it."""
        return self.steps[-1].key if self.steps else self.episode.key("episode")


def idempotency_key(*parts: str) -> str:
    """A key from the source identity of a record (a hash: the client reference never appears in it)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"import-{digest[:40]}"
