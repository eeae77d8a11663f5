"""The built-in alert rules, registered as a builtin plugin exactly as an external rule plugin would be.

Each rule's thresholds come from :class:`~alliancekit.feedback.config.FeedbackConfig` (sources there) and
the measure's own norms (cutoffs and reliable-change thresholds, cited in the measure definitions), for the
episode's norm population where the measure declares it (``Measure.norm_for``).
"""

from __future__ import annotations

from collections.abc import Iterator

from alliancekit.domain.vocab import AlertSeverity, Attendance, Rater
from alliancekit.events.types import ClientResponseRecorded, Event, RecordedScore, SessionRecorded
from alliancekit.feedback.expectation import Zone
from alliancekit.feedback.rules import (
    SCORED_EVENTS,
    SESSION_EVENTS,
    AlertRule,
    AlertRuleRegistrar,
    Check,
    RuleContext,
    ScoredMeasure,
    Target,
)
from alliancekit.i18n import N_
from alliancekit.lifecycle.rules import review_due
from alliancekit.measures.change import ChangeClass, classify_change
from alliancekit.measures.definition import Measure, MeasureKind
from alliancekit.measures.exact import at_least, change
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.protocols.schedule import missed_measures

ALLIANCE_BELOW_CUTOFF = "alliance-below-cutoff"
ALLIANCE_DROPPED = "alliance-dropped"
OUTCOME_BELOW_EXPECTED = "outcome-below-expected"
OUTCOME_FAR_BELOW_EXPECTED = "outcome-far-below-expected"
RELIABLE_DETERIORATION = "reliable-deterioration"
NO_RELIABLE_CHANGE = "no-reliable-change"
RISK_ITEM_ENDORSED = "risk-item-endorsed"
MISSED_SESSIONS = "missed-sessions"
REVIEW_DUE = "review-due"
RUPTURE_UNRESOLVED = "rupture-unresolved"
SPLIT_ALLIANCE = "split-alliance"
MEASURE_MISSED = "measure-missed"


def _measure_missed(ctx: RuleContext) -> Iterator[str]:
    """Each measure this command made missed under the episode's protocol (when the practice asks)."""
    if not ctx.config.missed_measure_alert or ctx.protocol is None:
        return
    every = ctx.config.review_every
    before = set(missed_measures(ctx.protocol, ctx.before, review_every=every))
    for measure_id in missed_measures(ctx.protocol, ctx.after, review_every=every):
        if measure_id not in before:
            yield measure_id


def _target(measure: Measure, score: RecordedScore) -> Target:
    """An alert about the participant the score is about (``None``: the identified client)."""
    return Target(measure.id, None if score.own else score.about)


def _alliance_scores(ctx: RuleContext) -> tuple[tuple[Event, RecordedScore, Measure], ...]:
    """This command's new scores of alliance measures, with their measures (three rules ask: worked out
    once per evaluation)."""
    found: tuple[tuple[Event, RecordedScore, Measure], ...] | None = ctx.memo.get("alliance-scores")
    if found is None:
        found = ctx.memo["alliance-scores"] = tuple(
            (event, score, measure)
            for event, score in ctx.new_scores()
            if (measure := ctx.measure(score.measure_id)) is not None and measure.kind is MeasureKind.ALLIANCE
        )
    return found


def _alliance_below_cutoff(ctx: RuleContext) -> Iterator[Target]:
    for _, score, measure in _alliance_scores(ctx):
        norm = measure.norm_for(ctx.after.population)
        cutoff = None if norm is None or norm.clinical_cutoff is None else norm.clinical_cutoff.value
        if cutoff is not None and ctx.config.alliance_comparison.concern(score.total, cutoff):
            yield _target(measure, score)


def _rated_anew(event: Event) -> bool:
    """Whether ``event`` carries new ratings (a session's, or a response the client gave in or between
    sessions, through a link or recorded for them), not a correction: a correction fixes what an earlier
    rating was, which is no fall, or split, reported by the client since the session before."""
    return isinstance(event, SessionRecorded | ClientResponseRecorded)


