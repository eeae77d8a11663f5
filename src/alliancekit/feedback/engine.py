"""Rule evaluation: after a command's events are decided, the facade asks :func:`evaluate` for alerts.

The alerts (and the automatic resolution of review-due alerts when a review is recorded) join the same
commit as the command's own events: one transaction, so a session is never stored without the alerts its
scores raise. An active alert (raised or acknowledged) is not raised again by the same rule for the same
measure; a rule marked ``once_per_episode`` is never raised twice in an episode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING

import attrs

from alliancekit.errors import AlliancekitError, PluginError
from alliancekit.events.identity_cache import IdentityCache
from alliancekit.events.types import AlertRaised, AlertResolved, Event, ReviewRecorded
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.rules import AlertRule, RuleContext, Target
from alliancekit.lifecycle.state import EpisodeState, alert_key, fold
from alliancekit.protocols.definition import MeasurementProtocol

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.feedback.expectation import Expectations
    from alliancekit.measures.definition import Measure
    from alliancekit.measures.registry import MeasureRegistry

#: The note written when a progress review resolves a review-due alert.
REVIEW_RESOLUTION_NOTE = "Resolved automatically: a progress review was recorded."


@attrs.frozen
class EngineContext:
    """What evaluation needs besides the states and events: settings, rules, measures, ids."""

    config: FeedbackConfig
    rules: Sequence[AlertRule]
    measures: MeasureRegistry
    new_id: Callable[[int], str] = attrs.field(repr=False)
    """``new_id(i)`` names the i-th alert of this command (derived from the idempotency key if any)."""
    expectations: Expectations | None = None
    measure_cache: dict[object, object] = attrs.field(factory=dict, repr=False)
    """Measures by id across evaluations (the practice keeps one per plugin host)."""
    protocol: MeasurementProtocol | None = None
    """The measurement protocol the episode follows, for rules about missed measures."""
    rule_suppliers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """Rule id -> the plugin that registered it, named when its check raises."""
    stored: Callable[[str], Measure | None] | None = attrs.field(default=None, repr=False)
    """A measure no plugin registers, by its latest definition stored with the data (the practice reads
    them only when a rule asks, within the command's decided and audited call): see
    :meth:`~alliancekit.feedback.rules.RuleContext.measure`."""


def evaluate(
    before: EpisodeState, events: Sequence[Event], after: EpisodeState, context: EngineContext
) -> list[Event]:
    """Alerts raised by ``events`` (and review-due alerts a recorded review resolves), to append."""
    if not context.config.enabled or not after.is_open or not events:
        return []
    events = tuple(events)  # the rules' view: the command's own list is what its commit writes
    kinds = frozenset([event.TYPE for event in events])
    out: list[Event] = _resolved_by_review(events, after, context) if ReviewRecorded.TYPE in kinds else []
    state = fold(after, out) if out else after
    day = after.last_activity_on or after.opened_on
    # the alerts already active and ever raised, worked out when a rule first fires (most commands raise
    # none: the sets of a long episode's alerts are not built for nothing)
    active: set[str] | None = None
    ever: set[str] = set()
    memo: dict[object, object] = dict(context.measure_cache)
    config, measures, expectations = context.config, context.measures, context.expectations

    def rule_context() -> RuleContext:
        return RuleContext(
            before,
            events,
            state,
            config,
            measures,
            expectations,
            memo,
            protocol=context.protocol,
            stored=context.stored,
        )

    ctx = rule_context()
    for rules in _phases(context.rules, kinds):
        if ctx.after is not state:  # the phase before raised alerts: later rules see them folded in
            ctx = rule_context()
        raised: list[Event] = []
        for rule in rules:
            for measure_id, participant in _fired(rule, ctx, context.rule_suppliers.get(rule.id)):
                if active is None:
                    active = {alert.key for alert in state.alerts.values()}
                    ever = set(state.alert_keys_raised)
                key = alert_key(rule.id, measure_id, participant)
                if key in active or (rule.once_per_episode and key in ever):
                    continue
                raised.append(
                    AlertRaised(
                        alert_id=context.new_id(len(out) + len(raised)),
                        rule_id=rule.id,
                        severity=rule.severity,
                        message=rule.message_for(ctx.measure(measure_id) if measure_id is not None else None),
                        raised_on=day,
                        at_session=state.sessions_scheduled,
                        measure_id=measure_id,
                        participant=participant,
                    )
                )
                active.add(key)
                ever.add(key)
        if raised:
            # rules checked after the others (review-due) see this phase's alerts folded in
            state = fold(state, raised)
            out += raised
    # measures looked up by id stay valid as long as the registry (built once per plugin host) and the
    # stored definitions (never changed once stored); an id neither describes is looked up again next time
    context.measure_cache.update(
        (k, v) for k, v in memo.items() if isinstance(k, tuple) and k[0] == "measure" and v is not None
    )
    return out


_Phases = tuple[tuple[AlertRule, ...], tuple[AlertRule, ...]]


def _phases(rules: Sequence[AlertRule], kinds: frozenset[str]) -> _Phases:
    """The rules to check after a command whose events are of ``kinds`` (those that read none of them are
    skipped: they cannot fire), as those checked first and those checked after the first ones' alerts are
    folded in. Kept by the identity of a tuple of rules (a practice asks with the same one every time; a
    list may change) and the kinds: the split is worked out once per kind of command, not per command."""
    if type(rules) is not tuple:
        return _split(rules, kinds)
    by_kinds = _phased.get(rules, lambda _: {})
    found = by_kinds.get(kinds)
    if found is None:
        found = by_kinds[kinds] = _split(rules, kinds)
    return found


def _split(rules: Sequence[AlertRule], kinds: frozenset[str]) -> _Phases:
    relevant = [rule for rule in rules if rule.reads is None or not rule.reads.isdisjoint(kinds)]
    return (
        tuple(rule for rule in relevant if not rule.after_alerts),
        tuple(rule for rule in relevant if rule.after_alerts),
    )


_phased: IdentityCache[dict[frozenset[str], _Phases]] = IdentityCache(64)


def _fired(rule: AlertRule, ctx: RuleContext, supplier: str | None) -> list[tuple[str | None, str | None]]:
    """What the rule fires for, as (measure, participant) pairs, each once."""
    # A broken rule must not silently drop alerts, nor leak client data: it fails the command, named.
    # PluginCall's rule, spelled out: a with block costs about 0.5 µs, and about ten rules run per command.
    fired: list[tuple[str | None, str | None]] = []
    try:
        found = rule.check(ctx)
        if isinstance(found, str):  # iterated, each letter would be a measure id
            raise _wrong_targets(rule, supplier)
        for t in found:
            if isinstance(t, Target):
                pair = (t.measure_id, t.participant)
            elif t is None or type(t) is str:
                pair = (t, None)
            else:  # recorded, it would be an alert about no measure anyone can look up
                raise _wrong_targets(rule, supplier)
            if pair not in fired:  # a rule fires for a handful of measures at most
                fired.append(pair)
    except AlliancekitError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a rule raises becomes a PluginError
        raise PluginError.raised_in(f"alert rule {rule.id} check", supplier, exc) from None
    return fired


def _wrong_targets(rule: AlertRule, supplier: str | None) -> PluginError:
    return PluginError.wrong_answer(
        f"alert rule {rule.id} check", supplier, "an iterable of measure ids, None or Target values"
    )


def _resolved_by_review(events: Sequence[Event], after: EpisodeState, context: EngineContext) -> list[Event]:
    reviews = [e for e in events if isinstance(e, ReviewRecorded)]
    if not reviews:
        return []
    by_review = {rule.id for rule in context.rules if rule.resolved_by_review}
    on: date = reviews[-1].review.held_on
    return [
        AlertResolved(alert_id, on, REVIEW_RESOLUTION_NOTE)
        for alert_id, alert in sorted(after.alerts.items())
        if alert.rule_id in by_review
    ]
