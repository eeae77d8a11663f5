"""Reading a whole store for verification: the one place :mod:`alliancekit.integrity.verify` gets its input.

A backend that offers ``read_transaction()`` (a context manager; the SQLite and PostgreSQL stores do) is
read inside one read transaction, so a writer committing meanwhile cannot make the parts disagree.

Each episode carries the clinics its rows name, for a report on one clinic to pick its own (see
:mod:`alliancekit.integrity.verify`); the audit entries and checkpoints are read by chain, each chain whole:
from a store that keeps chains per clinic in one database (``audit_chains_per_clinic``, the SQLite store), a
clinic's report reads its own chains, those of calls made without an actor, and the shared part an older file
kept (its reads take ``chains=``); from any other store, all of them. A backend that offers
``iter_audit_records()`` (the SQLite and PostgreSQL stores do) gives the entries a page at a time, in the read
transaction, so that a long log is walked without being held. For a reader of another clinic than the one a
clinic-scoped store acts for (its ``clinic_scope``, see :mod:`alliancekit.store.protocol`) the store holds
nothing: the scan is empty, as the store's caseload is for another clinic, so nothing of the store's clinic
(not even a chain position) reaches another clinic's report.

The measure definitions kept with the data are read in the same transaction, with whether the store has
kept them since its first event (:class:`~alliancekit.integrity.verify.DefinitionsRecord`): not when it
keeps none (no ``measure_definitions()``), when its schema predates them (``holds_definitions`` false: a
read-only open of an older file), nor when its migration marked it as holding administrations from before
(practice metadata :data:`~alliancekit.store.definitions.BACKFILL_KEY`, whatever its value). A store whose
schema records that mark in the audit log (``audits_backfill_mark``; true unless a read-only open of an older
file) says so, and verification then asks for the mark's entry.

A backend that offers ``schema_found()`` (the SQLite and PostgreSQL stores do) says which schema version it
states and whether its structure agrees (:mod:`alliancekit.store.structure`), for verification to report a
stated version the structure disagrees with: a version lowered by hand, which would hide the later tables'
checks (a read-only open reads the tables there, whatever the version says).

A backend that offers ``check_file()`` (the SQLite store: SQLite's ``PRAGMA quick_check``) checks the file's
structure first and raises :class:`~alliancekit.errors.StoreCorrupt` when it is malformed: a damaged page the
walk would not read (an index's, a free page) must not let a torn backup verify as sound.

A row changed outside alliancekit may not even be readable (a time that is not a time): the part it is in is
reported as unreadable, for verification to name (by the row's table and key, when the store's decoder names
it: :class:`~alliancekit.errors.UnreadableRow`), instead of ending the scan.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

import attrs

from alliancekit.domain.checks import NO_CLINIC
from alliancekit.errors import UnreadableRow
from alliancekit.integrity.verify import DefinitionsRecord, EpisodeRecord
from alliancekit.store.definitions import BACKFILL_KEY
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    CommandRecord,
    DefinitionStore,
    RequestRecord,
    Store,
    StoredEvent,
)
from alliancekit.store.rows import UNDECODABLE
from alliancekit.store.structure import SchemaFound

T = TypeVar("T")
#: What decoding a row changed outside alliancekit raises: a store's UnreadableRow names the row; another
#: store's decoder may raise what a time, a number or JSON that is not one raises.
_UNREADABLE = (UnreadableRow, *UNDECODABLE)


def scan_record(
    store: Store, clinic: str | None = None, *, progress: Callable[[int, int], None] | None = None
) -> tuple[
    Iterator[EpisodeRecord], Iterable[AuditRecord], list[AuditCheckpoint], DefinitionsRecord, Sequence[str]
]:
    """See :func:`scan_store`, which also reads the keyed commands and administration requests; this is the
    same scan without them."""
    scan = scan_store(store, clinic, progress=progress)
    return scan.episodes, scan.audit, scan.checkpoints, scan.definitions, scan.unreadable


@attrs.frozen
class Scan:
    """What :func:`scan_store` reads (see :func:`scan_record` for the parts it shares with it)."""

    episodes: Iterator[EpisodeRecord]
    audit: Iterable[AuditRecord]
    checkpoints: list[AuditCheckpoint]
    definitions: DefinitionsRecord
    unreadable: Sequence[str]
    commands: Sequence[CommandRecord] | None = None
    """Every keyed command's record (``command_records()``); ``None``: the store cannot list them."""
    requests: Sequence[RequestRecord] | None = None
    """Every administration request (``request_records()``); ``None``: the store cannot list them."""
    unreadable_rows: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)
    """For an unreadable part whose store named the row (:class:`~alliancekit.errors.UnreadableRow`):
    ``(<table> row <key>, rule)``, by part."""
    schema: SchemaFound | None = None
    """The schema version the store states and what its structure says of it (``schema_found()``);
    ``None``: the store states none."""


