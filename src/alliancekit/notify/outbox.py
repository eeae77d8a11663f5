"""Which facts become outbox messages, and what a message may say.

:func:`messages_for` is called by the facade inside every commit, with the command's new events: it is pure
(no I/O, no plugin code), so the messages are written in the same transaction as the fact or not at all.

A message carries the minimum necessary for someone to go and look: the kind, references (episode, clinic,
clinician, alert ids), and for an alert its rule id and severity. Never the client's reference, words,
answers or scores: a channel is a path out of the clinical record (e-mail, a web hook) and must not become a
copy of it. Codes taken from an event are checked to be short identifiers; anything else is left out.

Kinds and the events they come from (events are matched by type name, so alert events defined by the
feedback engine are covered without this module importing them):

============================  ========================================================================
kind                          event
============================  ========================================================================
``alert-raised``              ``alert-raised`` (rule id, severity, alert id)
``alert-acknowledged``        ``alert-acknowledged`` (alert id; rule id if the event has one)
``alert-resolved``            ``alert-resolved`` (alert id; never the resolution note)
``episode-closed``            ``episode-closed``
``rupture-noted``             ``rupture-noted``
``session-no-show``           ``session-recorded`` with attendance ``no-show``
``clinician-transferred``     ``clinician-transferred``
``administration-request``    a request for the client to fill a measure in, made by
                              ``request_administration`` (link, request id, expiry; nothing clinical,
                              not even the measure); not a default kind
``administration-reminder``   the same, due at the request's reminder time; settled unsent when the
                              request is used or revoked first
============================  ========================================================================
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.errors import ValidationError
from alliancekit.events.catalog import NOTIFYING
from alliancekit.store.protocol import OutboxRecord, StoredEvent

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.events.types import Event
    from alliancekit.lifecycle.state import EpisodeState

#: Kinds a channel receives when it does not say which it wants.
DEFAULT_KINDS: tuple[str, ...] = ("alert-raised", "episode-closed", "rupture-noted", "session-no-show")
#: Every kind this version can produce.
ALL_KINDS: tuple[str, ...] = (
    *DEFAULT_KINDS,
    "alert-acknowledged",
    "alert-resolved",
    "clinician-transferred",
    "administration-request",
    "administration-reminder",
)

#: Version of the message body format (``v`` in the body).
BODY_VERSION = 1

_MESSAGE_NAMESPACE = uuid.UUID("0b7e3c52-3f0e-4d8e-8a57-5b1f0e4a7c11")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}")


#: fields copied from an alert event, when they hold a short code
_ALERT_FIELDS = ("alert_id", "rule_id", "severity")


def _code(value: object) -> str | None:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    return None


@attrs.frozen
class Subscriptions:
    """Which channels receive which kinds: ``{kind: (channel name, ...)}``.

    A host passes one to :class:`~alliancekit.Practice` (``subscriptions=``); without it, every registered
    channel receives the kinds it declares (its ``kinds`` attribute) or :data:`DEFAULT_KINDS`.
    """

    channels_by_kind: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        for kind, names in self.channels_by_kind.items():
            channels: Any = names  # checked here because hosts build this by hand
            if kind not in ALL_KINDS:
                raise ValidationError("subscriptions", "unknown-kind", f"kinds are: {', '.join(ALL_KINDS)}")
            if isinstance(channels, str) or not all(isinstance(c, str) and c for c in channels):
                raise ValidationError("subscriptions", "channels", "a tuple of channel names per kind")

    @classmethod
    def of(cls, channels: Mapping[str, Iterable[str]]) -> Subscriptions:
        """From ``{channel name: kinds}``, the way a host usually thinks of it."""
        by_kind: dict[str, list[str]] = {}
        for channel, kinds in channels.items():
            for kind in kinds:
                by_kind.setdefault(kind, []).append(channel)
        return cls({kind: tuple(names) for kind, names in by_kind.items()})

    def channels(self, kind: str) -> tuple[str, ...]:
        """The channels subscribed to messages of ``kind`` (none when no one is)."""
        return tuple(self.channels_by_kind.get(kind, ()))

    def __bool__(self) -> bool:
        return any(self.channels_by_kind.values())


NO_SUBSCRIPTIONS = Subscriptions()


def message_id(event_id: str, kind: str, channel: str) -> str:
    """The message's id and idempotency key: derived from the event, so it names one delivery forever."""
    return uuid.uuid5(_MESSAGE_NAMESPACE, f"{event_id}:{kind}:{channel}").hex


#: The body fields a worker call (``Practice.outbox_records``) shows: references and codes. Not the link,
#: whose token is a bearer secret (whoever holds it answers as the client): only the dispatcher reads a
#: message's whole body, to hand it to its channel. A field a later body adds stays hidden until named here.
SHOWN_FIELDS: tuple[str, ...] = (
    "message_id",
    "v",
    "kind",
    "episode_id",
    "clinic_id",
    "clinician_id",
    "occurred_at",
    *_ALERT_FIELDS,
    "request_id",
    "expires_at",
)


