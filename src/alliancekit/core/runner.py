"""The command runner: one path for every command of the facade.

actor -> input checks -> state -> access -> idempotency -> decide -> alert rules -> one commit -> retry.

Idempotency follows payment APIs: a key is scoped to the clinic and the command, the stored result is bound
to a hash of the request, a repeat of the same request returns the first result (``duplicate=True``) and
the same key with a different request is refused with :class:`~alliancekit.errors.IdempotencyKeyReused`.
With ``expected_version`` (an HTTP ``If-Match``) a host gets
:class:`~alliancekit.errors.ConflictError` at once when the episode has moved on, never a silent retry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.core.clinical_dates import refuse_future
from alliancekit.core.command_table import CommandSpec, Returns
from alliancekit.core.definitions import DefinitionLedger, record_registered
from alliancekit.core.guard import REPLAYED
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_optional_int, check_optional_ref, check_ref
from alliancekit.domain.records import Administration
from alliancekit.errors import (
    AlliancekitError,
    ConflictError,
    DuplicateCommand,
    IdempotencyKeyReused,
    NotFoundError,
    ValidationError,
)
from alliancekit.events import converter
from alliancekit.events.catalog import NEVER_SHARED
from alliancekit.events.types import (
    EpisodeOpened,
    Event,
    RecordedScore,
    ReviewedScore,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.engine import EngineContext, evaluate
from alliancekit.feedback.expectation import scores_against_expectation
from alliancekit.integrity.chain import GENESIS, NewEvent, new_events
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.corrected_scores import SCORED_TYPES
from alliancekit.lifecycle.rules import decide
from alliancekit.lifecycle.state import EpisodeState, SessionRef, fold, start
from alliancekit.notify.outbox import messages_for
from alliancekit.protocols.definition import MeasurementProtocol
from alliancekit.protocols.registry import resolve_protocol
from alliancekit.security.lockbox import Hidden
from alliancekit.store.protocol import (
    AuditRecord,
    CaseloadRow,
    CommandRecord,
    Commit,
    OutboxRecord,
    RequestWrite,
)

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.core.services import Services
    from alliancekit.measures.registry import MeasureRegistry

#: How many times a command is decided again after a concurrent writer moved the episode on.
DEFAULT_CONFLICT_RETRIES = 8
#: First backoff bound after a conflict, doubled on each retry (at most about 0.5 s in all at the default
#: retries: enough for two writers hammering one episode on a loaded machine).
_BACKOFF_SECONDS = 0.002
_jitter = random.Random()  # noqa: S311 - timing jitter, not security
_ID_NAMESPACE = uuid.UUID("5d1a8f0e-6a0b-4c61-9d0e-a11a9ce0a11a")
_ID_PREFIX = _ID_NAMESPACE.bytes


def _uuid5_hex(name: str) -> str:
    """``uuid.uuid5(_ID_NAMESPACE, name).hex`` without building a UUID object (as ``fhir.ids`` does): a keyed
    command names its records this way, and an import keys every command."""
    raw = bytearray(hashlib.sha1(_ID_PREFIX + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    raw[6] = raw[6] & 0x0F | 0x50  # version 5
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    return raw.hex()


@attrs.frozen
class Recorded:
    """What a command wrote: the episode, its new version, and the id of the record it created."""

    episode_id: str
    version: int
    record_id: str | None = None
    duplicate: bool = False
    """True when an earlier command with the same idempotency key had already written this."""


@attrs.frozen
class RecordedWithId(Recorded):
    """What a command that names a record wrote (a session, a review, a rupture and its repairs, an
    alert, a note, a lockbox directive): ``record_id`` is always that record's id."""

    record_id: str = attrs.field(kw_only=True)


