"""Privacy between the participants of one episode (a couple, a family).

Each participant may read the shared record (their client view, their right-of-access export), but not
what is another participant's own: the measures another participant completed, or that are about them (in
a session, or answered by the client themselves through a request), the requests for measures addressed to
them (made and revoked), the alerts about them, their statements of disagreement, and whatever they withheld
with their lockbox.
Process notes and lockbox directives are never shared with any client at all (see :mod:`.lockbox`).

An episode with one client is unchanged by all of this: :func:`several` is false for it and the views
take their usual path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from alliancekit.domain.records import Administration
from alliancekit.domain.vocab import Rater, Role
from alliancekit.events.types import (
    AdministrationRequested,
    AdministrationRequestRevoked,
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    DisagreementAttached,
    ReviewRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.lifecycle.corrected_scores import corrections_as_shared
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.security.lockbox import Directive, Recipient, apply_lockbox, binding_directives

#: Alerts about the participants together (they compare one participant's ratings with another's): shown
#: to no participant.
SHARED_RULES = frozenset({"split-alliance"})


def several(state: EpisodeState) -> bool:
    """Whether the episode has more than one participant."""
    return bool(state.participants)


def participant_reader(role: Role, actor_id: str, state: EpisodeState) -> str | None:
    """The participant reading, when a client of an episode with several participants reads it."""
    if role is Role.CLIENT and several(state) and state.has_participant(actor_id):
        return actor_id
    return None


def _subject(about: str | None, state: EpisodeState) -> str:
    return about if about is not None else state.client_ref


def _own_rating(admin: Administration, state: EpisodeState, reader: str) -> bool:
    """A measure is the reader's when they rated themselves, or they are the collateral rater named."""
    if admin.rater_ref is not None:
        return admin.rater_ref == reader
    # the administration's rater and subject: its score carries the same (scoring copies them)
    return admin.rater is Rater.CLIENT and _subject(admin.about, state) == reader


def _session_for(event: Any, state: EpisodeState, reader: str) -> Any:
    session = event.session
    pairs = list(zip(session.administrations, event.scores, strict=False))
    if not pairs and not session.administrations:
        return event
    kept = [(a, s) for a, s in pairs if _own_rating(a, state, reader)]
    if len(kept) == len(session.administrations) == len(event.scores):
        return event
    trimmed = attrs.evolve(session, administrations=tuple(a for a, _ in kept))
    return attrs.evolve(event, session=trimmed, scores=tuple(s for _, s in kept))


def _alert_visible(event: AlertRaised, state: EpisodeState, reader: str) -> bool:
    if event.participant is None:
        # the identified client's own alerts; an episode-wide alert (a split alliance) is about everyone
        return reader == state.client_ref and event.rule_id not in SHARED_RULES
    return event.participant == reader


def participant_binding(entries: Sequence[Any], reader: str, to: Recipient = None) -> list[Directive]:
    """The directives binding ``reader``'s read of the entries, or their share of them with ``to``
    (``None``: a read of their own; :data:`~alliancekit.security.lockbox.UNNAMED`: an export naming no
    recipient): those another participant or the clinician set
    (:func:`~alliancekit.security.lockbox.binding_directives`); the reader's own do not."""
    return binding_directives(entries, reader=reader, recipient=to, own=reader)


def visible_entries(
    entries: Sequence[Any], state: EpisodeState, reader: str, binding: Sequence[Directive] | None = None
) -> tuple[list[Any], bool]:
    """The timeline entries ``reader`` may see, and whether anything was withheld by a lockbox.

    ``binding`` are the directives binding the read or share (:func:`participant_binding`; ``None``: those
    binding a read of their own).
    """
    found = participant_binding(entries, reader) if binding is None else binding
    kept, withheld = apply_lockbox(entries, found)
    hidden_alerts: set[str] = set()
    out = []
    for entry in kept:
        event = entry.event
        if isinstance(event, SessionRecorded | SessionCorrected):
            trimmed = _session_for(event, state, reader)
            out.append(entry if trimmed is event else attrs.evolve(entry, event=trimmed))
        elif isinstance(event, ClientResponseRecorded):
            # one administration, wholly its rater's: left out, as a session leaves out another's measure
            if _own_rating(event.administration, state, reader):
                out.append(entry)
        elif isinstance(event, AdministrationRequested | AdministrationRequestRevoked):
            # that a measure was asked of someone, and when, is theirs: a request is the identified client's
            # (its link or kiosk code is answered as them), and so is its revocation
            if reader == state.client_ref:
                out.append(entry)
        elif isinstance(event, ReviewRecorded):
            # a review's scores against expectation are the identified client's own
            if reader == state.client_ref or not event.scores:
                out.append(entry)
            else:
                unscored = ReviewRecorded(event.review_id, event.review, event.scheduled)
                out.append(attrs.evolve(entry, event=unscored))
        elif isinstance(event, AlertRaised):
            if _alert_visible(event, state, reader):
                out.append(entry)
            else:
                hidden_alerts.add(event.alert_id)
        elif isinstance(event, AlertAcknowledged | AlertResolved):
            if event.alert_id not in hidden_alerts:
                out.append(entry)
        elif isinstance(event, DisagreementAttached):
            if entry.actor_role != Role.CLIENT.value or entry.actor_id == reader:
                out.append(entry)
        else:
            out.append(entry)
    # a correction's points, of every participant's scores: only those the reader's own entries give
    return corrections_as_shared(out), withheld


def summary_for(state: EpisodeState, reader: str) -> EpisodeState:
    """The episode's state as ``reader`` may see it: their own scores and alerts only."""
    identified = reader == state.client_ref
    alerts = {
        alert_id: alert
        for alert_id, alert in state.alerts.items()
        if alert.participant == reader
        or (identified and alert.participant is None and alert.rule_id not in SHARED_RULES)
    }
    tracks = {k: t for k, t in state.tracks.items() if t.about == reader and t.rater is Rater.CLIENT}
    # the keys of alerts ever raised name other participants' alerts too: only the visible ones remain
    keys = tuple(dict.fromkeys(alert.key for alert in alerts.values()))
    mine = attrs.evolve(state, alerts=alerts, tracks=tracks, alert_keys_raised=keys)
    if identified:
        return mine
    return attrs.evolve(mine, first_scores={}, latest_scores={}, previous_scores={})
