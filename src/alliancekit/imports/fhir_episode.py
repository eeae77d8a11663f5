"""Reading one ``EpisodeOfCare`` of a FHIR source, and everything the join filed under it, into its import
unit: the episode rebuilt through the facade's commands, in the order its records happened.

* the episode (client from ``patient``, opened on ``period.start`` by its first clinician of record), its
  consultation (date, modality, consent) and fit decision (to proceed only where ``statusHistory`` shows
  care beginning, on that day, see :func:`care_began`; refer or not proceed from the ``fit-outcome``
  extension when ``cancelled``), each transfer, the other participants and the group of its contained
  CareTeam;
* each session ``Encounter`` with its administrations (:mod:`.fhir_sessions`); one a correction moved
  earlier is recorded on its first day and corrected (:func:`_recorded`);
* each measure the client filled in themselves, as a client response (:mod:`.fhir_client_responses`);
* goals and revisions, reviews, ruptures and repairs, the handling of alerts, each change of the client's
  consent to measures, holds, the ending planned and the ending with its maintenance plan
  (:mod:`.fhir_records`).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.records import Consultation, Ending, FitDecision, Participant, Session
from alliancekit.domain.vocab import EndingReason, FitOutcome, Modality, ParticipantRole
from alliancekit.errors import ValidationError
from alliancekit.fhir.codes import (
    ENCOUNTER_KIND,
    EXT_CLINICIAN_OF_RECORD,
    EXT_FIT_OUTCOME,
    EXT_NORM_POPULATION,
    FIT_OUTCOME,
    GROUP_ID_SYSTEM,
    PARTICIPANT_ROLE,
)
from alliancekit.imports.fhir_checked import build
from alliancekit.imports.fhir_joined import Joined, Totals
from alliancekit.imports.fhir_json import Resource, as_dict, as_list, extension_value, key_id, sub_extensions
from alliancekit.imports.fhir_json import coding_of as _coding
from alliancekit.imports.fhir_json import identifier_of as _identifier
from alliancekit.imports.fhir_provenance import EpisodeEvents, RecordedAt
from alliancekit.imports.fhir_records import IMPORTED_NOTE, RANK, Dated, EpisodeReader, in_order
from alliancekit.imports.fhir_sessions import SessionReading
from alliancekit.imports.units import EpisodeRef, Ref, Step, Unit

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping, Sequence

    from alliancekit.imports.fhir_records import Refused
    from alliancekit.imports.fhir_sessions import TotalsOf


def by_clinician_of_record(steps: list[Step], first: str) -> tuple[Step, ...]:
    """``steps`` (in order) each made by the clinician of record when it runs: ``first``, then the one each
    transfer hands over to (a transfer is made by the one handing over)."""
    out = []
    current = first
    for step in steps:
        out.append(step if current == first else attrs.evolve(step, by=current))
        if step.method == "transfer":
            current = step.args["to_clinician_id"]
    return tuple(out)


def care_began(status: Any, history: list[tuple[str, date, date | None]]) -> tuple[bool, date | None]:
    """Whether what was shared says care began (a fit decision to proceed), and on which day (``None``: the
    opening's). Only the fit decision makes an episode ``active`` in the export's ``statusHistory``, so the
    evidence is an ``active`` period there, or the status ``active`` straight after ``planned``. A status past
    ``planned`` is not: under a lockbox that withheld the fit decision the status is folded from the shared
    records alone (``onhold`` after a shared hold, ``finished`` after a shared closing, ``active`` after a
    shared ending plan, each with no ``active`` period), and the import invents no fit decision for it."""
    began = next((start for was, start, _ in history if was == "active"), None)
    if began is not None:
        return True, began
    if status == "active" and history and history[-1][0] == "planned":
        return True, history[-1][2]
    return False, None


def _recorded(
    ref: EpisodeRef, encounter: tuple[str, str], session: Session, first: date | None, recorded: RecordedAt
) -> list[Dated]:
    """Recording the session of ``encounter`` (its id, and what it is keyed on). One a correction moved
    earlier (``first``: the day it was first recorded on) is recorded on that day, then corrected, as it
    happened: its measures were taken with consent on that day, which the rules ask of a measure by the day
    it names, and a correction keeps."""
    eid, named = encounter
    key = ref.key(f"session:{named}")
    at = recorded.at(f"Encounter/{eid}", "session-recorded")
    if first is None:
        return [Dated(session.held_on, Step("record_session", {"session": session}, key), at=at)]
    args = {"session_id": Ref(key), "session": session, "reason": IMPORTED_NOTE}
    correction = Step("correct_session", args, ref.key(f"correction:{named}"))
    as_first = attrs.evolve(session, held_on=first)
    return [
        Dated(first, Step("record_session", {"session": as_first}, key), at=at),
        Dated(first, correction, at=recorded.at(f"Encounter/{eid}", "session-corrected", -1)),
    ]


class EpisodeReading(SessionReading):
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that reads an episode's unit."""

    refused: Refused
    withheld: bool

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides

        def _target(self, reference: Any, rtype: str) -> str | None: ...

        def _client_responses(
            self,
            ref: EpisodeRef,
            sessions: Sequence[tuple[str, Session]],
            keys: Mapping[str, str],
            found: Sequence[Resource],
            totals: TotalsOf,
            recorded: RecordedAt,
        ) -> list[Dated]: ...

    def _unit(self, res: Resource, joined: Joined, recorded: RecordedAt) -> Unit | None:
        """The unit of the EpisodeOfCare ``res`` (``None``: a problem, in ``errors``)."""
        data = res.data
        client = _identifier(data.get("patient"))
        clinicians = self._clinicians(res)
        period = as_dict(data.get("period"))
        before = len(self.errors)
        if client is None:
            self._error(res, "EpisodeOfCare.patient.identifier", "required", "the client's reference")
        if not clinicians:
            self._error(res, "EpisodeOfCare.careManager.identifier", "required", "the clinician's id")
        opened = self._date(res, "EpisodeOfCare.period.start", period.get("start"))
        status = data.get("status")
        if status not in ("planned", "active", "onhold", "finished", "cancelled"):
            self._error(res, "EpisodeOfCare.status", "enum", "planned, active, onhold, finished or cancelled")
        totals = Totals(joined)
        consulted, held, sessions, named, moved = self._encounters(res, joined, totals, client)
        history = self._history(res)
        population = self._population(res)
        if len(self.errors) > before or opened is None or client is None or not clinicians or history is None:
            return None
        modality = Modality.IN_PERSON if held is None else held.modality
        ref = EpisodeRef(client, key_id(data), clinicians[0][0], opened, modality, population)
        keys = {eid: ref.key(f"session:{named[eid]}") for eid, _ in sessions}
        dated = [
            d for eid, s in sessions for d in _recorded(ref, (eid, named[eid]), s, moved.get(eid), recorded)
        ]
        responses = joined.client_responses(data["id"])
        dated += self._client_responses(ref, sessions, keys, responses, totals, recorded)
        reader = EpisodeReader(
            ref,
            joined.linked(data["id"]),
            joined,
            recorded,
            self._error,
            self._target,
            self.refused,
        )
        episode = EpisodeEvents(recorded, f"EpisodeOfCare/{data['id']}")
        dated += self._team(res, ref, episode)
        dated += reader.goals() + reader.reviews() + reader.ruptures(keys) + reader.alerts()
        dated += reader.consents()
        end = self._date(res, "EpisodeOfCare.period.end", period.get("end")) if period.get("end") else None
        planning, ending = reader.ending(res, end)
        dated += planning + self._transfers(ref, clinicians, episode)
        dated += self._holds(ref, history, status, episode)
        if len(self.errors) > before:
            return None
        last_day = max([opened, *(d.on for d in dated)])
        dated += self._outcome(res, ref, status, history, end or last_day, ending, episode)
        if len(self.errors) > before:  # a record of the outcome refused a value
            return None
        steps = by_clinician_of_record([d.step for d in in_order(dated)], clinicians[0][0])
        proceed, fit_on = care_began(status, history)
        return Unit(
            res.line,
            res.line,
            ref,
            steps,
            proceed=proceed,
            # a fit decision (to proceed, or the one a cancelled episode closed at) needs the consultation
            consulted=consulted or proceed or status == "cancelled",
            consultation=held,
            fit_on=fit_on,
            withheld=joined.withheld(data["id"], self.withheld),
        )

    def _population(self, res: Resource) -> str | None:
        """The norm population the ``EpisodeOfCare``'s ``norm-population`` extension names (``None``:
        none), checked as ``start_episode`` checks it, so a dry run reports a bad one: a value that is not a
        code is an error (rule ``type``; read as absent, it would open the episode against the default
        norms), and so is one no registered measure declares (``declared-population``), or a second one."""
        extensions = res.data.get("extension")
        found = [
            (i, e)
            for i, e in enumerate(extensions if isinstance(extensions, list) else [])
            if isinstance(e, dict) and e.get("url") == EXT_NORM_POPULATION
        ]
        if not found:
            return None
        index, extension = found[0]
        # the export writes a valueString; a code is read alike
        kinds = [k for k in extension if k.startswith("value")]
        kind = kinds[0] if len(kinds) == 1 else "valueString"
        path = f"EpisodeOfCare.extension[{index}].{kind}"
        value = extension.get(kind) if kind in ("valueString", "valueCode") else None
        if len(found) > 1:
            self._error(res, f"EpisodeOfCare.extension[{found[1][0]}]", "maximum", "one norm population")
            return None
        if not isinstance(value, str):
            self._error(res, path, "type", "a norm population's name, as a string")
            return None
        try:
            return self.registry.check_population(path, value)
        except ValidationError as exc:
            self._error(res, path, exc.rule, exc.detail)
            return None

    def _encounters(
        self, res: Resource, joined: Joined, totals: Totals, client: str | None
    ) -> tuple[bool, Consultation | None, list[tuple[str, Session]], dict[str, str], dict[str, date]]:
        """Whether the episode's consultation is in the source, what it says, each session by its
        Encounter's id, in date order (a session or response about a Patient other than ``client``, the
        episode's, is an error), what each is keyed on, and the first day of each a correction moved."""
        mine = sorted(
            joined.encounters(res.data["id"]),
            key=lambda r: str(as_dict(r.data.get("period")).get("start")),
        )
        consultation = next(
            (r for r in mine if _coding(r.data.get("type"), ENCOUNTER_KIND) == "consultation"), None
        )
        held = None if consultation is None else self._consultation(consultation, client)
        sessions = []
        moved: dict[str, date] = {}
        for enc in mine:
            kind = _coding(enc.data.get("type"), ENCOUNTER_KIND)
            if kind == "session":
                session = self._session(enc, joined.responses(enc.data["id"]), totals, client)
                if session is not None:
                    sessions.append((enc.data["id"], session))
                    if (first := self._first_held_on(enc, session)) is not None:
                        moved[enc.data["id"]] = first
            elif kind != "consultation":
                self._error(
                    enc, "Encounter.type", "unknown-kind", "not an alliancekit consultation or session"
                )
        named = {enc.data["id"]: key_id(enc.data) for enc in mine}  # what each session is keyed on
        return consultation is not None, held, sessions, named, moved

    @staticmethod
    def _transfers(
        ref: EpisodeRef, clinicians: list[tuple[str, date]], episode: EpisodeEvents
    ) -> list[Dated]:
        keys = ref.keys(f"transfer:{on}:{to}" for to, on in clinicians[1:])
        return [
            Dated(
                on,
                Step("transfer", {"to_clinician_id": to, "on": on, "reason": IMPORTED_NOTE}, key),
                at=episode.at("clinician-transferred", i),
            )
            for i, ((to, on), key) in enumerate(zip(clinicians[1:], keys, strict=True))
        ]

    @staticmethod
    def _holds(
        ref: EpisodeRef, history: list[tuple[str, date, date | None]], now: Any, episode: EpisodeEvents
    ) -> list[Dated]:
        """Each earlier hold (a ``statusHistory`` period ``onhold``) and its resumption, when the status
        after it (the next period's, else the episode's ``now``) is ``active``, or ``planned`` (an export
        that withheld the fit decision before the hold): an episode closed while on hold was not resumed."""
        if not history:  # an episode never past its consultation (or one shared so): no earlier status
            return []
        out = []
        after = [status for status, _, _ in history[1:]] + [now]
        holds = [
            (start, until, then)
            for (status, start, until), then in zip(history, after, strict=True)
            if status == "onhold"
        ]
        held = ref.keys(f"hold:{start}" for start, _, _ in holds)
        resumed = ref.keys(f"resume:{until}" for _, until, _ in holds)
        for i, (start, until, then) in enumerate(holds):
            step = Step("put_on_hold", {"on": start, "reason": IMPORTED_NOTE}, held[i])
            out.append(Dated(start, step, at=episode.at("episode-put-on-hold", i)))
            if until is not None and then in ("active", "planned"):
                # resumed the day it was put on hold: after the hold, not at the start of the day
                rank = RANK["put_on_hold"] if until == start else None
                step = Step("resume", {"on": until}, resumed[i])
                out.append(Dated(until, step, rank, episode.at("episode-resumed", i)))
        return out

    def _outcome(
        self,
        res: Resource,
        ref: EpisodeRef,
        status: Any,
        history: list[tuple[str, date, date | None]],
        end: date,
        ending: Ending | None,
        episode: EpisodeEvents,
    ) -> list[Dated]:
        """Where the episode stands now: on hold (since its last status change), closed after an ending
        (an unplanned withdrawal when the export does not say how it ended), or closed at the fit
        decision."""
        if status == "onhold":
            since = history[-1][2] if history and history[-1][2] is not None else end
            step = Step("put_on_hold", {"on": since, "reason": IMPORTED_NOTE}, ref.key("hold"))
            return [Dated(since, step, at=episode.at("episode-put-on-hold", -1))]
        if status == "finished":
            ending = ending or build(
                self._error,
                res,
                {"": "EpisodeOfCare.period.end"},
                Ending,
                end,
                planned=False,
                reason=EndingReason.WITHDRAWAL,
                reflection=IMPORTED_NOTE,
            )
            if ending is None:
                return []
            step = Step("close_episode", {"ending": ending}, ref.key("close"))
            return [Dated(ending.ended_on, step, at=episode.at("episode-closed"))]
        if status == "cancelled":
            outcome = self._fit_outcome(res)
            on = end if res.data.get("period", {}).get("end") else ref.opened_on
            referred = IMPORTED_NOTE if outcome is FitOutcome.REFER else None
            fields = {"": "EpisodeOfCare.period.end"}
            fit = build(
                self._error,
                res,
                fields,
                FitDecision,
                outcome,
                on,
                rationale=IMPORTED_NOTE,
                referred_to=referred,
            )
            if fit is None:
                return []
            return [Dated(on, Step("decide_fit", {"decision": fit}, ref.key("fit")))]
        return []

    def _team(self, res: Resource, ref: EpisodeRef, episode: EpisodeEvents) -> list[Dated]:
        """The other participants (``add_participant``) and the group (``join_group``) of the contained
        CareTeam the episode's ``team`` names."""
        team_ref = as_dict(next(iter(as_list(res.data.get("team"))), None)).get("reference")
        team = next(
            (
                c
                for c in as_list(res.data.get("contained"))
                if isinstance(c, dict) and isinstance(team_ref, str) and f"#{c.get('id')}" == team_ref
            ),
            None,
        )
        if team is None:
            return []
        out: list[Dated] = []
        facilitators: list[str] = []
        group_on = None
        for i, member in enumerate(as_list(team.get("participant"))):
            member = as_dict(member)
            field = f"EpisodeOfCare.contained.participant[{i}]"
            role = _coding(member.get("role"), PARTICIPANT_ROLE)
            who = _identifier(member.get("member"))
            since = as_dict(member.get("period")).get("start")
            on = None if since is None else self._date(res, f"{field}.period.start", since)
            if role == ParticipantRole.CLIENT.value:
                continue
            if who is None or since is None:
                self._error(res, f"{field}.member" if who is None else f"{field}.period.start", "required")
                continue
            if on is None:  # not a date, or out of range: reported
                continue
            if role == "facilitator":
                facilitators.append(who)
                group_on = on
                continue
            kind = ParticipantRole(role) if role in set(ParticipantRole) else None
            consent = self._consent(res, member, f"{field}.extension[consent]")
            if kind is None:
                self._error(res, f"{field}.role", "enum", "an alliancekit participant role")
                continue
            if consent is None:
                continue
            fields = {"": f"{field}.member", "consent": f"{field}.extension[consent]"}
            participant = build(self._error, res, fields, Participant, who, kind, consent)
            if participant is None:
                continue
            step = Step(
                "add_participant", {"participant": participant, "added_on": on}, ref.key(f"joined:{who}")
            )
            out.append(Dated(on, step, at=episode.at("participant-added", len(out))))
        if facilitators and group_on is not None:
            group = next(
                (
                    i.get("value")
                    for i in map(as_dict, as_list(team.get("identifier")))
                    if i.get("system") == GROUP_ID_SYSTEM
                ),
                None,
            )
            if not isinstance(group, str):
                self._error(res, "EpisodeOfCare.contained.identifier", "required", "the group's id")
                return out
            args = {"group_id": group, "facilitator_ids": tuple(facilitators), "joined_on": group_on}
            step = Step("join_group", args, ref.key(f"group:{group}"))
            out.append(Dated(group_on, step, at=episode.at("group-joined")))
        return out

    def _clinicians(self, res: Resource) -> list[tuple[str, date]]:
        """Each clinician of record and the day they became it (else the care manager, from the opening)."""
        found = []
        for parts in sub_extensions(res.data, EXT_CLINICIAN_OF_RECORD):
            clinician = _identifier(parts.get("clinician", {}).get("valueReference"))
            since = self._date(
                res,
                "EpisodeOfCare.extension[clinician-of-record].start",
                parts.get("start", {}).get("valueDate"),
            )
            if clinician is None:
                self._error(
                    res,
                    "EpisodeOfCare.extension[clinician-of-record].clinician",
                    "required",
                    "the clinician's id",
                )
                return []
            if since is not None:
                found.append((clinician, since))
        manager = _identifier(res.data.get("careManager"))
        if not found and manager is not None:
            found.append((manager, date.min))  # the first clinician's day is the opening's: never compared
        return found

    def _history(self, res: Resource) -> list[tuple[str, date, date | None]] | None:
        out = []
        for i, item in enumerate(as_list(res.data.get("statusHistory"))):
            item = as_dict(item)
            period = as_dict(item.get("period"))
            start = self._date(res, f"EpisodeOfCare.statusHistory[{i}].period.start", period.get("start"))
            end = period.get("end")
            until = (
                None if end is None else self._date(res, f"EpisodeOfCare.statusHistory[{i}].period.end", end)
            )
            if start is None or (end is not None and until is None):
                return None
            out.append((str(item.get("status")), start, until))
        return out

    def _fit_outcome(self, res: Resource) -> FitOutcome:
        code = _coding({"coding": [extension_value(res.data, EXT_FIT_OUTCOME)]}, FIT_OUTCOME)
        if code == FitOutcome.REFER.value:
            return FitOutcome.REFER
        return FitOutcome.NOT_PROCEED
