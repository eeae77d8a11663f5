"""On PostgreSQL as on the builtin stores (tests/security/test_group_session_ids.py): a group session is
made by ``record_group_session`` only, so a co-facilitator's plain ``record_session`` naming one, made up
or real, is refused on the facade and in a batch (one audit entry each, nothing written), while the group
path and its keyed repeats work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alliancekit_postgres import PostgresStore
from alliancekit_postgres.testing import PgServer

from alliancekit import Practice
from alliancekit.domain import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GroupSession,
    MemberAttendance,
    Role,
    Session,
)
from alliancekit.errors import AccessDenied
from alliancekit.plugins.manager import make_plugin_host

CLINIC = "clinic-g"
LEAD = Actor("clin-a", Role.CLINICIAN, CLINIC)
CO = Actor("clin-f", Role.CLINICIAN, CLINIC)
D = date(2026, 1, 19)


@pytest.fixture
def practice(pg: PgServer) -> Iterator[Practice]:
    store = PostgresStore(pg.app_dsn, clinic_id=CLINIC, schema=pg.new_schema(), pool_max=1)
    p = Practice(
        store,
        plugins=make_plugin_host(load_entry_points=False),
        clock=lambda: datetime(2026, 6, 1, 12, 0, tzinfo=UTC),
    )
    try:
        yield p
    finally:
        p.close()


def _member(p: Practice, client: str) -> str:
    on = date(2026, 1, 5)
    ep = p.start_episode(LEAD, client_ref=client, clinician_id=LEAD.id, opened_on=on)
    consent = Consent(treatment=True, measures=True)
    p.record_consultation(LEAD, ep, Consultation(held_on=on, modality="video", consent=consent))
    p.decide_fit(LEAD, ep, FitDecision(outcome="proceed", decided_on=on, rationale="r"))
    p.join_group(LEAD, ep, group_id="g-1", facilitator_ids=(LEAD.id, CO.id), joined_on=D)
    return ep


def _part(group_session_id: str) -> Session:
    return Session(held_on=D, modality="in-person", attendance="attended", group_session_id=group_session_id)


def test_a_made_up_group_session_is_refused_to_a_cofacilitator(practice: Practice) -> None:
    p = practice
    ep, other = _member(p, "client-1"), _member(p, "client-2")
    real = p.record_group_session(
        LEAD, "g-1", GroupSession(D, "in-person", (MemberAttendance(other, "attended"),))
    )
    version = p.episode(LEAD, ep).version
    refused = 0
    for gsid in ("gs-made-up", real.group_session_id):
        with pytest.raises(AccessDenied, match="only parts of the group's sessions"):
            p.record_session(CO, ep, _part(gsid))
        with p.batch() as batch, pytest.raises(AccessDenied, match="only parts of the group's sessions"):
            batch.record_session(CO, ep, _part(gsid))
        refused += 2
    refusals = [r for r in p.store.audit_records() if r.outcome == "refused"]
    assert [(r.actor_id, r.action, r.record_id) for r in refusals] == [
        ("clin-f", "record-session", ep)
    ] * refused
    assert p.episode(LEAD, ep).version == version
    # the group path: the co-facilitator records it, a keyed repeat completes the part left out
    alone = GroupSession(D, "in-person", (MemberAttendance(ep, "attended"),))
    first = p.record_group_session(CO, "g-1", alone, idempotency_key="week-2")
    both = GroupSession(
        D, "in-person", (MemberAttendance(ep, "attended"), MemberAttendance(other, "no-show"))
    )
    again = p.record_group_session(CO, "g-1", both, idempotency_key="week-2")
    assert again.group_session_id == first.group_session_id
    assert [r.duplicate for r in again.sessions] == [True, False]