def scan_store(
    store: Store, clinic: str | None = None, *, progress: Callable[[int, int], None] | None = None
) -> Scan:
    """The store's episodes (lazily, in id order), its audit entries, its checkpoints, its measure
    definitions, and the parts that could not be read (``"audit"``, ``"checkpoints"``, ``"caseload"``,
    ``"definitions"``: read as empty). An episode whose
    events or snapshot cannot be read is yielded with ``readable`` false. ``clinic``: the reader's clinic;
    a store scoped to another clinic gives it nothing (and is not read).

    The audit entries are a list, or, from a store with ``iter_audit_records()``, an iterable read as it
    is walked, once: walk it before the episodes (:func:`~alliancekit.integrity.verify.verify_record`
    does), as they end the read transaction, and only then are the unreadable parts complete (an entry
    that cannot be read ends the walk and adds ``"audit"``).

    Consume the iterators in the calling thread; the episodes end the read transaction when exhausted or
    closed.
    ``progress`` is called with the episodes walked so far and how many there are, each time the consumer
    asks for the next one and once the walk is over (so, done with the last: ``(n, n)``): with ``clinic``,
    its episodes only (the ones verification checks; the others are passed over uncounted); never when
    there is none.
    """
    scope = getattr(store, "clinic_scope", None)
    if clinic is not None and scope is not None and scope != clinic:
        return Scan(iter(()), [], [], DefinitionsRecord(), ())
    check = getattr(store, "check_file", None)
    if check is not None:  # a file its backend finds malformed: StoreCorrupt, before a part reads as sound
        check()
    stack = contextlib.ExitStack()
    hold = getattr(store, "read_transaction", None)
    unreadable = _Unread(clinic)

    def part(name: str, read: Callable[[], list[T]]) -> list[T]:
        try:
            return read()
        except _UNREADABLE as exc:
            unreadable.add(name, exc)
            return []

    # A store keeping chains per clinic in one database (SQLite) gives a clinic's report the clinic's own
    # chains, those of calls made without an actor (every clinic's auditor sees them) and the shared part a
    # file kept before chains per clinic: never another clinic's chains.
    read: dict[str, object] = {}
    if clinic is not None and getattr(store, "audit_chains_per_clinic", False):
        read["chains"] = ("", clinic, NO_CLINIC)
    try:
        if hold is not None:
            stack.enter_context(hold())
        stream = getattr(store, "iter_audit_records", None)
        if stream is None:
            audit: Iterable[AuditRecord] = part("audit", lambda: store.audit_records(**read))
        else:
            audit = _streamed(lambda: stream(**read), unreadable)
        checkpoints = part("checkpoints", lambda: store.audit_checkpoints(**read))
        rows = {row.episode_id: row for row in part("caseload", lambda: store.caseload(open_only=False))}
        ids = list(store.episode_ids())
        definitions = DefinitionsRecord()  # a store that keeps none: nothing to check, nothing expected
        if isinstance(store, DefinitionStore):
            stored = part("definitions", store.measure_definitions)
            marked = _marked(store)
            definitions = DefinitionsRecord(
                stored,
                complete=bool(getattr(store, "holds_definitions", True)) and not marked,
                marked=marked,
                mark_audited=marked and bool(getattr(store, "audits_backfill_mark", True)),
            )
        commands: list[CommandRecord] | None = _listed(store, "command_records", "commands", unreadable)
        requests: list[RequestRecord] | None = _listed(store, "request_records", "requests", unreadable)
        schema_found = getattr(store, "schema_found", None)
        schema: SchemaFound | None = None if schema_found is None else schema_found()
    except BaseException:
        stack.close()
        raise

    def episodes() -> Generator[EpisodeRecord, None, None]:
        with stack:
            for episode_id in ids:
                row = rows.pop(episode_id, None)
                try:
                    snapshot, events = store.load_snapshot(episode_id), store.load_events(episode_id)
                except _UNREADABLE:
                    yield EpisodeRecord(episode_id, None, row, (), readable=False, clinics=_clinics(row, ()))
                    continue
                yield EpisodeRecord(episode_id, snapshot, row, events, clinics=_clinics(row, events))
            # Caseload rows of episodes the store does not list: projections without a record.
            for episode_id, row in sorted(rows.items()):
                yield EpisodeRecord(episode_id, None, row, (), clinics=_clinics(row, ()))

    def counted(report: Callable[[int, int], None]) -> Iterator[EpisodeRecord]:
        # The episodes verification checks: the reader's clinic's (every one for the whole record), as
        # their caseload rows say before the walk pops them; an episode whose events say otherwise (moved
        # outside alliancekit) is only known when walked, and the total follows it.
        total = sum(1 for row in rows.values() if clinic is None or row.clinic_id == clinic)
        if clinic is None:
            total += len(set(ids) - rows.keys())
        done = shown = 0
        with contextlib.closing(episodes()) as walk:  # closed with this one: the transaction ends
            for episode in walk:
                yield episode
                if clinic is not None and clinic not in episode.clinics:
                    continue  # another clinic's, passed over
                done += 1
                if done < total:
                    report(done, total)  # asked for the next: the consumer is done with this one
                    shown = done
        if done > shown:  # the last one, when the walk is over: the line ends at n of n
            report(done, done)

    walked = episodes() if progress is None else counted(progress)
    return Scan(
        walked, audit, checkpoints, definitions, unreadable.parts, commands, requests, unreadable.rows, schema
    )


