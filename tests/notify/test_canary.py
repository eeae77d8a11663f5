"""A canary in every free-text field of the demo practice never reaches an e-mail or a webhook.

The demo practice (``alliancekit.demo.simulate_practice``) runs with every command's free text (and the
client reference) rewritten to carry a canary string, on a real SQLite file, with the e-mail and webhook
channels registered; its messages are then dispatched to a real SMTP server and a real webhook receiver on
127.0.0.1. Every message arrives, and not one byte of what was received contains the canary.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.batch import Batch
from alliancekit.demo import simulate_practice
from alliancekit.notify import ALL_KINDS
from alliancekit.plugins import manager
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.practice import Practice
from alliancekit.store.protocol import OutboxState

CANARY = "CANARY-5b0d-demo-free-text"
SECRET = "canary-test-secret-0123456789"  # noqa: S105 - a test secret

#: Practice commands and their keyword arguments that are free text.
COMMANDS = (
    "start_episode",
    "record_consultation",
    "decide_fit",
    "agree_goals",
    "revise_goal",
    "record_session",
    "correct_session",
    "record_review",
    "note_rupture",
    "record_repair",
    "put_on_hold",
    "resume",
    "transfer",
    "plan_ending",
    "close_episode",
)
TEXT_KEYWORDS = {"reason", "client_ref"}


def _is_text(tp: Any) -> bool:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    return (
        tp is str
        or (args and all(_is_text(a) for a in args))
        or (typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (str,))
    )


def with_canary(value: Any, seen: list[str]) -> Any:
    """``value`` with the canary added to every free-text field (fields hidden from the repr), recursively."""
    if isinstance(value, list | tuple):
        return type(value)(with_canary(v, seen) for v in value)
    if not attrs.has(type(value)):
        return value
    hints = typing.get_type_hints(type(value))
    changes: dict[str, Any] = {}
    for field in attrs.fields(type(value)):
        current = getattr(value, field.name)
        if not field.repr and _is_text(hints[field.name]) and current is not None:
            seen.append(f"{type(value).__name__}.{field.name}")
            changes[field.name] = f"{current} {CANARY}" if isinstance(current, str) else (*current, CANARY)
        elif attrs.has(type(current)) or isinstance(current, tuple):
            changes[field.name] = with_canary(current, seen)
    return attrs.evolve(value, **changes)


@pytest.fixture
def canary_everywhere(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    for name in COMMANDS:
        original = getattr(Practice, name)

        @functools.wraps(original)
        def wrapper(self: Practice, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            args = tuple(with_canary(a, seen) for a in args)
            for key in TEXT_KEYWORDS & kwargs.keys():
                seen.append(key)
                kwargs[key] = f"{kwargs[key]}-{CANARY}"
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(Practice, name, wrapper)
        monkeypatch.setattr(Batch, name, wrapper)  # the demo's clients go through a batch
    return seen


@pytest.fixture
def receivers() -> Iterator[tuple[Any, Any]]:
    from alliancekit_smtp.testing import LocalSMTPServer
    from alliancekit_webhook.testing import LocalWebhookReceiver

    with LocalSMTPServer() as smtp, LocalWebhookReceiver(SECRET) as hook:
        yield smtp, hook


def test_canary_never_reaches_a_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, canary_everywhere: list[str], receivers: tuple[Any, Any]
) -> None:
    from alliancekit_smtp import SMTPChannel, SMTPConfig
    from alliancekit_smtp.testing import text_of
    from alliancekit_webhook import WebhookChannel, WebhookConfig

    smtp, hook = receivers
    email = SMTPChannel(
        SMTPConfig(host="127.0.0.1", port=smtp.port, security="none", sender="a@clinic.test",
                   recipients=("b@clinic.test",), kinds=ALL_KINDS)
    )  # fmt: skip
    webhook = WebhookChannel(WebhookConfig(url=hook.url, secret=SECRET, allow_http=True, kinds=ALL_KINDS))
    host = make_plugin_host(load_entry_points=False, extra_plugins=[email, webhook])
    monkeypatch.setattr(manager, "_default_host", host)  # the demo opens its practice on the default host

    db = tmp_path / "demo.sqlite"
    summary = simulate_practice(db, clients=12)
    assert summary.sessions > 0
    # the canary went into the record: free text of every kind of record the demo writes
    expected = {"Consultation.presenting_concerns", "Session.helpful", "RuptureNote.description",
                "Ending.reflection", "Review.obstacles", "client_ref", "reason"}  # fmt: skip
    assert expected <= set(canary_everywhere)
    practice = open_practice(db, plugins=host)
    written = practice.store.outbox_records(limit=10**6)
    assert {"episode-closed", "rupture-noted", "session-no-show", "clinician-transferred"} <= {
        m.kind for m in written
    }
    assert any(
        CANARY in e.payload_json
        for ep in practice.store.episode_ids()
        for e in practice.store.load_events(ep)
    )

    result = practice.dispatch_pending()
    assert (result.delivered, result.failed, result.dead) == (len(written), 0, 0)
    assert practice.outbox_status().pending == 0

    by_channel = {name: {m.message_id for m in written if m.channel == name} for name in ("email", "webhook")}
    assert {str(m["X-Alliancekit-Idempotency-Key"]) for m in smtp.unique} == by_channel["email"]
    assert set(hook.processed) == by_channel["webhook"]
    for raw in smtp.raw:
        assert CANARY.encode() not in raw
    for message in smtp.messages():
        assert CANARY.encode() not in text_of(message)
    for delivery in hook.accepted:
        assert CANARY.encode() not in delivery.body
        assert CANARY not in "".join(f"{k}{v}" for k, v in delivery.headers.items())
    for record in written:
        assert CANARY not in record.body_json
    assert practice.store.outbox_records(OutboxState.DEAD) == []
    practice.close()
