"""What each event type means beyond its fold: sharing, export and notification, declared once.

The lockbox (:mod:`alliancekit.security.lockbox`), the FHIR export (:mod:`alliancekit.fhir.records`) and
the outbox (:mod:`alliancekit.notify.outbox`) all derive what they do with an event type from
:data:`CATALOG`, and a test requires every registered event type to have an entry, so a new event type
cannot reach a reader, an export or a channel by omission.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from alliancekit.domain.vocab import Attendance
from alliancekit.events.types import EVENT_TYPES


class Sharing(enum.Enum):
    """How an event type is shared outside the treating relationship."""

    FRAME = "frame"
    """That the episode exists: withheld only by a whole-record lockbox."""
    CLASSED = "classed"
    """In a lockbox class (``Kind.lockbox_class``): withheld by a directive on the class, item or record."""
    NEVER = "never"
    """Never shared with anyone but its author or the record keeper (process notes, lockbox directives)."""


@attrs.frozen
class Kind:
    """One event type's declaration."""

    type: str
    sharing: Sharing
    lockbox_class: str | None = None
    """The lockbox class a directive names to withhold it (``sessions``, ``goals``, ...)."""
    exported: bool = False
    """Whether the FHIR export maps it (it is never decoded for an export otherwise)."""
    notifies: Callable[[Any], str | None] | None = None
    """The outbox message kind the decoded event makes, if any."""


def _always(kind: str) -> Callable[[Any], str | None]:
    return lambda event: kind


def _no_show(event: Any) -> str | None:
    session = getattr(event, "session", None)
    return "session-no-show" if getattr(session, "attendance", None) is Attendance.NO_SHOW else None


def _classed(lockbox_class: str, *, exported: bool = True, notifies: Any = None) -> Any:
    return (Sharing.CLASSED, lockbox_class, exported, notifies)


_DECLARED: dict[str, tuple[Sharing, str | None, bool, Callable[[Any], str | None] | None]] = {
    "episode-opened": (Sharing.FRAME, None, True, None),
    "consultation-recorded": _classed("consultation"),
    "fit-decided": _classed("consultation"),
    "goal-agreed": _classed("goals"),
    "goal-revised": _classed("goals"),
    "session-recorded": _classed("sessions", notifies=_no_show),
    "session-corrected": _classed("sessions"),
    # Addenda and statements of disagreement have no FHIR mapping yet (planned: a DocumentReference).
    "session-addendum-added": _classed("sessions", exported=False),
    "review-recorded": _classed("reviews"),
    "rupture-noted": _classed("ruptures", notifies=_always("rupture-noted")),
    "rupture-repair-recorded": _classed("ruptures"),
    "episode-put-on-hold": _classed("administrative"),
    "episode-resumed": _classed("administrative"),
    "clinician-transferred": _classed("administrative", notifies=_always("clinician-transferred")),
    "ending-planned": _classed("ending"),
    "episode-closed": _classed("ending", notifies=_always("episode-closed")),
    "disagreement-attached": _classed("statements", exported=False),
    # Alerts are about scores: withheld with the sessions they come from.
    "alert-raised": _classed("sessions", notifies=_always("alert-raised")),
    "alert-acknowledged": _classed("sessions", notifies=_always("alert-acknowledged")),
    "alert-resolved": _classed("sessions", notifies=_always("alert-resolved")),
    # Who takes part: a FRAME fact (the episode's shape), mapped to FHIR as participants.
    "participant-added": (Sharing.FRAME, None, True, None),
    "group-joined": (Sharing.FRAME, None, True, None),
    # Requests and the client's own answers are about scores: withheld with the sessions. A request is not
    # exported (workflow; a ServiceRequest could map it); an answer is a QuestionnaireResponse by the Patient.
    "administration-requested": _classed("sessions", exported=False),
    "administration-request-revoked": _classed("sessions", exported=False),
    "client-response-recorded": _classed("sessions"),
    # Which measures are scheduled, and when: the care plan's administration, withheld with the other
    # administrative facts. Not exported: it says nothing about the client that the exported
    # QuestionnaireResponses and Observations do not (a CarePlan activity could map it later).
    "protocol-set": _classed("administrative", exported=False),
    # Which norms the scores are read against, as episode-opened names them: part of the episode's frame.
    "population-changed": (Sharing.FRAME, None, False, None),
    # A participant's consent to measures changed after it was first given (the client's at the
    # consultation, another's when they joined): withheld with the consultation; a FHIR Consent per change.
    "measures-consent-changed": _classed("consultation"),
    "process-note-recorded": (Sharing.NEVER, None, False, None),
    "lockbox-set": (Sharing.NEVER, None, False, None),
    "lockbox-lifted": (Sharing.NEVER, None, False, None),
}

CATALOG: Mapping[str, Kind] = {
    name: Kind(name, sharing, lockbox_class, exported, notifies)
    for name, (sharing, lockbox_class, exported, notifies) in _DECLARED.items()
}

#: The lockbox classes a directive can name, and the event types in each.
LOCKBOX_CLASSES: Mapping[str, frozenset[str]] = {
    name: frozenset(k.type for k in CATALOG.values() if k.lockbox_class == name)
    for name in dict.fromkeys(k.lockbox_class for k in CATALOG.values() if k.lockbox_class)
}
NEVER_SHARED = frozenset(k.type for k in CATALOG.values() if k.sharing is Sharing.NEVER)
FRAME = frozenset(k.type for k in CATALOG.values() if k.sharing is Sharing.FRAME)
EXPORTED = frozenset(k.type for k in CATALOG.values() if k.exported)
#: Event types that can make an outbox message, and how.
NOTIFYING: Mapping[str, Callable[[Any], str | None]] = {
    k.type: k.notifies for k in CATALOG.values() if k.notifies is not None
}


def kind(event_type: str) -> Kind:
    """The declaration of ``event_type``; a type without one is a programming error."""
    return CATALOG[event_type]


def undeclared() -> set[str]:
    """Registered event types with no catalog entry (a test keeps this empty)."""
    return set(EVENT_TYPES) - set(CATALOG)
