"""Writing import units through the facade's batch path, with a checkpoint after each acknowledged batch.

Every write is an ordinary facade command (guard, checks, scoring, alert rules, audit) run in a
:meth:`Practice.batch <alliancekit.Practice.batch>` (one store transaction per batch of units), made as the
episode's clinician, with an idempotency key derived from the source record: a unit written twice (after a
crash between its commit and the checkpoint) is a duplicate the runner recognises, never a second record.
The checkpoint is saved after the batch of units it covers is committed, so a re-run resumes after it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from alliancekit.batch import MAX_BATCH_SIZE
from alliancekit.core.runner import Recorded
from alliancekit.domain.actors import Actor
from alliancekit.domain.records import Consent, Consultation, FitDecision
from alliancekit.domain.vocab import AlertStatus, FitOutcome, Purpose, Role
from alliancekit.errors import (
    AlliancekitError,
    ConflictError,
    DuplicateCommand,
    IdempotencyKeyReused,
    StoreError,
    ValidationError,
)
from alliancekit.imports.checkpoint import ImportCheckpoint
from alliancekit.imports.units import Build, EpisodeRef, OpenAlert, Ref, RowError, Unit, chained
from alliancekit.store.scratch import ScratchMap

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

#: Units between two checkpoints: each batch of them is one store transaction (``Practice.batch``).
DEFAULT_BATCH_SIZE = 500
#: The most units one commit may hold: a bound on the memory a batch holds until its commit, and low enough
#: that a batch of the largest units (a FHIR episode of some 50 commands) stays under the batch path's
#: MAX_BATCH_SIZE commands, so that one commit never splits a unit.
MAX_UNITS_PER_BATCH = 2_000
#: Times a batch another writer raced (:class:`~alliancekit.errors.ConflictError`,
#: :class:`~alliancekit.errors.DuplicateCommand`) is written again.
CONFLICT_RETRIES = 5
#: The id the importer's maintenance actor (checkpoints) is audited under.
IMPORT_ACTOR_ID = "alliancekit-import"
#: What the consultation and fit decision of an imported episode say (no client words are invented).
IMPORTED_RATIONALE = "imported history"
#: A refusal's message when the source says records were withheld from it (a lockboxed export).
REFUSED_WITHHELD = "refused by the library; the export says records were withheld from it"
#: The rule of an episode imported before with another norm population than its rows now give (the rule a
#: later row that changes its episode's population breaks too).
POPULATION_CHANGED = "population-changed"


class Source(Protocol):
    """What the writer reads: units in source order, and the row errors found while reading them."""

    errors: list[RowError]

    def units(self) -> Iterator[Unit]: ...

    def estimated_rows(self) -> int: ...


@attrs.frozen
class ImportProgress:
    """How far an import is: source rows done of about how many, and since when."""

    rows: int
    total_rows: int
    units: int
    started: float
    """``time.monotonic()`` at the start."""
    resumed_after: int = 0
    """The row the run resumed after (rows up to it were committed by an earlier run)."""

    @property
    def rate(self) -> float:
        """Rows per second written by this run."""
        elapsed = time.monotonic() - self.started
        return (self.rows - self.resumed_after) / elapsed if elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        if rate <= 0 or self.total_rows <= self.rows:
            return None
        return (self.total_rows - self.rows) / rate


@attrs.frozen
class ImportResult:
    """What an import (or a dry run) did."""

    units: int
    """Units read (sessions of a CSV file, episodes of a FHIR export), written or not."""
    written: int
    """Units written by this run."""
    skipped: int
    """Units already imported, written again by nothing: those before the checkpoint of an earlier run,
    and those after it found stored by their keys (a run under another checkpoint, or a crash between a
    commit and its checkpoint, wrote them; a dry run looks them up)."""
    errors: tuple[RowError, ...]
    checkpoint: int
    """The last source row committed (0: none); a dry run's is where the import would resume after."""
    dry_run: bool
    notes: tuple[str, ...] = ()
    """What the source held that was not imported, and why (no client data)."""
    to_write: int = 0
    """A dry run: the units the import would write now (after the checkpoint and before the first row with
    an error, where it would stop), counted as :attr:`written` counts them. 0 for an import."""
    rechecked: int = 0
    """The row of an earlier checkpoint the source no longer matched (the units up to it are not the ones
    committed then), so every unit was read again and looked up by its keys; 0: none, or it matched."""

    def to_json(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "written": self.written,
            "to_write": self.to_write,
            "skipped": self.skipped,
            "checkpoint": self.checkpoint,
            "dry_run": self.dry_run,
            "errors": [e.to_json() for e in self.errors],
            "notes": list(self.notes),
            "rechecked": self.rechecked,
        }