def _alliance_dropped(ctx: RuleContext) -> Iterator[Target]:
    """A new rating of a measure in ``alliance_drop_measures`` that fell ``alliance_drop`` or more since
    the one before it (the state's previous point: one order for session and client-response scores)."""
    measures = ctx.config.alliance_drop_measures
    for event, score, measure in _alliance_scores(ctx):
        if measure.id not in measures or not _rated_anew(event):
            continue
        previous = ctx.previous(score)
        if previous is None:
            continue
        fall = (
            change(score.total, previous.total)
            if measure.higher_is_better
            else change(previous.total, score.total)
        )
        if at_least(fall, ctx.config.alliance_drop):
            yield _target(measure, score)


def _split_alliance(ctx: RuleContext) -> Iterator[str]:
    """Participants' own ratings of a measure in ``split_alliance_measures`` that this command records
    (one session's record) ``split_alliance_gap`` or more apart."""
    measures = ctx.config.split_alliance_measures
    by_measure: dict[str, list[float]] = {}
    for event, score, measure in _alliance_scores(ctx):
        if measure.id in measures and _rated_anew(event) and score.rater is Rater.CLIENT:
            by_measure.setdefault(measure.id, []).append(score.total)
    for measure_id, totals in by_measure.items():
        if len(totals) > 1 and at_least(change(min(totals), max(totals)), ctx.config.split_alliance_gap):
            yield measure_id


def _zone(ctx: RuleContext, scored: ScoredMeasure) -> Zone | None:
    """The latest score's zone against the expected response (shared by the amber and red rules)."""
    key = ("zone", scored.measure.id, scored.participant)
    if key not in ctx.memo:
        expectation = (
            ctx.expectations.expect(
                scored.measure, scored.intake, scored.session, population=ctx.after.population
            )
            if ctx.expectations is not None
            else None
        )
        ctx.memo[key] = None if expectation is None else expectation.zone(scored.latest)
    zone: Zone | None = ctx.memo[key]
    return zone


def _zone_checker(zone: Zone) -> Check:
    def check(ctx: RuleContext) -> Iterator[Target]:
        for scored in ctx.scored_measures():
            if scored.measure.kind is MeasureKind.OUTCOME and _zone(ctx, scored) is zone:
                yield scored.target

    return check


def _change_class(ctx: RuleContext, scored: ScoredMeasure) -> ChangeClass | None:
    """The change class of intake to latest (shared by the deterioration and no-change rules)."""
    key = ("change", scored.measure.id, scored.participant)
    if key in ctx.memo:
        known: ChangeClass | None = ctx.memo[key]
        return known
    norm = scored.measure.norm_for(ctx.after.population)
    found = None
    if norm is not None:
        try:
            found = classify_change(scored.intake, scored.latest, norm, scored.measure.direction).change_class
        except ValueError:  # the norm gives no reliable-change threshold
            found = None
    ctx.memo[key] = found
    return found


def _reliable_deterioration(ctx: RuleContext) -> Iterator[Target]:
    for s in ctx.scored_measures():
        if (
            s.measure.kind in (MeasureKind.OUTCOME, MeasureKind.SYMPTOM)
            and _change_class(ctx, s) is ChangeClass.DETERIORATED
        ):
            yield s.target


def _no_reliable_change(ctx: RuleContext) -> Iterator[Target]:
    if ctx.after.sessions_attended < ctx.config.no_change_by_session:
        return
    for s in ctx.scored_measures():
        if s.measure.kind is MeasureKind.OUTCOME and _change_class(ctx, s) is ChangeClass.UNCHANGED:
            yield s.target


