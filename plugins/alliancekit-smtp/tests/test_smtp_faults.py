"""The e-mail channel against a scripted SMTP server on 127.0.0.1 that misbehaves at a chosen step."""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from alliancekit_smtp import SMTPChannel, SMTPConfig, SMTPSetupError

from alliancekit.notify import Notification

GREETING = "220 scripted.test ESMTP ready for the alliancekit channel tests"


class ScriptedSMTP:
    """A real SMTP server (a socket on 127.0.0.1) answering 250 (221 to QUIT) unless ``replies`` says else.

    ``replies`` maps a command (``QUIT``, or ``RCPT <address>`` for one recipient; ``GREETING``; ``END``
    for the end of the message) to the reply line. ``trickle`` sends the greeting one byte every that many
    seconds; ``pause`` waits that long before every other reply. ``messages`` holds the accepted mails,
    ``commands`` every command line received.
    """

    def __init__(
        self, replies: dict[str, str] | None = None, *, trickle: float = 0.0, pause: float = 0.0
    ) -> None:
        self.replies = replies or {}
        self.trickle = trickle
        self.pause = pause
        self.messages: list[bytes] = []
        self.commands: list[str] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _greet(self, conn: socket.socket) -> None:
        for byte in (self.replies.get("GREETING", GREETING) + "\r\n").encode():
            if self._stop.wait(self.trickle):
                return
            conn.sendall(bytes([byte]))

    def _session(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            try:
                self._greet(conn)
                while line := lines.readline():
                    command = line.decode("ascii").strip()
                    self.commands.append(command)
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "DATA" and "DATA" not in self.replies:
                        conn.sendall(b"354 go on\r\n")
                        body = b"".join(iter(lines.readline, b".\r\n"))
                        reply = self.replies.get("END", "250 taken")
                        if reply.startswith("250"):
                            self.messages.append(body)
                    elif verb == "RCPT":
                        address = command.split(":", 1)[1].strip(" <>")
                        reply = self.replies.get(f"RCPT {address}", "250 ok")
                    else:
                        reply = self.replies.get(verb, "221 bye" if verb == "QUIT" else "250 ok")
                    if self._stop.wait(self.pause):
                        return
                    conn.sendall(reply.encode() + b"\r\n")
                    if verb == "QUIT" or reply.startswith("421"):
                        return
            except OSError:
                return


@pytest.fixture
def scripted() -> Iterator[type[ScriptedSMTP]]:
    servers: list[ScriptedSMTP] = []

    class Tracked(ScriptedSMTP):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            servers.append(self)

    yield Tracked
    for server in servers:
        server.close()


def _channel(port: int, **options: object) -> SMTPChannel:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "alerts@clinic.test",
        "recipients": ("oncall@clinic.test", "lead@clinic.test"),
        "security": "none",
        "timeout": 5.0,
    }
    base.update(options)
    return SMTPChannel(SMTPConfig(**base))  # type: ignore[arg-type]


def _note() -> Notification:
    return Notification(
        message_id="c" * 32,
        kind="episode-closed",
        channel="email",
        episode_id="ep-9",
        clinic_id="clinic-a",
        clinician_id="clin-b",
        occurred_at=datetime(2026, 3, 2, 12, tzinfo=UTC),
        attempt=1,
    )


@pytest.mark.parametrize("reply", ["451 4.2.1 mailbox busy, try later", "550 5.1.1 no such mailbox"])
def test_a_recipient_refused_while_another_is_accepted_is_not_a_delivery(
    scripted: type[ScriptedSMTP], reply: str
) -> None:
    """smtplib reports such a refusal by its return value, not by raising: the channel must raise, or the
    dispatcher records a delivery and the refused recipient never gets the notice."""
    server = scripted({"RCPT lead@clinic.test": reply})
    with pytest.raises(smtplib.SMTPRecipientsRefused) as caught:
        _channel(server.port).deliver(_note())
    assert set(caught.value.recipients) == {"lead@clinic.test"}
    assert len(server.messages) == 1  # the other recipient got it; the retry uses the same Message-ID


