"""Practice outcomes for closed episodes, from the caseload projection (one row per episode, no events).

* **Episodes counted**: closed with an ending (episodes closed at the consultation never started therapy).
* **Measured**: the primary outcome measure has an intake and a later score.
* **Reliable improvement, recovery, deterioration**: Jacobson & Truax classes of the change from intake to
  the final score (:mod:`alliancekit.measures.change`); recovery is counted among clients whose intake was
  in the clinical range, the others cannot recover.
* **Dropout**: endings with the reason ``dropout``, among all endings.
* **Severity-adjusted effect size (SAES)**, as ACORN publishes it (psychoutcomes.org, "Severity Adjusted
  Effect Size" and "ACE Treatment Outcomes Evaluation Method"): only clients whose intake was in the
  clinical range (the measure's published clinical cutoff). Over that reference sample, a least-squares
  line predicts each client's change from their intake score; a client's SAES is the reference sample's
  mean change plus the client's residual (actual minus predicted change), divided by the SD of the
  reference sample's intake scores. A group's SAES is the mean over its clients. The reference sample here
  is this practice's closed episodes on the same measure (ACORN uses its whole database, and its model also
  adjusts for diagnosis, the session of the first assessment and questionnaire type, which this record
  does not carry). The SD is the sample SD (n - 1): the sources do not say which. Bands: above 0.8
  "highly effective", above 0.5 up to 0.8 "effective" (ACE); the sources give no label at or below 0.5.

* **Norms**: each episode is read against the norm of the population it names
  (``Measure.norm_for(row.population)``, the caseload projection carries it): a child's ORS intake of 30 is
  clinical (the child cutoff is 32), an adult's is not (25). An episode that names no population, or one
  its measure declares no norm for, is read against the measure's default population.
  :attr:`PracticeOutcomes.norms` says which norms were read, for how many episodes each.
* **Uninstalled measures**: a measure no installed plugin supplies is read by the latest version of its
  definition stored with the data: its norms classify the episodes as the plugin's did. The stored
  definitions come with the closed outcomes' guarded read (``ClosedOutcomes.measure_definitions``), under
  its one audit entry; they are read once per report, and only when a measure is missing from the
  installed ones.

What cannot be computed is said in :attr:`PracticeOutcomes.notes`, never reported as zero.

Every rate carries its numerator and denominator, so small numbers stay visible.
"""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

import attrs

from alliancekit import ClosedOutcome
from alliancekit.domain.actors import Actor
from alliancekit.feedback.reports.chart import chart_measures
from alliancekit.measures.change import ChangeClass, classify_change, reliable_change_threshold
from alliancekit.measures.definition import Measure
from alliancekit.measures.exact import change
from alliancekit.measures.norms import Norm
from alliancekit.measures.stored import StoredMeasures

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


#: ACE's benchmarks for a clinician's or practice's SAES, both exceeded strictly (psychoutcomes.org, "ACE
#: Treatment Outcomes Evaluation Method": "greater than 0.8 ... highly effective", "between 0.5 and 0.8 ...
#: effective"; its criteria page, "ACORN Criteria for Effectiveness": "exceeds .5 effect size (.8 effect size
#: for highly effective)"; measures.md, SAES: "above 0.8").
HIGHLY_EFFECTIVE, EFFECTIVE = 0.8, 0.5


def saes_bucket(value: float | None) -> str:
    """ACE's label for a group's SAES; at or below 0.5 the sources publish none."""
    if value is None:
        return "-"
    if value > HIGHLY_EFFECTIVE:
        return "highly effective (above 0.8)"
    if value > EFFECTIVE:
        return "effective (above 0.5 up to 0.8)"
    return "0.5 or below (no published label)"


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
    has_episodes: bool
    """Whether the clinic has any episode at all, open or closed."""
    overall: GroupOutcomes
    by_clinician: tuple[GroupOutcomes, ...]
    by_modality: tuple[GroupOutcomes, ...]
    by_period: tuple[GroupOutcomes, ...]
    by_measure: tuple[GroupOutcomes, ...]
    notes: tuple[str, ...] = ()
    """What could not be computed, and why (no baseline, no norms, too few clinical intakes)."""
    norms: tuple[str, ...] = ()
    """Per measure counted, the norms its episodes were read against, in a sentence: each episode's own
    population's (``Measure.norm_for``), with how many episodes each norm was read for."""
    withheld_closed: bool = False
    """No closed episode is counted, though the reader's caseload lists closed ones: a client's lockbox
    withholds their scores from this reader."""

    @property
    def empty(self) -> bool:
        return self.overall.ended == 0

    @property
    def summary(self) -> str:
        if not self.has_episodes:
            return "This practice has no episodes yet: there is nothing to report."
        if self.empty and self.withheld_closed:
            return (
                "No ended episode can be reported to this reader: the clients' lockbox withholds the "
                "scores of the closed episodes from them."
            )
        if self.empty:
            return "No episode has ended yet: outcomes are reported for closed episodes only."
        o = self.overall
        return (
            f"{o.ended} ended episodes, {o.measured} with an intake and a final outcome score: "
            f"reliable improvement {o.reliable_improvement}, recovery {o.recovery}, "
            f"deterioration {o.deterioration}, dropout {o.dropout}."
        )


