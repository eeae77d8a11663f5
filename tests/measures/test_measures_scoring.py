"""Scoring rules of the builtin measures: totals, subscales, reverse keying, bands, cutoffs, risk items."""

from __future__ import annotations

import json
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


# -- totals recorded on their own, and the six decimal places scores carry (measures.exact) ------------

ORS_ITEMS = ("individually", "interpersonally", "socially", "overall")


def core10_one_missing() -> dict[str, Any]:
    # positions: items 2 and 3 reverse-keyed (4 - 2 = 2), so the nine answered score 3 + 8 * 2 = 19
    return {f"q{i}": 2 for i in range(1, 10)} | {"q1": 3, "q10": None}


def test_only_a_measure_that_never_prorates_has_whole_totals(registry: MeasureRegistry) -> None:
    assert registry.get("phq-9", "1.0").whole_totals
    assert not registry.get("core-10", "1.0").whole_totals  # whole items, but one may be prorated
    assert registry.get("core-10", "1.0").integral_total  # complete responses still are (bands meet at max+1)
    assert not registry.get("ors", "1.0").whole_totals  # items step 0.1


def test_a_prorated_total_is_accepted_on_its_own_as_scored(registry: MeasureRegistry) -> None:
    # CORE-10 prorates one missing item as sum * 10 / 9 (CORE System Trust, measure-numbers.md):
    # 19 * 10 / 9 = 21.111111, moderate-to-severe (20-24) and clinical (11 or more; Barkham et al. 2013)
    items = registry.score("core-10", "1.0", core10_one_missing())
    assert (items.total, items.prorated) == (21.111111, True)
    alone = registry.score_total("core-10", "1.0", items.total)
    assert (alone.total, alone.band, alone.clinical) == (21.111111, items.band, items.clinical)
    assert registry.score_total("core-10", "1.0", 21.1).total == 21.1  # rounded by the system it came from


@pytest.mark.parametrize(
    ("total", "band", "clinical"),
    [(0, "healthy", False), (10.999999, "low", False), (11, "mild", True), (40, "severe", True)],
)
def test_prorated_totals_at_the_range_and_cutoff_edges(
    registry: MeasureRegistry, total: float, band: str, clinical: bool
) -> None:
    # cutoff 11 or more (Barkham et al. 2013); a total between two bands goes to the lower one
    score = registry.score_total("core-10", "1.0", total)
    assert (score.total, score.band, score.clinical) == (total, band, clinical)


@pytest.mark.parametrize(("total", "rule"), [(-0.000001, "minimum"), (40.000001, "maximum")])
def test_a_prorated_total_just_outside_the_range_is_refused(
    registry: MeasureRegistry, total: float, rule: str
) -> None:
    with pytest.raises(ResponseError) as caught:
        registry.score_total("core-10", "1.0", total)
    assert (caught.value.field, caught.value.rule) == ("$.total", rule)


def test_a_measure_that_never_prorates_still_takes_whole_totals_only(registry: MeasureRegistry) -> None:
    assert registry.score_total("phq-9", "1.0", 14.0).total == 14
    with pytest.raises(ResponseError) as caught:
        registry.score_total("phq-9", "1.0", 14.000001)
    assert (caught.value.field, caught.value.rule) == ("$.total", "type")


def test_answers_with_six_decimal_places_are_scored_exactly(registry: MeasureRegistry) -> None:
    # ORS: clinical below 25 (Miller et al. 2003, measure-numbers.md); 4 x 6.249999 = 24.999996
    score = registry.score("ors", "1.0", dict.fromkeys(ORS_ITEMS, 6.249999))
    assert (score.total, score.clinical) == (24.999996, True)


@pytest.mark.parametrize("key", ORS_ITEMS)
def test_an_answer_with_seven_decimal_places_is_refused_not_rounded(
    registry: MeasureRegistry, key: str
) -> None:
    # 3 x 6.25 + 6.2499999 = 24.9999999, clinical; rounded to micro-points first it was 25, not clinical
    with pytest.raises(ResponseError) as caught:
        registry.score("ors", "1.0", dict.fromkeys(ORS_ITEMS, 6.25) | {key: 6.2499999})
    assert (caught.value.field, caught.value.rule) == (f"$.answers.{key}", "precision")
    assert "6.2499999" not in str(caught.value)


def test_a_seven_place_answer_is_the_one_problem_a_validator_lists(registry: MeasureRegistry) -> None:
    document = json.dumps(
        {"answers": {"individually": 10, "interpersonally": 10, "socially": 4.9999996, "overall": 0}}
    )
    problems = registry.response_problems("ors", "1.0", document)
    assert [(p.field, p.rule) for p in problems] == [("$.answers.socially", "precision")]


def test_a_total_with_seven_decimal_places_is_refused(registry: MeasureRegistry) -> None:
    assert registry.score_total("ors", "1.0", 24.999999).clinical is True
    assert registry.score_total("core-10", "1.0", 21.111111).total == 21.111111
    for measure, total in (("ors", 24.9999999), ("core-10", 21.1111111)):
        with pytest.raises(ResponseError) as caught:
            registry.score_total(measure, "1.0", total)
        assert (caught.value.field, caught.value.rule) == ("$.total", "precision")
        assert str(total) not in str(caught.value)
