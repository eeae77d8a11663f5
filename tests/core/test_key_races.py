"""An idempotency key applied by another process while this one holds the same keyed command.

The race a retried request (or an import run twice at once) makes: both writers find the key unused, one
commits, and the other's commit is refused by the store. The store reports a stale version before a used key,
so the loser sees a conflict although its key is what was applied. The library must answer as it would the
same request a moment later: the facade with the first result (``duplicate``), a batch with
``DuplicateCommand`` (and, run again, with the first result). The other writer is a real process, started
at the exact point of the race (the batch's commit is held until ``flush``; in the facade, an alert rule of
this practice's runs it, after the key was looked up and before the commit).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.domain import Session
from alliancekit.errors import ConflictError, DuplicateCommand
from alliancekit.feedback import SESSION_EVENTS, AlertRule, AlertRuleRegistrar, RuleContext
from alliancekit.plugins.manager import ALLOW_LIST_ENV, DISABLE_AUTOLOAD_ENV, PluginHost, make_plugin_host
from alliancekit.practice import Practice

from .conftest import DAY0, active_episode, clinician, day

OTHER = Path(__file__).parent / "scripts" / "keyed.py"


@attrs.frozen
class Backend:
    """A fresh practice location, the plugins it needs, and the other process's environment."""

    location: str
    load_entry_points: bool = False
    env: dict[str, str] = attrs.field(factory=dict)

    def host(self, *extra: object) -> PluginHost:
        allow = ["postgres"] if self.load_entry_points else None
        return make_plugin_host(load_entry_points=self.load_entry_points, allow=allow, extra_plugins=extra)

    def open(self, *extra: object) -> Practice:
        return open_practice(self.location, plugins=self.host(*extra))

    def other(self, *args: object) -> str:
        """Run the other process to its end; what it printed."""
        env = {**os.environ, DISABLE_AUTOLOAD_ENV: "1", **self.env}
        done = subprocess.run(
            [sys.executable, str(OTHER), self.location, *map(str, args)], capture_output=True, env=env
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
        return done.stdout.decode().strip()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend(str(tmp_path / "p.sqlite"))
    pg: Any = request.getfixturevalue("pg")
    location = str(pg.location(pg.new_schema(), clinician().clinic_id))
    return Backend(location, True, {DISABLE_AUTOLOAD_ENV: "", ALLOW_LIST_ENV: "postgres"})


def _session(n: int) -> Session:
    return Session(day(n), "in-person", "attended")  # what the other process records on day n


def test_a_batch_whose_key_another_process_applied_to_the_same_episode_is_a_duplicate(
    backend: Backend,
) -> None:
    me = clinician()
    with backend.open() as practice:
        ep, _ = active_episode(practice, me)
        after = practice.episode(me, ep).version + 1
        with practice.batch() as batch:
            batch.record_session(me, ep, _session(3), idempotency_key="row-7")
            assert backend.other("session", ep, "row-7", 3) == f"{after} False"
            with pytest.raises(DuplicateCommand):
                batch.flush()
        # nothing of the batch was written; run again, the key answers with the other process's result
        with practice.batch() as batch:
            again = batch.record_session(me, ep, _session(3), idempotency_key="row-7")
        assert (again.version, again.duplicate) == (after, True)
        assert len(practice.timeline(me, ep)) == after
        # the other side: a race for the episode alone (another key) is still a conflict
        with practice.batch() as batch:
            batch.record_session(me, ep, _session(4), idempotency_key="row-8")
            backend.other("session", ep, "row-9", 5)
            with pytest.raises(ConflictError):
                batch.flush()
        assert len(practice.timeline(me, ep)) == after + 1


def test_a_batch_whose_keyed_start_another_process_made_is_a_duplicate(backend: Backend) -> None:
    me = clinician()
    with backend.open() as practice:
        with practice.batch() as batch:
            mine = batch.start_episode(
                me, client_ref="client-1", clinician_id="clin-1", opened_on=DAY0, idempotency_key="open-1"
            )
            assert backend.other("start", "open-1") == mine  # the key names the same episode
            with pytest.raises(DuplicateCommand):
                batch.flush()
        with practice.batch() as batch:
            assert (
                batch.start_episode(
                    me, client_ref="client-1", clinician_id="clin-1", opened_on=DAY0, idempotency_key="open-1"
                )
                == mine
            )
        assert [row.episode_id for row in practice.caseload(me)] == [mine]


class _RaceBeforeCommit:
    """An alert rule that, once armed, has the other process apply a command before this one commits
    (the rules run after the key was looked up, before the store is written)."""

    def __init__(self, backend: Backend) -> None:
        self.backend, self.then, self.printed = backend, None, ""

    def arm(self, *args: object) -> None:
        self.then = args

    def _rule(self, ctx: RuleContext) -> Iterator[None]:
        if self.then is not None:
            args, self.then = self.then, None
            self.printed = self.backend.other(*args)
        yield from ()

    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        register(AlertRule("test.race", "info", "Never raised.", self._rule, reads=SESSION_EVENTS))


def test_a_keyed_request_with_its_version_applied_by_another_process_meanwhile_is_a_repeat(
    backend: Backend,
) -> None:
    # An HTTP retry of one request reaching two workers at once, with its If-Match: one records the session,
    # the other answers with its result, as it would a moment later (not 412: the request was done).
    me = clinician()
    race = _RaceBeforeCommit(backend)
    with backend.open(race) as practice:
        ep, _ = active_episode(practice, me)
        before = practice.episode(me, ep).version
        race.arm("session", ep, "req-1", 3, before)
        done = practice.record_session(me, ep, _session(3), idempotency_key="req-1", expected_version=before)
        assert race.printed == f"{before + 1} False"
        assert (done.version, done.duplicate) == (before + 1, True)
        assert len(practice.timeline(me, ep)) == before + 1
        # the other side: another request moved the episode on, and an If-Match is refused as stale
        race.arm("session", ep, "req-2", 5)
        with pytest.raises(ConflictError) as caught:
            practice.record_session(me, ep, _session(4), idempotency_key="req-3", expected_version=before + 1)
        assert (caught.value.expected, caught.value.actual) == (before + 1, before + 2)
        assert len(practice.timeline(me, ep)) == before + 2
