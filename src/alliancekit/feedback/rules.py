"""Alert rules: what a rule is, what it sees, and the registry the ``alliancekit_register_alert_rules`` hook
fills.

A rule has an id, a severity and a fixed plain-language message, and a ``check`` that looks at one
command's facts (the state before, the new events, the state after) and returns the measures it fires for
(``None`` for a rule about the episode rather than a measure), or a :class:`Target` naming the participant
as well, in an episode with several. The message may name the measure
(``{measure}`` is replaced by its title); it never holds client words or scores, so it is safe to show in a
list, send in a notification or write to a log.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.reprs import hidden
from alliancekit.domain.vocab import AlertSeverity, Attendance, Rater
from alliancekit.errors import PluginError, ValidationError
from alliancekit.events.types import (
    ClientResponseRecorded,
    Event,
    RecordedScore,
    ScorePoint,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.i18n import N_, translate
from alliancekit.lifecycle.state import EpisodeState, track_key
from alliancekit.measures.definition import Measure
from alliancekit.protocols.definition import MeasurementProtocol

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.feedback.expectation import Expectations
    from alliancekit.measures.registry import MeasureRegistry
    from alliancekit.plugins.manager import PluginHost

_THE_MEASURE = N_("the measure")
#: What the memo gives for a measure not looked up yet (``None`` is an unknown measure's entry).
_UNLOOKED: Any = object()
_RULE_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z0-9]+(-[a-z0-9]+)*)*$")


@attrs.frozen
class Target:
    """What a rule fires for when it is about one participant of an episode with several."""

    measure_id: str | None
    participant: str | None = attrs.field(default=None, repr=hidden)
    """The participant's host reference; ``None``: the identified client (or the episode as a whole)."""


@attrs.frozen
class ScoredMeasure:
    """A measure scored in this command: intake and latest totals, and the latest's session index."""

    measure: Measure
    intake: float
    latest: float
    session: int
    """Counted from the intake's session (1 = the intake's own session)."""
    participant: str | None = attrs.field(default=None, repr=hidden)
    """Whose self-ratings these are, when not the identified client's."""

    @property
    def target(self) -> Target:
        return Target(self.measure.id, self.participant)


