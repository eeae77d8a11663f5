"""What the app's handlers share: the settings, the open practice and the signer."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from starlette.requests import Request

from alliancekit import Practice
from alliancekit.errors import ValidationError
from alliancekit_webapp.security import SignedOut, Signer
from alliancekit_webapp.submitted import Redeemed, Submitted
from alliancekit_webapp.throttle import Throttle


@dataclass(frozen=True)
class Settings:
    """How one clinic runs the app.

    ``clinicians`` maps each clinician's id (as the practice knows them) to a passphrase hash
    (:func:`alliancekit_webapp.security.hash_passphrase`). That is the example's sign-in, and only that: a
    real host signs its staff in with its own identity provider and builds the ``Actor`` from it.

    ``public_url`` is where clients reach the app (``https://measures.clinic.example``): the links a
    clinician sends are built from it, never from the request's ``Host`` header, which whoever sends the
    request (or a misconfigured proxy) chooses. It must be ``https``, or ``http`` on a loopback address
    (``localhost``, ``127.0.0.0/8``, ``::1``) for a trial on one machine, with no path, query or user.
    """

    clinic_id: str
    secret_key: bytes = field(repr=False)
    public_url: str
    clinicians: Mapping[str, str] = field(default_factory=dict, repr=False)
    measures: tuple[str, ...] = ("phq-9", "gad-7")
    """The measures a clinician can send from the episode page."""
    languages: tuple[tuple[str, str], ...] = (("en", "English"), ("es", "Español"), ("fr", "Français"))
    """The languages offered for a request: (BCP 47 tag, its name in that language)."""
    sign_in_attempts: int = 5
    """Wrong sign-ins allowed from one address in :attr:`sign_in_window_seconds`; past that, sign-in from
    it is refused (HTTP 429), even with the right passphrase."""
    sign_in_account_attempts: int = 5
    """Wrong sign-ins allowed for one clinician id, from any addresses, in :attr:`sign_in_window_seconds`;
    past that, sign-in as that id is refused (HTTP 429) from every address, even with the right passphrase.
    An id no clinician has is counted the same way, so the refusal does not tell whether it exists."""
    sign_in_window_seconds: float = 15 * 60

    def __post_init__(self) -> None:
        check_public_url(self.public_url)

    @property
    def link_base(self) -> str:
        """:attr:`public_url` without its trailing ``/``: a link is ``link_base + "/r/" + token``."""
        return self.public_url.rstrip("/")

    @property
    def public_origin(self) -> str:
        """The origin a browser names (``Origin`` header) for a page at :attr:`public_url`: scheme and host
        in lower case, the port only when not the scheme's default."""
        parts = urlsplit(self.public_url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        default = {"http": 80, "https": 443}[parts.scheme]
        port = "" if parts.port in (None, default) else f":{parts.port}"
        return f"{parts.scheme}://{host}{port}"


def check_public_url(value: object) -> None:
    """Refuse a public URL that is not ``https`` (``http`` only on a loopback address) or has more than a
    scheme, a host and a port (the message never repeats the value)."""
    if not isinstance(value, str) or any(ch.isspace() for ch in value):
        raise ValidationError("public_url", "absolute-url", "an https URL such as https://host[:port]")
    parts = urlsplit(value)
    try:
        port = parts.port  # urlsplit parses (and checks) it only when asked
    except ValueError:
        port = 0
    if port == 0:
        raise ValidationError("public_url", "absolute-url", "a port from 1 to 65535")
    host = parts.hostname or ""
    if not (_HOST_NAME.fullmatch(host) or _address(host)) or parts.username is not None:
        raise ValidationError("public_url", "absolute-url", "an https URL such as https://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValidationError(
            "public_url", "no-path", "a scheme, a host and a port only (the app's links start at /)"
        )
    if parts.scheme == "https" or (parts.scheme == "http" and _loopback(host)):
        return
    raise ValidationError("public_url", "https", "https, or http only on a loopback address")


#: A DNS name (urlsplit gives it in lower case); anything else in the host must be an IP address.
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    address = _address(host)
    return host == "localhost" or (address is not None and address.is_loopback)


@dataclass
class AppState:
    settings: Settings
    signer: Signer
    practice: Practice
    submitted: Submitted = field(default_factory=Submitted)
    redeemed: Redeemed = field(default_factory=Redeemed)
    signed_out: SignedOut = field(default_factory=SignedOut)
    throttle: Throttle = field(init=False)
    """Wrong sign-ins per source address."""
    account_throttle: Throttle = field(init=False)
    """Wrong sign-ins per clinician id tried (keyed by :func:`~alliancekit_webapp.throttle.account_key`)."""

    def __post_init__(self) -> None:
        window = self.settings.sign_in_window_seconds
        self.throttle = Throttle(self.settings.sign_in_attempts, window)
        self.account_throttle = Throttle(self.settings.sign_in_account_attempts, window)


def state(request: Request) -> AppState:
    found: AppState = request.app.state.alliancekit
    return found
