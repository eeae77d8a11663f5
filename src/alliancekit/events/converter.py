"""The private cattrs converter that turns domain values and events into JSON-ready data and back.

Built by a factory (never cattrs' global converter, which a host or another library may configure). Dates
travel as ISO strings, enums as their values, tuples as lists. Structuring JSON from outside (an import, a
stored event) gives detailed errors, which :func:`structure_payload` flattens into one
:class:`~alliancekit.errors.ValidationError` naming the field: never the value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from enum import Enum
from functools import cache
from types import NoneType, UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.fns import identity
from cattrs.preconf.json import make_converter as make_json_converter

from alliancekit.errors import ValidationError

T = TypeVar("T")


def make_converter() -> cattrs.Converter:
    """A fresh converter configured for alliancekit values."""
    conv = make_json_converter(forbid_extra_keys=True, omit_if_default=False)
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, Enum), lambda member: member.value
    )
    conv.register_unstructure_hook(date, date.isoformat)
    conv.register_structure_hook(date, lambda value, _: _parse_date(value))
    conv.register_unstructure_hook(datetime, datetime.isoformat)
    conv.register_structure_hook(datetime, lambda value, _: datetime.fromisoformat(value))
    # Speed, not meaning: every command serialises its events and the episode snapshot, so the hooks for
    # ``X | None`` matter. cattrs wraps each in a generic function; when X passes through unchanged (text,
    # numbers, our StrEnums, which json encodes as their values) the optional passes through too, and
    # cattrs then inlines the attribute in its generated code (and copies ``Mapping[str, float | None]``
    # with a plain ``dict``). Dates get a direct hook instead of a wrapper around a wrapper.
    conv.register_unstructure_hook_factory(lambda t: _optional_of(t) is not None, _optional_hook(conv))
    return conv


def _optional_of(tp: Any) -> Any:
    """``X`` if ``tp`` is ``X | None`` (one X), else None."""
    if get_origin(tp) not in (UnionType, Union):
        return None
    args = [a for a in get_args(tp) if a is not NoneType]
    return args[0] if len(args) == 1 and len(get_args(tp)) == 2 else None


def _optional_hook(conv: cattrs.Converter) -> Callable[[Any], Callable[[Any], Any]]:
    def make(tp: Any) -> Callable[[Any], Any]:
        inner = conv.get_unstructure_hook(_optional_of(tp))
        if inner is identity:
            return identity
        if _optional_of(tp) is date:
            return _optional_date
        return lambda value: None if value is None else inner(value)

    return make


def _optional_date(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise TypeError("expected an ISO date string")
    return date.fromisoformat(value)


@cache
def converter() -> cattrs.Converter:
    """The library's converter, built once on first use."""
    return make_converter()


def unstructure(value: Any) -> Any:
    return converter().unstructure(value)


#: One encoder for every write: ``json.dumps`` with options builds a new encoder per call. No circularity
#: check: unstructured attrs values are trees by construction.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def dumps(value: Any) -> str:
    """Compact JSON of an attrs value (or plain data), as stored."""
    return _ENCODER.encode(converter().unstructure(value))


#: The encoder of event payloads: sorted keys as well, so the text the core hashes when it chains an event
#: (:func:`alliancekit.integrity.chain.event_hash`) is the canonical form verification recomputes.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, check_circular=False)


def dumps_payload(value: Any) -> str:
    """Canonical JSON of an event (sorted keys, compact, not ASCII-escaped): its stored payload."""
    return _CANONICAL.encode(converter().unstructure(value))


def encode_payload(data: Any) -> str:
    """Canonical JSON of payload data that is already JSON-ready (see :func:`dumps_payload`)."""
    return _CANONICAL.encode(data)


def encode_json(data: Any) -> str:
    """Compact JSON of data that is already JSON-ready (plain dicts, lists, text, numbers)."""
    return _ENCODER.encode(data)


def structure(data: Any, cls: type[T]) -> T:
    """Structure ``data`` into ``cls``; any problem becomes a ValidationError naming the first bad field."""
    try:
        return converter().structure(data, cls)
    except (ClassValidationError, IterableValidationError) as exc:
        path, rule = _first_error(exc)
        raise ValidationError(path or cls.__name__, rule) from None
    except ValidationError:
        raise
    # Data from outside can be any JSON shape: a list where an object belongs reaches cattrs' generated
    # code as an AttributeError, a huge integer for a float as an OverflowError. All are the input's fault.
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
        raise ValidationError(cls.__name__, type(exc).__name__) from None


def _first_error(exc: BaseException, path: str = "") -> tuple[str, str]:
    """Walk cattrs' exception groups to the first leaf; report its field path and the kind of problem."""
    if isinstance(exc, ClassValidationError | IterableValidationError):
        with_notes, without_notes = exc.group_exceptions()
        for sub, note in with_notes:
            name = getattr(note, "name", None)
            index = getattr(note, "index", "?")
            # a mapping's key is data (a participant's client reference), not a field's name: never shown
            step = str(name) if name is not None else str(index) if isinstance(index, int) else "(key)"
            return _first_error(sub, f"{path}.{step}" if path else step)
        for sub in without_notes:
            return _first_error(sub, path)
        return path, "invalid"
    if isinstance(exc, ValidationError):
        return path, exc.rule
    if isinstance(exc, KeyError):
        return path, "required"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return path, "unknown-field"
    if isinstance(exc, ValueError) and "is not a valid" in str(exc):
        return path, "enum"
    return path, type(exc).__name__
