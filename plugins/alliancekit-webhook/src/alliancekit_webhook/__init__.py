"""Signed webhook notifications for alliancekit, in the Standard Webhooks format.

Each outbox message is POSTed as a small JSON document (:meth:`alliancekit.notify.Notification.as_dict`:
kind, references, an alert's rule id and severity; never client words or scores), signed as the Standard
Webhooks specification says (https://www.standardwebhooks.com/), so a receiver may check it with any of
that project's libraries or with :func:`verify_signature`:

``webhook-id``
    The message id: the idempotency key (also ``idempotency_key`` in the body). alliancekit delivers at
    least once, so a receiver drops an id it has already processed.
``webhook-timestamp``
    Unix time, in seconds, when the request was signed.
``webhook-signature``
    ``v1,`` and the base64 HMAC-SHA256 of ``<webhook-id>.<webhook-timestamp>.<raw body>``, keyed with the
    secret: a ``whsec_`` secret is base64 of the key (24 to 64 random bytes, :func:`generate_secret`); any
    other secret is used as its UTF-8 bytes. Several space-separated signatures may appear.
``Idempotency-Key``
    The message id again, for receivers of the first release.

**Deprecated, removed in the next release:** the first release's own format, ``Alliancekit-Timestamp``
and ``Alliancekit-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">``. This release still sends
those two headers beside the standard ones and :func:`verify_signature` still accepts a request that has
only them and ``Idempotency-Key`` (with a :class:`DeprecationWarning`), so senders and receivers can be
upgraded in any order. That signature does not cover an id, so such a request without ``Idempotency-Key``
(which every sender sends) is refused: a captured delivery stripped of its ids is not taken for a new one.

Receivers check a request with :func:`verify_signature`, which rejects a missing, malformed or wrong
signature, a timestamp outside the tolerance (a replay), and an ``Idempotency-Key`` header that does not
match the signed body. Any 2xx answer is a delivery (its body is not waited for); anything else is a
failed attempt, and :func:`is_permanent` says (from RFC 9110) whether it is retried or the message is dead
at once. A redirect is never followed: the signed request goes to the configured URL only. A receiver's
``Retry-After`` (seconds or an HTTP-date) on a retried answer puts the next attempt no earlier than that,
within the dispatcher's ``max_delay``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import secrets
import socket
import ssl
import time
import urllib.parse
import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from alliancekit import hookimpl
from alliancekit.errors import ValidationError
from alliancekit.notify import CHANNEL_TIMEOUT, DEFAULT_KINDS, DeliveryError, Notification
from alliancekit.notify.channels import ChannelRegistrar
from alliancekit.notify.deadline import ReplyDeadline
from alliancekit.notify.tls import tls_refusal

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "InvalidSignature",
    "WebhookChannel",
    "WebhookConfig",
    "WebhookRejected",
    "WebhookSetupError",
    "generate_secret",
    "is_permanent",
    "retry_after_seconds",
    "sign",
    "sign_webhook",
    "verify_signature",
]

#: The Standard Webhooks headers.
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
#: The first release's headers (deprecated: sent and accepted for one more release).
TIMESTAMP_HEADER = "Alliancekit-Timestamp"
SIGNATURE_HEADER = "Alliancekit-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Default tolerance, in seconds, between the signing time and the receiver's clock (the specification's
#: libraries allow five minutes).
DEFAULT_TOLERANCE = 300.0
MIN_SECRET_LENGTH = 16
#: A ``whsec_`` key is 24 to 64 bytes (the Standard Webhooks specification: "at least 24 bytes (192 bits,
#: 512 maximum)").
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of a secret, not one
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
ENV_PREFIX = "ALLIANCEKIT_WEBHOOK_"


class InvalidSignature(Exception):
    """A webhook request that must not be trusted. ``reason`` is one of a few fixed codes."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WebhookRejected(DeliveryError):
    """The receiver answered with something other than 2xx (the status is kept, never the body).

    ``permanent`` is :func:`is_permanent`'s verdict; ``retry_after`` the receiver's ``Retry-After`` in
    seconds, for an answer that is retried.
    """

    def __init__(self, status: int, *, retry_after: float | None = None) -> None:
        permanent = is_permanent(status, retry_after=retry_after is not None)
        super().__init__(
            f"webhook answered HTTP {status}",
            permanent=permanent,
            retry_after=None if permanent else retry_after,
        )
        self.status = status


