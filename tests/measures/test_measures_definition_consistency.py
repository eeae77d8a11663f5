"""A definition's norms, cutoffs and answer options agree with its item and total ranges, at registration.

A sample mean outside the score range, a reliable change wider than it, a cutoff no total can meet, an
answer option no item takes: each was registered, and showed up later as a comparison that could never hold
or an answer that could not be submitted. Each rule is tested at its boundary, on both sides.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit.errors import MeasureDefinitionError
from alliancekit.measures.builtin import BUILTIN_MEASURES, load_builtin_definition
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.testing.measures import measure_registry

Change = Callable[[dict[str, Any]], Any]


def _cutoff(value: float, side: str) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["norms"][0]["clinical_cutoff"].update(value=value, clinical_if=side)
        for example in d["examples"]:  # what the examples declare follows the old cutoff
            example.pop("clinical", None)

    return change


def _sample(key: str, mean: float, sd: float = 7.7, *, alone: bool = False) -> Change:
    """Set a sample of CORE-10's norm (clinical mean 19.7, non-clinical 4.7); ``alone``: without the other
    sample, so that a mean is checked against the range only, not against the other sample."""

    def change(d: dict[str, Any]) -> None:
        d["norms"][0].update({key: {"mean": mean, "sd": sd, "cite": {"ref": "connell2007"}}})
        if alone:
            d["norms"][0].pop(({"clinical_sample", "nonclinical_sample"} - {key}).pop())

    return change


def _norm(key: str, value: dict[str, Any]) -> Change:
    return lambda d: d["norms"][0].update({key: {**value, "cite": {"ref": "kroenke2001"}}})


def _options(*values: float) -> Change:
    return lambda d: d.update(
        answer_options=[{"value": v, "label": f"option {i}"} for i, v in enumerate(values)]
    )


def _risk(threshold: float) -> Change:
    def change(d: dict[str, Any]) -> None:
        d["risk_items"][0].update(threshold=threshold)
        for example in d["examples"]:  # what the examples declare follows the old threshold
            example.pop("risk_items", None)

    return change


#: (definition, change, None when taken else (path, rule)). PHQ-9: items 0-3 step 1, total 0-27;
#: CORE-10: total 0-40, a clinical sample.
CASES: dict[str, tuple[str, Change, tuple[str, str] | None]] = {
    "cutoff at the minimum": ("phq-9-1.0", _cutoff(0, "at-or-above"), None),
    "cutoff below the minimum": ("phq-9-1.0", _cutoff(-1, "at-or-above"), ("clinical_cutoff.value", "range")),
    "cutoff at the maximum": ("ors-1.0", _cutoff(40, "at-or-below"), None),
    "cutoff above the maximum": (
        "ors-1.0",
        _cutoff(40.5, "at-or-below"),
        ("clinical_cutoff.value", "range"),
    ),
    "below the minimum: nobody": (
        "ors-1.0",
        _cutoff(0, "below"),
        ("clinical_cutoff.clinical_if", "unreachable"),
    ),
    "below one above the minimum": ("ors-1.0", _cutoff(0.5, "below"), None),
    "at or below the minimum": ("ors-1.0", _cutoff(0, "at-or-below"), None),
    "above the maximum: nobody": (
        "phq-9-1.0",
        _cutoff(27, "above"),
        ("clinical_cutoff.clinical_if", "unreachable"),
    ),
    "above just under the maximum": ("phq-9-1.0", _cutoff(26.5, "above"), None),
    "at or above the maximum": ("phq-9-1.0", _cutoff(27, "at-or-above"), None),
    "clinical mean at the minimum": ("core-10-1.0", _sample("clinical_sample", 0, alone=True), None),
    "clinical mean below the minimum": (
        "core-10-1.0",
        _sample("clinical_sample", -0.1),
        ("clinical_sample.mean", "range"),
    ),
    "clinical mean at the maximum": ("core-10-1.0", _sample("clinical_sample", 40), None),
    "clinical mean above the maximum": (
        "core-10-1.0",
        _sample("clinical_sample", 40.1),
        ("clinical_sample.mean", "range"),
    ),
    "nonclinical mean in range": ("core-10-1.0", _sample("nonclinical_sample", 40, alone=True), None),
    "nonclinical mean out of range": (
        "core-10-1.0",
        _sample("nonclinical_sample", 41),
        ("nonclinical_sample.mean", "range"),
    ),
    "sample sd just above zero": ("core-10-1.0", _sample("clinical_sample", 19.7, sd=0.01), None),
    "sample sd zero": (
        "core-10-1.0",
        _sample("clinical_sample", 19.7, sd=0),
        ("clinical_sample.sd", "exclusiveMinimum"),
    ),
    # Higher is worse on PHQ-9 and CORE-10, better on the ORS: clinical lies on the worse side.
    "worse side, higher is worse": ("phq-9-1.0", _cutoff(10, "above"), None),
    "better side, higher is worse": (
        "phq-9-1.0",
        _cutoff(10, "at-or-below"),
        ("clinical_cutoff.clinical_if", "direction"),
    ),
    "worse side, higher is better": ("ors-1.0", _cutoff(25, "at-or-below"), None),
    "better side, higher is better": (
        "ors-1.0",
        _cutoff(25, "at-or-above"),
        ("clinical_cutoff.clinical_if", "direction"),
    ),
    "nonclinical just better than clinical": ("core-10-1.0", _sample("nonclinical_sample", 19.6), None),
    "nonclinical as bad as clinical": (
        "core-10-1.0",
        _sample("nonclinical_sample", 19.7),
        ("nonclinical_sample.mean", "direction"),
    ),
    "nonclinical worse than clinical": (
        "core-10-1.0",
        _sample("nonclinical_sample", 19.8),
        ("nonclinical_sample.mean", "direction"),
    ),
    "reliable change the whole range": ("phq-9-1.0", _norm("reliable_change", {"points": 27}), None),
    "reliable change wider than the range": (
        "phq-9-1.0",
        _norm("reliable_change", {"points": 27.5}),
        ("reliable_change.points", "range"),
    ),
    "reliable change just above zero": ("phq-9-1.0", _norm("reliable_change", {"points": 0.01}), None),
    "reliable change zero": (
        "phq-9-1.0",
        _norm("reliable_change", {"points": 0}),
        ("reliable_change.points", "exclusiveMinimum"),
    ),
    "reliable change negative": (
        "phq-9-1.0",
        _norm("reliable_change", {"points": -6}),
        ("reliable_change.points", "exclusiveMinimum"),
    ),
    "reliability just below one": ("phq-9-1.0", _norm("reliability", {"value": 0.99}), None),
    "reliability one": (
        "phq-9-1.0",
        _norm("reliability", {"value": 1}),
        ("reliability.value", "exclusiveMaximum"),
    ),
    "reliability zero": (
        "phq-9-1.0",
        _norm("reliability", {"value": 0}),
        ("reliability.value", "exclusiveMinimum"),
    ),
}

#: Answer options are shared by every item: (change, None or (path, rule)), on PHQ-9 (items 0-3, step 1).
OPTIONS: dict[str, tuple[Change, tuple[str, str] | None]] = {
    "the item's range": (_options(0, 1, 2, 3), None),
    "below the item's minimum": (_options(-1, 0, 1, 2), ("$.answer_options[0].value", "range")),
    "above the item's maximum": (_options(1, 2, 3, 4), ("$.answer_options[3].value", "range")),
    "off the item's step": (_options(0, 1, 1.5, 3), ("$.answer_options[2].value", "step")),
    "two options with one value": (_options(0, 1, 1, 3), ("$.answer_options[2].value", "unique")),
    "fewer options, all in range": (_options(0, 3), None),
    "risk threshold just above the minimum": (_risk(0.5), None),
    "risk threshold at the minimum": (_risk(0), ("$.risk_items[0].threshold", "range")),
    "risk threshold at the maximum": (_risk(3), None),
    "risk threshold above the maximum": (_risk(3.5), ("$.risk_items[0].threshold", "range")),
}


def _load(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads(json.dumps(load_builtin_definition(name))))


def _registered(d: dict[str, Any]) -> None:
    d["id"] = f"{d['id']}-test"  # not the builtin's id: registered alone, examples scored
    MeasureRegistry().add(d, "test")


@pytest.mark.parametrize("case", sorted(CASES))
def test_norms_and_cutoffs_agree_with_the_score_range(case: str) -> None:
    name, change, refused = CASES[case]
    d = _load(name)
    change(d)
    if refused is None:
        _registered(d)
        return
    with pytest.raises(MeasureDefinitionError) as caught:
        _registered(d)
    assert (caught.value.field, caught.value.rule) == (f"$.norms[0].{refused[0]}", refused[1])


@pytest.mark.parametrize("case", sorted(OPTIONS))
def test_answer_options_and_risk_thresholds_agree_with_the_items(case: str) -> None:
    change, refused = OPTIONS[case]
    d = _load("phq-9-1.0")
    change(d)
    if refused is None:
        _registered(d)
        return
    with pytest.raises(MeasureDefinitionError) as caught:
        _registered(d)
    assert (caught.value.field, caught.value.rule) == refused


def test_a_contradiction_from_a_plugin_names_the_plugin_the_path_and_the_rule() -> None:
    bad = _load("gad-7-1.0")
    bad["id"] = "gad-7-contradicted"
    bad["norms"][0]["reliable_change"]["points"] = 21.5  # GAD-7 totals run 0-21

    class Contradicted:
        @hookimpl
        def alliancekit_register_measures(self, register: Any) -> None:
            register(bad)

    with pytest.raises(MeasureDefinitionError) as caught:
        measure_registry(Contradicted())
    error = caught.value
    assert (error.field, error.rule) == ("$.norms[0].reliable_change.points", "range")
    assert error.plugin is not None
    assert repr(error.plugin) in str(error)
    assert "$.norms[0].reliable_change.points: range" in str(error)
    assert "21.5" not in str(error)


@pytest.mark.parametrize("name", BUILTIN_MEASURES)
def test_every_published_definition_passes_the_consistency_rules(name: str) -> None:
    MeasureRegistry().add(load_builtin_definition(name), "test")
