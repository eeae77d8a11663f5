"""The dispatcher on real stores (memory and SQLite): delivery, faults, back-off, dead letters, leases."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from alliancekit.errors import ValidationError
from alliancekit.notify import DispatchPolicy
from alliancekit.notify.channels import NotifierRegistry
from alliancekit.notify.dispatcher import Dispatcher
from alliancekit.store.protocol import OutboxState
from alliancekit.testing.notifier import RecordingChannel


def _messages(practice: Any, kit: SimpleNamespace, episodes: int = 1, no_shows: int = 1) -> None:
    for i in range(episodes):
        ep = kit.active_episode(practice, f"client-{i}")
        for _ in range(no_shows):
            kit.no_show(practice, ep)


def test_delivers_each_message_once_and_records_it(practice_for: Any, kit: SimpleNamespace) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel)
    _messages(practice, kit, episodes=3, no_shows=2)
    summary = practice.dispatch_pending()
    assert (summary.claimed, summary.delivered, summary.failed, summary.dead) == (6, 6, 0, 0)
    assert len({m.message_id for m in channel.delivered}) == 6
    assert all(m.kind == "session-no-show" and m.attempt == 1 for m in channel.delivered)
    status = practice.outbox_status()
    assert (status.pending, status.delivered, status.dead, status.oldest_pending_at) == (0, 6, 0, None)
    assert practice.dispatch_pending().claimed == 0
    assert all(r.attempts == 1 for r in practice.store.outbox_records(OutboxState.DELIVERED))


def test_a_raising_channel_fails_its_own_messages_only(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    good, bad = RecordingChannel("email"), kit.Raising("hook")
    practice = practice_for(good, bad, base_delay=60, jitter=0)
    _messages(practice, kit, episodes=2)
    summary = practice.dispatch_pending()
    assert (summary.delivered, summary.failed, summary.dead) == (2, 2, 0)
    assert len(good.delivered) == 2
    assert bad.calls == 2
    failed = practice.store.outbox_records(OutboxState.PENDING)
    assert {r.channel for r in failed} == {"hook"}
    for record in failed:
        assert record.attempts == 1
        assert record.last_error == "ConnectionError"  # the class, never the text of the exception
        assert record.next_attempt_at == clock.now + timedelta(seconds=60)
        assert record.lease_owner is None
    # not due again until the back-off has passed
    assert practice.dispatch_pending().claimed == 0
    clock.advance(60)
    assert practice.dispatch_pending().failed == 2
    assert {r.attempts for r in practice.store.outbox_records(OutboxState.PENDING)} == {2}


class WitnessChannel:
    """Hangs until released, like ``kit.Hanging``; on a message's first attempt it first watches the store
    until the other channel's messages are recorded delivered, and notes whether its own attempt was still
    unsettled then (within its time limit: not yet recorded as timed out). Counts calls begun and ended."""

    def __init__(self, name: str, others: str) -> None:
        self.name, self.others = name, others
        self.store: Any = None
        self.release = threading.Event()
        self.seen: list[bool] = []
        self.begun = self.ended = 0
        self._lock = threading.Lock()

    def deliver(self, message: Any) -> None:
        with self._lock:
            self.begun += 1
        try:
            if message.attempt == 1:
                self._witness(message.message_id)
            self.release.wait(60)  # until released (a dispatcher that waited for it fails, not hangs)
        finally:
            with self._lock:
                self.ended += 1

    def _witness(self, own: str) -> None:
        while not self.release.wait(0.005):  # polls the store, not the time: nothing is asserted on time
            records = self.store.outbox_records()
            others = [r for r in records if r.channel == self.others]
            if others and all(r.state is OutboxState.DELIVERED for r in others):
                [mine] = [r for r in records if r.message_id == own]
                with self._lock:
                    self.seen.append(mine.state is OutboxState.PENDING and mine.attempts == 0)
                return


def test_a_hanging_channel_times_out_without_blocking_the_others(
    practice_for: Any, kit: SimpleNamespace
) -> None:
    good, hung = RecordingChannel("email"), WitnessChannel("hook", others="email")
    practice = practice_for(good, hung, base_delay=0, jitter=0, max_attempts=2, workers=4)
    hung.store = practice.store
    _messages(practice, kit, episodes=2)
    try:
        summary = practice.dispatch_pending()
        # the dispatcher returned while all four hung calls were still running: it gave them up, not waited
        assert (hung.begun, hung.ended) == (4, 0)
    finally:
        hung.release.set()
    # both attempts of each hung message ran to the time limit and were recorded as timed out
    assert (summary.delivered, summary.timed_out, summary.failed, summary.dead) == (2, 4, 2, 2)
    assert len(good.delivered) == 2
    # the good channel was not held up: its messages were delivered and recorded while the hung messages'
    # first attempts were still within their time limit
    assert hung.seen == [True, True]
    dead = practice.store.outbox_records(OutboxState.DEAD)
    assert {(r.channel, r.last_error, r.attempts) for r in dead} == {("hook", "timeout", 2)}
    assert practice.episode(kit.actor, dead[0].episode_id).sessions_scheduled == 1  # the record is whole


def test_a_channel_with_too_many_stuck_calls_is_not_called_again(
    practice_for: Any, kit: SimpleNamespace
) -> None:
    hung = kit.Hanging("hook")
    practice = practice_for(
        hung, call_timeout=0.2, max_hung_per_channel=2, base_delay=0, jitter=0, max_attempts=3
    )
    _messages(practice, kit, episodes=3)
    summary = practice.dispatch_pending()
    hung.release.set()
    # the first round hung three calls; every retry then found the channel saturated and was not made
    assert hung.calls == 3
    assert summary.dead == 3
    assert {r.last_error for r in practice.store.outbox_records(OutboxState.DEAD)} == {"channel-saturated"}


def test_fails_twice_then_succeeds(practice_for: Any, kit: SimpleNamespace, clock: Any) -> None:
    flaky = kit.Flaky("email", failures=2)
    practice = practice_for(flaky, base_delay=10, jitter=0, max_attempts=3)
    _messages(practice, kit, episodes=2)
    assert practice.dispatch_pending().failed == 2
    clock.advance(10)
    assert practice.dispatch_pending().failed == 2
    assert practice.dispatch_pending().claimed == 0  # second back-off is 20 s
    clock.advance(20)
    summary = practice.dispatch_pending()
    assert (summary.delivered, summary.dead) == (2, 0)
    assert [m.attempt for m in flaky.delivered] == [3, 3]
    assert {r.attempts for r in practice.store.outbox_records(OutboxState.DELIVERED)} == {3}


def test_dead_after_max_attempts_and_retry_brings_it_back(practice_for: Any, kit: SimpleNamespace) -> None:
    bad = kit.Raising("email")
    practice = practice_for(bad, base_delay=0, max_attempts=3)
    _messages(practice, kit, episodes=2)
    summary = practice.dispatch_pending()
    assert (summary.failed, summary.dead) == (4, 2)
    assert bad.calls == 6
    status = practice.outbox_status()
    assert (status.pending, status.dead) == (0, 2)
    dead = practice.store.outbox_records(OutboxState.DEAD)
    assert {r.attempts for r in dead} == {3}
    assert practice.retry_message(dead[0].message_id) is True
    assert practice.retry_message(dead[0].message_id) is False  # no longer dead
    assert practice.retry_message("no-such-message") is False
    (back,) = practice.store.outbox_records(OutboxState.PENDING)
    assert (back.message_id, back.attempts, back.last_error) == (dead[0].message_id, 0, None)


def test_back_off_doubles_is_capped_and_jittered() -> None:
    policy = DispatchPolicy(base_delay=10, max_delay=100, jitter=0.5)
    assert [policy.delay(n, lambda: 0.0) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 100]
    assert policy.delay(3, lambda: 1.0) == 20
    assert policy.lease_seconds == policy.call_timeout * 4 + policy.lease_margin
    with pytest.raises(ValidationError):
        DispatchPolicy(jitter=2)
    with pytest.raises(ValidationError):
        DispatchPolicy(call_timeout=0)


def test_a_leased_message_is_not_claimed_by_another_dispatcher(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel)
    _messages(practice, kit, episodes=2)
    store = practice.store
    now = clock.now
    first = store.claim_outbox("A", ["email"], now, now + timedelta(seconds=30), 10)
    assert len(first) == 2
    assert {r.lease_owner for r in first} == {"A"}
    assert store.claim_outbox("B", ["email"], now, now + timedelta(seconds=30), 10) == []
    assert store.claim_outbox("B", ["other"], now + timedelta(seconds=31), now, 10) == []
    later = now + timedelta(seconds=30)
    second = store.claim_outbox("B", ["email"], later, later + timedelta(seconds=30), 10)
    assert {r.message_id for r in second} == {r.message_id for r in first}
    # A's lease ran out: its failure is not recorded over B's lease, but its delivery is
    assert store.outbox_failed("A", first[0].message_id, error="x", next_attempt_at=later, at=later) is False
    assert store.outbox_dead("A", first[0].message_id, error="x", at=later) is False
    assert store.outbox_delivered("A", [first[0].message_id], later) == 1
    assert store.outbox_delivered("B", [first[0].message_id], later) == 0
    assert store.outbox_status().delivered == 1


def test_two_dispatchers_at_once_deliver_each_message_once(practice_for: Any, kit: SimpleNamespace) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel, batch_size=3)
    _messages(practice, kit, episodes=10, no_shows=3)
    other = practice_for(channel, batch_size=3)  # a second practice object on the same store or file
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda p=p: results.append(p.dispatch_pending())) for p in (practice, other)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(r.delivered for r in results) == 30
    ids = [m.message_id for m in channel.delivered]
    assert len(ids) == len(set(ids)) == 30


def test_run_dispatcher_delivers_new_messages_until_stopped(practice_for: Any, kit: SimpleNamespace) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel)
    stop = threading.Event()
    totals: list[Any] = []
    worker = threading.Thread(target=lambda: totals.append(practice.run_dispatcher(stop, poll_interval=0.05)))
    worker.start()
    try:
        _messages(practice, kit, episodes=2)
        deadline = time.monotonic() + 10
        while len(channel.delivered) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    assert totals[0].delivered == 2
    assert len(channel.delivered) == 2


def test_messages_for_channels_this_dispatcher_lacks_stay_pending(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    practice = practice_for(RecordingChannel("email"))
    _messages(practice, kit)
    lone = Dispatcher(practice.store, NotifierRegistry(), clock=clock)
    assert lone.dispatch_pending().claimed == 0
    registry = NotifierRegistry()
    registry.add(RecordingChannel("pager"), "test")
    assert Dispatcher(practice.store, registry, clock=clock).dispatch_pending().claimed == 0
    assert practice.outbox_status().pending == 1


def test_failing_channels_never_stop_clinical_writes(practice_for: Any, kit: SimpleNamespace) -> None:
    practice = practice_for(kit.Raising("email"), base_delay=0, max_attempts=1)
    ep = kit.active_episode(practice)
    for _ in range(3):
        kit.no_show(practice, ep)
        practice.dispatch_pending()
    assert practice.episode(kit.actor, ep).sessions_scheduled == 3
    assert practice.outbox_status().dead == 3


def test_an_unreadable_message_is_a_failed_attempt_not_a_crash(
    practice_for: Any, kit: SimpleNamespace
) -> None:
    import attrs

    from alliancekit.testing.outbox import commit_with_outbox

    channel = RecordingChannel("email")
    practice = practice_for(channel, base_delay=0, max_attempts=2)
    commit = commit_with_outbox("ep-bad", 0, [("bad", "email", kit.now), ("good", "email", kit.now)])
    broken = attrs.evolve(commit.outbox[0], body_json="{not json")
    practice.store.append(attrs.evolve(commit, outbox=[broken, commit.outbox[1]]))
    summary = practice.dispatch_pending()
    assert (summary.delivered, summary.dead) == (1, 1)
    assert [m.message_id for m in channel.delivered] == ["good"]
    (dead,) = practice.store.outbox_records(OutboxState.DEAD)
    assert (dead.message_id, dead.last_error) == ("bad", "unreadable-message")


# -- the clock stepped back (the practice's and the dispatcher's clock, the project's own seam) -----------


def test_a_message_queued_before_the_clock_stepped_back_goes_at_once(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel)
    _messages(practice, kit)
    clock.advance(-6 * 3600)  # e.g. a wrong time corrected by NTP after the message was queued
    summary = practice.dispatch_pending()
    assert (summary.claimed, summary.delivered) == (1, 1)
    assert len(channel.delivered) == 1


def test_a_back_off_after_the_clock_stepped_back_waits_its_delay_not_the_step(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    bad = kit.Raising("hook")
    practice = practice_for(bad, base_delay=60, max_delay=60, jitter=0)
    _messages(practice, kit)
    assert practice.dispatch_pending().failed == 1  # due again 60 s after this failure
    clock.advance(-24 * 3600)
    assert practice.dispatch_pending().claimed == 0  # the 60 s begin again here, bounded by max_delay
    clock.now += timedelta(seconds=60) - timedelta(microseconds=1)
    assert practice.dispatch_pending().claimed == 0
    clock.now += timedelta(microseconds=1)
    assert practice.dispatch_pending().claimed == 1
    assert bad.calls == 2


def test_a_dead_dispatchers_lease_after_the_clock_stepped_back_holds_the_message_one_lease_not_the_step(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    channel = RecordingChannel("email")
    practice = practice_for(channel)
    _messages(practice, kit)
    lease = timedelta(seconds=practice.dispatch_policy.lease_seconds)
    now = clock.now
    assert len(practice.store.claim_outbox("killed", ["email"], now, now + lease, 10)) == 1  # then killed
    clock.advance(-6 * 3600)
    assert practice.dispatch_pending().claimed == 0  # the killed dispatcher's lease begins again here
    clock.now += lease - timedelta(microseconds=1)
    assert practice.dispatch_pending().claimed == 0
    clock.now += timedelta(microseconds=1)
    summary = practice.dispatch_pending()
    assert (summary.claimed, summary.delivered, summary.lost_lease) == (1, 1, 0)
    assert len(channel.delivered) == 1
