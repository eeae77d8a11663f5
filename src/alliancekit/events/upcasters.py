"""Upcasters: each takes a stored payload of one schema version to the next, so a database written before
a type changed still loads unchanged (the stored text, and so its hash, never changes: the upcast happens
as the event is decoded).

Version 2 of ``session-recorded``, ``session-corrected`` and ``alert-raised`` came with episodes of several
participants: a version-1 payload is an episode with one participant, so every new field takes the value
that means "the identified client" (no named participant, rated by the client, every participant present).
Version 3 of the two session events came with total-only administrations (imported histories). Version 2
of ``client-response-recorded`` came with responses a clinician records for the client (no request; the
time the client filled the measure in, which may be before it was recorded). Version 4 of
``session-corrected`` carries what the correction makes of the episode's scores (a score it takes out goes,
one it adds takes its place); an older correction keeps its old fold, so its snapshot still equals it.
Version 4 of ``session-recorded`` says whether its group session was made by ``record_group_session``;
before it nothing told a made id from one given by hand, so none is taken to be made.
Version 2 of ``episode-opened`` names the norm population the episode's scores are read against; every
episode opened before it was read against each measure's default population, which ``None`` means.
Version 2 of ``measures-consent-changed`` says whose consent changed; before it only the identified
client's could, which ``None`` means.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]


def _administration_v1(data: Payload) -> Payload:
    return {**data, "rater": "client", "about": None, "rater_ref": None}


def _score_v1(data: Payload) -> Payload:
    return {**data, "about": None, "rater": "client"}


def _session_v1(data: Payload) -> Payload:
    administrations = [_administration_v1(a) for a in data.get("administrations", ())]
    return {**data, "administrations": administrations, "attended_by": [], "group_session_id": None}


def session_event_v1(data: Payload) -> Payload:
    """``session-recorded`` / ``session-corrected`` v1 -> v2: the identified client's own session."""
    scores = [_score_v1(s) for s in data.get("scores", ())]
    return {**data, "session": _session_v1(data["session"]), "scores": scores}


def alert_raised_v1(data: Payload) -> Payload:
    """``alert-raised`` v1 -> v2: an alert about the identified client (or the episode)."""
    return {**data, "participant": None}


def session_event_v2(data: Payload) -> Payload:
    """``session-recorded`` / ``session-corrected`` v2 -> v3: every administration had its answers (none was
    recorded as a total only)."""
    session = data["session"]
    administrations = [{**a, "total": None} for a in session.get("administrations", ())]
    return {**data, "session": {**session, "administrations": administrations}}


def session_corrected_v3(data: Payload) -> Payload:
    """``session-corrected`` v3 -> v4: the correction carries no points worked out from the stream, and
    is folded as it was (the totals of the session's points replaced in place)."""
    return {**data, "as_corrected": None}


def session_recorded_v3(data: Payload) -> Payload:
    """``session-recorded`` v3 -> v4: no group session id is known to have been made by
    ``record_group_session`` (one given by hand looked the same)."""
    return {**data, "group_session_minted": False}


def client_response_v1(data: Payload) -> Payload:
    """``client-response-recorded`` v1 -> v2: every response came through a request, and was filled in when it
    was recorded (the event's own time)."""
    return {**data, "responded_at": None}


def episode_opened_v1(data: Payload) -> Payload:
    """``episode-opened`` v1 -> v2: no population named (each measure's default norm)."""
    return {**data, "population": None}


def measures_consent_changed_v1(data: Payload) -> Payload:
    """``measures-consent-changed`` v1 -> v2: the identified client's consent."""
    return {**data, "participant": None}


#: ``(event type, schema version) -> function`` taking that version's payload to the next version's.
UPCASTERS: Mapping[tuple[str, int], Upcaster] = {
    ("session-recorded", 1): session_event_v1,
    ("session-corrected", 1): session_event_v1,
    ("alert-raised", 1): alert_raised_v1,
    ("session-recorded", 2): session_event_v2,
    ("session-recorded", 3): session_recorded_v3,
    ("session-corrected", 2): session_event_v2,
    ("session-corrected", 3): session_corrected_v3,
    ("client-response-recorded", 1): client_response_v1,
    ("episode-opened", 1): episode_opened_v1,
    ("measures-consent-changed", 1): measures_consent_changed_v1,
}
