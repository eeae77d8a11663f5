"""Permanent failures, a receiver's retry-after, and the retry schedule at its exact boundaries, on real
stores (memory and an SQLite file)."""

from __future__ import annotations

import math
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from alliancekit.notify import CHANNEL_TIMEOUT, DeliveryError, DispatchPolicy, Notification
from alliancekit.notify.channels import MAX_FAILURE_LENGTH
from alliancekit.store.protocol import OutboxState


class Refusing:
    """Fails every delivery with the given exception attributes."""

    def __init__(self, name: str = "hook", **hints: Any) -> None:
        self.name = name
        self.hints = hints
        self.calls = 0

    def deliver(self, message: Notification) -> None:
        self.calls += 1
        error = DeliveryError("refused")
        error.__dict__.update(self.hints)
        raise error


def _one_message(practice: Any, kit: SimpleNamespace) -> None:
    kit.no_show(practice, kit.active_episode(practice))


def test_a_permanent_failure_is_dead_at_once(practice_for: Any, kit: SimpleNamespace) -> None:
    channel = Refusing(permanent=True)
    practice = practice_for(channel, base_delay=0, jitter=0, max_attempts=8)
    _one_message(practice, kit)
    summary = practice.dispatch_pending()
    assert (summary.failed, summary.dead) == (0, 1)
    (dead,) = practice.store.outbox_records(OutboxState.DEAD)
    assert (dead.attempts, dead.last_error) == (1, "DeliveryError")
    assert practice.dispatch_pending().claimed == 0
    assert channel.calls == 1
    # an operator who fixed the cause puts it back, and the next dispatch tries it again
    assert practice.retry_message(dead.message_id) is True
    assert practice.dispatch_pending().claimed == 1


@pytest.mark.parametrize("permanent", [False, 1, "yes", None])
def test_only_permanent_true_is_permanent(practice_for: Any, kit: SimpleNamespace, permanent: Any) -> None:
    practice = practice_for(Refusing(permanent=permanent), base_delay=10, jitter=0, max_attempts=8)
    _one_message(practice, kit)
    assert practice.dispatch_pending().dead == 0
    (pending,) = practice.store.outbox_records(OutboxState.PENDING)
    assert pending.attempts == 1


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        (5, 10),  # sooner than the back-off: the back-off stands
        (10.5, 10.5),
        (59, 59),
        (60, 60),  # max_delay exactly
        (61, 60),  # just past it: bounded
        (10**400, 60),  # an int no float holds
        (math.inf, 60),
        (-1, 10),  # malformed: ignored
        (math.nan, 10),
        ("60", 10),
        (True, 10),
    ],
)
def test_retry_after_is_the_earliest_next_attempt_within_max_delay(
    practice_for: Any, kit: SimpleNamespace, clock: Any, retry_after: Any, wait: float
) -> None:
    practice = practice_for(Refusing(retry_after=retry_after), base_delay=10, max_delay=60, jitter=0)
    _one_message(practice, kit)
    started = clock.now
    assert practice.dispatch_pending().failed == 1
    (pending,) = practice.store.outbox_records(OutboxState.PENDING)
    assert pending.next_attempt_at == started + timedelta(seconds=wait)


def test_the_retry_schedule_at_its_exact_boundaries(
    practice_for: Any, kit: SimpleNamespace, clock: Any
) -> None:
    """Due at the back-off's exact end, not a microsecond before; dead at the max_attempts-th failure."""
    channel = Refusing()
    practice = practice_for(channel, base_delay=10, max_delay=20, jitter=0, max_attempts=4)
    _one_message(practice, kit)
    for attempt, wait in ((1, 10), (2, 20), (3, 20)):  # 10, 20, then 40 capped at max_delay
        summary = practice.dispatch_pending()
        assert (summary.failed, summary.dead) == (1, 0), attempt
        clock.advance(wait - 0.000001)
        assert practice.dispatch_pending().claimed == 0
        clock.advance(0.000001)
    summary = practice.dispatch_pending()
    assert (summary.failed, summary.dead) == (0, 1)
    (dead,) = practice.store.outbox_records(OutboxState.DEAD)
    assert dead.attempts == 4
    assert channel.calls == 4


