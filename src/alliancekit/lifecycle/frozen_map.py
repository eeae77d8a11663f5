"""The read-only maps an :class:`~alliancekit.lifecycle.state.EpisodeState` holds.

A practice keeps each episode's state in memory and hands the same object to the host (``Practice.episode``)
and to plugins (alert rules, access policies, expectation models). Were its maps writable, one caller's
``state.goals.clear()`` would change what every later command in the process decides on, though the
stored events say otherwise. A ``dict`` subclass, not ``MappingProxyType``: JSON encoders, cattrs, ``pickle``
and ``copy.deepcopy`` handle it as they handle a dict, and a copy (``dict(m)``, ``{**m}``) is writable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("an episode state is read-only: copy the map (dict(m)) to change it")


class FrozenMap(dict[K, V]):
    """A ``dict`` that refuses changes after it is made."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and deepcopy rebuild a dict subclass item by item, through the refused __setitem__
        return (FrozenMap, (dict(self),))


def frozen_map(value: Mapping[Any, Any]) -> FrozenMap[Any, Any]:
    """``value`` as a :class:`FrozenMap` (itself when it already is one: states share unchanged maps).

    Not generic: mypy's attrs plugin cannot solve a converter's type variables."""
    return value if type(value) is FrozenMap else FrozenMap(value)
