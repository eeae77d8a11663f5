"""``Measure.norm_for`` is asked once per score. A population that borrows the default's reliable-change
threshold (the ORS child and adolescent norms) is a derived :class:`Norm`: it is made once, when the measure
is made, and every later call returns that same norm, with the values the per-call derivation gave.
The measure stays frozen, compared and hashed by identity, and pickles and copies with its derived norms."""

from __future__ import annotations

import copy
import pickle

import alliancekit_measure_k10
import attrs
import pytest

from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.measures.change import reliable_change_threshold
from alliancekit.measures.definition import Measure, parse_definition
from alliancekit.measures.norms import CitedValue, Norm
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.testing.measures import measure_registry

REGISTRY: MeasureRegistry = measure_registry(alliancekit_measure_k10)
MEASURES: list[Measure] = [REGISTRY.get(measure_id, version) for measure_id, version in REGISTRY]


def _derived_per_call(measure: Measure, population: str | None) -> Norm | None:
    """The per-call derivation ``norm_for`` made before the cache (the oracle the cached norms must equal)."""
    default = measure.default_norm
    own = None if population is None else measure.norm(population)
    if own is None or own is default or default is None:
        return default if own is None else own
    if own.reliable_change_points is not None or (
        own.reliability is not None and own.clinical_sample is not None
    ):
        return own
    if default.reliable_change_points is not None:
        return attrs.evolve(own, reliable_change_points=default.reliable_change_points)
    threshold = reliable_change_threshold(default)
    if threshold is None or default.reliability is None:
        return own
    return attrs.evolve(own, reliable_change_points=CitedValue(threshold, default.reliability.citation))


@pytest.mark.parametrize("measure", MEASURES, ids=repr)
def test_every_population_reads_against_the_same_values_as_before(measure: Measure) -> None:
    for population in (None, "no-such-population", *sorted(measure.populations)):
        assert measure.norm_for(population) == _derived_per_call(measure, population)


def test_the_borrowed_threshold_is_derived_once_per_population(monkeypatch: pytest.MonkeyPatch) -> None:
    evolved: list[str] = []
    evolve = attrs.evolve

    def counting(inst: object, **changes: object) -> object:
        if isinstance(inst, Norm):
            evolved.append(inst.population)
        return evolve(inst, **changes)

    monkeypatch.setattr(attrs, "evolve", counting)
    ors = parse_definition(load_builtin_definition("ors-1.0"))
    firsts = {population: ors.norm_for(population) for population in ("child", "adolescent")}
    later = [ors.norm_for(population) for _ in range(50) for population in firsts]
    assert sorted(evolved) == ["adolescent", "child"]  # once each; adult is the default and is not derived
    assert all(norm is firsts[norm.population] for norm in later if norm is not None)
    # the derived norms carry the adult threshold with its citation, as before
    adult = ors.norm_for("adult")
    assert adult is ors.default_norm
    assert adult is not None
    assert adult.reliable_change_points is not None
    for first in firsts.values():
        assert first is not None
        assert first.reliable_change_points == adult.reliable_change_points


def test_the_measure_stays_frozen_identity_compared_and_picklable() -> None:
    ors = REGISTRY.get("ors")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ors._read_against = {}  # type: ignore[misc]
    assert "_read_against" not in repr(ors)
    for twin in (pickle.loads(pickle.dumps(ors)), copy.deepcopy(ors), copy.copy(ors)):  # noqa: S301 (our own bytes)
        assert twin != ors
        assert hash(twin) != hash(ors)
        for population in ("child", "adolescent", "adult", None):
            assert twin.norm_for(population) == ors.norm_for(population)
    assert ors == ors
    assert hash(ors) == hash(ors)


def test_a_measure_evolved_with_other_norms_derives_its_own() -> None:
    ors = REGISTRY.get("ors")
    adult = ors.norm_for("adult")
    assert adult is not None
    assert adult.reliable_change_points is not None
    wider = attrs.evolve(adult, reliable_change_points=CitedValue(7, adult.reliable_change_points.citation))
    changed = attrs.evolve(ors, norms=tuple(wider if norm is adult else norm for norm in ors.norms))
    child = changed.norm_for("child")
    assert child is not None
    assert child.reliable_change_points is not None
    assert child.reliable_change_points.value == 7
    assert child == _derived_per_call(changed, "child")