def test_the_channels_default_time_fits_inside_the_dispatchers_call_limit() -> None:
    """A channel still working when the dispatcher's limit ends is counted timed out and sent again."""
    from alliancekit_smtp import SMTPConfig
    from alliancekit_webhook import WebhookConfig

    limit = DispatchPolicy().call_timeout
    assert limit > CHANNEL_TIMEOUT
    webhook = WebhookConfig(url="https://hooks.test/x", secret="s" * 16)
    smtp = SMTPConfig(host="smtp.test", sender="a@clinic.test", recipients=("b@clinic.test",))
    assert webhook.timeout == smtp.timeout == CHANNEL_TIMEOUT


@pytest.fixture
def hook(practice_for: Any) -> Any:
    from alliancekit_webhook import WebhookChannel, WebhookConfig
    from alliancekit_webhook.testing import LocalWebhookReceiver

    secret = "test-secret-0123456789abcdef"  # noqa: S105 - a test secret
    with LocalWebhookReceiver(secret) as receiver:
        config = WebhookConfig(url=receiver.url, secret=secret, allow_http=True, timeout=3.0)
        channel = WebhookChannel(config)
        practice = practice_for(channel, base_delay=10, max_delay=60, jitter=0, max_attempts=8)
        yield SimpleNamespace(practice=practice, receiver=receiver)


@pytest.mark.parametrize(("header", "wait"), [("59", 59), ("60", 60), ("61", 60), ("soon", 10)])
def test_a_webhooks_retry_after_sets_the_next_attempt(
    hook: Any, kit: SimpleNamespace, clock: Any, header: str, wait: float
) -> None:
    hook.receiver.fail_with, hook.receiver.fail_count = 429, 1
    hook.receiver.fail_headers = [("Retry-After", header)]
    _one_message(hook.practice, kit)
    started = clock.now
    assert hook.practice.dispatch_pending().failed == 1
    (pending,) = hook.practice.store.outbox_records(OutboxState.PENDING)
    assert (pending.next_attempt_at, pending.last_error) == (
        started + timedelta(seconds=wait),
        "WebhookRejected",
    )
    clock.advance(wait)
    assert hook.practice.dispatch_pending().delivered == 1
    assert len(hook.receiver.processed) == 1


def test_a_webhook_refused_for_good_is_dead_at_once(hook: Any, kit: SimpleNamespace) -> None:
    hook.receiver.fail_with, hook.receiver.fail_count = 410, 8
    _one_message(hook.practice, kit)
    summary = hook.practice.dispatch_pending()
    assert (summary.failed, summary.dead) == (0, 1)
    (dead,) = hook.practice.store.outbox_records(OutboxState.DEAD)
    assert (dead.attempts, dead.last_error) == (1, "WebhookRejected")
    assert hook.receiver.fail_count == 7  # one request, not eight


@pytest.mark.parametrize(("timeout", "warned"), [(9.999, False), (10.0, True), (10.001, True)])
def test_a_channel_timeout_not_below_the_call_limit_is_warned_of(
    practice_for: Any, caplog: pytest.LogCaptureFixture, timeout: float, warned: bool
) -> None:
    from alliancekit_webhook import WebhookChannel, WebhookConfig

    secret = "test-secret-0123456789abcdef"  # noqa: S105 - a test secret
    channel = WebhookChannel(WebhookConfig(url="https://hooks.test/x", secret=secret, timeout=timeout))
    practice = practice_for(channel, call_timeout=10.0)
    with caplog.at_level("WARNING", logger="alliancekit.notify"):
        practice.dispatcher()
    assert any("not below the dispatcher's call_timeout" in r.getMessage() for r in caplog.records) is warned


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, True, "5"])
def test_a_channel_timeout_that_cannot_work_is_refused(timeout: Any) -> None:
    from alliancekit_smtp import SMTPConfig
    from alliancekit_webhook import WebhookConfig

    with pytest.raises(ValueError, match=r"WebhookConfig\.timeout"):
        WebhookConfig(url="https://hooks.test/x", secret="s" * 16, timeout=timeout)
    with pytest.raises(ValueError, match=r"SMTPConfig\.timeout"):
        SMTPConfig(host="smtp.test", sender="a@clinic.test", recipients=("b@clinic.test",), timeout=timeout)


def test_the_smallest_channel_timeout_is_accepted() -> None:
    from alliancekit_smtp import SMTPConfig
    from alliancekit_webhook import WebhookConfig

    assert WebhookConfig(url="https://hooks.test/x", secret="s" * 16, timeout=1e-9).timeout == 1e-9
    assert SMTPConfig(host="h", sender="a@c.test", recipients=("b@c.test",), timeout=1e-9).timeout == 1e-9


