"""Fixtures for the notification tests: stores of both builtin kinds, practices wired to channels, faults."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.notify import DispatchPolicy, Notification, Subscriptions
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.practice import Practice
from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.notifier import ChannelPlugin

ACTOR = Actor("clin-n", Role.CLINICIAN, "clinic-n")
DAY = date(2026, 2, 2)

# The first-party channel plugins live in plugins/*/src; make them importable when they are not installed.
for _src in sorted((Path(__file__).resolve().parents[2] / "plugins").glob("alliancekit-*/src")):
    if str(_src) not in sys.path:
        sys.path.append(str(_src))


class Clock:
    """A settable clock shared by the practice and its dispatcher."""

    def __init__(self) -> None:
        self.now = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class RaisingChannel:
    """Always fails, with a message that must never reach the outbox."""

    def __init__(self, name: str = "raising") -> None:
        self.name = name
        self.calls = 0

    def deliver(self, message: Notification) -> None:
        self.calls += 1
        raise ConnectionError("secret server reply mentioning the client")


class HangingChannel:
    """Blocks until released (or for ever), like a peer that accepts the connection and never answers."""

    def __init__(self, name: str = "hanging") -> None:
        self.name = name
        self.release = threading.Event()
        self.calls = 0

    def deliver(self, message: Notification) -> None:
        self.calls += 1
        self.release.wait(30)


class FlakyChannel:
    """Fails the first ``failures`` attempts of each message, then delivers it."""

    def __init__(self, name: str = "flaky", failures: int = 2) -> None:
        self.name = name
        self.failures = failures
        self.attempts: dict[str, int] = {}
        self.delivered: list[Notification] = []
        self._lock = threading.Lock()

    def deliver(self, message: Notification) -> None:
        with self._lock:
            n = self.attempts[message.message_id] = self.attempts.get(message.message_id, 0) + 1
            if n <= self.failures:
                raise TimeoutError("try again")
            self.delivered.append(message)


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Makes stores on one shared backend: every call opens the same memory store or the same SQLite file."""
    opened: list[Any] = []
    shared = MemoryStore()

    def make() -> Any:
        store = shared if request.param == "memory" else SQLiteStore(tmp_path / "notify.sqlite")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def practice_for(store_factory: Callable[[], Any], clock: Clock) -> Callable[..., Practice]:
    """``practice_for(*channels, **policy)``: a practice on the shared store.

    Every channel is subscribed to ``kinds``: by default only no-show messages, which the tests make one
    by one (the alerts those sessions raise would add messages of their own; pass ``kinds=ALL_KINDS``).
    """

    def make(
        *channels: Any, subscribe: bool = True, kinds: Any = ("session-no-show",), **policy: Any
    ) -> Practice:
        host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(*channels)])
        subs = Subscriptions.of({c.name: kinds for c in channels}) if subscribe else None
        policy.setdefault("call_timeout", 2.0)
        return open_practice(
            store_factory(),
            plugins=host,
            clock=clock,
            subscriptions=subs,
            dispatch_policy=DispatchPolicy(**policy),
        )

    return make


def active_episode(practice: Practice, client: str = "client-n") -> str:
    ep = practice.start_episode(ACTOR, client_ref=client, clinician_id=ACTOR.id, opened_on=DAY)
    practice.record_consultation(
        ACTOR,
        ep,
        Consultation(held_on=DAY, modality=Modality.VIDEO, consent=Consent(treatment=True, measures=True)),
    )
    practice.decide_fit(ACTOR, ep, FitDecision(outcome="proceed", decided_on=DAY))
    practice.agree_goals(ACTOR, ep, [GoalDraft("a goal", ("a task",))], agreed_on=DAY)
    return ep


def no_show(practice: Practice, ep: str) -> None:
    practice.record_session(
        ACTOR, ep, Session(held_on=DAY, modality=Modality.PHONE, attendance=Attendance.NO_SHOW)
    )


@pytest.fixture
def kit() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import a conftest)."""
    return SimpleNamespace(
        actor=ACTOR,
        day=DAY,
        now=datetime(2026, 2, 2, 8, 0, tzinfo=UTC),
        Raising=RaisingChannel,
        Hanging=HangingChannel,
        Flaky=FlakyChannel,
        active_episode=active_episode,
        no_show=no_show,
    )
