"""The K10 plugin passes alliancekit's measure contract, and its Questionnaire the FHIR hook contract."""

import alliancekit_measure_k10

from alliancekit.testing import FhirHookContract
from alliancekit.testing.measures import MeasureContract, measure_registry


class TestK10(MeasureContract):
    plugin = alliancekit_measure_k10
    measure_id = "k10"
    version = "1.0"


class TestK10Fhir(FhirHookContract):
    """K10 implements no FHIR hook: its measure is exported as a Questionnaire by the builtin mapping."""

    plugin = alliancekit_measure_k10


def test_k10_scores_without_risk_or_clinical_flag() -> None:
    registry = measure_registry(alliancekit_measure_k10)
    score = registry.score("k10", "1.0", {f"q{i}": 5 for i in range(1, 11)})
    assert (score.total, score.band, score.clinical, score.risk_items) == (50, "very-high", None, ())
    assert registry.supplier("k10", "1.0") == "alliancekit_measure_k10"


def test_k10_bands_are_abs_table_e_on_both_sides_of_every_edge() -> None:
    # ABS 4817.0.55.001 (2012), Table E: 10-15 low, 16-21 moderate, 22-29 high, 30-50 very high (items 1-5).
    # Not the 10-19 / 20-24 / 25-29 / 30-50 grouping some clinical tools use.
    registry = measure_registry(alliancekit_measure_k10)

    def band(total: int) -> str | None:
        answers = {f"q{i}": 1 for i in range(1, 11)}
        remaining = total - 10
        for i in range(1, 11):
            add = min(4, remaining)
            answers[f"q{i}"] += add
            remaining -= add
        return registry.score("k10", "1.0", answers).band

    assert [band(t) for t in (10, 15, 16, 21, 22, 29, 30, 50)] == [
        "low",
        "low",
        "moderate",
        "moderate",
        "high",
        "high",
        "very-high",
        "very-high",
    ]
