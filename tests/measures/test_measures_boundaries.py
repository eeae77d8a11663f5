"""Every built-in measure (and the K10 plugin) at every cutoff, band edge and reliable-change threshold:
exactly on the boundary and one step of the measure's precision either side, in both directions of change.

The cases are generated from the registered definitions, so a new measure is covered by registering it.
Expected results are decided here on exact decimals (``fractions.Fraction`` of the printed numbers), an
oracle independent of the library's micro-point integers.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import alliancekit_measure_k10
import pytest

from alliancekit.measures.change import ChangeClass, CutoffKind, classify_change, cutoffs
from alliancekit.measures.definition import AnswerConvention, Measure, ScoringMethod
from alliancekit.measures.norms import (
    Citation,
    CitedValue,
    ClinicalIf,
    Cutoff,
    Direction,
    Norm,
    Sample,
)
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.testing.measures import measure_registry

REGISTRY: MeasureRegistry = measure_registry(alliancekit_measure_k10)
MEASURES: list[Measure] = [REGISTRY.get(measure_id, version) for measure_id, version in REGISTRY]


def dec(value: float) -> Fraction:
    """The decimal a printed number stands for (its shortest repr)."""
    return Fraction(repr(value))


def step(measure: Measure) -> Fraction:
    """The precision of a complete response's total: the finest item step (divided by n for a mean)."""
    finest = min(dec(item.step) for item in measure.items)
    return finest / len(measure.items) if measure.method is ScoringMethod.MEAN else finest


def in_range(measure: Measure, value: Fraction) -> bool:
    return dec(measure.range_min) <= value <= dec(measure.range_max)


def answers_for(measure: Measure, total: Fraction) -> dict[str, float]:
    """Answers (response positions) whose keyed item scores sum to ``total`` (times n for a mean)."""
    remaining = total * len(measure.items) if measure.method is ScoringMethod.MEAN else total
    scores = {item.key: dec(item.min) for item in measure.items}
    remaining -= sum(scores.values())
    for item in measure.items:
        add = min(dec(item.max) - dec(item.min), remaining)
        scores[item.key] += add
        remaining -= add
    assert remaining == 0
    answers = {}
    for item in measure.items:
        score = scores[item.key]
        reverse = item.key in measure.reverse_keyed and measure.answers is AnswerConvention.RESPONSE_POSITION
        answers[item.key] = float(dec(item.min) + dec(item.max) - score if reverse else score)
    return answers


def clinical_by_oracle(cutoff: Cutoff, total: Fraction) -> bool:
    c = dec(cutoff.value)
    return {
        ClinicalIf.BELOW: total < c,
        ClinicalIf.AT_OR_BELOW: total <= c,
        ClinicalIf.ABOVE: total > c,
        ClinicalIf.AT_OR_ABOVE: total >= c,
    }[cutoff.clinical_if]


def around(measure: Measure, value: Fraction) -> Iterator[Fraction]:
    """``value`` and one step either side, within the measure's range."""
    for v in (value - step(measure), value, value + step(measure)):
        if in_range(measure, v):
            yield v


def score_cases() -> Iterator[Any]:
    for m in MEASURES:
        edges: set[Fraction] = set()
        for norm in m.norms:
            if norm.clinical_cutoff is not None:
                edges.add(dec(norm.clinical_cutoff.value))
        for band in m.bands:
            edges.update((dec(band.min), dec(band.max)))
        for edge in sorted(edges):
            for total in around(m, edge):
                yield pytest.param(m, total, id=f"{m.id}-{float(total):g}")


@pytest.mark.parametrize(("measure", "total"), list(score_cases()))
def test_total_band_and_clinical_at_every_edge(measure: Measure, total: Fraction) -> None:
    score = REGISTRY.score(measure.id, measure.version, answers_for(measure, total))
    assert score.total == float(total)
    for norm in measure.norms:
        if norm.clinical_cutoff is not None:
            assert norm.clinical_cutoff.is_clinical(score.total) is clinical_by_oracle(
                norm.clinical_cutoff, total
            )
    default = measure.default_norm
    if default is not None and default.clinical_cutoff is not None:
        assert score.clinical is clinical_by_oracle(default.clinical_cutoff, total)
    if measure.bands:
        # whole-number totals: bands are closed ranges; otherwise a band runs from its min to the next min
        expected = [
            b.key
            for i, b in enumerate(measure.bands)
            if dec(b.min) <= total
            and (
                total <= dec(b.max)
                if measure.integral_total
                else (i + 1 == len(measure.bands) or total < dec(measure.bands[i + 1].min))
            )
        ]
        assert [score.band] == expected


def change_cases() -> Iterator[Any]:
    """Every published reliable-change threshold T: changes of T - step, T and T + step, up and down,
    from every starting total on the measure's grid that leaves room for them."""
    for m in MEASURES:
        for norm in m.norms:
            if norm.reliable_change_points is None:
                continue
            threshold = dec(norm.reliable_change_points.value)
            yield pytest.param(m, norm, threshold, id=f"{m.id}-{norm.population}")


@pytest.mark.parametrize(("measure", "norm", "threshold"), list(change_cases()))
def test_reliable_change_exactly_at_the_threshold_counts_both_ways(
    measure: Measure, norm: Norm, threshold: Fraction
) -> None:
    s = step(measure)
    lo, hi = dec(measure.range_min), dec(measure.range_max)
    pre = lo
    checked = 0
    while pre <= hi:
        for delta in (threshold - s, threshold, threshold + s):
            for signed in (delta, -delta):
                post = pre + signed
                if not lo <= post <= hi:
                    continue
                result = classify_change(float(pre), float(post), norm, measure.direction)
                assert result.change == float(signed)
                assert result.reliable is (abs(signed) >= threshold)
                worse = (signed > 0) is (measure.direction is Direction.HIGHER_IS_WORSE)
                if result.reliable:
                    assert (result.change_class is ChangeClass.DETERIORATED) is worse
                else:
                    assert result.change_class is ChangeClass.UNCHANGED
                checked += 1
        pre += s
    assert checked > 0


