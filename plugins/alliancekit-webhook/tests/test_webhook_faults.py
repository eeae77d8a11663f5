"""The webhook channel against receivers on 127.0.0.1 that redirect, stall, answer a byte at a time, or
show a certificate the channel does not trust."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from alliancekit_webhook import WebhookChannel, WebhookConfig, WebhookRejected, WebhookSetupError
from alliancekit_webhook.testing import read_request

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
                read_request(conn)  # all of it: a socket closed on unread data is reset, not closed
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
    """Answers 200 at once, then stalls in the body (``stall``) or sends a broken one (``garbled``)."""

    def __init__(self, then: str) -> None:
        self.then = then
        super().__init__(pause=0.0)

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                read_request(conn)
                self.requests += 1
                if self.then == "garbled":  # a chunk size that is not hexadecimal, then the end
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nthe first bytes")
                self._stop.wait(30)
            except OSError:
                return


@pytest.mark.parametrize("then", ["stall", "garbled"])
def test_a_2xx_whose_body_stalls_or_is_broken_is_a_delivery(then: str) -> None:
    """The receiver has said 200: failing the attempt over the body would only send the message again."""
    receiver = StallingReceiver(then)
    try:
        _channel(receiver.url, timeout=1.0).deliver(_note())
        assert receiver.requests == 1
    finally:
        receiver.close()


def _self_signed(folder: Any, names: str) -> tuple[str, str]:
    """``(certfile, keyfile)``: a throwaway certificate for ``names`` (needs the ``openssl`` command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", f"subjectAltName={names}", "-keyout", key, "-out", cert,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway certificate for 127.0.0.1."""
    return _self_signed(tmp_path_factory.mktemp("tls"), "IP:127.0.0.1")


@pytest.fixture(scope="module")
def misnamed_certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway certificate for another name than 127.0.0.1."""
    return _self_signed(tmp_path_factory.mktemp("misnamed"), "DNS:elsewhere.test")


def _https_receiver(
    certificate: tuple[str, str], posts: list[bytes], *, pause: float = 0.0
) -> ThreadingHTTPServer:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            threading.Event().wait(pause)
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def test_https_delivers_to_a_trusted_certificate_and_sends_nothing_to_an_untrusted_one(
    certificate: tuple[str, str],
) -> None:
    posts: list[bytes] = []
    server = _https_receiver(certificate, posts)
    url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    try:
        with pytest.raises(WebhookSetupError) as untrusted:  # the system's CAs do not know it
            WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=3.0)).deliver(_note())
        # permanent: a retry cannot make the certificate valid, and is what a machine in the middle wants
        assert untrusted.value.permanent is True
        assert untrusted.value.reason == (
            "certificate-untrusted (unknown issuer, self-signed or expired); "
            "check ALLIANCEKIT_WEBHOOK_CA_FILE (ssl_context)"
        )
        assert isinstance(untrusted.value.__cause__, ssl.SSLCertVerificationError)
        assert posts == []
        trusting = ssl.create_default_context(cafile=certificate[0])
        WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=3.0, ssl_context=trusting)).deliver(
            _note()
        )
        assert len(posts) == 1
    finally:
        server.shutdown()
        server.server_close()


class SlowStart:
    """A relay on 127.0.0.1 that takes connections at once but passes them on to ``target`` only after
    ``pause`` seconds: a receiver whose TLS handshake is slow."""

    def __init__(self, target: int, pause: float) -> None:
        self.target, self.pause = target, pause
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _serve(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        with client:
            if self._stop.wait(self.pause):
                return
            with socket.create_connection(("127.0.0.1", self.target)) as backend:
                upstream = threading.Thread(target=self._pipe, args=(client, backend), daemon=True)
                upstream.start()
                self._pipe(backend, client)
                upstream.join()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def test_the_timeout_bounds_the_tls_handshake_and_the_answer_together(certificate: tuple[str, str]) -> None:
    """A handshake of 0.6 s and an answer 0.6 s later, each within a 1 s timeout: together they are not.
    Bounded one by one, the delivery ran past the limit meant to keep it inside the dispatcher's."""
    posts: list[bytes] = []
    server = _https_receiver(certificate, posts, pause=0.6)
    relay = SlowStart(server.server_address[1], pause=0.6)
    trusting = ssl.create_default_context(cafile=certificate[0])
    url = f"https://127.0.0.1:{relay.port}/hook"
    try:
        with pytest.raises(TimeoutError):
            WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=1.0, ssl_context=trusting)).deliver(
                _note()
            )
    finally:
        relay.close()
        server.shutdown()
        server.server_close()