def practice_outcomes(
    practice: Practice, actor: Actor, *, definitions: StoredMeasures | None = None
) -> PracticeOutcomes:
    """Outcomes of the actor's clinic's closed episodes, from the store's projection (never the events).
    ``definitions`` as :func:`~alliancekit.feedback.reports.chart.chart_measures` makes them (made here when
    not given): the HTML report shares one with its charts, so it reads the stored definitions once."""
    rows = practice.closed_outcomes(actor)  # first: a refused reader reads no definition
    if definitions is None:
        definitions = chart_measures(practice)
    definitions.covered_by(rows)  # the stored definitions, if needed, under this read's audit entry
    if rows:
        return outcomes_from_rows(definitions, rows)
    # closed episodes count as episodes too; one the reader's caseload lists but the outcomes left out has
    # scores the lockbox withholds from this reader (the caseload is never wider than the clinic's rows)
    seen = practice.caseload(actor, include_closed=True)
    outcomes = outcomes_from_rows(definitions, rows, has_episodes=bool(seen))
    return attrs.evolve(outcomes, withheld_closed=any(row.closed_on is not None for row in seen))


@attrs.define
class _Tally:
    ended: int = 0
    measured: int = 0
    improved: int = 0
    clinical: int = 0
    recovered: int = 0
    deteriorated: int = 0
    dropout: int = 0
    saes_sum: float = 0.0
    saes_n: int = 0

    def result(self, dimension: str, key: str) -> GroupOutcomes:
        return GroupOutcomes(
            dimension=dimension,
            key=key,
            ended=self.ended,
            measured=self.measured,
            reliable_improvement=Rate(self.improved, self.measured),
            recovery=Rate(self.recovered, self.clinical),
            deterioration=Rate(self.deteriorated, self.measured),
            dropout=Rate(self.dropout, self.ended),
            saes=self.saes_sum / self.saes_n if self.saes_n else None,
            saes_n=self.saes_n,
        )


