"""Values of a FHIR source checked as the library checks them, each problem reported as a row error naming
the FHIR element (never the value): the dates and instants the import reads, and the records it builds.

Every date the import reads goes through :func:`read_day` (or :func:`read_instant`), so a date the library
would refuse (outside :data:`~alliancekit.domain.checks.MIN_DATE` .. ``MAX_DATE``) is refused while the
source is read, by ``--dry-run`` too, and named by its element rather than by the command it would reach.
Every record the import builds goes through :func:`build`, so a value a record refuses is a row error of
its resource, never an error of the whole run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from alliancekit.domain.checks import check_aware_datetime, check_date
from alliancekit.errors import ValidationError
from alliancekit.imports.fhir_json import Resource

Error = Callable[[Resource, str, str, str], None]
T = TypeVar("T")


def read_day(error: Error, res: Resource, field: str, value: Any) -> date | None:
    """The day ``value`` (a FHIR date, or a dateTime's day) names; ``None`` when it is not one (rule
    ``date``) or is outside the dates a record holds (``range``), reported as ``field``."""
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        error(res, field, "date", "a date expected")
        return None
    try:
        return check_date(field, day)
    except ValidationError as exc:
        error(res, field, exc.rule, exc.detail)
        return None


def read_instant(error: Error, res: Resource, field: str, value: Any) -> datetime | None:
    """The instant ``value`` (a FHIR dateTime with its zone) names; ``None`` when it is not one (rule
    ``datetime``) or one the library refuses (``range``, ``utc-offset``), reported as ``field``."""
    try:
        at: datetime | None = datetime.fromisoformat(str(value))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        error(res, field, "datetime", "a date and time with its zone")
        return None
    try:
        return check_aware_datetime(field, at)
    except ValidationError as exc:
        error(res, field, exc.rule, exc.detail)
        return None


def build(
    error: Error, res: Resource, fields: Mapping[str, str], kind: Callable[..., T], *args: Any, **kwargs: Any
) -> T | None:
    """``kind(*args, **kwargs)``; ``None`` when the record refuses a value, reported as a row error of
    ``res`` naming the FHIR element the value came from: ``fields`` maps the record's attribute to it, and
    ``fields[""]`` names the element for an attribute it does not list."""
    try:
        return kind(*args, **kwargs)
    except ValidationError as exc:
        # "Record.attribute", "Record.attribute[0]" or "attribute": the attribute, never the value
        attribute = exc.field.split(".", 1)[-1].split("[", 1)[0].split(".", 1)[0]
        error(res, fields.get(attribute, fields[""]), exc.rule, exc.detail)
        return None
