"""NCQA HEDIS depression measures: DRR-E (Depression Remission or Response for Adolescents and Adults) and
DMS (Utilization of the PHQ-9 to Monitor Depression Symptoms for Adolescents and Adults).

Specification: NCQA HEDIS MY 2025/2026, Volume 2 (ECDS); the parts this module uses were retrieved from
NCQA's public measure pages (see docs/guides/quality-reports.md for what could not be retrieved).

DRR-E, per client:

* **Index (IESD)**: the first elevated PHQ-9 (total greater than 9) in the intake period the caller
  passes. "Elevated" is NCQA's word; the threshold above 9 is CMS159's (DRR-E was adapted from the MN
  Community Measurement measures) and is *unconfirmed* for DRR-E: the HEDIS volume was not retrieved.
* **Depression follow-up period**: 120 to 240 days (4 to 8 months) after the IESD.
* **Follow-up**: a PHQ-9 total in that period. **Remission**: the most recent one is less than 5.
  **Response**: the most recent one is at least 50 % lower than the IESD score (``2 x latest <= index``,
  exact in integers).

DMS, per client and 4-month assessment period of the measurement year (January-April, May-August,
September-December): clients with an attended session in the period, and among them those with a PHQ-9
total recorded in the same period.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.feedback.reports.outcomes import Rate
from alliancekit.feedback.reports.quality.records import (
    EpisodeRecord,
    Unavailable,
    add_months,
    attended_by_client,
    no_phq9,
    phq9_by_client,
    rate_json,
    window_json,
    withheld_notes,
)

DRR_SPECIFICATION = "HEDIS MY 2025/2026 DRR-E (NCQA, ECDS)"
DMS_SPECIFICATION = "HEDIS MY 2025/2026 DMS-E (NCQA, ECDS); CMS160 '4 month period'"
ELEVATED_ABOVE = 9
REMISSION_BELOW = 5
FOLLOW_UP_FIRST_DAY = 120
FOLLOW_UP_LAST_DAY = 240


@attrs.frozen
class DrrClient:
    client_ref: str = attrs.field(repr=hidden)
    index_on: date
    index_score: int = attrs.field(repr=hidden)
    follow_up_start: date
    follow_up_end: date
    window_open: bool
    excluded: str | None = None
    latest_score: int | None = attrs.field(default=None, repr=hidden)
    latest_on: date | None = None

    @property
    def followed_up(self) -> bool:
        return self.latest_score is not None

    @property
    def remission(self) -> bool:
        return self.latest_score is not None and self.latest_score < REMISSION_BELOW

    @property
    def response(self) -> bool:
        return self.latest_score is not None and 2 * self.latest_score <= self.index_score


@attrs.frozen
class DrrResult:
    intake_start: date
    intake_end: date
    follow_up: Rate
    remission: Rate
    response: Rate
    clients: tuple[DrrClient, ...]
    unavailable: tuple[Unavailable, ...]
    specification: str = DRR_SPECIFICATION

    @property
    def pending(self) -> int:
        return sum(c.window_open and c.excluded is None for c in self.clients)

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "DRR-E",
            "specification": self.specification,
            "intake_period": window_json(self.intake_start, self.intake_end),
            "follow_up": rate_json(self.follow_up),
            "remission": rate_json(self.remission),
            "response": rate_json(self.response),
            "provisional": self.pending > 0,
            "window_still_open": self.pending,
            "clients": [
                {
                    "client_ref": c.client_ref,
                    "index_on": c.index_on.isoformat(),
                    "index_score": c.index_score,
                    "follow_up_period": window_json(c.follow_up_start, c.follow_up_end),
                    "window_open": c.window_open,
                    "excluded": c.excluded,
                    "latest_score": c.latest_score,
                    "latest_on": None if c.latest_on is None else c.latest_on.isoformat(),
                    "remission": c.remission,
                    "response": c.response,
                }
                for c in self.clients
            ],
            "not_computed": [attrs.asdict(u) for u in self.unavailable],
        }


def drr_e(
    episodes: Iterable[EpisodeRecord],
    *,
    intake: tuple[date, date],
    today: date,
    exclusions: Mapping[str, str] | None = None,
) -> DrrResult:
    """DRR-E over the clients of ``episodes`` whose first elevated PHQ-9 falls in ``intake`` (inclusive)."""
    exclusions = exclusions or {}
    intake_start, intake_end = intake
    episodes = list(episodes)
    by_client = phq9_by_client(episodes)
    unavailable = no_phq9(by_client)
    clients: list[DrrClient] = []
    for client_ref, scores in sorted(by_client.items()):
        index = next(
            (s for s in scores if intake_start <= s.on <= intake_end and s.total > ELEVATED_ABOVE), None
        )
        if index is None:
            continue
        start = index.on + timedelta(days=FOLLOW_UP_FIRST_DAY)
        end = index.on + timedelta(days=FOLLOW_UP_LAST_DAY)
        in_window = [s for s in scores if start <= s.on <= end]
        latest = in_window[-1] if in_window else None
        clients.append(
            DrrClient(
                client_ref=client_ref,
                index_on=index.on,
                index_score=index.total,
                follow_up_start=start,
                follow_up_end=end,
                window_open=today <= end,
                excluded=exclusions.get(client_ref),
                latest_score=None if latest is None else latest.total,
                latest_on=None if latest is None else latest.on,
            )
        )
    if not unavailable and not clients:
        unavailable.append(
            Unavailable(
                "practice",
                f"no client had an elevated PHQ-9 (above {ELEVATED_ABOVE}) between "
                f"{intake_start.isoformat()} and {intake_end.isoformat()} (the intake period)",
            )
        )
    counted = [c for c in clients if c.excluded is None]
    n = len(counted)
    return DrrResult(
        intake_start,
        intake_end,
        follow_up=Rate(sum(c.followed_up for c in counted), n),
        remission=Rate(sum(c.remission for c in counted), n),
        response=Rate(sum(c.response for c in counted), n),
        clients=tuple(clients),
        unavailable=tuple(withheld_notes(episodes) + unavailable),
    )


def assessment_periods(year: int) -> tuple[tuple[date, date], ...]:
    """The three 4-month assessment periods of ``year`` (both ends inclusive)."""
    starts = [date(year, month, 1) for month in (1, 5, 9)] + [date(year + 1, 1, 1)]
    return tuple((a, b - timedelta(days=1)) for a, b in itertools.pairwise(starts))


@attrs.frozen
class DmsPeriod:
    start: date
    end: date
    utilisation: Rate


@attrs.frozen
class DmsResult:
    year: int
    periods: tuple[DmsPeriod, ...]
    total: Rate
    unavailable: tuple[Unavailable, ...]
    specification: str = DMS_SPECIFICATION

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "DMS",
            "specification": self.specification,
            "measurement_year": self.year,
            "periods": [
                {"period": window_json(p.start, p.end), "utilisation": rate_json(p.utilisation)}
                for p in self.periods
            ],
            "total": rate_json(self.total),
            "not_computed": [attrs.asdict(u) for u in self.unavailable],
        }


def dms(
    episodes: Iterable[EpisodeRecord], *, year: int, exclusions: Mapping[str, str] | None = None
) -> DmsResult:
    """DMS for measurement ``year``: per assessment period, clients seen and clients with a PHQ-9."""
    exclusions = exclusions or {}
    episodes = [e for e in episodes if e.client_ref not in exclusions]
    seen = attended_by_client(episodes)
    by_client = phq9_by_client(episodes)
    unavailable = no_phq9(by_client)
    periods = []
    for start, end in assessment_periods(year):
        eligible = {c for c, days in seen.items() if any(start <= d <= end for d in days)}
        measured = {c for c in eligible if any(start <= s.on <= end for s in by_client.get(c, ()))}
        periods.append(DmsPeriod(start, end, Rate(len(measured), len(eligible))))
    total = Rate(
        sum(p.utilisation.numerator for p in periods), sum(p.utilisation.denominator for p in periods)
    )
    if not unavailable and total.denominator == 0:
        unavailable.append(Unavailable("practice", f"no client attended a session in {year}"))
    return DmsResult(year, tuple(periods), total, tuple(withheld_notes(episodes) + unavailable))


def rolling_intake(today: date) -> tuple[date, date]:
    """The report's default DRR-E intake period: the 12 months ending 240 days before ``today``, so that
    every index in it has a complete follow-up period (HEDIS fixes the intake period per measurement year;
    a host reporting to NCQA passes that period instead)."""
    end = today - timedelta(days=FOLLOW_UP_LAST_DAY)
    return add_months(end, -12) + timedelta(days=1), end
