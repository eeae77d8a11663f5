"""Property: a random sequence of commands run through a batch and the same commands one by one leave the
same store: events (payloads, hashes), snapshots, caseload rows, outbox, command records, and the audit
entries' actions and targets. Ids and the clock are injected, so both runs name the same records."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import AlliancekitError
from alliancekit.practice import Practice

from .conftest import (
    DAY0,
    attended,
    consultation,
    goals,
    missed,
    ors,
    planned_ending,
    proceed,
    srs,
    unplanned_ending,
)

ACTOR = Actor("clin-1", Role.CLINICIAN, "clinic-1")
OTHER = Actor("clin-2", Role.CLINICIAN, "clinic-1")
AT = datetime(2026, 1, 5, 9, tzinfo=UTC)

# One step: (what, which episode, a level in [0, 1], an idempotency key number or None).
KINDS = (
    "start",
    "consult",
    "proceed",
    "goals",
    "session",
    "session",
    "session",
    "missed",
    "hold",
    "resume",
    "plan",
    "close",
    "dropout",
    "correct",
    "foreign",
)
steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(0, 2),
        st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 1)),
        st.one_of(st.none(), st.integers(0, 3)),
    ),
    min_size=1,
    max_size=40,
)


def _run(
    target: Any, practice: Practice, plan: list[tuple[str, int, float, int | None]], returned: list[Any]
) -> list[str]:
    """Run ``plan`` on ``target`` (the practice or a batch); returns each step's outcome, and adds what
    each step that went through returned to ``returned``."""
    episodes: list[str] = []
    sessions: dict[str, list[str]] = {}
    outcomes: list[str] = []
    for n, (kind, which, level, key_number) in enumerate(plan):
        key = None if key_number is None else f"{kind}-{which}-{key_number}"
        day = DAY0 + timedelta(days=n)
        try:
            if kind == "start" or not episodes:
                ep = target.start_episode(
                    ACTOR,
                    client_ref=f"client-{which}",
                    clinician_id=ACTOR.id,
                    opened_on=DAY0,
                    idempotency_key=key,
                )
                returned.append(ep)
                outcomes.append(f"started {ep}")
                if ep not in episodes:  # brought to active therapy: most of what follows then applies
                    episodes.append(ep)
                    returned.append(target.record_consultation(ACTOR, ep, consultation(DAY0)))
                    returned.append(target.decide_fit(ACTOR, ep, proceed(DAY0)))
                    returned.append(target.agree_goals(ACTOR, ep, goals(1), agreed_on=DAY0))
                continue
            ep = episodes[which % len(episodes)]
            if kind == "consult":
                done = target.record_consultation(ACTOR, ep, consultation(day), idempotency_key=key)
            elif kind == "proceed":
                done = target.decide_fit(ACTOR, ep, proceed(day), idempotency_key=key)
            elif kind == "goals":
                done = target.agree_goals(ACTOR, ep, goals(2), agreed_on=day, idempotency_key=key)
            elif kind == "session":
                session = attended(day, ors(practice, level), srs(practice, 1 - level / 2))
                done = target.record_session(ACTOR, ep, session, idempotency_key=key)
                sessions.setdefault(ep, []).append(done.record_id)
            elif kind == "missed":
                done = target.record_session(ACTOR, ep, missed(day), idempotency_key=key)
            elif kind == "hold":
                done = target.put_on_hold(ACTOR, ep, on=day, reason="travel", idempotency_key=key)
            elif kind == "resume":
                done = target.resume(ACTOR, ep, on=day, idempotency_key=key)
            elif kind == "plan":
                done = target.plan_ending(ACTOR, ep, on=day, idempotency_key=key)
            elif kind == "close":
                done = target.close_episode(ACTOR, ep, planned_ending(day), idempotency_key=key)
            elif kind == "dropout":
                done = target.close_episode(ACTOR, ep, unplanned_ending(day), idempotency_key=key)
            elif kind == "correct":
                first = sessions.get(ep, ["no-such-session"])[0]
                fixed = attended(day, ors(practice, level))
                done = target.correct_session(ACTOR, ep, first, fixed, reason="typo", idempotency_key=key)
            else:  # someone else's client: refused (and the refusal audited)
                done = target.record_session(OTHER, ep, missed(day), idempotency_key=key)
            returned.append(done)
            outcomes.append(repr(done))
        except AlliancekitError as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")
    return outcomes


def _contents(practice: Practice) -> dict[str, Any]:
    store = practice.store
    episodes = list(store.episode_ids())
    return {
        "events": {ep: [attrs.asdict(e) for e in store.load_events(ep)] for ep in episodes},
        "snapshots": {ep: store.load_snapshot(ep) for ep in episodes},
        "caseload": store.caseload(open_only=False),
        "outbox": sorted((attrs.asdict(m) for m in store.outbox_records(limit=10**6)), key=str),
        "audit": sorted(
            (a.action, a.record_type, a.record_id, a.outcome, a.client_ref, a.writes, a.actor_id)
            for a in store.audit_records()
        ),
    }


def _practice(location: str | Path) -> Practice:
    numbers = itertools.count(1)
    ids: Callable[[str], str] = lambda kind: f"{kind}-{next(numbers)}"  # noqa: E731
    return open_practice(location, ids=ids, clock=lambda: AT)


def _both(
    plan: list[tuple[str, int, float, int | None]], size: int, location: Callable[[str], str | Path]
) -> None:
    with _practice(location("one")) as one:
        one_by_one = _run(one, one, plan, [])
        expected = _contents(one)
    with _practice(location("batch")) as practice:
        acknowledged: list[Any] = []
        returned: list[Any] = []
        with practice.batch(size=size, on_commit=acknowledged.extend) as batch:
            batched = _run(batch, practice, plan, returned)
        got = _contents(practice)
    assert batched == one_by_one
    assert acknowledged == returned
    assert got == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=steps, size=st.integers(1, 7))
def test_a_batch_and_one_by_one_leave_the_same_memory_store(
    plan: list[tuple[str, int, float, int | None]], size: int
) -> None:
    _both(plan, size, lambda name: "memory:")


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=steps, size=st.integers(1, 7))
def test_a_batch_and_one_by_one_leave_the_same_sqlite_file(
    tmp_path: Path, plan: list[tuple[str, int, float, int | None]], size: int
) -> None:
    run = next(_runs)
    _both(plan, size, lambda name: tmp_path / f"{run}-{name}.sqlite")


_runs = itertools.count()
