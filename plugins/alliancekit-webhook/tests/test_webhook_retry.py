"""Which answers the webhook channel retries, and its reading of ``Retry-After``, against real receivers on
127.0.0.1."""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alliancekit_webhook import (
    WebhookChannel,
    WebhookConfig,
    WebhookRejected,
    is_permanent,
    retry_after_seconds,
)
from alliancekit_webhook.testing import read_request

from alliancekit.notify import Notification

SECRET = "test-secret-0123456789abcdef"  # noqa: S105 - a test secret
NOW = 1_000_000_000.0  # Sun, 09 Sep 2001 01:46:40 GMT


class Answering:
    """A receiver that answers every POST with ``status`` and ``headers``, and counts the requests."""

    def __init__(self) -> None:
        self.status = 200
        self.headers: list[tuple[str, str]] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests += 1
                self.send_response(receiver.status)
                for name, value in receiver.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def answering() -> Iterator[Answering]:
    server = Answering()
    yield server
    server.close()


def _note() -> Notification:
    return Notification(
        message_id="f" * 32,
        kind="episode-closed",
        channel="webhook",
        episode_id="ep-9",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
    )


def _refusal(url: str) -> WebhookRejected:
    channel = WebhookChannel(WebhookConfig(url=url, secret=SECRET, allow_http=True, timeout=3.0))
    with pytest.raises(WebhookRejected) as caught:
        channel.deliver(_note())
    return caught.value


PERMANENT = [301, 308, 400, 401, 403, 405, 409, 410, 411, 413, 414, 415, 422, 451, 501, 505]
TRANSIENT = [302, 303, 307, 404, 408, 425, 429, 500, 502, 503, 504, 507, 511]


@pytest.mark.parametrize("status", PERMANENT)
def test_a_refusal_that_repeating_cannot_change_is_permanent(answering: Answering, status: int) -> None:
    answering.status, answering.headers = status, [("Location", answering.url + "/moved")]
    refused = _refusal(answering.url)
    assert (refused.status, refused.permanent, refused.retry_after) == (status, True, None)
    assert answering.requests == 1  # a redirect is not followed, not even to the same origin


@pytest.mark.parametrize("status", TRANSIENT)
def test_an_answer_that_says_later_is_retried(answering: Answering, status: int) -> None:
    answering.status, answering.headers = status, [("Location", answering.url + "/moved")]
    refused = _refusal(answering.url)
    assert (refused.status, refused.permanent, refused.retry_after) == (status, False, None)
    assert answering.requests == 1


def test_413_with_retry_after_is_temporary() -> None:
    """RFC 9110 15.5.14: a server whose too-large condition is temporary says so with Retry-After."""
    assert is_permanent(413) is True
    assert is_permanent(413, retry_after=True) is False


@pytest.mark.parametrize("status", [429, 503, 413, 500])
def test_retry_after_seconds_travels_with_the_refusal(answering: Answering, status: int) -> None:
    answering.status, answering.headers = status, [("Retry-After", "120")]
    refused = _refusal(answering.url)
    assert (refused.permanent, refused.retry_after) == (False, 120.0)


def test_retry_after_on_a_permanent_refusal_is_not_kept(answering: Answering) -> None:
    answering.status, answering.headers = 400, [("Retry-After", "120")]
    refused = _refusal(answering.url)
    assert (refused.permanent, refused.retry_after) == (True, None)


def test_a_retry_after_date_is_counted_from_now(answering: Answering) -> None:
    import time

    answering.status = 503
    answering.headers = [("Retry-After", formatdate(time.time() + 600, usegmt=True))]
    refused = _refusal(answering.url)
    assert refused.retry_after is not None
    assert 590 <= refused.retry_after <= 600  # the date has whole seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 120 ", 120.0),  # optional whitespace around a field value
        ("2147483647", 2147483647.0),
        ("2147483648", 2147483648.0),  # RFC 9111 1.2.2: larger is taken as 2**31
        ("2147483649", 2147483648.0),
        ("9" * 40, 2147483648.0),
        # the three HTTP-date forms of RFC 9110 5.6.7, two minutes after NOW
        ("Sun, 09 Sep 2001 01:48:40 GMT", 120.0),
        ("Sunday, 09-Sep-01 01:48:40 GMT", 120.0),
        ("Sun Sep  9 01:48:40 2001", 120.0),
        ("Sun, 09 Sep 2001 01:46:40 GMT", 0.0),  # exactly now
        ("Sun, 09 Sep 2001 01:46:41 GMT", 1.0),
        ("Sun, 09 Sep 2001 01:46:39 GMT", 0.0),  # past: no wait
        ("Sunday, 09-Sep-51 01:46:40 GMT", datetime(2051, 9, 9, 1, 46, 40, tzinfo=UTC).timestamp() - NOW),
        ("Sunday, 09-Sep-52 01:46:40 GMT", 0.0),  # more than 50 years ahead: 1952
    ],
)
def test_retry_after_values(value: str, seconds: float) -> None:
    assert retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "-1",
        "1.5",
        "+5",
        "1e3",
        "120 seconds",
        "120, 60",  # the header twice
        "\u0661\u0662",  # digits, but not ASCII ones
        "sun, 09 Sep 2001 01:48:40 GMT",  # HTTP-date is case-sensitive
        "Sun, 09 Sep 2001 01:48:40 UTC",
        "Sun, 9 Sep 2001 01:48:40 GMT",
        "Sun, 31 Feb 2001 01:48:40 GMT",
        "Sun, 09 Sep 2001 24:00:00 GMT",
        "Sun, 09 Sep 2001 01:48:40 +0000",
        "2001-09-09T01:48:40Z",
    ],
)
def test_a_malformed_retry_after_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None


