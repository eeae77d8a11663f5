"""Scoring rules of the builtin measures: totals, subscales, reverse keying, bands, cutoffs, risk items."""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit.errors import ResponseError
from alliancekit.measures.registry import MeasureRegistry


def phq(**overrides: int) -> dict[str, int]:
    return {f"q{i}": 0 for i in range(1, 10)} | overrides


def test_phq9_item_9_is_a_risk_whatever_the_total(registry: MeasureRegistry) -> None:
    score = registry.score("phq-9", "1.0", phq(q9=1))
    assert (score.total, score.band, score.clinical, score.risk_items) == (1, "minimal", False, ("q9",))
    assert registry.score("phq-9", "1.0", phq(q8=3, q7=3)).risk_items == ()


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately-severe"),
        (19, "moderately-severe"),
        (20, "severe"),
        (27, "severe"),
    ],
)
def test_phq9_band_edges(registry: MeasureRegistry, total: int, band: str) -> None:
    answers = phq()
    left = total
    for key in answers:
        answers[key] = min(3, left)
        left -= answers[key]
    score = registry.score("phq-9", "1.0", answers)
    assert score.total == total
    assert score.band == band
    assert score.clinical is (total >= 10)


def test_gad7_bands_and_cutoff(registry: MeasureRegistry) -> None:
    answers = {f"q{i}": 0 for i in range(1, 8)}
    assert registry.score("gad-7", "1.0", answers | {"q1": 3, "q2": 3, "q3": 3, "q4": 1}).band == "moderate"
    nine = registry.score("gad-7", "1.0", answers | {"q1": 3, "q2": 3, "q3": 3})
    assert (nine.total, nine.band, nine.clinical) == (9, "mild", False)


def test_ors_cutoff_25_is_clinical_below_only(registry: MeasureRegistry) -> None:
    below = registry.score(
        "ors", "1.0", {"individually": 6, "interpersonally": 6, "socially": 6, "overall": 6.9}
    )
    at = registry.score("ors", "1.0", {"individually": 6, "interpersonally": 6, "socially": 6, "overall": 7})
    assert (below.total, below.clinical) == (24.9, True)
    assert (at.total, at.clinical) == (25, False)
    assert below.band is None


def test_ors_decimal_totals_are_rounded_not_noisy(registry: MeasureRegistry) -> None:
    score = registry.score(
        "ors", "1.0", {"individually": 4.5, "interpersonally": 5, "socially": 4.2, "overall": 4.1}
    )
    assert score.total == 17.8


def test_srs_below_36_is_an_alliance_concern(registry: MeasureRegistry) -> None:
    score = registry.score(
        "srs", "1.0", {"relationship": 9, "goals_topics": 9, "approach": 9, "overall": 8.9}
    )
    assert (score.total, score.clinical) == (35.9, True)


def test_wai_sr_subscales(registry: MeasureRegistry) -> None:
    answers = {f"q{i}": 1 for i in range(1, 13)} | {"q1": 5, "q2": 5, "q10": 5, "q12": 5, "q3": 3}
    score = registry.score("wai-sr", "1.0", answers)
    assert score.subscales == {"task": 20, "bond": 6, "goal": 4}
    assert score.total == 30
    assert score.clinical is None
    assert score.band is None


def test_core10_reverse_keys_items_2_and_3(registry: MeasureRegistry) -> None:
    zeros = {f"q{i}": 0 for i in range(1, 11)}
    # answering 0 on the two positively worded items is the most distressed answer: 4 points each
    assert registry.score("core-10", "1.0", zeros).total == 8
    assert registry.score("core-10", "1.0", zeros | {"q2": 4, "q3": 4}).total == 0
    assert registry.score("core-10", "1.0", zeros | {"q4": 4}).total == 12


def test_core10_risk_item_and_cutoff(registry: MeasureRegistry) -> None:
    answers = {f"q{i}": 0 for i in range(1, 11)} | {"q2": 4, "q3": 4, "q6": 1}
    score = registry.score("core-10", "1.0", answers)
    assert (score.total, score.band, score.clinical, score.risk_items) == (1, "healthy", False, ("q6",))
    ten = registry.score("core-10", "1.0", answers | {"q1": 4, "q4": 4, "q6": 1, "q5": 1})
    eleven = registry.score("core-10", "1.0", answers | {"q1": 4, "q4": 4, "q6": 1, "q5": 2})
    assert (ten.total, ten.clinical, ten.band) == (10, False, "low")
    assert (eleven.total, eleven.clinical, eleven.band) == (11, True, "mild")


def test_core10_prorates_one_missing_item_but_not_two(registry: MeasureRegistry) -> None:
    answers: dict[str, Any] = {f"q{i}": 2 for i in range(1, 11)}
    full = registry.score("core-10", "1.0", answers)
    assert full.total == 20
    assert not full.prorated
    one_missing = registry.score("core-10", "1.0", answers | {"q10": None})
    assert one_missing.total == 20
    assert one_missing.prorated
    absent = dict(answers)
    del absent["q10"]
    assert registry.score("core-10", "1.0", absent).total == 20
    with pytest.raises(ResponseError) as caught:
        registry.score("core-10", "1.0", answers | {"q9": None, "q10": None})
    assert (caught.value.field, caught.value.rule) == ("$.answers", "maxMissing")


def test_phq9_refuses_any_missing_item(registry: MeasureRegistry) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score("phq-9", "1.0", phq() | {"q3": None})
    assert (caught.value.field, caught.value.rule) == ("$.answers.q3", "type")


def test_whole_number_items_refuse_fractions_but_accept_integral_floats(registry: MeasureRegistry) -> None:
    assert registry.score("phq-9", "1.0", phq(q1=2.0)).total == 2  # type: ignore[arg-type]
    with pytest.raises(ResponseError) as caught:
        registry.score("phq-9", "1.0", phq(q1=1.5))  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("$.answers.q1", "type")


def test_score_repr_holds_no_client_data(registry: MeasureRegistry) -> None:
    score = registry.score("phq-9", "1.0", phq(q1=3, q9=2))
    assert "3" not in repr(score).replace("phq-9", "")
    assert "q9" not in repr(score)
