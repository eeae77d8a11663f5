"""The batch path of the facade: :meth:`Practice.batch` yields a :class:`Batch`.

A :class:`Batch` has the command methods of :class:`~alliancekit.Practice` (the same functions, so the same
names, arguments and results), each run through the command table, the guard, the input checks,
idempotency, the lifecycle rules, the alert rules, the outbox and the audit exactly as on the facade; only
the commit differs (:mod:`alliancekit.core.batch`): one store transaction per ``size`` commands.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

from alliancekit.core.batch import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, BatchRunner, OnCommit
from alliancekit.core.command_table import COMMANDS
from alliancekit.core.runner import Runner
from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_int
from alliancekit.errors import BatchClosed, PracticeClosed, ValidationError
from alliancekit.lifecycle.state import AlertState, EpisodeState
from alliancekit.practice import Practice

__all__ = ["DEFAULT_BATCH_SIZE", "FACADE_ONLY", "MAX_BATCH_SIZE", "Batch"]

#: Commands of the table a batch does not take: each hands a secret to its caller (a link token, a kiosk
#: code) or takes one in (a client's submission), so it must be durable before the call returns.
FACADE_ONLY = frozenset({"request_administration", "kiosk_code", "submit_response"})

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _same_as(method: Callable[Concatenate[Practice, _P], _R]) -> Callable[Concatenate[Batch, _P], _R]:
    """The facade's own method: it names its command and hands it to ``self._run``, which a batch holds."""
    return cast(Callable[Concatenate["Batch", _P], _R], method)


class Batch:
    """Commands committed together: one store transaction per ``size`` commands.

    Use it as the block of :meth:`Practice.batch <alliancekit.Practice.batch>`. Each command method returns
    what the facade's returns (episode ids, goal ids, :class:`~alliancekit.Recorded`), decided on the
    episode's state as the batch's earlier commands left it; it is durable once its batch is committed
    (``on_commit`` is then called with that batch's results, in order). Not for sharing between threads.
    """

    def __init__(
        self,
        runner: Runner,
        *,
        size: object = DEFAULT_BATCH_SIZE,
        on_commit: object = None,
        practice: Practice | None = None,
    ) -> None:
        checked_size = check_int("size", size, lo=1, hi=MAX_BATCH_SIZE)
        if on_commit is not None and not callable(on_commit):
            raise ValidationError("on_commit", "type", "a callable taking the list of a batch's results")
        self._batch: BatchRunner | None = BatchRunner(runner, checked_size, cast(OnCommit | None, on_commit))
        self._practice = practice

    def __repr__(self) -> str:
        state = "closed" if self._batch is None else f"size={self._batch.size}, pending={self.pending}"
        return f"Batch({state})"

    def __enter__(self) -> Batch:
        return self

    def __del__(self) -> None:
        # A batch used without ``with`` and dropped unflushed loses what it holds: commands answered at their
        # call but never written, and its reads' audit entries. Said as an unclosed Practice is, not written
        # here: the store may be in use by another thread, or closed, when the collector runs.
        batch = getattr(self, "_batch", None)
        if batch is not None and batch.holds_anything:
            warnings.warn(
                f"{self!r} dropped before its block ended or flush(): what it held was not written",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    def __exit__(self, kind: object, *exc: object) -> None:
        batch, self._batch = self._batch, None
        if batch is None:
            raise BatchClosed()
        if self._practice is not None and self._practice.closed:
            if kind is None:  # what is held is dropped: a closed Practice's store is written no more
                raise PracticeClosed()
            return
        if kind is None:
            batch.flush()  # the rest, committed and acknowledged before the block returns
        else:
            batch.discard()  # the block failed: what was not committed yet is not written

    def _released(self) -> None:
        """Its Practice is closing: drop the commands held (none is written to a store being released) and
        write the entries of the reads made, before the store is."""
        if self._batch is not None:
            self._batch.discard()

    @property
    def pending(self) -> int:
        """Commands held for the next commit (not durable yet)."""
        return 0 if self._batch is None else self._batch.pending

    def flush(self) -> None:
        """Commit the commands held now (one transaction) and acknowledge them; a no-op when none are."""
        self._open().flush()

    def _open(self) -> BatchRunner:
        if self._batch is None:
            raise BatchClosed()
        if self._practice is not None and self._practice.closed:
            raise PracticeClosed()  # closed since the batch was made: its store is released
        return self._batch

    def _run(self, name: str, actor: object, episode_id: object, /, **args: Any) -> Any:
        key, expected = args.pop("idempotency_key", None), args.pop("expected_version", None)
        return self._open().run(
            COMMANDS[name], actor, episode_id, args, idempotency_key=key, expected_version=expected
        )

    # -- reads of the batch's state --------------------------------------------------------------------

    def episode(self, actor: Actor, episode_id: str) -> EpisodeState:
        """The episode's state as this batch's commands left it (held or committed), decided and with the
        lockbox applied as :meth:`Practice.episode <alliancekit.Practice.episode>` does; audited in the
        batch's transaction."""
        return self._open().episode(actor, episode_id)

    def alerts(self, actor: Actor, episode_id: str) -> dict[str, AlertState]:
        """The episode's open alerts as this batch's commands left them (see :meth:`episode`)."""
        return dict(self.episode(actor, episode_id).alerts)

    _recorded = Practice._recorded  # noqa: SLF001 - the facade's own helpers, on self._run
    _named = Practice._named  # noqa: SLF001 - the facade's own helpers, on self._run
    _started = Practice._started  # noqa: SLF001 - the facade's own helpers, on self._run
    _goal_ids = Practice._goal_ids  # noqa: SLF001 - the facade's own helpers, on self._run

    # -- the facade's command methods: one per row of the command table (a test checks they match) -----

    start_episode = _same_as(Practice.start_episode)
    record_consultation = _same_as(Practice.record_consultation)
    decide_fit = _same_as(Practice.decide_fit)
    agree_goals = _same_as(Practice.agree_goals)
    revise_goal = _same_as(Practice.revise_goal)
    record_session = _same_as(Practice.record_session)
    correct_session = _same_as(Practice.correct_session)
    record_review = _same_as(Practice.record_review)
    note_rupture = _same_as(Practice.note_rupture)
    record_repair = _same_as(Practice.record_repair)
    put_on_hold = _same_as(Practice.put_on_hold)
    resume = _same_as(Practice.resume)
    transfer = _same_as(Practice.transfer)
    plan_ending = _same_as(Practice.plan_ending)
    close_episode = _same_as(Practice.close_episode)
    acknowledge_alert = _same_as(Practice.acknowledge_alert)
    resolve_alert = _same_as(Practice.resolve_alert)
    add_participant = _same_as(Practice.add_participant)
    join_group = _same_as(Practice.join_group)
    record_process_note = _same_as(Practice.record_process_note)
    add_addendum = _same_as(Practice.add_addendum)
    attach_disagreement = _same_as(Practice.attach_disagreement)
    set_lockbox = _same_as(Practice.set_lockbox)
    lift_lockbox = _same_as(Practice.lift_lockbox)
    set_protocol = _same_as(Practice.set_protocol)
    change_population = _same_as(Practice.change_population)
    change_measures_consent = _same_as(Practice.change_measures_consent)
    revoke_request = _same_as(Practice.revoke_request)
    record_client_response = _same_as(Practice.record_client_response)
