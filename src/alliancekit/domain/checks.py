"""Construction-time checks for domain records, derived from their type annotations.

``@record`` is ``attrs.frozen`` plus a field transformer that gives every field a validator (and, for
enums, a converter accepting the enum's string value), so that a wrong type, an unknown enum value or an
oversized text is refused the moment a record is built, with a :class:`ValidationError` naming the class
and field and never the value. Records must use real (not string) annotations for this to work.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any, TypeVar

import attrs

from alliancekit.errors import ValidationError

#: Bounds on free text and lists in a record: generous for clinical writing, small enough to stop abuse.
MAX_TEXT = 20_000
MAX_ITEMS = 200
MAX_ID = 200

T = TypeVar("T")


def _validator_for(owner: str, name: str, tp: Any) -> tuple[Callable[[Any], Any] | None, Any]:
    """A (converter, validator) pair for a field of type ``tp``."""
    where = f"{owner}.{name}"
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        inner_conv, inner_check = _validator_for(owner, name, options[0])

        def conv_optional(value: Any) -> Any:
            return value if value is None or inner_conv is None else inner_conv(value)

        def check_optional(_i: Any, _a: Any, value: Any) -> None:
            if value is not None:
                inner_check(_i, _a, value)

        return conv_optional, check_optional
    if isinstance(tp, type) and issubclass(tp, Enum):
        enum_type = tp

        def to_enum(value: Any) -> Any:
            if isinstance(value, enum_type):
                return value
            try:
                return enum_type(value)
            except ValueError:
                return value  # the validator refuses it with a proper error

        def check_enum(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, enum_type):
                raise ValidationError(where, "enum", f"one of {', '.join(m.value for m in enum_type)}")

        return to_enum, check_enum
    if tp is str:

        def check_str(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, str):
                raise ValidationError(where, "type", "text expected")
            if len(value) > MAX_TEXT:
                raise ValidationError(where, "max-length", f"at most {MAX_TEXT} characters")

        return None, check_str
    if tp is bool:

        def check_bool(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, bool):
                raise ValidationError(where, "type", "true or false expected")

        return None, check_bool
    if tp is int:

        def check_int(_i: Any, _a: Any, value: Any) -> None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError(where, "type", "whole number expected")

        return None, check_int
    if tp is date:

        def check_date(_i: Any, _a: Any, value: Any) -> None:
            if isinstance(value, datetime) or not isinstance(value, date):
                raise ValidationError(where, "type", "date expected")

        return None, check_date
    if origin is tuple:
        item_conv, item_check = _validator_for(owner, name, typing.get_args(tp)[0])

        def to_tuple(value: Any) -> Any:
            if isinstance(value, str | bytes | Mapping) or not isinstance(value, typing.Iterable):
                return value
            items = tuple(value)
            return items if item_conv is None else tuple(item_conv(v) for v in items)

        def check_tuple(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, tuple):
                raise ValidationError(where, "type", "list expected")
            if len(value) > MAX_ITEMS:
                raise ValidationError(where, "max-items", f"at most {MAX_ITEMS}")
            for item in value:
                item_check(_i, _a, item)

        return to_tuple, check_tuple
    if origin in (Mapping, dict, typing.Mapping):

        def check_mapping(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, Mapping):
                raise ValidationError(where, "type", "mapping expected")
            if len(value) > MAX_ITEMS:
                raise ValidationError(where, "max-items", f"at most {MAX_ITEMS}")

        return None, check_mapping
    if attrs.has(tp):
        record_type = tp

        def check_record(_i: Any, _a: Any, value: Any) -> None:
            if not isinstance(value, record_type):
                raise ValidationError(where, "type", f"{record_type.__name__} expected")

        return None, check_record
    raise TypeError(f"no check for {where}: {tp!r}")  # pragma: no cover - programming error


def _transform(cls: type, fields: list[attrs.Attribute]) -> list[attrs.Attribute]:  # type: ignore[type-arg]
    hints = typing.get_type_hints(cls)
    out = []
    for field in fields:
        conv, check = _validator_for(cls.__name__, field.name, hints[field.name])
        changes: dict[str, Any] = {"validator": check}
        if conv is not None and field.converter is None:
            changes["converter"] = conv
        out.append(field.evolve(**changes))
    return out


# Free text is kept out of reprs: ``text()`` and ``texts()`` are the fields for any client or clinician
# words. They are field specifiers of ``record`` so type checkers know they carry a default.


def text(*, default: str = "", repr: bool = False) -> str:
    return attrs.field(default=default, repr=repr)


def texts(*, default: tuple[str, ...] = (), repr: bool = False) -> tuple[str, ...]:
    return attrs.field(default=default, repr=repr)


@typing.dataclass_transform(frozen_default=True, field_specifiers=(attrs.field, text, texts))
def record(cls: type[T]) -> type[T]:
    """``attrs.frozen`` with checks derived from the annotations (see the module docstring)."""
    return attrs.frozen(cls, field_transformer=_transform)
