# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The alert rule contract: subclass :class:`AlertRuleContract` in a plugin's tests to prove its rules are
sound.

.. code-block:: python

    import my_plugin
    from alliancekit.testing import AlertRuleContract

    class TestMyRules(AlertRuleContract):
        plugin = my_plugin          # the object implementing alliancekit_register_alert_rules

The suite registers the plugin through the real hook next to the builtin rules, then checks each of its rules
on every event of the demo practice's episodes (:mod:`alliancekit.testing.demo`), as the feedback engine
(:mod:`alliancekit.feedback.engine`) relies on: a well-formed, prefixed id and a valid severity; a fixed
message whose only placeholder is ``{measure}``; a ``check`` that never raises (an episode with no scores
included), answers an iterable of registered measure ids, ``None`` or :class:`~alliancekit.feedback.Target`
values (never a string), answers the same when asked again, leaves the states and events it sees unchanged,
and fires only after a command with an event of the types its ``reads`` declares (the engine skips it after
any other). ``rule_ids`` narrows the suite to some rules; by default it checks every rule the plugin
registers. The base class is not collected on its own (``__test__ = False``); subclasses are.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain.vocab import AlertSeverity
from alliancekit.events.types import EVENT_TYPES, AlertRaised, AlertResolved, EpisodeOpened, Event
from alliancekit.feedback.engine import EngineContext, evaluate
from alliancekit.feedback.rules import AlertRule, RuleContext, RuleRegistry, Target, alert_rules
from alliancekit.lifecycle.state import EpisodeState, fold, start
from alliancekit.plugins.manager import PluginHost
from alliancekit.testing.demo import DEMO_ACTOR, PluginContract, demo_practice_path

__all__ = ["AlertRuleContract", "RuleStep", "demo_steps"]

BUILTIN_PLUGIN_NAME = "alliancekit.feedback.builtin"
#: Events the engine writes itself: never a command's own events, so never what a rule is checked after.
_ENGINE_EVENTS = frozenset({AlertRaised.TYPE, AlertResolved.TYPE})


@attrs.frozen
class RuleStep:
    """One command's facts as the engine gives them to a rule: the states before and after, its events."""

    before: EpisodeState
    events: tuple[Event, ...]
    after: EpisodeState


def _steps(events: Sequence[Event], episode_id: str, clinic_id: str) -> Iterator[RuleStep]:
    """Each event of an episode as a command of its own, with the states folded before and after it."""
    opened = events[0]
    assert isinstance(opened, EpisodeOpened)
    state = start(episode_id, clinic_id, opened)
    yield RuleStep(state, (), state)  # a fresh episode: no session, no score
    for event in events[1:]:
        after = fold(state, (event,))
        if event.TYPE not in _ENGINE_EVENTS:
            yield RuleStep(state, (event,), after)
        state = after
    for event in events[1:]:  # a state where everything has happened, then any one event again
        if event.TYPE not in _ENGINE_EVENTS:
            yield RuleStep(state, (event,), state)


def demo_steps(path: Path, host: PluginHost) -> list[tuple[RuleStep, dict[str, Any]]]:
    """Every step of every episode of the demo practice at ``path``, with what a rule context is made of
    besides the step (the practice's feedback settings, measures and expectations)."""
    out: list[tuple[RuleStep, dict[str, Any]]] = []
    with open_practice(path, plugins=host) as practice:
        parts = {
            "config": practice.feedback,
            "measures": host.measures(),
            "expectations": practice.expectations,
        }
        for episode_id in practice.episode_ids(DEMO_ACTOR):
            events = [entry.event for entry in practice.timeline(DEMO_ACTOR, episode_id)]
            out += [(step, parts) for step in _steps(events, episode_id, DEMO_ACTOR.clinic_id)]
    return out