class WebhookSetupError(DeliveryError, OSError):
    """A connection that no retry can mend, because a setting is wrong or the receiver is not the one
    configured: always ``permanent``. ``reason`` (recorded in the outbox) names the setting to check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True, reason=reason)


#: The reasons of :class:`WebhookSetupError`, by :func:`alliancekit.notify.tls.tls_refusal`'s verdict, each
#: naming the setting to check (the ``ALLIANCEKIT_WEBHOOK_*`` variable; in code, the :class:`WebhookConfig`
#: field of the same meaning).
SETUP_REASONS = {
    "not-tls": "not-tls (the receiver does not speak TLS on this port); check ALLIANCEKIT_WEBHOOK_URL",
    "certificate-name": "certificate-name (the receiver's certificate is for another name); check the host "
    "in ALLIANCEKIT_WEBHOOK_URL",
    "certificate-untrusted": "certificate-untrusted (unknown issuer, self-signed or expired); check "
    "ALLIANCEKIT_WEBHOOK_CA_FILE (ssl_context)",
}


#: Answers that repeating the same request cannot change (RFC 9110 section 15): the request or its
#: signature is refused (400, 401, 403, 405, 409, 411, 414, 415, 422, other 4xx), the resource is gone (410),
#: the server cannot do POST or HTTP/1.1 at all (501, 505), or the URL has moved for good (301, 308: fix the
#: configuration, then ``outbox retry``).
_PERMANENT_REDIRECTS = frozenset({301, 308})
_PERMANENT_5XX = frozenset({501, 505})
#: 4xx answers that say "later": 404 (RFC 9110 15.5.5: may be temporary, as while a receiver is deployed),
#: 408 Request Timeout, 425 Too Early (RFC 8470), 429 Too Many Requests (RFC 6585).
_TRANSIENT_4XX = frozenset({404, 408, 425, 429})


def is_permanent(status: int, *, retry_after: bool = False) -> bool:
    """Whether a non-2xx answer is a refusal that retrying cannot change (the message is dead at once).

    413 Content Too Large is permanent unless it carries ``Retry-After`` (RFC 9110 15.5.14: then the
    condition is temporary). Other 3xx and 5xx, and 404, 408, 425 and 429, are retried.
    """
    if status in _PERMANENT_REDIRECTS or status in _PERMANENT_5XX:
        return True
    if status == 413:
        return not retry_after
    return 400 <= status < 500 and status not in _TRANSIENT_4XX


_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "|".join(_MONTHS)
_TIME = r"(\d\d):(\d\d):(\d\d)"
# RFC 9110 5.6.7: IMF-fixdate, and the obsolete rfc850-date and asctime-date every recipient must accept
_IMF_FIXDATE = re.compile(rf"(?:{_DAYS}), (\d\d) ({_MONTH}) (\d{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(
    rf"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-({_MONTH})-(\d\d) {_TIME} GMT"
)
_ASCTIME_DATE = re.compile(rf"(?:{_DAYS}) ({_MONTH}) ([ \d]\d) {_TIME} (\d{{4}})")
#: RFC 9111 1.2.2: a delta-seconds too large to represent is taken as 2**31.
_MAX_DELTA = 2**31


def _http_date(value: str, now: float) -> float | None:
    """An HTTP-date as Unix time, or ``None`` if it is not one."""
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hh, mm, ss = m.groups()
    elif m := _RFC850_DATE.fullmatch(value):
        day, month, yy, hh, mm, ss = m.groups()
        # a two-digit year more than 50 years ahead is the latest past year with those digits (RFC 9110)
        this_year = time.gmtime(now).tm_year
        candidate = this_year - this_year % 100 + int(yy)
        year = str(candidate - 100 if candidate > this_year + 50 else candidate)
    elif m := _ASCTIME_DATE.fullmatch(value):
        month, day, hh, mm, ss, year = m.groups()
    else:
        return None
    try:
        when = datetime(int(year), _MONTHS.index(month) + 1, int(day), int(hh), int(mm), int(ss), tzinfo=UTC)
    except ValueError:  # 31 Feb, 24:00 and the like (a leap second too: ignored, like any malformed value)
        return None
    return when.timestamp()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """A ``Retry-After`` value (RFC 9110 10.2.3) as seconds from ``now`` (Unix time), or ``None`` when it is
    absent or malformed (then ignored). A date in the past is 0."""
    if value is None:
        return None
    value = value.strip(" \t")
    if value.isascii() and value.isdigit():
        return float(_MAX_DELTA if len(value) > 10 else min(int(value), _MAX_DELTA))
    when = _http_date(value, now) if value.isascii() else None
    return None if when is None else max(0.0, when - now)


def generate_secret() -> str:
    """A new Standard Webhooks secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _legacy_key(secret: str | bytes) -> bytes:
    # the first release keyed its HMAC with the secret's bytes as configured, whatever they were
    return secret.encode() if isinstance(secret, str) else secret


