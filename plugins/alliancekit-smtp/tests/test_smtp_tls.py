"""The e-mail channel against TLS that cannot succeed (an untrusted or misnamed certificate, a port without
TLS) and TLS that must fit in the budget, with real servers on 127.0.0.1."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from alliancekit_smtp import SMTPChannel, SMTPConfig, SMTPSetupError
from alliancekit_smtp.testing import LocalSMTPServer, self_signed_certificate

from alliancekit.notify import Notification


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """``right``: for 127.0.0.1; ``wrong``: for another name only (both self-signed)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return {
        "right": self_signed_certificate(tmp_path_factory.mktemp("right")),
        "wrong": self_signed_certificate(tmp_path_factory.mktemp("wrong"), "DNS:elsewhere.test"),
    }


def _server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _channel(port: int, **options: Any) -> SMTPChannel:
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "alerts@clinic.test",
        "recipients": ("oncall@clinic.test",),
        "timeout": 5.0,
    }
    return SMTPChannel(SMTPConfig(**(base | options)))


def _note() -> Notification:
    return Notification(
        message_id="e" * 32,
        kind="episode-closed",
        channel="email",
        episode_id="ep-9",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
    )


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize(
    ("shown", "trusted", "reason", "setting"),
    [
        ("right", None, "certificate-untrusted", "ALLIANCEKIT_SMTP_CA_FILE"),  # self-signed, CA not given
        ("wrong", "wrong", "certificate-name", "ALLIANCEKIT_SMTP_HOST"),  # trusted, but for another name
    ],
)
def test_a_certificate_that_fails_verification_is_permanent_and_nothing_is_sent(
    certificates: dict[str, tuple[str, str]],
    security: str,
    shown: str,
    trusted: str | None,
    reason: str,
    setting: str,
) -> None:
    """Retrying cannot make the certificate valid, and is what a machine in the middle wants: dead at once,
    with the setting to check (never the address or the message)."""
    context = _server_context(certificates[shown])
    server_options = {"tls_context": context, "require_starttls": True}
    with LocalSMTPServer(
        **(server_options if security == "starttls" else {"implicit_tls_context": context})
    ) as server:
        trust = (
            {}
            if trusted is None
            else {"ssl_context": ssl.create_default_context(cafile=certificates[trusted][0])}
        )
        with pytest.raises(SMTPSetupError) as caught:
            _channel(server.port, security=security, **trust).deliver(_note())
        assert server.messages() == []
    assert caught.value.permanent is True
    assert caught.value.reason is not None
    assert caught.value.reason.startswith(reason + " ")
    assert setting in caught.value.reason
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_the_same_certificate_trusted_for_its_name_is_a_delivery(
    certificates: dict[str, tuple[str, str]],
) -> None:
    """The other side of the boundary: the failure above is the certificate's, not the server's."""
    with LocalSMTPServer(implicit_tls_context=_server_context(certificates["right"])) as server:
        trusting = ssl.create_default_context(cafile=certificates["right"][0])
        _channel(server.port, security="tls", ssl_context=trusting).deliver(_note())
        assert len(server.messages()) == 1


def test_tls_to_a_port_that_does_not_speak_it_is_permanent() -> None:
    """``security="tls"`` against a plain SMTP port: the greeting is not a TLS record, and never will be."""
    with LocalSMTPServer() as server:
        with pytest.raises(
            SMTPSetupError, match=r"^not-tls .*ALLIANCEKIT_SMTP_SECURITY and ALLIANCEKIT_SMTP_PORT"
        ):
            _channel(server.port, security="tls").deliver(_note())
        assert server.messages() == []


class ObservingContext(ssl.SSLContext):
    """A client context that notes the socket timeout each TLS handshake starts with."""

    handshake_timeouts: list[float | None]

    def wrap_socket(self, sock: socket.socket, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        self.handshake_timeouts.append(sock.gettimeout())
        return super().wrap_socket(sock, *args, **kwargs)


@pytest.fixture
def silent_tls() -> Iterator[int]:
    """A port that accepts the connection and never answers the ClientHello."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            done.wait(30)

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    done.set()
    listener.close()


def test_implicit_tls_shakes_hands_within_what_is_left_of_the_budget(silent_tls: int) -> None:
    """smtplib gave the handshake the socket's timeout as set before connecting: a fresh ``timeout`` after
    however long the connect took, so a slow connect and a stalled handshake ran past the budget (and the
    dispatcher's call limit). The handshake now starts with what is left, less than ``timeout``, and a
    handshake never answered is a TimeoutError (transient: a server that may come back)."""
    context = ObservingContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_default_certs()
    context.handshake_timeouts = []
    with pytest.raises(TimeoutError) as caught:
        _channel(silent_tls, security="tls", ssl_context=context, timeout=3.0).deliver(_note())
    assert getattr(caught.value, "permanent", False) is False
    (started_with,) = context.handshake_timeouts
    assert started_with is not None
    assert 0 < started_with < 3.0  # 3 s: room for a loaded machine before the handshake
