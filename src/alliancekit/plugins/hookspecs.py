"""Every hook alliancekit calls, in one module, grouped by the part of the library that calls it.

Plugins implement these with :data:`hookimpl` (``import alliancekit; @alliancekit.hookimpl``). Two rules
learned from pluggy-based projects:

* never give a hook implementation's arguments default values: pluggy passes arguments by name and
  silently ignores defaults;
* registration hooks receive a ``register`` callback instead of returning values, so that the host knows
  which plugin supplied each store, measure, rule or channel and can report clashes by name.

Hook names all start with ``alliancekit_``. A hook marked *firstresult* stops at the first implementation
that returns something other than ``None``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from alliancekit.measures.registry import MeasureRegistrar
    from alliancekit.notify.channels import ChannelRegistrar
    from alliancekit.store.registry import StoreRegistrar

PROJECT = "alliancekit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------------------------- storage


@hookspec
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    """Register storage backends.

    Called once, the first time a practice is opened from a location string.

    :param register: call ``register(scheme, opener)`` for each backend. ``scheme`` is the part of a
        location before ``:`` (``"sqlite"``, ``"memory"``, ``"postgresql"``); ``opener(location)`` takes the
        whole location string and returns an object satisfying :class:`alliancekit.store.Store`.
        Registering a scheme another plugin already registered raises :class:`~alliancekit.errors.PluginError`
        naming both plugins.
    :return: nothing; registrations go through ``register``.
    """


# -------------------------------------------------------------------------------------------- measures


@hookspec
def alliancekit_register_measures(register: MeasureRegistrar) -> None:
    """Register outcome, alliance and symptom measures.

    Called once, when the measure registry is first needed.

    :param register: call ``register(definition)`` for each measure, where ``definition`` is a mapping in
        the measure-definition format (``schemas/measure-definition.schema.json``). The definition is
        checked against the meta-schema before it is accepted: a wrong definition raises
        :class:`~alliancekit.errors.MeasureDefinitionError` with its JSON path. Registering an id and version
        another plugin already registered raises :class:`~alliancekit.errors.PluginError` naming both.
    :return: nothing; registrations go through ``register``.
    """


# ------------------------------------------------------------------------------------------ notifications


@hookspec
def alliancekit_register_notifiers(register: ChannelRegistrar) -> None:
    """Register notification channels (e-mail, webhooks, a host's own pager or chat).

    Called once, when a practice first writes or dispatches outbox messages. A plugin that raises here is
    left out and reported in ``PluginHost.notifiers().problems``; the other plugins still register and the
    host's call goes on (a notification plugin never breaks the host).

    :param register: call ``register(channel)`` for each channel. ``channel`` has a ``name`` (``str``: the
        channel outbox messages are addressed to, e.g. ``"email"``), a method ``deliver(message)`` taking an
        :class:`alliancekit.notify.Notification`, returning ``None`` once delivered and raising on failure
        (called from worker threads under a time limit, so thread-safe), and optionally ``kinds``, the
        message kinds it receives when the host gives no explicit subscriptions
        (:data:`alliancekit.notify.DEFAULT_KINDS` otherwise). A name already registered by another plugin
        is refused (reported in ``problems``, the first registration kept).
    :return: nothing; registrations go through ``register``.
    """
