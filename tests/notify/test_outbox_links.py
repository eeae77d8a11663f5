"""The worker calls show no request link: ``Practice.outbox_records`` (and ``outbox status``) take no actor
and write no audit entry, so what they return is references and codes only; only the dispatcher hands a
request's link, with the client's token in it, to the channel."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import attrs
import pytest

from alliancekit import OutboxState, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Consent, Consultation, FitDecision, GoalDraft, Modality, Role
from alliancekit.notify import Subscriptions
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.practice import Practice
from alliancekit.requests import RequestConfig
from alliancekit.store.protocol import OutboxRecord
from alliancekit.testing.notifier import ChannelPlugin, RecordingChannel

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)
ME = Actor("clin-l", Role.CLINICIAN, "clinic-l")
CLIENT = "CANARY-client-5d1e"
TEMPLATE = "https://clinic.example/m/{token}"
#: What a request's message shows: references, codes, and whether it holds a link.
REQUEST_BODY = {
    "message_id",
    "v",
    "kind",
    "episode_id",
    "clinic_id",
    "occurred_at",
    "request_id",
    "expires_at",
    "has_link",
}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _practice(path: Path, clock: Clock, channel: RecordingChannel) -> Practice:
    return open_practice(
        path,
        plugins=make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(channel)]),
        clock=clock,
        requests=RequestConfig(link_template=TEMPLATE),
        subscriptions=Subscriptions.of({channel.name: ["administration-request", "administration-reminder"]}),
    )


def _episode(p: Practice) -> str:
    day = T0.date()
    ep = p.start_episode(ME, client_ref=CLIENT, clinician_id=ME.id, opened_on=day)
    p.record_consultation(
        ME, ep, Consultation(held_on=day, modality=Modality.VIDEO, consent=Consent(True, True))
    )
    p.decide_fit(ME, ep, FitDecision("proceed", day))
    p.agree_goals(ME, ep, [GoalDraft("a goal", ("a task",))], agreed_on=day)
    return ep


@pytest.fixture
def made(tmp_path: Path) -> tuple[Path, list[str], RecordingChannel]:
    """A practice file whose request messages are in every state: the first request's message delivered
    (through the dispatcher, to a real channel) and its reminder dead, the second's both pending."""
    clock, sms = Clock(), RecordingChannel("client-sms")
    path = tmp_path / "clinic.sqlite"
    with _practice(path, clock, sms) as p:
        ep = _episode(p)
        first = p.request_administration(ME, ep, measure="phq-9", remind_after=timedelta(days=1))
        assert p.dispatch_pending().delivered == 1  # the request; its reminder is due tomorrow
        due = T0 + timedelta(days=1)
        (reminder,) = p.store.claim_outbox("w", [sms.name], due, due + timedelta(minutes=1), 10)
        assert p.store.outbox_dead("w", reminder.message_id, error="OSError", at=due)
        second = p.request_administration(ME, ep, measure="phq-9", remind_after=timedelta(days=1))
        assert p.outbox_status() == attrs.evolve(p.outbox_status(), pending=2, delivered=1, dead=1)
    tokens = [first.token, second.token]
    assert all(t is not None and len(t) >= 40 for t in tokens)
    return path, tokens, sms  # type: ignore[return-value]


def test_the_dispatcher_hands_the_link_to_the_channel(made: tuple[Path, list[str], RecordingChannel]) -> None:
    _, tokens, sms = made
    (note,) = sms.delivered
    assert (note.kind, note.link) == ("administration-request", TEMPLATE.format(token=tokens[0]))


@pytest.mark.parametrize("state", [None, *OutboxState])
def test_outbox_records_of_every_state_hold_no_token(
    made: tuple[Path, list[str], RecordingChannel], state: OutboxState | None
) -> None:
    path, tokens, sms = made
    with _practice(path, Clock(), RecordingChannel(sms.name)) as p:
        records = p.outbox_records(state)
        stored = p.store.outbox_records(state)
    assert len(records) == len(stored) == {None: 4, "pending": 2, "delivered": 1, "dead": 1}[state]
    for record, row in zip(records, stored, strict=True):
        assert attrs.evolve(record, body_json=row.body_json) == row  # only the body differs
        assert any(token in row.body_json for token in tokens)  # the store keeps it for the channel
        shown = [
            repr(record),
            str(record),
            *(str(getattr(record, f.name)) for f in attrs.fields(OutboxRecord)),
        ]
        for text in shown:
            assert not any(token in text for token in tokens)
            assert CLIENT not in text
        body = json.loads(record.body_json)
        assert body["has_link"] is True
        assert set(body) == REQUEST_BODY
        assert body["request_id"]
        assert body["expires_at"]
        assert body["episode_id"] == record.episode_id


def test_outbox_status_json_shows_no_token(
    made: tuple[Path, list[str], RecordingChannel], capsys: pytest.CaptureFixture[str]
) -> None:
    path, tokens, _ = made
    assert main(["outbox", "status", "--db", str(path), "--dead", "--json"]) == 0
    out = capsys.readouterr().out
    assert not any(token in out for token in tokens)
    (dead,) = json.loads(out)["dead_messages"]
    assert (dead["kind"], dead["body"]["has_link"], "link" in dead["body"]) == (
        "administration-reminder",
        True,
        False,
    )
    assert main(["outbox", "status", "--db", str(path), "--dead"]) == 0
    assert not any(token in capsys.readouterr().out for token in tokens)


def test_a_body_without_a_link_or_unreadable_says_so() -> None:
    from alliancekit.notify.outbox import shown_record

    alert = OutboxRecord(
        "m1", "e1", "alert-raised", "team", '{"kind":"alert-raised","rule_id":"r","x":"y"}', T0
    )
    assert json.loads(shown_record(alert).body_json) == {
        "kind": "alert-raised",
        "rule_id": "r",
        "has_link": False,
    }
    for broken in ("{not json", "[1]", '"a string"'):
        assert json.loads(shown_record(attrs.evolve(alert, body_json=broken)).body_json) == {
            "has_link": False
        }
