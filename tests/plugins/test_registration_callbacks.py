"""What a plugin does with the ``register`` callback of a registration hook: every refusal is a PluginError
whose ``plugin`` and ``hook`` name the plugin and the hook, and nothing registers outside the hook's call."""

from __future__ import annotations

import copy
import types
from collections.abc import Callable
from typing import Any

import pytest

from alliancekit import hookimpl
from alliancekit.errors import MeasureDefinitionError, PluginError, ValidationError
from alliancekit.feedback import AlertRule
from alliancekit.feedback.rules import alert_rules
from alliancekit.plugins.manager import PluginHost, make_plugin_host

#: A small, valid, synthetic definition (2 items scored 0-4, no bands).
DEFINITION: dict[str, Any] = {
    "id": "probe",
    "version": "1.0",
    "title": "Synthetic probe scale",
    "kind": "symptom",
    "direction": "higher-is-worse",
    "licence": {"notice": "Synthetic.", "item_text": False, "cite": {"ref": "synthetic"}},
    "references": {"synthetic": "A synthetic reference."},
    "source": {"ref": "synthetic"},
    "items": [{"key": f"q{i}", "label": f"Item {i}", "min": 0, "max": 4, "step": 1} for i in (1, 2)],
    "scoring": {"method": "sum", "reverse_keyed": [], "missing": {"policy": "refuse"}},
    "range": {"min": 0, "max": 8},
}


def plugin(name: str, hook: str, implementation: Callable[..., Any]) -> types.ModuleType:
    module = types.ModuleType(name)
    setattr(module, hook, hookimpl(implementation))
    return module


def measures_plugin(name: str, implementation: Callable[[Any], Any]) -> types.ModuleType:
    return plugin(name, "alliancekit_register_measures", implementation)


def host_with(*plugins: object) -> PluginHost:
    return make_plugin_host(load_entry_points=False, extra_plugins=plugins)


def test_a_broken_definition_is_a_plugin_error_too() -> None:
    broken = copy.deepcopy(DEFINITION)
    broken["items"][1]["key"] = "q1"
    with pytest.raises(PluginError) as caught:  # the family a host catches for "a plugin is broken"
        host_with(measures_plugin("brokenplug", lambda register: register(broken))).measures()
    error = caught.value
    assert isinstance(error, MeasureDefinitionError)
    assert (error.plugin, error.hook, error.field, error.rule) == (
        "brokenplug",
        "alliancekit_register_measures",
        "$.items[1].key",
        "unique",
    )


def test_a_clash_names_the_later_plugin_and_the_hook() -> None:
    first = measures_plugin("first", lambda register: register(copy.deepcopy(DEFINITION)))
    second = measures_plugin("second", lambda register: register(copy.deepcopy(DEFINITION)))
    with pytest.raises(PluginError) as caught:
        host_with(first, second).measures()
    assert (caught.value.plugin, caught.value.hook) == ("second", "alliancekit_register_measures")
    assert str(caught.value).startswith("measure probe version 1.0 registered by both 'first' and 'second'")


def test_one_plugin_registering_a_rule_twice_is_told_so() -> None:
    rule = AlertRule("probe.twice", "info", "Twice.", lambda ctx: ())
    twice = plugin(
        "twice", "alliancekit_register_alert_rules", lambda register: (register(rule), register(rule))
    )
    with pytest.raises(PluginError) as caught:
        alert_rules(host_with(twice))
    assert str(caught.value) == "alert rule probe.twice registered twice by 'twice'"
    assert (caught.value.plugin, caught.value.hook) == ("twice", "alliancekit_register_alert_rules")


@pytest.mark.parametrize(
    ("severity", "rule_id", "field", "says"),
    [
        ("critical", "probe.severity", "rule.severity", "enum (one of info, amber, red, urgent)"),
        (None, "probe.severity", "rule.severity", "enum (one of info, amber, red, urgent)"),
        ("red", "Probe Rule", "rule.id", "format (lowercase words joined by hyphens, after a prefix"),
    ],
    ids=["unknown-severity", "no-severity", "bad-id"],
)
def test_an_alert_rule_a_plugin_builds_wrongly_is_refused_naming_the_field(
    severity: Any, rule_id: str, field: str, says: str
) -> None:
    # Before: a severity that is not one was a bare ValueError from AlertSeverity, which reached the host
    # as "plugin 'ruled' failed in alliancekit_register_alert_rules: ValueError", naming no field
    built = plugin(
        "ruled",
        "alliancekit_register_alert_rules",
        lambda register: register(AlertRule(rule_id, severity, "Synthetic.", lambda ctx: ())),
    )
    with pytest.raises(ValidationError) as caught:
        alert_rules(host_with(built))
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: {says}")


def test_a_register_kept_and_called_after_the_hook_is_refused_and_changes_nothing() -> None:
    kept: list[Callable[[Any], None]] = []

    def keeps(register: Any) -> None:
        kept.append(register)
        register(copy.deepcopy(DEFINITION))

    registry = host_with(measures_plugin("keeper", keeps)).measures()
    later = copy.deepcopy(DEFINITION)
    later["version"] = "2.0"
    with pytest.raises(PluginError) as caught:
        kept[0](later)
    assert (caught.value.plugin, caught.value.hook) == ("keeper", "alliancekit_register_measures")
    assert str(caught.value).startswith(
        "plugin 'keeper' called the register of alliancekit_register_measures"
    )
    assert registry.latest_version("probe") == "1.0"


def test_returning_contributions_instead_of_registering_them_is_refused() -> None:
    returns = measures_plugin("returner", lambda register: [copy.deepcopy(DEFINITION)])
    with pytest.raises(PluginError) as caught:
        host_with(returns).measures()
    assert str(caught.value) == (
        "plugin 'returner' returned from alliancekit_register_measures something other than None "
        "(register each contribution with register)"
    )


@pytest.mark.parametrize(
    ("hook", "wrong", "takes"),
    [
        ("alliancekit_register_measures", lambda register: register(DEFINITION, "1.0"), "definition"),
        ("alliancekit_register_measures", lambda register: register(), "definition"),
        ("alliancekit_register_stores", lambda register: register("probe_store"), "scheme, opener"),
    ],
)
def test_a_register_called_with_wrong_arguments_says_what_it_takes(
    hook: str, wrong: Callable[[Any], Any], takes: str
) -> None:
    """Before: ``plugin 'wrongcall' failed in alliancekit_register_measures: TypeError``, which said neither
    that the plugin called register wrongly nor what register takes."""
    host = host_with(plugin("wrongcall", hook, wrong))
    build = host.measures if hook == "alliancekit_register_measures" else host.stores
    with pytest.raises(PluginError) as caught:
        build()
    assert str(caught.value) == (
        f"plugin 'wrongcall' called the register of {hook} with arguments it does not take (it takes: "
        f"{takes}); see alliancekit.plugins.hookspecs.{hook}"
    )
    assert (caught.value.plugin, caught.value.hook) == ("wrongcall", hook)
