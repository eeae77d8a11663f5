"""The records an export maps: an episode's stored events assembled into what FHIR resources describe.

FHIR resources are not one-to-one with events: a Goal is the agreement plus every revision and review, an
Encounter is a session as last corrected. :func:`assemble` walks one episode's stored events and builds
those records.

Privacy by construction: only the event types in :data:`EXPORTED_EVENT_TYPES` are ever decoded. Anything
else in the stream (a therapist's private process notes, any event type added later) is skipped unread, so
a new kind of record is not exported until someone decides how to map it. There is no "everything else".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

import attrs

from alliancekit.domain.records import (
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    MaintenancePlan,
    RepairAttempt,
    Review,
    RuptureNote,
    Session,
)
from alliancekit.domain.reprs import hidden, without_client_ids
from alliancekit.domain.vocab import FitOutcome, GoalProgress, GoalStatus, RequestPoint
from alliancekit.events import catalog
from alliancekit.events.types import (
    AlertAcknowledged,
    AlertRaised,
    AlertResolved,
    ClientResponseRecorded,
    ClinicianTransferred,
    ConsultationRecorded,
    EndingPlanned,
    EpisodeClosed,
    EpisodeOpened,
    EpisodePutOnHold,
    EpisodeResumed,
    FitDecided,
    GoalAgreed,
    GoalRevised,
    GroupJoined,
    MeasuresConsentChanged,
    ParticipantAdded,
    RecordedScore,
    ReviewRecorded,
    RuptureNoted,
    RuptureRepairRecorded,
    SessionCorrected,
    SessionRecorded,
)
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.security.views import TimelineEntry


@attrs.frozen
class Envelope:
    """Who recorded an event and when (what Provenance needs); never the payload."""

    event_id: str
    type: str
    seq: int
    occurred_at: datetime
    recorded_at: datetime
    actor_id: str
    actor_role: str
    corrects: str | None
    on: date | None = None
    """The day the event names, where no resource keeps it: a goal's agreement and each revision (a Goal
    is its current version only), for its Provenance's ``occurredDateTime``."""

    __repr__ = without_client_ids  # a client actor's id is their client reference

    @classmethod
    def of(cls, stored: TimelineEntry) -> Envelope:
        return cls(
            stored.event_id,
            stored.type,
            stored.seq,
            stored.occurred_at,
            stored.recorded_at,
            stored.actor_id,
            stored.actor_role,
            stored.corrects,
        )


@attrs.frozen
class Record:
    """Base of every exported record: the episode it belongs to and the events it was built from."""

    KIND = "record"
    episode_id: str
    entries: tuple[Envelope, ...]


@attrs.frozen
class StatusPeriod:
    status: str
    start: date
    end: date | None = None


@attrs.frozen
class EpisodeRecord(Record):
    KIND = "episode"
    state: EpisodeState
    history: tuple[StatusPeriod, ...]
    clinicians: tuple[tuple[str, date], ...]
    """Each clinician of record with the date they became it."""
    ending_plan: tuple[date, date | None] | None = None
    """The day the ending was (last) planned and its target date, if it was planned."""
    ending: Ending | None = attrs.field(default=None, repr=False)
    """How the episode ended (``None`` while open, or when it closed at the fit decision)."""
    joined: Mapping[str, tuple[date, Consent]] = attrs.field(factory=dict, repr=False)
    """Each other participant's day of joining the episode and their consent, by host reference."""
    group_joined_on: date | None = None


@attrs.frozen
class ConsultationRecord(Record):
    KIND = "consultation"
    consultation: Consultation = attrs.field(repr=False)
    fit: FitDecision | None = attrs.field(repr=False)
    clinician_id: str


@attrs.frozen
class SessionRecord(Record):
    KIND = "session"
    session_id: str
    number: int
    session: Session = attrs.field(repr=False)
    scores: tuple[RecordedScore, ...] = attrs.field(repr=False)
    corrected: bool
    clinician_id: str
    participants: tuple[str, ...] = attrs.field(default=(), repr=hidden)
    """The episode's other participants when the session was held (host references)."""
    facilitators: tuple[str, ...] = ()
    """The group's facilitators, for a group session."""
    first_held_on: date | None = None
    """The day it was held as first recorded, when a correction moved it earlier (else ``None``)."""

    @property
    def present(self) -> tuple[str, ...]:
        """The other participants who were there (all of them when the session names none)."""
        named = self.session.attended_by
        return tuple(p for p in named if p in self.participants) if named else self.participants


