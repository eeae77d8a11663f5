"""Standard Webhooks signatures (https://www.standardwebhooks.com/): what the channel sends verifies with
that project's own Python library in a real receiver on 127.0.0.1, and what the library signs verifies
with :func:`verify_signature`."""

from __future__ import annotations

import base64
import json
import math
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alliancekit_webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    InvalidSignature,
    WebhookChannel,
    WebhookConfig,
    WebhookRejected,
    generate_secret,
    sign_webhook,
    verify_signature,
)
from standardwebhooks import Webhook, WebhookVerificationError

from alliancekit.errors import ValidationError
from alliancekit.notify import Notification

WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()  # a fixed test key, 32 bytes
PLAIN = "test-secret-0123456789abcdef"
NOW = 2_000_000_000


def _note(key: str = "f" * 32) -> Notification:
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
        rule_id="risk-item-endorsed",
        severity="urgent",
    )


class StandardReceiver:
    """A receiver that knows nothing of alliancekit: it verifies with the ``standardwebhooks`` library."""

    def __init__(self, secret: str | bytes) -> None:
        self.verifier = Webhook(secret)
        self.accepted: list[tuple[dict[str, str], Any]] = []
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = dict(self.headers.items())
                try:
                    payload = receiver.verifier.verify(body, headers)
                except WebhookVerificationError as exc:
                    receiver.refused.append(str(exc))
                    status = 401
                else:
                    receiver.accepted.append((headers, payload))
                    status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> StandardReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def _channel(url: str, secret: str) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url=url, secret=secret, allow_http=True, timeout=3.0))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(WHSEC, WHSEC), (PLAIN, PLAIN.encode())],  # a plain secret is keyed as its bytes
    ids=["whsec", "plain"],
)
def test_an_off_the_shelf_verifier_accepts_what_we_send(ours: str, theirs: str | bytes) -> None:
    with StandardReceiver(theirs) as receiver:
        _channel(receiver.url, ours).deliver(_note())
    assert receiver.refused == []
    ((headers, payload),) = receiver.accepted
    assert payload["idempotency_key"] == headers[WEBHOOK_ID_HEADER] == "f" * 32
    assert payload["rule_id"] == "risk-item-endorsed"


def test_an_off_the_shelf_verifier_refuses_another_key() -> None:
    with StandardReceiver(generate_secret()) as receiver, pytest.raises(WebhookRejected, match="401"):
        _channel(receiver.url, WHSEC).deliver(_note())
    assert receiver.accepted == []
    assert receiver.refused == ["No matching signature found"]


def test_we_accept_what_the_off_the_shelf_library_signs() -> None:
    body = json.dumps({"idempotency_key": "k1"}).encode()
    at = datetime.fromtimestamp(NOW, tz=UTC)
    theirs = Webhook(WHSEC).sign("k1", at, body.decode())
    assert theirs == sign_webhook(WHSEC, "k1", NOW, body)
    headers = {WEBHOOK_ID_HEADER: "k1", WEBHOOK_TIMESTAMP_HEADER: str(NOW), WEBHOOK_SIGNATURE_HEADER: theirs}
    verify_signature(WHSEC, headers, body, now=NOW)


def _standard(body: bytes, *, at: int = NOW, webhook_id: str = "k1", secret: str = WHSEC) -> dict[str, str]:
    return {
        WEBHOOK_ID_HEADER: webhook_id,
        WEBHOOK_TIMESTAMP_HEADER: str(at),
        WEBHOOK_SIGNATURE_HEADER: sign_webhook(secret, webhook_id, at, body),
    }