def test_every_recipient_accepted_is_a_delivery(scripted: type[ScriptedSMTP]) -> None:
    server = scripted()
    _channel(server.port).deliver(_note())
    assert len(server.messages) == 1


@pytest.mark.parametrize("reply", ["500 5.5.1 unrecognised", "421 4.3.2 shutting down"])
def test_a_failed_goodbye_after_the_message_was_taken_is_still_a_delivery(
    scripted: type[ScriptedSMTP], reply: str
) -> None:
    """Once the server has answered 250 to the message, an odd answer to QUIT must not make the attempt
    fail: the dispatcher would send the message again and again, and could mark it dead."""
    server = scripted({"QUIT": reply})
    _channel(server.port).deliver(_note())
    assert len(server.messages) == 1


def test_a_reply_trickled_in_slower_than_the_timeout_times_out(scripted: type[ScriptedSMTP]) -> None:
    """Each byte of the greeting comes well within the socket timeout, the whole greeting does not: the
    timeout bounds the conversation, so the call fails instead of lasting as long as the server likes."""
    server = scripted(trickle=0.05)  # the greeting's 66 bytes take over 3 s; the timeout is 1 s
    with pytest.raises(TimeoutError):
        _channel(server.port, timeout=1.0).deliver(_note())
    assert server.messages == []


def test_a_reply_within_the_timeout_is_not_cut(scripted: type[ScriptedSMTP]) -> None:
    server = scripted(trickle=0.001)  # 66 bytes in well under the 5 s allowed
    _channel(server.port, timeout=5.0).deliver(_note())
    assert len(server.messages) == 1


@pytest.mark.parametrize(
    "link",
    [
        "https://ehr.example/episodes/{episode}",
        "https://ehr.example/{client_ref}",
        "https://ehr.example/{}",
        "https://ehr.example/{episode_id.upper}",
        "https://ehr.example/{episode_id",
    ],
)
def test_a_link_template_that_cannot_be_filled_is_refused_at_once(link: str) -> None:
    """Refused when configured, rather than failing every delivery until its messages are dead."""
    with pytest.raises(ValueError, match=r"SMTPConfig\.link"):
        _channel(1025, link=link)


def test_a_link_template_with_the_episode_and_clinic_is_sent(scripted: type[ScriptedSMTP]) -> None:
    server = scripted()
    _channel(server.port, link="https://ehr.example/{clinic_id}/episodes/{episode_id}").deliver(_note())
    (mail,) = server.messages
    assert b"https://ehr.example/clinic-a/episodes/ep-9" in mail


def test_recipients_given_as_one_string_are_refused() -> None:
    """A lone string would become one recipient per character, and every delivery would fail."""
    with pytest.raises(ValueError, match=r"SMTPConfig\.recipients"):
        _channel(1025, recipients="oncall@clinic.test")


@pytest.mark.parametrize(
    ("replies", "permanent"),
    [
        # STARTTLS not offered: the server (or the security setting) is wrong until someone fixes it
        ({}, True),
        # RFC 3207: 454 is "TLS not available due to temporary reason"
        ({"EHLO": "250-scripted.test\r\n250 STARTTLS", "STARTTLS": "454 4.7.0 TLS not available"}, False),
        ({"EHLO": "250-scripted.test\r\n250 STARTTLS", "STARTTLS": "501 5.5.4 syntax error"}, True),
    ],
)
def test_where_starttls_is_required_and_denied_nothing_is_sent_in_clear(
    scripted: type[ScriptedSMTP], replies: dict[str, str], permanent: bool
) -> None:
    """Neither the password nor the message crosses a connection that did not become encrypted."""
    server = scripted(replies)
    channel = _channel(server.port, security="starttls", username="alerts", password="pw-for-tests")  # noqa: S106 - a test credential
    with pytest.raises(smtplib.SMTPException) as caught:
        channel.deliver(_note())
    verbs = {c.split(" ", 1)[0].upper() for c in server.commands}
    assert verbs.isdisjoint({"AUTH", "MAIL", "RCPT", "DATA"})
    assert server.messages == []
    assert getattr(caught.value, "permanent", False) is permanent