@attrs.frozen
class AdministrationRecord(Record):
    """One measure given in a session: a QuestionnaireResponse and Observations of its scores."""

    KIND = "administration"
    session_id: str | None
    """The session it was given in (``None``: a client response given between sessions)."""
    index: int
    held_on: date
    administration: Administration = attrs.field(repr=False)
    score: RecordedScore | None = attrs.field(repr=False)
    corrected: bool
    clinician_id: str = ""

    @property
    def key(self) -> tuple[object, ...]:
        """What its resources' ids derive from: the session and the administration's place in it."""
        return (self.session_id, self.index)

    @property
    def authored(self) -> str:
        """When it was completed, as FHIR writes it."""
        return self.held_on.isoformat()


@attrs.frozen
class ClientResponseRecord(AdministrationRecord):
    """A measure the client filled in themselves (through a request, or recorded for them by a clinician):
    a QuestionnaireResponse authored by the Patient, in its session's Encounter or in none."""

    KIND = "client-response"
    point: RequestPoint = RequestPoint.START
    at_session: int = 0
    responded_at: datetime | None = None

    @property
    def key(self) -> tuple[object, ...]:
        return ("client-response", self.entries[0].event_id)

    @property
    def authored(self) -> str:
        return self.responded_at.isoformat() if self.responded_at is not None else super().authored


@attrs.frozen
class GoalRecord(Record):
    KIND = "goal"
    goal_id: str
    number: int
    description: str = attrs.field(repr=False)
    tasks: tuple[str, ...] = attrs.field(repr=False)
    status: GoalStatus
    agreed_on: date
    status_on: date
    revisions: int
    progress: GoalProgress | None = attrs.field(repr=hidden)
    progress_on: date | None
    episode_closed: bool


@attrs.frozen
class ConsentRecord(Record):
    """One change of a participant's consent to measures after it was first given: a FHIR Consent."""

    KIND = "consent"
    number: int
    """Its place among the changes of the same participant's consent (1: the first), what its resource's id
    derives from."""
    measures: bool = attrs.field(repr=hidden)
    """Given (``True``) or withdrawn (``False``)."""
    changed_on: date
    until: date | None = None
    """The day the same participant's next change took its place (``None``: the consent in force)."""
    participant: str | None = attrs.field(default=None, repr=hidden)
    """Whose consent: another participant's reference; ``None``: the identified client's."""


@attrs.frozen
class ReviewRecord(Record):
    """A review: an Observation of its decision, with one of each goal's progress judged at it."""

    KIND = "review"
    review_id: str
    review: Review = attrs.field(repr=False)
    clinician_id: str


@attrs.frozen
class RuptureRecord(Record):
    KIND = "rupture"
    rupture_id: str
    note: RuptureNote = attrs.field(repr=False)
    at_session: int
    repairs: tuple[RepairAttempt, ...] = attrs.field(repr=False)
    clinician_id: str

    @property
    def resolved(self) -> bool:
        return self.note.resolved or any(r.resolved for r in self.repairs)


@attrs.frozen
class MaintenancePlanRecord(Record):
    KIND = "maintenance-plan"
    ending: Ending = attrs.field(repr=False)
    plan: MaintenancePlan = attrs.field(repr=False)
    goal_ids: tuple[str, ...]
    clinician_id: str


@attrs.frozen
class AlertRecord(Record):
    KIND = "alert"
    alert_id: str
    rule: str = attrs.field(repr=hidden)
    severity: str | None = attrs.field(repr=hidden)
    raised_on: date
    acknowledged_on: date | None = None
    resolved_on: date | None = None
    measure_id: str | None = attrs.field(default=None, repr=hidden)
    """The measure whose scores raised it, if one did."""
    participant: str | None = attrs.field(default=None, repr=hidden)
    """The other participant it is about (``None``: the identified client, or the episode)."""


@attrs.frozen
class MeasureRecord:
    """A measure definition, exported as a Questionnaire (not part of any episode)."""

    KIND = "measure"
    measure: Any  # alliancekit.measures.definition.Measure
    episode_id: None = None
    entries: tuple[Envelope, ...] = ()


@attrs.frozen
class ProvenanceRecord(Record):
    """Who recorded one event, and the resources it produced or changed."""

    KIND = "provenance"
    targets: tuple[str, ...] = ()


