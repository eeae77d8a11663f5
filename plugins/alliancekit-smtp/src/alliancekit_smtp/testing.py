"""A real SMTP server on 127.0.0.1 for tests (needs ``aiosmtpd``: the ``test`` extra).

It keeps every message it accepts, and which Message-IDs it has seen, so a test can count deliveries and
duplicates the way a receiving mail system that drops repeated Message-IDs would.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import warnings
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

__all__ = ["LocalSMTPServer", "free_port", "key_of", "text_of"]


def free_port() -> int:
    """A TCP port nothing listens on right now (bound then released): another process may take it at any
    time after, so a test that needs the port to stay free or its own holds a socket bound to it instead
    (as :class:`LocalSMTPServer` does)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _BoundController(Controller):
    """aiosmtpd's controller serving on ``listener``, a socket bound before it is made: its port is never
    released between being chosen and being listened on, where another process (a test on another xdist
    worker, an outgoing connection's ephemeral port) could take it and the server would fail to start."""

    def __init__(self, handler: object, listener: socket.socket, **options: Any) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=listener.getsockname()[1], **options)
        self._listener = listener

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._listener, ssl=self.ssl_context)


class _Handler:
    def __init__(self, server: LocalSMTPServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.server.accept(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        return "250 Message accepted for delivery"


class LocalSMTPServer:
    """``with LocalSMTPServer() as server:`` an SMTP server on ``server.port``.

    ``tls_context`` enables STARTTLS (required when ``require_starttls``); ``implicit_tls_context`` makes
    it an SMTPS server (TLS from the first byte). ``credentials`` (user, password) turns on AUTH.
    """

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        require_starttls: bool = False,
        implicit_tls_context: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.seen_ids: set[str] = set()
        self.unique: list[EmailMessage] = []
        self.duplicates = 0
        self._lock = threading.Lock()
        options: dict[str, Any] = {}
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=require_starttls)
        if implicit_tls_context is not None:
            options["ssl_context"] = implicit_tls_context
        if credentials is not None:
            options.update(authenticator=_authenticator(credentials), auth_required=True)
        self._controller = _BoundController(_Handler(self), self._listener, **options)

    def accept(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)  # noqa: S101 - the default policy makes EmailMessage
        key = str(message["Message-ID"] or "")
        with self._lock:
            self.raw.append(raw)
            self.envelopes.append((mail_from, rcpt_tos))
            if key in self.seen_ids:
                self.duplicates += 1
            else:
                self.seen_ids.add(key)
                self.unique.append(message)

    def messages(self) -> list[EmailMessage]:
        """Every message received, parsed, in order (duplicates included)."""
        with self._lock:
            raws = list(self.raw)
        return [email.message_from_bytes(r, policy=email.policy.default) for r in raws]

    def start(self) -> LocalSMTPServer:
        # aiosmtpd 1.4 sets its own deprecated Session.login_data after every successful AUTH; a test run
        # that turns warnings into errors would otherwise break the server's session mid-conversation.
        warnings.filterwarnings(
            "ignore", message="Session.login_data is deprecated", category=DeprecationWarning
        )
        try:
            self._controller.start()
        except BaseException:
            self._listener.close()
            raise
        return self

    def stop(self) -> None:
        self._controller.stop()
        self._listener.close()  # the server closed it when it stopped; closed here too if it never started

    def __enter__(self) -> LocalSMTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _authenticator(credentials: tuple[str, str]) -> Any:
    user, password = credentials

    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == user and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, handled=False)

    return check


def key_of(message: EmailMessage) -> str:
    """The idempotency key from a message's ``Message-ID`` (``<key@domain>``)."""
    return str(message["Message-ID"] or "").strip("<>").split("@", 1)[0]


def text_of(message: EmailMessage) -> bytes:
    """The message as a reader sees it: headers and decoded body, for content checks."""
    body = message.get_body(("plain",))
    content = body.get_content() if body is not None else ""
    headers = "".join(f"{k}: {v}\n" for k, v in message.items())
    return (headers + "\n" + str(content)).encode()


def self_signed_certificate(directory: Any, names: str = "IP:127.0.0.1,DNS:localhost") -> tuple[str, str]:
    """``(certfile, keyfile)`` for ``names`` (a subjectAltName: 127.0.0.1 and localhost by default), made
    with the ``openssl`` command; a different ``directory`` for each certificate."""
    import shutil
    import subprocess
    from pathlib import Path

    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make a test certificate")
    cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, the openssl found on PATH
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", f"subjectAltName={names}",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)
