"""A real webhook receiver on 127.0.0.1 for tests, built on :mod:`http.server`.

It does what a careful receiver does: verifies the signature with :func:`verify_signature` (401 if not
genuine), answers 200 to a repeated ``webhook-id`` but processes it only once, and keeps what it got.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs

from alliancekit_webhook import IDEMPOTENCY_HEADER, WEBHOOK_ID_HEADER, InvalidSignature, verify_signature

__all__ = ["Delivery", "LocalWebhookReceiver", "read_request"]

MAX_BODY = 64 * 1024


@attrs.frozen
class Delivery:
    idempotency_key: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class LocalWebhookReceiver:
    """``with LocalWebhookReceiver(secret) as receiver:`` a receiver at ``receiver.url``.

    ``fail_with`` (a status) makes it answer that status, with ``fail_headers``, without processing, to the
    next ``fail_count`` requests. ``processed`` holds the first delivery of each key; ``accepted`` every
    genuine request; ``rejected`` the reasons of refused ones.
    """

    def __init__(self, secret: str | bytes, *, tolerance: float = 300.0, delay: float = 0.0) -> None:
        self.secret = secret
        self.delay = delay
        """Seconds to wait before answering each request (a slow receiver)."""
        self.tolerance = tolerance
        self.accepted: list[Delivery] = []
        self.processed: dict[str, Delivery] = {}
        self.rejected: list[str] = []
        self.aborted = 0
        """Requests whose sender went away before the whole body arrived (dropped, not processed)."""
        self.fail_with = 500
        self.fail_count = 0
        self.fail_headers: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._answer(413)
                    return
                body = self.rfile.read(length)
                if len(body) < length:
                    # The sender went away mid-request (a killed dispatcher: http.client sends the headers
                    # and the body separately). An incomplete request is not a delivery, and not a forgery:
                    # drop it, as any HTTP server does, and let the sender's retry deliver it.
                    with receiver._lock:
                        receiver.aborted += 1
                    self.close_connection = True
                    return
                status = receiver.receive(dict(self.headers.items()), body)
                self._answer(status, receiver.fail_headers if status == receiver.fail_with else [])

            def _answer(self, status: int, headers: list[tuple[str, str]] | None = None) -> None:
                self.send_response(status)
                for name, value in headers or ():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # tests keep quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/alliancekit/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            if self.fail_count > 0:
                self.fail_count -= 1
                return self.fail_with
        try:
            verify_signature(self.secret, headers, body, self.tolerance)
        except InvalidSignature as exc:
            with self._lock:
                self.rejected.append(exc.reason)
            return 401
        lowered = {k.lower(): v for k, v in headers.items()}
        # a sender of the first release has no webhook-id: its key is the Idempotency-Key verify_signature
        # required and checked against the signed body (never an empty key that every such request shares)
        key = lowered.get(WEBHOOK_ID_HEADER) or lowered[IDEMPOTENCY_HEADER.lower()]
        delivery = Delivery(key, body, headers)
        with self._lock:
            self.accepted.append(delivery)
            self.processed.setdefault(key, delivery)
        return 200

    @property
    def duplicates(self) -> int:
        with self._lock:
            return len(self.accepted) - len(self.processed)

    def start(self) -> LocalWebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LocalWebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request from ``conn`` whole (its head, then the body its ``Content-Length`` announces)
    and return its body: for a hand-rolled receiver in a test that answers oddly. Read it all before closing:
    a socket closed on unread data is reset, and the client then sees a reset instead of the answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the request ended before its head did")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    ]
    length = int(lengths[0]) if lengths else 0
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the request ended before its body did")
        body += chunk
    return body