class Context:
    """What a command's builder may ask for: ids, scores, and lookups in the episode's stream."""

    def __init__(self, services: Services, actor: Actor, spec: CommandSpec, episode_id: str, key: str | None):
        self._services = services
        self.actor = actor
        self.spec = spec
        self.episode_id = episode_id
        self.key = key
        self.state: EpisodeState = None  # type: ignore[assignment] # set before each decision
        self._sessions: dict[str, SessionRef | None] | None = None
        self._shared: set[str] | None = None
        self._hidden: tuple[int, Hidden] | None = None
        self._made: dict[tuple[str, int], str] = {}
        self.private: Mapping[str, Any] = {}
        """What the caller gave the builder outside the idempotency hash (a new secret, the time)."""
        self.request: RequestWrite | None = None
        """Set by a builder: the administration request its command creates, revokes or consumes."""
        self.messages: list[OutboxRecord] = []
        """Set by a builder: outbox messages of its own (a request's link), besides those of its events."""

    @property
    def services(self) -> Services:
        return self._services

    def new_id(self, kind: str, index: int = 0) -> str:
        """The id of the ``index``-th new record of ``kind``, the same on every ask within the command.

        With an idempotency key it derives from the clinic, command and key, so a repeat names the same
        records; without one it is random.
        """
        made = self._made.get((kind, index))
        if made is None:
            if self.key is None:
                made = self._services.ids(kind)
            else:
                scope = f"{self.actor.clinic_id}\x1f{self.spec.action}\x1f{self.key}\x1f{kind}\x1f{index}"
                made = _uuid5_hex(scope)
            self._made[(kind, index)] = made
        return made

    def score(self, administrations: Iterable[Administration]) -> tuple[RecordedScore, ...]:
        return self._services.score(administrations, self.state.client_ref, self.state.population)

    def population(self, value: str | None) -> str | None:
        """A norm population some registered measure declares (``None`` passes: each measure's default)."""
        registry: MeasureRegistry = self._services.plugins.measures()
        return registry.check_population("population", value)

    @property
    def review_every(self) -> int:
        return self._services.feedback.review_every

    def review_scores(self) -> tuple[ReviewedScore, ...]:
        s = self._services
        # a measure whose plugin is gone is read by its latest stored definition, as the installed one would
        # be: read (only then) under the command's decided and audited entry, as a report's are
        return scores_against_expectation(self.state, s.described_measures().latest, s.expectations)

    def protocol(self, value: object) -> MeasurementProtocol | None:
        """A measurement protocol given by value or by a registered name, its measures known (``None``
        passes: the clinic's protocol again)."""
        return None if value is None else resolve_protocol("protocol", value, self._services.plugins)

    def day(self, on: date | None) -> date:
        return self._services.today(self.actor.clinic_id) if on is None else on

    def session(self, session_id: str) -> SessionRef | None:
        """The session as first recorded, with its group session as it stands now, read from the stream
        (corrections, addenda, rupture notes)."""
        if self._sessions is None:
            sessions: dict[str, SessionRef | None] = {}
            self._sessions = sessions
            for entry in self._services.reader.entries(self.episode_id, _SESSION_TYPES):
                event = entry.event
                if isinstance(event, SessionCorrected):
                    found = sessions.get(event.session_id)
                    if found is not None:
                        sessions[event.session_id] = corrected_ref(found, event)
                    continue
                assert isinstance(event, SessionRecorded)  # noqa: S101 - by its type name
                sessions.setdefault(event.session_id, recorded_ref(event, entry.event_id, entry.actor_id))
        return self._sessions.get(session_id)

    def scored_events(self) -> tuple[Event, ...]:
        """The episode's events that carry scores, in order, up to the state the command is decided on
        (what a correction replays). Read afresh on every try: a correction is rare, and on a retry the
        stream has moved on."""
        return self._stored_scored(self.state.version)

    def _stored_scored(self, upto: int) -> tuple[Event, ...]:
        entries = self._services.reader.entries(self.episode_id, SCORED_TYPES)
        return tuple(entry.event for entry in entries if entry.seq <= upto)

    def shared_event(self, event_id: str) -> bool:
        """Whether ``event_id`` is an event of this episode that a statement may point at, and that the
        actor's own view shows (one it leaves out is answered as an unknown id)."""
        if self._shared is None:
            self._shared = {
                e.event_id
                for e in self._services.reader.stored_events(self.episode_id)
                if e.type not in NEVER_SHARED
            }
        return event_id in self._shared and event_id not in self.hidden.events

    @property
    def hidden(self) -> Hidden:
        """What the actor's own view of the episode leaves out (:meth:`Guard.hidden`), on the state the
        command is decided on: an id the command names there is answered as an unknown one, so that the
        answer does not confirm that it exists."""
        if self._hidden is None or self._hidden[0] != self.state.version:
            found = self._services.guard.hidden(self.actor, self.state, self.timeline)
            self._hidden = (self.state.version, found)
        return self._hidden[1]

    def timeline(self) -> list[Any]:
        """The episode's timeline entries, in order (read only when a lockbox or another participant's
        privacy may leave some out of the actor's view)."""
        return self._services.reader.entries(self.episode_id)

    def named_session(self, session_id: str) -> SessionRef | None:
        """:meth:`session` for a session the caller names: ``None`` when their view leaves it out."""
        return None if session_id in self.hidden.records else self.session(session_id)

    def liftable(self, directive_id: str) -> bool:
        """Whether the lockbox directive is in force and the actor may lift it (:meth:`Guard.may_lift`):
        one they may not is answered as an unknown id."""
        return self._services.guard.may_lift(self.actor, self.state, directive_id, self.timeline)

    def seen(self, record_id: str) -> bool:
        """Whether the actor's view shows the record (an alert, a rupture) a command of theirs names."""
        return record_id not in self.hidden.records


