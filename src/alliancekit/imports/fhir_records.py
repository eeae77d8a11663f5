"""An episode's clinical records read back from FHIR as dated facade commands, in the order they happened.

:mod:`~alliancekit.imports.fhir_episode` reads the episode, its consultation and (:mod:`.fhir_sessions`) its
sessions; this module reads the rest of what the export writes about the episode: the clinicians of record
(transfers), holds and resumptions (``statusHistory``), goals and their revisions (Goal, and the Provenance
of each version), reviews with each goal's progress, ruptures and their repair attempts, alerts acknowledged
and resolved (Flag), each change of the client's consent to measures (Consent), the ending planned and the
ending itself with its maintenance plan (CarePlan).

Each command is dated, and the commands run in the order they were stored, which the Provenance of the event
that made each record says (``recorded``, :mod:`.fhir_provenance`), whatever days they name; where the
source does not say it for every command (another system's, or an older export), by day, and within a day in
the order stored where the source says it for all of that day's, else in the order a clinician's day runs
(:data:`RANK`); those stored at one instant in the order of their Provenance: see :func:`in_order`. Ids are
the library's, not the source's: a repair names the rupture as the import made it
(:class:`~alliancekit.imports.units.Ref`), an alert is the one the feedback rules raised again from the
imported sessions (:class:`~alliancekit.imports.units.OpenAlert`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Protocol

import attrs

from alliancekit.domain.records import (
    Ending,
    GoalDraft,
    GoalProgressNote,
    GoalRevision,
    MaintenancePlan,
    RepairAttempt,
    Review,
    RuptureNote,
)
from alliancekit.domain.vocab import (
    EndingReason,
    GoalProgress,
    GoalStatus,
    RepairStrategy,
    ReviewDecision,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
)
from alliancekit.fhir.codes import (
    ALERT_RULE,
    CONSENT_POLICY,
    DATA_ABSENT_REASON,
    ENDING_REASON,
    EXT_ALERT_ABOUT,
    EXT_ALERT_ACKNOWLEDGED,
    EXT_ALERT_MEASURE,
    EXT_CONSENT_ABOUT,
    EXT_ENDING,
    EXT_GOAL_STATUS,
    GOAL_ACHIEVEMENT,
    GOAL_STATUS,
    MAINTENANCE_ACTIVITY,
    REPAIR_STRATEGY,
    REVIEW_DECISION,
    RUPTURE,
    RUPTURE_CAUSE,
    RUPTURE_KIND,
    RUPTURE_MARKER,
)
from alliancekit.imports.fhir_checked import build, read_day
from alliancekit.imports.fhir_json import (
    Resource,
    as_dict,
    as_list,
    coding_of,
    extension_value,
    identifier_of,
    key_id,
    notes,
    sub_extensions,
)
from alliancekit.imports.fhir_provenance import RecordedAt, Stamp
from alliancekit.imports.units import Build, EpisodeRef, OpenAlert, Ref, Step

#: A required text the source does not carry (a hold's or a transfer's reason, a goal whose wording was
#: not exported, a resolution note): never the client's words, which are not invented.
IMPORTED_NOTE = "imported: the source does not say"
#: How one day's commands are ordered when the source does not say when each was stored: a change of consent
#: to measures and a resumption open the day (a withdrawal that day refuses that day's measures, as it would
#: have had it come first), goals are agreed before the session, what is noted about a session follows it,
#: a review, revisions and the handling of that day's alerts come after, and a transfer, a hold, planning
#: the ending and the ending close it. An alert raised on an earlier day is handled first
#: (:data:`EARLIER_ALERT`): it was open when the day began, and had it been resolved after the day's session,
#: that session could not have raised the same alert again.
RANK = {
    "change_measures_consent": 0,
    "add_participant": 0,
    "join_group": 0,
    "resume": 0,
    "agree_goals": 1,
    "record_session": 2,
    "note_rupture": 3,
    "record_repair": 4,
    "record_review": 5,
    "revise_goal": 6,
    "acknowledge_alert": 7,
    "resolve_alert": 8,
    "transfer": 9,
    "put_on_hold": 10,
    "plan_ending": 11,
    "close_episode": 12,
    "decide_fit": 12,
}
#: Where the acknowledgement or resolution of an alert raised on an earlier day falls in its day.
EARLIER_ALERT = 0
#: The rule of the report's note on another system's Consent (:func:`other_systems_consent`).
OTHER_POLICY = "other-policy"
#: What ``Goal.lifecycleStatus`` says of a goal when the goal-status extension is absent.
LIFECYCLE_STATUS = {
    "active": GoalStatus.ACTIVE,
    "on-hold": GoalStatus.ON_HOLD,
    "completed": GoalStatus.ACHIEVED,
    "cancelled": GoalStatus.CANCELLED,
}

Error = Callable[[Resource, str, str, str], None]


def other_systems_consent(data: Mapping[str, Any]) -> bool:
    """Whether a Consent is another system's: its ``policyRule`` has no code of alliancekit's
    ``consent-policy`` (a research or treatment consent, one naming its policy by ``policy`` only). It is
    no consent to measures, so it is left alone, as every resource the import does not map is, and the
    report notes it (rule :data:`OTHER_POLICY`); one claiming that code system is read, and checked."""
    return coding_of(data.get("policyRule"), CONSENT_POLICY) is None


Target = Callable[[Any, str], "str | None"]
"""The id of the resource of a type a reference names (``Type/id``, or a Bundle entry's full URL)."""


class Observations(Protocol):
    """The source's Observations by id (the last of an id)."""

    def get(self, observation: str, /) -> Resource | None: ...


@attrs.frozen
class Dated:
    """A command and the day it happened."""

    on: date
    step: Step
    rank: int | None = None
    """Where it falls in its day, when not where :data:`RANK` puts its command."""
    at: Stamp | None = None
    """When the event that made its record was stored (``None``: the source does not say)."""

    @property
    def ranked(self) -> int:
        """Where it falls in a working day (:data:`RANK`)."""
        return RANK.get(self.step.method, 5) if self.rank is None else self.rank


@attrs.define
class Refused:
    """The resources refused before they were read (by the FHIR R4 schema, or for a resource type it does
    not have): each is reported by its own errors, so a reference to one is not reported again as a
    reference to nothing (one problem, one error). ``"Kind/id" in refused``."""

    typed: set[str] = attrs.Factory(set)
    """``Kind/id`` of each refused resource of an R4 type."""
    untyped: set[str] = attrs.Factory(set)
    """The ids of refused resources of no R4 type (whatever a reference takes them for)."""
    totals: set[str] = attrs.Factory(set)
    """The QuestionnaireResponses whose total a refused Observation would have given."""

    def add(self, data: Mapping[str, Any], kind: str | None, target: Target) -> None:
        rid = data.get("id")
        if not isinstance(rid, str):
            return  # nothing can refer to it
        if kind is None:
            self.untyped.add(rid)
            return
        self.typed.add(f"{kind}/{rid}")
        if kind == "Observation":
            for source in as_list(data.get("derivedFrom")):
                response = target(source, "QuestionnaireResponse")
                if response is not None:
                    self.totals.add(response)

    def __contains__(self, ref: object) -> bool:
        return isinstance(ref, str) and (ref in self.typed or ref.partition("/")[2] in self.untyped)

    def clear(self) -> None:
        self.typed.clear()
        self.untyped.clear()
        self.totals.clear()


@attrs.define
class Linked:
    """Everything of one episode besides its encounters, as the source joined it."""

    goals: list[Resource] = attrs.Factory(list)
    reviews: list[Resource] = attrs.Factory(list)
    ruptures: list[Resource] = attrs.Factory(list)
    repairs: list[Resource] = attrs.Factory(list)
    flags: list[Resource] = attrs.Factory(list)
    care_plans: list[Resource] = attrs.Factory(list)
    consents: list[Resource] = attrs.Factory(list)


class EpisodeReader:
    """Reads one episode's clinical records into dated steps; problems go to ``error``."""

    def __init__(
        self,
        ref: EpisodeRef,
        linked: Linked,
        observations: Observations,
        recorded: RecordedAt,
        error: Error,
        target: Target,
        refused: Refused | None = None,
    ) -> None:
        self.ref, self.linked, self.observations = ref, linked, observations
        self.recorded = recorded
        self.error, self.target = error, target
        self.refused = Refused() if refused is None else refused
        self.goal_refs: dict[str, Ref] = {}

    # -- values ------------------------------------------------------------------------------------------

    def day(self, res: Resource, field: str, value: Any) -> date | None:
        return read_day(self.error, res, field, value)

    def enum(self, res: Resource, field: str, kind: Any, code: str | None, *, absent: bool = False) -> Any:
        """The ``kind`` member ``code`` names; else an error, ``required`` when the element that would hold
        the code is ``absent`` from the source, ``enum`` when it holds no code of ``kind``."""
        try:
            return kind(code or "")
        except ValueError:
            rule = "required" if absent and code is None else "enum"
            self.error(res, field, rule, f"a code of {kind.__name__}")
            return None

    def components(self, res: Resource) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for part in as_list(res.data.get("component")):
            code = coding_of(part.get("code"), RUPTURE) if isinstance(part, dict) else None
            if code is not None:
                found.setdefault(code, []).append(part)
        return found

    def strategies(self, res: Resource, parts: Mapping[str, list[dict[str, Any]]]) -> tuple[Any, ...] | None:
        out = []
        for part in parts.get("repair-strategy", []):
            code = coding_of(part.get("valueCodeableConcept"), REPAIR_STRATEGY)
            strategy = self.enum(res, "Observation.component[repair-strategy]", RepairStrategy, code)
            if strategy is None:
                return None
            out.append(strategy)
        return tuple(out)

    def resolved(self, res: Resource, parts: Mapping[str, list[dict[str, Any]]]) -> bool | None:
        value = (parts.get("resolved") or [{}])[0].get("valueBoolean")
        if not isinstance(value, bool):
            self.error(res, "Observation.component[resolved]", "required", "a boolean")
            return None
        return value

    # -- the records ---------------------------------------------------------------------------------------

    def goals(self) -> list[Dated]:
        """One ``agree_goals`` per agreement (the goals agreed on one day and stored at one instant, which
        one command makes; on one day, where the source does not say when they were stored), then each
        revision the Provenance dates."""
        agreements: dict[tuple[date, datetime | None], list[tuple[Resource, GoalDraft]]] = {}
        first: dict[tuple[date, datetime | None], Stamp] = {}  # each agreement's first goal-agreed
        for res in self.linked.goals:
            data = res.data
            start = self.day(res, "Goal.startDate", data.get("startDate"))
            description = as_dict(data.get("description"))
            masked = extension_value(description, DATA_ABSENT_REASON) is not None
            text = description.get("text")
            if not masked and not (isinstance(text, str) and text.strip()):
                self.error(res, "Goal.description.text", "required", "the goal's wording, or masked")
                continue
            tasks = tuple(
                n.removeprefix("Agreed task: ") for n in notes(data) if n.startswith("Agreed task: ")
            )
            if start is not None:
                fields = {"description": "Goal.description.text", "tasks": "Goal.note", "": "Goal"}
                draft = build(
                    self.error, res, fields, GoalDraft, IMPORTED_NOTE if masked else str(text), tasks
                )
                if draft is None:
                    continue
                stamp = self.recorded.at(f"Goal/{data['id']}", "goal-agreed")
                agreement = (start, None if stamp is None else stamp.at)
                agreements.setdefault(agreement, []).append((res, draft))
                if stamp is not None:
                    first[agreement] = min(stamp, first.get(agreement, stamp))
        out: list[Dated] = []
        keys = self.ref.keys(f"goals:{day.isoformat()}" for day, _ in agreements)
        for (agreement, agreed), key in zip(agreements.items(), keys, strict=True):
            day = agreement[0]
            step = Step("agree_goals", {"goals": [d for _, d in agreed], "agreed_on": day}, key)
            out.append(Dated(day, step, at=first.get(agreement)))
            for i, (res, _) in enumerate(agreed):
                self.goal_refs[res.data["id"]] = Ref(key, i)
                out += self.revisions(res, Ref(key, i))
        return out

    def revisions(self, res: Resource, goal: Ref) -> list[Dated]:
        data = res.data
        status_code = coding_of({"coding": [extension_value(data, EXT_GOAL_STATUS)]}, GOAL_STATUS)
        if status_code is not None:
            status = self.enum(res, "Goal.extension[goal-status]", GoalStatus, status_code)
        else:
            status = self.enum(
                res,
                "Goal.lifecycleStatus",
                GoalStatus,
                LIFECYCLE_STATUS.get(str(data.get("lifecycleStatus"))),
            )
        version = str(as_dict(data.get("meta")).get("versionId") or "1")
        if status is None or not version.isdigit() or int(version) < 1:
            if status is not None:
                self.error(res, "Goal.meta.versionId", "type", "a version number")
            return []
        out = []
        last = int(version)
        for n in range(2, last + 1):
            stored = self.recorded.event(f"Goal/{data['id']}", "goal-revised", n - 2)  # made version n
            on = None if stored is None else stored.on
            if on is None:  # the source does not date this version: the day the goal's status last changed
                on = self.day(res, "Goal.statusDate", data.get("statusDate") or data.get("startDate"))
                if on is None:
                    return []
            final = n == last and status is not GoalStatus.ACTIVE
            revision = Build(GoalRevision, {"goal_id": goal, "status": status if final else None})
            key = self.ref.key(f"goal:{key_id(data)}:{n}")
            step = Step("revise_goal", {"revision": revision, "revised_on": on}, key)
            out.append(Dated(on, step, at=None if stored is None else stored.stamp))
        return out

    def reviews(self) -> list[Dated]:
        out: list[Dated] = []
        for res in self.linked.reviews:
            data = res.data
            held_on = self.day(res, "Observation.effectiveDateTime", data.get("effectiveDateTime"))
            code = coding_of(data.get("valueCodeableConcept"), REVIEW_DECISION)
            absent = "valueCodeableConcept" not in data
            decision = self.enum(res, "Observation.valueCodeableConcept", ReviewDecision, code, absent=absent)
            progress = []
            for i, member in enumerate(as_list(data.get("hasMember"))):
                note = self.progress(res, i, member)
                if note is None:
                    return out
                progress.append(note)
            if held_on is None or decision is None:
                continue
            review = Build(
                Review, {"held_on": held_on, "decision": decision, "goal_progress": tuple(progress)}
            )
            key = self.ref.key(f"review:{key_id(data)}")
            at = self.recorded.at(f"Observation/{data['id']}", "review-recorded")
            out.append(Dated(held_on, Step("record_review", {"review": review}, key), at=at))
        return out

    def progress(self, review: Resource, index: int, member: Any) -> Build | None:
        field = f"Observation.hasMember[{index}]"
        found = self.target(member, "Observation")
        res = None if found is None else self.observations.get(found)
        if res is None:
            if f"Observation/{found}" not in self.refused:
                self.error(review, field, "reference", "no goal-progress Observation in the source")
            return None
        focus = next(iter(as_list(res.data.get("focus"))), None)
        goal_id = self.target(focus, "Goal")
        goal = self.goal_refs.get(goal_id or "")
        if goal is None:
            if f"Goal/{goal_id}" not in self.refused:
                self.error(res, "Observation.focus", "reference", "no Goal of the episode in the source")
            return None
        code = coding_of(res.data.get("valueCodeableConcept"), GOAL_ACHIEVEMENT)
        absent = "valueCodeableConcept" not in res.data
        progress = self.enum(res, "Observation.valueCodeableConcept", GoalProgress, code, absent=absent)
        if progress is None:
            return None
        return Build(
            GoalProgressNote, {"goal_id": goal, "progress": progress, "note": "\n".join(notes(res.data))}
        )

    def ruptures(self, sessions: Mapping[str, str]) -> list[Dated]:
        """Each rupture (naming the imported session it was noted in) and its repair attempts."""
        out = []
        repairs: dict[str, list[Resource]] = {}
        for res in self.linked.repairs:
            focus = next(iter(as_list(res.data.get("focus"))), None)
            repairs.setdefault(self.target(focus, "Observation") or "", []).append(res)
        for res in self.linked.ruptures:
            data = res.data
            noted_on = self.day(res, "Observation.effectiveDateTime", data.get("effectiveDateTime"))
            parts = self.components(res)
            kind = self.enum(
                res,
                "Observation.valueCodeableConcept",
                RuptureKind,
                coding_of(data.get("valueCodeableConcept"), RUPTURE_KIND),
                absent="valueCodeableConcept" not in data,
            )
            markers = [
                self.enum(
                    res,
                    "Observation.component[marker]",
                    RuptureMarker,
                    coding_of(p.get("valueCodeableConcept"), RUPTURE_MARKER),
                )
                for p in parts.get("marker", [])
            ]
            cause = self.enum(
                res,
                "Observation.component[likely-cause]",
                RuptureCause,
                coding_of(
                    as_dict(next(iter(parts.get("likely-cause", [])), None)).get("valueCodeableConcept"),
                    RUPTURE_CAUSE,
                ),
                absent="likely-cause" not in parts,
            )
            salience = (parts.get("salience") or [{}])[0].get("valueInteger")
            if not isinstance(salience, int) or isinstance(salience, bool):
                self.error(res, "Observation.component[salience]", "required", "a whole number")
                continue
            strategies, resolved = self.strategies(res, parts), self.resolved(res, parts)
            attempts = [self.repair(r) for r in repairs.get(data["id"], [])]
            if None in (noted_on, kind, cause, strategies, resolved) or None in markers or None in attempts:
                continue
            assert noted_on is not None  # noqa: S101 - checked just above
            texts = notes(data)
            views = [t.removeprefix("Client's view: ") for t in texts if t.startswith("Client's view: ")]
            description = "\n".join(t for t in texts if not t.startswith("Client's view: "))
            encounter = self.target(data.get("encounter"), "Encounter")
            session = None if encounter not in sessions else Ref(sessions[str(encounter)])
            note = Build(
                RuptureNote,
                {
                    "noted_on": noted_on,
                    "kind": kind,
                    "markers": tuple(markers),
                    "likely_cause": cause,
                    "salience": salience,
                    "session_id": session,
                    "description": description,
                    "repairs": strategies,
                    "resolved": bool(resolved) and not any(a[1].resolved for a in attempts if a),
                    "client_view": views[0] if views else "",
                },
            )
            key = self.ref.key(f"rupture:{key_id(data)}")
            noted = f"Observation/{data['id']}"
            out.append(
                Dated(
                    noted_on,
                    Step("note_rupture", {"note": note}, key),
                    at=self.recorded.at(noted, "rupture-noted"),
                )
            )
            # each attempt's event targets the rupture's Observation: the n-th attempt (in the source's
            # order, which is the export's) is the n-th such event stored
            for n, (res_id, attempt) in enumerate(a for a in attempts if a is not None):
                step = Step(
                    "record_repair",
                    {"rupture_id": Ref(key), "attempt": attempt},
                    self.ref.key(f"repair:{res_id}"),
                )
                at = self.recorded.at(noted, "rupture-repair-recorded", n)
                out.append(Dated(attempt.attempted_on, step, at=at))
        return out

    def repair(self, res: Resource) -> tuple[str, RepairAttempt] | None:
        parts = self.components(res)
        on = self.day(res, "Observation.effectiveDateTime", res.data.get("effectiveDateTime"))
        strategies, resolved = self.strategies(res, parts), self.resolved(res, parts)
        if on is None or strategies is None or resolved is None:
            return None
        views = [
            t.removeprefix("Client's view: ") for t in notes(res.data) if t.startswith("Client's view: ")
        ]
        fields = {
            "attempted_on": "Observation.effectiveDateTime",
            "strategies": "Observation.component[repair-strategy]",
            "resolved": "Observation.component[resolved]",
            "client_view": "Observation.note",
            "": "Observation",
        }
        attempt = build(
            self.error, res, fields, RepairAttempt, on, strategies, resolved, views[0] if views else ""
        )
        return None if attempt is None else (key_id(res.data), attempt)

    def alerts(self) -> list[Dated]:
        """The acknowledgement and resolution of each alert (raised again by the rules, never imported)."""
        out = []
        for res in self.linked.flags:
            data = res.data
            rule = coding_of(data.get("code"), ALERT_RULE)
            period = as_dict(data.get("period"))
            raised = self.day(res, "Flag.period.start", period.get("start"))
            if rule is None:
                self.error(res, "Flag.code", "required", "an alliancekit alert rule")
                continue
            acknowledged = extension_value(data, EXT_ALERT_ACKNOWLEDGED)
            ack_on = (
                None
                if acknowledged is None
                else self.day(res, "Flag.extension[alert-acknowledged]", acknowledged)
            )
            end = None if period.get("end") is None else self.day(res, "Flag.period.end", period.get("end"))
            if (
                raised is None
                or (acknowledged is not None and ack_on is None)
                or (period.get("end") and end is None)
            ):
                continue
            canonical = extension_value(data, EXT_ALERT_MEASURE)
            measure = str(canonical).rsplit("/", 1)[-1] if isinstance(canonical, str) else None
            about = identifier_of(extension_value(data, EXT_ALERT_ABOUT))
            if ack_on is not None:
                args = {"alert_id": OpenAlert(rule, raised, measure, about), "on": ack_on}
                step = Step("acknowledge_alert", args, self.ref.key(f"ack:{key_id(data)}"))
                at = self.recorded.at(f"Flag/{data['id']}", "alert-acknowledged")
                out.append(Dated(ack_on, step, EARLIER_ALERT if raised < ack_on else None, at))
            if end is not None:
                args = {
                    "alert_id": OpenAlert(rule, raised, measure, about, acknowledged=True),
                    "note": IMPORTED_NOTE,
                    "on": end,
                }
                step = Step("resolve_alert", args, self.ref.key(f"resolve:{key_id(data)}"))
                at = self.recorded.at(f"Flag/{data['id']}", "alert-resolved")
                out.append(Dated(end, step, EARLIER_ALERT if raised < end else None, at))
        return out

    def consents(self) -> list[Dated]:
        """Each change of a participant's consent to measures (a Consent whose ``policyRule`` is
        alliancekit's ``consent-policy`` ``measures``; another system's is not filed here, see
        :func:`other_systems_consent`): the client's, or the other participant its
        ``consent-about`` extension names; given (``provision.type`` ``permit``) or withdrawn (``deny``) on
        the day ``provision.period.start`` names (else ``dateTime``), replayed through
        ``change_measures_consent`` like any command, so the rules refuse what they would refuse live (a
        participant the episode does not have among them)."""
        out = []
        for res in self.linked.consents:
            data = res.data
            provision = as_dict(data.get("provision"))
            if coding_of(data.get("policyRule"), CONSENT_POLICY) != "measures":
                # another system's was left alone when joined: this one claims alliancekit's code system
                self.error(res, "Consent.policyRule", "enum", "alliancekit's consent-policy code measures")
                continue
            patient = as_dict(data.get("patient"))
            if identifier_of(patient) not in (None, self.ref.client_ref):
                self.error(
                    res, "Consent.patient", "episode-client", "the episode's client, EpisodeOfCare.patient"
                )
                continue
            if data.get("status") not in ("active", "inactive"):
                self.error(res, "Consent.status", "enum", "active or inactive (a consent that was in force)")
                continue
            kind = provision.get("type")
            if kind not in ("permit", "deny"):
                rule = "required" if kind is None else "enum"
                self.error(res, "Consent.provision.type", rule, "permit (given) or deny (withdrawn)")
                continue
            start = as_dict(provision.get("period")).get("start")
            field, value = ("Consent.provision.period.start", start)
            if start is None:
                field, value = ("Consent.dateTime", data.get("dateTime"))
            if value is None:
                self.error(
                    res, "Consent.provision.period.start", "required", "the day the change took effect"
                )
                continue
            on = self.day(res, field, value)
            if on is None:
                continue
            args = {"measures": kind == "permit", "on": on}
            about = extension_value(data, EXT_CONSENT_ABOUT)
            if about is not None:
                participant = identifier_of(about)
                if participant is None:
                    self.error(
                        res,
                        "Consent.extension[consent-about]",
                        "reference",
                        "a participant of the episode, as a RelatedPerson with its identifier",
                    )
                    continue
                args["participant"] = participant
            step = Step("change_measures_consent", args, self.ref.key(f"consent:{key_id(data)}"))
            out.append(
                Dated(on, step, at=self.recorded.at(f"Consent/{data['id']}", "measures-consent-changed"))
            )
        return out

    def ending(self, episode: Resource, ended_on: date | None) -> tuple[list[Dated], Ending | None]:
        """Planning the ending, and the ending (``None``: the export did not say how the episode ended)."""
        parts = (sub_extensions(episode.data, EXT_ENDING) or [{}])[0]
        out: list[Dated] = []
        field = "EpisodeOfCare.extension[ending]"
        if "planned-on" in parts:
            on = self.day(episode, f"{field}.planned-on", parts["planned-on"].get("valueDate"))
            target = parts.get("target", {}).get("valueDate")
            target_on = None if target is None else self.day(episode, f"{field}.target", target)
            if on is not None:
                args = {"on": on, "target_date": target_on}
                # planned again: the export carries the last plan, made by the last such event
                at = self.recorded.at(f"EpisodeOfCare/{episode.data['id']}", "ending-planned", -1)
                out.append(Dated(on, Step("plan_ending", args, self.ref.key("plan-ending")), at=at))
        if "reason" not in parts or ended_on is None:
            return out, None
        code = coding_of({"coding": [parts["reason"].get("valueCoding")]}, ENDING_REASON)
        reason = self.enum(episode, f"{field}.reason", EndingReason, code)
        planned = parts.get("planned", {}).get("valueBoolean")
        if not isinstance(planned, bool):
            self.error(episode, f"{field}.planned", "required", "a boolean")
            return out, None
        if reason is None:
            return out, None
        texts = {name: parts.get(name, {}).get("valueString") for name in ("reflection", "no-plan-reason")}
        plan = self.maintenance_plan()
        no_plan = texts["no-plan-reason"] or (IMPORTED_NOTE if planned and plan is None else None)
        fields = {
            "ended_on": "EpisodeOfCare.period.end",
            "reflection": f"{field}.reflection",
            "no_plan_reason": f"{field}.no-plan-reason",
            "": field,
        }
        made = (ended_on, planned, reason, texts["reflection"] or "", plan, no_plan)
        return out, build(self.error, episode, fields, Ending, *made)

    def maintenance_plan(self) -> MaintenancePlan | None:
        if not self.linked.care_plans:
            return None
        res = self.linked.care_plans[0]
        kinds: dict[str, list[str]] = {}
        boosters = []
        for activity in as_list(res.data.get("activity")):
            detail = activity.get("detail") if isinstance(activity, dict) else None
            if not isinstance(detail, dict):
                continue
            kind = coding_of(detail.get("code"), MAINTENANCE_ACTIVITY)
            if kind == "booster-session":
                # scheduledPeriod's start; an export written before it had the day as scheduledString
                period = detail.get("scheduledPeriod")
                if isinstance(period, dict) or "scheduledString" not in detail:
                    field, day = "scheduledPeriod.start", as_dict(period).get("start")
                else:
                    field, day = "scheduledString", detail.get("scheduledString")
                on = self.day(res, f"CarePlan.activity.detail.{field}", day)
                if on is not None:
                    boosters.append(on)
            elif kind is not None and isinstance(detail.get("description"), str):
                kinds.setdefault(kind, []).append(detail["description"])
        texts = notes(res.data)
        signs = [
            t.removeprefix("Early warning sign: ") for t in texts if t.startswith("Early warning sign: ")
        ]
        back = "When and how to come back: "
        return_plan = next((t.removeprefix(back) for t in texts if t.startswith(back)), "")
        fields = {
            "booster_sessions": "CarePlan.activity.detail.scheduledPeriod.start",
            "coping_strategies": "CarePlan.activity.detail.description",
            "supports": "CarePlan.activity.detail.description",
            "": "CarePlan.note",
        }
        return build(
            self.error,
            res,
            fields,
            MaintenancePlan,
            tuple(signs),
            tuple(kinds.get("coping-strategy", [])),
            tuple(kinds.get("support", [])),
            tuple(boosters),
            return_plan,
        )


#: Where a command falls among those of a day not every command of which says when it was stored.
UNTIMED = (datetime.min.replace(tzinfo=UTC), -1, 0)


def in_order(dated: list[Dated]) -> list[Dated]:
    """The commands in the order they happened. When the source says when every one was stored (an
    alliancekit export), in that order, whatever days they name: a session entered after a later one keeps
    its number, a record dated before the one stored ahead of it follows it again. Otherwise by day; within
    a day, by when each was stored when the source says it for all of them. Those stored at one instant are
    in the order of their Provenance (:func:`_stored`); those of a day the source does not time, in the order
    a clinician's day runs (:data:`RANK`)."""
    stored, every = _stored(dated), range(len(dated))
    if all(d.at is not None for d in dated):
        ordered = sorted(every, key=lambda i: (stored[i], dated[i].on, dated[i].ranked))
    else:
        untimed = {d.on for d in dated if d.at is None}
        ordered = sorted(
            every,
            key=lambda i: (dated[i].on, UNTIMED if dated[i].on in untimed else stored[i], dated[i].ranked),
        )
    return [dated[i] for i in ordered]


def _stored(dated: list[Dated]) -> list[tuple[datetime, int, int]]:
    """Where each command falls among those stored: by its instant, and at one instant by where its
    Provenance stands in the source, which is the order the events were stored in (a clock that did not
    tell commands apart still stored them one after the other). One exception: the resolutions a closing's
    own commit made (every alert still open) are stored just before its ``episode-closed`` and go right
    after the closing, which makes them again, so each resolution finds nothing left to do and the record
    says what the library says (a review's and a fit decision's come after their own event anyway). A
    resolution stored just before a closing is taken for the closing's own: had the clinician resolved
    it, the closing would have found it resolved, and the record is the same but for its note."""
    commands: dict[datetime, list[Stamp]] = {}  # each instant's commands that are not handlings
    closing: set[Stamp] = set()
    for d in dated:
        if d.at is not None and d.step.method not in ("acknowledge_alert", "resolve_alert"):
            commands.setdefault(d.at.at, []).append(d.at)
            if d.step.method == "close_episode":
                closing.add(d.at)
    out = []
    for d in dated:
        if d.at is None:
            out.append(UNTIMED)
            continue
        key = (d.at.at, d.at.read, 0)
        if d.step.method == "resolve_alert":
            after = min((s for s in commands.get(d.at.at, ()) if s.read > d.at.read), default=None)
            if after in closing:
                key = (d.at.at, after.read, 1 + d.at.read)
        out.append(key)
    return out
