"""One clinician's caseload under a lockbox: an episode whose transfer a directive withholds from a reader (a
supervisor) is the earlier clinician's to that reader, so it is listed under the earlier clinician in the
clinic's caseload and must be listed in that clinician's caseload too, and not in the new clinician's (its
absence from either would tell the reader the transfer happened). For every reader and both
``include_closed`` values, ``caseload(clinician_id=X)`` is the clinic's caseload's rows whose clinician is X,
in the same order. The treating clinicians' own lists are unchanged: the new clinician lists the episode as
theirs, the earlier one does not list it, and a supervisor with a team never gets a row through a clinician
outside their team. On an SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Ending, Role
from alliancekit.errors import AccessDenied
from alliancekit.security.policy import AccessRequest, Decision, DefaultPolicy
from alliancekit.store.protocol import CaseloadRow

from .helpers import CLINIC, REAL_STORES, active_episode, on_real_store

OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
NEW = Actor("clin-b", Role.CLINICIAN, CLINIC)
OTHER = Actor("clin-c", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
TEAM_LEAD = Actor("sup-2", Role.SUPERVISOR, CLINIC)
MOVED = date(2026, 2, 3)
ENDED = date(2026, 3, 2)
CLINICIANS = (OWN.id, NEW.id, OTHER.id, "nobody")


class Policy:
    """The default policy, with a team for sup-2 (clin-a alone); sup-1 has none (reads the whole clinic)."""

    whole = DefaultPolicy()
    team = DefaultPolicy(teams={TEAM_LEAD.id: frozenset({OWN.id})})

    def decide(self, request: AccessRequest) -> Decision:
        return (self.team if request.actor.id == TEAM_LEAD.id else self.whole).decide(request)


POLICY = Policy()


@pytest.fixture(params=REAL_STORES)
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    with on_real_store(request, tmp_path, policy=POLICY) as p:
        yield p


def _transferred(p: Practice, *, closed: bool = False) -> str:
    """clin-a's episode in active therapy, transferred to clin-b (and ended by them when ``closed``)."""
    ep = active_episode(p).episode_id
    p.transfer(OWN, ep, to_clinician_id=NEW.id, on=MOVED, reason="leave")
    if closed:
        p.plan_ending(NEW, ep, on=date(2026, 2, 9), target_date=ENDED)
        p.close_episode(
            NEW, ep, Ending(ended_on=ENDED, planned=True, reason="goals-met", no_plan_reason="none")
        )
    return ep


def _others(p: Practice) -> dict[str, str]:
    """An open episode of each clinician's, without directives (they must stay where they are)."""
    return {
        who.id: p.start_episode(who, client_ref=f"client-of-{who.id}", clinician_id=who.id, opened_on=MOVED)
        for who in (OWN, NEW, OTHER)
    }


def _ids(rows: list[CaseloadRow]) -> list[str]:
    return [row.episode_id for row in rows]


def _listed(p: Practice, reader: Actor, ep: str, **query: Any) -> CaseloadRow | None:
    found = [row for row in p.caseload(reader, **query) if row.episode_id == ep]
    assert len(found) <= 1
    return found[0] if found else None


def assert_filtered_is_the_clinics(p: Practice, reader: Actor) -> None:
    """Each clinician's caseload as ``reader`` reads it is the clinic's caseload's rows of that clinician."""
    for closed_too in (False, True):
        clinic = p.caseload(reader, include_closed=closed_too)
        for clinician in CLINICIANS:
            mine = [row for row in clinic if row.clinician_id == clinician]
            assert p.caseload(reader, clinician_id=clinician, include_closed=closed_too) == mine


#: Directives that withhold the transfer from the supervisor.
WITHHOLDING: dict[str, dict[str, Any]] = {
    "administrative": {"scope": "class", "classes": ["administrative"]},
    "administrative-for-the-supervisor": {
        "scope": "class",
        "classes": ["administrative"],
        "recipients": [SUPERVISOR.id],
    },
}


@pytest.mark.parametrize("case", sorted(WITHHOLDING))
def test_a_transfer_withheld_lists_the_episode_under_the_earlier_clinician(
    practice: Practice, case: str
) -> None:
    ep = _transferred(practice)
    others = _others(practice)
    # shared: the episode is clin-b's in every list (the check below can fail)
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=NEW.id)) == sorted([ep, others[NEW.id]])
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=OWN.id)) == [others[OWN.id]]
    practice.set_lockbox(NEW, ep, on=MOVED, **WITHHOLDING[case])
    row = _listed(practice, SUPERVISOR, ep)
    assert row is not None
    assert (row.clinician_id, row.stage) == (OWN.id, "active")
    assert practice.episode(SUPERVISOR, ep).clinician_id == OWN.id  # as their summary says
    # one clinician's caseload lists it as the clinic's does: under clin-a, not under clin-b
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=OWN.id)) == sorted([ep, others[OWN.id]])
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=NEW.id)) == [others[NEW.id]]
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=OTHER.id)) == [others[OTHER.id]]
    assert _listed(practice, SUPERVISOR, ep, clinician_id=OWN.id) == row
    assert _listed(practice, SUPERVISOR, ep, clinician_id=OWN.id, include_closed=True) == row
    assert_filtered_is_the_clinics(practice, SUPERVISOR)