def test_an_unreadable_message_is_dead_at_once(practice_for: Any, kit: SimpleNamespace) -> None:
    """Reading its body again cannot succeed: its retries would only postpone the dead letter."""
    import attrs

    from alliancekit.testing.outbox import commit_with_outbox

    practice = practice_for(Refusing("email"), base_delay=10, jitter=0, max_attempts=8)
    commit = commit_with_outbox("ep-bad", 0, [("bad", "email", kit.now)])
    practice.store.append(attrs.evolve(commit, outbox=[attrs.evolve(commit.outbox[0], body_json="{not")]))
    summary = practice.dispatch_pending()
    assert (summary.failed, summary.dead) == (0, 1)
    (dead,) = practice.store.outbox_records(OutboxState.DEAD)
    assert (dead.attempts, dead.last_error) == (1, "unreadable-message")


class _Quoting(Exception):
    """An exception of some library whose ``reason`` quotes what it was given (like URLError's)."""

    def __init__(self) -> None:
        super().__init__("client words")
        self.reason = "client words"


@pytest.mark.parametrize(
    ("raised", "recorded"),
    [
        (
            DeliveryError("x", reason="tls-refused; check THE_SETTING"),
            "DeliveryError: tls-refused; check THE_SETTING",
        ),
        (DeliveryError("x", reason=""), "DeliveryError"),
        (DeliveryError("x"), "DeliveryError"),
        (_Quoting(), "_Quoting"),  # only a DeliveryError's reason is the channel's own fixed text
    ],
)
def test_a_delivery_errors_reason_is_recorded_after_its_class(
    practice_for: Any, kit: SimpleNamespace, raised: Exception, recorded: str
) -> None:
    class Failing:
        name = "hook"

        def deliver(self, message: Notification) -> None:
            raise raised

    practice = practice_for(Failing(), base_delay=10, jitter=0)
    _one_message(practice, kit)
    assert practice.dispatch_pending().failed == 1
    (pending,) = practice.store.outbox_records(OutboxState.PENDING)
    assert pending.last_error == recorded


def test_a_long_reason_is_cut_to_the_recorded_length(practice_for: Any, kit: SimpleNamespace) -> None:
    practice = practice_for(Refusing(reason="r" * 400), base_delay=10, jitter=0)
    _one_message(practice, kit)
    practice.dispatch_pending()
    (pending,) = practice.store.outbox_records(OutboxState.PENDING)
    assert pending.last_error == ("DeliveryError: " + "r" * 400)[:MAX_FAILURE_LENGTH]


@pytest.mark.parametrize("offered", [False, True])
def test_an_smtp_server_without_starttls_is_a_dead_letter_naming_the_setting(
    practice_for: Any, kit: SimpleNamespace, tmp_path: Any, offered: bool
) -> None:
    """Required TLS the server does not offer will not appear between retries: dead at once, and the
    record says what to check, never an address or the message."""
    import shutil
    import ssl

    from alliancekit_smtp import SMTPChannel, SMTPConfig
    from alliancekit_smtp.testing import LocalSMTPServer, self_signed_certificate

    options: dict[str, Any] = {}
    trust: dict[str, Any] = {}
    if offered:  # the other side of the boundary: offered and trusted, it is a delivery
        if shutil.which("openssl") is None:
            pytest.skip("openssl is not installed")
        cert, key = self_signed_certificate(tmp_path)
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_context.load_cert_chain(cert, key)
        trust["ssl_context"] = ssl.create_default_context(cafile=cert)
        options = {"tls_context": server_context, "require_starttls": True}
    with LocalSMTPServer(**options) as server:
        config = SMTPConfig(
            host="127.0.0.1",
            port=server.port,
            sender="alerts@clinic.test",
            recipients=("oncall@clinic.test",),
            security="starttls",
            channel="hook",
            **trust,
        )
        policy = {
            "base_delay": 10,
            "jitter": 0,
            "max_attempts": 8,
            "call_timeout": 10.0,
        }  # the defaults' room
        practice = practice_for(SMTPChannel(config), **policy)
        _one_message(practice, kit)
        summary = practice.dispatch_pending()
        received = len(server.messages())
    if offered:
        assert (summary.delivered, summary.dead, received) == (1, 0, 1)
        return
    assert (summary.failed, summary.dead, received) == (0, 1, 0)
    (dead,) = practice.store.outbox_records(OutboxState.DEAD)
    assert (dead.attempts, dead.last_error) == (
        1,
        "SMTPSetupError: starttls-not-offered; check ALLIANCEKIT_SMTP_SECURITY and ALLIANCEKIT_SMTP_PORT",
    )