def import_actor(clinic_id: str) -> Actor:
    """The actor that reads and saves an import's checkpoint (the system actor, for operations)."""
    return Actor(IMPORT_ACTOR_ID, Role.SYSTEM, clinic_id, Purpose.OPERATIONS)


class _Episodes:
    """Opens each source episode once (start, consultation, fit to proceed), all with idempotency keys, and
    remembers its id: on a re-run the keys return the episode made before. The ids are kept on disk
    (:class:`~alliancekit.store.scratch.ScratchMap`): a long import's memory does not grow with them."""

    def __init__(self, clinic_id: str, populations: Collection[str] = ()) -> None:
        self.clinic_id = clinic_id
        self.populations = sorted(populations)
        """The norm populations an episode may name (the registered measures'): what
        :meth:`_reused` tries."""
        self._ids = ScratchMap()
        self._actors: dict[str, Actor] = {}

    def _start(self, target: Any, actor: Actor, ref: EpisodeRef, population: str | None) -> str:
        started: str = target.start_episode(
            actor, **_start_args(ref, population), idempotency_key=ref.key("episode")
        )
        return started

    def _reused(self, target: Any, actor: Actor, ref: EpisodeRef, reused: IdempotencyKeyReused) -> Exception:
        """Why the episode's keyed start was refused as another request (see :func:`_changed_population`)."""
        return _changed_population(
            ref, self.populations, lambda population: self._start(target, actor, ref, population), reused
        )

    def actor(self, ref: EpisodeRef, clinician_id: str | None = None) -> Actor:
        """The clinician the unit's commands are made as: one (immutable) actor per clinician id, checked
        once rather than once per command (an id that is not text is checked, and refused, every time)."""
        actor_id = clinician_id or ref.clinician_id
        actor = self._actors.get(actor_id) if type(actor_id) is str else None
        if actor is None:
            actor = Actor(actor_id, Role.CLINICIAN, self.clinic_id, Purpose.TREATMENT)
            self._actors[actor.id] = actor
        return actor

    def ensure(self, target: Any, unit: Unit, results: list[Any]) -> str:
        """The unit's episode id, opening the episode (its keyed start, consultation and fit decision) the
        first time; the consultation's and fit decision's results are added to ``results``."""
        ref = unit.episode
        known = self._ids.get((ref.client_ref, ref.episode_ref))
        if known is not None and known[0] is not None:
            return known[0]
        actor = self.actor(ref)
        opened: date = ref.opened_on
        try:
            episode_id = self._start(target, actor, ref, ref.population)
        except IdempotencyKeyReused as reused:
            raise self._reused(target, actor, ref, reused) from None
        if unit.consulted:
            consultation = unit.consultation or Consultation(
                opened, ref.modality, Consent(treatment=True, measures=True)
            )
            results.append(
                target.record_consultation(
                    actor, episode_id, consultation, idempotency_key=ref.key("consultation")
                )
            )
        if unit.proceed:
            results.append(
                target.decide_fit(
                    actor,
                    episode_id,
                    FitDecision(FitOutcome.PROCEED, unit.fit_on or opened, rationale=IMPORTED_RATIONALE),
                    idempotency_key=ref.key("fit"),
                )
            )
        self._ids.put((ref.client_ref, ref.episode_ref), (episode_id,))
        return episode_id

    def forget(self) -> None:
        self._ids.clear()

    def close(self) -> None:
        self._ids.close()


