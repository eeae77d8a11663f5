"""Smoke of the core on SQLite: a whole lifecycle, snapshot == fold, and the version check still guards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Purpose, Role, Session, Stage
from alliancekit.errors import ConflictError
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.practice import Practice
from alliancekit.security.policy import Decision

from .conftest import steady


class _AllowAll:
    """Storage and fold tests across transfers; the access policy is tested in tests/security."""

    def decide(self, request: object) -> Decision:
        return Decision.allow()


ALLOW_ALL = _AllowAll()

#: rebuild_state is a maintenance call: the default policy allows it to system actors.
MAINTENANCE = Actor("maintenance", Role.SYSTEM, "clinic-1", Purpose.OPERATIONS)


def test_full_lifecycle_snapshot_equals_fold(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str],
    referred: Callable[[Practice, Actor], str],
) -> None:  # fmt: skip
    ep = lifecycle(sqlite_practice, actor)
    other = referred(sqlite_practice, actor)
    for episode_id in (ep, other):
        assert sqlite_practice.rebuild_state(MAINTENANCE, episode_id) == sqlite_practice.episode(
            actor, episode_id
        )
    state = sqlite_practice.episode(actor, ep)
    assert state.stage is Stage.CLOSED
    # 40 events of the lifecycle (a partner and a group among them, two requests of which one revoked and
    # one answered by the client, the episode's own protocol, a change of norm population, the client's
    # and the partner's consent to measures withdrawn and given again), and the alert still open at the
    # ending resolved in the closing commit
    assert state.version == len(sqlite_practice.store.load_events(ep)) == 41
    resolved = [e for e in sqlite_practice.timeline(actor, ep) if e.type == "alert-resolved"]
    assert resolved[-1].seq == 40
    assert not state.alerts
    assert (state.sessions_scheduled, state.sessions_attended) == (4, 3)
    assert sqlite_practice.episode(actor, other).stage is Stage.CLOSED


def test_full_lifecycle_on_the_memory_store_matches_sqlite(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    with open_practice("memory:", policy=ALLOW_ALL, clock=steady) as memory:
        ep_mem, ep_sql = lifecycle(memory, actor), lifecycle(sqlite_practice, actor)
        assert memory.rebuild_state(MAINTENANCE, ep_mem) == memory.episode(actor, ep_mem)

        # goal and alert ids are random: compare their values, not their keys
        def comparable(state: EpisodeState) -> dict[str, object]:
            return attrs.asdict(state, recurse=False) | {
                "goals": sorted(map(repr, state.goals.values())),
                "alerts": sorted(map(repr, state.alerts.values())),
            }

        in_memory = comparable(attrs.evolve(memory.episode(actor, ep_mem), episode_id=ep_sql))
        on_sqlite = comparable(sqlite_practice.episode(actor, ep_sql))
        assert in_memory == on_sqlite


def test_fresh_process_view_reads_the_same_state(
    tmp_path: Path, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, policy=ALLOW_ALL, clock=steady) as writer:
        ep = lifecycle(writer, actor)
        written = writer.episode(actor, ep)
    with open_practice(
        path, policy=ALLOW_ALL, clock=steady
    ) as reader:  # no decoded-state cache: decodes the snapshot row
        assert reader.episode(actor, ep) == written == reader.rebuild_state(MAINTENANCE, ep)


def test_two_practices_on_one_file_never_lose_an_update(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with (
        open_practice(path, policy=ALLOW_ALL, clock=steady) as a,
        open_practice(path, policy=ALLOW_ALL, clock=steady) as b,
    ):
        ep = a.start_episode(actor, client_ref="client-9", clinician_id=actor.id, opened_on=date(2026, 1, 1))
        from alliancekit.domain import Consent, Consultation, FitDecision, GoalDraft

        a.record_consultation(
            actor, ep, Consultation(held_on=date(2026, 1, 1), modality="video", consent=Consent(True, True))
        )
        a.decide_fit(actor, ep, FitDecision(outcome="proceed", decided_on=date(2026, 1, 1)))
        a.agree_goals(actor, ep, [GoalDraft("g", ())], agreed_on=date(2026, 1, 1))
        a.episode(actor, ep)  # a's cache now holds version 4
        session = Session(held_on=date(2026, 1, 8), modality="video", attendance="attended")
        b.record_session(actor, ep, session)  # b moves the stream on behind a's back
        a.record_session(actor, ep, session)  # a must see version 5 (its cache is stale), not overwrite it
        for practice in (a, b):
            state = practice.episode(actor, ep)
            assert (state.version, state.sessions_scheduled) == (6, 2)
            assert practice.rebuild_state(MAINTENANCE, ep) == state


def test_stale_commit_is_refused_and_writes_nothing(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    from alliancekit.store.protocol import Commit

    ep = lifecycle(sqlite_practice, actor)
    store = sqlite_practice.store
    events = store.load_events(ep)
    before = (store.load_snapshot(ep), len(events), len(store.audit_records()))
    replay = events[-1]
    stale = Commit(
        episode_id=ep,
        expected_version=len(events) - 1,
        events=[attrs.evolve(replay, event_id="x" * 32)],
        snapshot_json=before[0][1] if before[0] else "{}",
        caseload=store.caseload(open_only=False)[0],
    )
    with pytest.raises(ConflictError):
        store.append(stale)
    with pytest.raises(ConflictError):  # a second "new episode" with the same id
        store.append(attrs.evolve(stale, expected_version=0, events=[attrs.evolve(events[0], event_id="y")]))
    assert (store.load_snapshot(ep), len(store.load_events(ep)), len(store.audit_records())) == before


def test_caseload_follows_transfer_and_closing(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    # Transfers and closings change the indexed caseload columns (written by a different UPDATE).
    ep = lifecycle(sqlite_practice, actor)
    assert [r.episode_id for r in sqlite_practice.caseload(actor, clinician_id="clinician-2")] == []
    closed = sqlite_practice.caseload(actor, clinician_id="clinician-2", include_closed=True)
    assert [(r.episode_id, r.stage, r.closed_on) for r in closed] == [(ep, "closed", date(2026, 5, 11))]
    assert sqlite_practice.caseload(actor, clinician_id=actor.id, include_closed=True) == []


def test_a_stale_cached_state_neither_refuses_nor_uses_up_retries(tmp_path: Path, actor: Actor) -> None:
    # Commands decide first on the state the Practice last saw; the version check catches a stale one.
    from alliancekit.domain import Consent, Consultation, FitDecision, GoalDraft

    path = tmp_path / "p.sqlite"
    with (
        open_practice(path, conflict_retries=0, policy=ALLOW_ALL, clock=steady) as a,
        open_practice(path, policy=ALLOW_ALL, clock=steady) as b,
    ):
        ep = a.start_episode(actor, client_ref="client-9", clinician_id=actor.id, opened_on=date(2026, 1, 1))
        consent = Consent(True, True)
        a.record_consultation(
            actor, ep, Consultation(held_on=date(2026, 1, 1), modality="video", consent=consent)
        )
        a.decide_fit(actor, ep, FitDecision(outcome="proceed", decided_on=date(2026, 1, 1)))
        a.agree_goals(actor, ep, [GoalDraft("g", ())], agreed_on=date(2026, 1, 1))
        a.put_on_hold(actor, ep, on=date(2026, 1, 2), reason="travel")  # a's cache: on hold
        b.resume(actor, ep, on=date(2026, 1, 9))
        session = Session(held_on=date(2026, 1, 10), modality="video", attendance="attended")
        # On a's cached state this would be refused (on hold) and conflict; neither may reach the caller.
        recorded = a.record_session(actor, ep, session)
        assert recorded.version == 7
        assert a.rebuild_state(MAINTENANCE, ep) == a.episode(actor, ep) == b.episode(actor, ep)
        assert a.episode(actor, ep).stage is Stage.ACTIVE
