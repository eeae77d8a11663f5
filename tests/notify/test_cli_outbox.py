"""``alliancekit outbox status | dispatch | retry`` on a real SQLite database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from alliancekit import OutboxState, open_practice
from alliancekit.cli import outbox as outbox_cli
from alliancekit.cli.main import main
from alliancekit.notify import Subscriptions
from alliancekit.plugins import manager
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.requests import RequestConfig
from alliancekit.testing.notifier import ChannelPlugin, RecordingChannel


@pytest.fixture
def db(tmp_path: Path, kit: SimpleNamespace) -> Path:
    path = tmp_path / "clinic.sqlite"
    subs = Subscriptions.of({"email": ["session-no-show"], "pager": ["session-no-show"]})
    # written at a fixed time (the CLI's own clock, later, finds the messages due): with the real clock the
    # status's "next due" was today's date, and a test of it broke with the year
    practice = open_practice(
        path, plugins=make_plugin_host(load_entry_points=False), subscriptions=subs, clock=lambda: kit.now
    )
    ep = kit.active_episode(practice)
    kit.no_show(practice, ep)
    kit.no_show(practice, ep)
    practice.close()
    return path


def _use_host(monkeypatch: pytest.MonkeyPatch, *channels: object) -> None:
    """The CLI uses the process-wide plugin host: make it one with these channels."""
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(*channels)])
    monkeypatch.setattr(manager, "_default_host", host)


class Broken:
    name = "pager"

    def deliver(self, message: object) -> None:
        raise OSError("down")


def test_outbox_status_dispatch_and_retry(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "pending 4, delivered 0, dead 0" in out
    assert "next due: 2026-02-02T08:00:00+00:00" in out  # the fixture's messages, written at kit.now

    email = RecordingChannel("email")
    _use_host(monkeypatch, email, Broken())
    # the CLI's practice uses the default policy: one failed attempt is not dead yet
    assert main(["outbox", "dispatch", "--db", str(db), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["dispatched"]["delivered"] == 2
    assert result["dispatched"]["failed"] == 2
    assert result["status"]["pending"] == 2
    assert len(email.delivered) == 2

    # make the pager's messages dead through the store, then retry one from the CLI
    practice = open_practice(db, plugins=make_plugin_host(load_entry_points=False))
    for record in practice.store.outbox_records():
        if record.channel == "pager":
            practice.store.claim_outbox("t", ["pager"], record.next_attempt_at, record.next_attempt_at, 10)  # type: ignore[arg-type]
            practice.store.outbox_dead("t", record.message_id, error="OSError", at=record.created_at)
    dead = [r.message_id for r in practice.store.outbox_records() if r.channel == "pager"]
    practice.close()
    assert main(["outbox", "status", "--db", str(db), "--dead", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["dead"] == 2
    assert {m["message_id"] for m in status["dead_messages"]} == set(dead)
    assert {m["last_error"] for m in status["dead_messages"]} == {"OSError"}

    assert main(["outbox", "retry", "--db", str(db), dead[0]]) == 0
    out = capsys.readouterr().out
    assert out == "the message is pending again\n"
    assert dead[0] not in out  # a message key may be built from client data: never echoed
    assert main(["outbox", "retry", "--db", str(db), dead[0]]) == 2
    err = capsys.readouterr().err
    assert "no dead message with that id" in err
    assert dead[0] not in err
    assert main(["outbox", "status", "--db", str(db)]) == 0
    assert "pending 1, delivered 2, dead 1" in capsys.readouterr().out
    assert main(["outbox", "retry", "--db", str(db), "--all-dead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pending_again": 1}
    assert main(["outbox", "retry", "--db", str(db), "--all-dead", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"pending_again": 0}


class Refused:
    name = "pager"

    def deliver(self, message: object) -> None:
        from alliancekit.notify import DeliveryError

        raise DeliveryError("refused for good", permanent=True)


def test_a_permanent_refusal_is_dead_after_one_dispatch_and_retry_brings_it_back(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_host(monkeypatch, RecordingChannel("email"), Refused())
    assert main(["outbox", "dispatch", "--db", str(db), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["dispatched"]["failed"], result["dispatched"]["dead"]) == (0, 2)
    assert main(["outbox", "status", "--db", str(db), "--dead", "--json"]) == 0
    dead = json.loads(capsys.readouterr().out)["dead_messages"]
    assert {(m["attempts"], m["last_error"]) for m in dead} == {(1, "DeliveryError")}
    assert main(["outbox", "retry", "--db", str(db), dead[0]["message_id"]]) == 0
    capsys.readouterr()
    assert main(["outbox", "dispatch", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dispatched"]["dead"] == 1  # refused again, dead again


def test_outbox_dispatch_without_channels_says_so(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_host(monkeypatch)
    assert main(["outbox", "dispatch", "--db", str(db)]) == 2
    assert "no notification channel" in capsys.readouterr().err


def test_outbox_on_a_missing_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "status", "--db", str(tmp_path / "nope.sqlite")]) == 2
    assert not (tmp_path / "nope.sqlite").exists()


def test_a_dead_requests_link_is_never_printed(
    tmp_path: Path, kit: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A request's link carries the client's token (whoever holds it may answer as the client): a dead
    message's body is shown without it, in JSON and in the table alike."""
    path = tmp_path / "clinic.sqlite"
    subs = Subscriptions.of({"client-sms": ["administration-request"]})
    practice = open_practice(
        path,
        plugins=make_plugin_host(load_entry_points=False),
        subscriptions=subs,
        requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
    )
    ep = kit.active_episode(practice)
    token = practice.request_administration(kit.actor, ep, measure="phq-9").token
    assert token
    (record,) = practice.store.outbox_records()
    assert token in record.body_json  # the channel still gets the link to send
    practice.store.claim_outbox("t", ["client-sms"], record.next_attempt_at, record.next_attempt_at, 10)  # type: ignore[arg-type]
    practice.store.outbox_dead("t", record.message_id, error="OSError", at=record.created_at)
    practice.close()

    assert main(["outbox", "status", "--db", str(path), "--dead", "--json"]) == 0
    out = capsys.readouterr().out
    assert token not in out
    (message,) = json.loads(out)["dead_messages"]
    assert "link" not in message["body"]
    assert message["body"]["has_link"] is True
    assert message["body"]["request_id"]
    assert main(["outbox", "status", "--db", str(path), "--dead"]) == 0
    assert token not in capsys.readouterr().out


