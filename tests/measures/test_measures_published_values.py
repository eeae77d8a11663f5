"""Every number a measure definition uses, pinned to the value its source publishes, and scored one point
either side of each edge.

``test_measures_boundaries`` derives its cases from the definitions, so it proves the library compares
totals as a definition says, not that the definition says what the source says. Here the expected values
are written out by hand from the sources (audit of 2026-12):

* PHQ-9: Kroenke, Spitzer & Williams 2001, abstract: a score of 10 or more (sensitivity and specificity
  88 %); "scores of 5, 10, 15, and 20 represented mild, moderate, moderately severe, and severe depression".
  Reliable improvement 6 or more (IAPT convention).
* GAD-7: Spitzer et al. 2006: cut point 10 (sensitivity 89 %, specificity 82 %, the abstract; the value 10
  is in the body, as secondary sources quote it); 5, 10 and 15 for mild, moderate and severe (the body, as
  quoted). IAPT caseness 8 or more, reliable improvement 4 or more.
* CORE-10: Barkham et al. 2013, abstract: clinical cut-off 11.0, "reliable change index (90% CI) of 6".
  Bands as the CORE-OM's (secondary sources; see the definition's citation).
* ORS: adults 25, children (6-12) 32 (OpenFIT KA-01031); below the cutoff is clinical, at it is not
  (OpenFIT's dashboard table: ``ORSPost >= CutoffORS`` is "above the cutoff").
* SRS: an alliance concern below 36 (OpenFIT: ``SRSPost < CutoffSRS``).
* K10: ABS 4817.0.55.001, Table E: 10-15 low, 16-21 moderate, 22-29 high, 30-50 very high.
"""

from __future__ import annotations

import alliancekit_measure_k10
import pytest

from alliancekit.measures.change import ChangeClass, classify_change
from alliancekit.measures.norms import ClinicalIf
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.testing.measures import measure_registry

REGISTRY: MeasureRegistry = measure_registry(alliancekit_measure_k10)


def whole(measure_id: str, total: int) -> dict[str, float]:
    """Answers of a measure with whole-point items (no reverse keying) summing to ``total``."""
    m = REGISTRY.get(measure_id)
    answers: dict[str, float] = {}
    remaining = total - sum(int(item.min) for item in m.items)
    for item in m.items:
        add = min(int(item.max - item.min), remaining)
        answers[item.key] = item.min + add
        remaining -= add
    assert remaining == 0
    return answers


@pytest.mark.parametrize(
    ("measure_id", "bands"),
    [
        (
            "phq-9",
            [
                ("minimal", 0, 4),
                ("mild", 5, 9),
                ("moderate", 10, 14),
                ("moderately-severe", 15, 19),
                ("severe", 20, 27),
            ],
        ),
        ("gad-7", [("minimal", 0, 4), ("mild", 5, 9), ("moderate", 10, 14), ("severe", 15, 21)]),
        (
            "core-10",
            [
                ("healthy", 0, 5),
                ("low", 6, 10),
                ("mild", 11, 14),
                ("moderate", 15, 19),
                ("moderate-to-severe", 20, 24),
                ("severe", 25, 40),
            ],
        ),
        ("k10", [("low", 10, 15), ("moderate", 16, 21), ("high", 22, 29), ("very-high", 30, 50)]),
    ],
)
def test_bands_are_the_published_ones(measure_id: str, bands: list[tuple[str, int, int]]) -> None:
    m = REGISTRY.get(measure_id)
    assert [(b.key, b.min, b.max) for b in m.bands] == bands


