"""``alliancekit episode show``: an episode's state and timeline, readable or as JSON."""

from __future__ import annotations

import argparse

import attrs

from alliancekit.cli.common import (
    add_clinic,
    add_db,
    add_json,
    cli_actor,
    existing_practice,
    print_json,
    zone_of,
)
from alliancekit.domain import Actor
from alliancekit.domain.checks import check_ref
from alliancekit.errors import ValidationError
from alliancekit.events import converter
from alliancekit.events.types import (
    AlertRaised,
    ClinicianTransferred,
    EpisodeClosed,
    EpisodeOpened,
    Event,
    FitDecided,
    GoalRevised,
    MeasuresConsentChanged,
    PopulationChanged,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.practice import Practice


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("episode", help="inspect one episode", description="Inspect one episode.")
    episode_sub = parser.add_subparsers(dest="episode_command", required=True, metavar="COMMAND")
    show = episode_sub.add_parser(
        "show", help="state and timeline", description="Show an episode's timeline."
    )
    add_db(show)
    add_clinic(show)
    show.add_argument("episode_id", metavar="ID", help="episode id, or a unique prefix of it")
    add_json(show, "print the state and the full timeline as JSON (keys sorted)")
    show.set_defaults(run=run_show)


def resolve_episode(practice: Practice, actor: Actor, prefix: str, *, field: str) -> str:
    """The one episode of the actor's clinic whose id starts with ``prefix``; when none does, ``prefix`` as
    given, so that the guarded read that follows refuses it and audits the failed lookup (``not-found``).
    A blank ``prefix`` is refused before any read: every id starts with it; so is one no id could start with
    (padded, a control character, not NFC), by the rule of an id. ``field`` is the destination of the
    argument that gave ``prefix`` (an error names that argument as the user typed it)."""
    if not prefix.strip():
        raise ValidationError(field, "required", "an episode id or a unique prefix of it")
    check_ref(field, prefix)
    matches = [ep for ep in practice.episode_ids(actor) if ep.startswith(prefix)]
    if not matches:
        return prefix
    if len(matches) > 1:
        raise ValidationError(field, "ambiguous", f"{len(matches)} episodes start with that prefix")
    return matches[0]


def describe(event: Event) -> str:
    """A one-line description of an event, without any free text."""
    match event:
        case EpisodeOpened():
            norms = "" if event.population is None else f" ({event.population} norms)"
            return f"episode opened for {event.client_ref} with {event.clinician_id}{norms}"
        case FitDecided():
            return f"fit decision: {event.decision.outcome.value}"
        case SessionRecorded() | SessionCorrected():
            s = event.session
            scores = ", ".join(f"{sc.measure_id} {sc.total:g}" for sc in event.scores)
            verb = "session corrected" if isinstance(event, SessionCorrected) else f"session {event.number}"
            return f"{verb}: {s.attendance.value}, {s.modality.value}" + (f"; {scores}" if scores else "")
        case ReviewRecorded():
            kind = "review" if event.scheduled else "unscheduled review"
            return f"{kind}: decision {event.review.decision.value}"
        case RuptureNoted():
            n = event.note
            return f"rupture noted: {n.kind.value}, {len(n.markers)} marker(s), salience {n.salience}"
        case RuptureRepairRecorded():
            outcome = "resolved" if event.attempt.resolved else "not yet resolved"
            return f"repair: {', '.join(s.value for s in event.attempt.strategies)} ({outcome})"
        case AlertRaised():
            on = f" on {event.measure_id}" if event.measure_id else ""
            return f"alert raised: {event.rule_id}{on} ({event.severity.value})"
        case MeasuresConsentChanged():
            whose = "a participant's " if event.participant is not None else ""  # never their reference
            return whose + "consent to measures " + ("given" if event.measures else "withdrawn")
        case PopulationChanged():
            return "norm population changed to " + (event.population or "each measure's default")
        case ClinicianTransferred():
            return f"transferred from {event.from_clinician_id} to {event.to_clinician_id}"
        case GoalRevised():
            status = event.revision.status
            return "goal revised" + (f": {status.value}" if status else "")
        case EpisodeClosed():
            if event.ending is None:
                return f"closed: {event.closing_reason.value}"
            e = event.ending
            plan = "with maintenance plan" if e.maintenance_plan else "no maintenance plan"
            return f"closed: {'planned' if e.planned else 'unplanned'} ending, {e.reason.value}, {plan}"
    return event.TYPE.replace("-", " ")


def run_show(args: argparse.Namespace) -> int:
    zone = zone_of(args)
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        episode_id = resolve_episode(practice, actor, args.episode_id, field="episode_id")
        state = practice.episode(actor, episode_id)
        timeline = practice.timeline(actor, episode_id)
    if args.json:
        print_json(
            {
                "state": converter.unstructure(state),
                "timeline": [
                    {
                        **{k: v for k, v in attrs.asdict(e, recurse=False).items() if k != "event"},
                        "payload": converter.unstructure(e.event),
                    }
                    for e in timeline
                ],
                "withheld": timeline.withheld,
            },
            sort_keys=True,  # the state's and payloads' maps are in the store's order, not the same in each
        )
        return 0
    print(f"episode {episode_id}")
    print(f"  client {state.client_ref}, clinician {state.clinician_id}, stage {state.stage.value}")
    print(f"  sessions {state.sessions_scheduled} scheduled, {state.sessions_attended} attended")
    for entry in timeline:
        when = entry.occurred_at.astimezone(zone).date().isoformat()  # the clinic's day, as "today" is
        mark = "  (correction)" if entry.corrects else ""
        print(
            f"  {entry.seq:>3}  {when}  {describe(entry.event)}  [{entry.actor_role} {entry.actor_id}]{mark}"
        )
    if timeline.withheld:
        print("  (the client's lockbox withholds part of this record from this reader)")
    return 0