def test_the_treating_clinicians_lists_stay_as_they_are(practice: Practice) -> None:
    """The lockbox does not apply to the clinician of record: the episode is clin-b's in clin-b's list. clin-a
    reads only their own caseload, which has never listed an episode transferred away from them."""
    ep = _transferred(practice)
    others = _others(practice)
    practice.set_lockbox(NEW, ep, scope="class", classes=["administrative"], on=MOVED)
    for closed_too in (False, True):
        row = _listed(practice, NEW, ep, include_closed=closed_too)
        assert row is not None
        assert row.clinician_id == NEW.id
        assert _ids(practice.caseload(NEW, include_closed=closed_too)) == sorted([ep, others[NEW.id]])
        assert practice.caseload(NEW, clinician_id=NEW.id, include_closed=closed_too) == practice.caseload(
            NEW, include_closed=closed_too
        )
        assert _ids(practice.caseload(OWN, include_closed=closed_too)) == [others[OWN.id]]
        assert _ids(practice.caseload(OWN, clinician_id=OWN.id, include_closed=closed_too)) == [
            others[OWN.id]
        ]
        assert _ids(practice.caseload(OTHER, include_closed=closed_too)) == [others[OTHER.id]]
    # the same store and moment: the supervisor does see it under clin-a (the check can fail)
    assert ep in _ids(practice.caseload(SUPERVISOR, clinician_id=OWN.id))


def test_a_team_supervisor_gets_no_row_through_a_clinician_outside_the_team(practice: Practice) -> None:
    """sup-2 leads clin-a alone and may not read the episode, now clin-b's: clin-a's caseload does not bring
    it to them, even though a directive withholds the transfer from everyone but the treating clinician."""
    ep = _transferred(practice)
    others = _others(practice)
    practice.set_lockbox(NEW, ep, scope="class", classes=["administrative"], on=MOVED)
    with pytest.raises(AccessDenied):
        practice.episode(TEAM_LEAD, ep)
    for closed_too in (False, True):
        assert _ids(practice.caseload(TEAM_LEAD, clinician_id=OWN.id, include_closed=closed_too)) == [
            others[OWN.id]
        ]
    assert ep in _ids(practice.caseload(SUPERVISOR, clinician_id=OWN.id))  # the check can fail


def test_a_closed_episode_whose_transfer_and_closing_are_withheld(practice: Practice) -> None:
    """Withheld transfer and closing: open and clin-a's to the supervisor in every list; with the transfer
    alone withheld, closed and clin-a's (in the lists with the closed episodes only)."""
    ep = _transferred(practice, closed=True)
    _others(practice)
    directive = practice.set_lockbox(NEW, ep, scope="class", classes=["administrative", "ending"], on=ENDED)
    row = _listed(practice, SUPERVISOR, ep, clinician_id=OWN.id)
    assert row is not None
    assert (row.clinician_id, row.closed_on) == (OWN.id, None)
    assert _listed(practice, SUPERVISOR, ep, clinician_id=NEW.id, include_closed=True) is None
    assert_filtered_is_the_clinics(practice, SUPERVISOR)
    assert directive.record_id is not None
    practice.lift_lockbox(NEW, ep, directive.record_id, on=ENDED)
    practice.set_lockbox(NEW, ep, scope="class", classes=["administrative"], on=ENDED)
    assert _listed(practice, SUPERVISOR, ep, clinician_id=OWN.id) is None
    row = _listed(practice, SUPERVISOR, ep, clinician_id=OWN.id, include_closed=True)
    assert row is not None
    assert (row.clinician_id, row.closed_on) == (OWN.id, ENDED)
    assert _listed(practice, SUPERVISOR, ep, clinician_id=NEW.id, include_closed=True) is None
    assert_filtered_is_the_clinics(practice, SUPERVISOR)


def test_a_directive_that_shares_the_transfer_keeps_the_episode_the_new_clinicians(
    practice: Practice,
) -> None:
    """A directive that leaves the transfer shared (another class, another recipient): clin-b's everywhere."""
    ep = _transferred(practice)
    others = _others(practice)
    practice.set_lockbox(NEW, ep, scope="class", classes=["sessions"], on=MOVED)
    practice.set_lockbox(
        NEW, ep, scope="class", classes=["administrative"], recipients=["hospital-x"], on=MOVED
    )
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=OWN.id)) == [others[OWN.id]]
    assert _ids(practice.caseload(SUPERVISOR, clinician_id=NEW.id)) == sorted([ep, others[NEW.id]])
    assert_filtered_is_the_clinics(practice, SUPERVISOR)