#: The events a session lookup reads: the recordings, and the corrections that may move a session into or
#: out of a group session.
_SESSION_TYPES = (SessionRecorded.TYPE, SessionCorrected.TYPE)


def recorded_ref(recorded: SessionRecorded, event_id: str, actor_id: str) -> SessionRef:
    """A recorded session as a lookup returns it (its recording's event id and actor)."""
    s = recorded.session
    return SessionRef(
        s.held_on,
        s.attendance,
        recorded.number,
        event_id,
        s.group_session_id,
        group_session_minted=recorded.group_session_minted,
        recorded_by=actor_id,
    )


def corrected_ref(found: SessionRef, corrected: SessionCorrected) -> SessionRef:
    """``found`` after ``corrected``: only the group session it is a part of follows the correction (and
    the id is no longer the one ``record_group_session`` made when the correction changes it)."""
    group_session_id = corrected.session.group_session_id
    minted = found.group_session_minted and group_session_id == found.group_session_id
    return attrs.evolve(found, group_session_id=group_session_id, group_session_minted=minted)


class Runner:
    """Runs the commands of :data:`~alliancekit.core.command_table.COMMANDS` for one practice."""

    def __init__(self, services: Services, conflict_retries: int = DEFAULT_CONFLICT_RETRIES) -> None:
        self.s = services
        self.conflict_retries = conflict_retries
        self.definitions = DefinitionLedger(services.plugins.measures(), services.reader)
        """The measure definitions this runner's commits still carry to the store."""
        record_registered(services.store, services.reader, services.plugins.measures())

    def run(
        self,
        spec: CommandSpec,
        actor: object,
        episode_id: object,
        args: Mapping[str, Any],
        *,
        idempotency_key: object = None,
        expected_version: object = None,
        private: Mapping[str, Any] | None = None,
    ) -> Any:
        actor, episode, checked, key, expected = self.checked(
            spec, actor, episode_id, args, idempotency_key, expected_version
        )
        if spec.returns is Returns.EPISODE_ID:
            return self._start(spec, actor, checked, key)
        assert episode is not None  # noqa: S101 - every other command names its episode
        ctx = Context(self.s, actor, spec, episode, key)
        ctx.private = private or {}
        result = self._run(spec, ctx, checked, expected)
        if spec.returns is Returns.GOAL_IDS:
            return [ctx.new_id("goal", i) for i in range(len(checked["goals"]))]
        return result

    def checked(
        self,
        spec: CommandSpec,
        actor: object,
        episode_id: object,
        args: Mapping[str, Any],
        idempotency_key: object,
        expected_version: object,
    ) -> tuple[Actor, str | None, dict[str, Any], str | None, int | None]:
        """The actor (or a refusal audited), the episode id, the checked inputs (no clinical date after
        the clinic's today), the key and the expected version: every check of a command that reads nothing."""
        record = "(new)" if spec.returns is Returns.EPISODE_ID else episode_id
        checked_actor = self.s.guard.require_actor(actor, spec.action, "episode", record)
        episode = None if spec.returns is Returns.EPISODE_ID else check_ref("episode_id", episode_id)
        checked = {name: check(name, args[name]) for name, check in spec.checks.items()}
        clinic = checked_actor.clinic_id
        refuse_future(checked, self.s.today(clinic), self.s.zone(clinic), spec.planned)
        key = check_optional_ref("idempotency_key", idempotency_key)
        expected = check_optional_int("expected_version", expected_version, lo=0)
        return checked_actor, episode, checked, key, expected

    # -- one episode's command --------------------------------------------------------------------------

    def _run(
        self, spec: CommandSpec, ctx: Context, args: Mapping[str, Any], expected_version: int | None
    ) -> Recorded:
        guard, reader = self.s.guard, self.s.reader
        actor, episode_id, key = ctx.actor, ctx.episode_id, ctx.key
        request = _request_hash(spec.action, episode_id, args) if key is not None else ""
        # The first try may decide on the state this Practice last saw, without reading the store: the
        # store's version check is the guard, so a stale guess is refused with a conflict and nothing is
        # written. A guess neither counts as a retry nor may refuse nor answer from a key (another clinician
        # may hold the episode now): each is decided again on a fresh read.
        guess = None if expected_version is not None else reader.cached(episode_id)
        conflicts, stale = 0, False
        while True:
            with self._after_conflict(conflicts):
                if guess is not None:
                    (state, head), guessing, guess = guess, True, None
                else:
                    (state, head), guessing = guard.state(actor, spec.action, episode_id), False
                # Access first: a key's stored result and the episode's version are answers about the
                # record, for those the policy lets make the command only (a refusal is audited), and
                # for whoever made it (they were answered once: a transfer since does not undo that).
                ctx.state = state  # the group session is looked up in what the actor's view shows
                group = spec.group_session(ctx, args)
                if guessing:
                    if not guard.permits(actor, spec.action, state, group):
                        continue
                elif not guard.permits(actor, spec.action, state, group):
                    if key is not None and (mine := self.repeat(actor, spec, key, request)) is not None:
                        return self._replayed(spec, ctx, args, mine, state)
                    guard.allow(actor, spec.action, "episode", episode_id, state, group_session_id=group)
                if key is not None:
                    try:
                        done = self._done(actor, spec, key, request)
                    except IdempotencyKeyReused:
                        if guessing:
                            continue
                        raise
                    if done is not None:
                        if guessing:
                            continue  # an answer about the key, given on a fresh read's access only
                        return self._replayed(spec, ctx, args, done, state)
                if expected_version is not None and state.version != expected_version:
                    raise ConflictError(episode_id, expected_version, state.version)
                ctx.state = state
                try:
                    events = self.decided(spec, ctx, args, audited=not guessing)
                except AlliancekitError:
                    if guessing:
                        continue
                    raise
                try:
                    version = self._commit(ctx, state, head, events, request, spec.corrects(ctx, args))
                except ConflictError:
                    if guessing:
                        continue
                    if expected_version is not None:
                        # The same keyed request may be what moved the episode on (a retry in flight twice):
                        # read once more, to answer it from its key, or else refuse the stale version.
                        if key is None or stale:
                            raise
                        stale = True
                        continue
                    if conflicts == self.conflict_retries:
                        raise
                    # Back off for a random, growing moment (a store without ``exclusive`` has only this
                    # against a writer that never pauses winning every race: starvation).
                    time.sleep(_jitter.uniform(0, _BACKOFF_SECONDS * 2**conflicts))
                    conflicts += 1
                    continue
                except DuplicateCommand:
                    continue  # the same keyed command landed meanwhile: report it from its record
                return _recorded(spec, ctx, args, episode_id, version)

    def decided(
        self, spec: CommandSpec, ctx: Context, args: Mapping[str, Any], *, audited: bool = True
    ) -> list[Event]:
        """The events of the command on ``ctx.state``, decided by the lifecycle rules, on the facade and in a
        batch. A record it names that the episode does not have (or that the actor's view leaves out, answered
        alike) is a failed lookup, audited as an unknown episode is (:meth:`Guard.not_found`) unless the state
        is only a guess (``audited`` false: decided again on a fresh read); a measure that is not installed
        is bad input, a definition's name (``named``), not a record of the episode."""
        ctx.request, ctx.messages = None, []
        try:
            return decide(ctx.state, spec.build(ctx, args))
        except NotFoundError as missing:
            if audited and not missing.named:
                self.s.guard.not_found(ctx.actor, spec.action, missing.kind, missing.ident)
            raise

    def _after_conflict(self, conflicts: int) -> contextlib.AbstractContextManager[None]:
        """Where a try runs: after a lost race, under the store's writers' lock if it has one
        (:meth:`Guard.exclusive`), so the retry cannot lose again however busy the other writers are."""
        return self.s.guard.exclusive() if conflicts else contextlib.nullcontext()

    def _start(self, spec: CommandSpec, actor: Actor, args: Mapping[str, Any], key: str | None) -> str:
        guard = self.s.guard
        guard.allow(actor, spec.action, "episode", "(new)", None, clinician_id=args["clinician_id"])
        request = _request_hash(spec.action, "", args) if key is not None else ""
        ctx = Context(self.s, actor, spec, "", key)
        episode_id = ctx.new_id("episode")
        command = spec.build(ctx, args)
        assert isinstance(command, c.OpenEpisode)  # noqa: S101 - by the table
        opened = EpisodeOpened(
            command.client_ref, command.clinician_id, command.opened_on, command.population
        )
        while True:
            if key is not None and (done := self._done(actor, spec, key, request)) is not None:
                replayed = self.s.reader.state(done.episode_id)[0]
                guard.record([self.replay_entry(actor, spec, done.episode_id, replayed)])
                return done.episode_id
            state = start(episode_id, actor.clinic_id, opened)
            try:
                self._commit(ctx, None, GENESIS, [opened], request, None, new_state=state)
            except (DuplicateCommand, ConflictError):
                # The same keyed command, in flight twice, names the same episode: the second finds the
                # stream already started (a conflict at version 0) or the key taken.
                if key is None:
                    raise
                continue
            return episode_id

    def replay_entry(
        self, actor: Actor, spec: CommandSpec, episode_id: str, state: EpisodeState | None
    ) -> AuditRecord:
        """The audit entry of a keyed command answered again with its first result (``replayed``): the one
        decision of how a repeat is audited, on the facade and in a batch. It writes nothing else."""
        return self.s.guard.entry(actor, spec.action, "episode", episode_id, state, outcome=REPLAYED)

    def _replayed(
        self,
        spec: CommandSpec,
        ctx: Context,
        args: Mapping[str, Any],
        found: CommandRecord,
        state: EpisodeState,
    ) -> Recorded:
        """A repeat's first result, once its entry is durable (a repeat is a request answered)."""
        self.s.guard.record([self.replay_entry(ctx.actor, spec, found.episode_id, state)])
        return _recorded(spec, ctx, args, found.episode_id, found.version, duplicate=True)

    def repeat(
        self, actor: Actor, spec: CommandSpec, key: str, request: str | None, episode_id: str = ""
    ) -> CommandRecord | None:
        """The stored result of this very request under ``key`` when ``actor`` made it (``request``
        ``None``: any request of theirs on ``episode_id``); ``None`` otherwise, saying nothing of the key (for
        an actor the policy refuses)."""
        found = self.s.reader.find_command(actor.clinic_id, spec.action, key)
        if found is None:
            return None
        other = found.episode_id != episode_id if request is None else found.request_hash != request
        if other:
            return None
        made_by = self.s.reader.written_by(found.episode_id, found.version)
        return found if made_by == (actor.id, actor.role.value) else None

    def stored(
        self,
        spec: CommandSpec,
        actor: object,
        episode_id: object,
        args: Mapping[str, Any],
        key: object,
        *,
        any_request: bool = False,
    ) -> str | None:
        """Whether the keyed command is stored, writing nothing (an import's dry run): the episode it wrote
        when ``key`` holds this very request, ``None`` when the key is unused; raises
        :class:`~alliancekit.errors.IdempotencyKeyReused` when it holds another request, as the command
        would. With ``any_request`` (a command on an episode; ``args`` are not read), whether ``key`` holds a
        request of the command on that episode, whatever its arguments: what an import asks of a step whose
        arguments it learns only by reading the episode (an alert's id), and what a key's maker, or whoever
        may make the command, could learn anyway (the latter from ``IdempotencyKeyReused``); no group
        session is looked up for it. Decided as the command itself is (:meth:`_run`, :meth:`_start`):
        whether a key holds a given request is an answer about the record (a guess at a session's answers
        confirmed or not), so it is given only to whoever the policy lets make the command, or who made it;
        anyone else's question is refused and audited (on a read-only practice, a dry run's, refused
        without an entry: none can be written, and nothing is answered), and another clinic's episode is not
        found, as on every path naming one. An answer is not audited (an id at most, never a record, on a
        practice that may be read-only). The request is checked and hashed as the command does it."""
        guard = self.s.guard
        checked_key = check_ref("idempotency_key", key)
        episode = "" if spec.returns is Returns.EPISODE_ID else check_ref("episode_id", episode_id)
        a = guard.require_actor(actor, spec.action, "episode", episode or "(new)")
        if not isinstance(args, Mapping):
            raise ValidationError("args", "type", "a mapping of the command's arguments expected")
        # an unknown episode is audited as not found and raised, as on every path naming one
        if any_request and not episode:
            raise ValidationError("any_request", "episode-command", "a command on an episode")
        state = guard.state(a, spec.action, episode)[0] if episode else None
        checked, request = {}, None
        if not any_request:
            unknown = set(args) - set(spec.checks)
            if unknown:
                raise ValidationError(
                    "args", "unknown-key", f"{len(unknown)} argument(s) the command does not take"
                )
            checked = {name: check(name, args.get(name)) for name, check in spec.checks.items()}
            request = _request_hash(spec.action, episode, checked)
        # a dry run's practice is read-only: a refusal there answers nothing and can write no entry (the
        # import it checks would be refused, and audited, when it runs)
        audited = not getattr(self.s.store, "read_only", False)
        if state is None:
            clinician = checked["clinician_id"]
            guard.allow(
                a, spec.action, "episode", "(new)", None, clinician_id=clinician, audit_refusal=audited
            )
        else:
            ctx = Context(self.s, a, spec, episode, checked_key)
            ctx.state = state
            group = None if request is None else spec.group_session(ctx, checked)
            if not guard.permits(a, spec.action, state, group):
                mine = self.repeat(a, spec, checked_key, request, episode)
                if mine is not None:
                    return mine.episode_id
                guard.allow(
                    a, spec.action, "episode", episode, state, group_session_id=group, audit_refusal=audited
                )
        found = self._done(a, spec, checked_key, request, episode)
        return None if found is None else found.episode_id

    def _done(
        self, actor: Actor, spec: CommandSpec, key: str, request: str | None, episode_id: str = ""
    ) -> CommandRecord | None:
        """The command stored under ``key`` when it holds ``request`` (``None``: any request on
        ``episode_id``); ``None`` when the key is unused; :class:`IdempotencyKeyReused` otherwise."""
        found = self.s.reader.find_command(actor.clinic_id, spec.action, key)
        if found is None:
            return None
        if request is None:
            if found.episode_id != episode_id:
                raise IdempotencyKeyReused(spec.action)
            return found
        if found.request_hash != request:
            raise IdempotencyKeyReused(spec.action)
        return found

    # -- the commit ---------------------------------------------------------------------------------------

    def _commit(
        self,
        ctx: Context,
        before: EpisodeState | None,
        head: str,
        events: list[Event],
        request: str,
        corrects: str | None,
        *,
        new_state: EpisodeState | None = None,
    ) -> int:
        commit, after = self.prepare(ctx, before, head, events, request, corrects, new_state=new_state)
        self.s.store.append(commit)
        self.definitions.stored(commit.definitions)
        self.s.guard.committed(1)
        self.s.reader.remember(after, commit.head)
        return commit.new_version

    def prepare(
        self,
        ctx: Context,
        before: EpisodeState | None,
        head: str,
        events: list[Event],
        request: str,
        corrects: str | None,
        *,
        new_state: EpisodeState | None = None,
        project: bool = True,
    ) -> tuple[Commit, EpisodeState]:
        """Everything one command writes (its events with the alerts they raise, chained and encoded, the
        snapshot, caseload row, outbox and audit entry), and the state after it; nothing is written.

        Without ``project`` the snapshot and caseload row are placeholders (:func:`placeholder_row`), for
        a batch that projects only an episode's last commit (:meth:`project`)."""
        s, actor, spec, key = self.s, ctx.actor, ctx.spec, ctx.key
        if before is not None:
            after = fold(before, events)
            alerts = self._alerts(before, events, after, ctx)
            if alerts:  # the feedback engine's alerts join the same commit
                events, after = [*events, *alerts], fold(after, alerts)
        else:
            assert new_state is not None  # noqa: S101 - a new episode
            after = new_state
        base = 0 if before is None else before.version
        now = s.clock()
        stored = new_events(
            after.episode_id,
            after.clinic_id,
            actor.id,
            actor.role.value,
            now,
            corrects,
            base,
            head,
            [
                NewEvent(i, e.TYPE, e.VERSION, s.codec.encode(e, i))
                for e, i in ((e, s.ids("event")) for e in events)
            ],
        )
        new_head = stored[-1].hash
        version = base + len(stored)
        audit = s.guard.entry(
            actor, spec.action, "episode", after.episode_id, after, writes=f"{version}:{new_head}", at=now
        )
        subscriptions = s.subscriptions
        outbox = (
            messages_for(list(zip(stored, events, strict=True)), after, subscriptions)
            if subscriptions
            else []
        )
        if ctx.messages:
            outbox = [*outbox, *ctx.messages]
        command = (
            CommandRecord(actor.clinic_id, spec.action, key, request, after.episode_id, version)
            if key is not None
            else None
        )
        snapshot_json, caseload = self.project(after) if project else ("{}", placeholder_row(after))
        commit = Commit(
            episode_id=after.episode_id,
            expected_version=base,
            events=stored,
            snapshot_json=snapshot_json,
            caseload=caseload,
            outbox=outbox,
            audit=[audit],
            command=command,
            head=new_head,
            request=ctx.request,
            definitions=self.definitions.pending(events),
        )
        return commit, after

    def project(self, state: EpisodeState) -> tuple[str, CaseloadRow]:
        """The snapshot JSON and caseload row an episode's state is stored as."""
        return self.s.codec.encode_state(state), self.s.caseload_row(state)

    def _alerts(
        self, before: EpisodeState, events: list[Event], after: EpisodeState, ctx: Context
    ) -> list[Event]:
        s = self.s
        if not s.feedback.enabled:
            return []
        context = EngineContext(
            config=s.feedback,
            rules=s.rules(),
            rule_suppliers=s.rule_suppliers(),
            measures=s.plugins.measures(),
            # a measure whose plugin is gone (a protocol's, a plugin rule's look at the history) is read by
            # its stored definition, as with the plugin: read only then, under the command's audit entry
            stored=s.described_measures().latest,
            new_id=lambda i: ctx.new_id("alert", i),
            expectations=s.expectations,
            measure_cache=s.measure_cache,
            protocol=s.protocol_for(after),
        )
        return evaluate(before, events, after, context)


