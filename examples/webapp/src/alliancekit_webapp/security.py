"""The app's web security: response headers, CSRF tokens, the clinician's signed session cookie, passphrase
hashing, and a form reader that refuses a body too large or a field named twice. Standard library only
(hmac, hashlib, secrets).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliancekit_webapp.pages import server_error_page

#: No inline script or style anywhere: the pages load one stylesheet from the app; the chart is an image.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')


def svg_policy(svg: str) -> str:
    """The policy for an SVG the app serves (the chart): no script, nothing loaded, and only the styles it
    was made with, each allowed by the hash of its text as the browser reads it (``'unsafe-hashes'`` for
    ``style=`` attributes), so nothing else in it can style it."""
    styles = {*_STYLE_ELEMENT.findall(svg), *(html.unescape(v) for v in _STYLE_ATTRIBUTE.findall(svg))}
    hashes = " ".join(
        sorted(f"'sha256-{base64.b64encode(hashlib.sha256(v.encode()).digest()).decode()}'" for v in styles)
    )
    style = f"style-src 'unsafe-hashes' {hashes}" if hashes else "style-src 'none'"
    return f"default-src 'none'; {style}; frame-ancestors 'none'"


HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    # a token in the address never leaves in a Referer header (the pages link nowhere else anyway)
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}

#: One year, Helmet's default since https://github.com/helmetjs/helmet/issues/457; not ``includeSubDomains``:
#: the app cannot know that every other name under its host is served over https.
HSTS = "max-age=31536000"

#: A form is small: a measure's answers and two hidden fields. Anything larger is refused unread.
MAX_FORM_BYTES = 16 * 1024

CSRF_COOKIE = "ak_csrf"
SESSION_COOKIE = "ak_session"
SESSION_SECONDS = 8 * 3600


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, and ``Cache-Control: no-store`` on everything
    but the stylesheet (the pages hold tokens, answers or clinical data; none may be kept by a cache); an
    error no handler caught becomes the app's own 500 page, with these headers. When the public URL is https
    (``https``), also ``Strict-Transport-Security`` (:data:`HSTS`), so a browser that has been there once
    never asks for a page over plain http again, where the link's token would travel in clear."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.headers = {**HEADERS, "strict-transport-security": HSTS} if https else HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                present = {k.lower() for k, _ in headers}
                for name, value in self.headers.items():
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                static = scope["path"].startswith("/static/")
                cache = "public, max-age=3600" if static else "no-store"
                headers.append((b"cache-control", cache.encode()))
                message["headers"] = headers
            await send(message)

        started = False

        async def send_once(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_once)
        except Exception:
            # a page of the app's own (these headers, no detail) rather than the server's bare text; the
            # error goes on up, so the server still logs it
            if not started:
                body = server_error_page().encode()
                await send_once(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send_once({"type": "http.response.body", "body": body})
            raise


#: Where :class:`TokenOutOfPath` puts a link's token, and what the path says instead.
LINK_SCOPE_KEY = "alliancekit_webapp.link_token"
LINK_PREFIX = "/r/"
REDACTED = "redacted"


class TokenOutOfPath:
    """ASGI middleware: a link's token is taken out of its address (``/r/<token>``) as the request comes
    in, into ``scope[LINK_SCOPE_KEY]``, and the path becomes ``/r/redacted``. The scope the server handed
    over is changed in place, so what the server logs of the request (uvicorn's access log prints the path,
    for whoever runs it with the log on), and everything inside the app, never sees the token."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(LINK_PREFIX):
            scope[LINK_SCOPE_KEY] = scope["path"][len(LINK_PREFIX) :]
            scope["path"] = LINK_PREFIX + REDACTED
            scope["raw_path"] = (LINK_PREFIX + REDACTED).encode()
        await self.app(scope, receive, send)


class BadForm(Exception):
    """A posted body the app will not read: over :data:`MAX_FORM_BYTES`, not a urlencoded form, not UTF-8,
    more fields than any form of ours has, or a field named twice."""


def once_each(pairs: Sequence[tuple[str, str]]) -> dict[str, str] | None:
    """``pairs`` by name, or ``None`` when a name comes twice. No form or link of the app repeats a name, and
    keeping either value would let a crafted request record what the page never showed (``item-9=2&item-9=0``
    read as 0: an endorsed risk item as not endorsed), so such a request is refused, never read."""
    found = dict(pairs)
    return found if len(found) == len(pairs) else None


def query(request: Request) -> dict[str, str] | None:
    """The request's query parameters, or ``None`` when one is named twice (:func:`once_each`)."""
    return once_each(request.query_params.multi_items())


