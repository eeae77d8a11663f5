"""Scoring and change classes do not depend on the order answers arrive in, and totals are the exact
decimal sums of the keyed answers (an oracle in ``fractions.Fraction``, independent of the library).

There is no batch scoring path yet (one command scores one session's administrations): when one is
added, extend :func:`test_order_of_answers_changes_nothing` to compare it with the single path.

The CORE-10 input convention: answers are response positions; printed item scores are converted with
``positions_from_item_scores``.
"""

from __future__ import annotations

from fractions import Fraction

import alliancekit_measure_k10
from hypothesis import given, settings
from hypothesis import strategies as st

from alliancekit.measures import AnswerConvention, positions_from_item_scores
from alliancekit.measures.change import classify_change
from alliancekit.measures.definition import Measure, ScoringMethod
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.testing.measures import measure_registry

REGISTRY: MeasureRegistry = measure_registry(alliancekit_measure_k10)
MEASURES: list[Measure] = [REGISTRY.get(measure_id, version) for measure_id, version in REGISTRY]


@st.composite
def responses(draw: st.DrawFn, measure: Measure) -> dict[str, float]:
    answers = {}
    for item in measure.items:
        steps = round((item.max - item.min) / item.step)
        k = draw(st.integers(0, steps))
        answers[item.key] = float(Fraction(repr(item.min)) + k * Fraction(repr(item.step)))
    return answers


def oracle_total(measure: Measure, answers: dict[str, float]) -> Fraction:
    total = Fraction(0)
    for item in measure.items:
        value = Fraction(repr(answers[item.key]))
        if item.key in measure.reverse_keyed and measure.answers is AnswerConvention.RESPONSE_POSITION:
            value = Fraction(repr(item.min)) + Fraction(repr(item.max)) - value
        total += value
    return total / len(measure.items) if measure.method is ScoringMethod.MEAN else total


@st.composite
def two_responses_in_some_order(
    draw: st.DrawFn,
) -> tuple[Measure, dict[str, float], dict[str, float], list[str]]:
    measure = draw(st.sampled_from(MEASURES))
    first, second = draw(responses(measure)), draw(responses(measure))
    order = draw(st.permutations([item.key for item in measure.items]))
    return measure, first, second, list(order)


@settings(max_examples=300, deadline=None)
@given(two_responses_in_some_order())
def test_order_of_answers_changes_nothing(
    case: tuple[Measure, dict[str, float], dict[str, float], list[str]],
) -> None:
    measure, first, second, order = case
    shuffled_first = {key: first[key] for key in order}
    shuffled_second = {key: second[key] for key in reversed(order)}
    a = REGISTRY.score(measure.id, measure.version, first)
    b = REGISTRY.score(measure.id, measure.version, shuffled_first)
    assert a.to_json() == b.to_json()
    expected = oracle_total(measure, first)
    assert Fraction(repr(a.total)) == round(expected, 6)
    later = REGISTRY.score(measure.id, measure.version, second)
    later_shuffled = REGISTRY.score(measure.id, measure.version, shuffled_second)
    assert later.to_json() == later_shuffled.to_json()
    for norm in measure.norms:
        try:
            straight = classify_change(a.total, later.total, norm, measure.direction)
        except ValueError:
            continue  # no reliable-change figure for this population
        other = classify_change(b.total, later_shuffled.total, norm, measure.direction)
        assert straight == other
        assert Fraction(repr(straight.change)) == oracle_total(measure, second) - expected


def test_core10_takes_response_positions() -> None:
    core = REGISTRY.get("core-10")
    assert core.answers is AnswerConvention.RESPONSE_POSITION
    # item 2 (positively worded, printed 4..0) ticked in the last column:
    # position 4, which scores 0 distress; every other item at position 1
    positions = {f"q{i}": 1 for i in range(1, 11)} | {"q2": 4}
    score = REGISTRY.score("core-10", "1.0", positions)
    assert score.total == 8 + 0 + 3  # eight items at 1, q2 scores 4 - 4 = 0, q3 scores 4 - 1 = 3


def test_core10_printed_item_scores_are_converted_once() -> None:
    core = REGISTRY.get("core-10")
    # the same form transcribed as the scores printed beside each ticked box: q2 is printed 0, q3 3
    printed = {f"q{i}": 1 for i in range(1, 11)} | {"q2": 0, "q3": 3}
    answers = positions_from_item_scores(core, printed)
    assert answers == {f"q{i}": 1 for i in range(1, 11)} | {"q2": 4, "q3": 1}
    score = REGISTRY.score("core-10", "1.0", answers)
    assert score.total == sum(printed.values()) == 11  # the form's own sum of printed scores
    # submitting the printed scores unconverted reverses items 2 and 3 twice: a different total
    assert REGISTRY.score("core-10", "1.0", printed).total != 11
