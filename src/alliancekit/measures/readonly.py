"""Read-only JSON: a registered measure's definition, shared by every practice and every plugin.

Any hook may be handed a :class:`~alliancekit.measures.definition.Measure` (an expectation model, an alert
rule through its context, a FHIR mapper). Were its ``definition`` writable, one plugin's change would make
every later command refuse the measure as "stored with other content", blamed on nobody. These are ``dict``
and ``list`` subclasses, so JSON encoders and JSON Schema validators read them as they are; a copy
(``copy.deepcopy``, ``pickle``) is plain, writable JSON again.
"""

from __future__ import annotations

from typing import Any, NoReturn


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError("a registered measure definition is read-only: copy it (copy.deepcopy) to change it")


def thawed(value: Any) -> Any:
    """A plain, writable copy of read-only JSON (or of any JSON data)."""
    if isinstance(value, dict):
        return {key: thawed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [thawed(item) for item in value]
    return value


class ReadOnlyDict(dict[str, Any]):
    """A JSON object that refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = clear = pop = popitem = setdefault = update = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return thawed(self)  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (thawed, (dict(self),))


class ReadOnlyList(list[Any]):
    """A JSON array that refuses changes."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = clear = extend = insert = pop = remove = reverse = sort = _refuse

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thawed(self)  # type: ignore[no-any-return]

    def __reduce__(self) -> tuple[Any, ...]:
        return (thawed, (list(self),))


def read_only(value: Any) -> Any:
    """``value`` (parsed JSON) with every object and array made read-only."""
    if isinstance(value, dict):
        return ReadOnlyDict({key: read_only(item) for key, item in value.items()})
    if isinstance(value, list):
        return ReadOnlyList(read_only(item) for item in value)
    return value