def _start_args(ref: EpisodeRef, population: str | None) -> dict[str, Any]:
    """The arguments of the episode's keyed start (``start_episode``), with ``population``."""
    return {
        "client_ref": ref.client_ref,
        "clinician_id": ref.clinician_id,
        "opened_on": ref.opened_on,
        "population": population,
    }


def _changed_population(
    ref: EpisodeRef,
    populations: Collection[str],
    start: Callable[[str | None], object],
    reused: IdempotencyKeyReused,
) -> Exception:
    """Why an episode's keyed start was refused as another request: when the same start with another
    population is answered from its key (``start(population)`` does not raise: an earlier run, or another
    mapping, opened the episode with that population), a :class:`ValidationError` naming ``population``
    (rule ``population-changed``); else the refusal as it was (the episode's first date or clinician
    changed). Only the failing unit's batch (or a dry run's look) sees the tries."""
    for population in (None, *populations):
        if population == ref.population:
            continue
        try:
            start(population)
        except IdempotencyKeyReused:
            continue
        return ValidationError(
            "population", POPULATION_CHANGED, "the episode was imported before with another population"
        )
    return reused


class _Refused(Exception):
    """A command of a unit the library refused: which command, and the library's error."""

    def __init__(self, command: str, error: AlliancekitError) -> None:
        super().__init__(command)
        self.command, self.error = command, error

    def row_error(self, unit: Unit, withheld: bool = False) -> RowError:
        """As a row error: the unit's first row, the field the library named (else the command), the rule,
        and the source column the field came from when the unit knows it; when the source says records were
        withheld from it, the message says so (the likely cause), and an episode imported before with
        another population says that."""
        field = str(getattr(self.error, "field", "")) or self.command
        rule = str(getattr(self.error, "rule", type(self.error).__name__))
        message = REFUSED_WITHHELD if withheld else "refused by the library"
        if rule == POPULATION_CHANGED:
            message = str(getattr(self.error, "detail", "")) or message
        return RowError(unit.first_row, field, rule, message, unit.columns.get(field))


class _Missing(Exception):
    """An :class:`OpenAlert` that is not open: its step has nothing left to do."""


def _resolved(value: Any, made: dict[str, Any], alerts: Callable[[], Any]) -> Any:
    """``value`` with every :class:`Ref`, :class:`Build` and :class:`OpenAlert` in it resolved."""
    if isinstance(value, Ref):
        found = made[value.key]
        return found[value.index] if value.index is not None else found.record_id
    if isinstance(value, Build):
        return value.kind(**{k: _resolved(v, made, alerts) for k, v in value.fields.items()})
    if isinstance(value, OpenAlert):
        wanted = (
            (AlertStatus.RAISED, AlertStatus.ACKNOWLEDGED) if value.acknowledged else (AlertStatus.RAISED,)
        )
        wanted_one = (value.rule_id, value.raised_on, value.measure_id, value.participant)
        for alert_id, alert in alerts().items():
            found = (alert.rule_id, alert.raised_on, alert.measure_id, alert.participant)
            if found == wanted_one and alert.status in wanted:
                return alert_id
        raise _Missing()
    if isinstance(value, tuple):
        return tuple(_resolved(v, made, alerts) for v in value)
    return value


