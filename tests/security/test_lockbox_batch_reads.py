"""A batch's reads under the lockbox: each read a :class:`~alliancekit.batch.Batch` offers returns, inside the
batch, exactly what the same facade read returns once the batch is committed, when the directive, or what it
withholds, is held in the batch and not written yet. On an SQLite file and on PostgreSQL."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.batch import Batch
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import Actor, Consent, Consultation, Ending, Role, RuptureNote, Session
from alliancekit.domain.vocab import RuptureCause, RuptureKind, RuptureMarker

from .helpers import CLINIC, REAL_STORES, active_episode, on_real_store, ors

OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
READERS = {
    "supervisor": Actor("sup-1", Role.SUPERVISOR, CLINIC),
    "clinician-of-record": OWN,  # the lockbox does not apply: the held state whole, on both sides
}
DIRECTIVE_DAY = date(2026, 5, 1)

#: Every read a batch offers, as the facade's read of the same name is called (a test checks the list).
READS: dict[str, Callable[[Any, Actor, str], Any]] = {
    "episode": lambda target, actor, ep: target.episode(actor, ep),
    "alerts": lambda target, actor, ep: target.alerts(actor, ep),
}


def _session(target: Any, ep: str) -> None:
    """A session whose low scores raise alerts."""
    target.record_session(
        OWN,
        ep,
        Session(
            held_on=date(2026, 5, 4), modality="video", attendance="attended", administrations=(ors(1.0),)
        ),
    )


def _session_and_rupture(target: Any, ep: str) -> None:
    _session(target, ep)
    target.note_rupture(
        OWN,
        ep,
        RuptureNote(
            noted_on=date(2026, 5, 4),
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.TOPIC_SHIFT,),
            likely_cause=RuptureCause.OTHER,
            description="synthetic text",
        ),
    )


def _close(target: Any, ep: str) -> None:
    target.plan_ending(OWN, ep, on=date(2026, 5, 2), target_date=date(2026, 5, 20))
    target.close_episode(
        OWN, ep, Ending(ended_on=date(2026, 5, 20), planned=True, reason="goals-met", no_plan_reason="none")
    )


def _directive(**args: Any) -> Callable[[Any, str], None]:
    return lambda target, ep: target.set_lockbox(OWN, ep, on=DIRECTIVE_DAY, **args)


def _nothing(target: Any, ep: str) -> None:
    return None


#: Each case: what is stored before the batch, then what the batch holds when it is read.
CASES: dict[str, tuple[Callable[[Any, str], None], Callable[[Any, str], None]]] = {
    "whole-record set in the batch": (_nothing, _directive(scope="record")),
    "ruptures class set in the batch": (_nothing, _directive(scope="class", classes=["ruptures"])),
    "sessions class set in the batch": (_nothing, _directive(scope="class", classes=["sessions"])),
    "ending class stored, closing in the batch": (_directive(scope="class", classes=["ending"]), _close),
    "ruptures class stored, alerting session in the batch": (
        _directive(scope="class", classes=["ruptures"]),
        _session,
    ),
    "sessions class stored, session and rupture in the batch": (
        _directive(scope="class", classes=["sessions"]),
        _session_and_rupture,
    ),
}


@pytest.fixture(params=REAL_STORES)
def practice(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    with on_real_store(request, tmp_path) as p:
        yield p


def test_the_reads_compared_are_every_read_a_batch_offers() -> None:
    public = {n for n, f in vars(Batch).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert public - set(COMMANDS) - {"flush"} == set(READS)


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("read", sorted(READS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_read_in_the_batch_is_the_facades_after_the_commit(
    practice: Practice, case: str, read: str, reader: str
) -> None:
    stored, held = CASES[case]
    ep = active_episode(practice).episode_id
    stored(practice, ep)
    actor = READERS[reader]
    with practice.batch() as batch:
        held(batch, ep)
        inside = READS[read](batch, actor, ep)
    assert inside == READS[read](practice, actor, ep)


def test_what_the_comparison_sees_differs_by_reader_and_case(practice: Practice) -> None:
    """The comparison can fail: under each case the supervisor's read in the batch leaves out what the
    clinician of record's shows."""
    for case, (stored, held) in CASES.items():
        ep = active_episode(practice).episode_id
        stored(practice, ep)
        with practice.batch() as batch:
            held(batch, ep)
            own, theirs = batch.episode(OWN, ep), batch.episode(READERS["supervisor"], ep)
        assert own != theirs, case
    assert own.alerts  # the last case's alerting session: the alerts compared are there to compare


@pytest.mark.parametrize("read", sorted(READS))
def test_an_episode_opened_in_the_batch_under_a_directive_set_there(practice: Practice, read: str) -> None:
    """Nothing of the episode is stored yet: what the batch holds is all the lockbox decides on."""
    supervisor = READERS["supervisor"]
    with practice.batch() as batch:
        ep = batch.start_episode(
            OWN, client_ref="client-9", clinician_id="clin-a", opened_on=date(2026, 1, 5)
        )
        batch.record_consultation(
            OWN,
            ep,
            Consultation(
                held_on=date(2026, 1, 5),
                modality="video",
                consent=Consent(treatment=True, measures=True),
                presenting_concerns=("synthetic text",),
            ),
        )
        _directive(scope="record")(batch, ep)
        inside = READS[read](batch, supervisor, ep)
    assert inside == READS[read](practice, supervisor, ep)
