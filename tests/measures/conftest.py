from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.testing.measures import measure_registry


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: takes seconds; still part of the normal run")


@pytest.fixture(scope="session")
def registry() -> MeasureRegistry:
    """The builtin measures, registered through the hook."""
    return measure_registry()


@pytest.fixture
def definition() -> Callable[[str], dict[str, Any]]:
    """A fresh, mutable copy of a builtin definition."""

    def load(name: str = "phq-9-1.0") -> dict[str, Any]:
        return copy.deepcopy(json.loads(json.dumps(load_builtin_definition(name))))

    return load
