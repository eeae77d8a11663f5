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

The events are kept on disk (:class:`~alliancekit.store.scratch.ScratchLists`: instants, numbers and days,
under hashed keys), so a large source's Provenance costs no memory; an episode's are looked up as it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, NamedTuple

from alliancekit.fhir.codes import EVENT_TYPE
from alliancekit.imports.fhir_checked import read_day, read_instant
from alliancekit.imports.fhir_json import Resource, as_list, coding_of

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.imports.fhir_joined import FullUrls
    from alliancekit.store.scratch import ScratchLists

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


#: The ``ScratchLists`` list of the events, keyed by (target as the source names it, event type).
EVENTS = "events"


class RecordedAt:
    """The events of the source by the resource they targeted and the event's type, in the order stored.

    A Bundle's Provenance names its targets by their entries' full URLs (``urls``): an event is found under
    ``Type/id`` whichever way the source named it."""

    def __init__(self, scratch: ScratchLists, urls: FullUrls) -> None:
        self._scratch, self._urls = scratch, urls
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
        at = read_instant(error, res, "Provenance.recorded", recorded)
        if at is None:
            return
        occurred = data.get("occurredDateTime")
        on = None if occurred is None else read_day(error, res, "Provenance.occurredDateTime", occurred)
        if occurred is not None and on is None:
            return
        item = (at.isoformat(), read, None if on is None else on.isoformat())
        for target in as_list(data.get("target")):
            reference = target.get("reference") if isinstance(target, dict) else None
            if isinstance(reference, str):
                self._scratch.append(EVENTS, (reference.split("/_history/")[0], event), item)

    def _stored(self, named: str, event: str) -> list[Stored]:
        return [
            Stored(
                Stamp(datetime.fromisoformat(str(at)), int(str(read))),
                None if on is None else date.fromisoformat(str(on)),
            )
            for at, read, on in self._scratch.items(EVENTS, (named, event))
        ]

    def event(self, target: str, event: str, index: int = 0) -> Stored | None:
        """The ``index`` th event of type ``event`` targeting ``target`` (``Type/id``), in the order they
        were stored (``-1``: the last); ``None`` when the source does not say. A reference that is a full
        URL of the source names the entry's resource, never itself."""
        found = [] if target in self._urls else self._stored(target, event)
        for url in self._urls.naming(target):
            found += self._stored(url, event)
        found.sort(key=_stamp)
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
