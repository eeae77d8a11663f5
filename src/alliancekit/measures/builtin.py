"""Builtin measures plugin (placeholder definitions; replaced by the measures work)."""

from __future__ import annotations

from alliancekit.measures.registry import MeasureRegistrar
from alliancekit.plugins.hookspecs import hookimpl


def _four_items(measure_id: str, keys: list[str]) -> dict[str, object]:
    return {
        "id": measure_id,
        "version": "1.0",
        "items": [{"key": k, "min": 0, "max": 10} for k in keys],
    }


@hookimpl
def alliancekit_register_measures(register: MeasureRegistrar) -> None:
    register(_four_items("ors", ["individually", "interpersonally", "socially", "overall"]))
    register(_four_items("srs", ["relationship", "goals_topics", "approach", "overall"]))