def test_a_certificate_for_another_name_is_permanent_and_nothing_is_sent(
    misnamed_certificate: tuple[str, str],
) -> None:
    posts: list[bytes] = []
    server = _https_receiver(misnamed_certificate, posts)
    url = f"https://127.0.0.1:{server.server_address[1]}/hook"
    trusting = ssl.create_default_context(cafile=misnamed_certificate[0])  # its issuer is trusted
    try:
        with pytest.raises(WebhookSetupError) as caught:
            WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=3.0, ssl_context=trusting)).deliver(
                _note()
            )
    finally:
        server.shutdown()
        server.server_close()
    assert caught.value.permanent is True
    assert caught.value.reason is not None
    assert caught.value.reason.startswith("certificate-name ")
    assert "ALLIANCEKIT_WEBHOOK_URL" in caught.value.reason
    assert posts == []


def test_https_to_a_port_that_does_not_speak_tls_is_permanent() -> None:
    """An https URL whose port answers in plain HTTP: the configuration is wrong, not the network."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)  # the ClientHello, read as a request line would be
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    server = threading.Thread(target=answer, daemon=True)
    server.start()
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/hook"
    try:
        with pytest.raises(WebhookSetupError, match=r"^not-tls .*check ALLIANCEKIT_WEBHOOK_URL$") as caught:
            WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=3.0)).deliver(_note())
    finally:
        server.join()
        listener.close()
    assert caught.value.permanent is True


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_refused_connection_is_transient(scheme: str) -> None:
    # bound, not listening: every connection is refused, and no other server can take the port meanwhile
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        url = f"{scheme}://127.0.0.1:{bound.getsockname()[1]}/hook"
        with pytest.raises(ConnectionRefusedError) as caught:
            _channel(url, timeout=3.0).deliver(_note())
    assert getattr(caught.value, "permanent", False) is False


class ObservingContext(ssl.SSLContext):
    """A client context that notes the socket timeout each TLS handshake starts with."""

    handshake_timeouts: list[float | None]

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        self.handshake_timeouts.append(sock.gettimeout())
        return super().wrap_socket(sock, *args, **kwargs)


def test_the_tls_handshake_starts_with_what_is_left_of_the_budget() -> None:
    """http.client connected, then shook hands, each under the full ``timeout``: a slow connect and a
    stalled handshake took up to twice the budget, past the dispatcher's call limit. The handshake now starts
    with what is left (less than ``timeout``), and one never answered is a TimeoutError, retried."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def silent() -> None:
        conn, _ = listener.accept()
        with conn:
            done.wait(30)  # the ClientHello is never answered

    threading.Thread(target=silent, daemon=True).start()
    context = ObservingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs()
    context.handshake_timeouts = []
    url = f"https://127.0.0.1:{listener.getsockname()[1]}/hook"
    try:
        with pytest.raises(TimeoutError) as caught:
            WebhookChannel(WebhookConfig(url=url, secret=SECRET, timeout=3.0, ssl_context=context)).deliver(
                _note()
            )
    finally:
        done.set()
        listener.close()
    assert getattr(caught.value, "permanent", False) is False
    (started_with,) = context.handshake_timeouts
    assert started_with is not None
    assert 0 < started_with < 3.0  # 3 s: room for a loaded machine before the handshake
