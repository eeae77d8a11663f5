"""CMS159 (MIPS Quality ID 370, CBE 0710e): Depression Remission at Twelve Months.

Specification: eCQI Resource Center, CMS159v12 (2024), v13 (2025), v14 (2026 performance period); MN
Community Measurement, steward. The rules below were checked against the measure's CQL for the 2026
measurement period (CMS159FHIR 0.3.000, cqframework/ecqm-content-qicore-2025). A patient-based proportion,
as this module computes it:

* **Measurement period**: a calendar year.
* **Denominator identification period**: from the start of the measurement period minus 14 months to the
  start minus 2 months (``Interval[start - 14 months, start - 2 months)``), i.e. 1 November two years
  before to 31 October of the year before.
* **Index event**: the client's first PHQ-9 total **greater than 9** given on the day of an attended session
  in that period or up to **7 days before** it (the CQL links the assessment to an encounter that ends in
  the period); the index date is the PHQ-9's day.
* **Measure assessment period**: the index date plus 12 months, plus or minus 60 days (both ends included).
* **Numerator**: the **most recent** PHQ-9 total in that window is **less than 5** (any PHQ-9, with or
  without a session).
* **Denominator exclusions** (death, hospice or palliative care, bipolar disorder, personality disorder
  emotionally labile, schizophrenia or psychotic disorder, pervasive developmental disorder): a therapy
  record holds none of these facts, so the host passes them as ``exclusions`` (client -> reason).

What the record cannot say (the diagnosis of major depression or dysthymia on the encounter, the age of 12
or more and the strata 12-17 and 18+, PHQ-9M) is listed in docs/guides/quality-reports.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.feedback.reports.outcomes import Rate
from alliancekit.feedback.reports.quality.records import (
    EpisodeRecord,
    ScoreRecord,
    Unavailable,
    add_months,
    attended_by_client,
    no_phq9,
    phq9_by_client,
    rate_json,
    window_json,
    withheld_notes,
)

SPECIFICATION = "CMS159v12/v13/v14 (eCQI Resource Center; MIPS Quality ID 370; CBE 0710e)"
INDEX_ABOVE = 9
REMISSION_BELOW = 5
WINDOW_DAYS = 60
#: the index PHQ-9 may be given on the day of the encounter or up to this many days before it
ENCOUNTER_LOOKBACK_DAYS = 7


class Cms159Status:
    REMISSION = "remission"
    NO_REMISSION = "no remission"
    NO_FOLLOW_UP = "no PHQ-9 in the 12-month window"
    WINDOW_OPEN = "12-month window still open"
    EXCLUDED = "excluded"


@attrs.frozen
class Cms159Client:
    client_ref: str = attrs.field(repr=hidden)
    index_on: date
    index_score: int = attrs.field(repr=hidden)
    window_start: date
    window_end: date
    status: str = attrs.field(repr=hidden)
    follow_up_score: int | None = attrs.field(default=None, repr=hidden)
    follow_up_on: date | None = None
    exclusion: str | None = attrs.field(default=None, repr=hidden)


@attrs.frozen
class Cms159Result:
    year: int
    identification_start: date
    identification_end: date
    remission: Rate
    clients: tuple[Cms159Client, ...]
    unavailable: tuple[Unavailable, ...]
    specification: str = SPECIFICATION

    @property
    def pending(self) -> int:
        """Clients in the denominator whose 12-month window has not closed yet: the rate is provisional."""
        return sum(c.status == Cms159Status.WINDOW_OPEN for c in self.clients)

    @property
    def excluded(self) -> int:
        return sum(c.status == Cms159Status.EXCLUDED for c in self.clients)

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "CMS159",
            "specification": self.specification,
            "measurement_year": self.year,
            "denominator_identification_period": window_json(
                self.identification_start, self.identification_end
            ),
            "remission": rate_json(self.remission),
            "provisional": self.pending > 0,
            "window_still_open": self.pending,
            "excluded": self.excluded,
            "clients": [
                {
                    "client_ref": c.client_ref,
                    "index_on": c.index_on.isoformat(),
                    "index_score": c.index_score,
                    "window": window_json(c.window_start, c.window_end),
                    "status": c.status,
                    "follow_up_score": c.follow_up_score,
                    "follow_up_on": None if c.follow_up_on is None else c.follow_up_on.isoformat(),
                    "exclusion": c.exclusion,
                }
                for c in self.clients
            ],
            "not_computed": [attrs.asdict(u) for u in self.unavailable],
        }


def identification_period(year: int) -> tuple[date, date]:
    """The denominator identification period of measurement ``year`` (both ends inclusive)."""
    start = date(year, 1, 1)
    return add_months(start, -14), add_months(start, -2) - timedelta(days=1)


def assessment_window(index_on: date) -> tuple[date, date]:
    """12 months after the index event, plus or minus 60 days (both ends inclusive)."""
    target = add_months(index_on, 12)
    return target - timedelta(days=WINDOW_DAYS), target + timedelta(days=WINDOW_DAYS)


def index_event(
    scores: Iterable[ScoreRecord], attended: Iterable[date], first: date, last: date
) -> ScoreRecord | None:
    """The client's index PHQ-9: the first total above 9 given on the day of an attended session that falls
    in the identification period ``[first, last]``, or up to 7 days before that session.

    It is the session, not the PHQ-9, that must fall in the period (CMS159's CQL: the encounter "ends
    during" the period, the assessment during ``[encounter - 7 days, encounter]``), so a PHQ-9 the client
    filled in a few days before the period's first session counts, and one with no session on or within
    7 days after its day does not.
    """
    encounters = [day for day in attended if first <= day <= last]
    return next(
        (
            s
            for s in scores
            if s.total > INDEX_ABOVE
            and any(0 <= (day - s.on).days <= ENCOUNTER_LOOKBACK_DAYS for day in encounters)
        ),
        None,
    )


def cms159(
    episodes: Iterable[EpisodeRecord],
    *,
    year: int,
    today: date,
    exclusions: Mapping[str, str] | None = None,
) -> Cms159Result:
    """CMS159 for measurement ``year`` over the clients of ``episodes`` (see the module docstring).

    ``exclusions`` maps a client reference to the denominator exclusion the host's record shows for them;
    ``today`` decides which 12-month windows are still open.
    """
    exclusions = exclusions or {}
    first, last = identification_period(year)
    episodes = list(episodes)
    by_client = phq9_by_client(episodes)
    attended = attended_by_client(episodes)
    unavailable = no_phq9(by_client)
    clients: list[Cms159Client] = []
    for client_ref, scores in sorted(by_client.items()):
        index = index_event(scores, attended[client_ref], first, last)
        if index is None:
            continue
        start, end = assessment_window(index.on)
        in_window = [s for s in scores if start <= s.on <= end]
        latest = in_window[-1] if in_window else None
        if client_ref in exclusions:
            status = Cms159Status.EXCLUDED
        elif today <= end:
            status = Cms159Status.WINDOW_OPEN
        elif latest is None:
            status = Cms159Status.NO_FOLLOW_UP
        elif latest.total < REMISSION_BELOW:
            status = Cms159Status.REMISSION
        else:
            status = Cms159Status.NO_REMISSION
        clients.append(
            Cms159Client(
                client_ref=client_ref,
                index_on=index.on,
                index_score=index.total,
                window_start=start,
                window_end=end,
                status=status,
                follow_up_score=None if latest is None else latest.total,
                follow_up_on=None if latest is None else latest.on,
                exclusion=exclusions.get(client_ref),
            )
        )
    if not unavailable and not clients:
        unavailable.append(
            Unavailable(
                "practice",
                f"no client had a PHQ-9 above {INDEX_ABOVE} on the day of an attended session between "
                f"{first.isoformat()} and {last.isoformat()} (the denominator identification period of "
                f"{year}) or up to {ENCOUNTER_LOOKBACK_DAYS} days before it",
            )
        )
    denominator = [c for c in clients if c.status != Cms159Status.EXCLUDED]
    remission = Rate(sum(c.status == Cms159Status.REMISSION for c in denominator), len(denominator))
    notes = withheld_notes(episodes) + unavailable
    return Cms159Result(year, first, last, remission, tuple(clients), tuple(notes))
