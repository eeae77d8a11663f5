"""Which measure definitions a commit carries to its store, so that the data stays describable without its
plugins (see :mod:`alliancekit.store.definitions`).

A runner remembers the (measure, version) pairs whose definitions a commit of its own has stored: a
command's scores are then checked with one set lookup each, and only the first commit of a process that
uses a measure carries its definition (the store inserts it if absent, refuses it if changed). A pair is
remembered after its commit is written, never before: a commit that fails leaves it to the next one.

A store migrated to keep definitions marks itself (practice metadata ``measure-definitions-backfill``) when
it already held data: its older administrations name measures it holds no definition of. The first
writable practice opened on it records the definitions of every measure still registered, then clears the
mark. A measure whose plugin was removed before that cannot be recovered; its export still says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from alliancekit.events.types import EVENT_TYPES, Event, RecordedScore
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.store.definitions import BACKFILL_KEY, stored_definition
from alliancekit.store.protocol import DefinitionStore, Store, StoredDefinition, StoredEvent
from alliancekit.store.reader import RecordReader

#: The event types that can record scores (the others are not decoded to find the measures used).
SCORED_TYPES = frozenset(
    name
    for name, cls in EVENT_TYPES.items()
    if any(f.name == "scores" for f in getattr(cls, "__attrs_attrs__", ()))
)
BACKFILL_PENDING = '"pending"'
BACKFILL_DONE = '"done"'


class DefinitionLedger:
    """The definitions one runner's commits still have to carry. Safe to share between threads: a race
    only makes two commits carry the same definition, which the store takes once."""

    def __init__(self, measures: MeasureRegistry, reader: RecordReader) -> None:
        self._measures = measures
        self._on = reader.keeps_definitions
        self._stored: set[tuple[str, str]] = set()
        # Each registered measure's stored form, made once: until a commit is written, every command that
        # scores a measure carries its definition (a batch's first transaction, hundreds of them), and the
        # canonical JSON and SHA-256 of a whole definition cost more than the rest of the command.
        self._made: dict[tuple[str, str], StoredDefinition] = {}

    def pending(self, events: Iterable[Event]) -> tuple[StoredDefinition, ...]:
        """The definitions of the measures ``events`` scored that no commit of this runner has stored."""
        if not self._on:
            return ()
        new: dict[tuple[str, str], StoredDefinition] = {}
        for event in events:
            for key in _scored(event):
                if key in self._stored or key in new:
                    continue
                try:
                    new[key] = self._definition(key)
                except LookupError:  # not registered (cannot happen to a score just made): nothing to keep
                    continue
        return tuple(new.values())

    def _definition(self, key: tuple[str, str]) -> StoredDefinition:
        made = self._made.get(key)
        if made is None:  # at most one per registered measure: the registry is fixed for the runner
            made = self._made[key] = stored_definition(self._measures.get(*key))
        return made

    def stored(self, definitions: Iterable[StoredDefinition]) -> None:
        """Remember definitions a written commit carried."""
        self._stored.update((d.measure_id, d.version) for d in definitions)


def record_registered(store: Store, reader: RecordReader, measures: MeasureRegistry) -> None:
    """On a store marked by its migration, record every registered measure's definition it lacks.

    Nothing happens on a read-only store, a store that keeps no definitions, or one not marked. A
    registered definition that differs from the stored one is left out here: the first command that uses
    it is refused (:class:`~alliancekit.errors.MeasureDefinitionChanged`).
    """
    if getattr(store, "read_only", False) or not isinstance(store, DefinitionStore):
        return
    if reader.load_meta(BACKFILL_KEY) != BACKFILL_PENDING:
        return
    stored = {(d.measure_id, d.version) for d in reader.measure_definitions()}
    store.save_definitions(_registered(measures, stored))
    store.save_meta(BACKFILL_KEY, BACKFILL_DONE)


def _registered(measures: MeasureRegistry, stored: set[tuple[str, str]]) -> Sequence[StoredDefinition]:
    return [stored_definition(measures.get(*key)) for key in measures if key not in stored]


def _scored(event: Event) -> Iterator[tuple[str, str]]:
    """The (measure id, version) of each score ``event`` records: the definitions its commit carries."""
    for score in getattr(event, "scores", ()):
        if isinstance(score, RecordedScore):
            yield score.measure_id, score.version


def administered(
    decode: Callable[[StoredEvent], Event], events: Iterable[StoredEvent]
) -> set[tuple[str, str]]:
    """The measure versions stored ``events`` scored, by the rule that makes a commit carry a definition
    (verification asks that each one has its definition stored); only events that can score are decoded."""
    return {key for stored in events if stored.type in SCORED_TYPES for key in _scored(decode(stored))}


class DecodedOnce:
    """``decode`` remembering the events of one episode: verification folds an episode's stored events and
    then asks which measure versions they scored (:func:`administered`), and each event is decoded once for
    both. A failure to decode is remembered too (raised again). Bounded: an event of another episode
    forgets the one before; events are told apart by identity (verification passes the same ones twice)."""

    def __init__(self, decode: Callable[[StoredEvent], Event]) -> None:
        self._decode = decode
        self._episode: str | None = None
        #: id(stored) -> (stored, its event or what decoding it raised); the stored event is held so
        #: that its id is not reused while it is remembered
        self._done: dict[int, tuple[StoredEvent, Event | Exception]] = {}

    def __call__(self, stored: StoredEvent) -> Event:
        if stored.episode_id != self._episode:
            self._episode = stored.episode_id
            self._done = {}
        found = self._done.get(id(stored))
        if found is None:
            result: Event | Exception
            try:
                result = self._decode(stored)
            except Exception as exc:  # noqa: BLE001 - remembered and raised again, to each caller alike
                result = exc
            found = self._done[id(stored)] = (stored, result)
        if isinstance(found[1], Exception):
            raise found[1]
        return found[1]


def installed_digests(measures: MeasureRegistry) -> Callable[[str, str], str | None]:
    """The SHA-256 of the registered definition of a measure version, as a store would keep it (``None``
    when none is registered): the reference verification holds a stored definition to. Each is made once."""
    made: dict[tuple[str, str], str | None] = {}

    def digest(measure_id: str, version: str) -> str | None:
        key = (measure_id, version)
        if key not in made:
            made[key] = stored_definition(measures.get(*key)).sha256 if key in measures else None
        return made[key]

    return digest
