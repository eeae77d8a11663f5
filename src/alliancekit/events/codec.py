"""The one codec between events and snapshots and the JSON a store keeps.

Encoding writes canonical JSON (sorted keys, compact), so the event hash of
:mod:`alliancekit.integrity.chain` is computed on the text as written. Decoding upcasts payloads written by
an older schema version, decrypts free text with the practice's cipher, or reads it as
:data:`~alliancekit.security.encryption.REDACTED` without one. Snapshots carry their own version: one of an
older shape decodes to ``None`` and the reader folds the episode's events instead; verification compares
the fold with the stored snapshot brought to the current shape by :data:`SNAPSHOT_UPCASTERS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from alliancekit.errors import UnreadableRecord, ValidationError
from alliancekit.events import converter
from alliancekit.events.state_json import state_json
from alliancekit.events.types import Event, event_class
from alliancekit.events.upcasters import UPCASTERS
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.security import encryption
from alliancekit.store.protocol import StoredEvent

#: The shape of :class:`EpisodeState` that snapshots are written in. Raise it when the state gains a field
#: that older snapshots cannot default correctly (2: the lockbox directives in force; 3: each open alert's
#: raised date and message; 4: what a measurement protocol counts from: each measure's last administration,
#: the day the ending was planned, the episode's own protocol; 5: the episode's norm population; 6: the
#: identified client's consent to measures; 7: the day that consent was last changed; 8: the day each other
#: participant's consent to measures was last changed; 9: the day each other participant joined).
SNAPSHOT_VERSION = 9
_VERSION_KEY = "_v"
#: How a string beginning with the ciphertext mark starts in a payload's JSON.
_MARKED = f'"{encryption.PREFIX}'


def _refuse_marked(data: Any, where: str) -> None:
    """Refuse the first string (a value or a key) of ``data`` that begins with the ciphertext mark."""
    if isinstance(data, str):
        if data.startswith(encryption.PREFIX):
            rule = f"no text or id beginning with {encryption.PREFIX}"
            raise ValidationError(where, "encrypted-prefix", rule)
    elif isinstance(data, Mapping):
        for key, value in data.items():
            _refuse_marked(key, where)
            _refuse_marked(value, f"{where}.{key}")
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            _refuse_marked(value, f"{where}[{i}]")


def _alerts_raised_on(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 2 to 3: each open alert gains the day and message of the event that raised it."""
    raised = {}
    for event in events:
        if event.type == "alert-raised":  # ids, codes and fixed text only: never encrypted
            payload = json.loads(event.payload_json)
            raised[payload["alert_id"]] = payload
    for alert_id, alert in state.get("alerts", {}).items():
        found = raised.get(alert_id, {})
        alert["raised_on"], alert["message"] = found.get("raised_on"), found.get("message")
    return state


def _administrations(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 3 to 4: each measure's last own administration (by attended count) and the day the ending was
    planned, from the episode's session and ending events (their numbers, measure ids, raters and dates are
    never encrypted). No episode of shape 3 has a protocol of its own: that event came with shape 4."""
    administered: dict[str, int] = {}
    planned = None
    for event in events:
        if event.type == "session-recorded":
            payload = json.loads(event.payload_json)
            attended = payload.get("attended_number")
            for score in payload.get("scores", ()):
                own = score.get("about") is None and score.get("rater", "client") == "client"
                if attended is not None and own:
                    administered[score["measure_id"]] = attended
        elif event.type == "ending-planned":
            planned = json.loads(event.payload_json)["on"]
    state["administered_at"] = administered
    state["ending_planned_on"] = planned
    state["protocol"] = None
    state["protocol_from"] = 0
    return state


def _one_participant(state: dict[str, Any]) -> dict[str, Any]:
    """Episodes of several participants (participants, per-rater score tracks, groups, each alert's
    participant) came without a shape of their own, in the middle of shape 3: a snapshot written before
    lacks their fields. Its episode had the identified client alone, so each field takes the value that
    means that, and a snapshot that has them keeps its own."""
    state.setdefault("participants", {})
    state.setdefault("tracks", {})
    state.setdefault("group_id", None)
    state.setdefault("facilitator_ids", [])
    for alert in state.get("alerts", {}).values():
        alert.setdefault("participant", None)
    return state


def _shape_3(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 3 to 4, for a shape-3 snapshot of either kind (with or without the participants' fields)."""
    return _administrations(_one_participant(state), events)


