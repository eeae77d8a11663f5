"""NHS Talking Therapies for anxiety and depression: the outcome measures of finished courses of treatment.

Specification: NHS England, NHS Talking Therapies for anxiety and depression data handbook (v2.x; the
IAPT Data Handbook before it) and NHS England Digital's published glossary and methodology. For each
**finished course of treatment** (an ended referral with at least two attended treatment sessions: here an
episode closed with an ending and at least two attended sessions) the **paired scores** are the first and
the last PHQ-9 and the first and the last GAD-7 (the anxiety measure: this library has no other
anxiety-disorder-specific measure, and the record holds no provisional diagnosis to choose one).

* **Caseness**: PHQ-9 **>= 10** or GAD-7 **>= 8**.
* **Reliable change**: PHQ-9 by **6** or more, GAD-7 by **4** or more.
* **Reliable improvement**: a reliable decrease on at least one measure and no reliable increase on the
  other (denominator: finished courses with paired scores).
* **Reliable deterioration**: a reliable increase on at least one measure and no reliable decrease on the
  other (same denominator).
* **Recovery**: at caseness at the first pair, not at caseness (on either measure) at the last
  (denominator: finished courses at caseness at the start).
* **Reliable recovery**: recovery and reliable improvement (same denominator as recovery).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.feedback.reports.outcomes import Rate
from alliancekit.feedback.reports.quality.records import (
    GAD7,
    PHQ9,
    EpisodeRecord,
    Unavailable,
    rate_json,
    withheld_notes,
)

SPECIFICATION = (
    "NHS Talking Therapies for anxiety and depression data handbook v2.x (NHS England) and NHS England "
    "Digital's published definitions"
)
PHQ9_CASENESS = 10
GAD7_CASENESS = 8
PHQ9_RELIABLE_CHANGE = 6
GAD7_RELIABLE_CHANGE = 4
MINIMUM_SESSIONS = 2


def at_caseness(phq9: int, gad7: int) -> bool:
    return phq9 >= PHQ9_CASENESS or gad7 >= GAD7_CASENESS


def _direction(first: int, last: int, threshold: int) -> int:
    """-1 a reliable decrease, +1 a reliable increase, 0 neither."""
    change = last - first
    if change <= -threshold:
        return -1
    if change >= threshold:
        return 1
    return 0


@attrs.frozen
class CourseOutcome:
    """The classification of one finished course from its paired scores."""

    episode_id: str
    phq9: tuple[int, int] = attrs.field(repr=hidden)
    gad7: tuple[int, int] = attrs.field(repr=hidden)

    @property
    def caseness_at_start(self) -> bool:
        return at_caseness(self.phq9[0], self.gad7[0])

    @property
    def caseness_at_end(self) -> bool:
        return at_caseness(self.phq9[1], self.gad7[1])

    @property
    def _directions(self) -> tuple[int, int]:
        return (
            _direction(*self.phq9, PHQ9_RELIABLE_CHANGE),
            _direction(*self.gad7, GAD7_RELIABLE_CHANGE),
        )

    @property
    def reliable_improvement(self) -> bool:
        d = self._directions
        return -1 in d and 1 not in d

    @property
    def reliable_deterioration(self) -> bool:
        d = self._directions
        return 1 in d and -1 not in d

    @property
    def recovery(self) -> bool:
        return self.caseness_at_start and not self.caseness_at_end

    @property
    def reliable_recovery(self) -> bool:
        return self.recovery and self.reliable_improvement


@attrs.frozen
class TalkingTherapiesResult:
    finished: int
    paired: int
    caseness: int
    recovery: Rate
    reliable_improvement: Rate
    reliable_recovery: Rate
    reliable_deterioration: Rate
    courses: tuple[CourseOutcome, ...]
    unavailable: tuple[Unavailable, ...]
    specification: str = SPECIFICATION

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "NHS Talking Therapies outcomes",
            "specification": self.specification,
            "finished_courses": self.finished,
            "with_paired_scores": self.paired,
            "at_caseness_at_start": self.caseness,
            "recovery": rate_json(self.recovery),
            "reliable_improvement": rate_json(self.reliable_improvement),
            "reliable_recovery": rate_json(self.reliable_recovery),
            "reliable_deterioration": rate_json(self.reliable_deterioration),
            "courses": [
                {
                    "episode_id": c.episode_id,
                    "phq9": list(c.phq9),
                    "gad7": list(c.gad7),
                    "caseness_at_start": c.caseness_at_start,
                    "recovery": c.recovery,
                    "reliable_improvement": c.reliable_improvement,
                    "reliable_recovery": c.reliable_recovery,
                    "reliable_deterioration": c.reliable_deterioration,
                }
                for c in self.courses
            ],
            "not_computed": [attrs.asdict(u) for u in self.unavailable],
        }


def course_outcome(episode: EpisodeRecord) -> CourseOutcome | Unavailable:
    """The paired-score classification of one finished course, or why it has none."""
    pairs = []
    for measure_id in (PHQ9, GAD7):
        scores = episode.scores_of(measure_id)
        if len(scores) < 2:
            return Unavailable(
                episode.episode_id, f"no paired {measure_id.upper()} scores (fewer than two recorded)"
            )
        pairs.append((scores[0].total, scores[-1].total))
    return CourseOutcome(episode.episode_id, pairs[0], pairs[1])


def talking_therapies(episodes: Iterable[EpisodeRecord]) -> TalkingTherapiesResult:
    """The Talking Therapies outcome rates of the finished courses among ``episodes``."""
    episodes = list(episodes)
    finished = [e for e in episodes if e.finished and len(e.attended) >= MINIMUM_SESSIONS]
    unavailable: list[Unavailable] = []
    if not episodes:
        unavailable.append(Unavailable("practice", "no episodes: there is nothing to measure"))
    elif not finished:
        unavailable.append(
            Unavailable(
                "practice",
                f"no finished course of treatment (closed with an ending after at least {MINIMUM_SESSIONS} "
                "attended sessions)",
            )
        )
    courses: list[CourseOutcome] = []
    for episode in finished:
        outcome = course_outcome(episode)
        if isinstance(outcome, Unavailable):
            unavailable.append(outcome)
        else:
            courses.append(outcome)
    cases = [c for c in courses if c.caseness_at_start]
    return TalkingTherapiesResult(
        finished=len(finished),
        paired=len(courses),
        caseness=len(cases),
        recovery=Rate(sum(c.recovery for c in cases), len(cases)),
        reliable_improvement=Rate(sum(c.reliable_improvement for c in courses), len(courses)),
        reliable_recovery=Rate(sum(c.reliable_recovery for c in cases), len(cases)),
        reliable_deterioration=Rate(sum(c.reliable_deterioration for c in courses), len(courses)),
        courses=tuple(courses),
        unavailable=tuple(withheld_notes(episodes) + unavailable),
    )
