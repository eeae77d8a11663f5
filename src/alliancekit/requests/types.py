"""What the request flows return. Secrets (tokens, codes, links) are never in a repr."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import attrs

from alliancekit.domain.records import Administration
from alliancekit.domain.vocab import RequestPoint


@attrs.frozen
class AdministrationRequest:
    """A request made by :meth:`~alliancekit.Practice.request_administration`."""

    request_id: str
    episode_id: str
    measure: str
    version: str
    point: RequestPoint
    expires_at: datetime
    remind_at: datetime | None = None
    session_id: str | None = None
    language: str | None = None
    token: str | None = attrs.field(default=None, repr=False)
    """The secret the link carries: returned once, stored only as a hash. ``None`` on the repeat of a keyed
    request (the first call's token is the one that was sent)."""
    link: str | None = attrs.field(default=None, repr=False)
    """The link sent through the outbox, when the practice has a link template."""
    duplicate: bool = False


@attrs.frozen
class KioskCode:
    """A short code for a clinic tablet, valid on ``valid_on`` (the clinic's day) until its midnight."""

    request_id: str
    episode_id: str
    code: str = attrs.field(repr=False)
    valid_on: date
    expires_at: datetime
    measure: str
    version: str


@attrs.frozen
class RequestForm:
    """What a client's page needs to show the questionnaire; nothing clinical (no name, no earlier scores)."""

    request_id: str
    measure: str
    version: str
    point: RequestPoint
    language: str | None
    questionnaire: Mapping[str, Any] = attrs.field(repr=False)
    """The FHIR Questionnaire of the measure, in ``language`` where the measure has its text."""
    expires_at: datetime
    token: str | None = attrs.field(default=None, repr=False)
    """The one-use token a redeemed kiosk code gives (submit with it); ``None`` from ``open_request``."""


@attrs.frozen
class Submission:
    """What :meth:`~alliancekit.Practice.submit_response` recorded, and what the host must show next."""

    episode_id: str
    version: int
    request_id: str
    administration: Administration
    # the score and whether a risk item was endorsed are client data: kept out of the repr
    total: float = attrs.field(repr=False)
    band: str | None = attrs.field(repr=False)
    show_crisis_information: bool = attrs.field(repr=False)
    """A risk item was endorsed: show ``crisis_information`` now (the clinician is notified as urgent)."""
    crisis_information: str | None = attrs.field(repr=False)  # set only then: it would tell as much
    """The clinic's crisis information in the client's language, when ``show_crisis_information``."""
    alerts: tuple[str, ...] = ()
    """Ids of the alerts the submission raised (the clinician sees them; not for the client's page)."""
