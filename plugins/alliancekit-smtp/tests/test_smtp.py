"""The e-mail channel against a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS with AUTH, TLS."""

from __future__ import annotations

import shutil
import smtplib
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alliancekit_smtp import SMTPChannel, SMTPConfig, SMTPSetupError, compose
from alliancekit_smtp.testing import LocalSMTPServer, key_of, self_signed_certificate, text_of

from alliancekit.notify import Notification
from alliancekit.testing.notifier import NotifierContract, NotifierUnderTest, Received

PASSWORD = "s3cret-for-tests"  # noqa: S105 - a test credential


def _config(port: int, **options: object) -> SMTPConfig:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "alerts@clinic.test",
        "recipients": ("oncall@clinic.test",),
        "security": "none",
        "timeout": 5.0,
    }
    base.update(options)
    return SMTPConfig(**base)  # type: ignore[arg-type]


def _note(key: str = "f" * 32) -> Notification:
    return Notification(
        message_id=key,
        kind="alert-raised",
        channel="email",
        episode_id="ep-42",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
        rule_id="risk-item-endorsed",
        severity="urgent",
    )


@pytest.fixture
def server() -> Iterator[LocalSMTPServer]:
    with LocalSMTPServer() as running:
        yield running


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _server_context(certificate: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


class TestSMTPNotifier(NotifierContract):
    @pytest.fixture
    def notifier(self, server: LocalSMTPServer) -> Iterator[NotifierUnderTest]:
        # The broken channel's port stays bound, not listening, for the whole test: it refuses every
        # connection, and no server (another xdist worker's) can take it meanwhile and accept the message.
        with socket.socket() as bound:
            bound.bind(("127.0.0.1", 0))
            yield NotifierUnderTest(
                channel=SMTPChannel(_config(server.port)),
                received=lambda: [Received(key_of(m), text_of(m)) for m in server.messages()],
                broken=SMTPChannel(_config(bound.getsockname()[1], timeout=2.0)),
            )


def test_the_test_servers_port_is_its_own_from_the_start() -> None:
    """LocalSMTPServer holds its port from the moment it is made: no other socket (another xdist worker's
    server, an outgoing connection) can take it before the server listens. It used to choose a free port,
    release it and bind it again when started, and once in a while found it taken (EADDRINUSE)."""
    server = LocalSMTPServer()
    try:
        with socket.socket() as other, pytest.raises(OSError, match="in use"):
            other.bind(("127.0.0.1", server.port))
        server.start()
        SMTPChannel(_config(server.port)).deliver(_note())
        assert len(server.unique) == 1
    finally:
        server.stop()


def test_message_id_is_the_idempotency_key_and_the_body_is_references_only(server: LocalSMTPServer) -> None:
    SMTPChannel(_config(server.port, link="https://ehr.test/episodes/{episode_id}")).deliver(_note())
    (mail,) = server.messages()
    assert mail["Message-ID"] == f"<{'f' * 32}@alliancekit.invalid>"
    assert mail["X-Alliancekit-Idempotency-Key"] == "f" * 32
    assert mail["Subject"] == "[alliancekit] alert-raised (urgent) risk-item-endorsed episode ep-42"
    assert server.envelopes == [("alerts@clinic.test", ["oncall@clinic.test"])]
    body = mail.get_content()
    assert "https://ehr.test/episodes/ep-42" in body
    assert "Severity:  urgent" in body


def test_the_receiver_drops_a_repeated_message_id(server: LocalSMTPServer) -> None:
    channel = SMTPChannel(_config(server.port))
    channel.deliver(_note("a" * 32))
    channel.deliver(_note("a" * 32))
    channel.deliver(_note("b" * 32))
    assert (len(server.raw), len(server.unique), server.duplicates) == (3, 2, 1)


def test_starttls_with_login(certificate: tuple[str, str]) -> None:
    with LocalSMTPServer(
        tls_context=_server_context(certificate), require_starttls=True, credentials=("alerts", PASSWORD)
    ) as server:
        trusting = ssl.create_default_context(cafile=certificate[0])
        config = _config(
            server.port, security="starttls", ssl_context=trusting, username="alerts", password=PASSWORD
        )
        SMTPChannel(config).deliver(_note())
        assert len(server.messages()) == 1
        # the same server refuses a wrong password (535), and a client that does not trust its certificate:
        # both for good, naming the setting to check
        with pytest.raises(SMTPSetupError, match=r"^login-refused; check ALLIANCEKIT_SMTP_USERNAME") as wrong:
            SMTPChannel(_config(server.port, security="starttls", ssl_context=trusting, username="alerts",
                                password=PASSWORD[::-1])).deliver(_note())  # fmt: skip
        assert isinstance(wrong.value.__cause__, smtplib.SMTPAuthenticationError)
        assert wrong.value.__cause__.smtp_code == 535
        with pytest.raises(SMTPSetupError, match=r"^certificate-untrusted") as untrusted:
            SMTPChannel(_config(server.port, security="starttls")).deliver(_note())
        assert isinstance(untrusted.value.__cause__, ssl.SSLCertVerificationError)
        assert wrong.value.permanent is untrusted.value.permanent is True
        assert len(server.messages()) == 1
        assert PASSWORD not in repr(config)


def test_plain_client_refused_where_starttls_is_required(certificate: tuple[str, str]) -> None:
    with LocalSMTPServer(tls_context=_server_context(certificate), require_starttls=True) as server:
        with pytest.raises(smtplib.SMTPException):
            SMTPChannel(_config(server.port)).deliver(_note())
        assert server.messages() == []


def test_implicit_tls(certificate: tuple[str, str]) -> None:
    with LocalSMTPServer(implicit_tls_context=_server_context(certificate)) as server:
        trusting = ssl.create_default_context(cafile=certificate[0])
        SMTPChannel(_config(server.port, security="tls", ssl_context=trusting)).deliver(_note())
        assert [key_of(m) for m in server.messages()] == ["f" * 32]


def test_config_from_env(certificate: tuple[str, str]) -> None:
    assert SMTPConfig.from_env({}) is None
    config = SMTPConfig.from_env(
        {
            "ALLIANCEKIT_SMTP_HOST": "smtp.clinic.test",
            "ALLIANCEKIT_SMTP_FROM": "alerts@clinic.test",
            "ALLIANCEKIT_SMTP_TO": "a@clinic.test, b@clinic.test",
            "ALLIANCEKIT_SMTP_SECURITY": "tls",
            "ALLIANCEKIT_SMTP_PASSWORD": "pw",
            "ALLIANCEKIT_SMTP_KINDS": "alert-raised",
            "ALLIANCEKIT_SMTP_CA_FILE": certificate[0],
        }
    )
    assert config is not None
    assert (config.recipients, config.effective_port, config.kinds) == (
        ("a@clinic.test", "b@clinic.test"),
        465,
        ("alert-raised",),
    )
    with pytest.raises(ValueError, match=r"^ALLIANCEKIT_SMTP_TO: required"):
        SMTPConfig.from_env({"ALLIANCEKIT_SMTP_HOST": "h", "ALLIANCEKIT_SMTP_FROM": "f@x.test"})


def test_entry_point_module_registers_from_env(
    monkeypatch: pytest.MonkeyPatch, server: LocalSMTPServer
) -> None:
    from alliancekit_smtp import plugin

    from alliancekit.plugins.manager import make_plugin_host

    monkeypatch.setenv("ALLIANCEKIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_PORT", str(server.port))
    monkeypatch.setenv("ALLIANCEKIT_SMTP_SECURITY", "none")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_FROM", "alerts@clinic.test")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_TO", "oncall@clinic.test")
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    assert registry.names() == ["email"]
    registry.get("email").deliver(_note())
    assert len(server.messages()) == 1