@attrs.frozen
class RuleContext:
    """What a rule's ``check`` sees for one command."""

    before: EpisodeState
    events: Sequence[Event]
    after: EpisodeState
    config: FeedbackConfig
    measures: MeasureRegistry
    expectations: Expectations | None = None
    memo: dict[Any, Any] = attrs.field(factory=dict, repr=False, eq=False)
    """Per-evaluation cache shared by the rules (and, through the engine, measures looked up by id)."""
    protocol: MeasurementProtocol | None = None
    """The measurement protocol the episode follows (its own, else its clinic's), if any."""
    stored: Callable[[str], Measure | None] | None = attrs.field(default=None, repr=False, eq=False)
    """A measure no plugin registers, by the latest definition stored with the data (``None``: none
    stored), for :meth:`measure`: read only when a rule asks for such a measure."""

    def measure(self, measure_id: str) -> Measure | None:
        """The registered measure (latest version); for a measure whose plugin is gone, its latest
        definition stored with the data (what the episode's earlier scores used: a rule reads the history
        the same with the plugin removed); ``None`` for an id neither describes."""
        key = ("measure", measure_id)
        found: Measure | None = self.memo.get(key, _UNLOOKED)
        if found is _UNLOOKED:
            try:
                found = self.measures.get(measure_id)
            except LookupError:
                found = None if self.stored is None else self.stored(measure_id)
            self.memo[key] = found
        return found

    def scored_measures(self) -> list[ScoredMeasure]:
        """Each measure scored in this command with its intake (first) and latest totals in the episode,
        when the latest comes from a later session than the intake: the identified client's, and each other
        participant's own ratings (collateral ratings are not compared with expected responses: see the
        guide on couples, families and groups)."""
        if "scored" not in self.memo:
            found: list[ScoredMeasure] = []
            seen: set[tuple[str, str | None]] = set()
            for _, score in self.new_scores():
                measure = self.measure(score.measure_id)
                if measure is None or score.rater is not Rater.CLIENT:
                    continue
                participant = None if score.own else score.about
                if (measure.id, participant) in seen:
                    continue
                seen.add((measure.id, participant))
                first, latest = self.points(measure.id, participant)
                if first is None or latest is None or latest.session_number <= first.session_number:
                    continue
                n = latest.session_number - first.session_number + 1
                found.append(ScoredMeasure(measure, first.total, latest.total, n, participant))
            self.memo["scored"] = found
        scored: list[ScoredMeasure] = self.memo["scored"]
        return scored

    def points(
        self, measure_id: str, participant: str | None, rater: Rater = Rater.CLIENT
    ) -> tuple[ScorePoint | None, ScorePoint | None]:
        """(first, latest) of a measure for a participant (``None``: the identified client's own)."""
        first, _, latest = track_of(self.after, measure_id, participant, rater)
        return first, latest

    def previous(self, score: RecordedScore) -> ScorePoint | None:
        """The point before the latest of the measure, rater and participant of ``score``."""
        return track_of(self.after, score.measure_id, score.about, score.rater)[1]

    def new_scores(self) -> Iterator[tuple[Event, RecordedScore]]:
        """Scores recorded or corrected by this command, with the event that carries each (events of the
        :data:`SCORED_EVENTS` types)."""
        found: tuple[tuple[Event, RecordedScore], ...] | None = self.memo.get("new-scores")
        if found is None:  # worked out once per evaluation: most rules ask
            found = self.memo["new-scores"] = tuple(
                (event, score)
                for event in self.events
                if (isinstance(event, SessionRecorded) and event.session.attendance is Attendance.ATTENDED)
                or isinstance(event, SessionCorrected | ClientResponseRecorded)
                for score in event.scores
            )
        return iter(found)

    def sessions(self) -> Iterator[SessionRecorded]:
        """Sessions (attended or not) recorded by this command (events of the :data:`SESSION_EVENTS` type)."""
        for event in self.events:
            if isinstance(event, SessionRecorded):
                yield event


def track_of(
    state: EpisodeState, measure_id: str, participant: str | None, rater: Rater = Rater.CLIENT
) -> tuple[ScorePoint | None, ScorePoint | None, ScorePoint | None]:
    """(first, previous, latest) of a measure as ``rater`` rated ``participant`` (``None``: the identified
    client) in ``state``: what the rules compare a new score with (the identified client's own ratings are
    the state's first, previous and latest scores; anyone else's, their track)."""
    if participant is None and rater is Rater.CLIENT:
        return (
            state.first_scores.get(measure_id),
            state.previous_scores.get(measure_id),
            state.latest_scores.get(measure_id),
        )
    track = state.tracks.get(track_key(measure_id, participant or state.client_ref, rater))
    return (None, None, None) if track is None else (track.first, track.previous, track.latest)


#: The event types :meth:`RuleContext.new_scores` (and so ``scored_measures``) reads.
SCORED_EVENTS = frozenset({SessionRecorded.TYPE, SessionCorrected.TYPE, ClientResponseRecorded.TYPE})
#: The event type :meth:`RuleContext.sessions` reads.
SESSION_EVENTS = frozenset({SessionRecorded.TYPE})

Check = Callable[[RuleContext], Iterable[str | Target | None]]


def _severity(value: object) -> AlertSeverity:
    """A rule's severity; anything else is the library's own refusal naming the field, not a ValueError
    (which, raised in a plugin's hook, reaches the host only as its type)."""
    if isinstance(value, str):
        try:
            return AlertSeverity(value)
        except ValueError:
            pass
    allowed = ", ".join(severity.value for severity in AlertSeverity)
    raise ValidationError("rule.severity", "enum", f"one of {allowed}")