def outcomes_from_rows(
    definitions: StoredMeasures, rows: Sequence[ClosedOutcome], *, has_episodes: bool = True
) -> PracticeOutcomes:
    """Outcomes of closed episodes given their projection rows (one pass, classifications memoised). A
    measure is the installed plugin's latest version, else the latest one stored with the data."""
    measures: dict[str, Measure | None] = {}

    def measure(measure_id: str) -> Measure | None:
        if measure_id not in measures:
            measures[measure_id] = definitions.latest(measure_id)
        return measures[measure_id]

    @functools.cache
    def norm_of(measure_id: str, population: str | None) -> Norm | None:
        """The norm an episode of ``population`` is read against (``Measure.norm_for``)."""
        m = measure(measure_id)
        assert m is not None  # noqa: S101 - only called for a measure installed or stored
        return m.norm_for(population)

    @functools.lru_cache(maxsize=65_536)
    def classify(
        measure_id: str, population: str | None, first: float, latest: float
    ) -> tuple[ChangeClass | None, bool, float, bool | None]:
        """Change class, clinical for recovery, change toward health, and whether the intake is in the
        clinical range the SAES counts (``None`` without a published cutoff), against the norm of the
        episode's ``population``."""
        m = measure(measure_id)
        assert m is not None  # noqa: S101 - only called for a measure installed or stored
        klass, clinical, in_range = None, False, None
        norm = norm_of(measure_id, population)
        if norm is not None:
            try:
                klass = classify_change(first, latest, norm, m.direction).change_class
            except ValueError:
                klass = None
            clinical = norm.clinical_cutoff is None or norm.clinical_cutoff.is_clinical(first)
            in_range = None if norm.clinical_cutoff is None else norm.clinical_cutoff.is_clinical(first)
        gain = change(first, latest) if m.higher_is_better else change(latest, first)
        return klass, clinical, gain, in_range

    ended: list[tuple[ClosedOutcome, ChangeClass | None, bool, float | None, bool]] = []
    gains: dict[str, list[tuple[float, float]]] = defaultdict(list)  # measure -> (intake, gain)
    no_baseline, no_cutoff, no_norms = 0, Counter[str](), Counter[str]()
    read: dict[str, Counter[str | None]] = defaultdict(Counter)  # measure -> population named -> episodes
    for row in rows:
        if row.ending_reason is None:
            continue
        klass, clinical, gain, in_range = None, False, None, None
        if (
            row.outcome_measure is not None
            and row.first_outcome is not None
            and row.latest_outcome is not None
            and (row.outcome_sessions or 0) >= 2
            and measure(row.outcome_measure) is not None
        ):
            klass, clinical, gain, in_range = classify(
                row.outcome_measure, row.population, row.first_outcome, row.latest_outcome
            )
            read[row.outcome_measure][row.population] += 1
            if klass is None:
                no_norms[row.outcome_measure] += 1
            if in_range is None:
                no_cutoff[row.outcome_measure] += 1
            elif in_range:
                gains[row.outcome_measure].append((row.first_outcome, gain))
        else:
            no_baseline += 1
        ended.append((row, klass, clinical, gain, in_range is True))

    lines = {measure_id: _fit_line(points) for measure_id, points in gains.items()}
    notes = _notes(len(ended), no_baseline, no_norms, no_cutoff, lines)
    norms = tuple(
        said
        for measure_id in sorted(read)
        if (said := _norms_read(measure(measure_id), read[measure_id])) is not None
    )
    # One small status tuple per episode, then C-level counting of (group key, status) pairs per dimension:
    # tens of thousands of episodes fall into a few hundred distinct pairs.
    statuses: list[tuple[ChangeClass | None, bool, bool]] = []
    saes_values: list[float | None] = []
    for row, klass, clinical, gain, counted in ended:
        saes = None
        line = lines.get(row.outcome_measure or "")
        if counted and isinstance(line, _Line) and gain is not None and row.first_outcome is not None:
            saes = line.saes(row.first_outcome, gain)
        statuses.append((klass, clinical, row.ending_reason == DROPOUT))
        saes_values.append(saes)

    periods: dict[date, str] = {}

    def period(closed: date) -> str:
        if closed not in periods:
            periods[closed] = f"{closed.year}-Q{(closed.month - 1) // 3 + 1}"
        return periods[closed]

    rows_ = [row for row, *_ in ended]
    dimensions = {
        "practice": ["all"] * len(rows_),
        "clinician": [row.clinician_id for row in rows_],
        "modality": [row.modality or "no sessions" for row in rows_],
        "period": [period(row.closed_on) for row in rows_],
        "measure": [row.outcome_measure or "no outcome measure" for row in rows_],
    }
    results: dict[str, tuple[GroupOutcomes, ...]] = {}
    for dimension, keys in dimensions.items():
        tallies: dict[str, _Tally] = defaultdict(_Tally)
        for (key, (klass, clinical, dropout)), count in Counter(zip(keys, statuses, strict=True)).items():
            t = tallies[key]
            t.ended += count
            t.dropout += count * dropout
            if klass is not None:
                t.measured += count
                t.improved += count * (klass in (ChangeClass.RECOVERED, ChangeClass.IMPROVED))
                t.deteriorated += count * (klass is ChangeClass.DETERIORATED)
                if clinical:
                    t.clinical += count
                    t.recovered += count * (klass is ChangeClass.RECOVERED)
        for key, saes in zip(keys, saes_values, strict=True):
            if saes is not None:
                t = tallies[key]
                t.saes_sum += saes
                t.saes_n += 1
        results[dimension] = tuple(tallies[key].result(dimension, key) for key in sorted(tallies))

    overall = results["practice"][0] if results["practice"] else _Tally().result("practice", "all")
    return PracticeOutcomes(
        has_episodes=has_episodes,
        overall=overall,
        by_clinician=results["clinician"],
        by_modality=results["modality"],
        by_period=results["period"],
        by_measure=results["measure"],
        notes=notes,
        norms=norms,
    )


