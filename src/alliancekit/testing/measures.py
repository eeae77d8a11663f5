# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The measure contract: subclass :class:`MeasureContract` in a plugin's tests to prove a measure is sound.

.. code-block:: python

    import my_plugin
    from alliancekit.testing.measures import MeasureContract

    class TestMyMeasure(MeasureContract):
        plugin = my_plugin          # the object implementing alliancekit_register_measures
        measure_id = "my-measure"
        version = "1.0"

The suite checks that the definition validates against the meta-schema, registers through the hook next to
the builtin measures without clashing, scores its declared examples as declared, refuses out-of-range,
missing and non-numeric answers, and that its bands cover the whole score range without gaps or overlaps.
The base class is not collected on its own (``__test__ = False``); subclasses are.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pluggy
import pytest

from alliancekit.errors import ResponseError
from alliancekit.measures import builtin
from alliancekit.measures.definition import NOT_APPLICABLE, Measure, check_bands
from alliancekit.measures.registry import (
    MeasureRegistry,
    build_measure_registry,
    check_examples,
)
from alliancekit.measures.validation import (
    check_against_meta_schema,
    reference_validator,
)
from alliancekit.plugins import hookspecs
from alliancekit.plugins.manager import PluginHost, _readable_name
from alliancekit.testing.suite import ContractSuite

__all__ = ["MeasureContract", "measure_registry"]

BUILTIN_PLUGIN_NAME = "alliancekit.measures.builtin"


