"""The webhook channel against a real http.server receiver on 127.0.0.1, and the signature helper."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alliancekit_webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    InvalidSignature,
    WebhookChannel,
    WebhookConfig,
    WebhookRejected,
    sign,
    verify_signature,
)
from alliancekit_webhook.testing import LocalWebhookReceiver

from alliancekit.notify import Notification
from alliancekit.testing.notifier import NotifierContract, NotifierUnderTest, Received

SECRET = "test-secret-0123456789abcdef"  # noqa: S105 - a test secret


def _note(key: str = "e" * 32) -> Notification:
    return Notification(
        message_id=key,
        kind="alert-raised",
        channel="webhook",
        episode_id="ep-7",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
        alert_id="al-1",
        rule_id="outcome-below-band",
        severity="amber",
    )


def _channel(url: str, secret: str = SECRET, **options: object) -> WebhookChannel:
    options.setdefault("timeout", 3.0)
    return WebhookChannel(WebhookConfig(url=url, secret=secret, allow_http=True, **options))  # type: ignore[arg-type]


@pytest.fixture
def receiver() -> Iterator[LocalWebhookReceiver]:
    with LocalWebhookReceiver(SECRET) as running:
        yield running


class TestWebhookNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self, receiver: LocalWebhookReceiver) -> Iterator[NotifierUnderTest]:
        # The broken channel's port stays bound, not listening, for the whole test: it refuses every
        # connection, and no server (another xdist worker's) can take it meanwhile and answer.
        with socket.socket() as bound:
            bound.bind(("127.0.0.1", 0))
            yield NotifierUnderTest(
                channel=_channel(receiver.url),
                received=lambda: [Received(d.idempotency_key, d.body) for d in receiver.accepted],
                broken=_channel(f"http://127.0.0.1:{bound.getsockname()[1]}/"),
            )


def test_posts_signed_json_with_the_idempotency_key(receiver: LocalWebhookReceiver) -> None:
    _channel(receiver.url).deliver(_note())
    (got,) = receiver.accepted
    assert got.idempotency_key == "e" * 32
    assert got.json() == {
        "v": 1,
        "message_id": "e" * 32,
        "idempotency_key": "e" * 32,
        "kind": "alert-raised",
        "episode_id": "ep-7",
        "clinic_id": "clinic-a",
        "clinician_id": "clin-b",
        "occurred_at": "2026-03-02T12:00:00+00:00",
        "alert_id": "al-1",
        "rule_id": "outcome-below-band",
        "severity": "amber",
        "attempt": 1,
    }
    assert got.headers["Content-Type"] == "application/json"
    assert receiver.rejected == []


def test_the_receiver_drops_a_repeated_key(receiver: LocalWebhookReceiver) -> None:
    channel = _channel(receiver.url)
    for key in ("1" * 32, "1" * 32, "2" * 32):
        channel.deliver(_note(key))
    assert (len(receiver.accepted), len(receiver.processed), receiver.duplicates) == (3, 2, 1)


def test_a_wrong_secret_is_refused_and_raises(receiver: LocalWebhookReceiver) -> None:
    with pytest.raises(WebhookRejected) as caught:
        _channel(receiver.url, secret=SECRET[::-1]).deliver(_note())
    assert caught.value.status == 401
    assert receiver.rejected == ["bad-signature"]
    assert receiver.accepted == []


def test_a_server_error_raises_and_the_retry_goes_through(receiver: LocalWebhookReceiver) -> None:
    receiver.fail_count = 1
    channel = _channel(receiver.url)
    with pytest.raises(WebhookRejected):
        channel.deliver(_note())
    channel.deliver(_note())
    assert len(receiver.processed) == 1


def test_a_receiver_that_never_answers_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            _channel(f"http://127.0.0.1:{port}/", timeout=0.5).deliver(_note())
        assert time.monotonic() - started < 5


def _signed(body: bytes, at: int, secret: str = SECRET, key: str | None = "k1") -> dict[str, str]:
    headers = {TIMESTAMP_HEADER: str(at), SIGNATURE_HEADER: sign(secret, at, body)}
    if key is not None:
        headers[IDEMPOTENCY_HEADER] = key
    return headers


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({}, b"{}", "missing-header"),
        (
            {TIMESTAMP_HEADER: "soon", SIGNATURE_HEADER: "v1=00", IDEMPOTENCY_HEADER: "k1"},
            b"{}",
            "bad-timestamp",
        ),
        (_signed(b"{}", 1_000_000), b"{}", "stale-timestamp"),
        (_signed(b"{}", 2_000_000_000 + 301), b"{}", "stale-timestamp"),
        (_signed(b'{"a":1}', 2_000_000_000), b'{"a":2}', "bad-signature"),
        (_signed(b"{}", 2_000_000_000, secret=SECRET.upper()), b"{}", "bad-signature"),
        (
            {TIMESTAMP_HEADER: "2000000000", SIGNATURE_HEADER: "sha1=abc", IDEMPOTENCY_HEADER: "k1"},
            b"{}",
            "bad-signature",
        ),
        (
            _signed(b'{"idempotency_key":"k1"}', 2_000_000_000, key="k2"),
            b'{"idempotency_key":"k1"}',
            "key-mismatch",
        ),
    ],
)
def test_the_deprecated_format_is_still_checked(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature) as caught, _deprecated_unless(not headers):
        verify_signature(SECRET, headers, body, 300, now=2_000_000_000)
    assert caught.value.reason == reason


def _deprecated_unless(absent: bool) -> Any:
    return contextlib.nullcontext() if absent else pytest.warns(DeprecationWarning, match="Standard Webhooks")


def test_the_deprecated_format_is_accepted_with_a_warning_and_supports_rotation() -> None:
    body = json.dumps({"idempotency_key": "k1"}).encode()
    headers = _signed(body, 2_000_000_000, key="k1")
    with pytest.warns(DeprecationWarning, match="Standard Webhooks"):
        verify_signature(SECRET, headers, body, now=2_000_000_100)
    lowered = {k.lower(): v for k, v in headers.items()}
    with pytest.warns(DeprecationWarning, match="Standard Webhooks"):
        verify_signature(["old-secret-0123456789abc", SECRET], lowered, body, now=2_000_000_000)
    both = dict(headers)
    both[SIGNATURE_HEADER] = (
        f"{sign('new-secret-0123456789abc', 2_000_000_000, body)},{headers[SIGNATURE_HEADER]}"
    )
    with pytest.warns(DeprecationWarning, match="Standard Webhooks"):
        verify_signature(SECRET, both, body, now=2_000_000_000)


def test_config_refuses_plain_http_short_secrets_and_credentials() -> None:
    with pytest.raises(ValueError, match="https"):
        WebhookConfig(url="http://hooks.clinic.test/x", secret=SECRET)
    with pytest.raises(ValueError, match="secret"):
        WebhookConfig(url="https://hooks.clinic.test/x", secret=SECRET[:5])
    with pytest.raises(ValueError, match="credentials"):
        WebhookConfig(url="https://u:p@hooks.clinic.test/x", secret=SECRET)
    config = WebhookConfig(url="https://hooks.clinic.test/x", secret=SECRET)
    assert SECRET not in repr(config)
    assert WebhookConfig.from_env({}) is None
    from_env = WebhookConfig.from_env(
        {
            "ALLIANCEKIT_WEBHOOK_URL": "http://127.0.0.1:9/x",
            "ALLIANCEKIT_WEBHOOK_SECRET": SECRET,
            "ALLIANCEKIT_WEBHOOK_ALLOW_HTTP": "1",
            "ALLIANCEKIT_WEBHOOK_KINDS": "alert-raised,episode-closed",
        }
    )
    assert from_env is not None
    assert from_env.kinds == ("alert-raised", "episode-closed")


def test_entry_point_module_registers_from_env(
    monkeypatch: pytest.MonkeyPatch, receiver: LocalWebhookReceiver
) -> None:
    from alliancekit_webhook import plugin

    from alliancekit.plugins.manager import make_plugin_host

    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_ALLOW_HTTP", "1")
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    registry.get("webhook").deliver(_note())
    assert len(receiver.processed) == 1


def test_concurrent_deliveries(receiver: LocalWebhookReceiver) -> None:
    channel = _channel(receiver.url)
    threads = [threading.Thread(target=channel.deliver, args=(_note(f"{i:032x}"),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(receiver.processed) == 8


def test_a_request_cut_short_by_a_dying_sender_is_dropped_not_rejected(
    receiver: LocalWebhookReceiver,
) -> None:
    """A dispatcher killed between sending the headers and the body (http.client sends them apart) leaves
    an incomplete request: the receiver drops it, as an HTTP server does; it is neither a delivery nor a
    bad signature (the cause of a once-flaky SIGKILL test)."""
    body = b'{"idempotency_key":"' + b"k" * 32 + b'"}'
    with socket.create_connection(("127.0.0.1", receiver.port)) as raw:
        raw.sendall(
            b"POST /alliancekit/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
    deadline = time.monotonic() + 5
    while receiver.aborted == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert receiver.aborted == 1
    assert receiver.rejected == []
    assert receiver.accepted == []


def test_a_config_repr_shows_the_receivers_origin_not_a_token_in_its_path_or_query() -> None:
    url = "https://hooks.clinic.test:8443/in/tok-path-123?key=tok-query-456"
    config = WebhookConfig(url=url, secret=SECRET)
    shown = repr(config)
    assert "https://hooks.clinic.test:8443/" in shown
    assert "tok-path-123" not in shown
    assert "tok-query-456" not in shown


@pytest.mark.parametrize(
    ("stamp", "reason"),
    [
        (b"\xb2\xb3", "bad-timestamp"),  # superscript two and three in Latin-1: str.isdigit, not int()
        (b"\xb9NOW", "bad-timestamp"),  # NOW: the current time's digits after the first, when the test runs
        (b"NOW", "bad-signature"),  # the ASCII digits: read, then the signature
    ],
)
def test_a_timestamp_of_non_ascii_digits_is_refused_as_a_bad_timestamp(
    receiver: LocalWebhookReceiver, stamp: bytes, reason: str
) -> None:
    """HTTP header bytes are read as Latin-1, whose superscript digits pass ``str.isdigit``; ``int`` refuses
    them. A forged request must get the documented ``InvalidSignature``, not a ``ValueError`` that breaks
    the receiver's handler (here the real receiver: it answers 401, not a dropped connection)."""
    # the time is read as the test runs, not when it is collected: minutes apart under load, past the
    # receiver's tolerance (the ASCII case would then fail as stale, not on its signature)
    now = str(int(time.time())).encode()
    stamp = stamp.replace(b"\xb9NOW", b"\xb9" + now[1:]).replace(b"NOW", now)
    body = b'{"idempotency_key":"k1"}'
    head = (
        b"POST /alliancekit/hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"webhook-id: k1\r\nwebhook-timestamp: " + stamp + b"\r\nwebhook-signature: v1,AAAA\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as conn:
        conn.sendall(head + body)
        answer = conn.makefile("rb").readline()
    assert answer.split()[1:2] == [b"401"]
    assert receiver.rejected == [reason]
    assert receiver.accepted == []


@pytest.mark.filterwarnings("ignore:the Alliancekit-Signature format is deprecated:DeprecationWarning")
def test_a_first_release_sender_is_keyed_by_its_idempotency_key(receiver: LocalWebhookReceiver) -> None:
    """A sender of the first release sends no ``webhook-id``: the receiver (and the README's handler) keys
    its requests by the ``Idempotency-Key`` that ``verify_signature`` checked against the signed body, not
    by an empty id under which every such message after the first was dropped as a repeat."""
    import http.client

    def post(key: str) -> int:
        body = json.dumps({"idempotency_key": key}).encode()
        headers = _signed(body, int(time.time()), key=key) | {"Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
        try:
            connection.request("POST", "/alliancekit/hook", body=body, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()

    assert [post("k1"), post("k2"), post("k1")] == [200, 200, 200]
    assert sorted(receiver.processed) == ["k1", "k2"]
    assert receiver.duplicates == 1


@pytest.mark.parametrize("key", [None, ""])
def test_the_deprecated_format_without_an_idempotency_key_is_refused(key: str | None) -> None:
    """Its signature covers the timestamp and body, not an id: the id a receiver drops repeats by is the
    Idempotency-Key, so a genuine, fresh request without one (or with an empty one) is refused."""
    body = json.dumps({"idempotency_key": "k1"}).encode()
    headers = _signed(body, 2_000_000_000, key=key)
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(SECRET, headers, body, now=2_000_000_000)
    assert caught.value.reason == "missing-header"


@pytest.mark.filterwarnings("ignore:the Alliancekit-Signature format is deprecated:DeprecationWarning")
def test_a_captured_delivery_replayed_without_its_ids_is_refused(receiver: LocalWebhookReceiver) -> None:
    """A real delivery, replayed within the tolerance with only the first release's signature: without the
    Idempotency-Key (or with another one) it is refused; with its own it is the repeat it is."""
    import http.client

    _channel(receiver.url).deliver(_note("a" * 32))
    (first,) = receiver.accepted
    legacy = {
        k: v
        for k, v in first.headers.items()
        if k.lower() in (TIMESTAMP_HEADER.lower(), SIGNATURE_HEADER.lower(), "content-type")
    }
    assert len(legacy) == 3

    def replay(extra: dict[str, str]) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=10)
        try:
            connection.request("POST", "/alliancekit/hook", body=first.body, headers=legacy | extra)
            return connection.getresponse().status
        finally:
            connection.close()

    assert replay({}) == 401
    assert replay({IDEMPOTENCY_HEADER: ""}) == 401
    assert replay({IDEMPOTENCY_HEADER: "b" * 32}) == 401
    assert receiver.rejected == ["missing-header", "missing-header", "key-mismatch"]
    assert replay({IDEMPOTENCY_HEADER: "a" * 32}) == 200
    assert list(receiver.processed) == ["a" * 32]
    assert receiver.duplicates == 1


@pytest.mark.parametrize(
    ("variable", "value", "reported"),
    [
        ("TIMEOUT", "eight-x1", "ALLIANCEKIT_WEBHOOK_TIMEOUT: positive (a number of seconds greater than 0)"),
        ("URL", "ftp://hooks.clinic.test/x1", "ALLIANCEKIT_WEBHOOK_URL: url (an http(s) URL)"),
        (
            "SECRET",
            "whsec_not-base64-x1",
            "ALLIANCEKIT_WEBHOOK_SECRET: base64 (a whsec_ secret is base64 of 24 to 64 bytes)",
        ),
    ],
)
def test_a_refused_setting_is_named_in_the_report_without_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reported: str
) -> None:
    from alliancekit_webhook import plugin

    from alliancekit.plugins.manager import make_plugin_host

    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_URL", "https://hooks.clinic.test/alliancekit")
    monkeypatch.setenv("ALLIANCEKIT_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv(f"ALLIANCEKIT_WEBHOOK_{variable}", value)
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    assert registry.names() == []
    assert [what for _, what in registry.problems] == [
        f"raised ValidationError while registering: {reported}"
    ]
    assert "x1" not in repr(registry.problems)
    assert SECRET not in repr(registry.problems)