def test_starttls_not_offered_names_the_settings_to_check(scripted: type[ScriptedSMTP]) -> None:
    server = scripted()
    with pytest.raises(SMTPSetupError) as caught:
        _channel(server.port, security="starttls").deliver(_note())
    assert caught.value.reason == (
        "starttls-not-offered; check ALLIANCEKIT_SMTP_SECURITY and ALLIANCEKIT_SMTP_PORT"
    )
    assert "clinic.test" not in str(caught.value)


@pytest.mark.parametrize(
    ("ehlo", "reason"),
    [
        ("250 scripted.test", "auth-not-offered"),  # no AUTH at all
        ("250-scripted.test\r\n250 AUTH GSSAPI", "auth-not-offered"),  # none smtplib can do
    ],
)
def test_a_login_the_server_does_not_offer_is_permanent(
    scripted: type[ScriptedSMTP], ehlo: str, reason: str
) -> None:
    server = scripted({"EHLO": ehlo})
    login = {"username": "alerts", "password": "pw-for-tests", "allow_plaintext_login": True}
    with pytest.raises(SMTPSetupError) as caught:
        _channel(server.port, **login).deliver(_note())
    assert caught.value.permanent is True
    assert caught.value.reason is not None
    assert caught.value.reason.startswith(reason + " ")
    assert "ALLIANCEKIT_SMTP_USERNAME" in caught.value.reason
    assert server.messages == []


def test_a_login_over_a_plain_connection_is_refused_unless_allowed(scripted: type[ScriptedSMTP]) -> None:
    """smtplib logs in over a plain connection without a word: the password would cross the network in clear.
    The config refuses it; ``allow_plaintext_login`` is for a relay on the same host."""
    login = {"username": "alerts", "password": "pw-for-tests"}
    with pytest.raises(ValueError, match=r"SMTPConfig\.username: plaintext-login .* in clear") as refused:
        _channel(1025, **login)
    assert "pw-for-tests" not in str(refused.value)
    env = {"ALLIANCEKIT_SMTP_HOST": "127.0.0.1", "ALLIANCEKIT_SMTP_FROM": "alerts@clinic.test"}
    env |= {"ALLIANCEKIT_SMTP_TO": "oncall@clinic.test", "ALLIANCEKIT_SMTP_SECURITY": "none"}
    env |= {"ALLIANCEKIT_SMTP_USERNAME": "alerts", "ALLIANCEKIT_SMTP_PASSWORD": "pw-for-tests"}
    with pytest.raises(
        ValueError, match=r"^ALLIANCEKIT_SMTP_USERNAME: plaintext-login"
    ):  # the setting's name
        SMTPConfig.from_env(env)
    assert SMTPConfig.from_env(env | {"ALLIANCEKIT_SMTP_ALLOW_PLAINTEXT_LOGIN": "1"}) is not None

    server = scripted({"EHLO": "250-scripted.test\r\n250 AUTH PLAIN", "AUTH": "235 2.7.0 accepted"})
    _channel(server.port, allow_plaintext_login=True, **login).deliver(_note())
    assert [c.split(" ", 1)[0] for c in server.commands if c.startswith("AUTH")] == ["AUTH"]
    assert len(server.messages) == 1


def test_the_timeout_bounds_the_whole_conversation_not_each_reply(scripted: type[ScriptedSMTP]) -> None:
    """Seven replies of 0.3 s each, every one well within a 1 s timeout: a timeout per reply let the call
    run past the dispatcher's call limit, which then counted it timed out and sent it again."""
    server = scripted(pause=0.3)
    with pytest.raises(TimeoutError):
        _channel(server.port, timeout=1.0).deliver(_note())
    assert server.messages == []