@attrs.frozen
class EpisodeRecords:
    """Everything exportable of one episode, in the order the resources are emitted."""

    episode: EpisodeRecord
    records: tuple[Record, ...]
    measures: tuple[tuple[str, str], ...]
    """``(measure_id, version)`` of every administration, for the Questionnaires."""


class _Assembly:
    """Mutable working state of :func:`assemble`; one per episode, dropped when it returns."""

    def __init__(self, episode_id: str, state: EpisodeState) -> None:
        self.episode_id = episode_id
        self.state = state
        self.opened: EpisodeOpened | None = None
        self.opened_entry: Envelope | None = None
        self.episode_entries: list[Envelope] = []
        self.history: list[tuple[str, date]] = []
        self.clinicians: list[tuple[str, date]] = []
        self.consultation: tuple[Consultation, list[Envelope]] | None = None
        self.fit: FitDecision | None = None
        self.sessions: dict[str, dict[str, Any]] = {}
        self.goals: dict[str, dict[str, Any]] = {}
        self.ruptures: dict[str, dict[str, Any]] = {}
        self.alerts: dict[str, dict[str, Any]] = {}
        self.reviews: list[ReviewRecord] = []
        self.ending_plan: tuple[date, date | None] | None = None
        self.closed: tuple[EpisodeClosed, Envelope] | None = None
        self.participants: list[str] = []
        self.joined: dict[str, tuple[date, Consent]] = {}
        self.facilitators: tuple[str, ...] = ()
        self.group_joined_on: date | None = None
        self.responses: list[tuple[ClientResponseRecorded, Envelope, str]] = []
        self.consents: list[tuple[MeasuresConsentChanged, Envelope]] = []

    @property
    def clinician(self) -> str:
        return self.clinicians[-1][0] if self.clinicians else self.state.clinician_id


Handler = Callable[[_Assembly, Any, Envelope], None]


def _opened(a: _Assembly, e: EpisodeOpened, env: Envelope) -> None:
    a.opened, a.opened_entry = e, env
    a.episode_entries.append(env)
    a.history.append(("planned", e.opened_on))
    a.clinicians.append((e.clinician_id, e.opened_on))


def _participant_added(a: _Assembly, e: ParticipantAdded, env: Envelope) -> None:
    a.participants.append(e.participant.client_ref)
    a.joined[e.participant.client_ref] = (e.added_on, e.participant.consent)
    a.episode_entries.append(env)


def _group_joined(a: _Assembly, e: GroupJoined, env: Envelope) -> None:
    a.facilitators = tuple(e.facilitator_ids)
    a.group_joined_on = e.joined_on
    a.episode_entries.append(env)


def _consultation(a: _Assembly, e: ConsultationRecorded, env: Envelope) -> None:
    a.consultation = (e.consultation, [env])


def _fit(a: _Assembly, e: FitDecided, env: Envelope) -> None:
    a.fit = e.decision
    if a.consultation is not None:
        a.consultation[1].append(env)
    if e.decision.outcome is FitOutcome.PROCEED:
        a.history.append(("active", e.decision.decided_on))
        a.episode_entries.append(env)


def _goal_agreed(a: _Assembly, e: GoalAgreed, env: Envelope) -> None:
    a.goals[e.goal_id] = {
        "number": len(a.goals) + 1,
        "description": e.description,
        "tasks": e.tasks,
        "status": GoalStatus.ACTIVE,
        "agreed_on": e.agreed_on,
        "status_on": e.agreed_on,
        "revisions": 0,
        "progress": None,
        "progress_on": None,
        "entries": [attrs.evolve(env, on=e.agreed_on)],
    }


def _goal_revised(a: _Assembly, e: GoalRevised, env: Envelope) -> None:
    goal = a.goals.get(e.revision.goal_id)
    if goal is None:  # pragma: no cover - the lifecycle rules refuse revisions of unknown goals
        return
    r = e.revision
    if r.description is not None:
        goal["description"] = r.description
    if r.tasks is not None:
        goal["tasks"] = r.tasks
    if r.status is not None and r.status is not goal["status"]:
        goal["status"], goal["status_on"] = r.status, e.revised_on
    goal["revisions"] += 1
    goal["entries"].append(attrs.evolve(env, on=e.revised_on))


