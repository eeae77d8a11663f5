"""The measurement-based-care summary: per episode, what was given and when, how the scores were reviewed
and acted on; and the practice's aggregate of it.

It is the evidence The Joint Commission's behavioural-health standard CTS.03.01.09 asks for ("the
organization assesses the outcomes of care, treatment, or services provided to the individual served"),
element by element as its elements of performance (revised, effective 1 January 2018) put them:

* **EP 1**, a standardized tool monitors the individual's progress: the measures given, how often, when.
* **EP 2**, the data are analysed and the results inform the plan: progress reviews (with the scores they
  looked at), alerts acknowledged or resolved, and plan changes as the lifecycle records them (goals
  revised; reviews that adjusted the approach, revisited goals, added support, referred or planned the
  ending).
* **EP 3**, outcomes are aggregated across the population served: the practice totals below, beside the
  practice outcomes and the quality measures of the same report.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.feedback.reports.outcomes import Rate
from alliancekit.feedback.reports.quality.records import EpisodeRecord, Unavailable, rate_json, withheld_notes

SPECIFICATION = (
    "The Joint Commission, Behavioral Health Care and Human Services, standard CTS.03.01.09 (EPs 1-3, 2018)"
)


@attrs.frozen
class MeasureUse:
    measure_id: str
    times: int
    first_on: date
    last_on: date


@attrs.frozen
class EpisodeMbc:
    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    clinician_id: str
    open: bool
    sessions: int
    measures: tuple[MeasureUse, ...]
    reviews: int
    reviews_with_scores: int
    last_review_on: date | None
    alerts_raised: int
    alerts_acknowledged: int
    alerts_unacknowledged: int
    plan_changes: tuple[str, ...]
    withheld: bool

    @property
    def measured(self) -> bool:
        return bool(self.measures)

    @property
    def monitored(self) -> bool:
        """A measure was given more than once: progress, not only a baseline."""
        return any(m.times >= 2 for m in self.measures)

    @property
    def acted_on(self) -> bool:
        return self.reviews > 0 or bool(self.plan_changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "client_ref": self.client_ref,
            "clinician_id": self.clinician_id,
            "open": self.open,
            "sessions_attended": self.sessions,
            "measures": [
                {
                    "measure_id": m.measure_id,
                    "times": m.times,
                    "first_on": m.first_on.isoformat(),
                    "last_on": m.last_on.isoformat(),
                }
                for m in self.measures
            ],
            "reviews": self.reviews,
            "reviews_with_scores": self.reviews_with_scores,
            "last_review_on": None if self.last_review_on is None else self.last_review_on.isoformat(),
            "alerts_raised": self.alerts_raised,
            "alerts_acknowledged": self.alerts_acknowledged,
            "alerts_unacknowledged": self.alerts_unacknowledged,
            "plan_changes": list(self.plan_changes),
            "withheld": self.withheld,
        }


@attrs.frozen
class MbcSummary:
    episodes: tuple[EpisodeMbc, ...]
    measured: Rate
    monitored: Rate
    reviewed: Rate
    alerts_acknowledged: Rate
    unavailable: tuple[Unavailable, ...]
    specification: str = SPECIFICATION

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "Measurement-based care summary",
            "specification": self.specification,
            "measured": rate_json(self.measured),
            "monitored": rate_json(self.monitored),
            "reviewed": rate_json(self.reviewed),
            "alerts_acknowledged": rate_json(self.alerts_acknowledged),
            "episodes": [e.to_json() for e in self.episodes],
            "not_computed": [attrs.asdict(u) for u in self.unavailable],
        }


def episode_mbc(episode: EpisodeRecord) -> EpisodeMbc:
    """The measurement-based-care record of one episode."""
    uses: dict[str, list[date]] = {}
    for measure_id, on in episode.given:
        uses.setdefault(measure_id, []).append(on)
    acknowledged = sum(a.acknowledged_on is not None or a.resolved_on is not None for a in episode.alerts)
    return EpisodeMbc(
        episode_id=episode.episode_id,
        client_ref=episode.client_ref,
        clinician_id=episode.clinician_id,
        open=episode.closed_on is None,
        sessions=len(episode.attended),
        measures=tuple(
            MeasureUse(measure_id, len(days), min(days), max(days))
            for measure_id, days in sorted(uses.items())
        ),
        reviews=len(episode.reviews),
        reviews_with_scores=sum(bool(r.scores_reviewed) for r in episode.reviews),
        last_review_on=max((r.on for r in episode.reviews), default=None),
        alerts_raised=len(episode.alerts),
        alerts_acknowledged=acknowledged,
        alerts_unacknowledged=len(episode.alerts) - acknowledged,
        plan_changes=tuple(f"{c.on.isoformat()} {c.kind}" for c in episode.plan_changes),
        withheld=episode.withheld,
    )


def mbc_summary(episodes: Iterable[EpisodeRecord]) -> MbcSummary:
    """Per-episode summaries of the episodes with an attended session, and the practice's totals."""
    episodes = list(episodes)
    unavailable: list[Unavailable] = []
    treated = [e for e in episodes if e.attended]
    if not episodes:
        unavailable.append(Unavailable("practice", "no episodes: there is nothing to summarise"))
    elif not treated:
        unavailable.append(Unavailable("practice", "no episode has an attended session yet"))
    unavailable += withheld_notes(episodes)
    order = sorted(treated, key=lambda e: (e.clinician_id, e.client_ref, e.opened_on, e.episode_id))
    rows = tuple(episode_mbc(e) for e in order)
    raised = sum(r.alerts_raised for r in rows)
    return MbcSummary(
        episodes=rows,
        measured=Rate(sum(r.measured for r in rows), len(rows)),
        monitored=Rate(sum(r.monitored for r in rows), len(rows)),
        reviewed=Rate(sum(r.reviews > 0 for r in rows), len(rows)),
        alerts_acknowledged=Rate(sum(r.alerts_acknowledged for r in rows), raised),
        unavailable=tuple(unavailable),
    )
