"""Scoring a validated response: total, subscales, band, clinical or not, risk items endorsed."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from alliancekit.domain.frozen_map import EMPTY, frozen_map
from alliancekit.errors import ResponseError
from alliancekit.measures.definition import (
    NOT_APPLICABLE,
    AnswerConvention,
    Measure,
    MissingPolicy,
    ScoringMethod,
)
from alliancekit.measures.exact import SCALE, divide, points, units, within_precision


@attrs.frozen(repr=False)
class Score:
    """A scored response. ``clinical`` is for the measure's default population (``None``: no cutoff); an
    episode that names a population records it for that population's norm (``Measure.norm_for``).

    ``risk_items`` are the keys of risk items endorsed (at or above their threshold), whatever the total.
    ``prorated`` says the total was scaled up from fewer answers than items. ``not_applicable`` lists the
    items answered "not applicable" (:data:`~alliancekit.measures.NOT_APPLICABLE`): left out of the total
    as the measure's missing-data rule leaves out a missing item, but recorded apart from missing ones.
    """

    measure_id: str
    version: str
    total: float
    subscales: Mapping[str, float] = attrs.field(converter=frozen_map, default=EMPTY)
    band: str | None = None
    clinical: bool | None = None
    risk_items: tuple[str, ...] = ()
    prorated: bool = False
    not_applicable: tuple[str, ...] = ()

    def __repr__(self) -> str:
        # scores are client data: keep them out of logs that print objects
        return f"<Score {self.measure_id} {self.version}>"

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": self.measure_id,
            "version": self.version,
            "total": self.total,
            "subscales": dict(self.subscales),
            "band": self.band,
            "clinical": self.clinical,
            "risk_items": list(self.risk_items),
            "prorated": self.prorated,
            "not_applicable": list(self.not_applicable),
        }


Scorer = Callable[[Mapping[str, Any]], Score]

#: Scores are exact to six decimal places (measures.exact). The response schemas cannot refuse finer
#: answers (a decimal ``multipleOf`` is unreliable in JSON Schema engines), so scoring does, where numbers
#: become micro-points.
_PRECISION = "at most six decimal places"


def positions_from_item_scores(
    measure: Measure, item_scores: Mapping[str, float | None]
) -> dict[str, float | None]:
    """Turn item scores as printed on a paper form into the answers ``measure`` takes.

    For a measure whose answers are response positions (:attr:`AnswerConvention.RESPONSE_POSITION`), a
    reverse-keyed item's printed score ``s`` is the position ``min + max - s`` (the CORE-10 form prints
    items 2 and 3 scored 4..0): transcribe the form's numbers, convert them here, and submit the result.
    For a measure that takes item scores, the scores are returned as they are.
    """
    if measure.answers is AnswerConvention.ITEM_SCORE:
        return dict(item_scores)
    bounds = {item.key: item.min + item.max for item in measure.items}
    return {
        key: value
        if value is None or key not in measure.reverse_keyed
        else points(units(bounds[key]) - units(value))
        for key, value in item_scores.items()
    }


def compile_scorer(measure: Measure) -> Scorer:
    """Build the scoring function of ``measure`` (answers already validated)."""
    # Reverse-keying maps x to min + max - x, so reverse-keyed items score in the same direction as the rest.
    # Totals are summed in whole micro-points (measures.exact) and divided once, so a total is the float
    # nearest its decimal value whatever order the answers arrive in.
    reversed_here = measure.reverse_keyed if measure.answers is AnswerConvention.RESPONSE_POSITION else ()
    item_specs = tuple(
        (item.key, item.key in reversed_here, units(item.min) + units(item.max)) for item in measure.items
    )
    n_items = len(item_specs)
    mean = measure.method is ScoringMethod.MEAN
    prorate = measure.missing_policy is MissingPolicy.PRORATE
    max_missing = measure.max_missing
    subscales = tuple((sub.key, sub.items, len(sub.items)) for sub in measure.subscales)
    norm = measure.norm_for(None)
    cutoff = None if norm is None else norm.clinical_cutoff
    risk = tuple((r.item, units(r.threshold)) for r in measure.risk_items)
    band_for = measure.band_for
    has_bands = bool(measure.bands)
    measure_id, version = measure.id, measure.version
    na_items = tuple(item.key for item in measure.items if item.allows_na)

    def score(answers: Mapping[str, Any]) -> Score:
        values: dict[str, int] = {}
        total_units = 0
        for key, reverse, flip in item_specs:
            value = answers.get(key)
            if value is None or (na_items and value == NOT_APPLICABLE):  # both left to the missing rule
                continue
            if not within_precision(value):  # rounding it to micro-points could cross a cutoff
                raise ResponseError(f"$.answers.{key}", "precision", _PRECISION)
            micro = round(value * SCALE)
            if reverse:
                micro = flip - micro
            values[key] = micro
            total_units += micro
        answered = len(values)
        prorated = answered < n_items
        if prorated and (not prorate or n_items - answered > max_missing):
            raise ResponseError("$.answers", "maxMissing", f"at most {max_missing} items may be missing")
        # prorating: the mean of the answered items stands in for the missing ones (sum * n / answered);
        # a mean score divides the prorated sum by n again
        total = points(divide(total_units * (1 if mean else n_items), answered))
        sub_totals: dict[str, float] = {}
        for key, keys, size in subscales:
            got = [values[k] for k in keys if k in values]
            if not got:
                continue  # a subscale with no answers has no score
            sub_totals[key] = points(divide(sum(got) * (1 if mean else size), len(got)))
        band = band_for(total) if has_bands else None
        endorsed = tuple(k for k, threshold in risk if round((answers.get(k) or 0) * SCALE) >= threshold)
        return Score(
            measure_id,
            version,
            total,
            sub_totals,
            None if band is None else band.key,
            None if cutoff is None else cutoff.is_clinical(total),
            endorsed,
            prorated,
            tuple(k for k in na_items if answers.get(k) == NOT_APPLICABLE) if na_items else (),
        )

    return score


TotalScorer = Callable[[Any], Score]


def compile_total_scorer(measure: Measure) -> TotalScorer:
    """Build the scoring function of a total recorded without its items (a total-only administration).

    The total must be a finite number in the measure's range with at most six decimal places, and a whole
    number where every total of the measure is one (:attr:`Measure.whole_totals`). A measure that prorates
    takes any such number, not only those prorating yields: a total computed elsewhere may be rounded to
    fewer places. Band and clinical status follow from the total; subscales and risk items cannot, so the
    score has none.
    """
    lo, hi, whole = measure.range_min, measure.range_max, measure.whole_totals
    norm = measure.norm_for(None)
    cutoff = None if norm is None else norm.clinical_cutoff
    band_for, has_bands = measure.band_for, bool(measure.bands)
    measure_id, version = measure.id, measure.version

    def score(total: Any) -> Score:
        if isinstance(total, bool) or not isinstance(total, int | float):
            raise ResponseError("$.total", "type", "must be a number")
        if not math.isfinite(total):
            raise ResponseError("$.total", "type", "must be a finite number")
        if whole and not float(total).is_integer():
            raise ResponseError("$.total", "type", "must be a whole number")
        if total < lo:
            raise ResponseError("$.total", "minimum", f"below the measure's range ({lo:g}-{hi:g})")
        if total > hi:
            raise ResponseError("$.total", "maximum", f"above the measure's range ({lo:g}-{hi:g})")
        if not within_precision(total):  # after the range: a huge float has no micro-points
            raise ResponseError("$.total", "precision", _PRECISION)
        value = float(total)
        band = band_for(value) if has_bands else None
        return Score(
            measure_id,
            version,
            value,
            band=None if band is None else band.key,
            clinical=None if cutoff is None else cutoff.is_clinical(value),
        )

    return score
