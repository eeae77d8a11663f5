"""The rational expectation and the change class take what depends on the measure alone (its norm's
reliable-change threshold, cutoff and S_diff) from a cache, worked out once per measure (or norm) rather
than on every session. A cache must never answer for another measure: here two definitions share the ORS's
id and version but not its norms (as a plugin's re-registration, or another practice's registry, would),
and each is read against its own, whichever was asked first."""

from __future__ import annotations

import copy
from typing import Any

from alliancekit.feedback.expectation import _rational_terms, rational_expectation
from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.measures.change import ChangeClass, _terms, classify_change
from alliancekit.measures.definition import Measure, parse_definition


def _ors(reliable_change: float, cutoff: float) -> Measure:
    definition: dict[str, Any] = copy.deepcopy(dict(load_builtin_definition("ors-1.0")))
    adult = next(norm for norm in definition["norms"] if norm["population"] == "adult")
    adult["reliable_change"]["points"] = reliable_change
    adult["clinical_cutoff"]["value"] = cutoff
    return parse_definition(definition)


def test_each_measure_is_read_against_its_own_norms_whichever_came_first() -> None:
    usual, strict = _ors(5, 25), _ors(8, 20)
    assert (usual.id, usual.version) == (strict.id, strict.version)
    for _ in range(2):  # the second round is answered from the caches
        first, second = rational_expectation(usual, 18, 6), rational_expectation(strict, 18, 6)
        assert first is not None
        assert second is not None
        # by the horizon (session 6) one threshold is gained, and the red bound lies one threshold below
        assert (first.expected, first.limit) == (23.0, 18.0)
        assert (second.expected, second.limit) == (26.0, 18.0)
        assert first.high - first.low == 5.0
        assert second.high - second.low == 8.0
        # an intake of 22 is clinical under the usual cutoff (below 25), not under the strict one (below 20)
        assert rational_expectation(usual, 22, 4).expected > 22  # type: ignore[union-attr]
        assert rational_expectation(strict, 22, 4).expected == 22  # type: ignore[union-attr]
        # a fall of 6 points is reliable against 5, not against 8
        usual_norm, strict_norm = usual.norm_for(None), strict.norm_for(None)
        assert usual_norm is not None
        assert strict_norm is not None
        fall = classify_change(30, 24, usual_norm, usual.direction)
        assert fall.change_class is ChangeClass.DETERIORATED
        assert classify_change(30, 24, strict_norm, strict.direction).change_class is ChangeClass.UNCHANGED


def test_the_terms_are_worked_out_once_per_measure_and_norm() -> None:
    measure = _ors(6, 24)
    norm = measure.norm_for(None)
    assert norm is not None
    rational_expectation(measure, 15, 3)
    classify_change(15, 22, norm, measure.direction)
    expectations, changes = _rational_terms.cache_info().hits, _terms.cache_info().hits
    for session in range(2, 12):
        rational_expectation(measure, 15, session)
        classify_change(15, 15 + session, norm, measure.direction)
    assert _rational_terms.cache_info().hits == expectations + 10
    assert _terms.cache_info().hits == changes + 10
