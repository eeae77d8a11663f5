"""Synthetic answers for registered measures: plausible, deterministic, never real clients' data."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from alliancekit.domain import Administration, AdministrationTiming


def _definition(registry: Any, measure_id: str) -> Mapping[str, Any]:
    measure = registry.get(measure_id)
    return getattr(measure, "definition", measure)  # type: ignore[no-any-return]


def administration(
    registry: Any,
    measure_id: str,
    timing: AdministrationTiming,
    wellbeing: float,
    rng: random.Random,
) -> Administration:
    """Answers for ``measure_id`` at a level of wellbeing between 0 (worst) and 1 (best).

    Each item lands near the same relative position on its range, with a little noise; items scored
    against the measure's direction (symptom counts, reverse-keyed items) are flipped so that the total
    tracks ``wellbeing``.
    """
    definition = _definition(registry, measure_id)
    higher_is_better = definition.get("direction", "higher-is-better") == "higher-is-better"
    scoring = definition.get("scoring", {})
    reverse = set(scoring.get("reverse_keyed", ()) if isinstance(scoring, Mapping) else ())
    answers: dict[str, float | None] = {}
    for item in definition["items"]:
        low, high = item["min"], item["max"]
        step = item.get("step", 1)
        level = wellbeing if higher_is_better else 1 - wellbeing
        if item["key"] in reverse:
            level = 1 - level
        raw = low + (high - low) * min(1.0, max(0.0, level + rng.gauss(0, 0.06)))
        value = round(round(raw / step) * step, 1)
        answers[item["key"]] = int(value) if float(step).is_integer() else value
    return Administration(measure_id, registry.latest_version(measure_id), timing, answers)
