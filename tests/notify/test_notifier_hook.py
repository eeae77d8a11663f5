"""The alliancekit_register_notifiers hook: registration, attribution, and isolation of broken plugins."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.errors import PluginError
from alliancekit.notify import ALL_KINDS, DEFAULT_KINDS
from alliancekit.notify.channels import ChannelRegistrar
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.memory import MemoryStore
from alliancekit.testing.notifier import ChannelPlugin, RecordingChannel


class Exploding:
    @hookimpl
    def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
        register(RecordingChannel("early"))
        raise RuntimeError("plugin bug")


def test_alliancekit_register_notifiers_registers_and_attributes_channels() -> None:
    email, pager = RecordingChannel("email"), RecordingChannel("pager", kinds=["alert-raised"])
    plugin = ChannelPlugin(email, pager)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = host.notifiers()
    assert registry.names() == ["email", "pager"]
    assert registry.get("email") is email
    assert registry.supplier("pager") == host.pm.get_name(plugin)
    subs = registry.default_subscriptions()
    assert subs.channels("alert-raised") == ("email", "pager")
    assert subs.channels("session-no-show") == ("email",)
    assert {k for k in DEFAULT_KINDS if subs.channels(k)} == set(DEFAULT_KINDS)


def test_alliancekit_register_notifiers_a_raising_plugin_breaks_nothing(kit: SimpleNamespace) -> None:
    good = RecordingChannel("email")
    host = make_plugin_host(load_entry_points=False, extra_plugins=[Exploding(), ChannelPlugin(good)])
    registry = host.notifiers()
    # what the broken plugin registered before raising stays; the plugin after it registered too
    assert registry.names() == ["early", "email"]
    assert [(who.split(".")[-1], what) for who, what in registry.problems] == [
        ("Exploding", "raised RuntimeError while registering")
    ]
    practice = open_practice(MemoryStore(), plugins=host)
    ep = kit.active_episode(practice)
    kit.no_show(practice, ep)
    assert practice.dispatch_pending().delivered == 2
    assert len(good.delivered) == 1


def test_alliancekit_register_notifiers_clashes_and_non_channels_are_reported() -> None:
    class NotAChannel:
        name = "x"

    first, second = RecordingChannel("email"), RecordingChannel("email")
    host = make_plugin_host(
        load_entry_points=False, extra_plugins=[ChannelPlugin(first), ChannelPlugin(second, NotAChannel())]
    )
    registry = host.notifiers()
    assert registry.names() == ["email"]
    assert registry.get("email") is first
    assert len(registry.problems) == 2
    assert "already registered" in registry.problems[0][1]
    assert "not a channel" in registry.problems[1][1]


def test_no_channels_means_no_outbox_rows(kit: SimpleNamespace) -> None:
    practice: Any = open_practice(MemoryStore(), plugins=make_plugin_host(load_entry_points=False))
    ep = kit.active_episode(practice)
    kit.no_show(practice, ep)
    assert practice.outbox_status().pending == 0
    assert practice.dispatch_pending().claimed == 0


def test_a_channel_declaring_kinds_it_can_never_receive_is_reported_not_silently_deaf() -> None:
    # Before, a misspelt kind was dropped and a string read letter by letter: subscribed to nothing, unsaid.
    misspelt = RecordingChannel("misspelt", kinds=["alert-raise", "episode-closed"])
    one_string = RecordingChannel("one-string")
    one_string.kinds = "alert-raised"  # type: ignore[assignment]
    right = RecordingChannel("right", kinds=["alert-raised"])
    plugin = ChannelPlugin(misspelt, one_string, right)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = host.notifiers()
    assert registry.names() == ["right"]
    name = host.pm.get_name(plugin)
    assert registry.problems == [
        (
            name,
            "channel 'misspelt': unknown message kinds 'alert-raise' (known: "
            + ", ".join(sorted(ALL_KINDS))
            + ")",
        ),
        (
            name,
            (
                "channel 'one-string': kinds is one string; declare a collection of message kinds, "
                "('alert-raised',)"
            ),
        ),
    ]


def test_a_register_kept_and_called_after_the_hook_is_refused_and_adds_no_channel() -> None:
    kept: list[Any] = []

    class Keeper:
        @hookimpl
        def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
            kept.append(register)
            register(RecordingChannel("early"))

    keeper = Keeper()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[keeper])
    registry = host.notifiers()
    with pytest.raises(PluginError) as caught:
        kept[0](RecordingChannel("late"))
    assert (caught.value.plugin, caught.value.hook) == (
        host.pm.get_name(keeper),
        "alliancekit_register_notifiers",
    )
    assert registry.names() == ["early"]


class _NoMessage:
    """``deliver`` forgot its parameter: every attempt raised TypeError, retried until dead."""

    name = "no-message"

    def deliver(self) -> None:
        pass


class _TwoRequired:
    name = "two-required"

    def deliver(self, message: Any, receiver: str) -> None:
        pass


class _Flexible:
    """``deliver(message)`` spelt in the other ways that take one argument all the same."""

    def __init__(self, name: str, deliver: Any) -> None:
        self.name = name
        self.deliver = deliver


def test_a_channel_whose_deliver_cannot_take_the_message_is_reported_when_it_registers(
    kit: SimpleNamespace,
) -> None:
    # Before, both registered, and every message for them failed with TypeError (a transient failure)
    # attempt after attempt until dead; the registration said nothing.
    right = RecordingChannel("right")
    flexible = [
        _Flexible("varargs", lambda *args: None),
        _Flexible("optional-extra", lambda message, receiver=None: None),
        _Flexible("builtin", print),  # no signature to read on some builds: taken on trust
    ]
    plugin = ChannelPlugin(_NoMessage(), _TwoRequired(), right, *flexible)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = host.notifiers()
    assert registry.names() == ["builtin", "optional-extra", "right", "varargs"]
    name = host.pm.get_name(plugin)
    says = "deliver must take the message as its one argument: deliver(message)"
    assert registry.problems == [
        (name, f"channel 'no-message': {says}"),
        (name, f"channel 'two-required': {says}"),
    ]
    practice = open_practice(MemoryStore(), plugins=host)
    kit.no_show(practice, kit.active_episode(practice))
    assert practice.outbox_status().pending == 4  # one message for each channel kept, none for the refused


class _AsyncChannel:
    """A chat channel written the way an asyncio host writes one."""

    name = "chat"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def deliver(self, message: Any) -> None:
        self.sent.append(message.message_id)


def test_an_async_deliver_is_reported_when_it_registers(kit: SimpleNamespace) -> None:
    """Called from a worker thread, ``async def deliver`` returned a coroutine at once, never awaited: every
    message was recorded delivered and none was sent (an alert lost without a word)."""
    chat, right = _AsyncChannel(), RecordingChannel("right")
    plugin = ChannelPlugin(chat, right)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = host.notifiers()
    assert registry.names() == ["right"]
    says = "deliver must be a plain method that returns once the message is handed over, not async"
    assert registry.problems == [(host.pm.get_name(plugin), f"channel 'chat': {says}")]
    practice = open_practice(MemoryStore(), plugins=host)
    kit.no_show(practice, kit.active_episode(practice))
    assert {m.channel for m in practice.store.outbox_records()} == {"right"}


def test_a_deliver_that_returns_an_awaitable_is_dead_not_delivered(
    practice_for: Any, kit: SimpleNamespace
) -> None:
    """A plain ``deliver`` handing back an async call's coroutine (the registry cannot see it) sent nothing:
    the attempt is a permanent failure, dead at once for ``outbox retry`` once the channel is fixed, never a
    delivery."""
    inner = _AsyncChannel()
    wrapped = _Flexible("chat", lambda message: inner.deliver(message))
    practice = practice_for(wrapped)
    kit.no_show(practice, kit.active_episode(practice))
    summary = practice.dispatch_pending()
    assert (summary.delivered, summary.failed, summary.dead) == (0, 0, 1)
    assert inner.sent == []
    dead = practice.store.outbox_records()
    assert [(m.state.value, m.last_error) for m in dead] == [("dead", "deliver-returned-awaitable")]
