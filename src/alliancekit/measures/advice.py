"""What a valid measure definition still leaves out: advice for the plugin author writing it.

A definition may omit worked examples, norms and confirmed citations and still be valid: the library scores
it, but then checks its scoring against nothing, classifies no change with it, raises none of the alerts that
read its norm, or shows a number nobody confirmed at its source. None of that is an error (a new measure may
have no published norm yet), so ``alliancekit measures check`` prints it as warnings and fails on them only
with ``--strict``. Each piece of advice names the part of the definition and a rule, as refusals do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs

from alliancekit.measures.change import reliable_change_threshold
from alliancekit.measures.definition import Measure, MeasureKind


@attrs.frozen
class Advice:
    """One thing a valid definition leaves out: where (a JSON path), which rule, and what it costs."""

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}: {self.message}"


def definition_advice(measure: Measure, definition: Mapping[str, Any]) -> tuple[Advice, ...]:
    """The advice for ``measure``, parsed from ``definition`` (which already passed every check)."""
    return tuple(_advice(measure, definition))


def _advice(measure: Measure, definition: Mapping[str, Any]) -> Iterator[Advice]:
    if not measure.examples:
        yield Advice(
            "$.examples",
            "worked-example",
            "no worked example: nothing checks the scoring against a published score",
        )
    norm = measure.default_norm
    if measure.kind is MeasureKind.ALLIANCE:
        if norm is None or norm.clinical_cutoff is None:
            yield Advice(
                "$.norms",
                "clinical-cutoff",
                "the default population has no clinical cutoff: the below-cutoff alliance alert never fires",
            )
    else:
        if norm is None or reliable_change_threshold(norm) is None:
            yield Advice(
                "$.norms",
                "reliable-change",
                "the default population has no reliable-change figure (points, or a reliability with a "
                "clinical sample): no change class, expected response or reliable-deterioration alert",
            )
        if norm is None or norm.clinical_cutoff is None:
            yield Advice(
                "$.norms",
                "clinical-cutoff",
                "the default population has no published clinical cutoff: no score is flagged clinical",
            )
    for path in _unconfirmed_citations(definition, "$"):
        yield Advice(
            path, "unconfirmed", "check the cited number at its source, then mark the citation confirmed"
        )


def _unconfirmed_citations(node: Any, path: str) -> Iterator[str]:
    """The JSON path of every ``cite`` marked ``unconfirmed``, in the document's order."""
    if isinstance(node, Mapping):
        if node.get("status") == "unconfirmed" and "ref" in node:
            yield path
        for key, value in node.items():
            yield from _unconfirmed_citations(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unconfirmed_citations(value, f"{path}[{index}]")
