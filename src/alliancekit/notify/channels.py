"""Notification channels: what one is, and the registry the ``alliancekit_register_notifiers`` hook fills.

A channel is any object with a ``name`` (the channel name outbox messages are addressed to) and
``deliver(message: Notification) -> None`` that returns once the message is handed over and raises when it
was not (a plain method: an ``async`` one is refused, since nothing awaits it). ``deliver`` is called from
dispatcher worker threads (several at once) under a time limit, so it must
be thread-safe and should set its own I/O timeouts. A channel may declare ``kinds`` (the message kinds it
wants when the host gives no explicit subscriptions), and ``timeout``, the most seconds one ``deliver`` takes
in all: the dispatcher warns when that is not below its ``call_timeout``.

An exception raised by ``deliver`` may tell the dispatcher more (read as attributes, so a channel may raise
:class:`DeliveryError` or mark any exception): ``permanent = True`` says that repeating the same delivery
cannot succeed (the receiver refused it for good), so the message is dead at once instead of spending its
retries; ``retry_after`` (seconds) is the earliest the receiver wants the next attempt, which the dispatcher
honours up to :attr:`~alliancekit.notify.DispatchPolicy.max_delay`. Only the exception's class name is
recorded, never its text, except a :class:`DeliveryError`'s ``reason``: a fixed text the channel chose (say,
the setting to check), recorded after the class name.

A plugin that raises while registering is reported in :attr:`NotifierRegistry.problems` and left out; the
other plugins' channels still register (a notification plugin never breaks the host or the others). The
report names the exception's type only, except for a :class:`~alliancekit.errors.ValidationError`, whose
words (the setting and its rule, never a value) are shown too, so the operator can tell what to fix.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from alliancekit._callables import refuses
from alliancekit._logging import logger
from alliancekit.errors import ValidationError
from alliancekit.notify.outbox import ALL_KINDS, DEFAULT_KINDS, Notification, Subscriptions

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.plugins.manager import PluginHost

log = logger("alliancekit.notify")


@runtime_checkable
class Channel(Protocol):
    """A notification channel (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def deliver(self, message: Notification) -> None: ...


#: The ``register`` callback handed to ``alliancekit_register_notifiers``: call it once per channel.
ChannelRegistrar = Callable[[Channel], None]


class DeliveryError(Exception):
    """A failed delivery that says whether to retry it (see the module docstring).

    Its text must not echo the message or the receiver's answer: only its class name is recorded, and its
    ``reason``, which must be fixed text (never built from the message, an address or the receiver's answer).
    """

    def __init__(
        self,
        what: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(what)
        self.permanent = permanent
        self.retry_after = retry_after
        self.reason = reason


#: The longest failure recorded: a class name and a reason.
MAX_FAILURE_LENGTH = 300


def failure_name(exc: BaseException) -> str:
    """What the outbox records of a failed attempt: the exception's class name and, for a
    :class:`DeliveryError` only, its ``reason`` (other exceptions' ``reason`` attributes, as on
    :class:`ssl.SSLError` or :class:`urllib.error.URLError`, may quote a host or a receiver's words)."""
    name = type(exc).__name__[:100] or "error"
    reason = exc.reason if isinstance(exc, DeliveryError) else None
    if isinstance(reason, str) and reason:
        name = f"{name}: {reason}"
    return name[:MAX_FAILURE_LENGTH]


def failure_hints(exc: BaseException) -> tuple[bool, float | None]:
    """``(permanent, retry_after)`` that a channel's exception carries; a malformed ``retry_after`` is ignored
    (infinity is kept: the dispatcher bounds it)."""
    permanent = getattr(exc, "permanent", False) is True
    after = getattr(exc, "retry_after", None)
    if isinstance(after, bool) or not isinstance(after, int | float):
        return permanent, None
    try:
        seconds = float(after)
    except OverflowError:  # an int too large for a float: later than any bound
        return permanent, math.inf
    return permanent, seconds if seconds >= 0 and not math.isnan(seconds) else None


def _deliver_problem(channel: Channel) -> str | None:
    """What is wrong with how ``deliver`` is called (``deliver(message)``), or ``None``: a ``deliver`` that
    cannot take the message fails every attempt with a ``TypeError`` the outbox records as a transient
    failure, so every message would be retried to its death without a word at registration; an ``async``
    one returns a coroutine at once, which would count as a delivery of a message never sent."""
    if refuses(channel.deliver, None):
        return "deliver must take the message as its one argument: deliver(message)"
    if inspect.iscoroutinefunction(channel.deliver) or inspect.isasyncgenfunction(channel.deliver):
        # called from a worker thread and never awaited: it would return at once, unsent, and every message
        # be recorded delivered
        return "deliver must be a plain method that returns once the message is handed over, not async"
    return None


def _kinds_problem(channel: Channel) -> str | None:
    """What is wrong with a channel's declared ``kinds`` (absent or empty: the default kinds), or ``None``."""
    try:
        kinds = getattr(channel, "kinds", None)
        if not kinds:
            return None
        if isinstance(kinds, str):
            return "kinds is one string; declare a collection of message kinds, ('alert-raised',)"
        unknown = sorted({kind for kind in kinds if kind not in ALL_KINDS}, key=str)
    except Exception:  # noqa: BLE001 - a broken plugin attribute is reported, not raised into the host
        return "unreadable kinds"
    if unknown:
        return (
            f"unknown message kinds {', '.join(map(repr, unknown))} (known: {', '.join(sorted(ALL_KINDS))})"
        )
    return None


class NotifierRegistry:
    """Channels by name, each remembering the plugin that registered it."""

    def __init__(self) -> None:
        self._channels: dict[str, tuple[Channel, str]] = {}
        #: ``(plugin name, what went wrong)`` for registrations that were refused or raised
        self.problems: list[tuple[str, str]] = []

    def add(self, channel: Channel, supplier: str) -> None:
        name = getattr(channel, "name", None)
        if not isinstance(name, str) or not name or not callable(getattr(channel, "deliver", None)):
            self.report(supplier, "not a channel: needs a non-empty name and a deliver(message) method")
            return
        if name in self._channels:
            self.report(supplier, f"channel {name!r} already registered by {self._channels[name][1]!r}")
            return
        wrong = _deliver_problem(channel) or _kinds_problem(channel)
        if wrong is not None:  # else the channel would be subscribed to nothing, without a word
            self.report(supplier, f"channel {name!r}: {wrong}")
            return
        self._channels[name] = (channel, supplier)

    def report(self, supplier: str, what: str) -> None:
        log.warning("notification plugin %s: %s", supplier, what)
        self.problems.append((supplier, what))

    def get(self, name: str) -> Channel | None:
        found = self._channels.get(name)
        return None if found is None else found[0]

    def names(self) -> list[str]:
        return sorted(self._channels)

    def supplier(self, name: str) -> str:
        return self._channels[name][1]

    def __iter__(self) -> Iterator[Channel]:
        return iter([channel for _, (channel, _s) in sorted(self._channels.items())])

    def __len__(self) -> int:
        return len(self._channels)

    def default_subscriptions(self) -> Subscriptions:
        """Each channel with the kinds it declares (``kinds``), or :data:`DEFAULT_KINDS`."""
        wanted: dict[str, tuple[str, ...]] = {}
        for name in self.names():
            channel = self._channels[name][0]
            try:
                kinds = tuple(getattr(channel, "kinds", None) or DEFAULT_KINDS)
            except Exception:  # noqa: BLE001 - a broken plugin attribute must not break commits
                self.report(self._channels[name][1], f"channel {name!r}: unreadable kinds")
                kinds = DEFAULT_KINDS
            wanted[name] = tuple(k for k in kinds if k in ALL_KINDS)
        return Subscriptions.of(wanted)


def build_notifier_registry(host: PluginHost) -> NotifierRegistry:
    registry = NotifierRegistry()
    hook = "alliancekit_register_notifiers"
    for plugin in host.implementers(hook):
        try:
            with host.registering(hook, plugin, functools.partial(registry.add, supplier=plugin)) as register:
                host.call_hook(hook, plugin=plugin, register=register)
        except Exception as exc:  # noqa: BLE001 - one plugin's failure must not stop the others
            raised = getattr(exc, "plugin_exception", None) or exc
            what = f"raised {type(raised).__name__} while registering"
            # a ValidationError's text is its field, rule and a fixed hint (safe to show): it says which
            # setting is wrong; any other exception's text may echo a value, so only its class is named
            registry.report(plugin, f"{what}: {raised}" if isinstance(raised, ValidationError) else what)
    return registry
