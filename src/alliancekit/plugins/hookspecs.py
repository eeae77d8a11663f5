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
    from alliancekit.security.policy import AccessPolicy
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


# ------------------------------------------------------------------------------------------- security


@hookspec(firstresult=True)
def alliancekit_access_policy() -> AccessPolicy | None:
    """Supply the access policy that decides every call of a :class:`~alliancekit.Practice`.

    Called once per plugin host, the first time a practice is created; *firstresult*: the first plugin
    that returns a policy wins, and with none the :class:`~alliancekit.security.policy.DefaultPolicy`
    decides. A host can still pass ``Practice(..., policy=...)``, which takes precedence.

    The hook has no parameters.

    :return: an object with a ``decide(request: AccessRequest) -> Decision`` method
        (:class:`alliancekit.security.policy.AccessPolicy`), or ``None`` to leave the choice to other
        plugins. ``decide`` sees the actor, the action, the record's type and id and the episode's state
        (never free text); a refusal's ``reason`` must be a fixed phrase, as it goes into the exception.
        Returning something without ``decide`` raises :class:`~alliancekit.errors.PluginError`.
    """
