"""The outbox dispatcher: claim due messages with a lease, deliver each under a time limit, record the result.

How it keeps its promises:

* **No blocked record.** Delivery happens after the commit, from the outbox, never inside a command.
* **A bad channel affects only its own messages.** Each ``deliver`` runs in its own worker thread with a
  deadline. A call that raises is a failed attempt (only the exception's class name is kept, never its
  text, which may echo content; a :class:`~alliancekit.notify.DeliveryError`'s fixed ``reason`` too). A
  call still running at its deadline is a failed attempt of kind ``timeout``; its thread is abandoned (a
  daemon) and the message retried later. A channel with
  ``max_hung_per_channel`` calls still stuck is not called again until one returns (``channel-saturated``).
* **Back-off and dead letters.** After a failed attempt the message is due again after
  ``base_delay * 2 ** (attempts - 1)`` seconds (capped at ``max_delay``), less a random part of up to
  ``jitter`` of it, so that many messages failing together do not retry together. After ``max_attempts``
  attempts it is dead until ``outbox retry`` (``Practice.retry_message``) puts it back. A failure the
  channel marks ``permanent`` (a refusal that repeating cannot change) makes the message dead at once. A
  channel's ``retry_after`` (a receiver's ``Retry-After``) makes the next attempt no earlier than that,
  bounded by ``max_delay`` like the back-off.
* **No double delivery in the normal case.** A message is leased to one dispatcher for longer than that
  dispatcher can take over its batch (``DispatchPolicy.lease_seconds``); a second dispatcher skips leased
  messages. Results are recorded as they arrive, a handful per transaction.
* **At-least-once across crashes.** A dispatcher killed between delivering and recording leaves the lease
  to run out; the message is delivered again, with the same idempotency key, and the receiver drops it.
  A crash is not counted as an attempt, so only a channel's own failures can make a message dead.
"""

from __future__ import annotations

import inspect
import math
import os
import queue
import random
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from alliancekit._logging import logger
from alliancekit.domain.checks import check_aware_datetime
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.notify.channels import Channel, NotifierRegistry, failure_hints, failure_name
from alliancekit.notify.outbox import Notification
from alliancekit.store.protocol import OutboxRecord, Store

log = logger("alliancekit.notify")

#: The first-party channels' default total time for one delivery (connecting and every reply): below
#: ``DispatchPolicy.call_timeout``'s default, with room to spare, so the dispatcher never cuts off a delivery
#: its channel would have finished (and then sends it again).
CHANNEL_TIMEOUT = 8.0

#: A failed attempt: what went wrong (a class name or code), whether it is permanent, and the receiver's
#: earliest time for the next attempt (seconds), if it gave one.
_Failure = tuple[str, bool, float | None]


def _positive(instance: object, attribute: Any, value: Any) -> None:
    if not value > 0:
        raise ValidationError(f"DispatchPolicy.{attribute.name}", "minimum", "greater than 0")


def _not_negative(instance: object, attribute: Any, value: Any) -> None:
    if not value >= 0:
        raise ValidationError(f"DispatchPolicy.{attribute.name}", "minimum", "0 or more")