def _review(a: _Assembly, e: ReviewRecorded, env: Envelope) -> None:
    a.reviews.append(ReviewRecord(a.episode_id, (env,), e.review_id, e.review, a.clinician))
    for note in e.review.goal_progress:
        goal = a.goals.get(note.goal_id)
        if goal is not None:
            goal["progress"], goal["progress_on"] = note.progress, e.review.held_on
            goal["entries"].append(env)


def _session(a: _Assembly, e: SessionRecorded, env: Envelope) -> None:
    a.sessions[e.session_id] = {
        "number": e.number,
        "session": e.session,
        "first_held_on": e.session.held_on,
        "scores": e.scores,
        "corrected": False,
        "clinician": a.clinician,
        "participants": tuple(a.participants),
        "facilitators": a.facilitators if e.session.group_session_id is not None else (),
        "entries": [env],
    }


def _session_corrected(a: _Assembly, e: SessionCorrected, env: Envelope) -> None:
    found = a.sessions.get(e.session_id)
    if found is None:  # pragma: no cover - the lifecycle rules refuse corrections of unknown sessions
        return
    found.update(session=e.session, scores=e.scores, corrected=True)
    found["entries"].append(env)


def _client_response(a: _Assembly, e: ClientResponseRecorded, env: Envelope) -> None:
    a.responses.append((e, env, a.clinician))


def _consent_changed(a: _Assembly, e: MeasuresConsentChanged, env: Envelope) -> None:
    a.consents.append((e, env))


def _rupture(a: _Assembly, e: RuptureNoted, env: Envelope) -> None:
    a.ruptures[e.rupture_id] = {
        "note": e.note,
        "at_session": e.at_session,
        "repairs": [],
        "clinician": a.clinician,
        "entries": [env],
    }


def _repair(a: _Assembly, e: RuptureRepairRecorded, env: Envelope) -> None:
    found = a.ruptures.get(e.rupture_id)
    if found is not None:
        found["repairs"].append(e.attempt)
        found["entries"].append(env)


def _on_hold(a: _Assembly, e: EpisodePutOnHold, env: Envelope) -> None:
    a.history.append(("onhold", e.on))
    a.episode_entries.append(env)


def _resumed(a: _Assembly, e: EpisodeResumed, env: Envelope) -> None:
    # back to the status before the hold, as the lifecycle goes back to the stage before it ("active" for
    # every hold the rules allow; "planned" when a lockbox withholds the fit decision before it)
    before = next((status for status, _ in reversed(a.history) if status != "onhold"), "active")
    a.history.append((before, e.on))
    a.episode_entries.append(env)


def _transferred(a: _Assembly, e: ClinicianTransferred, env: Envelope) -> None:
    a.clinicians.append((e.to_clinician_id, e.on))
    a.episode_entries.append(env)


def _ending_planned(a: _Assembly, e: EndingPlanned, env: Envelope) -> None:
    a.ending_plan = (e.on, e.target_date)
    a.episode_entries.append(env)


def _closed(a: _Assembly, e: EpisodeClosed, env: Envelope) -> None:
    a.closed = (e, env)
    a.history.append((closed_status(e), e.on))
    a.episode_entries.append(env)


def closed_status(e: EpisodeClosed) -> str:
    """``finished``, or ``cancelled`` when the episode closed at the fit decision (care never started)."""
    return "finished" if e.ending is not None else "cancelled"


def _alert_entry(a: _Assembly, alert_id: str, env: Envelope) -> dict[str, Any]:
    found = a.alerts.setdefault(
        alert_id, {"rule": "unknown", "severity": None, "raised_on": env.occurred_at.date(), "entries": []}
    )
    found["entries"].append(env)
    return found


def _alert_raised(a: _Assembly, e: AlertRaised, env: Envelope) -> None:
    found = _alert_entry(a, e.alert_id, env)
    found.update(
        rule=e.rule_id,
        severity=e.severity.value,
        raised_on=e.raised_on,
        measure_id=e.measure_id,
        participant=e.participant,
    )


def _alert_acknowledged(a: _Assembly, e: AlertAcknowledged, env: Envelope) -> None:
    _alert_entry(a, e.alert_id, env)["acknowledged_on"] = e.on


def _alert_resolved(a: _Assembly, e: AlertResolved, env: Envelope) -> None:
    _alert_entry(a, e.alert_id, env)["resolved_on"] = e.on