class _Reader:
    """Who reads a unit's episode to find the open alert a step names (:class:`OpenAlert`), and whether it
    needs to: the clinician of record the stored episode has when the step runs, as the policy lets only
    them read it.

    On a first import that is the step's own clinician: the unit is written whole, in source order. A
    re-run (under another source id, or from the start after the source changed) finds the episode stored,
    to the end of its story or of an earlier export's. A step a later stored step follows was run when that
    story was written (a unit is committed whole, in order): its alert was resolved then, or was not open,
    and it reads nothing now. That holds however the practice moved the episode on since: a transfer made
    there after the import is no step of the source's, and who holds the episode now is no answer the
    import needs. A step after the stored story (a longer export) reads as the clinician the source's last
    stored transfer handed over to, else as its own clinician.

    Which steps are stored is asked of the idempotency record, through the guarded path
    (:meth:`Practice.imported_command <alliancekit.Practice.imported_command>`, as each step's maker, who is
    answered about a command they made: writing nothing), in source order until the first step not stored,
    and only for an episode stored before this run. Steps whose arguments are the source's own are asked
    with them; the handling of alerts right after the last of those stored (its alert's id is resolved at
    write time) by its key alone, so a story that ends with alerts handled is found stored to its end, and a
    re-run after the practice transferred the episode reads nothing."""

    def __init__(self, practice: Practice, episodes: _Episodes, unit: Unit, episode_id: str) -> None:
        self.practice, self.episodes, self.unit, self.episode_id = practice, episodes, unit, episode_id

    def done(self, index: int) -> bool:
        """Whether the unit's ``index``-th step ran when an earlier run wrote the story it is part of."""
        return index <= self._stored[0]

    def actor(self, index: int) -> Actor:
        """Who reads for the unit's ``index``-th step."""
        ref, step = self.unit.episode, self.unit.steps[index]
        handed = self._stored[1]
        if handed is not None and handed[0] > index:
            return self.episodes.actor(ref, handed[1])
        return self.episodes.actor(ref, step.by)

    @functools.cached_property
    def _stored(self) -> tuple[int, tuple[int, str] | None]:
        """The index of the unit's last stored step (-1: none), and of its last stored transfer with who it
        handed over to (``None``: none is). Stored steps are the first of the unit's: a stored story is the
        start of the source's. The handling of an alert right after the last stored step of the source's
        own arguments is asked by its key alone (its alert's id is learnt only by reading the episode); one
        not stored does not end the story (it found its alert not open and wrote nothing)."""
        ref, episodes = self.unit.episode, self.episodes
        stored = self.practice.imported_command
        opened = _start_args(ref, ref.population)
        # an episode this run opens (held in its batch, not stored yet) has no step stored
        if stored(episodes.actor(ref), "start_episode", opened, idempotency_key=ref.key("episode")) is None:
            return -1, None
        last, handed = -1, None
        steps, where = self.unit.steps, self.episode_id
        for index, step in enumerate(steps):
            if not _plain(step.args):
                continue
            maker = episodes.actor(ref, step.by)
            if stored(maker, step.method, step.args, idempotency_key=step.key, episode_id=where) is None:
                break  # the stored story ends before this step
            last = index
            if step.method == "transfer":
                handed = (index, str(step.args["to_clinician_id"]))
        # the alerts handled right after it (at the end of the story, say) are asked by their keys alone
        for index in range(last + 1, len(steps)):
            step = steps[index]
            if not _alerted(step.args):
                break
            maker = episodes.actor(ref, step.by)
            key = step.key
            if stored(maker, step.method, {}, idempotency_key=key, episode_id=where, any_request=True):
                last = index
        return last, handed


def _run_step(target: Any, reader: _Reader, index: int, made: dict[str, Any]) -> None:
    unit, episode_id = reader.unit, reader.episode_id
    step = unit.steps[index]
    actor = reader.episodes.actor(unit.episode, step.by)
    if _alerted(step.args) and reader.done(index):
        return  # run with the story stored before: its alert was resolved then (or was not open)
    try:
        args = {
            k: _resolved(v, made, lambda: target.episode(reader.actor(index), episode_id).alerts)
            for k, v in step.args.items()
        }
    except _Missing:
        return
    made[step.key] = getattr(target, step.method)(actor, episode_id, **args, idempotency_key=step.key)


