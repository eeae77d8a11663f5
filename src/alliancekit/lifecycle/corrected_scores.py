"""What a session's correction makes of the episode's scores: the replay the state cannot do by itself.

The state keeps each measure's first, previous and latest points only. A correction that takes a score out
of a session, or puts one in, cannot be folded from that: the point before the previous one, or the one
after a first one taken out, is not in the state. So the command reads the episode's scored events, replays
the sessions as corrected (every correction in place, this one included, the client's responses as they
were), and its event carries the outcome for every measure the session has had
(:attr:`~alliancekit.events.types.SessionCorrected.as_corrected`); the fold only copies it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, TypeVar

import attrs

from alliancekit.domain.records import Session
from alliancekit.domain.vocab import Rater
from alliancekit.events.types import (
    ClientResponseRecorded,
    EpisodeOpened,
    Event,
    RecordedScore,
    ScoresAsCorrected,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.lifecycle.state import EpisodeState, apply, track_key

#: The event types that carry scores: what a correction replays.
SCORED_TYPES = frozenset({SessionRecorded.TYPE, SessionCorrected.TYPE, ClientResponseRecorded.TYPE})

#: A measure's key: (measure id, the participant it is about or ``None`` for the identified client's own
#: ratings, rater).
_Key = tuple[str, str | None, Rater]
Entry = TypeVar("Entry")


def scores_as_corrected(
    client_ref: str,
    scored: Sequence[Event],
    session_id: str,
    session: Session,
    scores: tuple[RecordedScore, ...],
) -> tuple[ScoresAsCorrected, ...]:
    """The points, after correcting ``session_id`` to ``session`` and ``scores``, of every measure that
    session has had in any version or has now, from ``scored``: the episode's events of
    :data:`SCORED_TYPES` in stream order (those before the correction), of the episode whose identified
    client is ``client_ref``."""
    versions: dict[str, tuple[Session, tuple[RecordedScore, ...]]] = {}
    touched: dict[_Key, None] = {}  # in order, once each
    for event in scored:
        if isinstance(event, SessionRecorded | SessionCorrected):
            versions[event.session_id] = (event.session, event.scores)
            if event.session_id == session_id:
                touched.update(dict.fromkeys(_keys(client_ref, event.scores)))
    versions[session_id] = (session, scores)
    touched.update(dict.fromkeys(_keys(client_ref, scores)))
    # the fold's own steps for sessions and responses: only the score fields of this state are read
    replayed = EpisodeState("", client_ref, "", "", date.min)
    for event in scored:
        if isinstance(event, SessionRecorded):
            now, now_scores = versions[event.session_id]
            as_now = SessionRecorded(event.session_id, event.number, event.attended_number, now, now_scores)
            replayed = apply(as_now, replayed)
        elif isinstance(event, ClientResponseRecorded):
            replayed = apply(event, replayed)
    return tuple(_outcome(replayed, key) for key in touched)


def _keys(client_ref: str, scores: Iterable[RecordedScore]) -> Iterable[_Key]:
    for score in scores:
        if score.own:
            yield score.measure_id, None, Rater.CLIENT
        else:
            yield score.measure_id, score.about or client_ref, score.rater


def _outcome(replayed: EpisodeState, key: _Key) -> ScoresAsCorrected:
    measure_id, about, rater = key
    if about is None:
        return ScoresAsCorrected(
            measure_id,
            None,
            Rater.CLIENT,
            replayed.first_scores.get(measure_id),
            replayed.previous_scores.get(measure_id),
            replayed.latest_scores.get(measure_id),
            replayed.administered_at.get(measure_id),
        )
    track = replayed.tracks.get(track_key(measure_id, about, rater))
    if track is None:
        return ScoresAsCorrected(measure_id, about, rater, None, None, None, None)
    return ScoresAsCorrected(measure_id, about, rater, track.first, track.previous, track.latest, None)


def corrections_as_shared(entries: Sequence[Entry]) -> list[Entry]:
    """``entries`` (timeline entries in stream order, some left out or trimmed for the reader) with each
    correction's points worked out again from the scored events among them. A correction carries points of
    other sessions (the one before, the first), so a share would otherwise say more of a withheld score, or
    of another participant's, than its own entries do."""
    found = (e.event.client_ref for e in entries if isinstance(e.event, EpisodeOpened))  # type: ignore[attr-defined]
    client_ref = next(found, None)
    out: list[Entry] = []
    scored: list[Event] = []
    for entry in entries:
        event: Any = entry.event  # type: ignore[attr-defined]
        if isinstance(event, SessionCorrected) and event.as_corrected is not None:
            points = (
                ()
                if client_ref is None
                else scores_as_corrected(client_ref, scored, event.session_id, event.session, event.scores)
            )
            event = SessionCorrected(
                event.session_id, event.number, event.session, event.scores, event.reason, points
            )
            entry = attrs.evolve(entry, event=event)  # type: ignore[misc]
        if event.TYPE in SCORED_TYPES:
            scored.append(event)
        out.append(entry)
    return out