@attrs.frozen
class DispatchPolicy:
    """How hard and how fast the dispatcher tries. Durations are in seconds."""

    max_attempts: int = attrs.field(default=8, validator=_positive)
    """Attempts before a message is dead."""
    base_delay: float = attrs.field(default=30.0, validator=_not_negative)
    """Delay after the first failed attempt; doubled after each further one."""
    max_delay: float = attrs.field(default=6 * 3600.0, validator=_not_negative)
    """The longest wait before a next attempt: the back-off's cap, and the bound on a channel's
    ``retry_after`` (a receiver's ``Retry-After``)."""
    jitter: float = attrs.field(default=0.5, validator=_not_negative)
    """Up to this fraction of each delay is taken off at random (0 for none, at most 1)."""
    call_timeout: float = attrs.field(default=10.0, validator=_positive)
    """Time limit of one ``deliver`` call. A channel's own total time limit must be below it, or a delivery
    still under way is counted as timed out and sent again (the first-party channels default to
    :data:`CHANNEL_TIMEOUT`)."""
    batch_size: int = attrs.field(default=32, validator=_positive)
    """Messages claimed at a time."""
    workers: int = attrs.field(default=8, validator=_positive)
    """``deliver`` calls running at once."""
    lease_margin: float = attrs.field(default=30.0, validator=_not_negative)
    """Added to the longest a batch can take, to make the lease."""
    max_hung_per_channel: int = attrs.field(default=4, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.jitter > 1:
            raise ValidationError("DispatchPolicy.jitter", "maximum", "at most 1")

    @property
    def lease_seconds(self) -> float:
        """Longer than a batch can take: every round of ``workers`` calls running to its time limit."""
        return self.call_timeout * math.ceil(self.batch_size / self.workers) + self.lease_margin

    def delay(self, attempts: int, rand: Callable[[], float], retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: the back-off, or the receiver's
        ``retry_after`` when that is longer, never more than ``max_delay``."""
        full = min(self.max_delay, self.base_delay * 2.0 ** max(attempts - 1, 0))
        backoff = full * (1.0 - self.jitter * rand())
        if retry_after is None:
            return backoff
        return max(backoff, min(self.max_delay, retry_after))


@attrs.define
class DispatchSummary:
    """What one dispatch did. ``failed`` counts attempts that will be retried (``timed_out`` among them)."""

    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    timed_out: int = 0
    lost_lease: int = 0
    """Failures not recorded because another dispatcher had taken the message over (its lease ran out)."""

    def add(self, other: DispatchSummary) -> None:
        """Add ``other``'s counts to these (the summary of several passes)."""
        for field in attrs.fields(DispatchSummary):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


def default_owner() -> str:
    """A dispatcher's lease-owner name: host, process and a random part (two in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


_system_random = random.SystemRandom()


class Dispatcher:
    """Delivers a store's due outbox messages through the channels of a :class:`NotifierRegistry`."""

    def __init__(
        self,
        store: Store,
        channels: NotifierRegistry,
        *,
        policy: DispatchPolicy | None = None,
        clock: Callable[[], datetime],
        owner: str | None = None,
        rand: Callable[[], float] | None = None,
    ) -> None:
        self.store = store
        self.channels = channels
        self.policy = policy or DispatchPolicy()
        self.clock = clock
        self.owner = owner or default_owner()
        self._rand = rand or _system_random.random
        self._hung: dict[str, list[threading.Thread]] = {}
        self._hung_lock = threading.Lock()
        self._check_timeouts()

    def __repr__(self) -> str:
        return f"Dispatcher(owner={self.owner!r}, channels={self.channels.names()!r})"

    def _now(self) -> datetime:
        # lease and back-off times are compared with the store's aware times: a naive clock is refused
        return check_aware_datetime("clock", self.clock())

    # -------------------------------------------------------------------------------------------- public

    def dispatch_pending(self, *, limit: int | None = None) -> DispatchSummary:
        """Deliver every message due now (claimed a batch at a time) and return what happened.

        Messages that fail are due again later, so they are not retried within this call unless their
        back-off is zero. ``limit`` bounds the number of messages claimed.
        """
        summary = DispatchSummary()
        names = self.channels.names()
        if not names:
            return summary
        while limit is None or summary.claimed < limit:
            size = (
                self.policy.batch_size
                if limit is None
                else min(self.policy.batch_size, limit - summary.claimed)
            )
            now = self._now()
            batch = self.store.claim_outbox(
                self.owner, names, now, now + timedelta(seconds=self.policy.lease_seconds), size
            )
            if not batch:
                break
            summary.claimed += len(batch)
            self._deliver_batch(batch, summary)
        return summary

    def run(self, stop: threading.Event, poll_interval: float = 5.0) -> DispatchSummary:
        """Dispatch until ``stop`` is set, waiting ``poll_interval`` seconds whenever nothing was due.

        A store error (the database briefly unavailable) is logged and retried after the interval.
        """
        total = DispatchSummary()
        while not stop.is_set():
            try:
                done = self.dispatch_pending(limit=self.policy.batch_size * 4)
            except AlliancekitError as exc:
                log.warning("outbox dispatch failed: %s; retrying", type(exc).__name__)
                stop.wait(poll_interval)
                continue
            total.add(done)
            if done.claimed == 0:
                stop.wait(poll_interval)
        return total

    # ----------------------------------------------------------------------------------------- internals

    def _check_timeouts(self) -> None:
        """Warn of a channel whose own time limit (its ``timeout``) does not fit inside ``call_timeout``: a
        delivery it would have finished is cut off, counted timed out and sent again."""
        for channel in self.channels:
            try:
                limit = getattr(channel, "timeout", None)
            except Exception:  # noqa: BLE001 - a broken plugin attribute must not stop dispatching
                limit = None
            if isinstance(limit, int | float) and limit >= self.policy.call_timeout:
                log.warning(
                    "channel %s: its timeout (%gs) is not below the dispatcher's call_timeout (%gs): "
                    "slow deliveries will be cut off and sent again",
                    channel.name,
                    limit,
                    self.policy.call_timeout,
                )

    def _deliver_batch(self, batch: list[OutboxRecord], summary: DispatchSummary) -> None:
        results: queue.SimpleQueue[tuple[str, _Failure | None]] = queue.SimpleQueue()
        waiting = deque(batch)
        running: dict[str, tuple[OutboxRecord, threading.Thread, float]] = {}
        while waiting or running:
            failures: list[tuple[OutboxRecord, _Failure]] = []
            while waiting and len(running) < self.policy.workers:
                record = waiting.popleft()
                channel = self.channels.get(record.channel)
                if channel is None:  # pragma: no cover - claims are for registered channels only
                    failures.append((record, ("channel-missing", False, None)))
                elif self._saturated(record.channel):
                    failures.append((record, ("channel-saturated", False, None)))
                else:
                    try:
                        message = Notification.from_record(record)
                    except (ValueError, TypeError, AttributeError):
                        failures.append((record, ("unreadable-message", True, None)))  # no retry can read it
                        continue
                    thread = self._start(channel, record, message, results)
                    running[record.message_id] = (record, thread, time.monotonic() + self.policy.call_timeout)
            delivered: list[str] = []
            if running:
                wait = max(0.0, min(deadline for _, _, deadline in running.values()) - time.monotonic())
                outcomes: list[tuple[str, _Failure | None]] = []
                try:
                    outcomes.append(results.get(timeout=wait))
                    while True:
                        outcomes.append(results.get_nowait())
                except queue.Empty:
                    pass
                for message_id, error in outcomes:
                    record, _, _ = running.pop(message_id)
                    if error is None:
                        delivered.append(message_id)
                    else:
                        failures.append((record, error))
                now_mono = time.monotonic()
                for message_id, (record, thread, deadline) in list(running.items()):
                    if deadline <= now_mono:
                        del running[message_id]
                        self._abandon(record.channel, thread)
                        failures.append((record, ("timeout", False, None)))
                        summary.timed_out += 1
            self._settle(delivered, failures, summary)

    def _start(
        self,
        channel: Channel,
        record: OutboxRecord,
        message: Notification,
        results: queue.SimpleQueue[tuple[str, _Failure | None]],
    ) -> threading.Thread:
        def call() -> None:
            try:
                # typed to return None; a plugin's may not (an async deliver the registry could not see)
                deliver: Callable[[Notification], object] = channel.deliver
                returned = deliver(message)
            except BaseException as exc:  # noqa: BLE001 - any failure of a plugin is a failed attempt
                permanent, retry_after = failure_hints(exc)
                results.put((record.message_id, (failure_name(exc), permanent, retry_after)))
            else:
                if inspect.isawaitable(returned):
                    # an async deliver the registry could not see (wrapped): nothing was sent, and no retry of
                    # the same code can send it; dead at once, for ``outbox retry`` once the channel is fixed
                    if inspect.iscoroutine(returned):
                        returned.close()  # never awaited: closed, without the "never awaited" warning
                    results.put((record.message_id, ("deliver-returned-awaitable", True, None)))
                else:
                    results.put((record.message_id, None))

        thread = threading.Thread(target=call, name=f"alliancekit-deliver-{record.channel}", daemon=True)
        thread.start()
        return thread

    def _saturated(self, channel: str) -> bool:
        with self._hung_lock:
            alive = [t for t in self._hung.get(channel, ()) if t.is_alive()]
            self._hung[channel] = alive
            return len(alive) >= self.policy.max_hung_per_channel

    def _abandon(self, channel: str, thread: threading.Thread) -> None:
        with self._hung_lock:
            self._hung.setdefault(channel, []).append(thread)

    def _settle(
        self, delivered: list[str], failures: list[tuple[OutboxRecord, _Failure]], summary: DispatchSummary
    ) -> None:
        now = self._now()
        if delivered:
            summary.delivered += self.store.outbox_delivered(self.owner, delivered, now)
        for record, (error, permanent, retry_after) in failures:
            attempts = record.attempts + 1
            log.warning(
                "notification %s to channel %s failed (%s%s), attempt %d",
                record.message_id,
                record.channel,
                error,
                ", permanent" if permanent else "",
                attempts,
            )
            if permanent or attempts >= self.policy.max_attempts:
                applied = self.store.outbox_dead(self.owner, record.message_id, error=error, at=now)
                summary.dead += applied
            else:
                wait = self.policy.delay(attempts, self._rand, retry_after)
                retry_at = now + timedelta(seconds=wait)
                applied = self.store.outbox_failed(
                    self.owner, record.message_id, error=error, next_attempt_at=retry_at, at=now
                )
                summary.failed += applied
            if not applied:
                summary.lost_lease += 1
