"""A session's correction leaves the episode's state as a replay of the sessions as corrected would: a score
it takes out is gone from the first, previous and latest points (the client's own and every other
participant's and rater's), a score it adds takes its place among the others, and what a measurement protocol
counts from follows. Corrections stored before ``session-corrected`` version 4 still read, and fold as they
did."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliancekit import open_practice
from alliancekit.domain import Actor, Administration, Consent, Participant, Purpose, Role
from alliancekit.events import converter
from alliancekit.events.codec import Codec
from alliancekit.events.types import SessionCorrected
from alliancekit.lifecycle.state import EpisodeState, fold, track_key
from alliancekit.practice import Practice
from alliancekit.store.protocol import StoredEvent

from .conftest import (
    CANARY,
    active_episode,
    attended,
    clinician,
    counter_ids,
    day,
    fixed_clock,
    missed,
    ors,
    srs,
)

PARTNER = "client-2"
ACTOR = clinician()
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, "clinic-1")
#: What a session may hold: the client's own ORS and SRS, the partner's own SRS, the partner's rating of the
#: client on the ORS (a collateral rating).
KINDS = ("ors", "srs", "partner-srs", "partner-rated-ors")
#: The state's score fields: what the replay decides.
SCORE_FIELDS = ("first_scores", "previous_scores", "latest_scores", "administered_at", "tracks")


def administration(practice: Practice, kind: str, fraction: float) -> Administration:
    if kind == "ors":
        return ors(practice, fraction)
    if kind == "srs":
        return srs(practice, fraction)
    if kind == "partner-srs":
        return attrs.evolve(srs(practice, fraction), about=PARTNER)
    return attrs.evolve(ors(practice, fraction), rater="partner")


def couple(practice: Practice) -> str:
    ep, _ = active_episode(practice, ACTOR)
    joining = Participant(PARTNER, "partner", Consent(treatment=True, measures=True))
    practice.add_participant(ACTOR, ep, joining, added_on=day(2))
    return ep


@pytest.fixture
def practice(tmp_path: Path) -> Iterator[Practice]:
    with open_practice(tmp_path / "practice.sqlite", ids=counter_ids(), clock=fixed_clock()) as p:
        yield p


Content = dict[str, float]
"""A session's measures: kind -> the fraction of each item's range answered."""


def record(practice: Practice, ep: str, n: int, content: Content) -> str:
    admins = [administration(practice, kind, f) for kind, f in content.items()]
    recorded = practice.record_session(ACTOR, ep, attended(day(n), *admins))
    assert recorded.record_id is not None
    return recorded.record_id


def correct(practice: Practice, ep: str, session_id: str, n: int, content: Content) -> None:
    admins = [administration(practice, kind, f) for kind, f in content.items()]
    practice.correct_session(ACTOR, ep, session_id, attended(day(n), *admins), reason=CANARY)


def scores_of(state: EpisodeState) -> dict[str, Any]:
    return {name: dict(getattr(state, name)) for name in SCORE_FIELDS}


# -- the property: a corrected episode's scores are those of its sessions recorded as corrected ------------

FRACTIONS = st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9])
CONTENTS = st.dictionaries(st.sampled_from(KINDS), FRACTIONS)
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("record"), CONTENTS),
        st.tuples(st.just("miss")),
        st.tuples(st.just("respond"), FRACTIONS),
        st.tuples(st.just("correct"), st.integers(0, 9), CONTENTS),
    ),
    min_size=1,
    max_size=9,
)


def _run(folder: Path, name: str, steps: Iterable[tuple[Any, ...]], *, corrected: bool) -> EpisodeState:
    """The steps on a fresh practice: with ``corrected``, the sessions recorded as the steps record them and
    corrected as they correct them; without, each session recorded as its last correction left it."""
    steps = list(steps)
    final: dict[int, Content] = {}  # step index of each attended session -> its content as corrected
    for i, step in enumerate(steps):
        if step[0] == "record":
            final[i] = step[1]
        elif step[0] == "correct" and final:
            final[list(final)[step[1] % len(final)]] = step[2]
    with open_practice(folder / name, ids=counter_ids(), clock=fixed_clock()) as p:
        ep = couple(p)
        sessions: dict[int, str] = {}
        for i, step in enumerate(steps):
            n = 3 + i
            if step[0] == "record":
                sessions[i] = record(p, ep, n, step[1] if corrected else final[i])
            elif step[0] == "miss":
                p.record_session(ACTOR, ep, missed(day(n)))
            elif step[0] == "respond":
                at = datetime.combine(day(n), time(18), tzinfo=UTC)
                p.record_client_response(ACTOR, ep, ors(p, step[1]), responded_at=at)
            elif corrected and sessions:
                which = list(sessions)[step[1] % len(sessions)]
                correct(p, ep, sessions[which], 3 + which, step[2])
        return p.episode(ACTOR, ep)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_the_state_equals_a_replay_of_the_sessions_as_corrected(steps: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        with_corrections = _run(Path(folder), "corrected.sqlite", steps, corrected=True)
        as_corrected = _run(Path(folder), "as-corrected.sqlite", steps, corrected=False)
    assert scores_of(with_corrections) == scores_of(as_corrected)


# -- a table of the cases by name -------------------------------------------------------------------------

#: (case, the sessions' contents, the correction (which session, 1-based, and its content), and what each
#: measure then has: (first, previous, latest) as session numbers, ``None`` where there is none; a measure
#: not listed has no score at all).
CASES = [
    (
        "taking out the latest: the previous is the latest again, the one before it the previous",
        [{"ors": 0.1}, {"ors": 0.3}, {"ors": 0.5}],
        (3, {}),
        {"ors": (1, 1, 2)},
    ),
    (
        "taking out the first: the next one is the first",
        [{"ors": 0.1}, {"ors": 0.3}, {"ors": 0.5}],
        (1, {}),
        {"ors": (2, 2, 3)},
    ),
    (
        "taking out the only one: the measure has no score",
        [{"ors": 0.1, "srs": 0.9}, {"ors": 0.3}],
        (1, {"ors": 0.1}),
        {"ors": (1, 1, 2)},
    ),
    (
        "adding one before the latest: it is the previous, not the latest",
        [{"ors": 0.1}, {}, {"ors": 0.5}],
        (2, {"ors": 0.3}),
        {"ors": (1, 2, 3)},
    ),
    (
        "adding one after the latest: it is the latest",
        [{"ors": 0.1}, {}],
        (2, {"ors": 0.3}),
        {"ors": (1, 1, 2)},
    ),
    (
        "adding a measure the episode did not have: first and latest",
        [{"ors": 0.1}, {"ors": 0.3}],
        (1, {"ors": 0.1, "srs": 0.9}),
        {"ors": (1, 1, 2), "srs": (1, None, 1)},
    ),
    (
        "the partner's rating taken out: their track goes back a session",
        [{"partner-srs": 0.5}, {"partner-srs": 0.7}, {"partner-srs": 0.9}],
        (3, {}),
        {"partner-srs": (1, 1, 2)},
    ),
    (
        "a collateral rating taken out, the only one: the track goes",
        [{"ors": 0.5, "partner-rated-ors": 0.5}, {"ors": 0.7}],
        (1, {"ors": 0.5}),
        {"ors": (1, 1, 2)},
    ),
    (
        "a collateral rating added to the first session: the track's first",
        [{"ors": 0.5}, {"ors": 0.7, "partner-rated-ors": 0.3}],
        (1, {"ors": 0.5, "partner-rated-ors": 0.1}),
        {"ors": (1, 1, 2), "partner-rated-ors": (1, 1, 2)},
    ),
]


def _points(state: EpisodeState, kind: str) -> tuple[int | None, ...] | None:
    def number(point: Any) -> int | None:
        return None if point is None else point.session_number

    if kind in ("ors", "srs"):
        if kind not in state.latest_scores:
            assert kind not in state.first_scores
            assert kind not in state.previous_scores
            assert kind not in state.administered_at
            return None
        at = state.administered_at[kind]
        assert at == state.latest_scores[kind].session_number  # every session here is attended
        return tuple(number(getattr(state, f"{n}_scores").get(kind)) for n in ("first", "previous", "latest"))
    measure, about, rater = {
        "partner-srs": ("srs", PARTNER, "client"),
        "partner-rated-ors": ("ors", state.client_ref, "partner"),
    }[kind]
    track = state.tracks.get(track_key(measure, about, rater))
    return None if track is None else (number(track.first), number(track.previous), number(track.latest))


@pytest.mark.parametrize(("case", "sessions", "correction", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_correction_moves_the_points_a_replay_would(
    practice: Practice,
    case: str,
    sessions: list[Content],
    correction: tuple[int, Content],
    expected: dict[str, tuple[int | None, ...]],
) -> None:
    ep = couple(practice)
    ids = [record(practice, ep, 3 + i, content) for i, content in enumerate(sessions)]
    which, content = correction
    correct(practice, ep, ids[which - 1], 3 + which - 1, content)
    state = practice.episode(ACTOR, ep)
    assert {kind: _points(state, kind) for kind in KINDS} == {kind: expected.get(kind) for kind in KINDS}


def test_a_correction_in_a_batch_replays_the_sessions_the_batch_holds(practice: Practice) -> None:
    """Session 1 committed, sessions 2 and 3 and the correction of session 3 held in one batch: the
    correction replays the stored session and the held ones."""
    ep = couple(practice)
    record(practice, ep, 3, {"ors": 0.1, "srs": 0.9})
    with practice.batch() as batch:
        batch.record_session(ACTOR, ep, attended(day(4), ors(practice, 0.3), srs(practice, 0.7)))
        third = batch.record_session(ACTOR, ep, attended(day(5), ors(practice, 0.5), srs(practice, 0.5)))
        assert third.record_id is not None
        fixed = attended(day(5), ors(practice, 0.5))
        batch.correct_session(ACTOR, ep, third.record_id, fixed, reason=CANARY)
    state = practice.episode(ACTOR, ep)
    assert [state.latest_scores["srs"].session_number, state.previous_scores["srs"].session_number] == [2, 1]
    assert state.administered_at["srs"] == 2
    assert [state.latest_scores["ors"].session_number, state.previous_scores["ors"].session_number] == [3, 2]


# -- corrections stored before version 4 ------------------------------------------------------------------


def test_a_version_3_correction_still_reads_and_folds_as_it_did(practice: Practice) -> None:
    """A correction stored before version 4 (no points of its own) decodes through the upcaster and replaces
    the totals of the session's points in place: the SRS it took out stays the latest, as it always did
    (its snapshot was folded so, and must still equal the fold)."""
    ep = couple(practice)
    record(practice, ep, 3, {"ors": 0.1, "srs": 0.9})
    second = record(practice, ep, 4, {"ors": 0.3, "srs": 0.7})
    before = practice.episode(ACTOR, ep)
    correct(practice, ep, second, 4, {"ors": 0.5})
    (stored,) = practice.store.load_events(ep, before.version)
    assert (stored.type, stored.schema_version) == ("session-corrected", SessionCorrected.VERSION)
    new = Codec().decode(stored)
    assert isinstance(new, SessionCorrected)
    assert new.as_corrected is not None
    payload = json.loads(stored.payload_json)
    del payload["as_corrected"]  # the event as version 3 stored it
    old = attrs.evolve(stored, schema_version=3, payload_json=converter.encode_json(payload))

    decoded = Codec().decode(old)

    assert isinstance(decoded, SessionCorrected)
    assert decoded.as_corrected is None
    assert (decoded.scores, decoded.session) == (new.scores, new.session)
    after = fold(before, [decoded])
    assert after.latest_scores["srs"] == before.latest_scores["srs"]  # the old fold: taken out, yet kept
    ors_total = next(s.total for s in new.scores if s.measure_id == "ors")
    assert after.latest_scores["ors"] == attrs.evolve(before.latest_scores["ors"], total=ors_total)
    assert after.version == before.version + 1
    # and the new version's fold does what the replay says
    assert "srs" not in fold(before, [new]).previous_scores


def _stored(payload: dict[str, Any], version: int) -> StoredEvent:
    at = datetime(2026, 1, 12, tzinfo=UTC)
    return StoredEvent(
        "ep",
        1,
        "e1",
        "session-corrected",
        version,
        at,
        at,
        "clin-1",
        "clinician",
        "clinic-1",
        json.dumps(payload),
    )


def test_a_version_1_correction_upcasts_through_every_version() -> None:
    session = {"held_on": "2026-01-12", "modality": "video", "attendance": "attended", "administrations": [],
               "helpful": "", "not_helpful": ""}  # fmt: skip
    payload = {"session_id": "s1", "number": 1, "session": session, "scores": [], "reason": "typo"}
    decoded = Codec().decode(_stored(payload, 1))
    assert isinstance(decoded, SessionCorrected)
    assert (decoded.session_id, decoded.scores, decoded.as_corrected) == ("s1", (), None)


# -- what a share says: a correction carries no point its reader may not see -----------------------------


def _corrections(entries: Iterable[Any]) -> list[SessionCorrected]:
    return [e.event for e in entries if isinstance(e.event, SessionCorrected)]


def test_a_correction_shared_past_a_withheld_session_carries_none_of_its_points(practice: Practice) -> None:
    """Session 2 withheld by name: the correction of session 3, as shared, has session 1 before it, not
    session 2 (whose score it would otherwise tell)."""
    ep = couple(practice)
    ids = [record(practice, ep, 3 + i, {"ors": f}) for i, f in enumerate((0.1, 0.3, 0.5))]
    correct(practice, ep, ids[2], 5, {"ors": 0.7})
    (treating,) = _corrections(practice.timeline(ACTOR, ep))
    assert treating.as_corrected is not None
    assert [s.previous.session_number for s in treating.as_corrected if s.previous] == [
        2
    ]  # the check can fail
    second = [e for e in practice.timeline(ACTOR, ep) if e.type == "session-recorded"][1]
    practice.set_lockbox(ACTOR, ep, scope="item", event_ids=[second.event_id], on=day(6))

    shared = practice.shared_record(SUPERVISOR, ep)

    (correction,) = _corrections(shared.entries)
    assert correction.as_corrected is not None
    (ors_points,) = correction.as_corrected
    points = (ors_points.first, ors_points.previous, ors_points.latest)
    assert [p.session_number for p in points if p is not None] == [1, 1, 3]


def test_a_participant_sees_only_their_own_points_in_a_correction(practice: Practice) -> None:
    """A couple's session corrected to take out the partner's SRS: the identified client's own record (their
    right of access) shows the correction without the partner's points, the partner's without the client's."""
    ep = couple(practice)
    record(practice, ep, 3, {"ors": 0.1, "partner-srs": 0.5})
    second = record(practice, ep, 4, {"ors": 0.3, "partner-srs": 0.7})
    correct(practice, ep, second, 4, {"ors": 0.3})
    (treating,) = _corrections(practice.timeline(ACTOR, ep))
    assert treating.as_corrected is not None
    assert {(s.measure_id, s.about) for s in treating.as_corrected} == {("ors", None), ("srs", PARTNER)}

    seen = {}
    for reader in ("client-1", PARTNER):
        client = Actor(reader, Role.CLIENT, "clinic-1", Purpose.CLIENT_ACCESS)
        (correction,) = _corrections(practice.shared_record(client, ep).entries)
        assert correction.as_corrected is not None
        seen[reader] = {(s.measure_id, s.about) for s in correction.as_corrected}
    assert seen == {"client-1": {("ors", None)}, PARTNER: {("srs", PARTNER)}}
