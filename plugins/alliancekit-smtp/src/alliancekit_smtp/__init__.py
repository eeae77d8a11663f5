"""E-mail notifications for alliancekit, sent with the standard library's :mod:`smtplib`.

Each outbox message becomes one short plain-text e-mail: the kind (and for an alert its severity and rule),
the episode, clinic and clinician references, and an optional link into the host's own application. It
never carries client words or scores, because alliancekit's messages do not contain any. The message's
idempotency key is the e-mail's ``Message-ID`` (``<key@domain>``) and its ``X-Alliancekit-Idempotency-Key``
header, so a mail system or a receiving script can drop a repeated delivery.

Configure it either in code (a host passes the channel itself as a plugin)::

    from alliancekit.plugins.manager import make_plugin_host
    from alliancekit_smtp import SMTPChannel, SMTPConfig

    channel = SMTPChannel(SMTPConfig(host="smtp.example.org", sender="alerts@example.org",
                                     recipients=("oncall@example.org",), username="alerts", password="..."))
    host = make_plugin_host(extra_plugins=[channel])

or from the environment, for the ``alliancekit`` entry point (see :meth:`SMTPConfig.from_env`).
"""

from __future__ import annotations

import math
import os
import smtplib
import socket
import ssl
import string
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import format_datetime, formatdate
from typing import Any, Literal

import attrs

from alliancekit import hookimpl
from alliancekit.errors import ValidationError
from alliancekit.notify import CHANNEL_TIMEOUT, DEFAULT_KINDS, DeliveryError, Notification
from alliancekit.notify.channels import ChannelRegistrar
from alliancekit.notify.deadline import ReplyDeadline
from alliancekit.notify.tls import tls_refusal

__all__ = ["SMTPChannel", "SMTPConfig", "SMTPSetupError", "compose", "is_permanent"]

Security = Literal["starttls", "tls", "none"]
ENV_PREFIX = "ALLIANCEKIT_SMTP_"


# Each refusal is a ValidationError (a ValueError) naming the field and rule, never the value: from_env
# renames the field to the setting it came from, and the registry shows those words to the operator.


def _non_empty(instance: object, attribute: Any, value: Any) -> None:
    if not value:
        raise ValidationError(f"SMTPConfig.{attribute.name}", "required")


def _addresses(value: Any) -> tuple[str, ...]:
    # a lone string would become a tuple of its characters, one "recipient" each
    if isinstance(value, str):
        raise ValidationError("SMTPConfig.recipients", "sequence", "a sequence of addresses, not one string")
    return tuple(value)


#: The fields a link template may use.
LINK_FIELDS = frozenset({"episode_id", "clinic_id"})


def _check_link(instance: object, attribute: Any, value: str | None) -> None:
    # checked here, once, rather than failing every delivery until the messages are dead
    if value is None:
        return
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError:
        fields = {""}
    if not fields <= LINK_FIELDS:
        raise ValidationError("SMTPConfig.link", "fields", "it may use only {episode_id} and {clinic_id}")


def _check_timeout(instance: object, attribute: Any, value: object) -> None:
    # checked here: a zero, negative or NaN timeout would fail every delivery until its messages are dead
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValidationError("SMTPConfig.timeout", "positive", "a number of seconds greater than 0")


def _check_security(instance: object, attribute: Any, value: object) -> None:
    if value not in ("starttls", "tls", "none"):
        raise ValidationError("SMTPConfig.security", "enum", "starttls, tls or none")


def _check_login(instance: SMTPConfig, attribute: Any, value: str | None) -> None:
    # smtplib logs in over a plain connection without a word: the password would cross the network in clear
    if value and instance.security == "none" and not instance.allow_plaintext_login:
        raise ValidationError(
            "SMTPConfig.username",
            "plaintext-login",
            "a login with security 'none' would send the password in clear: use starttls or tls (set "
            "allow_plaintext_login for a relay on the same host)",
        )


