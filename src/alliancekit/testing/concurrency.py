"""Many processes writing one episode at once, through the public API: proof of "no lost updates".

Used by the SQLite and PostgreSQL tests, and open to any backend that several processes can open by
location::

    result = run_concurrent_writers(location, clinic_id="c1", processes=16, commands_each=1000)
    result.check()   # raises AssertionError on a lost or duplicated update

Each process opens its own practice on the location and records ``commands_each`` sessions on the same
episode. Recording a session is a read-modify-write (its number is the count of sessions so far plus one);
a writer that loses the race gets a ``ConflictError`` and tries again on the fresh state, counted in
``retries``. Afterwards the stream must hold exactly one session per command, numbered 1..N without a gap
or a repeat.
"""

# A test helper: its assertions are its point.
# ruff: noqa: S101

from __future__ import annotations

import json
import multiprocessing
import random
import time
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import attrs

from alliancekit.domain import (
    Actor,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.errors import ConflictError
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.practice import Practice, open_practice

_DAY = date(2026, 1, 5)
#: The clinician of record of the episode, as whom every writer acts (the access policy wants that).
CLINICIAN = "load-clinician"
#: Conflicts one command may meet before a writer gives up (a livelock guard, never reached in practice).
MAX_RETRIES_PER_COMMAND = 10_000
#: A writer's first backoff bound after a conflict, doubled per conflict of the same command up to
#: :data:`_MAX_BACKOFF_SECONDS` (as the library's own retries do, and as the embedding guide tells hosts that
#: retry themselves): without it, writers that lost a race retry at once and lose again, and on a loaded
#: machine the wasted reads and decisions of 16 writers on 2 cores multiplied the run's time by four.
_BACKOFF_SECONDS = 0.002
_MAX_BACKOFF_SECONDS = 0.05


@attrs.frozen
class ConcurrencyResult:
    processes: int
    commands_each: int
    seconds: float
    retries: int
    """Conflicts met and retried, over all writers."""
    stream_length: int
    base_version: int
    alert_events: int
    """Events the alert rules added on the way (a review falling due, ...)."""
    other_events: int
    """Any other event after the setup: there must be none."""
    session_numbers: tuple[int, ...] = attrs.field(repr=False)
    tags: tuple[str, ...] = attrs.field(repr=False)

    @property
    def expected(self) -> int:
        return self.processes * self.commands_each

    @property
    def commands_per_second(self) -> float:
        return self.expected / self.seconds

    def check(self) -> None:
        """Exactly one session per command: none lost, none duplicated, numbered 1..N."""
        # The stream holds the sessions and whatever alert events the rules raised on the way, nothing else.
        assert self.other_events == 0, self.other_events
        assert self.stream_length == self.base_version + self.expected + self.alert_events, (
            self.stream_length,
            self.expected,
        )
        assert len(self.session_numbers) == self.expected
        assert sorted(self.session_numbers) == list(range(1, self.expected + 1)), "lost or repeated numbers"
        wanted = sorted(f"w{w}-c{i}" for w in range(self.processes) for i in range(self.commands_each))
        assert sorted(self.tags) == wanted, "a command was lost or applied twice"


def active_episode(practice: Practice, actor: Actor) -> str:
    """An episode ready for sessions."""
    ep = practice.start_episode(actor, client_ref="load-client", clinician_id=actor.id, opened_on=_DAY)
    consent = Consent(treatment=True, measures=True)
    practice.record_consultation(
        actor, ep, Consultation(held_on=_DAY, modality=Modality.VIDEO, consent=consent)
    )
    practice.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, _DAY))
    practice.agree_goals(actor, ep, [GoalDraft("a goal", ("a task",))], agreed_on=_DAY)
    return ep


def _host(entry_points: Sequence[str] | None) -> PluginHost | None:
    """Builtins plus the named entry-point plugins, whatever the environment says; ``None``: the defaults."""
    return None if entry_points is None else make_plugin_host(load_entry_points=True, allow=entry_points)


def _writer(
    location: str,
    clinic_id: str,
    episode_id: str,
    writer: int,
    commands: int,
    entry_points: Sequence[str] | None,
    *,
    start: Any,
) -> int:
    practice = open_practice(location, plugins=_host(entry_points), conflict_retries=0)
    actor = Actor(CLINICIAN, Role.CLINICIAN, clinic_id)  # every writer acts as the clinician of record
    jitter = random.Random(writer)  # noqa: S311 - timing jitter, not security
    retries = 0
    try:
        start.wait()
        for i in range(commands):
            session = Session(
                held_on=_DAY + timedelta(days=1),
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                helpful=f"w{writer}-c{i}",
            )
            for conflicts in range(MAX_RETRIES_PER_COMMAND):
                try:
                    practice.record_session(actor, episode_id, session)
                    break
                except ConflictError:
                    retries += 1
                    bound = min(_MAX_BACKOFF_SECONDS, _BACKOFF_SECONDS * 2 ** min(conflicts, 8))
                    time.sleep(jitter.uniform(0, bound))
            else:
                raise RuntimeError("a command kept conflicting")
    finally:
        practice.close()
    return retries


def _writer_main(args: tuple[Any, ...], start: Any, results: Any) -> None:
    try:
        results.put(("ok", _writer(*args, start=start)))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which fails the run
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def run_concurrent_writers(
    location: str,
    *,
    clinic_id: str,
    processes: int,
    commands_each: int,
    entry_points: Sequence[str] | None = None,
    timeout: float = 1800,
) -> ConcurrencyResult:
    """Start ``processes`` writers on one new episode at ``location`` and collect what they wrote.

    :param entry_points: entry-point plugins to load by name (``("postgres",)``) in this process and in the
        writers, even where the environment turns autoloading off (test suites do); ``None``: the defaults.
    """
    setup = open_practice(location, plugins=_host(entry_points))
    try:
        actor = Actor(CLINICIAN, Role.CLINICIAN, clinic_id)
        ep = active_episode(setup, actor)
        base = setup.episode(actor, ep).version
    finally:
        setup.close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(processes + 1)
    results = ctx.Queue()
    workers = [
        ctx.Process(
            target=_writer_main,
            args=(
                (location, clinic_id, ep, w, commands_each, tuple(entry_points or ()) or None),
                start,
                results,
            ),
        )
        for w in range(processes)
    ]
    for p in workers:
        p.start()
    start.wait(timeout=120)  # every writer has opened its store: time the writing only
    began = time.perf_counter()
    outcomes = [results.get(timeout=timeout) for _ in workers]
    seconds = time.perf_counter() - began
    for p in workers:
        p.join(timeout=60)
    errors = [detail for status, detail in outcomes if status == "error"]
    if errors:
        raise AssertionError(f"{len(errors)} writers failed, first: {errors[0]}")
    check = open_practice(location, plugins=_host(entry_points))
    try:
        stored = check.store.load_events(ep)
    finally:
        check.close()
    sessions = [json.loads(e.payload_json) for e in stored if e.type == "session-recorded"]
    later = stored[base:]
    alerts = sum(e.type.startswith("alert-") for e in later)
    return ConcurrencyResult(
        processes=processes,
        commands_each=commands_each,
        seconds=seconds,
        retries=sum(int(detail) for _, detail in outcomes),
        stream_length=len(stored),
        base_version=base,
        alert_events=alerts,
        other_events=len(later) - len(sessions) - alerts,
        session_numbers=tuple(s["number"] for s in sessions),
        tags=tuple(s["session"]["helpful"] for s in sessions),
    )
