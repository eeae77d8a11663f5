"""The dispatcher process killed with SIGKILL mid-batch, again and again, while the clinic keeps recording.

A real SQLite file, a real webhook receiver (http.server on 127.0.0.1) that drops repeated idempotency keys,
and dispatcher processes started with ``sys.executable`` and killed at random moments after they began
delivering. Afterwards one dispatcher drains the outbox. Nothing may be lost: every clinical record written,
every message delivered (once, after the receiver's de-duplication), and exactly the messages of the
always-failing channel dead, each after all its attempts.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Purpose, Role
from alliancekit.notify import Subscriptions
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.protocol import OutboxState

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

KILLS = 20
MAX_ATTEMPTS = 3
SECRET = "sigkill-test-secret-0123456789"  # noqa: S105 - a test secret

DISPATCHER = """
import json, sys, threading, time
from alliancekit import open_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.notify import DispatchPolicy
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing.notifier import ChannelPlugin
from alliancekit_webhook import WebhookChannel, WebhookConfig

class Doomed:
    name = "doomed"
    def deliver(self, message):
        raise RuntimeError("this channel never works")

db, url, secret, mode, attempts = sys.argv[1:6]
hook = WebhookChannel(WebhookConfig(url=url, secret=secret, allow_http=True, timeout=5))
host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(hook, Doomed())])
policy = DispatchPolicy(max_attempts=int(attempts), base_delay=0, jitter=0, call_timeout=1.0, batch_size=6,
                        workers=3, lease_margin=0.5)
practice = open_practice(db, plugins=host, dispatch_policy=policy)
print("ready", flush=True)
if mode == "run":
    practice.run_dispatcher(threading.Event(), poll_interval=0.05)
else:
    deadline = time.monotonic() + 60
    while practice.outbox_status().pending and time.monotonic() < deadline:
        if not practice.dispatch_pending().claimed:
            time.sleep(0.2)   # leases of killed dispatchers run out (policy.lease_seconds)
    print(json.dumps(practice.outbox_status().pending))
"""


def _spawn(db: Path, url: str, mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", DISPATCHER, str(db), url, SECRET, mode, str(MAX_ATTEMPTS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )


#: rebuild_state is a maintenance call, which the default policy allows to system actors.
MAINTENANCE = Actor("maintenance", Role.SYSTEM, "clinic-n", Purpose.OPERATIONS)


def test_sigkill_dispatcher_loses_and_duplicates_nothing(tmp_path: Path, kit: SimpleNamespace) -> None:
    from alliancekit_webhook.testing import LocalWebhookReceiver

    rng = random.Random(5)
    db = tmp_path / "clinic.sqlite"
    subs = Subscriptions.of({"webhook": ["session-no-show", "episode-closed"], "doomed": ["episode-closed"]})
    practice = open_practice(db, plugins=make_plugin_host(load_entry_points=False), subscriptions=subs)
    episodes = [kit.active_episode(practice, f"client-{i}") for i in range(40)]
    sessions = dict.fromkeys(episodes, 0)
    closed: list[str] = []

    def record_some(n: int) -> None:
        for _ in range(n):
            ep = rng.choice([e for e in episodes if e not in closed])
            if rng.random() < 0.04:
                practice.close_episode(
                    kit.actor, ep, Ending(kit.day, planned=False, reason=EndingReason.DROPOUT)
                )
                closed.append(ep)
            else:
                kit.no_show(practice, ep)
                sessions[ep] += 1

    record_some(120)
    src = [
        str(p) for p in sorted((Path(__file__).resolve().parents[2] / "plugins").glob("alliancekit-*/src"))
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*src, *sys.path])}
    kills = 0
    with LocalWebhookReceiver(SECRET, delay=0.01) as receiver:
        for _ in range(KILLS + 10):
            if kills >= KILLS:
                break
            before = len(receiver.accepted)
            child = _spawn(db, receiver.url, "run", env)
            try:
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
                deadline = time.monotonic() + 15
                while len(receiver.accepted) == before and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.12))  # somewhere in the middle of a batch
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(10)
                child.stdout.close()  # type: ignore[union-attr]
            kills += child.returncode == -signal.SIGKILL and len(receiver.accepted) > before
            record_some(8)  # the clinic goes on recording between dispatcher crashes
        assert kills >= KILLS

        drain = _spawn(db, receiver.url, "drain", env)
        out, _ = drain.communicate(timeout=90)
        assert drain.returncode == 0
        assert out.splitlines()[-1] == "0"

        # zero clinical records lost: every command that returned is in the file, state and stream agree
        check = open_practice(db, plugins=make_plugin_host(load_entry_points=False))
        assert check.store.integrity_check() == "ok"  # type: ignore[attr-defined]
        for ep in episodes:
            state = check.episode(kit.actor, ep)
            assert state.sessions_scheduled == sessions[ep]
            assert state == check.rebuild_state(MAINTENANCE, ep)
            assert (state.closed_on is not None) == (ep in closed)

        records = check.store.outbox_records(limit=10**6)
        hooks = {r.message_id for r in records if r.channel == "webhook"}
        doomed = {r.message_id for r in records if r.channel == "doomed"}
        assert len(hooks) == sum(sessions.values()) + len(closed)
        assert len(doomed) == len(closed) > 0
        # zero messages lost, zero duplicates after the receiver drops repeated keys
        assert set(receiver.processed) == hooks
        assert len(receiver.processed) == len(hooks)
        assert receiver.rejected == []
        status = check.outbox_status()
        assert (status.pending, status.delivered, status.dead) == (0, len(hooks), len(doomed))
        dead = check.store.outbox_records(OutboxState.DEAD, limit=10**6)
        assert {r.message_id for r in dead} == doomed
        assert {(r.attempts, r.last_error) for r in dead} == {(MAX_ATTEMPTS, "RuntimeError")}
        print(
            json.dumps(
                {"kills": kills, "messages": len(hooks) + len(doomed), "redelivered": receiver.duplicates}
            )
        )