@attrs.frozen
class SMTPConfig:
    """Where and how to send. ``password`` never appears in a repr."""

    host: str = attrs.field(validator=_non_empty)
    sender: str = attrs.field(validator=_non_empty)
    recipients: tuple[str, ...] = attrs.field(converter=_addresses, validator=_non_empty)
    port: int | None = None
    """Default: 465 for ``tls``, 587 for ``starttls``, 25 for ``none``."""
    security: Security = attrs.field(default="starttls", validator=_check_security)
    username: str | None = attrs.field(default=None, validator=_check_login)
    password: str | None = attrs.field(default=None, repr=False)
    timeout: float = attrs.field(default=CHANNEL_TIMEOUT, validator=_check_timeout)
    """Seconds for the whole conversation: connecting and every SMTP reply, however slowly they come. Keep
    it below the dispatcher's ``call_timeout`` (10 s by default), or a delivery still under way is abandoned
    as timed out and sent again."""
    channel: str = "email"
    kinds: tuple[str, ...] = attrs.field(default=DEFAULT_KINDS, converter=tuple)
    message_id_domain: str = "alliancekit.invalid"
    subject_prefix: str = "[alliancekit]"
    link: str | None = attrs.field(default=None, validator=_check_link)
    """A link template into the host's application, e.g. ``https://ehr.example.org/episodes/{episode_id}``."""
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, eq=False, repr=False)
    """For ``starttls``/``tls``; default: the system's trusted CAs, with host name checks."""
    allow_plaintext_login: bool = attrs.field(default=False, kw_only=True)
    """Permit ``username`` with ``security="none"`` (a relay on the same host only: the password is sent
    in clear)."""

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return {"tls": 465, "starttls": 587, "none": 25}[self.security]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SMTPConfig | None:
        """Read ``ALLIANCEKIT_SMTP_*``; ``None`` when ``ALLIANCEKIT_SMTP_HOST`` is not set.

        ``HOST``, ``PORT``, ``FROM``, ``TO`` (comma-separated), ``SECURITY`` (``starttls``, ``tls``,
        ``none``), ``USERNAME``, ``PASSWORD``, ``TIMEOUT``, ``CHANNEL``, ``KINDS`` (comma-separated),
        ``CA_FILE`` (a CA bundle to trust instead of the system's), ``LINK``, ``MESSAGE_ID_DOMAIN``,
        ``ALLOW_PLAINTEXT_LOGIN`` (``1`` to permit a login with ``SECURITY=none``).
        """
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(ENV_PREFIX + name, "").strip()
            return value or None

        host = get("HOST")
        if host is None:
            return None
        try:
            return cls(**_options_from_env(host, get))
        except ValidationError as exc:  # named by the setting the operator gave, not by the attribute
            field = exc.field.removeprefix("SMTPConfig.")
            setting = ENV_PREFIX + ENV_NAMES.get(field, field.upper())
            raise ValidationError(setting, exc.rule, exc.detail) from None


#: The ``ALLIANCEKIT_SMTP_*`` setting of each ``SMTPConfig`` attribute whose name differs.
ENV_NAMES = {"sender": "FROM", "recipients": "TO", "ssl_context": "CA_FILE"}


def _options_from_env(host: str, get: Callable[[str], str | None]) -> dict[str, Any]:
    """:meth:`SMTPConfig.from_env`'s arguments; a setting that cannot be read is refused by its field."""
    options: dict[str, Any] = {
        "host": host,
        "sender": get("FROM") or "",
        "recipients": tuple(r.strip() for r in (get("TO") or "").split(",") if r.strip()),
    }
    if port := get("PORT"):
        try:
            options["port"] = int(port)
        except ValueError:
            raise ValidationError("SMTPConfig.port", "integer", "a port number") from None
    if timeout := get("TIMEOUT"):
        try:
            options["timeout"] = float(timeout)
        except ValueError:
            raise ValidationError(
                "SMTPConfig.timeout", "positive", "a number of seconds greater than 0"
            ) from None
    if kinds := get("KINDS"):
        options["kinds"] = tuple(k.strip() for k in kinds.split(",") if k.strip())
    for key, name in (
        ("security", "SECURITY"),
        ("username", "USERNAME"),
        ("password", "PASSWORD"),
        ("channel", "CHANNEL"),
        ("link", "LINK"),
        ("message_id_domain", "MESSAGE_ID_DOMAIN"),
    ):
        if (value := get(name)) is not None:
            options[key] = value
    if cafile := get("CA_FILE"):
        try:
            options["ssl_context"] = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError):
            raise ValidationError(
                "SMTPConfig.ssl_context", "ca-file", "a readable file of CA certificates"
            ) from None
    options["allow_plaintext_login"] = get("ALLOW_PLAINTEXT_LOGIN") in ("1", "true", "yes")
    return options