def _write(practice: Practice, target: Any, episodes: _Episodes, unit: Unit) -> bool:
    """Write ``unit``'s commands; whether it was stored already (every command that says so was answered
    from its key: a unit is committed whole, so an earlier run, or a crash after its commit, wrote it)."""
    command = "start_episode"
    try:
        results: list[Any] = []
        episode_id = episodes.ensure(target, unit, results)
        made: dict[str, Any] = {}
        reader = _Reader(practice, episodes, unit, episode_id)
        for index, step in enumerate(unit.steps):
            command = step.method
            _run_step(target, reader, index, made)
    except (StoreError, ConflictError, DuplicateCommand):
        raise  # the store failed (a lost connection, ...) or another writer won a race: not the unit's fault
    except AlliancekitError as exc:
        raise _Refused(command, exc) from exc
    said = [r.duplicate for r in (*results, *made.values()) if isinstance(r, Recorded)]
    return bool(said) and all(said)


class _Run:
    """One pass over a source; ``restart`` is set when the source changed before the checkpoint."""

    def __init__(
        self,
        practice: Practice,
        source: Source,
        clinic_id: str,
        source_id: str,
        batch_size: int,
        progress: Callable[[ImportProgress], None] | None,
        dry_run: bool,
        from_start: bool = False,
    ) -> None:
        self.practice, self.source, self.source_id = practice, source, source_id
        self.batch_size, self.progress, self.dry_run = batch_size, progress, dry_run
        self.system = import_actor(clinic_id)
        registry = getattr(source, "registry", None)  # the CSV and FHIR sources read against one
        self.episodes = _Episodes(clinic_id, () if registry is None else registry.populations())
        # a dry run reads the checkpoint too (a read of metadata, unaudited): it reports what the import
        # would do from there
        self.saved = None if from_start else practice.import_checkpoint(self.system, source_id)
        self.after = 0 if self.saved is None else self.saved.row
        self.last = self.saved
        self.started = time.monotonic()
        self.total_rows = source.estimated_rows()
        self.units = self.written = self.skipped = 0
        self.to_write = self.present = self.checked = 0
        """A dry run's units the import would write, units after the checkpoint it would find stored, and
        units read after the checkpoint."""
        self.would_refuse: list[RowError] = []
        """A dry run's units the import would refuse (found by their keys)."""
        self.stopped = False
        """A dry run: the import would have stopped at an error by now."""
        self.pending: list[Unit] = []
        self.refused: list[RowError] = []
        self.restart = False
        self.prefix = ""
        """The digest of the units read so far (:func:`~alliancekit.imports.units.chained`)."""

    def _report(self, row: int) -> None:
        if self.progress is not None:
            done = self.to_write if self.dry_run else self.written
            done += self.skipped + self.present
            self.progress(ImportProgress(row, self.total_rows, done, self.started, self.after))

    def commit(self) -> None:
        """Write the pending units in one batch (one store transaction), then, once it is acknowledged, save
        the checkpoint of its last unit. A unit the library refuses discards the whole batch: nothing of it
        is written (no unit half-written), and the import stops there."""
        units, self.pending = self.pending, []
        if not units:
            return
        unit = units[0]
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                # one commit per call (the size only bounds memory): a batch never splits a unit
                found = 0
                with self.practice.batch(size=MAX_BATCH_SIZE) as batch:
                    for unit in units:  # a loop, not a comprehension: a refusal names ``unit``
                        found += _write(self.practice, batch, self.episodes, unit)
                break
            except _Refused as refused:
                self.refused.append(refused.row_error(unit, unit.withheld))
                self.episodes.forget()  # ids made in the discarded batch were never written
                return
            except (ConflictError, DuplicateCommand):
                # Another writer (such as a second run of this import at the same time) wrote to one of the
                # batch's episodes, or applied one of its keys, after the batch read it: nothing of the batch
                # was written. Written again, its keys recognise what the other writer wrote, so nothing is
                # written twice.
                self.episodes.forget()
                if attempt == CONFLICT_RETRIES:
                    raise
        self.written += len(units) - found
        self.present += found
        tail = units[-1]
        # the batch ends with the last unit read, so the digest so far is the digest up to its tail
        done = self.written + self.skipped + self.present
        self.last = ImportCheckpoint(tail.last_row, tail.key, done, self.prefix)
        self.practice.save_import_checkpoint(self.system, self.source_id, self.last)
        self._report(tail.last_row)

    def finished(self) -> ImportResult:
        """:meth:`run`, then the run's scratch memory released, whatever happened."""
        try:
            return self.run()
        finally:
            self.episodes.close()

    def run(self) -> ImportResult:
        errors = self.source.errors
        read = 0  # the last row of the last unit read
        # the units up to the checkpoint are skipped only once the digest of them all is the checkpoint's
        proof = "" if self.saved is None else self.saved.prefix
        unproven = self.after > 0
        for unit in self.source.units():
            if (not self.dry_run and self._stops_at(unit)) or self.refused:
                break  # a row of this unit or before it is wrong: stop, keep what is before it
            self.units += 1
            read = unit.last_row
            self.prefix = chained(self.prefix, unit)
            if unproven:
                if unit.last_row < self.after:
                    self.skipped += 1
                    continue
                if unit.last_row == self.after and self.prefix == proof:
                    self.skipped += 1
                    unproven = False
                    continue
                break  # not the units committed up to the checkpoint (or a unit no longer ends on its row)
            if self.dry_run:
                self._check(unit)
                continue
            self.pending.append(unit)
            if len(self.pending) >= self.batch_size:
                self.commit()
        # a source that does not prove the checkpoint (shorter, changed or moved before its row) is read
        # again from its start: its keys recognise what is stored, and what is new is written
        self.restart = unproven
        if not self.dry_run and not self.restart:
            self.commit()
        elif self.dry_run and not self.restart and self.checked % self.batch_size:
            self._report(read)  # the last rows read, as a run's last commit reports them
        return ImportResult(
            self.units,
            self.written,
            self.skipped + self.present,
            tuple(sorted([*errors, *self.refused, *self.would_refuse], key=lambda e: e.row)),
            0 if self.last is None else self.last.row,
            self.dry_run,
            tuple(getattr(self.source, "notes", ())),
            self.to_write,
        )

    def _look(self, unit: Unit) -> RowError | bool:
        """What the import would do with ``unit``, found by its keys and writing nothing (a dry run, on a
        practice opened read-only): ``True`` when it is stored (its episode's keyed start, and its session,
        are answered from their keys: the import would write nothing of it), ``False`` when it would be
        written, or the row error of the import's refusal (the episode was imported before with another
        population; a key that holds another request). A unit is committed whole, so its session (else,
        for a unit that is a whole episode, its start) tells whether it was. Each is asked as the clinician
        the import would make the command as: whether a key holds a request is theirs to be told."""
        ref, episodes = unit.episode, self.episodes

        def start(population: str | None) -> str | None:
            return self.practice.imported_command(
                episodes.actor(ref),
                "start_episode",
                _start_args(ref, population),
                idempotency_key=ref.key("episode"),
            )

        command = "start_episode"
        try:
            try:
                episode_id = start(ref.population)
            except IdempotencyKeyReused as reused:
                raise _changed_population(ref, episodes.populations, start, reused) from None
            if episode_id is None:
                return False
            # a session's arguments are the source's own values (no Ref to resolve at write time)
            step = next((s for s in unit.steps if s.method == "record_session" and _plain(s.args)), None)
            if step is None:
                return True
            command = step.method
            by = episodes.actor(ref, step.by)
            stored = self.practice.imported_command(
                by, command, step.args, idempotency_key=step.key, episode_id=episode_id
            )
            return stored is not None
        except StoreError:
            raise
        except AlliancekitError as exc:
            return _Refused(command, exc).row_error(unit, unit.withheld)

    def _stops_at(self, unit: Unit) -> bool:
        """Whether the import stops before ``unit``: an error was read at or before its last row."""
        errors = self.source.errors
        return bool(errors) and errors[0].row <= unit.last_row

    def _check(self, unit: Unit) -> None:
        """A dry run's unit after the checkpoint: looked up by its keys (:meth:`_look`) and counted as the
        import would find it (already imported, or to write), unless the import would have stopped at an
        error by then; a unit the import would refuse is reported and stops it. The dry run reads on, to
        report every error; progress per batch of units read, as the import reports per commit."""
        self.stopped = self.stopped or self._stops_at(unit)
        found = self._look(unit)
        if isinstance(found, RowError):
            self.would_refuse.append(found)
            self.stopped = True
        elif not self.stopped:
            if found:
                self.present += 1
            else:
                self.to_write += 1
        self.checked += 1
        if self.checked % self.batch_size == 0:
            self._report(unit.last_row)


