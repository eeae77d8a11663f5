"""How a practice makes administration requests: expiry, reminder, link, kiosk limits, crisis information."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import attrs

from alliancekit.errors import ValidationError
from alliancekit.i18n import N_

#: Greenspace's defaults (issue 13: "a request expires after 4 days, with a reminder after 2").
DEFAULT_EXPIRES_IN = timedelta(days=4)
DEFAULT_REMIND_AFTER = timedelta(days=2)
#: The longest a link may live: a request is for one administration, not a standing invitation.
MAX_EXPIRES_IN = timedelta(days=30)

#: Shown to a client who endorsed a risk item when their clinic configured no text of its own.
DEFAULT_CRISIS_INFORMATION = N_(
    "If you are thinking about harming yourself or feel unsafe, please contact your clinic now. "
    "In an emergency, call your local emergency number or go to the nearest emergency department."
)


def check_duration(field: str, value: Any, *, hi: timedelta = MAX_EXPIRES_IN) -> timedelta:
    """A positive duration of at most ``hi``."""
    if not isinstance(value, timedelta):
        raise ValidationError(field, "type", "a datetime.timedelta")
    if value <= timedelta(0) or value > hi:
        raise ValidationError(field, "range", f"more than 0 and at most {hi.days} days")
    return value


def _duration(instance: object, attribute: Any, value: Any) -> None:
    check_duration(f"RequestConfig.{attribute.name}", value)


def _optional_duration(instance: object, attribute: Any, value: Any) -> None:
    if value is not None:
        check_duration(f"RequestConfig.{attribute.name}", value)


def _link(instance: object, attribute: Any, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or value.count("{token}") != 1:
        raise ValidationError("RequestConfig.link_template", "format", "text holding {token} exactly once")
    if not value.startswith(("https://", "http://")):
        raise ValidationError("RequestConfig.link_template", "scheme", "an https:// (or http://) address")


def _crisis(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        raise ValidationError("RequestConfig.crisis_information", "type", "a mapping of clinic id to text")


def _positive(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 1000:
        raise ValidationError(f"RequestConfig.{attribute.name}", "range", "a whole number from 1 to 1000")


def _code_length(instance: object, attribute: Any, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 6 <= value <= 12:
        raise ValidationError("RequestConfig.kiosk_code_length", "range", "a whole number from 6 to 12")


@attrs.frozen
class RequestConfig:
    """Settings of administration requests, given to :class:`~alliancekit.Practice` as ``requests=``."""

    link_template: str | None = attrs.field(default=None, validator=_link)
    """The address a client opens, with ``{token}`` where the token goes
    (``"https://clinic.example/measures/{token}"``). Without it no message is sent: the host delivers the
    token returned by :meth:`~alliancekit.Practice.request_administration` itself."""
    expires_in: timedelta = attrs.field(default=DEFAULT_EXPIRES_IN, validator=_duration)
    """How long a link lives: a duration (4 days is 96 hours, whatever clock change falls in between), not
    calendar days; the request is refused from its ``expires_at`` on."""
    remind_after: timedelta | None = attrs.field(default=DEFAULT_REMIND_AFTER, validator=_optional_duration)
    """A duration after the request is made, as ``expires_in``. ``None``: no reminder. A reminder due at or
    after the expiry is not sent."""
    kiosk_code_length: int = attrs.field(default=8, validator=_code_length)
    kiosk_attempts: int = attrs.field(default=5, validator=_positive)
    """Wrong kiosk codes one source may enter in one window before it is refused."""
    kiosk_window: timedelta = attrs.field(default=timedelta(minutes=15), validator=_duration)
    crisis_information: Mapping[str, str] = attrs.field(factory=dict, validator=_crisis)
    """Per clinic id: what a client who endorsed a risk item is shown (the clinic's own words: phone numbers,
    opening hours). A clinic without one gets :data:`DEFAULT_CRISIS_INFORMATION`, translated."""