def compose(config: SMTPConfig, message: Notification) -> EmailMessage:
    """The e-mail for one notification (references and codes only)."""
    mail = EmailMessage()
    mail["From"] = config.sender
    mail["To"] = ", ".join(config.recipients)
    mail["Subject"] = f"{config.subject_prefix} {message.summary()}".strip()
    mail["Message-ID"] = f"<{message.idempotency_key}@{config.message_id_domain}>"
    mail["X-Alliancekit-Idempotency-Key"] = message.idempotency_key
    mail["X-Alliancekit-Kind"] = message.kind
    mail["Auto-Submitted"] = "auto-generated"
    mail["Date"] = format_datetime(message.occurred_at) if message.occurred_at else formatdate(usegmt=True)
    lines = [f"Kind:      {message.kind}"]
    if message.severity:
        lines.append(f"Severity:  {message.severity}")
    if message.rule_id:
        lines.append(f"Rule:      {message.rule_id}")
    lines += [
        f"Episode:   {message.episode_id}",
        f"Clinic:    {message.clinic_id}",
    ]
    if message.clinician_id:
        lines.append(f"Clinician: {message.clinician_id}")
    if message.occurred_at:
        lines.append(f"When:      {message.occurred_at.isoformat()}")
    if config.link:
        lines += ["", config.link.format(episode_id=message.episode_id, clinic_id=message.clinic_id)]
    lines += [
        "",
        "This notice carries references only. Open the episode in your practice software for details.",
    ]
    mail.set_content("\n".join(lines) + "\n")
    return mail


def is_permanent(exc: BaseException) -> bool:
    """Whether an SMTP failure is a permanent one (RFC 5321 4.2.1: a 5yz reply; 4yz is transient).

    Recipients refused are permanent when any was refused with 5yz, since the retry goes to all of them
    again, except 552, which RFC 5321 4.5.3.1.10 says to treat as temporary at RCPT (too many recipients).
    A failure without a reply (a dropped connection, a timeout) is transient.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return any(500 <= code < 600 and code != 552 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return 500 <= exc.smtp_code < 600
    return False


class SMTPSetupError(DeliveryError, smtplib.SMTPException):
    """A failure that no retry can mend, because a setting (or the server's own) is wrong: always
    ``permanent``. ``reason`` (recorded in the outbox) says what happened and names the setting to check,
    never a value, the message or an address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=True, reason=reason)


#: The reasons of :class:`SMTPSetupError`, each naming the settings to check (the ``ALLIANCEKIT_SMTP_*``
#: variable; in code, the :class:`SMTPConfig` field of the same meaning).
SETUP_REASONS = {
    "starttls-not-offered": "starttls-not-offered; check ALLIANCEKIT_SMTP_SECURITY and ALLIANCEKIT_SMTP_PORT",
    "not-tls": "not-tls (the server does not speak TLS on this port); check ALLIANCEKIT_SMTP_SECURITY and "
    "ALLIANCEKIT_SMTP_PORT",
    "certificate-name": "certificate-name (the server's certificate is for another name); check "
    "ALLIANCEKIT_SMTP_HOST",
    "certificate-untrusted": "certificate-untrusted (unknown issuer, self-signed or expired); check "
    "ALLIANCEKIT_SMTP_CA_FILE (ssl_context)",
    "auth-not-offered": "auth-not-offered (no login the server and client share); check "
    "ALLIANCEKIT_SMTP_USERNAME",
    "login-refused": "login-refused; check ALLIANCEKIT_SMTP_USERNAME and ALLIANCEKIT_SMTP_PASSWORD",
}


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    try:
        client.login(username, password)
    except smtplib.SMTPNotSupportedError as exc:  # AUTH not offered, even over the encrypted connection
        raise SMTPSetupError(SETUP_REASONS["auth-not-offered"]) from exc
    except smtplib.SMTPAuthenticationError as exc:
        if 500 <= exc.smtp_code < 600:  # 535 and the like: the credentials; a 454 is tried again
            raise SMTPSetupError(SETUP_REASONS["login-refused"]) from exc
        raise
    except smtplib.SMTPException as exc:
        if type(exc) is smtplib.SMTPException:  # "No suitable authentication method found."
            raise SMTPSetupError(SETUP_REASONS["auth-not-offered"]) from exc
        raise


def _marked(exc: OSError) -> OSError:
    # the dispatcher reads ``permanent`` off the exception; smtplib's own class is kept for ``last_error``
    if is_permanent(exc):
        exc.permanent = True  # type: ignore[attr-defined]
    return exc


class _BoundedSMTP(smtplib.SMTP):
    """:class:`smtplib.SMTP` whose every reply is bounded in all, not only between two of its bytes."""

    def __init__(self, deadline: ReplyDeadline, *args: Any, **kwargs: Any) -> None:
        self._deadline = deadline  # set before the base class connects and reads the greeting
        super().__init__(*args, **kwargs)

    def getreply(self) -> tuple[int, bytes]:
        with self._deadline.reply(self.sock):
            reply = super().getreply()
        # What the client does next outside a reply (the STARTTLS handshake above all) is bounded by the
        # socket's timeout: what is left of the budget, not a fresh ``timeout``, or a server slow to greet
        # and then to shake hands keeps the delivery past the dispatcher's call limit.
        if self.sock is not None:
            self.sock.settimeout(self._deadline.left())
        return reply

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # connecting, too, within what is left of the budget (smtplib hands it the full ``timeout``)
        tcp: socket.socket = super()._get_socket(host, port, self._deadline.left())  # type: ignore[misc]  # not in the stubs
        return tcp


