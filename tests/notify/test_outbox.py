"""Outbox messages: derived from the committed events, written in the same transaction, minimum content."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any, ClassVar

import attrs
import pytest

from alliancekit.domain import Administration, Session
from alliancekit.domain.vocab import AdministrationTiming
from alliancekit.errors import StoreError, ValidationError
from alliancekit.notify import Subscriptions, messages_for
from alliancekit.notify.outbox import ALL_KINDS, message_id
from alliancekit.practice import Practice
from alliancekit.store.protocol import OutboxRecord, OutboxState, StoredEvent
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.notifier import CANARY, RecordingChannel, episode_with_notifications

ALLOWED_BODY_KEYS = {
    "v",
    "message_id",
    "kind",
    "episode_id",
    "clinic_id",
    "clinician_id",
    "occurred_at",
    "alert_id",
    "rule_id",
    "severity",
}


@attrs.frozen
class StandInAlertRaised:
    """Shaped like the feedback engine's ``alert-raised`` event; not registered as an event type."""

    TYPE: ClassVar[str] = "alert-raised"
    VERSION: ClassVar[int] = 1
    alert_id: str
    rule_id: str
    severity: str
    detail: str = attrs.field(default=CANARY, repr=False)
    score: float = 7.5


def _stored(event: Any, seq: int = 1) -> StoredEvent:
    at = datetime(2026, 2, 2, 12, tzinfo=UTC)
    return StoredEvent(
        "ep-1", seq, f"ev-{seq}", event.TYPE, 1, at, at, "clin-n", "clinician", "clinic-n", "{}"
    )


STATE = SimpleNamespace(clinic_id="clinic-n", clinician_id="clin-n")


def test_alert_raised_by_type_name_carries_rule_and_severity_only() -> None:
    event = StandInAlertRaised("alert-9", "alliance-below-cutoff", "red")
    subs = Subscriptions.of({"email": ["alert-raised"], "hook": ["alert-raised"]})
    records = messages_for([(_stored(event), event)], STATE, subs)  # type: ignore[arg-type]
    assert [(r.kind, r.channel) for r in records] == [("alert-raised", "email"), ("alert-raised", "hook")]
    body = json.loads(records[0].body_json)
    assert set(body) <= ALLOWED_BODY_KEYS
    assert (body["rule_id"], body["severity"], body["alert_id"]) == (
        "alliance-below-cutoff",
        "red",
        "alert-9",
    )
    assert CANARY not in records[0].body_json
    assert "7.5" not in records[0].body_json
    assert body["message_id"] == records[0].message_id == message_id("ev-1", "alert-raised", "email")
    assert records[0].message_id != records[1].message_id


def test_alert_codes_that_are_not_short_identifiers_are_left_out() -> None:
    event = StandInAlertRaised("alert 9", f"rule {CANARY}", "x" * 500)
    records = messages_for(
        [(_stored(event), event)],
        STATE,  # type: ignore[arg-type]
        Subscriptions.of({"email": ["alert-raised"]}),
    )
    body = json.loads(records[0].body_json)
    assert "rule_id" not in body
    assert "severity" not in body
    assert "alert_id" not in body


def test_unsubscribed_kinds_and_no_subscriptions_make_nothing() -> None:
    event = StandInAlertRaised("a", "r", "amber")
    assert messages_for([(_stored(event), event)], STATE, Subscriptions()) == []  # type: ignore[arg-type]
    only_closed = Subscriptions.of({"email": ["episode-closed"]})
    assert messages_for([(_stored(event), event)], STATE, only_closed) == []  # type: ignore[arg-type]


def test_subscriptions_refuse_unknown_kinds() -> None:
    with pytest.raises(ValidationError) as caught:
        Subscriptions.of({"email": ["everything"]})
    assert caught.value.field == "subscriptions"