class AlertRuleContract(PluginContract):
    """Checks every alert rule must pass. Set ``plugin`` (the plugin implementing
    ``alliancekit_register_alert_rules``; ``None``: the builtin rules) and optionally ``rule_ids`` in the
    subclass."""

    __test__ = False

    #: the ids of the rules to check; ``None``: every rule the plugin registers
    rule_ids: ClassVar[tuple[str, ...] | None] = None

    # -- fixtures ------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def registry(cls, host: PluginHost) -> RuleRegistry:
        return alert_rules(host)

    @pytest.fixture(scope="class")
    @classmethod
    def rules(cls, registry: RuleRegistry) -> tuple[AlertRule, ...]:
        builtin = cls.plugin is None
        own = tuple(r for r in registry if (registry.supplier(r.id) == BUILTIN_PLUGIN_NAME) is builtin)
        if cls.rule_ids is not None:
            known = {r.id for r in own}
            missing = [rule_id for rule_id in cls.rule_ids if rule_id not in known]
            assert not missing, f"rules not registered by the plugin: {missing}"
            own = tuple(r for r in own if r.id in cls.rule_ids)
        return own

    @pytest.fixture(scope="class")
    @classmethod
    def demo(
        cls, tmp_path_factory: pytest.TempPathFactory, host: PluginHost
    ) -> list[tuple[RuleStep, dict[str, Any]]]:
        return demo_steps(demo_practice_path(tmp_path_factory), host)

    @staticmethod
    def context(step: RuleStep, parts: dict[str, Any]) -> RuleContext:
        """A fresh context for ``step`` (its own memo, as the engine makes one per evaluation)."""
        return RuleContext(step.before, step.events, step.after, **parts)

    @staticmethod
    def fired(rule: AlertRule, ctx: RuleContext) -> list[str | Target | None]:
        """What ``rule`` fires for in ``ctx``, checked to be what the engine accepts."""
        try:
            found = rule.check(ctx)
            answers = None if isinstance(found, str | bytes) else list(found)
        except Exception as exc:
            raise AssertionError(f"{rule.id}: check raised {type(exc).__name__}") from exc
        assert answers is not None, f"{rule.id}: check answered one string, not an iterable"
        for answer in answers:
            assert answer is None or type(answer) is str or isinstance(answer, Target), (
                f"{rule.id}: check answered {type(answer).__name__}, not a measure id, None or a Target"
            )
            measure_id = answer.measure_id if isinstance(answer, Target) else answer
            if measure_id is not None:
                assert ctx.measure(measure_id) is not None, f"{rule.id}: fired for an unregistered measure"
        return answers

    # -- the contract --------------------------------------------------------------------------------

    def test_registers_at_least_one_rule_through_the_hook(self, rules: tuple[AlertRule, ...]) -> None:
        assert rules, "the plugin registered no alert rule"
        assert all(isinstance(rule, AlertRule) for rule in rules)

    def test_ids_are_prefixed_and_stable(self, rules: tuple[AlertRule, ...]) -> None:
        if self.plugin is not None:  # a plugin's own prefix keeps it clear of later builtin rules
            for rule in rules:
                assert "." in rule.id, f"{rule.id}: prefix a plugin's rule ids (myclinic.long-wait)"
        # registered again, in a new host, the rules are the same, in the same order
        again = alert_rules(self.plugin_host())
        ids = {rule.id for rule in rules}
        assert [(r.id, r.severity, r.message, r.reads) for r in again if r.id in ids] == [
            (r.id, r.severity, r.message, r.reads) for r in rules
        ]

    def test_severity_is_one_of_the_documented(self, rules: tuple[AlertRule, ...]) -> None:
        for rule in rules:
            assert isinstance(rule.severity, AlertSeverity), rule.id
            assert rule.severity in set(AlertSeverity)

    def test_message_is_fixed_text_naming_at_most_the_measure(
        self, rules: tuple[AlertRule, ...], host: PluginHost
    ) -> None:
        measure = host.measures().get("ors")
        for rule in rules:
            for text in (rule.message_for(None), rule.message_for(measure)):
                assert "{" not in text, f"{rule.id}: only {{measure}} is replaced"
                assert "}" not in text, f"{rule.id}: only {{measure}} is replaced"
                assert text.strip(), rule.id
                assert len(text) <= 300, rule.id

    def test_reads_names_event_types(self, rules: tuple[AlertRule, ...]) -> None:
        for rule in rules:
            if rule.reads is not None:
                assert rule.reads, f"{rule.id}: reads is empty: the engine would never check it"
                unknown = sorted(set(rule.reads) - set(EVENT_TYPES))
                assert not unknown, f"{rule.id}: reads names event types that do not exist: {unknown}"

    def test_check_answers_what_the_engine_accepts_and_never_raises(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        assert demo
        for step, parts in demo:
            ctx = self.context(step, parts)
            for rule in rules:
                self.fired(rule, ctx)

    def test_check_on_an_episode_with_no_scores(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        fresh = [(s, p) for s, p in demo if not s.events]
        assert fresh
        for step, parts in fresh:
            for rule in rules:
                self.fired(rule, self.context(step, parts))

    def test_check_is_deterministic(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        for step, parts in demo:
            for rule in rules:
                first = self.fired(rule, self.context(step, parts))
                assert self.fired(rule, self.context(step, parts)) == first, rule.id

    def test_check_leaves_states_and_events_unchanged(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        for step, parts in demo:
            kept = copy.deepcopy(step)
            ctx = self.context(step, parts)
            for rule in rules:
                self.fired(rule, ctx)
                assert step == kept, f"{rule.id}: check changed the state or events it was given"
                assert (ctx.before, ctx.events, ctx.after) == (step.before, step.events, step.after), rule.id

    def test_fires_only_after_the_events_it_reads(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        # the engine skips a rule after a command with none of the types it reads: it must not fire then
        for step, parts in demo:
            kinds = {event.TYPE for event in step.events}
            for rule in rules:
                if rule.reads is not None and rule.reads.isdisjoint(kinds):
                    fired = self.fired(rule, self.context(step, parts))
                    assert not fired, (
                        f"{rule.id}: fired after {sorted(kinds) or 'no event'}, which its reads leaves out"
                    )

    def test_the_engine_raises_its_alerts(
        self, rules: tuple[AlertRule, ...], demo: list[tuple[RuleStep, dict[str, Any]]]
    ) -> None:
        # through the engine itself: a wrong answer or an exception would be a PluginError here
        for step, parts in demo:
            if not step.after.is_open or not step.events:
                continue
            context = EngineContext(
                config=parts["config"],
                rules=rules,
                measures=parts["measures"],
                new_id=lambda i: f"contract-alert-{i}",
                expectations=parts["expectations"],
            )
            for alert in evaluate(step.before, step.events, step.after, context):
                if isinstance(alert, AlertRaised):
                    assert alert.rule_id in {rule.id for rule in rules}
                    assert alert.severity in set(AlertSeverity)
