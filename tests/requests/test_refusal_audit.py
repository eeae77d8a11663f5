"""A refused use of a known request (expired, used, revoked, its episode closed) is a failed access attempt
on a client's record: one ``refused`` entry in the request's clinic, naming the request and the reason, and
neither the token nor the client. A token that names no request writes nothing (no clinic to file it in,
and anyone could fill the log with guesses)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Actor, Consent, Consultation, FitDecision, GoalDraft, Practice
from alliancekit.core.requests import lifecycle_reason
from alliancekit.domain import Ending, Purpose, Role
from alliancekit.errors import InvalidToken, LifecycleError
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

DAY = date(2026, 6, 1)
T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
CLIENT = "client-CANARY-51"
LOW = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
NORTH, SOUTH = Actor("clin-1", "clinician", "north"), Actor("clin-2", "clinician", "south")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Setup:
    def __init__(self, p: Practice, clock: Clock) -> None:
        self.p, self.clock = p, clock
        self.ep = self.episode(SOUTH)  # a second clinic: each entry must land in the request's own

    def episode(self, me: Actor) -> str:
        p = self.p
        ep = p.start_episode(me, client_ref=CLIENT, clinician_id=me.id, opened_on=DAY)
        p.record_consultation(
            me, ep, Consultation(held_on=DAY, modality="video", consent=Consent(True, True))
        )
        p.decide_fit(me, ep, FitDecision("proceed", DAY))
        p.agree_goals(me, ep, [GoalDraft("sleep better", ())], agreed_on=DAY)
        return ep

    def close(self) -> None:
        self.p.plan_ending(SOUTH, self.ep, on=DAY)
        ending = Ending(ended_on=DAY, planned=True, reason="goals-met", no_plan_reason="moved away")
        self.p.close_episode(SOUTH, self.ep, ending)

    def refused(self, call: Callable[[], Any]) -> list[AuditRecord]:
        """The call is refused, writes nothing to the stream or outbox; the audit entries it wrote."""
        s = self.p.store
        before, events, outbox = set(s.audit_records()), len(s.load_events(self.ep)), len(s.outbox_records())
        with pytest.raises(InvalidToken):
            call()
        assert (len(s.load_events(self.ep)), len(s.outbox_records())) == (events, outbox)
        return [r for r in s.audit_records() if r not in before]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    clock = Clock()
    with Practice(SQLiteStore(tmp_path / "p.sqlite"), clock=clock) as p:
        yield Setup(p, clock)


def _made(setup: Setup, reason: str) -> tuple[str, str]:
    """A request of SOUTH's episode made unusable for ``reason``: its id and token."""
    p = setup.p
    made = p.request_administration(SOUTH, setup.ep, measure="phq-9", expires_in=timedelta(hours=1))
    assert made.token is not None
    if reason == "used":
        p.submit_response(made.token, answers=LOW)
    elif reason == "revoked":
        p.revoke_request(SOUTH, setup.ep, made.request_id)
    elif reason == "expired":
        setup.clock.now = made.expires_at  # refused from the exact instant
    else:
        setup.close()
    return made.request_id, made.token


def _assert_one_entry(
    entries: list[AuditRecord], action: str, request_id: str, reason: str, secret: str
) -> None:
    (entry,) = entries
    assert (entry.clinic_id, entry.action, entry.record_type, entry.record_id) == (
        "south",
        action,
        "request",
        request_id,
    )
    assert (entry.outcome, entry.detail, entry.client_ref) == ("refused", reason, "")
    assert entry.actor_id == "(none)"  # whoever holds the token is not known to be the client
    stored = repr(attrs.astuple(entry))
    assert secret not in stored
    assert CLIENT not in stored


