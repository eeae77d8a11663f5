"""What the app's handlers share: the settings, the open practice and the signer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from starlette.requests import Request

from alliancekit import Practice
from alliancekit_webapp.security import SignedOut, Signer
from alliancekit_webapp.submitted import Submitted
from alliancekit_webapp.throttle import Throttle


@dataclass(frozen=True)
class Settings:
    """How one clinic runs the app.

    ``clinicians`` maps each clinician's id (as the practice knows them) to a passphrase hash
    (:func:`alliancekit_webapp.security.hash_passphrase`). That is the example's sign-in, and only that: a
    real host signs its staff in with its own identity provider and builds the ``Actor`` from it.
    """

    clinic_id: str
    secret_key: bytes = field(repr=False)
    clinicians: Mapping[str, str] = field(default_factory=dict, repr=False)
    measures: tuple[str, ...] = ("phq-9", "gad-7")
    """The measures a clinician can send from the episode page."""
    languages: tuple[tuple[str, str], ...] = (("en", "English"), ("es", "Español"), ("fr", "Français"))
    """The languages offered for a request: (BCP 47 tag, its name in that language)."""
    sign_in_attempts: int = 5
    """Wrong sign-ins allowed from one address in :attr:`sign_in_window_seconds`; past that, sign-in from
    it is refused (HTTP 429), even with the right passphrase."""
    sign_in_window_seconds: float = 15 * 60


@dataclass
class AppState:
    settings: Settings
    signer: Signer
    practice: Practice
    submitted: Submitted = field(default_factory=Submitted)
    signed_out: SignedOut = field(default_factory=SignedOut)
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = Throttle(self.settings.sign_in_attempts, self.settings.sign_in_window_seconds)


def state(request: Request) -> AppState:
    found: AppState = request.app.state.alliancekit
    return found
