"""No clinical date after the clinic's today: a session, decision or ending dated next year is a typo
(2062 for 2026) that would corrupt every report counting days since it.

Every command's checked inputs pass here (the runner's input checks, for the facade and a batch alike; a
group session before any member's part): each date in them, and in the domain records they hold, is
compared with today in the clinic's time zone. Days to come are declared as such: a command's ``planned``
inputs (an ending's target date) and record fields marked :data:`~alliancekit.domain.checks.PLANNED`
(booster sessions). A datetime counts by its date in the clinic's zone.

Every command of every import passes here, so the walk is cheap: a record class's fields that can hold a
date are worked out once, from its annotations, and a field's path is spelled only for a refusal.
"""

from __future__ import annotations

import functools
import types
import typing
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from alliancekit.domain.checks import is_planned, is_record
from alliancekit.errors import ValidationError

#: The rule a date after the clinic's today breaks.
FUTURE = "future"


def refuse_future(
    args: Mapping[str, Any], today: date, zone: ZoneInfo, planned: Collection[str] = ()
) -> None:
    """Raise :class:`~alliancekit.errors.ValidationError` (rule ``future``) for the first date of
    ``args`` after ``today`` that records what happened (not a ``planned`` input), with its field path
    (``session.held_on``, ``on``); the message names the rule, never the date."""
    for name, value in args.items():
        if name in planned:
            continue
        found = _after(value, today, zone)
        if found is not None:
            raise ValidationError(
                name + found, FUTURE, "a date that has happened: not after the clinic's today"
            )


def _after(value: object, today: date, zone: ZoneInfo) -> str | None:
    """The path, below ``value``, of its first date after ``today`` (``""``: ``value`` itself); ``None``
    when there is none."""
    if isinstance(value, date):  # a datetime too
        day = value.astimezone(zone).date() if isinstance(value, datetime) else value
        return "" if day > today else None
    if isinstance(value, tuple | list):
        for i, item in enumerate(value):
            found = _after(item, today, zone)
            if found is not None:
                return f"[{i}]{found}"
    elif is_record(value):
        for name in _dated_fields(type(value)):
            found = _after(getattr(value, name), today, zone)
            if found is not None:
                return f".{name}{found}"
    return None


@functools.cache
def _dated_fields(cls: type) -> tuple[str, ...]:
    """The fields of the record class ``cls`` that can hold a date of what happened: typed with a date, a
    record or a collection of either (an unknown type counts); not those marked planned."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # annotations that do not resolve: every field is looked at
        hints = {}
    return tuple(
        field.name
        for field in attrs.fields(cls)
        if not is_planned(field) and _may_hold_a_date(hints.get(field.name, Any))
    )


def _may_hold_a_date(hint: Any) -> bool:
    if hint is Any or (isinstance(hint, type) and (issubclass(hint, date) or _is_record_class(hint))):
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType, tuple, list) or (
        isinstance(origin, type) and issubclass(origin, Collection) and not issubclass(origin, Mapping)
    ):
        return any(_may_hold_a_date(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)
    return False  # text, numbers, enums, mappings of answers: the walk never looks inside those


def _is_record_class(cls: type) -> bool:
    return getattr(cls, "__alliancekit_record__", False) is True