@pytest.mark.parametrize(
    ("measure_id", "total", "band"),
    [
        ("phq-9", 4, "minimal"),
        ("phq-9", 5, "mild"),
        ("phq-9", 9, "mild"),
        ("phq-9", 10, "moderate"),
        ("phq-9", 14, "moderate"),
        ("phq-9", 15, "moderately-severe"),
        ("phq-9", 19, "moderately-severe"),
        ("phq-9", 20, "severe"),
        ("gad-7", 4, "minimal"),
        ("gad-7", 5, "mild"),
        ("gad-7", 9, "mild"),
        ("gad-7", 10, "moderate"),
        ("gad-7", 14, "moderate"),
        ("gad-7", 15, "severe"),
        ("k10", 15, "low"),
        ("k10", 16, "moderate"),
        ("k10", 21, "moderate"),
        ("k10", 22, "high"),
        ("k10", 29, "high"),
        ("k10", 30, "very-high"),
    ],
)
def test_band_either_side_of_every_published_edge(measure_id: str, total: int, band: str) -> None:
    score = REGISTRY.score(measure_id, "1.0", whole(measure_id, total))
    assert (score.total, score.band) == (total, band)


@pytest.mark.parametrize(
    ("measure_id", "population", "value", "clinical_if"),
    [
        ("phq-9", "adult", 10, ClinicalIf.AT_OR_ABOVE),
        ("gad-7", "adult", 10, ClinicalIf.AT_OR_ABOVE),
        ("gad-7", "iapt", 8, ClinicalIf.AT_OR_ABOVE),
        ("core-10", "adult", 11, ClinicalIf.AT_OR_ABOVE),
        ("ors", "adult", 25, ClinicalIf.BELOW),
        ("ors", "child", 32, ClinicalIf.BELOW),
        ("cors", "child", 32, ClinicalIf.BELOW),
        ("srs", "adult", 36, ClinicalIf.BELOW),
    ],
)
def test_cutoffs_are_the_published_ones_on_both_sides(
    measure_id: str, population: str, value: int, clinical_if: ClinicalIf
) -> None:
    norm = REGISTRY.get(measure_id).norm(population)
    assert norm is not None
    cutoff = norm.clinical_cutoff
    assert cutoff is not None
    assert (cutoff.value, cutoff.clinical_if) == (value, clinical_if)
    if clinical_if is ClinicalIf.AT_OR_ABOVE:
        assert (cutoff.is_clinical(value - 1), cutoff.is_clinical(value)) == (False, True)
    else:
        # a tenth below is clinical; exactly at the cutoff is not (OpenFIT: >= cutoff is "above")
        assert (cutoff.is_clinical(value - 0.1), cutoff.is_clinical(value)) == (True, False)


def test_scores_either_side_of_the_published_cutoffs() -> None:
    assert [REGISTRY.score("phq-9", "1.0", whole("phq-9", t)).clinical for t in (9, 10)] == [False, True]
    assert [REGISTRY.score("gad-7", "1.0", whole("gad-7", t)).clinical for t in (9, 10)] == [False, True]
    # CORE-10 q2 and q3 are reverse-keyed response positions: all zeros except q1 and q4+ carry the total
    core = REGISTRY.get("core-10")
    for total, clinical in ((10, False), (11, True)):
        answers: dict[str, float] = {"q2": 4, "q3": 4}
        remaining = total
        for item in core.items:
            if item.key in ("q2", "q3"):
                continue
            answers[item.key] = min(4, remaining)
            remaining -= answers[item.key]
        score = REGISTRY.score("core-10", "1.0", answers)
        assert (score.total, score.clinical) == (total, clinical)