@attrs.frozen
class AlertRule:
    """One alert rule. Register it from ``alliancekit_register_alert_rules``."""

    id: str
    """Lowercase words joined by hyphens; a plugin should prefix its own (``myclinic.long-wait``)."""
    severity: AlertSeverity = attrs.field(converter=_severity)
    message: str
    """Fixed plain-language English text; ``{measure}`` is replaced by the measure's title. It is the message
    id in the gettext catalogue (mark it with :func:`alliancekit.i18n.N_` so the template picks it up)."""
    check: Check = attrs.field(repr=False)
    once_per_episode: bool = False
    """Raise at most once per episode and measure, even after the alert is resolved."""
    after_alerts: bool = False
    """Check after the other rules' alerts of this command are folded in (``review-due`` needs this)."""
    resolved_by_review: bool = False
    """Recording a progress review resolves this rule's open alerts (with a fixed note)."""
    reads: frozenset[str] | None = None
    """The event types without which ``check`` cannot fire (it looks only at this command's events of those
    types): the engine skips the rule for a command with none of them. ``None``: checked after every
    command (a rule that compares the states before and after, whatever changed them)."""

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.id, str) or not _RULE_ID.match(self.id):  # type: ignore[redundant-expr]
            raise ValidationError(
                "rule.id",
                "format",
                "lowercase words joined by hyphens, after a prefix of your own: myclinic.long-wait",
            )
        message: object = self.message
        if not isinstance(message, str) or not message.strip() or len(message) > 300:
            raise ValidationError("rule.message", "format", "one plain-language sentence of text")
        if not callable(self.check):
            raise ValidationError("rule.check", "type", "a callable")

    def message_for(self, measure: Measure | None, language: str | None = None) -> str:
        """The message about ``measure`` in ``language`` (BCP 47; English, the message id, when ``None`` or
        when no catalogue has it), with the measure's title in that language where its definition has one."""
        if measure is None:
            title = translate(_THE_MEASURE, language)
        else:
            title = measure.text_for(language).title if language else measure.title
        return translate(self.message, language).replace("{measure}", title)


#: The ``register`` callback ``alliancekit_register_alert_rules`` receives: call it with each rule.
AlertRuleRegistrar = Callable[[AlertRule], None]


class RuleRegistry:
    """Alert rules by id, in registration order (builtins first), each with the plugin that supplied it."""

    def __init__(self) -> None:
        self._rules: dict[str, tuple[AlertRule, str]] = {}

    def add(self, rule: AlertRule, supplier: str) -> None:
        if not isinstance(rule, AlertRule):
            raise PluginError(f"plugin {supplier!r} registered something that is not an AlertRule")
        if rule.id in self._rules:
            raise PluginError.clash(f"alert rule {rule.id}", self._rules[rule.id][1], supplier)
        self._rules[rule.id] = (rule, supplier)

    def __iter__(self) -> Iterator[AlertRule]:
        return (rule for rule, _ in self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def get(self, rule_id: str) -> AlertRule:
        return self._rules[rule_id][0]

    def supplier(self, rule_id: str) -> str:
        return self._rules[rule_id][1]


def build_rule_registry(host: PluginHost) -> RuleRegistry:
    """Build the registry from every plugin's ``alliancekit_register_alert_rules``."""
    registry = RuleRegistry()

    def make_register(plugin: str) -> AlertRuleRegistrar:
        def register(rule: AlertRule) -> None:
            registry.add(rule, plugin)

        return register

    host.call_registration("alliancekit_register_alert_rules", make_register)
    return registry


def alert_rules(host: PluginHost) -> RuleRegistry:
    """The host's rule registry, built once."""
    registry: RuleRegistry = host.cached("alert-rules", lambda: build_rule_registry(host))
    return registry
