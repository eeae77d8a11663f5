"""Snapshot JSON written field by field, reusing the text of the fields a command left alone.

A command changes a few of :class:`~alliancekit.lifecycle.state.EpisodeState`'s fields; the fold keeps the
others as the same objects (its maps and tuples are copied before they change, never changed in place).
So the JSON of a map or tuple is kept by the object's identity and written again without unstructuring or
encoding it; scalars are written directly. The text is byte-identical to
``encode_json(unstructure(state) | {"_v": version})`` (the test suite compares the two on every state it
folds), so snapshots and their verification are unchanged.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from datetime import date
from json.encoder import encode_basestring  # the C function where built
from typing import Any

import attrs

from alliancekit.events import converter
from alliancekit.events.identity_cache import IdentityCache
from alliancekit.lifecycle.state import EpisodeState

#: The JSON of maps and tuples, by identity (a few thousand episodes' worth; emptied when full, which
#: costs one full encoding per field afterwards).
_texts: IdentityCache[str] = IdentityCache(8192)


def _fields() -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
    conv = converter.converter()
    hints = typing.get_type_hints(EpisodeState)
    return tuple(
        (f.name, encode_basestring(f.name) + ":", conv.get_unstructure_hook(hints[f.name]))
        for f in attrs.fields(EpisodeState)
    )


_FIELDS: tuple[tuple[str, str, Callable[[Any], Any]], ...] | None = None


def _text(value: Any, hook: Callable[[Any], Any]) -> str:
    """The JSON of one field's value, as the converter and the compact encoder would write it."""
    if value is None:
        return "null"
    kind = type(value)
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return int.__repr__(value)
    if isinstance(value, str):  # text and the StrEnums (written as their values)
        return encode_basestring(value)
    if kind is date:
        return f'"{value.isoformat()}"'
    if isinstance(value, dict | tuple):
        if not value:
            return "{}" if isinstance(value, dict) else "[]"
        return _texts.get(value, lambda v: converter.encode_json(hook(v)))
    return converter.encode_json(hook(value))


def state_json(state: EpisodeState, version: int, version_key: str) -> str:
    """``state`` as snapshot JSON with ``version_key: version`` last (see the module's docstring)."""
    global _FIELDS
    fields = _FIELDS if _FIELDS is not None else (_FIELDS := _fields())
    parts = [name + _text(getattr(state, attr), hook) for attr, name, hook in fields]
    parts.append(f"{encode_basestring(version_key)}:{version}")
    return "{" + ",".join(parts) + "}"
