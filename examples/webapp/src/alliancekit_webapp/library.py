"""Where the app meets alliancekit's client-facing API (requests, kiosk codes, submissions): one place, so
the rest of the app reads as the host's own code. Every call goes through the public ``Practice``
facade; the app never reads a store.
"""

from __future__ import annotations

from typing import Any

from alliancekit import Practice
from alliancekit.errors import AlliancekitError

try:
    from alliancekit.errors import InvalidToken, TooManyAttempts
except ImportError:  # pragma: no cover - an alliancekit before administration requests (issue 13)

    class InvalidToken(AlliancekitError):  # type: ignore[no-redef]
        """Stand-in so the app imports on an older alliancekit; nothing raises it there."""

    class TooManyAttempts(AlliancekitError):  # type: ignore[no-redef]
        """Stand-in so the app imports on an older alliancekit; nothing raises it there."""


def supports_requests() -> bool:
    """Whether the installed alliancekit has administration requests (links and kiosk codes)."""
    return hasattr(Practice, "open_request") and hasattr(Practice, "submit_response")


#: Every refusal of a token or a code: the client is shown one neutral page for all of them.
REFUSALS: tuple[type[Exception], ...] = (InvalidToken, TooManyAttempts)


def open_request(practice: Practice, token: str, language: str | None = None) -> Any:
    return practice.open_request(token, language=language)


def redeem_kiosk_code(practice: Practice, clinic_id: str, code: str, source: str) -> Any:
    return practice.redeem_kiosk_code(clinic_id, code, source=source)


def submit_response(practice: Practice, token: str, response: dict[str, Any], language: str | None) -> Any:
    return practice.submit_response(token, questionnaire_response=response, language=language)
