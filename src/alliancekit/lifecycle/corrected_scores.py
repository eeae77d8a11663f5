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

from alliancekit.domain.records import Session
from alliancekit.domain.vocab import Rater
from alliancekit.events.types import (
    ClientResponseRecorded,
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


def scores_as_corrected(
    state: EpisodeState,
    scored: Sequence[Event],
    session_id: str,
    session: Session,
    scores: tuple[RecordedScore, ...],
) -> tuple[ScoresAsCorrected, ...]:
    """The points, after correcting ``session_id`` to ``session`` and ``scores``, of every measure that
    session has had in any version or has now, from ``scored``: the episode's events of
    :data:`SCORED_TYPES` in stream order, up to ``state``."""
    versions: dict[str, tuple[Session, tuple[RecordedScore, ...]]] = {}
    touched: dict[_Key, None] = {}  # in order, once each
    for event in scored:
        if isinstance(event, SessionRecorded | SessionCorrected):
            versions[event.session_id] = (event.session, event.scores)
            if event.session_id == session_id:
                touched.update(dict.fromkeys(_keys(state, event.scores)))
    versions[session_id] = (session, scores)
    touched.update(dict.fromkeys(_keys(state, scores)))
    replayed = EpisodeState(
        state.episode_id, state.client_ref, state.clinic_id, state.clinician_id, state.opened_on
    )
    for event in scored:
        if isinstance(event, SessionRecorded):
            now, now_scores = versions[event.session_id]
            as_now = SessionRecorded(event.session_id, event.number, event.attended_number, now, now_scores)
            replayed = apply(as_now, replayed)
        elif isinstance(event, ClientResponseRecorded):
            replayed = apply(event, replayed)
    return tuple(_outcome(replayed, key) for key in touched)


def _keys(state: EpisodeState, scores: Iterable[RecordedScore]) -> Iterable[_Key]:
    for score in scores:
        if score.own:
            yield score.measure_id, None, Rater.CLIENT
        else:
            yield score.measure_id, score.about or state.client_ref, score.rater


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
