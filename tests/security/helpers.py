"""A small practice with one episode in active therapy, made through the public facade."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import attrs

from alliancekit import Practice, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Purpose,
    Role,
    RuptureNote,
    Session,
)
from alliancekit.domain.vocab import RuptureCause, RuptureKind, RuptureMarker
from alliancekit.store.memory import MemoryStore

CLINIC = "c1"
CLIENT = "client-1"
PARTNER = "client-3"
"""Another participant of the episode (added by the tests that need one)."""
KEY = b"k" * 32
#: The group an episode joins in the tests of group sessions, and its two facilitators.
COFACILITATED_GROUP = "g-1"
FACILITATORS = ("clin-a", "clin-f")


def actor(kind: str) -> Actor | None:
    return {
        "clin_own": Actor("clin-a", Role.CLINICIAN, CLINIC),
        "clin_other": Actor("clin-b", Role.CLINICIAN, CLINIC),
        # co-facilitates the episode's group with clin-a once the episode joins it (COFACILITATED_GROUP)
        "clin_cofacilitator": Actor("clin-f", Role.CLINICIAN, CLINIC),
        "clin_elsewhere": Actor("clin-a", Role.CLINICIAN, "c2"),
        "clin_emergency": Actor("clin-b", Role.CLINICIAN, CLINIC, Purpose.EMERGENCY),
        "supervisor": Actor("sup-1", Role.SUPERVISOR, CLINIC),
        "admin": Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS),
        "client_own": Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
        "client_other": Actor("client-2", Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
        "client_partner": Actor(PARTNER, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
        "system": Actor("exporter", Role.SYSTEM, CLINIC, Purpose.OPERATIONS),
        "none": None,
    }[kind]


class Clock:
    def __init__(self) -> None:
        # after every day the tests record: no clinical date may be after the clinic's today
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def open_on(store: str, folder: Path, **options: Any) -> Practice:
    """A practice with the tests' clock on the builtin ``store`` named (``memory``, or ``sqlite``: a file in
    ``folder``), for the fixtures that run a test on each."""
    if store == "memory":
        return Practice(MemoryStore(), clock=Clock(), **options)
    return open_practice(folder / "p.sqlite", clock=Clock(), **options)


#: The real stores a fixture parametrised with :func:`on_real_store` runs its tests on.
REAL_STORES = ("sqlite", "postgresql")


def on_real_store(request: Any, folder: Path, **options: Any) -> Practice:
    """A practice with the tests' clock on the real store ``request.param`` names: an SQLite file in
    ``folder``, or a schema of its own on the run's PostgreSQL server (the ``pg`` fixture)."""
    if request.param == "sqlite":
        return open_on("sqlite", folder, **options)
    pg: Any = request.getfixturevalue("pg")
    from alliancekit_postgres import PostgresStore

    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=2)
    return Practice(store, clock=Clock(), **options)


@attrs.define
class Setup:
    practice: Practice
    episode_id: str
    session_id: str
    session_event_id: str
    rupture_id: str
    goal_id: str


def ors(level: float = 5.0) -> Administration:
    return Administration(
        "ors",
        "1.0",
        "start",
        {"individually": level, "interpersonally": level, "socially": level, "overall": level},
    )


def active_episode(practice: Practice | None = None, text: str = "synthetic text", **options: Any) -> Setup:
    """An episode of clin-a's for client-1, in active therapy with a session, a rupture and a process note."""
    p = practice or Practice(MemoryStore(), clock=Clock(), **options)
    me = Actor("clin-a", Role.CLINICIAN, CLINIC)
    ep = p.start_episode(me, client_ref=CLIENT, clinician_id="clin-a", opened_on=date(2026, 1, 5))
    p.record_consultation(
        me,
        ep,
        Consultation(
            held_on=date(2026, 1, 5),
            modality="video",
            consent=Consent(treatment=True, measures=True),
            presenting_concerns=(text,),
        ),
    )
    p.decide_fit(me, ep, FitDecision(outcome="proceed", decided_on=date(2026, 1, 5), rationale=text))
    (goal_id,) = p.agree_goals(me, ep, [GoalDraft(text, (text,))], agreed_on=date(2026, 1, 12))
    recorded = p.record_session(
        me,
        ep,
        Session(
            held_on=date(2026, 1, 12),
            modality="video",
            attendance="attended",
            administrations=(ors(),),
            helpful=text,
        ),
    )
    rupture = p.note_rupture(
        me,
        ep,
        RuptureNote(
            noted_on=date(2026, 1, 12),
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.TOPIC_SHIFT,),
            likely_cause=RuptureCause.OTHER,
            description=text,
        ),
    )
    p.record_process_note(me, ep, written_on=date(2026, 1, 12), text=text)
    session_event = next(e for e in p.timeline(me, ep) if e.type == "session-recorded")
    assert recorded.record_id is not None
    assert rupture.record_id is not None
    return Setup(p, ep, recorded.record_id, session_event.event_id, rupture.record_id, goal_id)


def footprint(p: Practice, episode_id: str) -> tuple[Any, ...]:
    """What a refused call must leave as it was, everything but the audit log: the episodes, the real one's
    events, snapshot and row, the outbox."""
    store = p.store
    return (
        sorted(store.episode_ids()),
        [e.event_id for e in store.load_events(episode_id)],
        store.load_snapshot(episode_id),
        store.caseload(open_only=False),
        store.outbox_records(),
    )