def crossing_cases() -> Iterator[Any]:
    """The cutoff each norm's classification uses (c when computable, else the published one): post
    scores on it and one step either side, from a clinical start one threshold and more away."""
    for m in MEASURES:
        for norm in m.norms:
            if norm.reliable_change_points is None:
                continue
            c = cutoffs(norm, m.direction).c
            edge = dec(norm.clinical_cutoff.value) if c is None and norm.clinical_cutoff else None
            if c is not None:
                yield pytest.param(m, norm, CutoffKind.C, id=f"{m.id}-{norm.population}-c")
            elif edge is not None:
                yield pytest.param(m, norm, CutoffKind.PUBLISHED, id=f"{m.id}-{norm.population}-published")


@pytest.mark.parametrize(("measure", "norm", "kind"), list(crossing_cases()))
def test_recovery_at_the_cutoff_on_the_boundary_and_either_side(
    measure: Measure, norm: Norm, kind: CutoffKind
) -> None:
    s = step(measure)
    worse_up = measure.direction is Direction.HIGHER_IS_WORSE
    if kind is CutoffKind.C:
        clin, func = norm.clinical_sample, norm.nonclinical_sample
        assert clin is not None
        assert func is not None
        c = (dec(clin.sd) * dec(func.mean) + dec(func.sd) * dec(clin.mean)) / (dec(clin.sd) + dec(func.sd))
        # on the grid when c is on it; otherwise the grid points either side of it
        below = (c // s) * s
        posts = sorted({below - s, below, below + s, below + 2 * s})

        def functional(post: Fraction) -> bool:
            return post < c if worse_up else post > c
    else:
        assert norm.clinical_cutoff is not None
        posts = list(around(measure, dec(norm.clinical_cutoff.value)))
        cutoff = norm.clinical_cutoff

        def functional(post: Fraction) -> bool:
            return not clinical_by_oracle(cutoff, post)

    threshold = dec(norm.reliable_change_points.value) if norm.reliable_change_points else Fraction(0)
    for post in posts:
        # a start far enough on the clinical side that the change is reliable
        pre = post + threshold + s if worse_up else post - threshold - s
        if not (in_range(measure, pre) and in_range(measure, post)):
            continue
        result = classify_change(float(pre), float(post), norm, measure.direction)
        assert result.cutoff_kind is kind
        assert result.reliable
        expected = ChangeClass.RECOVERED if functional(post) else ChangeClass.IMPROVED
        assert result.change_class is expected, (float(pre), float(post))


CITE = Citation("test", "synthetic norms for a boundary test")


@pytest.mark.parametrize("direction", list(Direction))
def test_jacobson_truax_exactly_at_c_is_not_recovered(direction: Direction) -> None:
    """c = (5 * 10 + 5 * 20) / 10 = 15 sits on the grid: equally close to both means is not closer to the
    functional one (Jacobson & Truax 1991, criterion c), so a post score of exactly 15 has not crossed."""
    worse_up = direction is Direction.HIGHER_IS_WORSE
    clinical_mean, functional_mean = (20.0, 10.0) if worse_up else (10.0, 20.0)
    norm = Norm(
        "synthetic",
        True,
        reliable_change_points=CitedValue(3, CITE),
        clinical_sample=Sample(clinical_mean, 5, CITE),
        nonclinical_sample=Sample(functional_mean, 5, CITE),
    )
    assert cutoffs(norm, direction).c == 15
    sign = -1 if worse_up else 1  # toward health
    start = 15 - sign * 5
    at_c = classify_change(start, 15, norm, direction)
    assert at_c.reliable
    assert not at_c.crossed_cutoff
    assert at_c.change_class is ChangeClass.IMPROVED
    past = classify_change(start, 15 + sign * 0.1, norm, direction)
    assert past.change_class is ChangeClass.RECOVERED
    short = classify_change(start, 15 - sign * 0.1, norm, direction)
    assert short.change_class is ChangeClass.IMPROVED
    # starting exactly at c is not starting on the clinical side
    from_c = classify_change(15, 15 + sign * 4, norm, direction)
    assert from_c.reliable
    assert from_c.change_class is ChangeClass.IMPROVED


def risk_cases() -> Iterator[Any]:
    for m in MEASURES:
        for risk in m.risk_items:
            item = next(i for i in m.items if i.key == risk.item)
            for value in (
                dec(risk.threshold) - dec(item.step),
                dec(risk.threshold),
                dec(risk.threshold) + dec(item.step),
            ):
                if dec(item.min) <= value <= dec(item.max):
                    yield pytest.param(
                        m,
                        risk.item,
                        value,
                        value >= dec(risk.threshold),
                        id=f"{m.id}-{risk.item}-{float(value):g}",
                    )


@pytest.mark.parametrize(("measure", "key", "value", "endorsed"), list(risk_cases()))
def test_risk_items_at_their_threshold(measure: Measure, key: str, value: Fraction, endorsed: bool) -> None:
    answers = {item.key: item.min for item in measure.items} | {key: float(value)}
    score = REGISTRY.score(measure.id, measure.version, answers)
    assert (key in score.risk_items) is endorsed