def _key(secret: str | bytes) -> bytes:
    """The HMAC key of a secret: a ``whsec_`` secret's decoded bytes, else the secret's own bytes."""
    if isinstance(secret, str) and secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            raise ValidationError("WebhookConfig.secret", "base64", "a whsec_ secret is base64") from None
    return _legacy_key(secret)


def sign_webhook(secret: str | bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for ``body`` sent as ``webhook_id`` at
    ``timestamp``."""
    signed = f"{webhook_id}.{int(timestamp)}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The first release's ``Alliancekit-Signature`` value (deprecated: use :func:`sign_webhook`)."""
    signed = str(int(timestamp)).encode() + b"." + body
    return "v1=" + hmac.new(_legacy_key(secret), signed, hashlib.sha256).hexdigest()


def _any_matches(offered: Sequence[str], expected: Sequence[str]) -> bool:
    # compare every pair in constant time, and do not stop at the first match (no timing hint)
    matched = False
    for candidate in offered:
        for wanted in expected:
            matched |= hmac.compare_digest(candidate.encode(), wanted.encode())
    return matched


def _timestamp(stamp: str, tolerance: float, now: float | None) -> int:
    # ASCII digits only: str.isdigit also takes superscripts (Latin-1 bytes in a header) that int() refuses
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        raise InvalidSignature("bad-timestamp")
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("stale-timestamp")
    return timestamp


def verify_signature(
    secret: str | bytes | Sequence[str | bytes],
    headers: Mapping[str, str] | Any,
    body: bytes,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> None:
    """Check a received webhook request; return ``None`` when it is genuine, raise otherwise.

    A request with the Standard Webhooks headers is checked by them; one with only the first release's
    headers is checked by those, with a :class:`DeprecationWarning` (accepted for this release only), and
    must carry an ``Idempotency-Key`` (the id its receiver drops repeats by, which that signature does not
    cover): it is checked against the signed body.

    :param secret: the shared secret, or several (any may match) while rotating secrets.
    :param headers: the request headers (any mapping; names compared case-insensitively, so
        ``http.server`` and WSGI/ASGI header objects work).
    :param body: the raw request body, exactly as received.
    :param tolerance: seconds the timestamp may differ from ``now`` either way.
    :raises InvalidSignature: with ``reason`` ``missing-header``, ``bad-timestamp``, ``stale-timestamp``,
        ``bad-signature`` or ``key-mismatch``.
    :raises alliancekit.errors.ValidationError: for a ``tolerance`` that is negative or not a number.
    """
    if not tolerance >= 0:  # NaN compares false with everything: every timestamp, however old, would pass
        raise ValidationError("tolerance", "minimum", "0 or more seconds")
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    secrets_ = [secret] if isinstance(secret, str | bytes) else list(secret)
    webhook_id = lowered.get(WEBHOOK_ID_HEADER)
    stamp, signatures = lowered.get(WEBHOOK_TIMESTAMP_HEADER), lowered.get(WEBHOOK_SIGNATURE_HEADER)
    if webhook_id or stamp or signatures:
        if not webhook_id or not stamp or not signatures:
            raise InvalidSignature("missing-header")
        timestamp = _timestamp(stamp, tolerance, now)
        offered = [s for s in signatures.split() if s.startswith("v1,")]
        expected = [sign_webhook(s, webhook_id, timestamp, body) for s in secrets_]
    else:
        stamp, signatures = lowered.get(TIMESTAMP_HEADER.lower()), lowered.get(SIGNATURE_HEADER.lower())
        # This signature covers the timestamp and body only, not an id: a receiver drops repeats by the
        # Idempotency-Key (checked against the signed body below), which every sender has always sent.
        # Without it a captured request, its other ids stripped, would be processed again as new.
        if not stamp or not signatures or not lowered.get(IDEMPOTENCY_HEADER.lower()):
            raise InvalidSignature("missing-header")
        warnings.warn(
            "the Alliancekit-Signature format is deprecated and will not be accepted after this release: "
            "upgrade the sender to the Standard Webhooks headers",
            DeprecationWarning,
            stacklevel=2,
        )
        timestamp = _timestamp(stamp, tolerance, now)
        offered = [s.strip() for s in signatures.split(",") if s.strip().startswith("v1=")]
        expected = [sign(s, timestamp, body) for s in secrets_]
    if not _any_matches(offered, expected):
        raise InvalidSignature("bad-signature")
    key = lowered.get(IDEMPOTENCY_HEADER.lower())
    if key is not None:
        try:
            signed_key = json.loads(body).get("idempotency_key")
        except (ValueError, AttributeError):
            signed_key = None
        if signed_key != key:
            raise InvalidSignature("key-mismatch")


# Each refusal of a setting is a ValidationError (a ValueError) naming the field and rule, never the value:
# from_env renames the field to the setting it came from, and the registry shows those words to the operator.


def _check_url(instance: WebhookConfig, attribute: Any, value: str) -> None:
    try:
        parts = urllib.parse.urlsplit(value)
        hostname = parts.hostname
    except ValueError:  # a bracketed host that is not an address, an unbalanced bracket
        hostname = None
    if hostname is None or parts.scheme not in ("https", "http"):
        raise ValidationError("WebhookConfig.url", "url", "an http(s) URL")
    if parts.scheme == "http" and not instance.allow_http:
        raise ValidationError("WebhookConfig.url", "https", "set allow_http for a trusted local network")
    if parts.username or parts.password:
        raise ValidationError("WebhookConfig.url", "credentials", "a URL without a user or password in it")


def _origin(url: str) -> str:
    """A URL as a repr shows it: scheme, host and port; its path and query may hold a token."""
    parts = urllib.parse.urlsplit(url)
    return repr(urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "/…", "", "")))