async def read_form(request: Request) -> dict[str, str]:
    """The posted ``application/x-www-form-urlencoded`` fields, reading no more than :data:`MAX_FORM_BYTES`.

    :raises BadForm: the body is too large, not such a form, or names a field twice (:func:`once_each`).
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadForm("not a urlencoded form")
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise BadForm("body too large")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise BadForm("body too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadForm("not UTF-8") from error
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=200)
    except ValueError as error:  # more fields than any form of ours has
        raise BadForm("too many fields") from error
    posted = once_each(pairs)
    if posted is None:
        raise BadForm("a field named twice")  # not which: the name is the sender's
    return posted


class Signer:
    """HMAC-SHA256 with the app's secret key: CSRF tokens and the session cookie; and, from the origin
    of the app's public URL (``Settings.public_origin``), the Origin check and the cookies' ``Secure``."""

    def __init__(self, key: bytes, public_origin: str) -> None:
        if len(key) < 32:
            raise ValueError("the secret key must be at least 32 bytes")
        self._key = key
        self.public_origin = public_origin

    def __repr__(self) -> str:
        return "Signer(<secret>)"

    def mac(self, purpose: str, value: str) -> str:
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    # -- CSRF: a random cookie (SameSite=Strict, HttpOnly) and, in each form, its MAC ----------------------

    def csrf_cookie(self, request: Request) -> tuple[str, bool]:
        """The request's CSRF cookie value, or a new one (then ``True``: set it on the response); the same
        for every call while handling one request."""
        made: tuple[str, bool] | None = getattr(request.state, "csrf_cookie", None)
        if made is None:
            current = request.cookies.get(CSRF_COOKIE, "")
            made = (current, False) if len(current) >= 32 else (secrets.token_urlsafe(32), True)
            request.state.csrf_cookie = made
        return made

    def csrf_field(self, cookie: str) -> str:
        return self.mac("csrf", cookie)

    def same_origin(self, request: Request) -> bool:
        """No ``Origin`` header, the public URL's origin, or the request's own scheme and host."""
        origin = request.headers.get("origin")
        # under Referrer-Policy: no-referrer a browser sends "Origin: null" even for its own forms, so
        # "null" proves nothing either way; the signed field (and the SameSite=Strict cookie) decide.
        # Behind a TLS-terminating proxy the request's own scheme and host are the proxy's upstream ones,
        # never what the browser shows: the public URL's origin is the one it names
        return origin in (None, "null", self.public_origin) or origin == (
            f"{request.url.scheme}://{request.url.netloc}"
        )

    def csrf_ok(self, request: Request, posted: Mapping[str, str]) -> bool:
        """The form carries the MAC of the request's own CSRF cookie, and any Origin header is the app's
        (:meth:`same_origin`): a page elsewhere can neither read the cookie nor forge the field."""
        if not self.same_origin(request):
            return False
        cookie = request.cookies.get(CSRF_COOKIE, "")
        field = posted.get("csrf", "")
        return len(cookie) >= 32 and _same(field, self.csrf_field(cookie))

    # -- the clinician's session: {"u": user, "x": expiry, "s": session id} signed ------------------------

    def session_cookie(self, user: str, now: float | None = None) -> str:
        expiry = int((now or time.time()) + SESSION_SECONDS)
        payload = json.dumps({"u": user, "x": expiry, "s": secrets.token_urlsafe(16)})
        data = base64.urlsafe_b64encode(payload.encode()).decode()
        return f"{data}.{self.mac('session', data)}"

    def session(self, request: Request, now: float | None = None) -> tuple[str, str, int] | None:
        """The request's session, signed and unexpired: (user, session id, expiry)."""
        raw = request.cookies.get(SESSION_COOKIE, "")
        data, _, mac = raw.partition(".")
        if not data or not _same(mac, self.mac("session", data)):
            return None
        try:
            payload: dict[str, Any] = json.loads(base64.urlsafe_b64decode(data.encode()))
        except ValueError:
            return None
        user, expiry, session_id = payload.get("u"), payload.get("x"), payload.get("s")
        if not isinstance(expiry, int) or expiry < (now or time.time()):
            return None
        if not isinstance(user, str) or not isinstance(session_id, str):
            return None
        return user, session_id, expiry

    def set_cookie(
        self, response: Response, request: Request, name: str, value: str, max_age: int | None
    ) -> None:
        """``HttpOnly``, ``SameSite=Strict``, and ``Secure`` when the public URL is https (behind a proxy the
        request itself may be http) or the request is (an http public URL is on loopback, where a browser
        would drop a ``Secure`` cookie sent over http)."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.public_origin.startswith("https:") or request.url.scheme == "https",
        )


class SignedOut:
    """The sessions signed out before their expiry: a signed cookie stays valid until it expires, so
    signing out must end it here too, not only in the browser that signed out. In memory, one process."""

    def __init__(self) -> None:
        self._until: dict[str, int] = {}

    def add(self, session_id: str, expiry: int) -> None:
        now = time.time()
        self._until = {s: x for s, x in self._until.items() if x >= now}
        self._until[session_id] = expiry

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._until


# -- passphrases: scrypt, compared in constant time --------------------------------------------------------


def _same(given: str, expected: str) -> bool:
    """Compare in constant time; what a client sent may hold any character (compare_digest refuses
    non-ASCII text with a TypeError, which would be a server error)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode())


def hash_passphrase(passphrase: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(passphrase.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_passphrase(passphrase: str, stored: str) -> bool:
    scheme, _, rest = stored.partition("$")
    salt_hex, _, digest_hex = rest.partition("$")
    if scheme != "scrypt" or not salt_hex or not digest_hex:
        return False
    digest = hashlib.scrypt(passphrase.encode(), salt=bytes.fromhex(salt_hex), n=2**14, r=8, p=1)
    return hmac.compare_digest(digest.hex(), digest_hex)
