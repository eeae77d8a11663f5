"""The webhook channel against receivers on 127.0.0.1 that redirect or answer a byte at a time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alliancekit_webhook import WebhookChannel, WebhookConfig, WebhookRejected

from alliancekit.notify import Notification

SECRET = "test-secret-0123456789abcdef"  # noqa: S105 - a test secret
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def _note() -> Notification:
    return Notification(
        message_id="d" * 32,
        kind="episode-closed",
        channel="webhook",
        episode_id="ep-9",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
    )


def _channel(url: str, timeout: float) -> WebhookChannel:
    return WebhookChannel(WebhookConfig(url=url, secret=SECRET, allow_http=True, timeout=timeout))


class TrickleReceiver:
    """Reads the request, then sends a 200 answer one byte every ``pause`` seconds."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/hook"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the headers and the small body arrive together on loopback
                self.requests += 1
                for byte in ANSWER:
                    if self._stop.wait(self.pause):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


@pytest.fixture
def trickle() -> Iterator[Any]:
    made: list[TrickleReceiver] = []

    def make(pause: float) -> TrickleReceiver:
        made.append(TrickleReceiver(pause))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


def test_an_answer_trickled_in_slower_than_the_timeout_times_out(trickle: Any) -> None:
    """Every byte comes within the socket timeout, the whole answer does not: the timeout bounds the
    answer, so the call fails instead of lasting as long as the receiver likes."""
    receiver = trickle(0.05)  # the answer's 59 bytes take about 3 s; the timeout is 1 s
    with pytest.raises(TimeoutError):
        _channel(receiver.url, timeout=1.0).deliver(_note())
    assert receiver.requests == 1


def test_an_answer_within_the_timeout_is_a_delivery(trickle: Any) -> None:
    receiver = trickle(0.001)
    _channel(receiver.url, timeout=5.0).deliver(_note())
    assert receiver.requests == 1


def _redirecting(status: int, target: str) -> type[BaseHTTPRequestHandler]:
    class Redirecting(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Redirecting


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_is_not_followed(status: int) -> None:
    """A redirect to another host must not carry the signed payload there."""
    elsewhere: list[bytes] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            elsewhere.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Elsewhere)
    target = f"http://127.0.0.1:{other.server_address[1]}/stolen"
    first = ThreadingHTTPServer(("127.0.0.1", 0), _redirecting(status, target))
    servers = [first, other]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        with pytest.raises(WebhookRejected) as caught:
            _channel(f"http://127.0.0.1:{first.server_address[1]}/hook", timeout=3.0).deliver(_note())
        assert caught.value.status == status
        assert elsewhere == []
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class StallingReceiver(TrickleReceiver):
    """Answers 200 with its headers at once, then sends no body (or breaks off) and holds the connection."""

    def __init__(self, then: str) -> None:
        self.then = then
        super().__init__(pause=0.0)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                self.requests += 1
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first bytes")
                if self.then == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    return
                self._stop.wait(30)
            except OSError:
                return


@pytest.mark.parametrize("then", ["stall", "reset"])
def test_a_2xx_whose_body_stalls_or_breaks_off_is_a_delivery(then: str) -> None:
    """The receiver has said 200: failing the attempt over the body would only send the message again."""
    receiver = StallingReceiver(then)
    try:
        _channel(receiver.url, timeout=1.0).deliver(_note())
        assert receiver.requests == 1
    finally:
        receiver.close()
