"""Reading a FHIR session back: its ``Encounter`` (date, modality, attendance, who was there, group session)
and its ``QuestionnaireResponse`` s as administrations, and an episode's consultation.

Each QuestionnaireResponse is an administration: measure and version from ``questionnaire``, timing and
rater from the extensions, whom it is about from ``subject``, a named rater from ``author``, the answers by
``linkId`` (a LOINC-coded answer by the definition's answer codes); one with no answers is total-only, its
total read from the score ``Observation`` derived from it. Scores are computed again by the library (the
same definitions give the same scores), and a score Observation that disagrees is a note of the report
(:mod:`.fhir_scores`). Only what the export writes as a record is read: a response in progress, stopped or
entered in error is refused, never scored as given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from alliancekit.domain.records import Administration, Consent, Consultation, Session
from alliancekit.domain.vocab import AdministrationTiming, Attendance, Modality, Rater
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.fhir.coded_answers import ONE_VALUE, coded_answer
from alliancekit.fhir.codes import (
    ADMINISTRATION_TIMING,
    ATTENDANCE,
    EXT_ADMINISTRATION_TIMING,
    EXT_ATTENDANCE,
    EXT_CONSENT,
    EXT_FIRST_HELD_ON,
    EXT_GROUP_SESSION,
    EXT_RATER,
    MODALITY,
    RATER,
    V3_PARTICIPATION_TYPE,
    questionnaire_url,
)
from alliancekit.fhir.sdc import form_answer, form_only_links
from alliancekit.imports.fhir_checked import build, read_day
from alliancekit.imports.fhir_json import Resource, as_dict, as_list, extension_value, sub_extensions
from alliancekit.imports.fhir_json import coding_of as _coding
from alliancekit.imports.fhir_json import extension_of as _extension
from alliancekit.imports.fhir_json import identifier_of as _identifier

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.imports.fhir_records import Refused
    from alliancekit.imports.fhir_scores import ScoreObservations
    from alliancekit.imports.units import RowError
    from alliancekit.measures.registry import MeasureRegistry

#: A measure id and version in the definition format's own patterns (measure-definition.schema.json): only
#: such a pair from a QuestionnaireResponse's canonical is named in an error
_MEASURE_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_VERSION = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")

#: The ``QuestionnaireResponse.status`` values read as a record: what the export writes (``amended`` after a
#: correction). ``in-progress``, ``stopped`` and ``entered-in-error`` are refused, never scored as given.
READ_STATUSES = ("completed", "amended")


class TotalsOf(Protocol):
    """The total a QuestionnaireResponse's score Observation gives, by the response's id."""

    def get(self, response: str, default: Any = None, /) -> Any: ...


class SessionReading:
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that reads sessions and their
    administrations."""

    registry: MeasureRegistry
    errors: list[RowError]
    notes: list[str]
    refused: Refused
    scores: ScoreObservations

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides

        def _error(self, res: Resource | None, field: str, rule: str, message: str = "") -> None: ...

    def _consent(self, res: Resource, node: Mapping[str, Any], field: str) -> Consent | None:
        """The consent extension of ``node``; consent to treatment and measures when it has none."""
        found = sub_extensions(node, EXT_CONSENT)
        parts = found[0] if found else {}
        given = {"treatment": True, "measures": True, "data-sharing": False}
        for name in given if found else ():
            value = parts.get(name, {}).get("valueBoolean")
            if not isinstance(value, bool):
                self._error(res, f"{field}.{name}", "required", "a boolean")
                return None
            given[name] = value
        return build(self._error, res, {"": field}, Consent, *given.values())

    def _consultation(self, enc: Resource, client: str | None = None) -> Consultation | None:
        if self._other_client(enc, "Encounter.subject", enc.data.get("subject"), client):
            return None
        held_on = self._date(enc, "Encounter.period.start", as_dict(enc.data.get("period")).get("start"))
        modality = self._modality(enc)
        consent = self._consent(enc, enc.data, "Encounter.extension[consent]")
        if held_on is None or modality is None or consent is None:
            return None
        fields = {"held_on": "Encounter.period.start", "": "Encounter"}
        return build(self._error, enc, fields, Consultation, held_on, modality, consent)

    def _date(self, res: Resource, field: str, value: Any) -> date | None:
        return read_day(self._error, res, field, value)

    def _modality(self, enc: Resource) -> Modality | None:
        code = _coding(enc.data.get("type"), MODALITY)
        try:
            return Modality(code or "")
        except ValueError:
            self._error(enc, "Encounter.type", "enum", "a modality of alliancekit's code system")
            return None

    def _other_client(self, res: Resource, field: str, reference: Any, client: str | None) -> bool:
        """Whether ``reference`` is a Patient other than the episode's ``client`` (reported, rule
        ``episode-client``): another system's record of someone else is never read into this episode. A
        Patient named without an identifier cannot be compared, and another participant is a
        RelatedPerson."""
        ref = as_dict(reference)
        other = client is not None and ref.get("type") == "Patient" and _identifier(ref) not in (None, client)
        if other:
            self._error(res, field, "episode-client", "the episode's client, EpisodeOfCare.patient")
        return other

    def _session(
        self, enc: Resource, found: list[Resource], totals: TotalsOf, client: str | None = None
    ) -> Session | None:
        before = len(self.errors)
        self._other_client(enc, "Encounter.subject", enc.data.get("subject"), client)
        held_on = self._date(enc, "Encounter.period.start", as_dict(enc.data.get("period")).get("start"))
        modality = self._modality(enc)
        code = _extension(enc.data, EXT_ATTENDANCE, ATTENDANCE)
        attendance = None
        try:
            attendance = Attendance(code or "")
        except ValueError:
            self._error(enc, "Encounter.extension[attendance]", "required", "alliancekit's attendance")
        others = [as_dict(p) for p in as_list(enc.data.get("participant"))]
        clinician = next((_identifier(p.get("individual")) for p in others if not p.get("type")), None)
        present = tuple(
            ref
            for p in others
            if _coding(p.get("type"), V3_PARTICIPATION_TYPE) == "PART"
            and (ref := _identifier(p.get("individual"))) is not None
        )
        group = extension_value(enc.data, EXT_GROUP_SESSION)
        administrations = [self._administration(r, totals, clinician, client) for r in found]
        if len(self.errors) > before or held_on is None or modality is None or attendance is None:
            return None
        fields = {
            "held_on": "Encounter.period.start",
            "attended_by": "Encounter.participant",
            "group_session_id": "Encounter.extension[group-session]",
            "": "Encounter",
        }
        return build(
            self._error,
            enc,
            fields,
            Session,
            held_on,
            modality,
            attendance,
            tuple(a for a in administrations if a is not None),
            attended_by=present,
            group_session_id=group if isinstance(group, str) else None,
        )

    def _first_held_on(self, enc: Resource, session: Session) -> date | None:
        """The day a session was held as first recorded, when a correction moved it earlier (the
        first-held-on extension; ``None``: it was not moved, or the source does not say). One that is not
        a date (``date``) or not after the day as corrected (``date-order``) is an error."""
        value = extension_value(enc.data, EXT_FIRST_HELD_ON)
        if value is None:
            return None
        field = "Encounter.extension[first-held-on]"
        first = self._date(enc, field, value)
        if first is not None and first <= session.held_on:
            self._error(enc, field, "date-order", "after the session's day as corrected")
            return None
        return first

    def _coded(self, res: Resource, measure: str, version: str, link: str, coding: Any) -> Any:
        """The response position a LOINC-coded answer names (an EHR's PHQ-9 or GAD-7), by the definition's
        answer codes; ``None`` when it is refused (and reported). A link the measure lacks keeps the coding,
        for the measure's own validation to name."""
        defined = self.registry.get(measure, version)
        item = next((item for item in defined.items if item.key == link), None)
        if item is None:
            return coding
        path = f"QuestionnaireResponse.item[{link}].answer.valueCoding"
        try:
            # a coding of alliancekit's own SDC form (its answer system), then LOINC's, as a form's reader
            position = form_answer(defined, item, as_dict(coding), path)
            return position if position is not None else coded_answer(defined, item, coding, path)
        except ValidationError as exc:
            self._error(res, exc.field, exc.rule, exc.detail)
            return None

    def _administration(
        self, res: Resource, totals: TotalsOf, clinician: str | None = None, client: str | None = None
    ) -> Administration | None:
        data = res.data
        if self._other_client(res, "QuestionnaireResponse.subject", data.get("subject"), client):
            return None
        canonical = str(data.get("questionnaire", ""))
        url, _, version = canonical.partition("|")
        measure = url.rsplit("/", 1)[-1]
        if not version or url != questionnaire_url(measure) or (measure, version) not in self.registry:
            said, rule = "not a registered measure", "unknown-measure"
            versions = (
                [v for m, v in self.registry if m == measure] if url == questionnaire_url(measure) else []
            )
            if not version and versions:
                # alliancekit's own canonical without its version: which form was answered is not said
                listed = ", ".join(versions)
                said = f"measure {measure} named without its version (url|version; registered: {listed})"
                rule = "version"
            elif (
                url == questionnaire_url(measure)
                and len(measure) <= 64  # the format's own bounds on an id and a version
                and len(version) <= 32
                and _MEASURE_ID.fullmatch(measure)
                and _VERSION.fullmatch(version)
            ):
                # alliancekit's own canonical: the id and version are the format's, never a client's words
                said = (
                    f"measure {measure} version {version} is not registered here (is the plugin that "
                    "supplies it installed? see alliancekit measures list)"
                )
            self._error(res, "QuestionnaireResponse.questionnaire", rule, said)
            return None
        try:
            timing = AdministrationTiming(
                _extension(data, EXT_ADMINISTRATION_TIMING, ADMINISTRATION_TIMING) or ""
            )
            rater = Rater(_extension(data, EXT_RATER, RATER) or Rater.CLIENT.value)
        except ValueError:
            self._error(res, "QuestionnaireResponse.extension", "enum", "alliancekit's timing and rater")
            return None
        if data.get("status") not in READ_STATUSES:
            # a response entered in error never happened, one in progress or stopped was not finished:
            # scored as given, each would put a score in the record that the source does not stand by
            self._error(
                res, "QuestionnaireResponse.status", "not-completed", "only completed or amended is read"
            )
            return None
        answers: dict[str, float | None] = {}
        # answers are the record itself: one of the wrong shape is refused, never read as left blank
        if not isinstance(data.get("item", []), list):
            self._error(res, "QuestionnaireResponse.item", "type", "a list of items")
            return None
        keys = frozenset(self.registry.get(measure, version).item_keys)
        skip = form_only_links(self.registry.get(measure, version))
        for i, item in enumerate(data.get("item", [])):
            link = item.get("linkId") if isinstance(item, dict) else None
            if not isinstance(link, str):
                self._error(res, f"QuestionnaireResponse.item[{i}].linkId", "required")
                return None
            if link in skip:  # the SDC form's calculated total or instructions: nothing to score
                continue
            # named by the measure's item key, else by its place: a linkId the measure lacks is the source's
            # text, which an error never echoes
            at = f"QuestionnaireResponse.item[{link if link in keys else i}]"
            if not isinstance(item.get("answer", []), list):
                self._error(res, f"{at}.answer", "type", "a list of answers")
                return None
            if link in answers:  # the later one would replace the earlier, unseen
                self._error(res, at, "unique", "an item may appear once")
                return None
            if "item" in item:
                # the export's items are flat: answers nested in a group would be read as no answer at all
                self._error(res, f"{at}.item", "nested", "items are not grouped")
                return None
            given = [as_dict(a) for a in item.get("answer", [])]
            values = [(k, v) for a in given for k, v in a.items() if k.startswith("value")]
            if len(values) > 1:
                # an item has one response: keeping the first of several would score an answer at random
                both = any(sum(k.startswith("value") for k in a) > 1 for a in given)
                rule, said = (
                    (ONE_VALUE, "a number or a coding, not both")
                    if both
                    else ("maximum", "one answer per item")
                )
                self._error(res, f"{at}.answer", rule, said)
                return None
            kind, value = values[0] if values else (None, None)
            if kind == "valueCoding":
                value = self._coded(res, measure, version, link, value)
                if value is None:
                    return None
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                self._error(res, f"{at}.answer", "type", "a number")
                return None
            answers[link] = value
        subject, author = as_dict(data.get("subject")), as_dict(data.get("author"))
        about = _identifier(subject) if subject.get("type") == "RelatedPerson" else None
        rater_ref = _identifier(author)
        if rater_ref == _identifier(subject) or (rater is Rater.CLINICIAN and rater_ref == clinician):
            rater_ref = None  # the rater is the one rated, or the clinician of record: no one to name
        try:
            if any(v is not None for v in answers.values()):
                score = self.registry.score(measure, version, answers)
                self.notes.extend(self.scores.disagreeing(data["id"], score))
                return Administration(
                    measure, version, timing, answers, rater=rater, about=about, rater_ref=rater_ref
                )
            total = totals.get(data["id"])
            if total is None and data["id"] in self.refused.totals:
                return None  # the Observation that gave it was refused by the schema, and is reported
            if total is None:
                self._error(
                    res, "QuestionnaireResponse.item", "required", "no answers and no total Observation"
                )
                return None
            self.registry.score_total(measure, version, total)
            return Administration(
                measure, version, timing, rater=rater, about=about, rater_ref=rater_ref, total=total
            )
        except (AlliancekitError, ValidationError) as exc:
            field = str(getattr(exc, "field", ""))
            if field == "$.answers":  # an item missing, or one the measure does not have
                field = "QuestionnaireResponse.item"
            elif field.startswith("$.answers."):  # one item's answer, named by linkId as elsewhere
                field = f"QuestionnaireResponse.item[{field.removeprefix('$.answers.')}]"
            # the detail names the measure's own items and rules, never an answer (ValidationError's contract)
            detail = str(getattr(exc, "detail", "") or "")
            self._error(res, field or "QuestionnaireResponse", str(getattr(exc, "rule", "invalid")), detail)
            return None