@pytest.mark.parametrize(
    ("measure_id", "population", "points"),
    [
        ("phq-9", "adult", 6),
        ("gad-7", "adult", 4),
        ("gad-7", "iapt", 4),
        ("core-10", "adult", 6),
        ("ors", "adult", 5),
    ],
)
def test_reliable_change_is_the_published_threshold_and_exactly_it_counts(
    measure_id: str, population: str, points: int
) -> None:
    m = REGISTRY.get(measure_id)
    norm = m.norm(population)
    assert norm is not None
    assert norm.reliable_change_points is not None
    assert norm.reliable_change_points.value == points
    middle = float((m.range_min + m.range_max) // 2)
    healthier = 1 if m.higher_is_better else -1
    for direction, moved_class in ((healthier, ChangeClass.IMPROVED), (-healthier, ChangeClass.DETERIORATED)):
        short = classify_change(middle, middle + direction * (points - 1), norm, m.direction)
        exact = classify_change(middle, middle + direction * points, norm, m.direction)
        assert short.change_class is ChangeClass.UNCHANGED
        assert exact.reliable
        if moved_class is ChangeClass.IMPROVED:
            assert exact.change_class in (ChangeClass.IMPROVED, ChangeClass.RECOVERED)
        else:
            assert exact.change_class is ChangeClass.DETERIORATED


# Items, their scale and the total's range, as the sources give them (fourth audit, 2026-12): PHQ-9 from
# Kroenke et al. 2001's abstract (9 criteria scored 0-3); GAD-7 7 items (Spitzer et al. 2006's abstract),
# 0-3 and 0-21 (secondary); CORE-10 0-4, 0-40 (Barkham et al. 2013; CORE System Trust), items 2 and 3
# reversed (NovoPsych; the form); ORS, SRS, CORS, GSRS four 10 cm lines read to the millimetre; WAI-SR 12
# items 1-5, 12-60 (Blueprint's and Rivet's scoring pages); K10 10 items 1-5, 10-50 (ABS 4363.0).
@pytest.mark.parametrize(
    ("measure_id", "items", "item_min", "item_max", "step", "total", "reversed_"),
    [
        ("phq-9", 9, 0, 3, 1, (0, 27), set()),
        ("gad-7", 7, 0, 3, 1, (0, 21), set()),
        ("core-10", 10, 0, 4, 1, (0, 40), {"q2", "q3"}),
        ("ors", 4, 0, 10, 0.1, (0, 40), set()),
        ("srs", 4, 0, 10, 0.1, (0, 40), set()),
        ("cors", 4, 0, 10, 0.1, (0, 40), set()),
        ("gsrs", 4, 0, 10, 0.1, (0, 40), set()),
        ("wai-sr", 12, 1, 5, 1, (12, 60), set()),
        ("k10", 10, 1, 5, 1, (10, 50), set()),
    ],
)
def test_items_and_range_are_the_published_ones(
    measure_id: str,
    items: int,
    item_min: int,
    item_max: int,
    step: float,
    total: tuple[int, int],
    reversed_: set[str],
) -> None:
    m = REGISTRY.get(measure_id)
    assert len(m.items) == items
    assert {(i.min, i.max, i.step) for i in m.items} == {(item_min, item_max, step)}
    assert (m.range_min, m.range_max) == total
    assert m.reverse_keyed == reversed_


def test_wai_sr_subscales_are_the_published_ones() -> None:
    # Task 1, 2, 10, 12; Bond 3, 5, 7, 9; Goal 4, 6, 8, 11 (Blueprint's and Rivet's WAI-SR scoring pages)
    m = REGISTRY.get("wai-sr")
    assert {s.key: s.items for s in m.subscales} == {
        "task": ("q1", "q2", "q10", "q12"),
        "bond": ("q3", "q5", "q7", "q9"),
        "goal": ("q4", "q6", "q8", "q11"),
    }
    # each item raised alone from 1 to 2 moves its own subscale, and only it
    base = {item.key: 1.0 for item in m.items}
    for sub in m.subscales:
        for key in sub.items:
            score = REGISTRY.score("wai-sr", "1.0", {**base, key: 2.0})
            assert dict(score.subscales) == {s.key: 5 if s.key == sub.key else 4 for s in m.subscales}


@pytest.mark.parametrize(("measure_id", "item"), [("phq-9", "q9"), ("core-10", "q6")])
def test_the_risk_item_is_endorsed_from_its_first_answer_above_none(measure_id: str, item: str) -> None:
    # PHQ-9 item 9 and CORE-10 item 6 (the form's risk item) raise the risk alert at 1, not at 0
    m = REGISTRY.get(measure_id)
    assert [(r.item, r.threshold) for r in m.risk_items] == [(item, 1)]
    positions = dict.fromkeys(m.reverse_keyed, 4.0)  # reversed items at their healthiest position
    base = {i.key: positions.get(i.key, i.min) for i in m.items}
    assert REGISTRY.score(measure_id, "1.0", {**base, item: 0}).risk_items == ()
    assert REGISTRY.score(measure_id, "1.0", {**base, item: 1}).risk_items == (item,)
