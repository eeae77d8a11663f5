"""What an importer hands the writer: units of work, each ending at a source row, and the errors found.

A *unit* is what is written (and acknowledged) together: one session of a CSV import (its consecutive rows),
one episode of a FHIR import. Its ``last_row`` becomes the checkpoint once it is committed, so a re-run
resumes after it. Every write carries an idempotency key derived from the source's identity of the record
(client, episode, date), never from a position, so a re-run writes nothing twice even without a checkpoint.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
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
    column: str | None = None
    """For a refusal of the library (whose ``field`` is the library's): the source column the refused value
    came from, when the source can name one (``None``: a derived value, or not a CSV import)."""

    def __str__(self) -> str:
        where = f'column "{self.column}" ({self.field})' if self.column else self.field
        return f"row {self.row}, {where}: {self.rule}" + (f" ({self.message})" if self.message else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "rule": self.rule,
            "message": self.message,
            "column": self.column,
        }


@attrs.frozen
class EpisodeRef:
    """An episode as the source knows it: the client, the source's episode reference, who treats."""

    client_ref: str = attrs.field(repr=hidden)
    episode_ref: str
    clinician_id: str
    opened_on: date
    modality: Modality
    population: str | None = None
    """The norm population the episode names (``None``: each measure's default)."""

    def key(self, what: str) -> str:
        return idempotency_key(self.client_ref, self.episode_ref, what)

    def keys(self, whats: Iterable[str]) -> list[str]:
        """The key of each of ``whats`` (records of one kind, in source order), telling apart two alike
        (two transfers to one clinician on one day, say) by their repeat: ``what:1``, ``what:2``; the
        first keeps the key an import made before repeats were told apart."""
        seen: Counter[str] = Counter()
        out = []
        for what in whats:
            out.append(self.key(f"{what}:{seen[what]}" if seen[what] else what))
            seen[what] += 1
        return out


@attrs.frozen
class Ref:
    """An id only the write knows: what the unit's step with idempotency key ``key`` returned (its record
    id, or its ``index``-th goal id). The source's ids are not the library's: a rupture's repair names the
    rupture the import made, not the one the source had."""

    key: str
    index: int | None = None


@attrs.frozen
class Build:
    """A record to make at write time, because a field of it is a :class:`Ref`."""

    kind: type
    fields: Mapping[str, Any] = attrs.field(repr=hidden)


@attrs.frozen
class OpenAlert:
    """The open alert the feedback rules raised again on the import (alerts are never imported): the one
    of ``rule_id`` raised on ``raised_on`` about ``measure_id`` and ``participant``. A step that names one
    that is no longer open (the episode's closing resolved it, or an earlier run did) is left out."""

    rule_id: str = attrs.field(repr=hidden)
    raised_on: date
    measure_id: str | None = attrs.field(default=None, repr=hidden)
    participant: str | None = attrs.field(default=None, repr=hidden)
    acknowledged: bool = False
    """Look for one already acknowledged (to resolve it) as well as one only raised."""


@attrs.frozen
class Step:
    """One facade command of a unit, run on the unit's episode: ``method(actor, episode_id, **args)``.

    Argument values may be :class:`Ref`, :class:`Build` or :class:`OpenAlert`: the writer resolves them
    against what the unit's earlier steps returned and the episode's state."""

    method: str
    args: Mapping[str, Any] = attrs.field(repr=False)
    key: str
    """The idempotency key: the same source record always gives the same key."""
    by: str | None = None
    """The clinician who makes it, when not the episode's first clinician of record (after a transfer)."""


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
    consultation: Any = None
    """The consultation as the source has it (a :class:`~alliancekit.Consultation`); ``None``: on the day
    the episode opened, in its modality, with consent to treatment and measures."""
    fit_on: date | None = None
    """The day care was agreed (``None``: the day the episode opened)."""
    withheld: bool = False
    """Whether the source says records of this episode were withheld from it (a refusal then says so)."""
    columns: Mapping[str, str] = attrs.field(factory=dict)
    """The source column each library field of the unit came from (``opened_on``: ``Date``), for a field
    that came from one column; a refusal of the library names it."""
    settings: str = ""
    """A digest of the import's settings that shape what its writes ask for beyond the rows (a CSV
    mapping's population column, default and value map); empty when there are none. Part of :attr:`key`,
    so a re-run under other settings does not take the checkpoint's word for the rows before it."""

    @property
    def key(self) -> str:
        """The key of the unit's last write (with :attr:`settings`, when there are any): a re-run checks
        that the checkpoint's row still holds it, and reads the source again from its start when not."""
        key = self.steps[-1].key if self.steps else self.episode.key("episode")
        return f"{key}+{self.settings}" if self.settings else key


def idempotency_key(*parts: str) -> str:
    """A key from the source identity of a record (a hash: the client reference never appears in it)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return f"import-{digest[:40]}"


def chained(digest: str, unit: Unit) -> str:
    """The digest of the units read up to ``unit``, from ``digest`` (those before it; ``""`` before the
    first): of their rows and of everything they ask to write, so two sources give one digest only when
    they hold the same units on the same rows, in the same order."""
    text = json.dumps(_plain_form(unit), ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{digest}\x1f{text}".encode("utf-8", "surrogatepass")).hexdigest()


def _plain_form(value: Any) -> Any:
    """``value`` as JSON can hold it, each record with its type's name and every field (hidden in reprs or
    not), so that the JSON text tells any two different values apart."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return [type(value).__qualname__, _plain_form(value.value)]
    if isinstance(value, date):
        return [type(value).__qualname__, value.isoformat()]
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    if attrs.has(type(value)):
        fields = [[f.name, _plain_form(getattr(value, f.name))] for f in attrs.fields(type(value))]
        return [type(value).__qualname__, fields]
    if isinstance(value, Mapping):
        return ["{}", [[_plain_form(k), _plain_form(v)] for k, v in value.items()]]
    if isinstance(value, tuple | list | frozenset | set):
        items = [_plain_form(v) for v in value]
        return ["[]", sorted(items, key=repr) if isinstance(value, frozenset | set) else items]
    # anything else by its type and repr (a repr that differs run to run only makes a re-run read it all)
    return [type(value).__qualname__, repr(value)]