def _check_timeout(instance: object, attribute: Any, value: object) -> None:
    # checked here: a zero, negative or NaN timeout would fail every delivery until its messages are dead
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValidationError("WebhookConfig.timeout", "positive", "a number of seconds greater than 0")


def _check_secret(instance: object, attribute: Any, value: str | bytes) -> None:
    whsec = f"a whsec_ secret is base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes"
    if isinstance(value, str) and value.startswith(SECRET_PREFIX):
        try:
            key = _key(value)
        except ValueError:
            raise ValidationError("WebhookConfig.secret", "base64", whsec) from None
        if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
            raise ValidationError("WebhookConfig.secret", "length", whsec)
    elif len(value) < MIN_SECRET_LENGTH:
        raise ValidationError(
            "WebhookConfig.secret", "length", f"at least {MIN_SECRET_LENGTH} characters, or {whsec}"
        )


@attrs.frozen
class WebhookConfig:
    """Where to POST and the shared secret. ``secret`` never appears in a repr."""

    allow_http: bool = attrs.field(default=False, kw_only=True)
    """Permit plain ``http://`` (a receiver on the same host or a trusted network only)."""
    url: str = attrs.field(kw_only=True, validator=_check_url, repr=_origin)
    """The receiver's URL; a repr shows its origin only (a path or query may carry a token)."""
    secret: str | bytes = attrs.field(kw_only=True, repr=False, validator=_check_secret)
    timeout: float = attrs.field(default=CHANNEL_TIMEOUT, kw_only=True, validator=_check_timeout)
    """Seconds for the whole delivery: connecting, sending, and the answer's status and headers however
    slowly they come. Keep it below the dispatcher's ``call_timeout`` (10 s by default), or a delivery
    still under way is abandoned as timed out and sent again."""
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
        try:
            return cls(**_options_from_env(url, get))
        except ValidationError as exc:  # named by the setting the operator gave, not by the attribute
            field = exc.field.removeprefix("WebhookConfig.")
            setting = ENV_PREFIX + ENV_NAMES.get(field, field.upper())
            raise ValidationError(setting, exc.rule, exc.detail) from None


#: The ``ALLIANCEKIT_WEBHOOK_*`` setting of each ``WebhookConfig`` attribute whose name differs.
ENV_NAMES = {"ssl_context": "CA_FILE"}