class _Unread:
    """The parts that could not be read, and the row that could not, where the store named it."""

    def __init__(self, clinic: str | None) -> None:
        self.clinic = clinic
        self.parts: list[str] = []
        self.rows: dict[str, tuple[str, str]] = {}

    def add(self, name: str, exc: Exception) -> None:
        self.parts.append(name)
        # named to the reader whose row it is (any row for the whole record): another clinic's key, or a
        # row whose clinic cannot be read, is not a clinic's to learn, and its finding names the part only
        if isinstance(exc, UnreadableRow) and (self.clinic is None or exc.clinic in (self.clinic, NO_CLINIC)):
            self.rows.setdefault(name, (f"{exc.table} row {exc.key}", exc.rule))


def _listed(store: Store, method: str, name: str, unreadable: _Unread) -> list[T] | None:
    """The rows ``store.<method>()`` lists; ``None`` when the store has no such method or cannot list them
    (a read-only open of an older schema); empty, with ``name`` added to ``unreadable``, when a row cannot
    be read."""
    read: Callable[[], list[T] | None] | None = getattr(store, method, None)
    if read is None:
        return None
    try:
        return read()
    except _UNREADABLE as exc:
        unreadable.add(name, exc)
        return []


def _marked(store: Store) -> bool:
    """Whether the store carries the mark of a migration that found administrations from before it kept
    measure definitions (see the module docstring)."""
    return store.load_meta(BACKFILL_KEY) is not None


def _streamed(stream: Callable[[], Iterable[AuditRecord]], unreadable: _Unread) -> Iterator[AuditRecord]:
    """The entries ``stream`` yields; one that cannot be read ends them and marks the audit log unreadable
    (verification then reads it as empty, as when the whole list cannot be read)."""
    try:
        yield from stream()
    except _UNREADABLE as exc:
        unreadable.add("audit", exc)


def _clinics(row: CaseloadRow | None, events: Sequence[StoredEvent]) -> frozenset[str]:
    """The clinics an episode's rows name: its caseload row's and its events'. Both count, so that moving
    an episode to another clinic in one of them does not take it out of its own clinic's verification."""
    named = {event.clinic_id for event in events}
    if row is not None:
        named.add(row.clinic_id)
    return frozenset(named)
