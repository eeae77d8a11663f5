"""The open caseload under a lockbox: an episode whose closing a directive withholds from a reader is open to
that reader, so their open caseload lists it (its absence would tell them it closed), shown as their
timeline has it. To the treating clinician, whom the lockbox does not apply to, closed is closed. A closed
episode without a directive, or under one that leaves its closing shared with the reader, stays out. On an
SQLite file and on PostgreSQL, and through ``alliancekit caseload``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Ending, Role
from alliancekit.store.protocol import CaseloadRow

from .helpers import CLINIC, REAL_STORES, Clock, active_episode, on_real_store

OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
ENDED = date(2026, 3, 2)


@pytest.fixture(params=REAL_STORES)
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    with on_real_store(request, tmp_path) as p:
        yield p


def _closed(p: Practice) -> str:
    """clin-a's episode in active therapy, then ended as planned."""
    ep = active_episode(p).episode_id
    p.plan_ending(OWN, ep, on=date(2026, 2, 9), target_date=ENDED)
    p.close_episode(OWN, ep, Ending(ended_on=ENDED, planned=True, reason="goals-met", no_plan_reason="none"))
    return ep


def _open_ids(p: Practice, actor: Actor, **query: Any) -> list[str]:
    return [row.episode_id for row in p.caseload(actor, **query)]


def _row(p: Practice, actor: Actor, ep: str, **query: Any) -> CaseloadRow:
    (row,) = (r for r in p.caseload(actor, **query) if r.episode_id == ep)
    return row


#: Directives that withhold the closing from the supervisor, and the stage their timeline shows then.
WITHHOLDING: dict[str, tuple[dict[str, Any], str]] = {
    "ending": ({"scope": "class", "classes": ["ending"]}, "active"),
    "ending-for-the-supervisor": (
        {"scope": "class", "classes": ["ending"], "recipients": ["sup-1"]},
        "active",
    ),
    "whole-record": ({"scope": "record"}, "consultation"),  # the frame: the opening alone
}


@pytest.mark.parametrize("case", sorted(WITHHOLDING))
def test_an_episode_whose_closing_is_withheld_is_open_in_the_supervisors_open_caseload(
    practice: Practice, case: str
) -> None:
    directive, stage = WITHHOLDING[case]
    ep = _closed(practice)
    assert _open_ids(practice, SUPERVISOR) == []  # closed and shared as closed: the check can fail
    practice.set_lockbox(OWN, ep, on=ENDED, **directive)
    assert _open_ids(practice, SUPERVISOR) == [ep]
    row = _row(practice, SUPERVISOR, ep)
    assert (row.stage, row.closed_on, row.ending_reason) == (stage, None, None)
    # the same row as the whole caseload shows, and as their own summary of the episode says
    assert row == _row(practice, SUPERVISOR, ep, include_closed=True)
    assert practice.episode(SUPERVISOR, ep).stage.value == stage
    # one clinician's open caseload, asked for by the supervisor, lists it the same way
    assert _open_ids(practice, SUPERVISOR, clinician_id=OWN.id) == [ep]
    assert _open_ids(practice, SUPERVISOR, clinician_id="clin-b") == []


def test_the_treating_clinicians_open_caseload_leaves_it_out(practice: Practice) -> None:
    """The lockbox does not apply to the clinician of record acting for treatment: closed is closed."""
    ep = _closed(practice)
    practice.set_lockbox(OWN, ep, scope="class", classes=["ending"], on=ENDED)
    assert _open_ids(practice, OWN) == []
    assert _open_ids(practice, OWN, clinician_id=OWN.id) == []
    row = _row(practice, OWN, ep, include_closed=True)
    assert (row.stage, row.closed_on, row.ending_reason) == ("closed", ENDED, "goals-met")
    assert _open_ids(practice, SUPERVISOR) == [ep]  # the same store and moment: the check can fail


def test_a_closed_episode_without_a_directive_is_out_of_both(practice: Practice) -> None:
    ep = _closed(practice)
    still_open = practice.start_episode(OWN, client_ref="client-2", clinician_id=OWN.id, opened_on=ENDED)
    for reader in (SUPERVISOR, OWN):
        assert _open_ids(practice, reader) == [still_open]
        assert sorted(_open_ids(practice, reader, include_closed=True)) == sorted([ep, still_open])


#: Directives in force on the closed episode that leave its closing shared with the supervisor.
SHARING_THE_CLOSING: dict[str, dict[str, Any]] = {
    "sessions": {"scope": "class", "classes": ["sessions"]},
    "ending-for-another-recipient": {"scope": "class", "classes": ["ending"], "recipients": ["hospital-x"]},
}


@pytest.mark.parametrize("case", sorted(SHARING_THE_CLOSING))
def test_a_directive_that_shares_the_closing_leaves_it_out(practice: Practice, case: str) -> None:
    ep = _closed(practice)
    practice.set_lockbox(OWN, ep, on=ENDED, **SHARING_THE_CLOSING[case])
    for reader in (SUPERVISOR, OWN):
        assert _open_ids(practice, reader) == []
        row = _row(practice, reader, ep, include_closed=True)
        assert (row.stage, row.closed_on) == ("closed", ENDED)


def test_a_lifted_directive_leaves_it_out_again(practice: Practice) -> None:
    ep = _closed(practice)
    directive = practice.set_lockbox(OWN, ep, scope="class", classes=["ending"], on=ENDED)
    assert _open_ids(practice, SUPERVISOR) == [ep]
    assert directive.record_id is not None
    practice.lift_lockbox(OWN, ep, directive.record_id, on=ENDED)
    assert _open_ids(practice, SUPERVISOR) == []


def test_the_cli_caseload_lists_it_open(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``alliancekit caseload`` reads as a supervisor: the open list shows what the whole list shows."""
    db = tmp_path / "p.sqlite"
    with open_practice(db, clock=Clock()) as p:
        ep = _closed(p)

    def listed(*extra: str) -> list[dict[str, Any]]:
        capsys.readouterr()
        assert main(["caseload", "--db", str(db), "--json", *extra]) == 0
        rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
        return rows

    assert listed() == []
    with open_practice(db, clock=Clock()) as p:
        p.set_lockbox(OWN, ep, scope="class", classes=["ending"], on=ENDED)
    (row,) = listed()
    assert (row["episode_id"], row["stage"], row["closed_on"]) == (ep, "active", None)
    assert listed("--all") == [row]
