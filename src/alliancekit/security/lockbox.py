"""The lockbox: a client's directives to withhold parts of their record from sharing.

A directive withholds the whole record, one or more classes of items (sessions, ruptures, ...), or named
items (events by id), from everyone or from named recipients. Reads for any purpose other than the treating
clinician's, and every export, pass the record through :func:`lockbox_view`, which drops what the
directives binding the reader or the share withhold (and everything that corrects, adds to or comments on
it) and says *that* something was withheld, never what. Which directives bind is decided in one place,
:func:`binding_directives`: those applying to the reader, and for a share also those applying to its
recipient; one naming none, whatever any directive withholds from anyone (:data:`UNNAMED`: where it goes
is not known). A participant's own directives bind neither their reads nor their shares. Process notes and
the directives themselves are never shared at all. What a share says of the episode as a whole (its stage,
clinician of record, fit, closing) is the fold of the shared events alone (:func:`shared_state`), so it
withholds what the entries withhold.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from alliancekit.domain.vocab import Role
from alliancekit.errors import NotFoundError
from alliancekit.events.catalog import FRAME, LOCKBOX_CLASSES, NEVER_SHARED
from alliancekit.events.types import (
    AdministrationRequested,
    AdministrationRequestRevoked,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    DisagreementAttached,
    EpisodeClosed,
    EpisodeOpened,
    Event,
    FitDecided,
    GoalRevised,
    LockboxLifted,
    LockboxSet,
    ReviewRecorded,
    RuptureNoted,
)
from alliancekit.feedback.compared import WithheldSoFar
from alliancekit.feedback.engine import REVIEW_RESOLUTION_NOTE
from alliancekit.lifecycle.corrected_scores import corrections_as_shared
from alliancekit.lifecycle.rules import CLOSING_NOTE, SCOPES
from alliancekit.lifecycle.state import EpisodeState, LockboxState, fold, start

#: The classes of items a directive can name, and the event types in each (from the event catalog).
CLASSES = LOCKBOX_CLASSES
_CLASS_OF = {event_type: name for name, types in CLASSES.items() for event_type in types}

__all__ = [
    "CLASSES",
    "NEVER_SHARED",
    "SCOPES",
    "UNNAMED",
    "Directive",
    "Hidden",
    "Recipient",
    "active_directives",
    "audited_recipient",
    "apply_lockbox",
    "binding_directives",
    "hidden_from",
    "lockbox_view",
    "scores_withheld",
    "seen_state",
    "set_by_client",
    "shared_state",
]

#: The record a fit decision and a closing at it are both about (a tuple: never equal to an id). A closing at
#: the fit decision continues it, since its reason says what the fit was: it is withheld with the decision.
_FIT = ("fit-decision",)


class Unnamed(enum.Enum):
    """The recipient of a share or an export that names none. Its value is what the audit entry of such
    an export records as its recipient (a recipient's id cannot be in parentheses)."""

    RECIPIENT = "(unnamed)"


#: An export (or share) that names no recipient may go anywhere, so every directive applies to it: those
#: naming recipients as well as those naming none (failing closed: the library cannot know where it goes).
UNNAMED = Unnamed.RECIPIENT
#: Whom the directives are applied for: a reader or recipient by id, :data:`UNNAMED`, or ``None`` (only the
#: directives that name no recipient apply).
Recipient = str | Unnamed | None


def audited_recipient(recipient: Recipient) -> str:
    """What the audit entry of a share or an export records as its recipient: the id named, or
    ``(unnamed)`` for :data:`UNNAMED` (empty for ``None``: a read that is no share)."""
    if recipient is None:
        return ""
    return recipient.value if isinstance(recipient, Unnamed) else recipient


def _names(recipients: Iterable[str], recipient: Recipient) -> bool:
    """Whether a directive withholding from ``recipients`` (none: from everyone) applies to ``recipient``."""
    return not recipients or recipient is UNNAMED or (isinstance(recipient, str) and recipient in recipients)


def summary_withheld(directives: Mapping[str, LockboxState], recipient: Recipient) -> bool:
    """Whether the directives in force keep an episode's scores and alerts from ``recipient``.

    Summaries (the episode's state, a caseload row, a closed outcome) cannot say which session a score came
    from, so any directive on the record, on sessions or on named items withholds them: the safe side.
    """
    return scores_withheld(d for d in directives.values() if _names(d.recipients, recipient))


def scores_withheld(directives: Iterable[Directive | LockboxState]) -> bool:
    """Whether any of ``directives`` (those binding a read or share) keeps the episode's scores and alerts
    from a summary: one on the record, on sessions or on named items (see :func:`summary_withheld`)."""
    return any(d.scope != "class" or "sessions" in d.classes for d in directives)


def directives_apply(directives: Mapping[str, LockboxState], recipient: Recipient) -> bool:
    """Whether any directive in force applies to ``recipient`` (one naming no recipient applies to all)."""
    return any(_names(d.recipients, recipient) for d in directives.values())


def directives_of(lockbox_json: str) -> Mapping[str, LockboxState]:
    """The directives a projection row keeps (see :func:`alliancekit.projections.lockbox_json`)."""
    if lockbox_json == "{}":
        return {}
    return {
        key: LockboxState(d["scope"], tuple(d.get("classes", ())), tuple(d.get("recipients", ())))
        for key, d in json.loads(lockbox_json).items()
    }


@attrs.frozen
class Directive:
    directive_id: str
    scope: str
    classes: frozenset[str]
    event_ids: frozenset[str]
    recipients: frozenset[str]

    def applies_to(self, recipient: Recipient) -> bool:
        return _names(self.recipients, recipient)

    def covers(self, event_type: str, event_id: str) -> bool:
        if self.scope == "record":
            return True
        if self.scope == "class":
            return _CLASS_OF.get(event_type) in self.classes
        return event_id in self.event_ids


def active_directives(events: Iterable[tuple[str, Event]]) -> list[Directive]:
    """The directives set and not lifted, from ``(event_id, event)`` pairs in stream order."""
    active: dict[str, Directive] = {}
    for _, event in events:
        if isinstance(event, LockboxSet):
            active[event.directive_id] = Directive(
                event.directive_id,
                event.scope,
                frozenset(event.classes),
                frozenset(event.event_ids),
                frozenset(event.recipients),
            )
        elif isinstance(event, LockboxLifted):
            active.pop(event.directive_id, None)
    return list(active.values())


def set_by_client(entries: Sequence[Any]) -> dict[str, str | None]:
    """Who set each lockbox directive of the timeline ``entries``, by the latest ``lockbox-set`` with its id
    (the one that put it in force): the client's id, or ``None`` for anyone else (the clinician), whose id
    may equal a client's reference."""
    return {
        e.event.directive_id: e.actor_id if e.actor_role == Role.CLIENT.value else None
        for e in entries
        if isinstance(e.event, LockboxSet)
    }


def binding_directives(
    entries: Sequence[Any], *, reader: str | None, recipient: Recipient = None, own: str | None = None
) -> list[Directive]:
    """The directives in force that bind a read by ``reader``, or a share ``reader`` makes with
    ``recipient``: the one decision every read, share, export and command's view of an episode takes.

    ``entries`` are the episode's timeline entries, in stream order. A directive binds when it applies to
    ``reader`` (``None``: a reader no directive binds, the treating clinician) or to ``recipient``
    (``None``: a read, no share; :data:`UNNAMED`: a share that may go anywhere, which every directive
    applies to): whoever shares reads what they share, and could otherwise pass on what was withheld from
    them or from the recipient. Those ``own`` set (a participant of an episode with several, by
    :func:`set_by_client`) bind neither: their own choices are about sharing with others.
    """
    if reader is None and recipient is None:
        return []  # a read no directive binds
    setters = set_by_client(entries) if own is not None else {}
    return [
        d
        for d in active_directives((e.event_id, e.event) for e in entries)
        if (own is None or setters.get(d.directive_id) != own)
        and (
            (reader is not None and d.applies_to(reader))
            or (recipient is not None and d.applies_to(recipient))
        )
    ]


def lockbox_view(
    entries: Sequence[Any], *, reader: str | None, recipient: Recipient = None, own: str | None = None
) -> tuple[list[Any], bool]:
    """The ``entries`` left by the :func:`binding_directives` (:func:`apply_lockbox`), and whether anything
    was withheld."""
    binding = binding_directives(entries, reader=reader, recipient=recipient, own=own)
    return apply_lockbox(entries, binding)


#: The ids that make an event part of a record (the record itself, or what continues it).
_RECORD_NAMES = ("session_id", "rupture_id", "goal_id", "review_id", "alert_id")
#: Events that name a session without being part of its record: a request for a measure in it, a client's
#: response given in it. Withholding one must not withhold the session's corrections (a share would then
#: show scores that were corrected), so their session is a reference (:func:`_refers_to`).
_AT_SESSION = (AdministrationRequested, ClientResponseRecorded)


def _record_ids(event: Event) -> set[object]:
    """The ids of the records an event is about (a session, rupture, goal, review, alert, the fit)."""
    ids: set[object] = set()
    names = _RECORD_NAMES[1:] if isinstance(event, _AT_SESSION) else _RECORD_NAMES
    for name in names:
        value: Any = getattr(event, name, None)
        if isinstance(value, str):
            ids.add(value)
    if isinstance(event, GoalRevised):
        ids.add(event.revision.goal_id)
    if isinstance(event, FitDecided) or (isinstance(event, EpisodeClosed) and event.ending is None):
        ids.add(_FIT)
    return ids


#: Events about an administration request (making, revoking or answering it). A request is no record of a
#: class of its own to the lockbox (its class, sessions, withholds all three), but a command names it by its
#: id, and its revocation and its answers continue it: they are withheld with it (:func:`apply_lockbox`).
_ABOUT_REQUEST = (AdministrationRequested, AdministrationRequestRevoked, ClientResponseRecorded)


def _named_ids(event: Event) -> set[object]:
    """The ids a command may name an event's records by: :func:`_record_ids`, and the administration
    request the event makes, revokes or answers."""
    ids = _record_ids(event)
    if isinstance(event, _ABOUT_REQUEST) and event.request_id is not None:
        ids.add(event.request_id)
    return ids


def _refers_to(event: Event) -> set[object]:
    """The records an event points at without continuing them: the session a rupture was noted in or a
    client's response was given in, the goals a review notes progress on. Shared, it would name them: it
    is withheld with any of them, and withholding it withholds nothing of theirs (a rupture withheld
    leaves its session's corrections shared)."""
    if isinstance(event, RuptureNoted) and event.note.session_id is not None:
        return {event.note.session_id}
    if isinstance(event, _AT_SESSION) and event.session_id is not None:
        return {event.session_id}
    if isinstance(event, ReviewRecorded):
        return {note.goal_id for note in event.review.goal_progress}
    return set()


def apply_lockbox(entries: Sequence[Any], directives: Sequence[Directive]) -> tuple[list[Any], bool]:
    """The entries that ``directives`` (those binding the read or share, :func:`binding_directives`) leave,
    and whether anything was withheld.

    ``entries`` are timeline entries (anything with ``type``, ``event_id``, ``corrects`` and ``event``),
    in stream order. Whatever corrects, adds to, comments on, continues or names a withheld item is withheld
    too (a request's revocation and the answers to it, with the request), and so are the alerts a withheld
    event raised (dated by it, about its scores), the alert resolutions the library wrote for a withheld
    closing or review (dated by it), and a progress review with scores after a withheld event with scores
    (its intake and latest scores may be that event's). An alert a later, shared event raised is withheld
    too when it read a withheld event: a score it compared (a reliable deterioration from a withheld intake,
    an alliance drop from a withheld session before), or one in the span its rule counts (an unresolved
    rupture withheld, a withheld session since the last attended one or since the last review): see
    :mod:`alliancekit.feedback.compared`.
    """
    if not directives:  # nothing is withheld (the treating clinician's read): only what is never shared
        return [e for e in entries if e.type not in NEVER_SHARED], False
    comes_with = _comes_with(entries)
    kept: list[Any] = []
    withheld_events: set[str] = set()
    withheld_records: set[object] = set()
    withheld = False
    scores_withheld = False  # a withheld event carried scores: a later review's scores may be theirs
    so_far = WithheldSoFar(entries)  # what the withheld events gave that a later alert may have read
    for index, entry in enumerate(entries):
        if entry.type in NEVER_SHARED:
            continue
        event = entry.event
        records = _named_ids(event)  # a request's id too: withheld, its revocation and answers go with it
        target = event.target_event_id if isinstance(event, DisagreementAttached) else None
        hide = any(d.scope == "record" for d in directives) or (
            entry.type not in FRAME
            and (
                any(d.covers(entry.type, entry.event_id) for d in directives)
                or (entry.corrects is not None and entry.corrects in withheld_events)
                or (target is not None and target in withheld_events)
                or bool((records | _refers_to(event)) & withheld_records)
                or comes_with.get(entry.event_id) in withheld_events
                # a review states the intake and latest scores of the sessions before it (another class)
                or (scores_withheld and isinstance(event, ReviewRecorded) and bool(event.scores))
                # an alert that read a withheld event: an earlier score it compared (the intake, the
                # session before), or one in the span its rule counts (the open ruptures, the sessions
                # since the last attended, since the last review): shared, it would say something of it
                or (isinstance(event, AlertRaised) and so_far.alert_withheld(event, index))
            )
        )
        if hide:
            withheld = True
            withheld_events.add(entry.event_id)
            withheld_records |= records
            scores_withheld = scores_withheld or bool(getattr(event, "scores", ()))
            so_far.decided(event, hidden=True)
            continue
        so_far.decided(event, hidden=False)
        kept.append(entry)
    if withheld and comes_with:
        # what comes with a later event (a closing's resolutions, written before it) is known only now
        kept = [e for e in kept if comes_with.get(e.event_id) not in withheld_events]
    if withheld:  # a correction's points of other sessions: only those the shared sessions give
        kept = corrections_as_shared(kept)
    return kept, withheld


@attrs.frozen
class Hidden:
    """What a reader's view of an episode leaves out: the events, and the records (sessions, alerts,
    ruptures, goals, reviews, administration requests) no entry they see is about. A command naming one of
    them is answered as one naming an unknown id, so that the answer does not confirm it exists."""

    events: frozenset[str] = frozenset()
    records: frozenset[object] = frozenset()


#: Nothing left out (the treating clinician, a reader no directive applies to).
NOTHING_HIDDEN = Hidden()


def hidden_from(entries: Sequence[Any], kept: Sequence[Any]) -> Hidden:
    """What ``kept`` (the entries a reader sees, as :func:`apply_lockbox` or a participant's view leaves
    them) leaves out of ``entries``: a record continued by a seen event (a session whose correction alone is
    withheld) is not hidden."""
    seen = {e.event_id for e in kept}
    seen_records: set[object] = set()
    for entry in kept:
        seen_records |= _named_ids(entry.event)
    events: set[str] = set()
    records: set[object] = set()
    for entry in entries:
        if entry.event_id not in seen:
            events.add(entry.event_id)
            records |= _named_ids(entry.event)
    return Hidden(frozenset(events), frozenset(records - seen_records))


def _comes_with(entries: Sequence[Any]) -> dict[str, str]:
    """The events the library writes itself in another event's command, each with that event: the alerts
    raised on it (just after it: a session's scores, a client's response, a missed session), the alerts a
    progress review resolves (just after it) and those a closing resolves (just before it). Each is dated
    by it or about its scores, so it is withheld with it (an alert's id then withholds its acknowledgement
    and resolution in turn, so the shared events still fold)."""
    found: dict[str, str] = {}
    origin: str | None = None
    closing: list[str] = []
    for entry in entries:
        event = entry.event
        if isinstance(event, AlertResolved) and event.note == CLOSING_NOTE:
            closing.append(entry.event_id)
            continue
        if isinstance(event, AlertRaised) or (
            isinstance(event, AlertResolved) and event.note == REVIEW_RESOLUTION_NOTE
        ):
            if origin is not None:
                found[entry.event_id] = origin
            continue
        if isinstance(event, EpisodeClosed):
            found.update(dict.fromkeys(closing, entry.event_id))
        closing = []
        origin = None if entry.type in NEVER_SHARED else entry.event_id
    return found


def shared_state(state: EpisodeState, entries: Sequence[Any], withheld: bool) -> EpisodeState | None:
    """The episode's state as the shared ``entries`` (in stream order) establish it.

    Nothing withheld: ``state`` itself. Otherwise the fold of the shared events alone, so that every fact
    about the episode as a whole (stage, clinician of record, fit, closing, counts) says no more than the
    entries; ``None`` when even the opening is withheld (a whole-record lockbox). Folding a subset is safe:
    :func:`apply_lockbox` withholds whatever continues a withheld item (a goal's revisions, an alert's
    acknowledgement, a closing at a withheld fit decision), so each shared event finds what it applies to.
    """
    if not withheld:
        return state
    if not entries or not isinstance(opened := entries[0].event, EpisodeOpened):
        return None
    return fold(start(state.episode_id, state.clinic_id, opened), (e.event for e in entries[1:]))


def seen_state(state: EpisodeState, entries: Sequence[Any], reader: str) -> EpisodeState:
    """What a reader inside the clinic who is not treating (a supervisor, an administrator) sees of the
    episode as a whole, under the directives binding them (:func:`binding_directives`): the decision a
    share makes.

    ``entries`` are the episode's timeline entries, in stream order. Nothing withheld: ``state`` itself.
    Otherwise the fold of the shared entries (:func:`shared_state`), so a summary, a caseload row or a closed
    outcome says nothing the reader's own timeline withholds. Scores and alerts are withheld on top of this
    where :func:`summary_withheld` says so, as in a share.

    Under a whole-record directive (:func:`shared_state` is ``None``) a share says nothing of the episode at
    all, not even that it exists. A read inside the clinic is not a share: the clinic's caseload lists the
    episode (the reports name it as withheld rather than leave a gap in their rates unexplained), so the
    reader sees its frame, the fold of the frame events alone (the opening and who takes part: the facts
    that make a caseload row). Refusing instead would contradict the caseload that listed it.

    The stream position (``version``, which a command's expected version names) and the directives in force
    (which the projection row carries for every reader) are kept: neither says what was withheld.
    """
    kept, withheld = lockbox_view(entries, reader=reader)
    if not withheld:
        return state
    shared = shared_state(state, kept, withheld)
    if shared is None:
        shared = shared_state(state, [e for e in entries if e.type in FRAME], True)
    if shared is None:  # no opening in the stream: a record no summary can be made of
        raise NotFoundError("episode", state.episode_id)
    return attrs.evolve(shared, version=state.version, lockbox=state.lockbox)
