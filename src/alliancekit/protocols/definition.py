"""What a measurement protocol is: which measure is due when, as a list of schedule entries.

A protocol is data (frozen, validated on construction): a clinic declares one, a plugin contributes named
ones through ``alliancekit_register_protocols``, and an episode may have its own (the ``protocol-set``
event). What is due, and what was missed, is decided from it by :mod:`alliancekit.protocols.schedule`.
"""

from __future__ import annotations

import enum
import re
from typing import Any

import attrs

from alliancekit.domain.checks import check_choice, check_int, check_ref
from alliancekit.errors import ValidationError

#: The longest interval an entry may name: ten years of weekly sessions.
MAX_EVERY = 520
#: The most entries one protocol may hold.
MAX_ENTRIES = 100
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*$")


class When(enum.StrEnum):
    """When a schedule entry's measure is due."""

    SESSION_START = "session-start"
    """At the start of every attended session (an outcome measure such as the ORS)."""
    SESSION_END = "session-end"
    """At the end of every attended session (an alliance measure such as the SRS)."""
    EVERY_SESSIONS = "every-sessions"
    """Every ``every`` attended sessions, counted from its last administration (the first session when it
    was never given); given at the start of the session."""
    EVERY_WEEKS = "every-weeks"
    """Every ``every`` weeks (7 x ``every`` days) from its last administration; at once when never given."""
    INTAKE = "intake"
    """Once, at the start of care: until it is first given."""
    REVIEW = "review"
    """While a progress review is due (every ``review_every`` attended sessions, or asked for by an alert)."""
    ENDING = "ending"
    """Once the ending is planned, until it is given on or after the day it was planned."""


#: The entries that need an interval.
INTERVALS = frozenset({When.EVERY_SESSIONS, When.EVERY_WEEKS})


def _when(value: Any) -> When:
    return check_choice("when", value, When)


def _measure(value: Any) -> str:
    return check_ref("measure", value)


@attrs.frozen
class ScheduleEntry:
    """One measure and when it is due. ``every`` is the interval of ``every-sessions`` (attended sessions)
    and ``every-weeks`` (weeks), from 1 to :data:`MAX_EVERY`; the other kinds take none."""

    measure: str = attrs.field(converter=_measure)
    when: When = attrs.field(converter=_when)
    every: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.when in INTERVALS:
            if self.every is None:
                raise ValidationError("every", "required", f"{self.when.value} needs an interval")
            check_int("every", self.every, lo=1, hi=MAX_EVERY)
        elif self.every is not None:
            raise ValidationError("every", "not-allowed", f"{self.when.value} takes no interval")


def _entries(value: Any) -> tuple[ScheduleEntry, ...]:
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValidationError("entries", "type", "a list of ScheduleEntry")
    entries = tuple(value)
    if not entries:
        raise ValidationError("entries", "required", "at least one schedule entry")
    if len(entries) > MAX_ENTRIES:
        raise ValidationError("entries", "max-items", f"at most {MAX_ENTRIES} entries")
    seen: set[tuple[str, When]] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, ScheduleEntry):
            raise ValidationError(f"entries[{i}]", "type", "ScheduleEntry expected")
        if (entry.measure, entry.when) in seen:
            raise ValidationError(f"entries[{i}]", "duplicate", "each measure once per kind of occasion")
        seen.add((entry.measure, entry.when))
    return entries


def _name(value: Any) -> str:
    name = check_ref("name", value)
    if not _NAME.match(name):
        raise ValidationError("name", "pattern", "lower-case words joined by - (a plugin's prefixed by .)")
    return name


@attrs.frozen
class MeasurementProtocol:
    """A named schedule of measures: ``MeasurementProtocol("fit", (ScheduleEntry("ors", "session-start"),
    ...))``. Names are lower-case words joined by hyphens; a plugin prefixes its own (``myclinic.intake``)."""

    name: str = attrs.field(converter=_name)
    entries: tuple[ScheduleEntry, ...] = attrs.field(converter=_entries)

    @property
    def measures(self) -> tuple[str, ...]:
        """The measures the protocol names, each once, in order."""
        return tuple(dict.fromkeys(entry.measure for entry in self.entries))


@attrs.frozen
class DueMeasure:
    """A measure due for an episode, and why."""

    measure: str
    when: When
    """The schedule entry that makes it due."""
    point: str
    """``start`` or ``end`` of the session (what an administration request names): ``end`` for
    ``session-end``, else ``start``."""
    overdue: bool = False
    """An occasion already passed without it: it was missed at least once."""
