"""The K10 plugin passes alliancekit's measure contract."""

import alliancekit_measure_k10

from alliancekit.testing.measures import MeasureContract, measure_registry


class TestK10(MeasureContract):
    plugin = alliancekit_measure_k10
    measure_id = "k10"
    version = "1.0"


def test_k10_scores_without_risk_or_clinical_flag() -> None:
    registry = measure_registry(alliancekit_measure_k10)
    score = registry.score("k10", "1.0", {f"q{i}": 5 for i in range(1, 11)})
    assert (score.total, score.band, score.clinical, score.risk_items) == (50, "very-high", None, ())
    assert registry.supplier("k10", "1.0") == "alliancekit_measure_k10"
