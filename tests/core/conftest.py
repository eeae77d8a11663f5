"""Shared builders for the core tests: actors, deterministic ids and clocks, lifecycle records, measures.

Measure administrations are built from whatever ORS/SRS definitions the registry holds (latest version,
item keys from the definition), so these tests do not depend on the placeholder measures' details.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    MaintenancePlan,
    Role,
    Session,
)
from alliancekit.events.codec import Codec
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.practice import Practice

#: Put into every free-text field of test records: no error message may ever contain it.
CANARY = "CANARY-7f3a-client-words"

DAY0 = date(2026, 1, 5)


def day(n: int) -> date:
    """``n`` days after the episode opens."""
    return DAY0 + timedelta(days=n)


def clinician(clinic: str = "clinic-1", ident: str = "clin-1") -> Actor:
    return Actor(ident, Role.CLINICIAN, clinic)


def counter_ids() -> Callable[[str], str]:
    """Deterministic ids (``kind-N``): two practices fed the same calls name the same records."""
    numbers = itertools.count(1)
    return lambda kind: f"{kind}-{next(numbers)}"


def fixed_clock() -> Callable[[], datetime]:
    """A fixed now after every day the tests record (no clinical date may be after today)."""
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    return lambda: at


# ----------------------------------------------------------------------------------------------- measures


def _definition(practice: Practice, measure_id: str) -> tuple[str, Mapping[str, Any]]:
    registry = practice.plugins.measures()
    version = str(registry.latest_version(measure_id))
    found = registry.get(measure_id, version)
    definition = getattr(found, "definition", found)
    return version, definition


def item_keys(practice: Practice, measure_id: str) -> list[str]:
    return [item["key"] for item in _definition(practice, measure_id)[1]["items"]]


def _answers(definition: Mapping[str, Any], fraction: float) -> dict[str, float]:
    answers = {}
    for item in definition["items"]:
        low = item.get("min", 0)
        high = item.get("max", 10)
        answers[item["key"]] = round(low + (high - low) * fraction, 1)
    return answers


def ors(practice: Practice, fraction: float = 0.5) -> Administration:
    """An ORS administration (start of session) with every item at ``fraction`` of its range."""
    version, definition = _definition(practice, "ors")
    return Administration("ors", version, "start", _answers(definition, fraction))


def srs(practice: Practice, fraction: float = 0.9) -> Administration:
    """An SRS administration (end of session) with every item at ``fraction`` of its range."""
    version, definition = _definition(practice, "srs")
    return Administration("srs", version, "end", _answers(definition, fraction))


# ------------------------------------------------------------------------------------------------ records


def consultation(on: date = DAY0, *, treatment: bool = True) -> Consultation:
    return Consultation(
        held_on=on,
        modality="in-person",
        consent=Consent(treatment=treatment, measures=True),
        presenting_concerns=(CANARY,),
        client_questions=(CANARY,),
    )


def proceed(on: date = DAY0) -> FitDecision:
    return FitDecision(outcome="proceed", decided_on=on, rationale=CANARY)


def goals(n: int = 1) -> list[GoalDraft]:
    return [GoalDraft(f"{CANARY} goal {i}", (CANARY,)) for i in range(n)]


def attended(on: date, *administrations: Administration) -> Session:
    return Session(
        held_on=on,
        modality="video",
        attendance="attended",
        administrations=administrations,
        helpful=CANARY,
        not_helpful=CANARY,
    )


def missed(on: date, attendance: str = "no-show") -> Session:
    return Session(held_on=on, modality="video", attendance=attendance, helpful=CANARY)


def planned_ending(on: date, *, plan: bool = True, no_plan_reason: str | None = None) -> Ending:
    maintenance = MaintenancePlan(warning_signs=(CANARY,), coping_strategies=(CANARY,), return_plan=CANARY)
    return Ending(
        ended_on=on,
        planned=True,
        reason="goals-met",
        reflection=CANARY,
        maintenance_plan=maintenance if plan else None,
        no_plan_reason=no_plan_reason,
    )


def unplanned_ending(on: date) -> Ending:
    return Ending(ended_on=on, planned=False, reason="dropout", reflection=CANARY)


# ------------------------------------------------------------------------------------------- whole stages


def new_episode(practice: Practice, actor: Actor, *, client: str = "client-1") -> str:
    return practice.start_episode(actor, client_ref=client, clinician_id=actor.id, opened_on=DAY0)


def goal_setting_episode(practice: Practice, actor: Actor, **kw: Any) -> str:
    ep = new_episode(practice, actor, **kw)
    practice.record_consultation(actor, ep, consultation(day(0)))
    practice.decide_fit(actor, ep, proceed(day(1)))
    return ep


def active_episode(practice: Practice, actor: Actor, **kw: Any) -> tuple[str, list[str]]:
    ep = goal_setting_episode(practice, actor, **kw)
    goal_ids = practice.agree_goals(actor, ep, goals(2), agreed_on=day(2))
    return ep, goal_ids


def stored_snapshot(practice: Practice, episode_id: str) -> EpisodeState:
    """The snapshot as the store holds it, decoded afresh (``Practice.episode`` may answer from its cache)."""
    found = practice.store.load_snapshot(episode_id)
    assert found is not None
    version, snapshot = found.version, found.state_json
    state = Codec.decode_state(snapshot)
    assert state is not None
    assert state.version == version
    return state


def footprint(practice: Practice, episode_id: str) -> tuple[Any, ...]:
    """Everything a refused command must leave alone: version, snapshot, events, audit rows, caseload."""
    store = practice.store
    return (
        store.load_snapshot(episode_id),
        [(e.seq, e.event_id, e.payload_json) for e in store.load_events(episode_id)],
        len(store.audit_records()),
        store.caseload(open_only=False),
    )


# ----------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def actor() -> Actor:
    return clinician()


@pytest.fixture(params=["memory", "sqlite"])
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    """A practice on each builtin store (memory and an SQLite file), with deterministic ids and clock."""
    location = "memory:" if request.param == "memory" else tmp_path / "practice.sqlite"
    with open_practice(location, ids=counter_ids(), clock=fixed_clock()) as p:
        yield p


@pytest.fixture
def memory_practice() -> Iterator[Practice]:
    with open_practice("memory:", ids=counter_ids(), clock=fixed_clock()) as p:
        yield p


@pytest.fixture
def opened() -> Iterator[Callable[..., Practice]]:
    """``open_practice`` for tests that open several practices: each is closed at teardown."""
    made: list[Practice] = []

    def open_(*args: Any, **kwargs: Any) -> Practice:
        practice = open_practice(*args, **kwargs)
        made.append(practice)
        return practice

    yield open_
    for practice in made:
        practice.close()


def maintenance(clinic: str = "clinic-1") -> Actor:
    """A system actor for maintenance calls (``rebuild_state``), which the default policy allows."""
    from alliancekit.domain import Purpose

    return Actor("maintenance", Role.SYSTEM, clinic, Purpose.OPERATIONS)


class AllowAll:
    """A policy that allows everything: for tests of storage and the fold across transfers. The access
    policy itself is tested in tests/security."""

    def decide(self, request: object) -> Any:
        from alliancekit.security.policy import Decision

        return Decision.allow()


def treated(practice: Practice, actor: Actor, *, measures: bool, client: str = "client-1") -> str:
    """An active episode whose client consented to treatment, and to measures or not, on day 0."""
    ep = new_episode(practice, actor, client=client)
    given = attrs.evolve(consultation(day(0)), consent=Consent(treatment=True, measures=measures))
    practice.record_consultation(actor, ep, given)
    practice.decide_fit(actor, ep, proceed(day(1)))
    practice.agree_goals(actor, ep, goals(1), agreed_on=day(2))
    return ep


def rewrite_snapshot(path: Path, episode_id: str, shape: int, dropped: str) -> None:
    """Rewrite an SQLite practice's snapshot of ``episode_id`` as an older ``shape`` wrote it: without the
    field ``dropped`` that shape did not have (what a store written by an earlier release holds)."""
    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (episode_id,)).fetchone()
    state = json.loads(text)
    del state[dropped]
    state["_v"] = shape
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), episode_id))
    conn.commit()
    conn.close()
