"""No clinical date after the clinic's today: a session, decision or ending dated next year is a typo
(2062 for 2026) that would corrupt every report counting days since it.

Every command's checked inputs pass here (the runner's input checks, for the facade and a batch alike; a
group session before any member's part): each date in them, and in the domain records they hold, is
compared with today in the clinic's time zone. Days to come are declared as such: a command's ``planned``
inputs (an ending's target date) and record fields marked :data:`~alliancekit.domain.checks.PLANNED`
(booster sessions). A datetime counts by its date in the clinic's zone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from alliancekit.domain.checks import is_planned, is_record
from alliancekit.errors import ValidationError

#: The rule a date after the clinic's today breaks.
FUTURE = "future"


def dated_inputs(args: Mapping[str, Any], planned: Collection[str] = ()) -> Iterator[tuple[str, date]]:
    """Each date or datetime of a command's inputs that records what happened, with its field path
    (``session.held_on``, ``on``), in the order given."""
    for name, value in args.items():
        if name not in planned:
            yield from _dates(name, value)


def _dates(path: str, value: object) -> Iterator[tuple[str, date]]:
    if isinstance(value, date):  # a datetime too
        yield path, value
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _dates(f"{path}[{i}]", item)
    elif is_record(value):
        for field in attrs.fields(type(value)):
            if not is_planned(field):
                yield from _dates(f"{path}.{field.name}", getattr(value, field.name))


def refuse_future(
    args: Mapping[str, Any], today: date, zone: ZoneInfo, planned: Collection[str] = ()
) -> None:
    """Raise :class:`~alliancekit.errors.ValidationError` (rule ``future``) for the first date of
    ``args`` after ``today``; the message names the rule, never the date."""
    for path, value in dated_inputs(args, planned):
        day = value.astimezone(zone).date() if isinstance(value, datetime) else value
        if day > today:
            raise ValidationError(path, FUTURE, "a date that has happened: not after the clinic's today")
