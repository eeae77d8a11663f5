"""When alliancekit stored each event of the source, from its Provenance: what orders one day's records.

The export writes one Provenance per event, with ``recorded`` (the instant the event was stored), ``target``
(the resources it made or changed) and the event's type in ``activity``
(:data:`~alliancekit.fhir.codes.EVENT_TYPE`). Several events can target one resource (an episode's holds,
resumptions and transfers, a Flag's acknowledgement and resolution, a rupture's repair attempts, a goal's
revisions), so an instant is looked up by the resource, the event's type and which of those events it is,
in the order they were stored: the n-th revision of a goal made its version n + 1 (``Goal/<id>/_history/``
``<n + 1>``, a version a Bundle's references do not keep). A Provenance without an event type (another
system's, or an export written before it had one) or without ``recorded`` dates nothing: the day's records
keep their working-day order.
"""

from __future__ import annotations

from bisect import insort
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime

from alliancekit.fhir.codes import EVENT_TYPE
from alliancekit.imports.fhir_json import Resource, coding_of

Error = Callable[[Resource, str, str, str], None]


class RecordedAt:
    """The instants events were stored at, by the resource they targeted and the event's type."""

    def __init__(self) -> None:
        self._instants: defaultdict[tuple[str, str], list[datetime]] = defaultdict(list)

    def add(self, res: Resource, error: Error) -> None:
        """Read one Provenance (a ``recorded`` that is not an instant with its zone goes to ``error``)."""
        data = res.data
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
        for target in data.get("target") or []:
            reference = target.get("reference") if isinstance(target, dict) else None
            if isinstance(reference, str):
                insort(self._instants[(reference.split("/_history/")[0], event)], at)

    def resolve(self, full_urls: Mapping[str, tuple[str, str]]) -> None:
        """Name the targets of a Bundle's Provenance (its entries' full URLs) as ``Type/id``."""
        for reference, event in [key for key in self._instants if key[0] in full_urls]:
            rtype, rid = full_urls[reference]
            for at in self._instants.pop((reference, event)):
                insort(self._instants[(f"{rtype}/{rid}", event)], at)

    def at(self, target: str, event: str, index: int = 0) -> datetime | None:
        """When the ``index`` th event of type ``event`` targeting ``target`` (``Type/id``) was stored, in the
        order they were (``-1``: the last); ``None`` when the source does not say."""
        found = self._instants.get((target, event), [])
        return found[index] if -len(found) <= index < len(found) else None


class EpisodeEvents:
    """The instants of the events that target one EpisodeOfCare (its holds, transfers, ending, ...)."""

    def __init__(self, recorded: RecordedAt, episode: str) -> None:
        self.recorded, self.episode = recorded, episode

    def at(self, event: str, index: int = 0) -> datetime | None:
        return self.recorded.at(self.episode, event, index)
