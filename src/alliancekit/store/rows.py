"""Decoding a stored row: the one place a value the row's record cannot hold becomes
:class:`~alliancekit.errors.UnreadableRow`.

Anyone who can write the database can put any value in any column (a time that is not a time, a number as
text, NULL). A store's row decoder builds the record; :func:`decoded` runs it and then checks each field's
type against the record's annotations, so a wrong value fails here, named by table and key, instead of deep
in whatever compares it later (and a column added to a record is covered without a line here).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs

from alliancekit.domain.checks import MAX_ID, NO_CLINIC
from alliancekit.errors import UnreadableRow

T = TypeVar("T")
#: What a decoder raises on a value its column cannot hold (a time, a number or JSON that is not one; JSON
#: nested deeper than the stack, RecursionError; a number too large for a float where an int is expected,
#: OverflowError).
UNDECODABLE = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, OverflowError)
#: The plain types checked; a field of another annotation (a tuple of heads, an enum) is left to its decoder.
_PLAIN: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (float, int),
    bool: (bool,),
    datetime: (datetime,),
    date: (date,),
    type(None): (type(None),),
}


@functools.cache
def _expected(cls: type) -> tuple[tuple[str, tuple[type, ...]], ...]:
    """Each checkable field of ``cls`` with the runtime types its annotation allows."""
    attrs.resolve_types(cls)
    checked = []
    for field in attrs.fields(cls):
        parts = get_args(field.type) if get_origin(field.type) in (Union, types.UnionType) else (field.type,)
        if all(part in _PLAIN for part in parts):
            checked.append((field.name, tuple(t for part in parts for t in _PLAIN[part])))
    return tuple(checked)


def check_types(record: Any) -> None:
    """TypeError when a field of ``record`` (an attrs record) is not of its annotated type (a bool is no
    int, and a datetime no date, here)."""
    cls: type = type(record)
    for name, allowed in _expected(cls):
        value = getattr(record, name)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise TypeError(name)
        if isinstance(value, datetime) and datetime not in allowed:
            raise TypeError(name)


def decoded(
    table: str,
    key: Callable[[Sequence[Any]], str],
    decode: Callable[[Sequence[Any]], T],
    clinic: int | None = None,
    *,
    shared: bool = False,
) -> Callable[[Sequence[Any]], T]:
    """``decode`` for rows of ``table``, raising :class:`UnreadableRow` named by ``key(row)`` (the row's
    key, never its content) when the row does not decode to a record of the declared types. ``clinic``: the
    index of the row's clinic column, for the error to say whose row it is (``None`` when that column is
    not readable either: verification then names the row to no clinic's report); ``shared``: the table's
    rows are every clinic's (the measure definitions), named as
    :data:`~alliancekit.domain.checks.NO_CLINIC`'s."""

    def row_record(row: Sequence[Any]) -> T:
        try:
            record = decode(row)
            check_types(record)
        except UNDECODABLE as exc:
            rule = "type" if isinstance(exc, TypeError) else "value"
            whose = NO_CLINIC if shared else None
            if clinic is not None and (found := _key(lambda r: part(r[clinic]), row)) != _NOT_READABLE:
                whose = found
            raise UnreadableRow(table, _key(key, row), rule, clinic=whose) from None
        return record

    return row_record


_NOT_READABLE = "(key not readable)"


def _key(key: Callable[[Sequence[Any]], str], row: Sequence[Any]) -> str:
    """The row's key as shown: ``(key not readable)`` when a part of it is not a short printable id or a
    number (a key column changed too: its value is not echoed)."""
    try:
        return key(row)
    except UNDECODABLE:
        return _NOT_READABLE


def part(value: Any) -> str:
    """One id of a key as :func:`decoded`'s ``key`` shows it: a printable id of at most
    :data:`~alliancekit.domain.checks.MAX_ID` characters; else ValueError."""
    if isinstance(value, str) and value and value.isprintable() and len(value) <= MAX_ID:
        return value
    raise ValueError("key")


def number(value: Any) -> str:
    """One number of a key (a shard, a position) as :func:`decoded`'s ``key`` shows it; else ValueError."""
    if type(value) is int:
        return str(value)
    raise ValueError("key")