def test_lifecycle_facts_make_messages_in_the_same_commit(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    clock.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # the episode's day: none may be after today
    channel = RecordingChannel("email")
    practice: Practice = practice_for(channel, kinds=ALL_KINDS)
    ep = episode_with_notifications(practice, kit.actor)
    records = practice.store.outbox_records()
    assert sorted(r.kind for r in records) == ["episode-closed", "rupture-noted", "session-no-show"]
    events = {e.event_id for e in practice.store.load_events(ep)}
    for record in records:
        assert record.state is OutboxState.PENDING
        assert record.attempts == 0
        assert record.episode_id == ep
        assert record.channel == "email"
        body = json.loads(record.body_json)
        assert set(body) <= ALLOWED_BODY_KEYS
        assert CANARY not in record.body_json
        assert "contract-client" not in record.body_json
        assert any(message_id(e, record.kind, "email") == record.message_id for e in events)
    assert practice.outbox_status().pending == 3


def test_a_failed_commit_writes_no_message_and_no_fact(tmp_path: Any, kit: SimpleNamespace) -> None:
    """The outbox row and the events go in one transaction: a clashing message id aborts both."""
    from alliancekit import open_practice
    from alliancekit.plugins.manager import make_plugin_host
    from alliancekit.testing.notifier import ChannelPlugin

    store = SQLiteStore(tmp_path / "atomic.sqlite")
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(RecordingChannel("email"))])
    # every event gets the same id, so two no-shows make the same message id and the second commit fails
    ids = iter(range(10**6))
    practice = open_practice(
        store, plugins=host, ids=lambda kind: "same-event" if kind == "event" else f"{kind}-{next(ids)}"
    )
    ep = kit.active_episode(practice)
    kit.no_show(practice, ep)  # default subscriptions: every registered channel gets the default kinds
    version = practice.episode(kit.actor, ep).version
    with pytest.raises(StoreError):
        kit.no_show(practice, ep)
    assert store.load_snapshot(ep)[0] == version  # type: ignore[index]
    assert len(store.load_events(ep)) == version
    assert len(store.outbox_records()) == 1
    store.close()


def test_outbox_records_keep_created_at_and_due_now(practice_for: Any, kit: SimpleNamespace) -> None:
    practice: Practice = practice_for(RecordingChannel("email"), kinds=ALL_KINDS)
    ep = kit.active_episode(practice)
    kit.no_show(practice, ep)
    (record,) = practice.store.outbox_records()
    assert isinstance(record, OutboxRecord)
    assert record.next_attempt_at == record.created_at
    assert record.lease_owner is None
    assert record.last_error is None


def test_an_alert_committed_with_its_fact_reaches_the_channel(
    practice_for: Any, kit: SimpleNamespace
) -> None:
    """The feedback engine's alert, raised in the commit of the session that caused it, reaches a channel
    in the same commit: PHQ-9 item 9 endorsed raises an urgent risk alert."""
    channel = RecordingChannel("email")
    practice: Practice = practice_for(channel, kinds=ALL_KINDS)
    ep = kit.active_episode(practice)
    answers = {f"q{i}": 1 for i in range(1, 10)}
    session = Session(
        held_on=date(2026, 2, 2),
        modality="video",
        attendance="attended",
        administrations=(Administration("phq-9", "1.0", AdministrationTiming.START, answers),),
    )
    recorded = practice.record_session(kit.actor, ep, session)
    alerts = practice.alerts(kit.actor, ep)
    (alert_id,) = [i for i, a in alerts.items() if a.rule_id == "risk-item-endorsed"]
    raised = [r for r in practice.store.outbox_records() if r.kind == "alert-raised"]
    assert len(raised) == len(alerts)
    assert {r.episode_id for r in raised} == {ep}
    assert practice.store.load_snapshot(ep).version == recorded.version  # type: ignore[union-attr]
    assert practice.dispatch_pending().delivered == len(practice.store.outbox_records())
    (got,) = [m for m in channel.delivered if m.alert_id == alert_id]
    assert (got.kind, got.rule_id, got.severity) == ("alert-raised", "risk-item-endorsed", "urgent")
    assert CANARY not in repr(got.as_dict())