BODY = b'{"idempotency_key":"k1"}'


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({WEBHOOK_ID_HEADER: "k1", WEBHOOK_TIMESTAMP_HEADER: str(NOW)}, BODY, "missing-header"),
        ({k: v for k, v in _standard(BODY).items() if k != WEBHOOK_ID_HEADER}, BODY, "missing-header"),
        (_standard(BODY) | {WEBHOOK_TIMESTAMP_HEADER: "soon"}, BODY, "bad-timestamp"),
        (_standard(BODY, at=NOW - 301), BODY, "stale-timestamp"),
        (_standard(BODY, at=NOW + 301), BODY, "stale-timestamp"),
        (_standard(BODY), b'{"idempotency_key":"k2"}', "bad-signature"),
        (_standard(BODY) | {WEBHOOK_ID_HEADER: "k2"}, BODY, "bad-signature"),  # the id is signed too
        (_standard(BODY, secret=generate_secret()), BODY, "bad-signature"),
        (_standard(BODY, secret=PLAIN), BODY, "bad-signature"),
        (  # an asymmetric (v1a) signature is not one we can check
            _standard(BODY)
            | {WEBHOOK_SIGNATURE_HEADER: "v1a," + _standard(BODY)[WEBHOOK_SIGNATURE_HEADER][3:]},
            BODY,
            "bad-signature",
        ),
        (_standard(BODY) | {IDEMPOTENCY_HEADER: "k2"}, BODY, "key-mismatch"),
    ],
)
def test_standard_signatures_are_refused(headers: dict[str, str], body: bytes, reason: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        verify_signature(WHSEC, headers, body, 300, now=NOW)
    assert caught.value.reason == reason


@pytest.mark.parametrize("offset", [-300, 300])
def test_the_tolerance_is_inclusive(offset: int) -> None:
    verify_signature(WHSEC, _standard(BODY, at=NOW + offset), BODY, 300, now=NOW)


def test_rotation_space_separated_signatures_and_several_secrets() -> None:
    old = generate_secret()
    headers = _standard(BODY)
    headers[WEBHOOK_SIGNATURE_HEADER] = (
        f"{sign_webhook(old, 'k1', NOW, BODY)} {headers[WEBHOOK_SIGNATURE_HEADER]}"
    )
    verify_signature(WHSEC, headers, BODY, now=NOW)
    verify_signature([old, generate_secret()], headers, BODY, now=NOW)
    with pytest.raises(InvalidSignature):
        verify_signature(generate_secret(), headers, BODY, now=NOW)


def test_the_channel_also_sends_the_deprecated_headers_for_one_release() -> None:
    """A receiver still on the first release's verifier (its two headers only) keeps working."""
    with StandardReceiver(WHSEC) as receiver:
        _channel(receiver.url, WHSEC).deliver(_note())
    ((headers, payload),) = receiver.accepted
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    legacy = {
        k: v for k, v in headers.items() if k in (TIMESTAMP_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_HEADER)
    }
    assert set(legacy) == {TIMESTAMP_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_HEADER}
    with pytest.warns(DeprecationWarning, match="Standard Webhooks"):
        verify_signature(WHSEC, legacy, body, now=int(headers[TIMESTAMP_HEADER]))
    # with the standard headers present, the standard check decides (no warning: filterwarnings=error)
    verify_signature(WHSEC, headers, body, now=int(headers[TIMESTAMP_HEADER]))


def test_generated_secrets_are_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first != second
    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32


@pytest.mark.parametrize(
    "secret",
    [
        "whsec_" + base64.b64encode(bytes(23)).decode(),  # 23 bytes: one short
        "whsec_" + base64.b64encode(bytes(65)).decode(),  # 65 bytes: one over
        "whsec_not*base64",
    ],
)
def test_a_whsec_secret_outside_24_to_64_bytes_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_") as caught:
        WebhookConfig(url="https://hooks.clinic.test/x", secret=secret)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("size", [24, 64])
def test_a_whsec_secret_of_24_or_64_bytes_is_accepted(size: int) -> None:
    secret = "whsec_" + base64.b64encode(bytes(range(size))).decode()
    assert WebhookConfig(url="https://hooks.clinic.test/x", secret=secret).secret == secret


@pytest.mark.parametrize("tolerance", [math.nan, -1.0, -0.001])
def test_a_tolerance_that_is_not_a_number_or_negative_is_refused(tolerance: float) -> None:
    """``abs(now - timestamp) > nan`` is false for every timestamp: a NaN tolerance (a receiver's setting
    read with ``float()``) accepted a replay of any age as fresh."""
    with pytest.raises(ValidationError, match="tolerance: minimum"):
        verify_signature(WHSEC, _standard(BODY, at=NOW - 10**6), BODY, tolerance, now=NOW)


@pytest.mark.parametrize("offset", [0, 1])
def test_a_zero_tolerance_accepts_the_same_second_only(offset: int) -> None:
    if offset:
        with pytest.raises(InvalidSignature, match="stale-timestamp"):
            verify_signature(WHSEC, _standard(BODY, at=NOW - offset), BODY, 0.0, now=NOW)
    else:
        verify_signature(WHSEC, _standard(BODY, at=NOW), BODY, 0.0, now=NOW)