def _alerted(value: Any) -> bool:
    """Whether ``value`` holds an :class:`OpenAlert` (found by reading the episode at write time)."""
    if isinstance(value, OpenAlert):
        return True
    if isinstance(value, Build):
        return any(_alerted(v) for v in value.fields.values())
    if isinstance(value, Mapping):
        return any(_alerted(v) for v in value.values())
    if isinstance(value, tuple | list):
        return any(_alerted(v) for v in value)
    return False


def _plain(value: Any) -> bool:
    """Whether ``value`` holds no :class:`Ref`, :class:`Build` or :class:`OpenAlert` (it is the source's
    own, not resolved at write time)."""
    if isinstance(value, Ref | Build | OpenAlert):
        return False
    if isinstance(value, Mapping):
        return all(_plain(v) for v in value.values())
    if isinstance(value, tuple | list):
        return all(_plain(v) for v in value)
    return True


def run_import(
    practice: Practice,
    source: Source,
    *,
    clinic_id: str,
    source_id: str,
    dry_run: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportResult:
    """Import ``source`` into ``clinic_id``'s records, resuming after the checkpoint of ``source_id``.

    Stops at the first source row with an error: the units before it are committed (and checkpointed),
    none after. A :class:`~alliancekit.errors.StoreError` (a lost connection, ...) is raised as it is, not
    reported as a row: the batches before it are committed and checkpointed, so a re-run resumes. A dry run
    reads the whole source, writes nothing and reports every error (row, field, rule), and what the import
    would do from the checkpoint (``skipped``, ``to_write``), looking each unit up by its keys
    (:meth:`Practice.imported_command <alliancekit.Practice.imported_command>`): stored, to write, or
    refused as the import would refuse it (``population-changed``); it does not run the library's other
    rules, so the import may still stop at a unit the library refuses. The units up to the checkpoint are
    skipped only when the digest of them (their rows and what they write, in order) is the checkpoint's:
    a source that is shorter than the checkpoint's row, or changed before it, is read again from its start
    (``rechecked`` says so): every write is idempotent, so what is already stored is recognised, not
    doubled, and what is new is written.
    """
    run = _Run(practice, source, clinic_id, source_id, batch_size, progress, dry_run)
    result = run.finished()
    if run.restart:
        if not dry_run:
            practice.save_import_checkpoint(run.system, source_id, ImportCheckpoint(0, ""))
        result = _Run(practice, source, clinic_id, source_id, batch_size, progress, dry_run, True).finished()
        result = attrs.evolve(result, rechecked=run.after)
    return result
