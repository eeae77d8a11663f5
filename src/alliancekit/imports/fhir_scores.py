"""The score ``Observation`` s of a FHIR source set beside the scores the library computes again.

An administration with answers is scored again from them by the measure's definition, and that score is
what is imported; the source's own score Observations (its total, and one per subscale) are not read into
the record. A source whose score disagrees (another system's scoring, an edited file) would otherwise go
unnoticed, so each such Observation becomes a note of the import's report: where it is (file and line, or
Bundle entry) and the rule, never either value, which is the client's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from alliancekit.imports.fhir_json import Resource, as_dict
from alliancekit.measures.scoring import Score

#: The rule of a note, by what the Observation scores.
TOTAL_MISMATCH = "total-mismatch"
SUBSCALE_MISMATCH = "subscale-mismatch"
#: How far a source's score may be from the library's and still be the same score: half the last decimal
#: place the export writes (it rounds a score to 4 places), and a little for binary fractions. A score written
#: as the export writes it, or more precisely, agrees; one that differs by 0.0001 or more does not.
SAME = 0.5e-4 + 1e-9
#: The key of a total Observation coded by another system's code (LOINC's for PHQ-9 and GAD-7).
TOTAL = "total"


#: Where a score Observation's number is: ``valueQuantity.value``, as the export writes it with the unit
#: ``{score}``, or ``valueInteger``, as other systems write a whole-number score (a PHQ-9 total, say).
SCORE_ELEMENTS = ("Observation.valueQuantity.value", "Observation.valueInteger")


def score_value(data: Mapping[str, Any]) -> float | None:
    """The number a score Observation gives (see :data:`SCORE_ELEMENTS`), or ``None`` when it gives none."""
    for value in (as_dict(data.get("valueQuantity")).get("value"), data.get("valueInteger")):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    return None


def score_element(data: Mapping[str, Any]) -> str:
    """The element of :data:`SCORE_ELEMENTS` that gives an Observation's score (named by a note)."""
    return SCORE_ELEMENTS[1] if "valueInteger" in data else SCORE_ELEMENTS[0]


#: The score Observations of a response: each one's score key (:data:`TOTAL`, or its ``measure-scores`` code:
#: ``wai-sr-bond``), value, resource, and whether it gives the total.
Found = Callable[[str], list[tuple[str, float, Resource, bool]]]


class ScoreObservations:
    """The score Observations of a source, by the QuestionnaireResponse each is ``derivedFrom`` (``found``:
    looked up where the source's join keeps them)."""

    def __init__(self, found: Found | None = None) -> None:
        self._lookup = found

    def disagreeing(self, response_id: str, score: Score) -> list[str]:
        """A note for each Observation of ``response_id`` whose value is not ``score``'s (the response
        scored again), within :data:`SAME` (the export's rounding never makes a disagreement). An
        Observation of a score the measure does not have is left alone, as before."""
        expected = {f"{score.measure_id}-{k}": (v, SUBSCALE_MISMATCH) for k, v in score.subscales.items()}
        expected[TOTAL] = expected[f"{score.measure_id}-total"] = (score.total, TOTAL_MISMATCH)
        notes = []
        for key, value, res, _ in self._lookup(response_id) if self._lookup is not None else ():
            if key not in expected:
                continue
            computed, rule = expected[key]
            if abs(computed - value) <= SAME:
                continue
            notes.append(
                f"{res.file} line {res.line}: {score_element(res.data)}: {rule} (the source's score "
                "differs from the one the library computes from the answers; the library's is imported)"
            )
        return notes