class _BoundedSMTPSSL(_BoundedSMTP, smtplib.SMTP_SSL):
    """:class:`smtplib.SMTP_SSL` (TLS from the first byte) with the same bound on every reply."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # smtplib.SMTP_SSL shakes hands under the socket's timeout as set before connecting: a fresh
        # ``timeout`` after a slow connect. The handshake gets what is left, and the watchdog as a reply does.
        # smtplib.SMTP's own: the TCP connection only (not in the stubs)
        sock: socket.socket = smtplib.SMTP._get_socket(self, host, port, self._deadline.left())  # type: ignore[attr-defined]  # noqa: SLF001
        try:
            sock.settimeout(self._deadline.left())
            with self._deadline.reply(sock):
                return self.context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise


class SMTPChannel:
    """An alliancekit notification channel that e-mails each message. Also a plugin registering itself."""

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config
        self.name = config.channel
        self.kinds = config.kinds
        self.timeout = config.timeout

    def __repr__(self) -> str:
        return f"SMTPChannel({self.name!r}, {self.config.host}:{self.config.effective_port})"

    def deliver(self, message: Notification) -> None:
        """Send one e-mail; raises :class:`smtplib.SMTPException` or :class:`OSError` when it was not sent.

        It is sent only when every recipient was accepted: a refused one (4xx or 5xx at ``RCPT``) raises
        :class:`smtplib.SMTPRecipientsRefused`, and the retry goes to all of them again under the same
        Message-ID. A 5yz refusal is marked ``permanent`` (:func:`is_permanent`): the dispatcher makes the
        message dead at once. So is :class:`SMTPSetupError` (an SMTPException): STARTTLS or a login not
        offered, a login refused with 5yz, a certificate that fails verification, a port without TLS. The
        whole conversation, connecting and any TLS handshake included, must be done within ``timeout``
        seconds, however slowly the replies trickle in (:class:`TimeoutError` otherwise).
        """
        config = self.config
        mail = compose(config, message)
        context = config.ssl_context or ssl.create_default_context()
        with ReplyDeadline(config.timeout, total=config.timeout) as deadline:
            try:
                refused = self._send(mail, deadline, context)
            except OSError as exc:  # smtplib's exceptions are OSErrors too
                if deadline.ran_out():  # the watchdog, or the socket's timeout set from what was left
                    raise TimeoutError("the SMTP conversation took longer than the timeout") from exc
                # A certificate that fails verification, or a port that does not speak TLS, fails the same
                # way every time (and a retry is what a machine in the middle wants): permanent.
                if (refusal := tls_refusal(exc)) is not None:
                    raise SMTPSetupError(SETUP_REASONS[refusal]) from exc
                _marked(exc)
                raise
        if refused:
            # smtplib returns, not raises, the recipients refused when others were accepted
            raise _marked(smtplib.SMTPRecipientsRefused(refused))

    def _send(
        self, mail: EmailMessage, deadline: ReplyDeadline, context: ssl.SSLContext
    ) -> dict[str, tuple[int, bytes]]:
        config = self.config
        client = self._connect(deadline, context)
        try:
            if config.security == "starttls":
                try:
                    client.starttls(context=context)
                except smtplib.SMTPNotSupportedError as exc:  # a 454 reply to STARTTLS is tried again
                    raise SMTPSetupError(SETUP_REASONS["starttls-not-offered"]) from exc
            if config.username:
                _login(client, config.username, config.password or "")
            refused = client.send_message(mail)
        except BaseException:
            client.close()
            raise
        # The server has taken the message: a failed goodbye must not make it a failed attempt (which would
        # send it again, and could make it dead although it was delivered).
        try:
            client.quit()
        except OSError:
            pass
        finally:
            client.close()
        return refused

    def _connect(self, deadline: ReplyDeadline, context: ssl.SSLContext) -> smtplib.SMTP:
        config = self.config
        if config.security == "tls":
            return _BoundedSMTPSSL(
                deadline, config.host, config.effective_port, timeout=config.timeout, context=context
            )
        return _BoundedSMTP(deadline, config.host, config.effective_port, timeout=config.timeout)

    @hookimpl
    def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
        register(self)
