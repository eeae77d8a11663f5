"""``record_client_response``: what a client filled in elsewhere (on paper, in another system), recorded by
their clinician through the guarded path, on a real SQLite file. It is the same event as an answer through a
link (scores, alerts and reports treat it the same), in a session or between sessions; every bad input is
refused naming field and rule, writing nothing and echoing nothing; a key makes it idempotent; a batch takes
it; the research export lists it as client-reported."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Actor, Administration, Ending, Practice, Session
from alliancekit.errors import IdempotencyKeyReused, LifecycleError, ValidationError
from alliancekit.exports.research import export_research

from .test_client_measures import CANARY, CLINIC, DAY, LOW, ME, RISK, T0, Clinic, Clock, _episode, _practice

#: 07:30 in Berlin on the day before the clock's day: the client filled the form in at home
ANSWERED = datetime(2026, 5, 31, 5, 30, tzinfo=UTC)


def phq9(answers: dict[str, Any], timing: str = "start", **more: Any) -> Administration:
    return Administration("phq-9", "1.0", timing, answers, **more)


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[Clinic]:
    clock = Clock()
    with _practice(tmp_path / "p.sqlite", clock) as p:
        yield Clinic(p, clock, _episode(p))


def _responses(p: Practice, ep: str) -> list[Any]:
    return [e for e in p.timeline(ME, ep) if e.type == "client-response-recorded"]


def test_between_sessions_it_is_the_event_a_link_makes_dated_when_the_client_answered(clinic: Clinic) -> None:
    recorded = clinic.p.record_client_response(ME, clinic.ep, phq9(LOW), responded_at=ANSWERED)
    [entry] = _responses(clinic.p, clinic.ep)
    event = entry.event
    assert recorded.version == entry.seq
    assert (entry.actor_id, entry.actor_role, entry.occurred_at) == (ME.id, "clinician", T0)
    assert event.request_id is None
    assert (event.responded_at, event.responded_on) == (ANSWERED, date(2026, 5, 31))
    assert (event.point.value, event.session_id, event.at_session) == ("start", None, 1)
    [score] = event.scores
    assert (score.measure_id, score.total) == ("phq-9", 8.0)

    # the same answers through a link in another episode: the same scores
    other = _episode(clinic.p, "client-2")
    made = clinic.p.request_administration(ME, other, measure="phq-9")
    assert made.token is not None
    clinic.p.submit_response(made.token, answers=LOW)
    [linked] = _responses(clinic.p, other)
    assert linked.event.scores == event.scores
    assert linked.event.responded_at == T0  # a link's answer is dated when it was submitted


def test_a_risk_item_raises_the_same_alert_as_through_a_link(clinic: Clinic) -> None:
    clinic.p.record_client_response(ME, clinic.ep, phq9(RISK), responded_at=ANSWERED)
    other = _episode(clinic.p, "client-2")
    made = clinic.p.request_administration(ME, other, measure="phq-9")
    assert made.token is not None
    clinic.p.submit_response(made.token, answers=RISK)
    rules = [sorted(a.rule_id for a in clinic.p.alerts(ME, ep).values()) for ep in (clinic.ep, other)]
    assert rules[0] == rules[1]
    assert "risk-item-endorsed" in rules[0]


def test_in_a_session_it_counts_at_that_session_and_defaults_to_its_end(clinic: Clinic) -> None:
    session = Session(held_on=DAY, modality="video", attendance="attended")
    session_id = clinic.p.record_session(ME, clinic.ep, session).record_id
    assert session_id is not None
    clinic.p.record_session(ME, clinic.ep, Session(held_on=DAY, modality="video", attendance="no-show"))
    clinic.p.record_client_response(ME, clinic.ep, phq9(LOW, "end"), responded_at=T0, session_id=session_id)
    clinic.p.record_client_response(ME, clinic.ep, phq9(LOW, "end"), responded_at=T0)
    given, between = (e.event for e in _responses(clinic.p, clinic.ep))
    assert (given.point.value, given.session_id, given.at_session) == ("end", session_id, 1)
    assert (between.point.value, between.session_id, between.at_session) == ("between", None, 2)


_BAD: list[tuple[str, dict[str, Any], str, str]] = [
    ("naive time", {"responded_at": datetime(2026, 5, 31, 7, 30)}, "responded_at", "timezone-aware"),  # noqa: DTZ001
    ("time as text", {"responded_at": "2026-05-31T07:30:00+02:00"}, "responded_at", "type"),
    # the clinic's today is 1 June (Berlin); 2 June 00:30 there is 1 June 22:30 UTC: tomorrow already
    ("tomorrow", {"responded_at": datetime(2026, 6, 1, 22, 30, tzinfo=UTC)}, "responded_at", "future"),
    # malformed, so no lookup (an unknown session is a failed lookup: test_unknown_record_audit.py)
    ("session id not an id", {"session_id": f"{CANARY} "}, "session_id", "whitespace"),
    ("point outside the list", {"point": "whenever"}, "point", "enum"),
    (
        "start point, end timing",
        {"administration": phq9(LOW, "end"), "point": "start"},
        "point",
        "timing-mismatch",
    ),
    (
        "a parent's ratings",
        {"administration": phq9(LOW, rater="parent")},
        "administration.rater",
        "not-the-client",
    ),
    ("not an administration", {"administration": {"measure": "phq-9"}}, "administration", "type"),
]


@pytest.mark.parametrize(("name", "change", "field", "rule"), _BAD, ids=[b[0] for b in _BAD])
def test_bad_input_names_field_and_rule_and_writes_nothing(
    clinic: Clinic, name: str, change: dict[str, Any], field: str, rule: str
) -> None:
    before = clinic.written()
    args: dict[str, Any] = {"administration": phq9(LOW), "responded_at": ANSWERED, **change}
    administration = args.pop("administration")
    with pytest.raises(ValidationError) as caught:
        clinic.p.record_client_response(ME, clinic.ep, administration, **args)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert CANARY not in str(caught.value)
    assert clinic.written() == before


def test_answers_out_of_range_are_refused_by_the_measure_and_nothing_is_written(clinic: Clinic) -> None:
    before = clinic.written()
    with pytest.raises(ValidationError) as caught:
        clinic.p.record_client_response(ME, clinic.ep, phq9(LOW | {"q1": 7}), responded_at=ANSWERED)
    assert "q1" in str(caught.value.field)
    assert clinic.written() == before


def test_a_closed_episode_takes_no_response(clinic: Clinic) -> None:
    clinic.p.close_episode(ME, clinic.ep, Ending(DAY, planned=False, reason="withdrawal"))
    before = clinic.written()
    with pytest.raises(LifecycleError):
        clinic.p.record_client_response(ME, clinic.ep, phq9(LOW), responded_at=ANSWERED)
    assert clinic.written() == before


def test_the_same_key_writes_once_and_another_request_under_it_is_refused(clinic: Clinic) -> None:
    first = clinic.p.record_client_response(
        ME, clinic.ep, phq9(LOW), responded_at=ANSWERED, idempotency_key="paper-form-1"
    )
    again = clinic.p.record_client_response(
        ME, clinic.ep, phq9(LOW), responded_at=ANSWERED, idempotency_key="paper-form-1"
    )
    assert (again.episode_id, again.version, again.duplicate) == (first.episode_id, first.version, True)
    assert len(_responses(clinic.p, clinic.ep)) == 1
    before = clinic.written()
    with pytest.raises(IdempotencyKeyReused):
        clinic.p.record_client_response(
            ME, clinic.ep, phq9(RISK), responded_at=ANSWERED, idempotency_key="paper-form-1"
        )
    assert clinic.written() == before
    assert len(_responses(clinic.p, clinic.ep)) == 1


def test_a_batch_records_responses_as_the_facade_does(clinic: Clinic) -> None:
    other = _episode(clinic.p, "client-2")
    with clinic.p.batch() as batch:
        for ep in (clinic.ep, other):
            batch.record_client_response(ME, ep, phq9(LOW), responded_at=ANSWERED, idempotency_key=ep)
    for ep in (clinic.ep, other):
        [entry] = _responses(clinic.p, ep)
        assert entry.event.responded_at == ANSWERED


def test_another_clinician_may_not_record_for_the_client(clinic: Clinic) -> None:
    from alliancekit.errors import AccessDenied

    stranger = Actor("clin-9", "clinician", CLINIC)
    with pytest.raises(AccessDenied):
        clinic.p.record_client_response(stranger, clinic.ep, phq9(LOW), responded_at=ANSWERED)
    assert _responses(clinic.p, clinic.ep) == []


def test_the_research_export_lists_it_as_client_reported(clinic: Clinic, tmp_path: Path) -> None:
    session = Session(
        held_on=DAY,
        modality="video",
        attendance="attended",
        administrations=(phq9(RISK),),
    )
    clinic.p.record_session(ME, clinic.ep, session)
    clinic.clock.now = T0 + timedelta(days=3)
    clinic.p.record_client_response(ME, clinic.ep, phq9(LOW, "end"), responded_at=T0 + timedelta(days=2))
    reader = Actor("sup", "supervisor", CLINIC, "quality-improvement")
    export_research(clinic.p, reader, tmp_path / "out", identified=True)
    with (tmp_path / "out" / "administrations.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["held_on"], r["client_reported"], r["total"]) for r in rows] == [
        ("2026-06-01", "false", "10.0"),
        ("2026-06-03", "true", "8.0"),
    ]
    reported = rows[1]
    assert (reported["session_number"], reported["modality"], reported["timing"]) == ("1", "", "end")