def _norms_read(m: Measure | None, named: Counter[str | None]) -> str | None:
    """Which norms the report read ``m``'s episodes against, in a sentence (``None``: no norm at all).
    ``named`` counts the episodes by the population each names."""
    if m is None or m.default_norm is None:
        return None
    read: dict[str, tuple[Norm, int]] = {}
    for population, count in named.items():
        norm = m.default_norm if population not in m.populations else m.norm_for(population)
        assert norm is not None  # noqa: S101 - a measure with a default norm has one for every population
        read[norm.population] = (norm, read.get(norm.population, (norm, 0))[1] + count)
    undeclared = sorted(p for p in named if p is not None and p not in m.populations)
    default = m.default_norm.population
    if len(read) == 1:
        ((population, (norm, _)),) = read.items()
        said = f"{m.id}: every episode read against the {population} norm{_figures(norm)}"
    else:
        order = sorted(read, key=lambda p: (p != default, p))
        each = ", ".join(f"the {p} norm{_figures(read[p][0])} for {read[p][1]} episode(s)" for p in order)
        said = f"{m.id}: each episode read against its own population's norm: {each}"
    if undeclared:
        others = ", ".join(undeclared)
        said += f"; those naming a population it publishes no norm for ({others}) are read against the"
        said += f" {default} norm"
    return said + "."


def _figures(norm: Norm) -> str:
    """`` (clinical cutoff 25, reliable change 5 points)``, or what of it the norm gives."""
    figures = []
    if norm.clinical_cutoff is not None:
        figures.append(f"clinical cutoff {norm.clinical_cutoff.value:g}")
    threshold = reliable_change_threshold(norm)
    if threshold is not None:
        figures.append(f"reliable change {threshold:g} points")
    return f" ({', '.join(figures)})" if figures else ""


@attrs.frozen
class _Line:
    """The reference regression of one measure: change = a + b * intake over clinical-range intakes."""

    a: float
    b: float
    mean_change: float
    sd_intake: float

    def saes(self, intake: float, gain: float) -> float:
        """(reference mean change + residual) / SD of reference intakes (ACORN's SAES)."""
        residual = gain - (self.a + self.b * intake)
        return (self.mean_change + residual) / self.sd_intake


def _fit_line(points: list[tuple[float, float]]) -> _Line | str:
    """The reference regression over (intake, change) points, or why it cannot be fitted."""
    n = len(points)
    if n < SAES_MINIMUM:
        return (
            f"{n} closed episode(s) with a clinical-range intake and a later score, "
            f"at least {SAES_MINIMUM} needed"
        )
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        return "every clinical-range intake is the same score, so the SD of intake scores is 0"
    b = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return _Line(mean_y - b * mean_x, b, mean_y, math.sqrt(sxx / (n - 1)))


def _notes(
    ended: int,
    no_baseline: int,
    no_norms: Counter[str],
    no_cutoff: Counter[str],
    lines: dict[str, _Line | str],
) -> tuple[str, ...]:
    """Plain statements of what could not be computed and why."""
    notes = []
    if ended == 0:
        notes.append("No closed episode: no change rates and no SAES can be computed.")
    if no_baseline:
        notes.append(
            f"{no_baseline} ended episode(s) have no intake and later score on an outcome measure: they are "
            "counted as ended but not in change rates or SAES."
        )
    for measure_id, count in sorted(no_norms.items()):
        notes.append(
            f"{measure_id}: no reliable-change classes for {count} episode(s): the measure's norms give no "
            "reliable-change threshold."
        )
    for measure_id, count in sorted(no_cutoff.items()):
        notes.append(
            f"{measure_id}: SAES not computed for {count} episode(s): the measure's norms give no clinical "
            "cutoff, so the clinical range the SAES is computed over cannot be decided."
        )
    for measure_id, line in sorted(lines.items()):
        if isinstance(line, str):
            notes.append(f"{measure_id}: SAES not computed: {line}.")
    return tuple(notes)