#: The allow-list: event type -> how it contributes to the exported records. Nothing else is read.
ASSEMBLERS: dict[str, Handler] = {
    EpisodeOpened.TYPE: _opened,
    ParticipantAdded.TYPE: _participant_added,
    GroupJoined.TYPE: _group_joined,
    ConsultationRecorded.TYPE: _consultation,
    FitDecided.TYPE: _fit,
    GoalAgreed.TYPE: _goal_agreed,
    GoalRevised.TYPE: _goal_revised,
    ReviewRecorded.TYPE: _review,
    SessionRecorded.TYPE: _session,
    SessionCorrected.TYPE: _session_corrected,
    ClientResponseRecorded.TYPE: _client_response,
    MeasuresConsentChanged.TYPE: _consent_changed,
    RuptureNoted.TYPE: _rupture,
    RuptureRepairRecorded.TYPE: _repair,
    EpisodePutOnHold.TYPE: _on_hold,
    EpisodeResumed.TYPE: _resumed,
    ClinicianTransferred.TYPE: _transferred,
    EndingPlanned.TYPE: _ending_planned,
    EpisodeClosed.TYPE: _closed,
    AlertRaised.TYPE: _alert_raised,
    AlertAcknowledged.TYPE: _alert_acknowledged,
    AlertResolved.TYPE: _alert_resolved,
}
#: What the export maps, declared in the event catalog (a test requires the assemblers to match it).
EXPORTED_EVENT_TYPES = catalog.EXPORTED
#: Event types decided never to be exported (process notes, lockbox directives; addenda and statements of
#: disagreement until they have a mapping).
NOT_EXPORTED_EVENT_TYPES = frozenset(catalog.CATALOG) - catalog.EXPORTED
#: Why each event type that is not exported is not (an export's report lists them; a test requires one
#: reason for every type in :data:`NOT_EXPORTED_EVENT_TYPES`).
NOT_EXPORTED_REASONS: dict[str, str] = {
    "session-addendum-added": "free text a clinician adds to a session after it; not mapped yet (it would be "
    "a DocumentReference about the Encounter): the session's corrected content is exported",
    "disagreement-attached": "the client's statement of disagreement (free text); not mapped yet (it would "
    "be a DocumentReference about the Encounter): disclose it with the record (Practice.shared_record) "
    "wherever the disputed session is disclosed",
    "lockbox-set": "the client's directive says who may see what: the export applies it (what it withholds "
    "is counted in OperationOutcome) and does not disclose the directive itself",
    "lockbox-lifted": "as lockbox-set: the directives are applied, never exported",
    "process-note-recorded": "a therapist's private process notes are never shared or exported",
    "administration-requested": "a request that the client fill a measure in (a link or a kiosk code) is "
    "workflow, not clinical content; what the client answered is its own event",
    "administration-request-revoked": "as administration-requested: workflow, not clinical content",
    "protocol-set": "the episode's measurement protocol (which measures are scheduled) is administrative; "
    "not mapped (a CarePlan activity could carry it)",
    "population-changed": "the norm population in force is the EpisodeOfCare's norm-population extension; "
    "the change itself is not mapped",
}


def assemble(state: EpisodeState, entries: Iterable[TimelineEntry]) -> EpisodeRecords:
    """Build the exportable records of one episode from its shared timeline (allow-listed types only).

    ``entries`` come from the facade (:meth:`~alliancekit.Practice.export_record`): access decided, the
    lockbox applied, free text decrypted, the read audited.
    """
    a = _Assembly(state.episode_id, state)
    for entry in entries:
        handler = ASSEMBLERS.get(entry.type)
        if handler is None:
            continue  # not exportable
        handler(a, entry.event, Envelope.of(entry))
    return _records(a)


def _history(a: _Assembly) -> tuple[StatusPeriod, ...]:
    periods: list[StatusPeriod] = []
    for status, start in a.history:
        if periods and periods[-1].status == status:
            continue
        if periods:
            periods[-1] = attrs.evolve(periods[-1], end=start)
        periods.append(StatusPeriod(status, start))
    return tuple(periods)


