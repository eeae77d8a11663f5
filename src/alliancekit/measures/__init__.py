"""Outcome, alliance and symptom measures: definitions, validation, scoring and change."""

from alliancekit.measures.change import (
    ChangeClass,
    ChangeResult,
    CutoffKind,
    Spread,
    classify_change,
)
from alliancekit.measures.definition import (
    NOT_APPLICABLE,
    AnswerConvention,
    ClinicalIf,
    Direction,
    Measure,
    MeasureKind,
    Norm,
    parse_definition,
)
from alliancekit.measures.registry import (
    MeasureRegistrar,
    MeasureRegistry,
    build_measure_registry,
)
from alliancekit.measures.scoring import Score, positions_from_item_scores

__all__ = [
    "AnswerConvention",
    "ChangeClass",
    "ChangeResult",
    "ClinicalIf",
    "CutoffKind",
    "Direction",
    "Measure",
    "MeasureKind",
    "MeasureRegistrar",
    "MeasureRegistry",
    "NOT_APPLICABLE",
    "Norm",
    "Score",
    "Spread",
    "build_measure_registry",
    "classify_change",
    "parse_definition",
    "positions_from_item_scores",
]
