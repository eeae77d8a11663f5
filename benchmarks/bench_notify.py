"""Notifications benchmark: dispatch throughput to a no-op channel, and what the outbox adds to a command.

* Messages dispatched per second: an SQLite practice with a backlog of no-show messages for a channel whose
  ``deliver`` does nothing, emptied by ``dispatch_pending`` (claims, a thread per call, results recorded a
  few per transaction; durable commits as everywhere else).
* ``record_session`` p50 on two SQLite practices in one directory, interleaved: one with no channel (no
  outbox rows at all) and one subscribed to every kind on two channels. An attended session makes no
  message (the cost is deriving that), a no-show session writes two outbox rows in the same commit.
  Target: the outbox adds at most 10% to ``record_session``.

Layout: one clinic, one writer (this process), SQLite files in one temporary directory. Every figure warms
up first (a small dispatch, ``WARMUP`` unmeasured commands, unmeasured derivations).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.events.codec import Codec
from alliancekit.notify import DispatchPolicy, Notification, Subscriptions, messages_for
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.plugins.manager import make_plugin_host

ROUNDS = 400
WARMUP = 40
BACKLOG = 2000
ACTOR = Actor("bench-clinician", Role.CLINICIAN, "bench-clinic")
START = date(2026, 1, 5)


class NoOp:
    def __init__(self, name: str) -> None:
        self.name = name

    def deliver(self, message: Notification) -> None:
        pass


class ChannelPlugin:
    """Registers the given channels through ``alliancekit_register_notifiers``."""

    def __init__(self, *channels: Any) -> None:
        self.channels = channels

    @hookimpl
    def alliancekit_register_notifiers(self, register: Any) -> None:
        for channel in self.channels:
            register(channel)


def _episode(practice: Any) -> str:
    ep: str = practice.start_episode(ACTOR, client_ref="bench", clinician_id=ACTOR.id, opened_on=START)
    practice.record_consultation(
        ACTOR,
        ep,
        Consultation(held_on=START, modality="video", consent=Consent(treatment=True, measures=True)),
    )
    practice.decide_fit(ACTOR, ep, FitDecision(outcome="proceed", decided_on=START))
    practice.agree_goals(ACTOR, ep, [GoalDraft("a goal", ("a task",))], agreed_on=START)
    return ep


def _session(practice: Any, day: date, attended: bool) -> Session:
    if not attended:
        return Session(held_on=day, modality=Modality.PHONE, attendance=Attendance.NO_SHOW)
    registry = practice.plugins.measures()
    ors = {"individually": 5.1, "interpersonally": 6.0, "socially": 4.2, "overall": 5.5}
    srs = {"relationship": 9.1, "goals_topics": 8.7, "approach": 9.0, "overall": 9.2}
    return Session(
        held_on=day,
        modality=Modality.IN_PERSON,
        attendance=Attendance.ATTENDED,
        administrations=(
            Administration("ors", str(registry.latest_version("ors")), "start", ors),
            Administration("srs", str(registry.latest_version("srs")), "end", srs),
        ),
    )


def _practice(path: Path, channels: int) -> Any:
    noops = [NoOp(f"noop-{i}") for i in range(channels)]
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(*noops)])
    # No-show messages only: the alerts those sessions raise would add messages of their own and blur the
    # count the figures are per.
    subs = Subscriptions.of({c.name: ("session-no-show",) for c in noops})
    return open_practice(
        path, plugins=host, subscriptions=subs, dispatch_policy=DispatchPolicy(batch_size=64, workers=8)
    )


def _record_session_p50(tmp: Path, attended: bool) -> tuple[float, float]:
    plain, notifying = (
        _practice(tmp / f"plain-{attended}.sqlite", 0),
        _practice(tmp / f"n-{attended}.sqlite", 2),
    )
    eps = {id(p): [_episode(p) for _ in range(ROUNDS // 50 + 1)] for p in (plain, notifying)}
    times: dict[int, list[float]] = {id(plain): [], id(notifying): []}
    for i in range(WARMUP + ROUNDS):
        day = START + timedelta(days=1 + i // 10)
        for practice in (plain, notifying) if i % 2 else (notifying, plain):
            session = _session(practice, day, attended)
            episodes = eps[id(practice)]
            t0 = time.perf_counter()
            practice.record_session(ACTOR, episodes[i % len(episodes)], session)
            times[id(practice)].append(time.perf_counter() - t0)
    written = notifying.outbox_status().pending
    assert written == (0 if attended else 2 * (WARMUP + ROUNDS)), written
    for measured in times.values():
        del measured[:WARMUP]
    plain.close()
    notifying.close()
    return statistics.median(times[id(plain)]) * 1e6, statistics.median(times[id(notifying)]) * 1e6


def _derive_cost(tmp: Path) -> tuple[float, float]:
    """The CPU the outbox adds to a command outside the store: deriving its messages from the events."""
    practice = _practice(tmp / "derive.sqlite", 2)
    ep = _episode(practice)
    practice.record_session(ACTOR, ep, _session(practice, START, attended=True))
    practice.record_session(ACTOR, ep, _session(practice, START, attended=False))
    state = practice.episode(ACTOR, ep)
    stored = practice.store.load_events(ep)[-2:]
    pairs = [[(e, Codec().decode(e))] for e in stored]
    results = []
    for pair in pairs:
        for _ in range(WARMUP):
            messages_for(pair, state, practice.subscriptions)
        times = []
        for _ in range(ROUNDS * 5):
            t0 = time.perf_counter()
            messages_for(pair, state, practice.subscriptions)
            times.append(time.perf_counter() - t0)
        results.append(statistics.median(times) * 1e6)
    assert len(messages_for(pairs[1], state, practice.subscriptions)) == 2
    practice.close()
    return results[0], results[1]


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        practice = _practice(tmp / "dispatch.sqlite", 1)
        eps = [_episode(practice) for _ in range(BACKLOG // 200)]
        for i in range(WARMUP):  # a first dispatch warms up the claims, the threads and the statements
            practice.record_session(ACTOR, eps[i % len(eps)], _session(practice, START, attended=False))
        assert practice.dispatch_pending().delivered == WARMUP
        for i in range(BACKLOG):
            practice.record_session(ACTOR, eps[i % len(eps)], _session(practice, START, attended=False))
        t0 = time.perf_counter()
        summary = practice.dispatch_pending()
        elapsed = time.perf_counter() - t0
        assert summary.delivered == BACKLOG, summary
        practice.close()

        derive_attended, derive_missed = _derive_cost(tmp)
        attended_plain, attended_outbox = _record_session_p50(tmp, attended=True)
        missed_plain, missed_outbox = _record_session_p50(tmp, attended=False)
    return {
        "dispatched to a no-op channel (messages/s)": BACKLOG / elapsed,
        "messages_for, attended session p50 (µs)": derive_attended,
        "messages_for, no-show to 2 channels p50 (µs)": derive_missed,
        "record_session attended, no outbox p50 (µs)": attended_plain,
        "record_session attended, 2 channels subscribed p50 (µs)": attended_outbox,
        "outbox cost, attended session (ratio, target ≤ 1.10)": attended_outbox / attended_plain,
        "record_session no-show, no outbox p50 (µs)": missed_plain,
        "record_session no-show, 2 outbox rows p50 (µs)": missed_outbox,
        "outbox cost, no-show session (ratio, target ≤ 1.10)": missed_outbox / missed_plain,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:58s} {value:10.2f}")