def measure_registry(*plugins: object, builtins: bool = True) -> MeasureRegistry:
    """A measure registry built through the real hook from the builtin measures and ``plugins`` only.

    Installed entry-point plugins are left out, so a test sees exactly what it registers.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    if builtins:
        pm.register(builtin, name=BUILTIN_PLUGIN_NAME)
    for plugin in plugins:
        # the name make_plugin_host gives: a module's import name, an object's class (never pluggy's id())
        pm.register(plugin, name=_readable_name(pm, plugin))
    return build_measure_registry(PluginHost(pm))


class MeasureContract(ContractSuite):
    """Checks every measure must pass. Set ``plugin``, ``measure_id`` and ``version`` in the subclass."""

    __test__ = False

    #: the plugin (module or object) implementing ``alliancekit_register_measures``;
    #: ``None`` means the measure is builtin
    plugin: ClassVar[object | None] = None
    measure_id: ClassVar[str]
    version: ClassVar[str]

    # -- fixtures ------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def registry(cls) -> MeasureRegistry:
        plugins = () if cls.plugin is None else (cls.plugin,)
        return measure_registry(*plugins)

    @pytest.fixture(scope="class")
    @classmethod
    def measure(cls, registry: MeasureRegistry) -> Measure:
        return registry.get(cls.measure_id, cls.version)

    @staticmethod
    def _valid_answers(measure: Measure) -> dict[str, Any]:
        if measure.examples:
            return {k: v for k, v in measure.examples[0].answers.items() if v is not None} | {
                k: measure.items[i].min
                for i, k in enumerate(measure.item_keys)
                if measure.examples[0].answers.get(k) is None
            }
        return {item.key: item.min for item in measure.items}

    # -- the contract --------------------------------------------------------------------------------

    def test_definition_validates_against_meta_schema(self, measure: Measure) -> None:
        check_against_meta_schema(measure.definition)

    def test_registered_through_the_hook_by_its_plugin(self, registry: MeasureRegistry) -> None:
        supplier = registry.supplier(self.measure_id, self.version)
        if self.plugin is None:
            assert supplier == BUILTIN_PLUGIN_NAME
        else:
            assert supplier != BUILTIN_PLUGIN_NAME

    def test_has_examples(self, measure: Measure) -> None:
        assert measure.examples, "declare at least one example response with its expected score"

    def test_examples_score_as_declared(self, registry: MeasureRegistry, measure: Measure) -> None:
        check_examples(registry, measure)

    def test_examples_pass_the_reference_validator(self, registry: MeasureRegistry, measure: Measure) -> None:
        validator = reference_validator(registry.response_schema(measure.id, measure.version))
        for example in measure.examples:
            answers = {k: v for k, v in example.answers.items() if v is not None}
            assert validator.is_valid({"answers": answers})

    def test_out_of_range_answers_refused(self, registry: MeasureRegistry, measure: Measure) -> None:
        base = self._valid_answers(measure)
        for item in measure.items:
            for bad, rule in ((item.max + item.step, "maximum"), (item.min - item.step, "minimum")):
                with pytest.raises(ResponseError) as caught:
                    registry.score(measure.id, measure.version, base | {item.key: bad})
                assert (caught.value.field, caught.value.rule) == (f"$.answers.{item.key}", rule)

    def test_missing_items_refused(self, registry: MeasureRegistry, measure: Measure) -> None:
        base = self._valid_answers(measure)
        too_many = measure.max_missing + 1
        missing = dict(base)
        for key in measure.item_keys[:too_many]:
            del missing[key]
        with pytest.raises(ResponseError):
            registry.score(measure.id, measure.version, missing)
        if measure.max_missing:
            # prorating up to the limit gives a total inside the range
            allowed = {k: v for k, v in base.items() if k not in measure.item_keys[: measure.max_missing]}
            score = registry.score(measure.id, measure.version, allowed)
            assert score.prorated
            assert measure.range_min <= score.total <= measure.range_max

    def test_non_numbers_refused(self, registry: MeasureRegistry, measure: Measure) -> None:
        base = self._valid_answers(measure)
        key = measure.item_keys[0]
        for bad in ("3", True, [1], {"v": 1}, math.nan, math.inf):
            with pytest.raises(ResponseError) as caught:
                registry.score(measure.id, measure.version, base | {key: bad})
            assert caught.value.field == f"$.answers.{key}"
            assert repr(bad) not in str(caught.value)

    def test_not_applicable_only_where_allowed(self, registry: MeasureRegistry, measure: Measure) -> None:
        valid = self._valid_answers(measure)
        base = {
            item.key: item.min if valid[item.key] == NOT_APPLICABLE else valid[item.key]
            for item in measure.items
        }
        for item in measure.items:
            answers = base | {item.key: NOT_APPLICABLE}
            if item.allows_na:  # scored by the missing-data rule, recorded as N/A
                score = registry.score(measure.id, measure.version, answers)
                assert score.not_applicable == (item.key,)
                assert measure.range_min <= score.total <= measure.range_max
            else:
                with pytest.raises(ResponseError) as caught:
                    registry.score(measure.id, measure.version, answers)
                assert (caught.value.field, caught.value.rule) == (f"$.answers.{item.key}", "type")

    def test_unknown_items_refused(self, registry: MeasureRegistry, measure: Measure) -> None:
        with pytest.raises(ResponseError) as caught:
            registry.score(measure.id, measure.version, self._valid_answers(measure) | {"not-an-item": 1})
        assert caught.value.rule == "additionalProperties"

    def test_bands_cover_the_range_without_gaps_or_overlaps(
        self, registry: MeasureRegistry, measure: Measure
    ) -> None:
        if not measure.bands:
            # No bands declared (ORS, SRS, WAI-SR): then no score may claim one either.
            for answers in (self._valid_answers(measure),):
                assert registry.score(measure.id, measure.version, answers).band is None
            assert measure.band_for(measure.range_min) is None
            assert measure.band_for(measure.range_max) is None
            return
        check_bands(measure.bands, measure.range_min, measure.range_max, measure.integral_total)
        if measure.integral_total:
            for total in range(int(measure.range_min), int(measure.range_max) + 1):
                holding = [b for b in measure.bands if b.min <= total <= b.max]
                assert len(holding) == 1, f"total {total} is in {len(holding)} bands"

    def test_totals_stay_in_range(self, registry: MeasureRegistry, measure: Measure) -> None:
        # reverse-keyed items reach the lowest total at their maximum answer
        rev = measure.reverse_keyed
        lowest = {item.key: item.max if item.key in rev else item.min for item in measure.items}
        highest = {item.key: item.min if item.key in rev else item.max for item in measure.items}
        totals = {registry.score(measure.id, measure.version, a).total for a in (lowest, highest)}
        assert totals == {measure.range_min, measure.range_max}

    def test_item_text_only_where_licence_allows(self, measure: Measure) -> None:
        if not measure.item_text_allowed:
            assert all(item.text is None for item in measure.items)