@pytest.mark.parametrize(
    ("replies", "permanent"),
    [
        ({"RCPT lead@clinic.test": "550 5.1.1 no such mailbox"}, True),
        ({"RCPT lead@clinic.test": "553 5.1.3 bad address syntax"}, True),
        ({"RCPT lead@clinic.test": "451 4.3.0 try later"}, False),
        ({"RCPT lead@clinic.test": "450 4.2.1 mailbox busy"}, False),
        # RFC 5321 4.5.3.1.10: 552 at RCPT (too many recipients) is to be taken as temporary
        ({"RCPT lead@clinic.test": "552 5.5.3 too many recipients"}, False),
        # the retry goes to both again: one refused for good makes every retry fail
        ({"RCPT lead@clinic.test": "451 4.3.0 later", "RCPT oncall@clinic.test": "550 5.1.1 no"}, True),
        ({"MAIL": "550 5.7.1 sender refused"}, True),
        ({"MAIL": "421 4.3.2 shutting down"}, False),
        ({"MAIL": "452 4.3.1 out of storage"}, False),
        ({"DATA": "554 5.5.1 no valid recipients"}, True),
        ({"DATA": "451 4.3.0 try later"}, False),
        ({"END": "554 5.7.1 message refused"}, True),
        ({"END": "452 4.3.1 out of storage"}, False),
        ({"GREETING": "554 5.3.2 no service here"}, True),
        ({"GREETING": "421 4.3.2 busy, come back later"}, False),
        ({"EHLO": "250-scripted.test\r\n250 AUTH PLAIN", "AUTH": "535 5.7.8 bad credentials"}, True),
        ({"EHLO": "250-scripted.test\r\n250 AUTH PLAIN", "AUTH": "454 4.7.0 try later"}, False),
    ],
)
def test_5yz_replies_are_permanent_and_4yz_transient(
    scripted: type[ScriptedSMTP], replies: dict[str, str], permanent: bool
) -> None:
    """RFC 5321 4.2.1: a 5yz reply is a permanent negative completion, 4yz a transient one."""
    server = scripted(replies)
    login = {"username": "alerts", "password": "pw-for-tests", "allow_plaintext_login": True}
    channel = _channel(server.port, **(login if "AUTH" in replies else {}))
    with pytest.raises(smtplib.SMTPException) as caught:
        channel.deliver(_note())
    assert getattr(caught.value, "permanent", False) is permanent


def test_a_dropped_connection_is_transient() -> None:
    # A port bound but not listening refuses every connection, and nobody else can take it meanwhile. (A
    # server's listener closed under its accepting thread could still take one connection and then never
    # greet it: the delivery timed out instead, on a loaded machine.)
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        with pytest.raises(ConnectionRefusedError) as caught:
            _channel(bound.getsockname()[1]).deliver(_note())
    assert getattr(caught.value, "permanent", False) is False


def test_a_slow_greeting_and_a_stalled_starttls_handshake_stay_within_one_budget() -> None:
    """The greeting takes most of a 2 s budget; the server then accepts STARTTLS and never answers the
    handshake. The handshake read outside any SMTP reply, under a fresh 2 s socket timeout, so the delivery
    ran about 3.6 s, past the dispatcher's 3 s call limit: abandoned as stuck (``timed_out``), its thread
    left running. Bounded by what is left of the budget, it fails by itself, a retried TimeoutError."""
    from alliancekit import open_practice
    from alliancekit.domain import Actor, Role
    from alliancekit.notify import DispatchPolicy
    from alliancekit.plugins.manager import make_plugin_host
    from alliancekit.store.memory import MemoryStore
    from alliancekit.testing.notifier import episode_with_notifications

    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            done.wait(1.6)  # most of the budget gone before the greeting
            conn.sendall(GREETING.encode() + b"\r\n")
            lines.readline()
            conn.sendall(b"250-scripted.test\r\n250 STARTTLS\r\n")
            lines.readline()
            conn.sendall(b"220 go ahead\r\n")
            done.wait(30)  # the ClientHello is never answered

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    channel = _channel(port, security="starttls", timeout=2.0, kinds=("episode-closed",))
    practice = open_practice(
        MemoryStore(),
        plugins=make_plugin_host(load_entry_points=False, extra_plugins=[channel]),
        dispatch_policy=DispatchPolicy(call_timeout=3.0),
    )
    try:
        episode_with_notifications(practice, Actor("clin-b", Role.CLINICIAN, "clinic-a"))
        summary = practice.dispatch_pending()
    finally:
        done.set()
        listener.close()
    assert (summary.claimed, summary.failed, summary.timed_out) == (1, 1, 0)
    assert [record.last_error for record in practice.store.outbox_records()] == ["TimeoutError"]
