"""Read-only maps for the records a practice shares: episode states, events, scores, measures.

A practice keeps one object per episode state (and per registered measure) and hands the same object to
the host (``Practice.episode``) and to plugins (alert rules, access policies, expectation models); a
command's events go to the alert rules before they are stored. Were their maps writable, one caller's
``state.goals.clear()`` would steer every later command in the process, and a rule could change a
session's answers after they were scored. A ``dict`` subclass, not ``MappingProxyType``: JSON encoders,
cattrs, ``pickle`` and ``copy.deepcopy`` handle it as a dict, and a copy (``dict(m)``, ``{**m}``) is
writable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("this map is read-only (shared with the practice): copy it, dict(m), to change it")


class FrozenMap(dict[K, V]):
    """A ``dict`` that refuses changes after it is made."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle and deepcopy rebuild a dict subclass item by item, through the refused __setitem__
        return (FrozenMap, (dict(self),))


#: The empty map, shared: it cannot change, and most score maps are empty (a measure without subscales).
EMPTY: FrozenMap[Any, Any] = FrozenMap()


def frozen_map(value: Mapping[Any, Any]) -> FrozenMap[Any, Any]:
    """``value`` as a :class:`FrozenMap`: an attrs converter.

    A FrozenMap is kept as it is (states share their unchanged maps). Anything that is not a map passes
    through unchanged, for the input checks to refuse naming the field. Not generic: mypy's attrs plugin
    cannot solve a converter's type variables.
    """
    kind = type(value)
    if kind is FrozenMap:
        return value  # type: ignore[return-value]  # the FrozenMap[Any, Any] asked for
    if kind is dict or isinstance(value, Mapping):
        return FrozenMap(value) if value else EMPTY
    return value  # type: ignore[unreachable]  # not a map, whatever the types say: the checks refuse it