def _options_from_env(url: str, get: Callable[[str], str | None]) -> dict[str, Any]:
    """:meth:`WebhookConfig.from_env`'s arguments; a setting that cannot be read is refused by its field."""
    options: dict[str, Any] = {
        "url": url,
        "secret": get("SECRET") or "",
        "allow_http": get("ALLOW_HTTP") in ("1", "true", "yes"),
    }
    if timeout := get("TIMEOUT"):
        try:
            options["timeout"] = float(timeout)
        except ValueError:
            raise ValidationError(
                "WebhookConfig.timeout", "positive", "a number of seconds greater than 0"
            ) from None
    if channel := get("CHANNEL"):
        options["channel"] = channel
    if kinds := get("KINDS"):
        options["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    if cafile := get("CA_FILE"):
        try:
            options["ssl_context"] = ssl.create_default_context(cafile=cafile)
        except OSError:  # ssl.SSLError among them
            raise ValidationError(
                "WebhookConfig.ssl_context", "ca-file", "a readable file of CA certificates"
            ) from None
    return options


class _FinalResponse(http.client.HTTPResponse):
    """An answer read past interim 1xx responses (RFC 9110 15.2: a client must parse any number of them
    before the final one). http.client skips only 100 Continue: a 102 Processing or a 103 Early Hints
    before the receiver's 200 would otherwise count as its answer, and the delivery be sent again."""

    def _read_status(self) -> tuple[str, int, str]:
        version, status, reason = super()._read_status()  # type: ignore[misc]  # not in the stubs
        if 100 < status < 200 and status != 101:  # 101 switches protocols: not asked for, not skipped
            return version, http.client.CONTINUE, reason  # begin() then skips its headers, reads on
        return version, status, reason


class _Connection(http.client.HTTPConnection):
    """One delivery's connection, http or https: connecting and the TLS handshake take what is left of the
    delivery's budget, not a fresh ``timeout`` each (http.client gives each step the full timeout), and the
    handshake is cut by the deadline's watchdog like a reply."""

    response_class = _FinalResponse

    def __init__(self, host: str, port: int | None, deadline: ReplyDeadline, tls: ssl.SSLContext | None):
        self.default_port = http.client.HTTPS_PORT if tls is not None else http.client.HTTP_PORT
        super().__init__(host, port, timeout=deadline.left())
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        self.timeout = self._deadline.left()
        super().connect()
        sock: socket.socket = self.sock
        if self._tls is not None:
            sock.settimeout(self._deadline.left())
            with self._deadline.reply(sock):
                self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock.settimeout(self._deadline.left())


class WebhookChannel:
    """An alliancekit notification channel that POSTs signed JSON. Also a plugin registering itself."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.name = config.channel
        self.kinds = config.kinds
        self.timeout = config.timeout
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
        """POST one message; raise :class:`WebhookRejected` on a non-2xx answer, OSError if unreachable.

        Connecting, the TLS handshake, sending and the answer's status and headers must all be done within
        ``timeout`` seconds, however slowly they trickle in (:class:`TimeoutError` otherwise); the answer's
        body is not waited for. A certificate that fails verification, or an https URL whose port does not
        speak TLS, raises :class:`WebhookSetupError` (an OSError), ``permanent``.
        """
        body = self.body(message)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "alliancekit-webhook/0.1",
            WEBHOOK_ID_HEADER: message.idempotency_key,
            WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
            WEBHOOK_SIGNATURE_HEADER: sign_webhook(
                self.config.secret, message.idempotency_key, timestamp, body
            ),
            IDEMPOTENCY_HEADER: message.idempotency_key,
            # the first release's headers, for receivers not yet upgraded (deprecated: one release more)
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.config.secret, timestamp, body),
        }
        context = (self.config.ssl_context or ssl.create_default_context()) if self._https else None
        status, retry_after = self._post(context, body, headers)
        if not 200 <= status < 300:
            raise WebhookRejected(status, retry_after=retry_after_seconds(retry_after, time.time()))

    def _post(
        self, context: ssl.SSLContext | None, body: bytes, headers: dict[str, str]
    ) -> tuple[int, str | None]:
        """The answer's status and ``Retry-After``; :class:`TimeoutError` when the delivery took too long."""
        late = TimeoutError("the webhook's answer took longer than the timeout")
        with ReplyDeadline(self.config.timeout, total=self.config.timeout) as deadline:
            connection = _Connection(self._host, self._port, deadline, context)
            try:
                connection.connect()
                # a receiver that answers a byte at a time must not hold the delivery past the timeout
                with deadline.reply(connection.sock):
                    connection.request("POST", self._path, body=body, headers=headers)
                    response = connection.getresponse()
                    answered = not deadline.expired  # http.client ends the headers where a cut ends them
                    # The status is the answer. The body is drained only to close cleanly (never kept or
                    # logged): one that stalls or breaks off must not turn a delivery into a failure.
                    with contextlib.suppress(OSError, http.client.HTTPException):
                        response.read(64 * 1024)
            except (OSError, http.client.HTTPException) as exc:
                if deadline.ran_out():  # the watchdog, or a socket's timeout set from what was left
                    raise late from exc
                # A certificate that fails verification, or a port without TLS, fails the same way every
                # time (and a retry is what a machine in the middle wants): permanent.
                if (refusal := tls_refusal(exc)) is not None:
                    raise WebhookSetupError(SETUP_REASONS[refusal]) from exc
                raise
            finally:
                connection.close()
        if not answered:
            raise late
        return response.status, response.getheader("Retry-After")

    @hookimpl
    def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
        register(self)