def _risk_item_endorsed(ctx: RuleContext) -> Iterator[Target]:
    # whoever rated it (a parent's report too): a risk item is about the participant, and urgent
    for _, score in ctx.new_scores():
        if score.risk_items:
            yield Target(score.measure_id, score.about)  # ``about`` is None for the identified client


def _missed_sessions(ctx: RuleContext) -> Iterator[None]:
    config = ctx.config
    for event in ctx.sessions():
        # Fire when the count of no-shows in a row reaches the threshold (not again at every later one).
        if (
            event.session.attendance is Attendance.NO_SHOW
            and ctx.after.consecutive_missed == config.missed_in_a_row
        ):
            yield None
        last = ctx.before.last_session_on
        if last is not None and (event.session.held_on - last).days > config.gap_days:
            yield None


def _review_due(ctx: RuleContext) -> Iterator[None]:
    every = ctx.config.review_every
    if review_due(ctx.after, every) and not review_due(ctx.before, every):
        yield None


def _rupture_unresolved(ctx: RuleContext) -> Iterator[None]:
    if not any(True for _ in ctx.sessions()):
        return
    after = ctx.config.rupture_unresolved_after
    # Fire when a rupture reaches the threshold: once per rupture, not at every later session.
    if any(ctx.after.sessions_scheduled - at == after for at in ctx.after.open_ruptures.values()):
        yield None


BUILTIN_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        RISK_ITEM_ENDORSED,
        AlertSeverity.URGENT,
        N_("A risk item was endorsed on {measure}: assess risk today."),
        _risk_item_endorsed,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        RELIABLE_DETERIORATION,
        AlertSeverity.RED,
        N_("{measure} shows reliable deterioration since intake."),
        _reliable_deterioration,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        OUTCOME_FAR_BELOW_EXPECTED,
        AlertSeverity.RED,
        N_("{measure} is below the lower bound of the expected treatment response."),
        _zone_checker(Zone.RED),
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        OUTCOME_BELOW_EXPECTED,
        AlertSeverity.AMBER,
        N_("{measure} is below the expected treatment response."),
        _zone_checker(Zone.AMBER),
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        NO_RELIABLE_CHANGE,
        AlertSeverity.AMBER,
        N_("No reliable change on {measure} yet: consider discussing progress with the client."),
        _no_reliable_change,
        once_per_episode=True,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        ALLIANCE_BELOW_CUTOFF,
        AlertSeverity.AMBER,
        N_("{measure} is below its cutoff: ask the client about the work together."),
        _alliance_below_cutoff,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        ALLIANCE_DROPPED,
        AlertSeverity.AMBER,
        N_("{measure} fell since the last session: check in about the relationship."),
        _alliance_dropped,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        SPLIT_ALLIANCE,
        AlertSeverity.AMBER,
        N_(
            "Participants rated {measure} far apart: a split alliance, which predicts dropout in couple and "
            "family therapy. Check in with each."
        ),
        _split_alliance,
        reads=SCORED_EVENTS,
    ),
    AlertRule(
        RUPTURE_UNRESOLVED,
        AlertSeverity.AMBER,
        N_("A rupture in the alliance is still unresolved after several sessions."),
        _rupture_unresolved,
        reads=SESSION_EVENTS,
    ),
    AlertRule(
        MISSED_SESSIONS,
        AlertSeverity.AMBER,
        N_("Missed sessions or a long gap between sessions: risk of dropout."),
        _missed_sessions,
        reads=SESSION_EVENTS,
    ),
    AlertRule(
        MEASURE_MISSED,
        AlertSeverity.INFO,
        N_("{measure} was due under the measurement protocol and not given."),
        _measure_missed,
    ),
    AlertRule(
        REVIEW_DUE,
        AlertSeverity.INFO,
        N_("A progress review is due."),
        _review_due,
        after_alerts=True,
        resolved_by_review=True,
    ),
)


@hookimpl
def alliancekit_register_alert_rules(register: AlertRuleRegistrar) -> None:
    for rule in BUILTIN_RULES:
        register(rule)