@pytest.mark.parametrize("reason", ["expired", "used", "revoked", "closed"])
@pytest.mark.parametrize(
    ("action", "use"),
    [
        ("open-request", lambda p, t: p.open_request(t)),
        ("answer-measures", lambda p, t: p.submit_response(t, answers=LOW)),
    ],
)
def test_a_refused_use_of_a_known_request_is_audited_once_in_its_clinic(
    setup: Setup, reason: str, action: str, use: Callable[[Practice, str], Any]
) -> None:
    setup.episode(NORTH)
    request_id, token = _made(setup, reason)
    entries = setup.refused(lambda: use(setup.p, token))
    with pytest.raises(InvalidToken) as again:
        use(setup.p, token)
    assert again.value.__cause__ is None
    assert again.value.__suppress_context__  # no chained error tells a traceback's reader why
    _assert_one_entry(entries, action, request_id, reason, token)
    south_admin = Actor("adm-s", Role.ADMINISTRATOR, "south", Purpose.OPERATIONS)
    north_admin = Actor("adm-n", Role.ADMINISTRATOR, "north", Purpose.OPERATIONS)
    seen = {r.entry_id for r in setup.p.audit_entries(south_admin)}
    assert entries[0].entry_id in seen
    assert entries[0].entry_id not in {r.entry_id for r in setup.p.audit_entries(north_admin)}
    assert setup.p.verify(south_admin).ok


def test_a_second_submission_is_audited_as_used(setup: Setup) -> None:
    made = setup.p.request_administration(SOUTH, setup.ep, measure="phq-9")
    assert made.token is not None
    token = made.token
    setup.p.submit_response(token, answers=LOW)
    entries = setup.refused(lambda: setup.p.submit_response(token, answers=LOW))
    _assert_one_entry(entries, "answer-measures", made.request_id, "used", token)


def test_a_request_the_store_refuses_at_the_commit_is_audited(setup: Setup, tmp_path: Path) -> None:
    # The flow sees it live; it has expired by the commit (the store's conditional write refuses it).
    made = setup.p.request_administration(SOUTH, setup.ep, measure="phq-9", expires_in=timedelta(hours=1))
    assert made.token is not None
    token = made.token
    ticks = iter([made.expires_at - timedelta(microseconds=1)])
    with Practice(SQLiteStore(tmp_path / "p.sqlite"), clock=lambda: next(ticks, made.expires_at)) as late:
        entries = setup.refused(lambda: late.submit_response(token, answers=LOW))
    _assert_one_entry(entries, "answer-measures", made.request_id, "expired", token)


def test_a_kiosk_code_of_a_closed_episode_is_audited_as_closed(setup: Setup) -> None:
    kiosk = setup.p.kiosk_code(SOUTH, setup.ep, measure="phq-9")
    setup.close()
    entries = setup.refused(lambda: setup.p.redeem_kiosk_code("south", kiosk.code, source="tablet-1"))
    _assert_one_entry(entries, "redeem-kiosk-code", kiosk.request_id, "closed", kiosk.code)


@pytest.mark.parametrize("use", ["open", "submit"])
def test_a_forged_token_writes_nothing(setup: Setup, use: str) -> None:
    forged = "x" * 40
    call = (
        (lambda: setup.p.open_request(forged))
        if use == "open"
        else (lambda: setup.p.submit_response(forged, answers=LOW))
    )
    assert setup.refused(call) == []


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("episode-closed", "closed"),
        ("episode-on-hold", "lifecycle-episode-on-hold"),
        ("date-order", "lifecycle-date-order"),
        ("stage", "lifecycle-stage"),
        ("a" * 40, f"lifecycle-{'a' * 40}"),
        ("a" * 41, "lifecycle"),  # not an identifier: a fixed code, not the text
        (f"says {CLIENT}", "lifecycle"),
        ("", "lifecycle"),
    ],
)
def test_a_submission_a_lifecycle_rule_refuses_is_audited_with_that_rule(rule: str, reason: str) -> None:
    # Only a closed episode refuses a response today (seen closed before the commit, or closed meanwhile);
    # any other rule that comes to refuse one is audited as itself, not as "closed".
    assert lifecycle_reason(LifecycleError(rule, f"refused for {CLIENT}")) == reason
