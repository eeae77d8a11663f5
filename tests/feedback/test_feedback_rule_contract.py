"""The builtin alert rules pass the contract a rule plugin must pass, and a broken rule fails it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
import pytest

from alliancekit import hookimpl
from alliancekit.domain.vocab import AlertSeverity
from alliancekit.events.types import SessionRecorded
from alliancekit.feedback.rules import (
    SCORED_EVENTS,
    SESSION_EVENTS,
    AlertRule,
    AlertRuleRegistrar,
    RuleContext,
    Target,
)
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.testing import AlertRuleContract
from alliancekit.testing.demo import demo_practice_path
from alliancekit.testing.rules import RuleStep, demo_steps

Steps = list[tuple[RuleStep, dict[str, Any]]]


class TestBuiltinRules(AlertRuleContract):
    """Every builtin rule, registered by the builtin feedback plugin."""


class _RulePlugin:
    """A plugin registering one rule: the one under test."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule

    @hookimpl
    def alliancekit_register_alert_rules(self, register: AlertRuleRegistrar) -> None:
        register(self.rule)


def _risk(ctx: RuleContext) -> Iterator[Target]:
    for _, score in ctx.new_scores():
        if score.risk_items:
            yield Target(score.measure_id, score.about)


def _rule(check: Callable[[RuleContext], Any], **changes: Any) -> AlertRule:
    """A rule reading the scored events (all those ``new_scores`` reads), changed by ``changes``."""
    rule = AlertRule("contract.risk", AlertSeverity.URGENT, "Risk on {measure}.", check, reads=SCORED_EVENTS)
    return attrs.evolve(rule, **changes)


class TestASoundPluginRule(AlertRuleContract):
    plugin = _RulePlugin(_rule(_risk))


def test_the_abstract_contract_is_not_collected() -> None:
    assert AlertRuleContract.__test__ is False
    assert TestBuiltinRules.__test__ is True
    assert TestASoundPluginRule.__test__ is True


# -- broken rules fail the contract ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> Steps:
    return demo_steps(demo_practice_path(tmp_path_factory), make_plugin_host(load_entry_points=False))


def _fails(test: str, rule: AlertRule, steps: Steps) -> str:
    """Run one test of the contract for a plugin registering ``rule``; the AssertionError's message."""
    suite = type("Broken", (AlertRuleContract,), {"plugin": _RulePlugin(rule)})()
    method = getattr(suite, test)
    kwargs = {"rules": (rule,), "demo": steps}
    wanted = method.__code__.co_varnames[1 : method.__code__.co_argcount]
    with pytest.raises(AssertionError) as failed:
        method(**{name: kwargs[name] for name in wanted})
    return str(failed.value)


def test_a_sound_rule_passes_what_the_broken_ones_fail(steps: Steps) -> None:
    suite = TestASoundPluginRule()
    rules = (_rule(_risk),)
    suite.test_check_answers_what_the_engine_accepts_and_never_raises(rules, steps)
    suite.test_check_is_deterministic(rules, steps)
    suite.test_check_leaves_states_and_events_unchanged(rules, steps)
    suite.test_fires_only_after_the_events_it_reads(rules, steps)
    suite.test_ids_are_prefixed_and_stable(rules)


def test_a_rule_answering_a_string_fails(steps: Steps) -> None:
    def one_string(ctx: RuleContext) -> Any:
        return "ors" if ctx.after.sessions_attended else ()

    message = _fails("test_check_answers_what_the_engine_accepts_and_never_raises", _rule(one_string), steps)
    assert "one string" in message


def test_a_rule_answering_a_number_or_an_unknown_measure_fails(steps: Steps) -> None:
    def numbers(ctx: RuleContext) -> Iterable[Any]:
        return [1] if ctx.after.sessions_attended else []

    def unknown(ctx: RuleContext) -> Iterable[Any]:
        return ["no-such-measure"] if ctx.after.sessions_attended else []

    test = "test_check_answers_what_the_engine_accepts_and_never_raises"
    assert "int" in _fails(test, _rule(numbers), steps)
    assert "unregistered measure" in _fails(test, _rule(unknown), steps)


def test_a_rule_that_raises_on_an_episode_with_no_scores_fails(steps: Steps) -> None:
    def first_score(ctx: RuleContext) -> Iterable[str]:
        return [next(iter(ctx.after.latest_scores))]  # StopIteration before any score

    message = _fails("test_check_on_an_episode_with_no_scores", _rule(first_score), steps)
    assert message == "contract.risk: check raised StopIteration"


def test_a_rule_that_is_not_deterministic_fails(steps: Steps) -> None:
    calls = iter(range(1_000_000))

    def alternating(ctx: RuleContext) -> Iterable[None]:
        return [None] if next(calls) % 2 else []

    _fails("test_check_is_deterministic", _rule(alternating), steps)


def test_a_rule_that_changes_its_events_fails(tmp_path_factory: pytest.TempPathFactory) -> None:
    # steps of its own: the rule spoils the events it is shown
    steps = demo_steps(demo_practice_path(tmp_path_factory), make_plugin_host(load_entry_points=False))

    def meddling(ctx: RuleContext) -> Iterable[None]:
        for event in ctx.events:
            if isinstance(event, SessionRecorded):
                object.__setattr__(event, "scores", ())  # frozen, but not to a determined rule
        return []

    assert "changed" in _fails("test_check_leaves_states_and_events_unchanged", _rule(meddling), steps)


def test_a_rule_that_fires_outside_what_it_reads_fails(steps: Steps) -> None:
    def any_review(ctx: RuleContext) -> Iterable[None]:
        return [None] if any(e.TYPE == "review-recorded" for e in ctx.events) else []

    message = _fails(
        "test_fires_only_after_the_events_it_reads", _rule(any_review, reads=SESSION_EVENTS), steps
    )
    assert "review-recorded" in message


def test_an_unprefixed_id_or_a_placeholder_fails() -> None:
    assert "prefix" in _fails("test_ids_are_prefixed_and_stable", _rule(_risk, id="long-wait"), [])
    bad = _rule(_risk, message="{measure} fell to {score}.")
    suite = type("Broken", (AlertRuleContract,), {"plugin": _RulePlugin(bad)})()
    with pytest.raises(AssertionError):
        suite.test_message_is_fixed_text_naming_at_most_the_measure(
            (bad,), make_plugin_host(load_entry_points=False)
        )
    with pytest.raises(AssertionError):
        suite.test_reads_names_event_types((_rule(_risk, reads=frozenset({"no-such-event"})),))
