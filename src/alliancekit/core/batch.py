"""The batch path: many commands through the runner's steps, committed one store transaction per batch.

Each command is guarded, checked, decided, scored, run through the alert rules and audited exactly as the
runner does it (the runner's own :meth:`~.runner.Runner.checked` and :meth:`~.runner.Runner.prepare`), but
its commit is held: the state of its episode is carried in memory to the next command of the batch, and the
held commits are written by one :meth:`~alliancekit.store.Store.append_batch` when ``size`` commands are
held, on :meth:`BatchRunner.flush`, and when the block ends. A batch is all or nothing: a store failure
(or another writer having moved one of its episodes on, or applied one of its keys) writes none of it. A
command that fails its checks raises at its call and holds nothing. Results are acknowledged
(``on_commit``) only once durable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from alliancekit.core.command_table import CommandSpec, Returns
from alliancekit.core.runner import (
    Context,
    Recorded,
    Runner,
    _recorded,
    _request_hash,
    corrected_ref,
    recorded_ref,
)
from alliancekit.core.views import Views
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_ref
from alliancekit.errors import ConflictError, DuplicateCommand, IdempotencyKeyReused
from alliancekit.events.catalog import NEVER_SHARED
from alliancekit.events.types import EpisodeOpened, Event, SessionCorrected, SessionRecorded
from alliancekit.integrity.chain import GENESIS
from alliancekit.lifecycle import commands as c
from alliancekit.lifecycle.corrected_scores import SCORED_TYPES
from alliancekit.lifecycle.state import EpisodeState, SessionRef, start
from alliancekit.security.policy import Action
from alliancekit.security.views import TimelineEntry
from alliancekit.store.definitions import of_commits
from alliancekit.store.protocol import AuditRecord, Commit, StoredEvent
from alliancekit.store.reader import RecordReader

#: Commands per store transaction when the host does not say.
DEFAULT_BATCH_SIZE = 500
#: The most commands one transaction may hold (a bound on memory held between commits).
MAX_BATCH_SIZE = 100_000

#: What a batch's command returns, as ``on_commit`` gets it: a command's :class:`Recorded` (a
#: :class:`~alliancekit.RecordedWithId` for one that makes a record), ``start_episode``'s episode id,
#: ``agree_goals``'s goal ids.
BatchResult = Recorded | str | list[str]
#: The ``on_commit`` callback: called with a committed batch's results, in the order of the calls.
OnCommit = Callable[[list[BatchResult]], None]


class _Held:
    """What a batch holds until its commit: the commits, each episode's state after them, the events
    decided per episode (for lookups in the stream), the keys used, the results in order and the audit
    entries of reads and repeats (written in the batch's transaction, or alone when it holds no commit)."""

    def __init__(self) -> None:
        self.commits: list[Commit] = []
        self.states: dict[str, tuple[EpisodeState, str]] = {}
        self.events: dict[str, list[tuple[StoredEvent, Event | None]]] = {}
        self.keys: dict[tuple[str, str, str], tuple[str, tuple[str, int], tuple[str, str]]] = {}
        self.results: list[BatchResult] = []
        self.reads: list[AuditRecord] = []
        self.tentative: set[str] = set()
        """The ids of the entries in ``reads`` of repeats answered by a command held here: they say the
        command was made, so they are written with it or not at all."""

    def timeline(self, reader: RecordReader, episode_id: str) -> list[TimelineEntry]:
        """The episode's timeline entries as the batch sees them: those stored, then its own (a few dozen at
        most). What the lockbox decides on, for the batch's commands and its reads alike: a directive
        held here binds, and what is held is withheld or shown as it will be once written."""
        held = [reader.entry(stored) for stored, _ in self.events.get(episode_id, ())]
        return [*reader.entries(episode_id), *held]

    def written_alone(self) -> list[AuditRecord]:
        """The entries to write when the commit is not: the reads made (they happened), not the repeats of
        commands that never were."""
        return [entry for entry in self.reads if entry.entry_id not in self.tentative]


class _BatchContext(Context):
    """A command's context that also sees the events its episode holds in the batch."""

    def __init__(self, held: _Held, *args: Any) -> None:
        super().__init__(*args)
        self._held = held

    def session(self, session_id: str) -> SessionRef | None:
        found = super().session(session_id)
        # the batch's own events of the episode (a few dozen at most) follow those stored
        for stored, event in self._held.events.get(self.episode_id, ()):
            if isinstance(event, SessionRecorded) and event.session_id == session_id:
                found = found or recorded_ref(event, stored.event_id, stored.actor_id)
            elif isinstance(event, SessionCorrected) and event.session_id == session_id and found:
                found = corrected_ref(found, event)
        return found

    def scored_events(self) -> tuple[Event, ...]:
        held = self._held.events.get(self.episode_id)
        if not held:
            return super().scored_events()
        # the stored events before the batch's first for this episode, then those the batch decided
        decided = (event for _, event in held if event is not None and event.TYPE in SCORED_TYPES)
        return (*self._stored_scored(held[0][0].seq - 1), *decided)

    def shared_event(self, event_id: str) -> bool:
        return super().shared_event(event_id) or (
            any(
                stored.event_id == event_id and stored.type not in NEVER_SHARED
                for stored, _ in self._held.events.get(self.episode_id, ())
            )
            and event_id not in self.hidden.events
        )

    def timeline(self) -> list[Any]:
        return self._held.timeline(self.services.reader, self.episode_id)


class BatchRunner:
    """Runs commands of :data:`~alliancekit.core.command_table.COMMANDS` for one batch (one thread)."""

    def __init__(self, runner: Runner, size: int, on_commit: OnCommit | None) -> None:
        self.runner = runner
        self.s = runner.s
        self.size = size
        self.on_commit = on_commit
        self._held = _Held()
        self._views = Views(runner.s)

    @property
    def pending(self) -> int:
        """Commands held for the next commit."""
        return len(self._held.results)

    @property
    def holds_anything(self) -> bool:
        """Whether commands or the audit entries of reads are held, not written yet."""
        return bool(self._held.results or self._held.reads)

    def run(
        self,
        spec: CommandSpec,
        actor: object,
        episode_id: object,
        args: Mapping[str, Any],
        *,
        idempotency_key: object = None,
        expected_version: object = None,
    ) -> Any:
        """Decide one command on the batch's state and hold its commit; returns what the facade would."""
        checked_actor, episode, checked, key, expected = self.runner.checked(
            spec, actor, episode_id, args, idempotency_key, expected_version
        )
        if spec.returns is Returns.EPISODE_ID:
            result: Any = self._start(spec, checked_actor, checked, key)
        else:
            assert episode is not None  # noqa: S101 - every other command names its episode
            ctx = _BatchContext(self._held, self.s, checked_actor, spec, episode, key)
            result = self._decide(spec, ctx, checked, expected)
            if spec.returns is Returns.GOAL_IDS:
                result = [ctx.new_id("goal", i) for i in range(len(checked["goals"]))]
        self._held.results.append(result)
        if len(self._held.results) >= self.size:
            self.flush()
        return result

    def _start(self, spec: CommandSpec, actor: Actor, args: Mapping[str, Any], key: str | None) -> str:
        self.s.guard.allow(actor, spec.action, "episode", "(new)", None, clinician_id=args["clinician_id"])
        request = _request_hash(spec.action, "", args) if key is not None else ""
        ctx = _BatchContext(self._held, self.s, actor, spec, "", key)
        done = self._done(actor, spec, key, request)
        if done is not None:
            held = self._held.states.get(done[0])
            state = held[0] if held else self.s.reader.state(done[0])[0]
            self._replayed(actor, spec, done[0], state, key)
            return done[0]
        episode_id = ctx.new_id("episode")
        command = spec.build(ctx, args)
        assert isinstance(command, c.OpenEpisode)  # noqa: S101 - by the table
        opened = EpisodeOpened(
            command.client_ref, command.clinician_id, command.opened_on, command.population
        )
        state = start(episode_id, actor.clinic_id, opened)
        commit, after = self.runner.prepare(
            ctx, None, GENESIS, [opened], request, None, new_state=state, project=False
        )
        self._hold(ctx, key, request, commit, after, [opened])
        return episode_id

    def _decide(self, spec: CommandSpec, ctx: Context, args: Mapping[str, Any], expected: int | None) -> Any:
        actor, episode_id, key = ctx.actor, ctx.episode_id, ctx.key
        request = _request_hash(spec.action, episode_id, args) if key is not None else ""
        held = self._held.states.get(episode_id)
        state, head = held if held is not None else self.s.guard.state(actor, spec.action, episode_id)
        # access first, as the runner decides it: a stored result and the version are answers too, for
        # those the policy allows and for whoever made the command
        found = None
        ctx.state = state  # the group session is looked up in what the actor's view shows
        group = spec.group_session(ctx, args)
        if not self.s.guard.permits(actor, spec.action, state, group):
            found = self._repeat(actor, spec, key, request)
            if found is None:
                self.s.guard.allow(actor, spec.action, "episode", episode_id, state, group_session_id=group)
        if found is None:
            found = self._done(actor, spec, key, request)
        if found is not None:
            self._replayed(actor, spec, found[0], state, key)
            return _recorded(spec, ctx, args, found[0], found[1], duplicate=True)
        if expected is not None and state.version != expected:
            raise ConflictError(episode_id, expected, state.version)
        ctx.state = state
        events = self.runner.decided(spec, ctx, args)
        corrects = spec.corrects(ctx, args)
        commit, after = self.runner.prepare(ctx, state, head, events, request, corrects, project=False)
        result = _recorded(spec, ctx, args, episode_id, commit.new_version)
        self._hold(ctx, key, request, commit, after, events)
        return result

    def _done(self, actor: Actor, spec: CommandSpec, key: str | None, request: str) -> tuple[str, int] | None:
        """The episode and version of an earlier command with the same key (held in this batch or
        committed), or ``None``; the same key with another request is refused."""
        if key is None:
            return None
        held = self._held.keys.get((actor.clinic_id, spec.action, key))
        if held is not None:
            if held[0] != request:
                raise IdempotencyKeyReused(spec.action)
            return held[1]
        found = self.runner._done(actor, spec, key, request)  # noqa: SLF001 - the runner's own step
        return None if found is None else (found.episode_id, found.version)

    def _repeat(
        self, actor: Actor, spec: CommandSpec, key: str | None, request: str
    ) -> tuple[str, int] | None:
        """The episode and version of this very request under ``key`` when ``actor`` made it (held in
        this batch or committed), as :meth:`Runner.repeat` finds it; ``None`` otherwise, saying nothing of
        the key."""
        if key is None:
            return None
        held = self._held.keys.get((actor.clinic_id, spec.action, key))
        if held is not None:
            return held[1] if held[0] == request and held[2] == (actor.id, actor.role.value) else None
        found = self.runner.repeat(actor, spec, key, request)
        return None if found is None else (found.episode_id, found.version)

    def _replayed(
        self, actor: Actor, spec: CommandSpec, episode_id: str, state: EpisodeState, key: str | None
    ) -> None:
        """Hold the audit entry of a repeat answered with its first result (:meth:`Runner.replay_entry`):
        it is written with the batch's reads, in the transaction that makes what it answered durable. When
        that first result is held in this batch, a failed commit drops the entry with it."""
        entry = self.runner.replay_entry(actor, spec, episode_id, state)
        if (actor.clinic_id, spec.action, key) in self._held.keys:
            self._held.tentative.add(entry.entry_id)
        self._held.reads.append(entry)

    def _hold(
        self,
        ctx: Context,
        key: str | None,
        request: str,
        commit: Commit,
        after: EpisodeState,
        events: Sequence[Event],
    ) -> None:
        held = self._held
        held.commits.append(commit)
        held.states[after.episode_id] = (after, commit.head)
        decided = held.events.setdefault(after.episode_id, [])
        # The alerts the rules raised follow the command's own events (those are all a lookup decodes).
        decided.extend(
            zip(commit.events, [*events, *[None] * (len(commit.events) - len(events))], strict=True)
        )
        if key is not None:
            first = (after.episode_id, commit.new_version)
            maker = (ctx.actor.id, ctx.actor.role.value)
            held.keys[(ctx.actor.clinic_id, ctx.spec.action, key)] = (request, first, maker)

    def episode(self, actor: object, episode_id: object) -> EpisodeState:
        """The episode as this batch's commands left it, decided and summarised like ``Practice.episode``.

        Its audit entry is held with the batch and written in its transaction (alone when the batch holds
        no command, or when its commit fails): a read of what the batch has not written yet is audited no
        earlier than that is written.
        """
        guard, action = self.s.guard, Action.READ_EPISODE
        a = guard.require_actor(actor, action, "episode", episode_id)
        checked = check_ref("episode_id", episode_id)
        held = self._held.states.get(checked)
        state = held[0] if held is not None else guard.state(a, action, checked)[0]
        decision = guard.allow(a, action, "episode", checked, state)
        self._held.reads.append(guard.entry(a, action, "episode", checked, state, outcome=decision.outcome))
        # the lockbox decided on the entries the batch sees, as after the commit (not the stored alone)
        timeline = functools.partial(self._held.timeline, self.s.reader, checked)  # read only if it applies
        return self._views._summary(a, state, timeline)  # noqa: SLF001 - the facade's own lockbox summary

    def flush(self) -> None:
        """Commit what is held in one transaction, then acknowledge it; nothing held, nothing written.

        On a failure nothing of the batch is written, the held commands are dropped and the error raised.
        """
        held, self._held = self._held, _Held()
        commits, reads = self._projected(held), held.reads
        if not commits:
            self.s.guard.record(reads)
        else:
            if reads:  # the batch's reads join its last commit (one transaction)
                last = commits[-1]
                commits = [*commits[:-1], attrs.evolve(last, audit=[*last.audit, *reads])]
            try:
                self.s.store.append_batch(commits)
            except BaseException as failed:
                # what was read was read: its entries are written alone (not the repeats' of the commands
                # that were not)
                self.s.guard.record(held.written_alone())
                if isinstance(failed, ConflictError) and (taken := self._key_taken(commits)) is not None:
                    raise taken from failed
                raise
            self.runner.definitions.stored(of_commits(commits))
            # The states are not kept past the batch (the reader's cache is for the facade's next command):
            # a long import holds one batch's worth of states, whatever its length.
            self.s.guard.committed(sum(len(commit.audit) for commit in commits))
        if not held.results:
            return
        if self.on_commit is not None:
            self.on_commit(held.results)

    def _key_taken(self, commits: Sequence[Commit]) -> DuplicateCommand | None:
        """The refusal of a batch one of whose keys another writer applied meanwhile, or ``None``.

        The stores report a stale version before a used key, and the writer that applied the same keyed
        command (the same request, or an import run twice at once) moved its episode on, so the batch sees
        a conflict; it is told what it would be told a moment later, that the key is taken."""
        reader = self.s.reader
        for commit in commits:
            command = commit.command
            if command is not None and reader.find_command(command.clinic_id, command.command, command.key):
                return DuplicateCommand(command.key)
        return None

    def _projected(self, held: _Held) -> list[Commit]:
        """The held commits, each episode's last one carrying its snapshot and caseload row (the others
        carry placeholders, which the store overwrites in the same transaction): each episode's state is
        encoded and projected once per batch, not once per command."""
        last = {commit.episode_id: i for i, commit in enumerate(held.commits)}
        commits = list(held.commits)
        for episode_id, i in last.items():
            snapshot_json, caseload = self.runner.project(held.states[episode_id][0])
            commits[i] = attrs.evolve(commits[i], snapshot_json=snapshot_json, caseload=caseload)
        return commits

    def discard(self) -> None:
        """Drop the commands held, writing none of them (the block ended with an error); the entries of
        reads made are written all the same, not those of repeats of the commands dropped."""
        held, self._held = self._held, _Held()
        self.s.guard.record(held.written_alone())
