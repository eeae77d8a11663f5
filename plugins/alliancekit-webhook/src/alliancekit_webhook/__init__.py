"""Signed webhook notifications for alliancekit.

Each outbox message is POSTed as a small JSON document (:meth:`alliancekit.notify.Notification.as_dict`:
kind, references, an alert's rule id and severity; never client words or scores) with three headers:

``Alliancekit-Timestamp``
    Unix time, in seconds, when the request was signed.
``Alliancekit-Signature``
    ``v1=`` and the hex HMAC-SHA256, keyed with the shared secret, of ``<timestamp>.`` followed by the raw
    body bytes. Several comma-separated ``v1=`` values may appear while a secret is being rotated.
``Idempotency-Key``
    The message id (also in the body as ``idempotency_key``); a receiver drops a key it has already seen,
    because alliancekit delivers at least once.

Receivers check a request with :func:`verify_signature`, which rejects a missing, malformed or wrong
signature, a timestamp outside the tolerance (a replay), and an ``Idempotency-Key`` header that does not
match the signed body. Any 2xx answer is a delivery; anything else, a redirect included, is a failure that
alliancekit retries later.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import ssl
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from alliancekit import hookimpl
from alliancekit.notify import DEFAULT_KINDS, Notification
from alliancekit.notify.channels import ChannelRegistrar

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "InvalidSignature",
    "WebhookChannel",
    "WebhookConfig",
    "WebhookRejected",
    "sign",
    "verify_signature",
]

TIMESTAMP_HEADER = "Alliancekit-Timestamp"
SIGNATURE_HEADER = "Alliancekit-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Default tolerance, in seconds, between the signing time and the receiver's clock.
DEFAULT_TOLERANCE = 300.0
MIN_SECRET_LENGTH = 16
ENV_PREFIX = "ALLIANCEKIT_WEBHOOK_"


class InvalidSignature(Exception):
    """A webhook request that must not be trusted. ``reason`` is one of a few fixed codes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookRejected(Exception):
    """The receiver answered with something other than 2xx (the status is kept, never the body)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"webhook answered HTTP {status}")
        self.status = status


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``Alliancekit-Signature`` value for ``body`` signed at ``timestamp``."""
    digest = hmac.new(_key(secret), str(int(timestamp)).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_signature(
    secret: str | bytes | Sequence[str | bytes],
    headers: Mapping[str, str] | Any,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> None:
    """Check a received webhook request; return ``None`` when it is genuine, raise otherwise.

    :param secret: the shared secret, or several (any may match) while rotating secrets.
    :param headers: the request headers (any mapping; names compared case-insensitively, so
        ``http.server`` and WSGI/ASGI header objects work).
    :param body: the raw request body, exactly as received.
    :param tolerance: seconds the timestamp may differ from ``now`` either way.
    :raises InvalidSignature: with ``reason`` ``missing-header``, ``bad-timestamp``, ``stale-timestamp``,
        ``bad-signature`` or ``key-mismatch``.
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    stamp, signatures = lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
    if not stamp or not signatures:
        raise InvalidSignature("missing-header")
    if not stamp.isdigit() or len(stamp) > 12:
        raise InvalidSignature("bad-timestamp")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("stale-timestamp")
    secrets = [secret] if isinstance(secret, str | bytes) else list(secret)
    offered = [s.strip() for s in signatures.split(",") if s.strip().startswith("v1=")]
    expected = [sign(s, timestamp, body) for s in secrets]
    # compare every pair in constant time, and do not stop at the first match (no timing hint)
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    if not matched:
        raise InvalidSignature("bad-signature")
    key = lowered.get(IDEMPOTENCY_HEADER.lower())
    if key is not None:
        try:
            signed_key = json.loads(body).get("idempotency_key")
        except (ValueError, AttributeError):
            signed_key = None
        if signed_key != key:
            raise InvalidSignature("key-mismatch")


def _check_url(instance: WebhookConfig, attribute: Any, value: str) -> None:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("WebhookConfig.url must be an http(s) URL")
    if parts.scheme == "http" and not instance.allow_http:
        raise ValueError("WebhookConfig.url must be https (set allow_http for a trusted local network)")
    if parts.username or parts.password:
        raise ValueError("WebhookConfig.url must not carry credentials")


def _check_secret(instance: object, attribute: Any, value: str | bytes) -> None:
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"WebhookConfig.secret must be at least {MIN_SECRET_LENGTH} characters")


@attrs.frozen
class WebhookConfig:
    """Where to POST and the shared secret. ``secret`` never appears in a repr."""

    allow_http: bool = attrs.field(default=False, kw_only=True)
    """Permit plain ``http://`` (a receiver on the same host or a trusted network only)."""
    url: str = attrs.field(kw_only=True, validator=_check_url)
    secret: str | bytes = attrs.field(kw_only=True, repr=False, validator=_check_secret)
    timeout: float = attrs.field(default=10.0, kw_only=True)
    """Seconds for connecting and for the answer (keep it below the dispatcher's call limit)."""
    channel: str = attrs.field(default="webhook", kw_only=True)
    kinds: tuple[str, ...] = attrs.field(default=DEFAULT_KINDS, converter=tuple, kw_only=True)
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, eq=False, repr=False, kw_only=True)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookConfig | None:
        """Read ``ALLIANCEKIT_WEBHOOK_*``; ``None`` when ``ALLIANCEKIT_WEBHOOK_URL`` is not set.

        ``URL``, ``SECRET``, ``TIMEOUT``, ``CHANNEL``, ``KINDS`` (comma-separated), ``CA_FILE``,
        ``ALLOW_HTTP`` (``1`` to permit ``http://``).
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        url = get("URL")
        if url is None:
            return None
        options: dict[str, Any] = {
            "url": url,
            "secret": get("SECRET") or "",
            "allow_http": get("ALLOW_HTTP") in ("1", "true", "yes"),
        }
        if timeout := get("TIMEOUT"):
            options["timeout"] = float(timeout)
        if channel := get("CHANNEL"):
            options["channel"] = channel
        if kinds := get("KINDS"):
            options["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
        if cafile := get("CA_FILE"):
            options["ssl_context"] = ssl.create_default_context(cafile=cafile)
        return cls(**options)


class WebhookChannel:
    """An alliancekit notification channel that POSTs signed JSON. Also a plugin registering itself."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.name = config.channel
        self.kinds = config.kinds
        parts = urllib.parse.urlsplit(config.url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))

    def __repr__(self) -> str:
        return f"WebhookChannel({self.name!r}, {self._host})"

    def body(self, message: Notification) -> bytes:
        return json.dumps(message.as_dict(), sort_keys=True, separators=(",", ":")).encode()

    def deliver(self, message: Notification) -> None:
        """POST one message; raise :class:`WebhookRejected` on a non-2xx answer, OSError if unreachable."""
        body = self.body(message)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "alliancekit-webhook/0.1",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.config.secret, timestamp, body),
            IDEMPOTENCY_HEADER: message.idempotency_key,
        }
        connection: http.client.HTTPConnection
        if self._https:
            context = self.config.ssl_context or ssl.create_default_context()
            connection = http.client.HTTPSConnection(
                self._host, self._port, timeout=self.config.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=self.config.timeout)
        try:
            connection.request("POST", self._path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # drain a little so the connection closes cleanly; never kept or logged
            if not 200 <= response.status < 300:
                raise WebhookRejected(response.status)
        finally:
            connection.close()

    @hookimpl
    def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
        register(self)
