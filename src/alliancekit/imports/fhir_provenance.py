"""When alliancekit stored each event of the source, and the day it names, from its Provenance: what orders
the records, and what dates a goal's revisions.

The export writes one Provenance per event, with ``recorded`` (the instant the event was stored), ``target``
(the resources it made or changed), the event's type in ``activity``
(:data:`~alliancekit.fhir.codes.EVENT_TYPE`) and ``occurredDateTime`` (for a goal's agreement and
revisions, the day the event names; the Goal is its current version only). Several events can target one
resource (an episode's holds, resumptions and transfers, a Flag's acknowledgement and resolution, a
rupture's repair attempts, a goal's revisions), so an event is looked up by the resource, the event's type
and which of those events it is, in the order they were stored: the n-th revision of a goal made its
version n + 1 (``Goal/<id>/_history/<n + 1>`` in NDJSON; a Bundle's references do not keep the version).
A Provenance without an event type (another system's, or an export written before it had one) or without
``recorded`` dates nothing: the records run by day, its day in working-day order, and a goal's revisions
fall back to the Goal's ``statusDate``.

Events stored at one instant (a clock that did not tell commands apart, as the demo's) are told apart by
where their Provenance stands in the source: the export writes an episode's Provenance in the order its
events were stored (:class:`Stamp`).
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import NamedTuple

from alliancekit.fhir.codes import EVENT_TYPE
from alliancekit.imports.fhir_json import Resource, as_list, coding_of

Error = Callable[[Resource, str, str, str], None]


class Stamp(NamedTuple):
    """When an event was stored, and where its Provenance stands in the source: what orders events stored
    at one instant."""

    at: datetime
    """When it was stored (``recorded``)."""
    read: int
    """How many Provenance resources the source holds before this one."""


class Stored(NamedTuple):
    """One event as its Provenance tells it."""

    stamp: Stamp
    on: date | None
    """The day ``occurredDateTime`` names (``None``: it names none)."""


def _stamp(stored: Stored) -> Stamp:
    return stored.stamp


class RecordedAt:
    """The events of the source by the resource they targeted and the event's type, in the order stored."""

    def __init__(self) -> None:
        self._events: defaultdict[tuple[str, str], list[Stored]] = defaultdict(list)
        self._read = 0

    def add(self, res: Resource, error: Error) -> None:
        """Read one Provenance (a ``recorded`` that is not an instant with its zone, or an
        ``occurredDateTime`` that is not a date, goes to ``error``)."""
        data = res.data
        read, self._read = self._read, self._read + 1
        event = coding_of(data.get("activity"), EVENT_TYPE)
        recorded = data.get("recorded")
        if event is None or recorded is None:
            return
        try:
            at: datetime | None = datetime.fromisoformat(str(recorded))
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:
            error(res, "Provenance.recorded", "datetime", "a date and time with its zone")
            return
        occurred = data.get("occurredDateTime")
        try:
            on = None if occurred is None else date.fromisoformat(str(occurred)[:10])
        except ValueError:
            error(res, "Provenance.occurredDateTime", "date", "a date, or a date and time")
            return
        for target in as_list(data.get("target")):
            reference = target.get("reference") if isinstance(target, dict) else None
            if isinstance(reference, str):
                found = self._events[(reference.split("/_history/")[0], event)]
                insort(found, Stored(Stamp(at, read), on), key=_stamp)

    def resolve(self, full_urls: Mapping[str, tuple[str, str]]) -> None:
        """Name the targets of a Bundle's Provenance (its entries' full URLs) as ``Type/id``."""
        for reference, event in [key for key in self._events if key[0] in full_urls]:
            rtype, rid = full_urls[reference]
            for stored in self._events.pop((reference, event)):
                insort(self._events[(f"{rtype}/{rid}", event)], stored, key=_stamp)

    def event(self, target: str, event: str, index: int = 0) -> Stored | None:
        """The ``index`` th event of type ``event`` targeting ``target`` (``Type/id``), in the order they
        were stored (``-1``: the last); ``None`` when the source does not say."""
        found = self._events.get((target, event), [])
        return found[index] if -len(found) <= index < len(found) else None

    def at(self, target: str, event: str, index: int = 0) -> Stamp | None:
        """When that event (:meth:`event`) was stored; ``None`` when the source does not say."""
        found = self.event(target, event, index)
        return None if found is None else found.stamp


class EpisodeEvents:
    """The instants of the events that target one EpisodeOfCare (its holds, transfers, ending, ...)."""

    def __init__(self, recorded: RecordedAt, episode: str) -> None:
        self.recorded, self.episode = recorded, episode

    def at(self, event: str, index: int = 0) -> Stamp | None:
        return self.recorded.at(self.episode, event, index)