def test_compose_leaves_out_what_a_message_does_not_have() -> None:
    bare = Notification("c" * 32, "episode-closed", "email", "ep-1", "clinic-a", None, None, 2)
    body = compose(_config(25), bare).get_content()
    for absent in ("Severity", "Rule", "Clinician"):
        assert absent not in body


def test_a_misconfigured_entry_point_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from alliancekit_smtp import plugin

    from alliancekit.plugins.manager import make_plugin_host
    from alliancekit.testing.notifier import ChannelPlugin, RecordingChannel

    monkeypatch.setenv("ALLIANCEKIT_SMTP_HOST", "127.0.0.1")  # but no sender and no recipients
    other = RecordingChannel("pager")
    registry = make_plugin_host(
        load_entry_points=False, extra_plugins=[plugin, ChannelPlugin(other)]
    ).notifiers()
    assert registry.names() == ["pager"]
    # the settings it needs, named (a ValidationError's words name the setting and rule, never a value)
    assert [what for _, what in registry.problems] == [
        "raised ValidationError while registering: ALLIANCEKIT_SMTP_FROM: required"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "reported"),
    [
        ("PORT", "smtp-port-x1", "ALLIANCEKIT_SMTP_PORT: integer (a port number)"),
        ("TIMEOUT", "eight-x1", "ALLIANCEKIT_SMTP_TIMEOUT: positive (a number of seconds greater than 0)"),
        ("TIMEOUT", "0", "ALLIANCEKIT_SMTP_TIMEOUT: positive (a number of seconds greater than 0)"),
        ("SECURITY", "STARTTLS-x1", "ALLIANCEKIT_SMTP_SECURITY: enum (starttls, tls or none)"),
    ],
)
def test_a_refused_setting_is_named_in_the_report_without_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reported: str
) -> None:
    """An operator is told which setting is wrong (before: ``raised ValueError while registering``, and
    nothing more), and never its value: ``int()``'s own error would have echoed it."""
    from alliancekit_smtp import plugin

    from alliancekit.plugins.manager import make_plugin_host

    monkeypatch.setenv("ALLIANCEKIT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_FROM", "alerts@clinic.test")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_TO", "oncall@clinic.test")
    monkeypatch.setenv("ALLIANCEKIT_SMTP_PASSWORD", "pw-for-tests-x1")
    monkeypatch.setenv(f"ALLIANCEKIT_SMTP_{variable}", value)
    registry = make_plugin_host(load_entry_points=False, extra_plugins=[plugin]).notifiers()
    assert registry.names() == []
    assert [what for _, what in registry.problems] == [
        f"raised ValidationError while registering: {reported}"
    ]
    assert "x1" not in repr(registry.problems)