def placeholder_row(state: EpisodeState) -> CaseloadRow:
    """A caseload row that stands for an episode's row between two commits of one batch (only its ids and
    version mean anything): the batch's last commit of the episode carries the real one."""
    return CaseloadRow(
        state.episode_id,
        state.clinic_id,
        state.clinician_id,
        state.client_ref,
        state.stage.value,
        state.version,
        state.opened_on,
        None,
        0,
        "{}",
        0,
        None,
        False,
        None,
    )


def _recorded(
    spec: CommandSpec,
    ctx: Context,
    args: Mapping[str, Any],
    episode_id: str,
    version: int,
    duplicate: bool = False,
) -> Recorded:
    if spec.record_id is None:
        return Recorded(episode_id, version, duplicate=duplicate)
    return RecordedWithId(episode_id, version, duplicate=duplicate, record_id=spec.record_id(ctx, args))


def _with_ids(events: list[Event], ids: Callable[[str], str]) -> list[tuple[Event, str]]:
    return [(e, ids("event")) for e in events]


def _plain(value: object) -> object:
    """What JSON cannot encode of a command's checked inputs, in the request hash."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):  # a request's expiry and reminder: other durations, another request
        return ["timedelta", value.days, value.seconds, value.microseconds]
    # Anything else would make different requests hash alike (a repeat answered for another request).
    raise TypeError(f"a command input of type {type(value).__name__} has no request-hash form")


#: The encoder of request hashes, built once: ``json.dumps`` with options builds one per call (per keyed
#: command: an import keys every one).
_REQUEST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _request_hash(action: str, episode_id: str, args: Mapping[str, Any]) -> str:
    """A hash of what a keyed command asked for: the same key with another request is refused. An episode
    started without a norm population hashes as it did before ``population`` was an input, so a keyed start
    retried across the upgrade is answered from its key, not refused as another request."""
    if not episode_id and "population" in args and args["population"] is None:
        args = {name: value for name, value in args.items() if name != "population"}
    data = _REQUEST_ENCODER.encode([action, episode_id, converter.unstructure(dict(args))])
    return hashlib.sha256(data.encode("utf-8", "surrogatepass")).hexdigest()