def _default_population(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 4 to 5: no norm population. An episode names one in ``episode-opened`` version 2, which came
    with shape 5, so every episode of shape 4 reads against each measure's default population."""
    state["population"] = None
    return state


def _measures_consent(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 5 to 6: the client's consent to measures, as given in the episode's ``consultation-recorded``
    event (its consent is never encrypted); ``False`` while none is recorded, as the fold has it."""
    consent = False
    for event in events:
        if event.type == "consultation-recorded":
            consent = json.loads(event.payload_json)["consultation"]["consent"]["measures"]
    state["measures_consent"] = consent
    return state


def _consent_unchanged(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 6 to 7: the day the client's consent to measures was last changed, ``None`` (as given at the
    consultation): no alliancekit that wrote shape 6 could record a change."""
    state["measures_consent_changed_on"] = None
    return state


def _participants_unchanged(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 7 to 8: the day each other participant's consent to measures was last changed, ``None`` (as
    given when they joined): no alliancekit that wrote shape 7 could record a change of it."""
    for participant in state.get("participants", {}).values():
        participant["measures_consent_changed_on"] = None
    return state


def _participants_joined(state: dict[str, Any], events: Sequence[StoredEvent]) -> dict[str, Any]:
    """Shape 8 to 9: the day each other participant joined, from their ``participant-added`` event (its
    reference and day are never encrypted)."""
    joined = {}
    for event in events:
        if event.type == "participant-added":
            payload = json.loads(event.payload_json)
            joined[payload["participant"]["client_ref"]] = payload["added_on"]
    for ref, participant in state.get("participants", {}).items():
        participant["joined_on"] = joined.get(ref)
    return state


SnapshotUpcaster = Callable[[dict[str, Any], Sequence[StoredEvent]], dict[str, Any]]
#: ``shape -> function`` taking a snapshot of that shape (and the episode's stored events) to the next
#: shape. Shape 1 has none: schema migration 2 rewrote those snapshots (:mod:`alliancekit.store.upgrade`).
SNAPSHOT_UPCASTERS: Mapping[int, SnapshotUpcaster] = {
    2: _alerts_raised_on,
    3: _shape_3,
    4: _default_population,
    5: _measures_consent,
    6: _consent_unchanged,
    7: _participants_unchanged,
    8: _participants_joined,
}


class Codec:
    """Encodes and decodes one practice's events and snapshots (with its cipher, if any)."""

    def __init__(self, cipher: encryption.FieldCipher | None = None) -> None:
        self.cipher = cipher

    def encode(self, event: Event, event_id: str) -> str:
        """The payload JSON of ``event`` as stored (its free text encrypted with the practice's cipher).

        :raises ValidationError: a string in it begins with the ciphertext mark (rule ``encrypted-prefix``):
            the event hash reads such a string as a ciphertext, so a plain one could be changed unseen. The
            domain's checks refuse it on input; this refuses whatever path reached a payload without them.
        """
        plain = converter.dumps_payload(event)
        if _MARKED in plain:  # a JSON string that begins with the mark (or, rarely, text quoting one)
            _refuse_marked(converter.unstructure(event), "payload")
        if self.cipher is None:
            return plain
        return self.cipher.encode(event, event_id)

    def decode(self, stored: StoredEvent) -> Event:
        """The event ``stored`` holds, in its type's current version.

        :raises UnreadableRecord: the row is not an event this alliancekit can read (changed outside it,
            or written by a newer one): said as such, not as a crash or as a caller's bad input.
        """
        try:
            cls = event_class(stored.type)
        except ValidationError:
            raise UnreadableRecord(stored.episode_id, stored.seq, "event-type") from None
        if stored.schema_version != cls.VERSION:
            if stored.schema_version > cls.VERSION:  # read as the current version, it would be misread
                raise UnreadableRecord(stored.episode_id, stored.seq, "newer-version")
            stored = _upcast(stored, cls.VERSION)
        if encryption.PREFIX not in stored.payload_json:
            try:
                data = json.loads(stored.payload_json)
            except ValueError:
                raise UnreadableRecord(stored.episode_id, stored.seq, "json") from None
            try:
                return converter.structure(data, cls)
            except (ValidationError, TypeError, ValueError, KeyError, AttributeError):
                raise UnreadableRecord(stored.episode_id, stored.seq, "shape") from None
        if self.cipher is None:
            return encryption.redact(stored)
        return self.cipher.decode(stored)

    @staticmethod
    def encode_state(state: EpisodeState) -> str:
        return state_json(state, SNAPSHOT_VERSION, _VERSION_KEY)

    @staticmethod
    def decode_state(text: str) -> EpisodeState | None:
        """The state of a snapshot, or ``None`` when it was written in an older shape."""
        data = json.loads(text)
        if data.pop(_VERSION_KEY, 1) != SNAPSHOT_VERSION:
            return None
        return converter.structure(data, EpisodeState)

    @staticmethod
    def upcast_state(text: str, events: Sequence[StoredEvent]) -> str:
        """The snapshot ``text`` in the current shape, as far as :data:`SNAPSHOT_UPCASTERS` reach (a shape
        without an upcaster is returned as it is)."""
        data = json.loads(text)
        shape = data.get(_VERSION_KEY, 1)
        if shape not in SNAPSHOT_UPCASTERS:  # the current shape, or one no upcaster reads
            return text
        while shape in SNAPSHOT_UPCASTERS:
            data = SNAPSHOT_UPCASTERS[shape](data, events)
            shape += 1
            data[_VERSION_KEY] = shape
        return converter.encode_json(data)

    @staticmethod
    def decode_legacy_state(text: str) -> EpisodeState:
        """A snapshot of an older shape, read as well as it can be (verification only: its projection was
        computed from it as it was)."""
        data = json.loads(text)
        data.pop(_VERSION_KEY, None)
        return converter.structure(data, EpisodeState)


def _upcast(stored: StoredEvent, target: int) -> StoredEvent:
    try:
        data = json.loads(stored.payload_json)
    except ValueError:
        raise UnreadableRecord(stored.episode_id, stored.seq, "json") from None
    version = stored.schema_version
    while version < target:
        step = UPCASTERS.get((stored.type, version))
        if step is None:
            raise UnreadableRecord(stored.episode_id, stored.seq, "upcaster")
        try:
            data = step(data)
        except (TypeError, ValueError, KeyError, AttributeError):
            raise UnreadableRecord(stored.episode_id, stored.seq, "shape") from None
        version += 1
    return attrs.evolve(stored, payload_json=converter.encode_json(data), schema_version=version)
