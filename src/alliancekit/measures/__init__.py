"""Outcome, alliance and symptom measures: definitions, validation and scoring."""

from alliancekit.measures.registry import MeasureRegistry, Score

__all__ = ["MeasureRegistry", "Score"]
