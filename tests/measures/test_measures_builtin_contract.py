"""The builtin measures pass the same contract a third-party measure plugin must pass."""

from alliancekit.testing.measures import MeasureContract


class TestORS(MeasureContract):
    measure_id, version = "ors", "1.0"


class TestSRS(MeasureContract):
    measure_id, version = "srs", "1.0"


class TestWAISR(MeasureContract):
    measure_id, version = "wai-sr", "1.0"


class TestPHQ9(MeasureContract):
    measure_id, version = "phq-9", "1.0"


class TestGAD7(MeasureContract):
    measure_id, version = "gad-7", "1.0"


class TestGAD7v11(MeasureContract):
    measure_id, version = "gad-7", "1.1"


class TestCORE10(MeasureContract):
    measure_id, version = "core-10", "1.0"


def test_the_abstract_contract_is_not_collected() -> None:
    assert MeasureContract.__test__ is False
    assert TestORS.__test__ is True
