"""Practice outcomes for closed episodes, from the caseload projection (one row per episode, no events).

* **Episodes counted**: closed with an ending (episodes closed at the consultation never started therapy).
* **Measured**: the primary outcome measure has an intake and a later score.
* **Reliable improvement, recovery, deterioration**: Jacobson & Truax classes of the change from intake to
  the final score (:mod:`alliancekit.measures.change`); recovery is counted among clients whose intake was
  in the clinical range, the others cannot recover.
* **Dropout**: endings with the reason ``dropout``, among all endings.
* **Severity-adjusted effect size (SAES)**: for clients whose intake was in the clinical range, the
  residualised gain (actual change toward health minus the change expected for the intake level, from a
  least-squares line of change on intake over the practice's own episodes on that measure) divided by the
  SD of change in that group (measures.md, "SAES"). Averaged by clinician, modality and quarter; the
  practice's mean is 0 by construction, so a group's SAES says how it compares with the practice. Buckets
  as ACORN and OpenFIT report them: >= 0.8, 0.5 to 0.8, -0.5 to 0.5, below -0.5.

Every rate carries its numerator and denominator, so small numbers stay visible.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.measures.change import ChangeClass, classify_change
from alliancekit.measures.definition import Measure
from alliancekit.store.protocol import CaseloadRow

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

DROPOUT = "dropout"
#: Fewer clinical-intake episodes than this on a measure and no SAES is computed for it.
SAES_MINIMUM = 3


@attrs.frozen
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator

    def __str__(self) -> str:
        value = self.value
        if value is None:
            return "- (0 of 0)"
        return f"{value:.0%} ({self.numerator} of {self.denominator})"


def saes_bucket(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 0.8:
        return ">= 0.8"
    if value >= 0.5:
        return "0.5 to 0.8"
    if value >= -0.5:
        return "-0.5 to 0.5"
    return "below -0.5"


@attrs.frozen
class GroupOutcomes:
    """Outcomes of one group of closed episodes (a clinician, a modality, a period, or all)."""

    dimension: str
    key: str
    ended: int
    measured: int
    reliable_improvement: Rate
    recovery: Rate
    deterioration: Rate
    dropout: Rate
    saes: float | None
    saes_n: int

    @property
    def saes_bucket(self) -> str:
        return saes_bucket(self.saes)


@attrs.frozen
class PracticeOutcomes:
    episodes: int
    """Every episode in the projection, open or closed."""
    overall: GroupOutcomes
    by_clinician: tuple[GroupOutcomes, ...]
    by_modality: tuple[GroupOutcomes, ...]
    by_period: tuple[GroupOutcomes, ...]
    by_measure: tuple[GroupOutcomes, ...]

    @property
    def empty(self) -> bool:
        return self.overall.ended == 0

    @property
    def summary(self) -> str:
        if self.episodes == 0:
            return "This practice has no episodes yet: there is nothing to report."
        if self.empty:
            return "No episode has ended yet: outcomes are reported for closed episodes only."
        o = self.overall
        return (
            f"{o.ended} ended episodes, {o.measured} with an intake and a final outcome score: "
            f"reliable improvement {o.reliable_improvement}, recovery {o.recovery}, "
            f"deterioration {o.deterioration}, dropout {o.dropout}."
        )


@attrs.frozen
class _Ended:
    row: CaseloadRow
    change_class: ChangeClass | None
    clinical_intake: bool
    saes: float | None


def practice_outcomes(practice: Practice, actor: Actor) -> PracticeOutcomes:
    """Outcomes of the actor's clinic's closed episodes, from the caseload projection."""
    rows = practice.caseload(actor, include_closed=True)
    return outcomes_from_rows(practice, rows)


def outcomes_from_rows(practice: Practice, rows: Sequence[CaseloadRow]) -> PracticeOutcomes:
    registry = practice.plugins.measures()
    measures: dict[str, Measure | None] = {}

    def measure(measure_id: str) -> Measure | None:
        if measure_id not in measures:
            try:
                measures[measure_id] = registry.get(measure_id)
            except LookupError:
                measures[measure_id] = None
        return measures[measure_id]

    classified: list[tuple[CaseloadRow, ChangeClass | None, bool, float | None]] = []
    gains: dict[str, list[tuple[float, float]]] = defaultdict(list)  # measure -> (intake, gain)
    for row in rows:
        if row.closed_on is None or row.ending_reason is None:
            continue
        klass, clinical, gain = None, False, None
        m = measure(row.outcome_measure) if row.outcome_measure else None
        if (
            m is not None
            and row.first_outcome is not None
            and row.latest_outcome is not None
            and (row.outcome_sessions or 0) >= 2
        ):
            norm = m.default_norm
            if norm is not None:
                try:
                    klass = classify_change(
                        row.first_outcome, row.latest_outcome, norm, m.direction
                    ).change_class
                except ValueError:
                    klass = None
                clinical = norm.clinical_cutoff is None or norm.clinical_cutoff.is_clinical(row.first_outcome)
            gain = (row.latest_outcome - row.first_outcome) * (1 if m.higher_is_better else -1)
            if clinical:
                gains[m.id].append((row.first_outcome, gain))
        classified.append((row, klass, clinical, gain))

    lines = {measure_id: _fit_line(points) for measure_id, points in gains.items()}
    ended: list[_Ended] = []
    for row, klass, clinical, gain in classified:
        saes = None
        line = lines.get(row.outcome_measure or "")
        if clinical and gain is not None and line is not None and row.first_outcome is not None:
            a, b, sd = line
            saes = (gain - (a + b * row.first_outcome)) / sd
        ended.append(_Ended(row, klass, clinical, saes))

    def groups(dimension: str, key_of: str) -> tuple[GroupOutcomes, ...]:
        by: dict[str, list[_Ended]] = defaultdict(list)
        for e in ended:
            by[_key(e.row, key_of)].append(e)
        return tuple(_group(dimension, key, members) for key, members in sorted(by.items()))

    return PracticeOutcomes(
        episodes=len(rows),
        overall=_group("practice", "all", ended),
        by_clinician=groups("clinician", "clinician"),
        by_modality=groups("modality", "modality"),
        by_period=groups("period", "period"),
        by_measure=groups("measure", "measure"),
    )


def _key(row: CaseloadRow, key_of: str) -> str:
    if key_of == "clinician":
        return row.clinician_id
    if key_of == "modality":
        return row.modality or "no sessions"
    if key_of == "measure":
        return row.outcome_measure or "no outcome measure"
    closed = row.closed_on
    assert closed is not None  # noqa: S101 - only closed episodes are grouped
    return f"{closed.year}-Q{(closed.month - 1) // 3 + 1}"


def _fit_line(points: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least-squares gain = a + b * intake, and the SD of the gains; ``None`` with too few or no spread."""
    n = len(points)
    if n < SAES_MINIMUM:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    syy = sum((y - mean_y) ** 2 for _, y in points)
    sd = math.sqrt(syy / (n - 1))
    if sd == 0:
        return None
    b = 0.0 if sxx == 0 else sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return mean_y - b * mean_x, b, sd


def _group(dimension: str, key: str, members: Iterable[_Ended]) -> GroupOutcomes:
    members = list(members)
    measured = [e for e in members if e.change_class is not None]
    clinical = [e for e in measured if e.clinical_intake]
    saes = [e.saes for e in members if e.saes is not None]
    improved = sum(e.change_class in (ChangeClass.RECOVERED, ChangeClass.IMPROVED) for e in measured)
    return GroupOutcomes(
        dimension=dimension,
        key=key,
        ended=len(members),
        measured=len(measured),
        reliable_improvement=Rate(improved, len(measured)),
        recovery=Rate(sum(e.change_class is ChangeClass.RECOVERED for e in clinical), len(clinical)),
        deterioration=Rate(sum(e.change_class is ChangeClass.DETERIORATED for e in measured), len(measured)),
        dropout=Rate(sum(e.row.ending_reason == DROPOUT for e in members), len(members)),
        saes=sum(saes) / len(saes) if saes else None,
        saes_n=len(saes),
    )