def _consents(ep: str, changes: list[tuple[MeasuresConsentChanged, Envelope]]) -> list[ConsentRecord]:
    """Each change of consent, in stored order, numbered among the changes of the same participant's
    consent (the client's as they always were) and ended by that participant's next change."""
    by_whom: dict[str | None, list[tuple[MeasuresConsentChanged, Envelope]]] = {}
    for change in changes:
        by_whom.setdefault(change[0].participant, []).append(change)
    out, numbers = [], dict.fromkeys(by_whom, 0)
    for e, env in changes:
        own = by_whom[e.participant]
        numbers[e.participant] = number = numbers[e.participant] + 1
        until = own[number][0].changed_on if number < len(own) else None  # the next change's
        out.append(ConsentRecord(ep, (env,), number, e.measures, e.changed_on, until, e.participant))
    return out


def _joined_by(a: _Assembly, participants: tuple[str, ...], held_on: date) -> tuple[str, ...]:
    """The participants who had joined by a session's day (as it stands): a session entered after someone
    joined may be dated before, and naming them present there would be refused on import."""
    return tuple(ref for ref in participants if a.joined[ref][0] <= held_on)


def _records(a: _Assembly) -> EpisodeRecords:
    ep = a.episode_id
    records: list[Record] = []
    if a.consultation is not None:
        consultation, consulted = a.consultation
        records.append(ConsultationRecord(ep, tuple(consulted), consultation, a.fit, a.clinicians[0][0]))
    measures: dict[tuple[str, str], None] = {}
    for session_id, s in a.sessions.items():
        entries = tuple(s["entries"])
        records.append(
            SessionRecord(
                ep,
                entries,
                session_id,
                s["number"],
                s["session"],
                s["scores"],
                s["corrected"],
                s["clinician"],
                _joined_by(a, s["participants"], s["session"].held_on),
                s["facilitators"],
                s["first_held_on"] if s["first_held_on"] > s["session"].held_on else None,
            )
        )
        scores = s["scores"]
        for i, admin in enumerate(s["session"].administrations):
            score = scores[i] if i < len(scores) and scores[i].measure_id == admin.measure_id else None
            measures[(admin.measure_id, admin.version)] = None
            records.append(
                AdministrationRecord(
                    ep,
                    entries,
                    session_id,
                    i,
                    s["session"].held_on,
                    admin,
                    score,
                    s["corrected"],
                    s["clinician"],
                )
            )
    for response, env, clinician in a.responses:
        admin = response.administration
        measures[(admin.measure_id, admin.version)] = None
        records.append(
            ClientResponseRecord(
                ep,
                (env,),
                response.session_id,
                0,
                response.responded_on,
                admin,
                response.scores[0] if response.scores else None,
                False,
                clinician,
                response.point,
                response.at_session,
                response.responded_at or env.occurred_at,
            )
        )
    closed = a.closed is not None
    for goal_id, g in a.goals.items():
        records.append(
            GoalRecord(
                ep,
                tuple(g["entries"]),
                goal_id,
                g["number"],
                g["description"],
                tuple(g["tasks"]),
                g["status"],
                g["agreed_on"],
                g["status_on"],
                g["revisions"],
                g["progress"],
                g["progress_on"],
                closed,
            )
        )
    records += a.reviews
    records += _consents(ep, a.consents)
    for rupture_id, r in a.ruptures.items():
        records.append(
            RuptureRecord(
                ep,
                tuple(r["entries"]),
                rupture_id,
                r["note"],
                r["at_session"],
                tuple(r["repairs"]),
                r["clinician"],
            )
        )
    for alert_id, al in a.alerts.items():
        records.append(
            AlertRecord(
                ep,
                tuple(al["entries"]),
                alert_id,
                al["rule"],
                al["severity"],
                al["raised_on"],
                al.get("acknowledged_on"),
                al.get("resolved_on"),
                al.get("measure_id"),
                al.get("participant"),
            )
        )
    if a.closed is not None:
        event, env = a.closed
        if event.ending is not None and event.ending.maintenance_plan is not None:
            goal_ids = tuple(g for g, v in a.goals.items() if v["status"] is not GoalStatus.CANCELLED)
            records.append(
                MaintenancePlanRecord(
                    ep, (env,), event.ending, event.ending.maintenance_plan, goal_ids, a.clinician
                )
            )
    ending = None if a.closed is None else a.closed[0].ending
    episode = EpisodeRecord(
        ep,
        tuple(a.episode_entries),
        a.state,
        _history(a),
        tuple(a.clinicians),
        a.ending_plan,
        ending,
        dict(a.joined),
        a.group_joined_on,
    )
    return EpisodeRecords(episode, tuple(records), tuple(measures))