def test_a_malformed_retry_after_from_a_receiver_is_ignored(answering: Answering) -> None:
    answering.status, answering.headers = 429, [("Retry-After", "soon")]
    refused = _refusal(answering.url)
    assert (refused.permanent, refused.retry_after) == (False, None)


def test_a_receiver_that_closes_before_the_status_line_is_a_failure() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            read_request(conn)  # all of it: a socket closed on unread data is reset, not closed
            conn.sendall(b"HTTP/1.1 2")  # then gone

    threading.Thread(target=answer, daemon=True).start()
    channel = WebhookChannel(
        WebhookConfig(
            url=f"http://127.0.0.1:{listener.getsockname()[1]}/h", secret=SECRET, allow_http=True, timeout=3
        )
    )
    try:
        with pytest.raises(http.client.BadStatusLine) as caught:
            channel.deliver(_note())
        assert not getattr(caught.value, "permanent", False)  # retried
    finally:
        listener.close()


def test_a_tls_handshake_trickled_past_the_timeout_is_cut_off() -> None:
    """A receiver that sends its TLS handshake a byte at a time, each well within a socket timeout: the
    handshake is part of the delivery, and ``timeout`` bounds it too (it stops trickling after 4 s)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)  # the ClientHello
            conn.sendall(b"\x16\x03\x03\x3f\xff")  # a handshake record of 16 KiB is coming...
            for _ in range(80):  # ...a byte every 50 ms, for 4 s
                if stop.wait(0.05):
                    return
                try:
                    conn.sendall(b"\x00")
                except OSError:  # the client cut the connection: what the timeout is for
                    return

    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/hook"
    channel = WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=1.0))
    try:
        with pytest.raises(TimeoutError):
            channel.deliver(_note())
    finally:
        stop.set()
        sender.join()
        listener.close()


def _raw_receiver(answer: bytes, *, repeat: float = 0.0) -> tuple[str, socket.socket]:
    """A receiver on 127.0.0.1 that reads the request and writes ``answer`` (every ``repeat`` seconds for
    10 s, if set), then closes."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            read_request(conn)  # all of it: a socket closed on unread data is reset, not closed
            try:
                conn.sendall(answer)
                for _ in range(int(10 / repeat) if repeat else 0):
                    threading.Event().wait(repeat)
                    conn.sendall(answer)
            except OSError:  # the channel cut the connection
                pass

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}/hook", listener


FINAL_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "interim",
    [
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 199 Misc\r\n\r\n",
    ],
)
def test_interim_answers_before_the_final_one_are_read_past(interim: bytes) -> None:
    """RFC 9110 15.2: a 1xx before a final 200 is not the answer; taking it for a failure sent the
    delivery again although the receiver had it."""
    url, listener = _raw_receiver(interim + FINAL_OK)
    try:
        WebhookChannel(WebhookConfig(url=url, secret=SECRET, allow_http=True, timeout=3)).deliver(_note())
    finally:
        listener.close()


def test_an_interim_answer_then_a_refusal_is_the_refusal() -> None:
    url, listener = _raw_receiver(
        b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 503 Busy\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"
    )
    try:
        refused = _refusal(url)
        assert (refused.status, refused.permanent, refused.retry_after) == (503, False, 30.0)
    finally:
        listener.close()


def test_interim_answers_without_end_are_cut_off_at_the_timeout() -> None:
    url, listener = _raw_receiver(b"HTTP/1.1 102 Processing\r\n\r\n", repeat=0.05)
    channel = WebhookChannel(WebhookConfig(url=url, secret=SECRET, allow_http=True, timeout=0.5))
    try:
        with pytest.raises(TimeoutError):
            channel.deliver(_note())
    finally:
        listener.close()


@pytest.mark.parametrize("answer", [b"HTTP/1.1 600 X\r\n\r\n", b"HTTP/1.1 999 X\r\n\r\n"])
def test_a_status_outside_100_to_599_is_taken_as_5xx(answer: bytes) -> None:
    """RFC 9110 15: a client processes an invalid status code as a 5xx (Server Error): retried."""
    url, listener = _raw_receiver(answer)
    try:
        assert _refusal(url).permanent is False
    finally:
        listener.close()
