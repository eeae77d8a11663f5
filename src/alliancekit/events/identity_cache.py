"""Results kept by the identity of the value they were computed from.

An episode's state shares every map and tuple a command leaves alone with the state before it (the fold
copies a map before it changes it, and never changes one in place), so what was computed from such a value
(its JSON, its sorted alerts) can be reused while the same object is in use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class IdentityCache(Generic[T]):
    """``get(value, compute)``: ``compute(value)``, kept while ``value`` is the same object.

    Holds a reference to each value (so its id cannot be reused meanwhile), at most ``keep`` of them: the
    cache is emptied when full. Safe across threads: a race at worst computes a result twice.
    """

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._kept: dict[int, tuple[object, T]] = {}

    def get(self, value: object, compute: Callable[[object], T]) -> T:
        kept = self._kept.get(id(value))
        if kept is not None and kept[0] is value:
            return kept[1]
        result = compute(value)
        if len(self._kept) >= self.keep:
            self._kept.clear()
        self._kept[id(value)] = (value, result)
        return result

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        self._kept.clear()