def shown_record(record: OutboxRecord) -> OutboxRecord:
    """``record`` as a worker call returns it: its body has only :data:`SHOWN_FIELDS`, and ``has_link``
    (a boolean) in place of a link. A body that is not a JSON object shows as ``{"has_link": false}``."""
    try:
        body = json.loads(record.body_json)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    shown = {name: body[name] for name in SHOWN_FIELDS if name in body}
    shown["has_link"] = body.get("link") is not None
    return attrs.evolve(record, body_json=json.dumps(shown, separators=(",", ":")))


def messages_for(
    events: Sequence[tuple[StoredEvent, Event]],
    state: EpisodeState,
    subscriptions: Subscriptions,
) -> list[OutboxRecord]:
    """The outbox records for a command's new events (stored envelope with its decoded event).

    One record per (event that makes a kind) x (channel subscribed to that kind). ``state`` is the episode's
    state after the events (for the clinician of record).
    """
    if not subscriptions:
        return []
    records: list[OutboxRecord] = []
    for stored, event in events:
        kind_of = NOTIFYING.get(stored.type)
        if kind_of is None:
            continue
        kind = kind_of(event)
        if kind is None:
            continue
        channels = subscriptions.channels(kind)
        if not channels:
            continue
        body: dict[str, Any] = {
            "v": BODY_VERSION,
            "kind": kind,
            "episode_id": stored.episode_id,
            "clinic_id": state.clinic_id,
            "clinician_id": state.clinician_id,
            "occurred_at": stored.occurred_at.isoformat(),
        }
        if kind.startswith("alert-"):
            for name in _ALERT_FIELDS:
                value = _code(getattr(event, name, None))
                if value is not None:
                    body[name] = value
        for channel in channels:
            mid = message_id(stored.event_id, kind, channel)
            records.append(
                OutboxRecord(
                    message_id=mid,
                    episode_id=stored.episode_id,
                    kind=kind,
                    channel=channel,
                    body_json=json.dumps({"message_id": mid, **body}, separators=(",", ":")),
                    created_at=stored.recorded_at,
                )
            )
    return records


@attrs.frozen
class Notification:
    """What a channel's ``deliver`` receives: one message for that channel, and which attempt this is."""

    message_id: str
    kind: str
    channel: str
    episode_id: str
    clinic_id: str
    clinician_id: str | None
    occurred_at: datetime | None
    attempt: int
    """1 for the first attempt."""
    alert_id: str | None = None
    rule_id: str | None = attrs.field(default=None, repr=hidden)
    severity: str | None = attrs.field(default=None, repr=hidden)
    request_id: str | None = None
    """For an administration request or reminder: the request."""
    link: str | None = attrs.field(default=None, repr=False)
    """For an administration request or reminder: the link the client opens (a secret: never logged)."""
    expires_at: datetime | None = None

    @property
    def idempotency_key(self) -> str:
        """The key a receiver uses to drop repeated deliveries (equal to ``message_id``)."""
        return self.message_id

    @classmethod
    def from_record(cls, record: OutboxRecord) -> Notification:
        body = json.loads(record.body_json)
        occurred = body.get("occurred_at")
        return cls(
            message_id=record.message_id,
            kind=record.kind,
            channel=record.channel,
            episode_id=record.episode_id,
            clinic_id=str(body.get("clinic_id", "")),
            clinician_id=body.get("clinician_id"),
            occurred_at=datetime.fromisoformat(occurred) if occurred else None,
            attempt=record.attempts + 1,
            alert_id=body.get("alert_id"),
            rule_id=body.get("rule_id"),
            severity=body.get("severity"),
            request_id=body.get("request_id"),
            link=body.get("link"),
            expires_at=datetime.fromisoformat(body["expires_at"]) if body.get("expires_at") else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The message as JSON-ready data (what a webhook posts), without ``None`` fields."""
        data: dict[str, Any] = {
            "v": BODY_VERSION,
            "message_id": self.message_id,
            "idempotency_key": self.message_id,
            "kind": self.kind,
            "episode_id": self.episode_id,
            "clinic_id": self.clinic_id,
            "clinician_id": self.clinician_id,
            "occurred_at": None if self.occurred_at is None else self.occurred_at.isoformat(),
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "severity": self.severity,
            "request_id": self.request_id,
            "link": self.link,
            "expires_at": None if self.expires_at is None else self.expires_at.isoformat(),
            "attempt": self.attempt,
        }
        return {k: v for k, v in data.items() if v is not None}

    def summary(self) -> str:
        """One line for a subject or a log: kind, severity and rule for alerts, and the episode reference."""
        parts = [self.kind]
        if self.severity:
            parts.append(f"({self.severity})")
        if self.rule_id:
            parts.append(self.rule_id)
        parts.append(f"episode {self.episode_id}")
        return " ".join(parts)
