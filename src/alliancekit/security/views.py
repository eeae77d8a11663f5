"""What the secured reads of a practice return: timelines that may say something was withheld, shared
records, process notes, a session's history, the client's view."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

import attrs

from alliancekit.domain.records import MaintenancePlan
from alliancekit.domain.reprs import hidden, without_client_ids
from alliancekit.domain.vocab import Rater
from alliancekit.events.types import Event
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.store.protocol import CaseloadRow, ClosedOutcome

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.definition import Measure


@attrs.frozen
class TimelineEntry:
    """One event of an episode's timeline, with who recorded it and when."""

    seq: int
    event_id: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor_id: str
    actor_role: str
    corrects: str | None
    event: Event = attrs.field(repr=False)

    __repr__ = without_client_ids  # a client actor's id is their client reference


class CarriesDefinitions:
    """A guarded read's result that carries the measure definitions stored with the data, for what is made
    from it (a report, a chart, an export, the attention list) to describe a measure by once its plugin is
    gone. They are read (each time it is called) only when asked, after the read was decided and audited: its
    one audit entry covers them, published instruments holding no client data, so they cost no entry of
    their own."""

    _definitions: Callable[[], Sequence[Measure]] | None = None

    def __getstate__(self) -> dict[str, object]:
        # a copy or a pickle is the data alone: the reader of the definitions is the practice's
        return {k: v for k, v in vars(self).items() if k != "_definitions"}

    def carry_definitions(self, read: Callable[[], Sequence[Measure]]) -> None:
        """Set what :meth:`measure_definitions` reads (the facade's, on a read it decided and audited)."""
        object.__setattr__(self, "_definitions", read)  # a frozen result (a shared record) carries it too

    def measure_definitions(self) -> list[Measure]:
        """The stored measure definitions (none for a result not read from a practice)."""
        return [] if self._definitions is None else list(self._definitions())


class Timeline(list["TimelineEntry"], CarriesDefinitions):
    """A list of timeline entries that also says whether the client's lockbox withheld something."""

    withheld: bool = False

    def __repr__(self) -> str:
        return f"Timeline({len(self)} entries, withheld={self.withheld})"


class ClosedOutcomes(list[ClosedOutcome], CarriesDefinitions):
    """The closed outcomes a reader may see (:meth:`alliancekit.Practice.closed_outcomes`)."""


class Caseload(list[CaseloadRow], CarriesDefinitions):
    """The caseload rows a reader may see (:meth:`alliancekit.Practice.caseload`): the attention list names
    an open alert's measure whose plugin is gone by its stored definition, under this read's entry."""


@attrs.frozen
class SharedRecord(CarriesDefinitions):
    """An episode's record as shared outside the treating relationship (an export, a break-glass read).

    ``withheld`` says that the client's lockbox kept something back, never what. It carries the stored
    measure definitions (:class:`CarriesDefinitions`): an export describes a measure whose plugin is gone
    under this read's audit entry.
    """

    episode_id: str
    client_ref: str = attrs.field(repr=hidden)
    entries: tuple[TimelineEntry, ...] = attrs.field(repr=False)
    withheld: bool
    state: EpisodeState | None = attrs.field(default=None, repr=False, eq=False)
    """The episode's state as the reader may see it. When the lockbox withheld something, the fold of the
    shared entries alone (:func:`~alliancekit.security.lockbox.shared_state`: its stage, clinician, fit and
    closing say no more than they do; scores and alerts also withheld where the directives say so), and
    ``None`` when a whole-record lockbox withholds even the opening."""

    @property
    def frame_withheld(self) -> bool:
        """Whether a whole-record lockbox withholds even that the episode exists (its opening is not
        shared): an export then says nothing of the episode, not even a row or a resource for it."""
        return self.withheld and self.state is None  # decided once, by shared_state


@attrs.frozen
class ProcessNote:
    """A therapist's private process note, as returned to its author."""

    note_id: str
    written_on: date
    recorded_at: datetime
    text: str = attrs.field(repr=False)


@attrs.frozen
class SessionHistory:
    """A signed session record with everything attached to it since: corrections, addenda, statements.

    The original is always readable; nothing here replaces it in the stream.
    """

    session_id: str
    original: TimelineEntry
    corrections: tuple[TimelineEntry, ...] = ()
    addenda: tuple[TimelineEntry, ...] = ()
    disagreements: tuple[TimelineEntry, ...] = ()


@attrs.frozen
class ClientGoal:
    goal_id: str
    status: str
    description: str = attrs.field(repr=False)


@attrs.frozen
class ClientScore:
    """A measure's total as the client view shows it, and whose it is: given in a session, or answered by
    the client themselves (a request's link, a kiosk code, a form recorded for them from paper)."""

    measure_id: str
    held_on: date
    """The session's day; for a measure the client answered themselves, the day they answered it."""
    total: float = attrs.field(repr=False)
    at_session: int = 0
    """The number of the session the score counts at: its session's; for the client's own answers, the
    session they were given in, else the next one's for a start of session, else the last one's (0 before
    any), as :attr:`~alliancekit.events.types.ClientResponseRecorded.at_session`."""
    client_reported: bool = False
    """True for a measure the client answered themselves (``client-response-recorded``), false for a
    session's score."""
    about: str | None = attrs.field(default=None, repr=hidden)
    """The participant the score is about (their host reference); ``None``: the episode's identified client,
    as :attr:`~alliancekit.events.types.RecordedScore.about`."""
    rater: Rater = Rater.CLIENT
    """Who rated: the participant themselves, or a collateral rater (a parent, a partner, a teacher). With
    :attr:`about`, what tells apart the scores of one measure in one session."""


@attrs.frozen
class ClientView:
    """The client-facing record: goals, scores (the sessions' and the measures the client answered
    themselves, in the order they were given) and the maintenance plan. No notes of the clinician's, no
    answers to a measure's items."""

    episode_id: str
    goals: tuple[ClientGoal, ...]
    scores: tuple[ClientScore, ...]
    maintenance_plan: MaintenancePlan | None = attrs.field(default=None, repr=False)