def test_status_reports_pending_messages_by_when_they_are_due(
    tmp_path: Path, kit: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reminder is written with its request and due two days later: once the request is delivered, the
    status says the next message is due then, not that one has waited since the request."""
    path = tmp_path / "clinic.sqlite"
    sent = RecordingChannel("client-sms")
    at = [datetime(2026, 2, 2, 9, 0, tzinfo=UTC)]
    practice = open_practice(
        path,
        plugins=make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(sent)]),
        subscriptions=Subscriptions.of({"client-sms": ["administration-request", "administration-reminder"]}),
        requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
        clock=lambda: at[0],
    )
    ep = kit.active_episode(practice)
    made = practice.request_administration(kit.actor, ep, measure="phq-9")
    written, remind_at = at[0], at[0] + timedelta(days=2)
    assert made.remind_at == remind_at

    def status() -> tuple[dict[str, Any], str]:
        assert main(["outbox", "status", "--db", str(path), "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert main(["outbox", "status", "--db", str(path)]) == 0
        return data, capsys.readouterr().out

    # the request is due at once, before its reminder: the earlier of the two
    data, text = status()
    assert (data["pending"], data["oldest_pending_at"], data["next_due_at"]) == (
        2,
        written.isoformat(),
        written.isoformat(),
    )
    assert f"next due: {written.isoformat()}" in text

    # the request delivered, the reminder alone: due in two days, though written with the request
    assert practice.dispatch_pending().delivered == 1
    data, text = status()
    assert (data["pending"], data["oldest_pending_at"], data["next_due_at"]) == (
        1,
        written.isoformat(),
        remind_at.isoformat(),
    )
    assert f"next due: {remind_at.isoformat()}" in text
    assert written.isoformat() not in text

    # the reminder delivered at its time, a microsecond before it nothing is
    at[0] = remind_at - timedelta(microseconds=1)
    assert practice.dispatch_pending().delivered == 0
    at[0] = remind_at
    assert practice.dispatch_pending().delivered == 1
    practice.close()
    data, text = status()
    assert (data["pending"], data["oldest_pending_at"], data["next_due_at"]) == (0, None, None)
    assert "next due: -" in text
    assert [m.kind for m in sent.delivered] == ["administration-request", "administration-reminder"]


SHORT_SECRET = "too-short"  # noqa: S105 - a wrong test setting: refused by WebhookConfig


def _with_misconfigured_webhook(monkeypatch: pytest.MonkeyPatch, *channels: object) -> None:
    """The CLI's host: these channels, and the webhook plugin's entry-point module with settings it refuses
    while registering."""
    from alliancekit_webhook import plugin  # the tests put plugins/*/src on the path (conftest)

    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_URL", "https://hooks.clinic.test/alliancekit")
    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_SECRET", SHORT_SECRET)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(*channels), plugin])
    monkeypatch.setattr(manager, "_default_host", host)


def test_outbox_dispatch_names_the_plugin_whose_settings_were_refused(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With no channel because a plugin refused its settings, the error names that plugin rather than
    asking to install one that is installed."""
    _with_misconfigured_webhook(monkeypatch)
    assert main(["outbox", "dispatch", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "no notification channel is registered here" in err
    assert (
        "alliancekit_webhook.plugin: raised ValidationError while registering: "
        "ALLIANCEKIT_WEBHOOK_SECRET: length" in err
    )
    assert "install and configure" not in err
    assert SHORT_SECRET not in err


def test_outbox_dispatch_warns_of_a_refused_plugin_and_delivers_through_the_others(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    email = RecordingChannel("email")
    _with_misconfigured_webhook(monkeypatch, email)
    assert main(["outbox", "dispatch", "--db", str(db)]) == 0
    captured = capsys.readouterr()
    assert (
        "warning: notification plugin alliancekit_webhook.plugin: raised ValidationError while registering: "
        "ALLIANCEKIT_WEBHOOK_SECRET: length"
    ) in captured.err
    assert SHORT_SECRET not in captured.err + captured.out
    assert len(email.delivered) == 2


def test_every_dead_message_is_retried_at_once_with_all_dead(
    db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a channel refused everything for good (a wrong password is an SMTP 535), the operator fixes it
    and puts every dead message back in one command, not one id at a time."""
    _use_host(monkeypatch, Refused(), RecordingChannel("email"))
    assert main(["outbox", "dispatch", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"]["dead"] == 2
    assert main(["outbox", "retry", "--db", str(db), "--all-dead"]) == 0
    assert capsys.readouterr().out == "2 dead messages are pending again\n"
    assert main(["outbox", "status", "--db", str(db)]) == 0
    assert "pending 2, delivered 2, dead 0" in capsys.readouterr().out
    assert main(["outbox", "retry", "--db", str(db), "--all-dead"]) == 0  # none left: says so, exit 0
    assert capsys.readouterr().out == "0 dead messages are pending again\n"


@pytest.mark.parametrize("argv", [[], ["some-id", "--all-dead"]], ids=["neither", "both"])
def test_retry_takes_an_id_or_all_dead(db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["outbox", "retry", "--db", str(db), *argv])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: alliancekit outbox retry ")
    assert "error: " in err
    assert "--all-dead" in err.splitlines()[-1]


def _dead_messages(path: Path, kit: SimpleNamespace, count: int) -> list[str]:
    """A database with ``count`` no-show messages for the pager, all dead (refused for good)."""
    subs = Subscriptions.of({"pager": ["session-no-show"]})
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(Refused())])
    with open_practice(path, plugins=host, subscriptions=subs) as practice:
        ep = kit.active_episode(practice)
        for _ in range(count):
            kit.no_show(practice, ep)
        assert practice.dispatch_pending().dead == count
        return [r.message_id for r in practice.outbox_records(OutboxState.DEAD)]


def test_all_dead_pages_through_more_than_one_page(
    tmp_path: Path, kit: SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "dead.sqlite"
    assert len(_dead_messages(db, kit, 5)) == 5
    monkeypatch.setattr(outbox_cli, "RETRY_PAGE", 2)  # pages of 2, 2 and 1
    assert main(["outbox", "retry", "--db", str(db), "--all-dead"]) == 0
    assert capsys.readouterr().out == "5 dead messages are pending again\n"
    assert main(["outbox", "status", "--db", str(db)]) == 0
    assert "pending 5, delivered 0, dead 0" in capsys.readouterr().out


class DispatchingBetweenPages:
    """The practice ``outbox retry --all-dead`` uses, with a dispatcher running meanwhile: before each page
    is read, the messages put back so far are dispatched, and the channel refuses them again (dead)."""

    def __init__(self, practice: Any) -> None:
        self.practice = practice
        self.retried: list[str] = []

    def outbox_records(self, state: OutboxState, *, limit: int, after: str | None = None) -> list[Any]:
        self.practice.dispatch_pending()
        return self.practice.outbox_records(state, limit=limit, after=after)

    def retry_message(self, message_id: str) -> bool:
        self.retried.append(message_id)
        return bool(self.practice.retry_message(message_id))


def test_all_dead_puts_each_back_once_when_more_than_a_page_die_again_meanwhile(
    tmp_path: Path, kit: SimpleNamespace
) -> None:
    db = tmp_path / "dead.sqlite"
    dead = _dead_messages(db, kit, 5)
    host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(Refused())])
    with open_practice(db, plugins=host) as practice:
        meanwhile = DispatchingBetweenPages(practice)
        # a page of 2: after the first page, the 2 put back are dead again, at the head of the dead listing
        assert outbox_cli._retry_all_dead(meanwhile, page_size=2) == 5
        assert meanwhile.retried == dead  # every one, once, in order
        assert practice.outbox_status().dead == 5  # the last one put back died again at the last read
