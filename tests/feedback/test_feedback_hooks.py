"""The feedback hooks, through real plugin objects registered in a plugin host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit import hookimpl
from alliancekit.domain.vocab import AlertSeverity
from alliancekit.errors import PluginError
from alliancekit.feedback import AlertRule, Expectation, RuleContext
from alliancekit.feedback.rules import AlertRuleRegistrar, alert_rules
from alliancekit.measures.definition import Measure
from alliancekit.plugins.manager import make_plugin_host

from .conftest import make_clinic, ors


def _every_session(ctx: RuleContext) -> Iterator[None]:
    for _ in ctx.sessions():
        yield None


class LongWaitPlugin:
    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        register(
            AlertRule("myclinic.every-session", AlertSeverity.INFO, "A session was held.", _every_session)
        )


def test_alliancekit_register_alert_rules_adds_a_rule_attributed_to_its_plugin(tmp_path: Path) -> None:
    plugin = LongWaitPlugin()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = alert_rules(host)
    assert registry.supplier("myclinic.every-session") == host.pm.get_name(plugin)
    assert registry.supplier("risk-item-endorsed") == "alliancekit.feedback.builtin"
    assert len(registry) == 13  # ten builtins, the split alliance, the missed measure and the plugin's
    c = make_clinic(tmp_path, plugins=host)
    ep = c.episode()
    c.session(ep, ors(30))
    assert c.rules_raised(ep) == ["myclinic.every-session"]
    (alert,) = c.p.alerts(c.actor, ep).values()
    assert alert.severity is AlertSeverity.INFO


def test_alliancekit_register_alert_rules_clash_names_both_plugins() -> None:
    class Clash:
        @hookimpl
        def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
            register(AlertRule("review-due", "info", "Mine.", _every_session))

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Clash()])
    with pytest.raises(PluginError, match=r"review-due.*alliancekit\.feedback\.builtin"):
        alert_rules(host)


def test_alliancekit_register_alert_rules_refuses_what_is_not_a_rule() -> None:
    class Wrong:
        @hookimpl
        def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
            register({"id": "x"})  # type: ignore[arg-type]

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Wrong()])
    with pytest.raises(PluginError, match="not an AlertRule"):
        alert_rules(host)


class HighBarModel:
    """Expects every ORS client at 30-34 from the second session on, red below 20."""

    def expect(self, measure: Measure, intake: float, session: int) -> Expectation | None:
        return Expectation(session, 32, 30, 34, 20, True, "high-bar")


class HighBarPlugin:
    @hookimpl
    def alliancekit_expectation_model(self, measure: Measure) -> HighBarModel | None:
        return HighBarModel() if measure.id == "ors" else None


def test_alliancekit_expectation_model_supplies_the_expectation(tmp_path: Path) -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[HighBarPlugin()])
    c = make_clinic(tmp_path, plugins=host)
    registry = host.measures()
    found = c.p.expectations.expect(registry.get("ors"), 18, 3)
    assert found is not None
    assert found.source == "high-bar"
    assert c.p.expectations.expect(registry.get("core-10"), 18, 3).source == "norms"  # type: ignore[union-attr]
    ep = c.episode()
    c.session(ep, ors(28))
    c.session(ep, ors(29))  # rising, well inside the norms' band, but below the plugin's 30
    assert c.rules_raised(ep) == ["outcome-below-expected"]


def test_alliancekit_expectation_model_none_falls_back_to_the_builtin(tmp_path: Path) -> None:
    class Silent:
        @hookimpl
        def alliancekit_expectation_model(self, measure: Measure) -> None:
            return None

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Silent()])
    c = make_clinic(tmp_path, plugins=host)
    found = c.p.expectations.expect(host.measures().get("ors"), 18, 3)
    assert found is not None
    assert found.source == "norms"
