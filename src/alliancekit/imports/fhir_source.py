"""Reading FHIR R4 in the shape ``alliancekit export fhir`` writes into import units, one per episode.

The source is a Bulk Data directory (``*.ndjson``, one resource type per file), one NDJSON file, or a Bundle
(JSON). An episode's resources live in several files and refer to each other, so the whole source is read
and joined in memory before anything is written; every problem found is reported (file, line, path, rule)
and, when there is any, nothing is written. What is imported, per ``EpisodeOfCare``:

* the episode (client and clinician from the identifiers, opened on ``period.start``), its consultation
  (the consultation ``Encounter``'s date and modality) and, unless it is still ``planned``, a fit decision;
* each session ``Encounter`` (date, modality, attendance) with its ``QuestionnaireResponse`` s as
  administrations (measure and version from ``questionnaire``, timing and rater from the extensions, the
  answers by ``linkId``); one with no answers is total-only, its total read from the score ``Observation``
  derived from it; scores are computed again by the library (the same definitions give the same scores);
* each measure the client filled in themselves, as a client response (:mod:`.fhir_client_responses`);
* the state: ``onhold`` puts it on hold, ``finished`` closes it, ``cancelled`` closes it at the fit decision.

Not carried (the export has no element for them, or the record is not the importer's to make again): the
ending's reason and reflection, goals and reviews, ruptures, process notes, addenda, statements of
disagreement, lockbox directives, alerts (the feedback rules raise them again from the sessions), corrections
(an amended response is imported as it reads now), other participants, and the audit log.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from alliancekit.domain.records import Administration, Ending, FitDecision, Session
from alliancekit.domain.vocab import (
    AdministrationTiming,
    Attendance,
    EndingReason,
    FitOutcome,
    Modality,
    Rater,
)
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.fhir.codes import (
    ADMINISTRATION_TIMING,
    ATTENDANCE,
    ENCOUNTER_KIND,
    EXT_ADMINISTRATION_TIMING,
    EXT_ATTENDANCE,
    EXT_RATER,
    MEASURE_SCORES,
    MODALITY,
    RATER,
    questionnaire_url,
)
from alliancekit.imports.fhir_client_responses import ClientResponseReading, is_client_response
from alliancekit.imports.units import EpisodeRef, RowError, Step, Unit
from alliancekit.measures.registry import MeasureRegistry

#: The resource types an import reads; others (from other systems, or not imported) are counted only.
READ_TYPES = ("EpisodeOfCare", "Encounter", "QuestionnaireResponse", "Observation")
#: What the state steps of an imported episode say (no client words are invented).
IMPORTED_NOTE = "imported: the source does not say"


class _Resource:
    __slots__ = ("data", "file", "line")

    def __init__(self, data: dict[str, Any], file: str, line: int) -> None:
        self.data, self.file, self.line = data, file, line


def _coding(concepts: Any, system: str) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        for coding in (concept or {}).get("coding", []) if isinstance(concept, dict) else []:
            if isinstance(coding, dict) and coding.get("system") == system:
                return str(coding.get("code"))
    return None


def _extension(resource: Mapping[str, Any], url: str, system: str) -> str | None:
    for ext in resource.get("extension", []):
        if isinstance(ext, dict) and ext.get("url") == url:
            return _coding({"coding": [ext.get("valueCoding")]}, system)
    return None


def _ref_id(reference: Any, rtype: str, full_urls: Mapping[str, tuple[str, str]]) -> str | None:
    """The id a reference names: ``Type/id`` (NDJSON), or a Bundle entry's ``fullUrl``."""
    if isinstance(reference, dict):
        ref = reference.get("reference")
        if isinstance(ref, str) and ref.startswith(f"{rtype}/"):
            return ref.split("/", 1)[1]
        if isinstance(ref, str) and ref in full_urls and full_urls[ref][0] == rtype:
            return full_urls[ref][1]
    return None


def _identifier(reference: Any) -> str | None:
    if isinstance(reference, dict) and isinstance(reference.get("identifier"), dict):
        value = reference["identifier"].get("value")
        return value if isinstance(value, str) and value else None
    return None


class FhirSource(ClientResponseReading):
    """The units of a FHIR source; problems found while reading it go to ``errors``."""

    def __init__(self, path: str | Path, registry: MeasureRegistry) -> None:
        self.path = Path(path)
        self.registry = registry
        self.errors: list[RowError] = []
        self._full_urls: dict[str, tuple[str, str]] = {}
        self.notes: list[str] = []
        """Episodes read but not imported, and why."""
        self.ignored: dict[str, int] = defaultdict(int)
        """Resources of types the import does not read, by type (for the report)."""
        self._client_responses: dict[str, list[_Resource]] = defaultdict(list)
        """The client responses of each EpisodeOfCare (see :mod:`.fhir_client_responses`)."""

    def estimated_rows(self) -> int:
        """The episodes of an NDJSON source (the lines of its EpisodeOfCare file), for progress; 0 for a
        Bundle (read whole anyway)."""
        path = self.path / "EpisodeOfCare.ndjson" if self.path.is_dir() else self.path
        if path.suffix != ".ndjson" or not path.exists():
            return 0
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    # -- reading -----------------------------------------------------------------------------------------

    def _files(self) -> list[Path]:
        if self.path.is_dir():
            return sorted(self.path.glob("*.ndjson"))
        return [self.path]

    def _error(self, res: _Resource | None, field: str, rule: str, message: str = "") -> None:
        line = 0 if res is None else res.line
        where = "" if res is None else f"{res.file} line {res.line}"
        self.errors.append(RowError(line, field, rule, f"{where}: {message}" if message else where))

    def _read(self) -> Iterator[_Resource]:
        for file in self._files():
            text = file.read_text(encoding="utf-8-sig")
            if file.suffix == ".json":
                yield from self._bundle(file.name, text)
                continue
            for number, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    self.errors.append(RowError(number, "$", "json", f"{file.name} line {number}: not JSON"))
                    continue
                yield from self._checked(data, file.name, number)

    def _bundle(self, name: str, text: str) -> Iterator[_Resource]:
        try:
            bundle = json.loads(text)
        except ValueError:
            self.errors.append(RowError(1, "$", "json", f"{name}: not JSON"))
            return
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            self.errors.append(RowError(1, "resourceType", "bundle", f"{name}: a Bundle expected"))
            return
        for i, entry in enumerate(bundle.get("entry", []), start=1):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(entry.get("fullUrl"), str):
                self._full_urls[entry["fullUrl"]] = (
                    str(resource.get("resourceType")),
                    str(resource.get("id")),
                )
            yield from self._checked(resource, name, i)

    def _checked(self, data: Any, file: str, line: int) -> Iterator[_Resource]:
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            self.errors.append(RowError(line, "resourceType", "required", f"{file} line {line}"))
            return
        if data["resourceType"] not in READ_TYPES:
            self.ignored[data["resourceType"]] += 1
            return
        if not isinstance(data.get("id"), str):
            self.errors.append(
                RowError(line, f"{data['resourceType']}.id", "required", f"{file} line {line}")
            )
            return
        yield _Resource(data, file, line)

    # -- joining -----------------------------------------------------------------------------------------

    def units(self) -> Iterator[Unit]:
        """One unit per episode, in the order of the ``EpisodeOfCare`` resources; none when any resource
        has a problem (every problem is in ``errors``)."""
        self.errors.clear()
        self.notes.clear()
        episodes: list[_Resource] = []
        encounters: dict[str, list[_Resource]] = defaultdict(list)
        responses: dict[str, list[_Resource]] = defaultdict(list)
        totals: dict[str, float] = {}
        self._client_responses.clear()
        for res in self._read():
            data = res.data
            kind = data["resourceType"]
            if kind == "EpisodeOfCare":
                episodes.append(res)
            elif kind == "Encounter":
                episode = _ref_id((data.get("episodeOfCare") or [None])[0], "EpisodeOfCare", self._full_urls)
                if episode is None:
                    self._error(res, "Encounter.episodeOfCare", "reference", "not an alliancekit episode's")
                    continue
                encounters[episode].append(res)
            elif kind == "QuestionnaireResponse" and is_client_response(data):
                if (episode := self._response_episode(res)) is not None:
                    self._client_responses[episode].append(res)
            elif kind == "QuestionnaireResponse":
                encounter = _ref_id(data.get("encounter"), "Encounter", self._full_urls)
                if encounter is None:
                    self._error(res, "QuestionnaireResponse.encounter", "reference", "no Encounter")
                    continue
                responses[encounter].append(res)
            elif kind == "Observation":
                derived = data.get("derivedFrom") or [None]
                response = _ref_id(derived[0], "QuestionnaireResponse", self._full_urls)
                code = _coding(data.get("code"), MEASURE_SCORES)
                value = (data.get("valueQuantity") or {}).get("value")
                if (
                    response is not None
                    and code
                    and code.endswith("-total")
                    and isinstance(value, int | float)
                ):
                    totals[response] = float(value)
        made = [self._unit(res, encounters, responses, totals) for res in episodes]
        known = {res.data["id"] for res in episodes}
        for episode_id, found in self._client_responses.items():
            if episode_id not in known:
                self._error(
                    found[0], "QuestionnaireResponse.extension[episodeOfCare]", "reference", "no such episode"
                )
        for episode_id, found in encounters.items():
            if episode_id not in known:
                self._error(
                    found[0], "Encounter.episodeOfCare", "reference", "no such EpisodeOfCare in the source"
                )
        if self.errors:
            return
        yield from (unit for unit in made if unit is not None)

    def _unit(
        self,
        res: _Resource,
        encounters: Mapping[str, list[_Resource]],
        responses: Mapping[str, list[_Resource]],
        totals: Mapping[str, float],
    ) -> Unit | None:
        data = res.data
        if data.get("team"):
            self.notes.append(
                f"{res.file} line {res.line}: an episode with several participants: not imported"
            )
            return None
        client = _identifier(data.get("patient"))
        clinician = _identifier(data.get("careManager"))
        period = data.get("period") or {}
        before = len(self.errors)
        if client is None:
            self._error(res, "EpisodeOfCare.patient.identifier", "required", "the client's reference")
        if clinician is None:
            self._error(res, "EpisodeOfCare.careManager.identifier", "required", "the clinician's id")
        opened = self._date(res, "EpisodeOfCare.period.start", period.get("start"))
        status = data.get("status")
        if status not in ("planned", "active", "onhold", "finished", "cancelled"):
            self._error(res, "EpisodeOfCare.status", "enum", "planned, active, onhold, finished or cancelled")
        mine = sorted(
            encounters.get(data["id"], []), key=lambda r: str((r.data.get("period") or {}).get("start"))
        )
        consultation = next(
            (r for r in mine if _coding(r.data.get("type"), ENCOUNTER_KIND) == "consultation"), None
        )
        modality = Modality.IN_PERSON
        if consultation is not None:
            modality = self._modality(consultation) or modality
        sessions = []
        for enc in mine:
            kind = _coding(enc.data.get("type"), ENCOUNTER_KIND)
            if kind == "session":
                session = self._session(enc, responses.get(enc.data["id"], []), totals)
                if session is not None:
                    sessions.append((enc.data["id"], session))
            elif kind != "consultation":
                self._error(
                    enc, "Encounter.type", "unknown-kind", "not an alliancekit consultation or session"
                )
        if len(self.errors) > before or opened is None or client is None or clinician is None:
            return None
        ref = EpisodeRef(client, data["id"], clinician, opened, modality)
        session_steps = [
            (eid, Step("record_session", {"session": s}, ref.key(f"session:{eid}"))) for eid, s in sessions
        ]
        steps = self._with_client_responses(ref, session_steps, self._client_responses[data["id"]], totals)
        if len(self.errors) > before:
            return None
        end = self._date(res, "EpisodeOfCare.period.end", period.get("end")) if period.get("end") else None
        last_day = max([opened, *(s.held_on for _, s in sessions)])
        if status == "onhold":
            steps.append(Step("put_on_hold", {"on": last_day, "reason": IMPORTED_NOTE}, ref.key("hold")))
        elif status == "finished":
            ending = Ending(
                end or last_day, planned=False, reason=EndingReason.WITHDRAWAL, reflection=IMPORTED_NOTE
            )
            steps.append(Step("close_episode", {"ending": ending}, ref.key("close")))
        elif status == "cancelled":
            fit = FitDecision(FitOutcome.NOT_PROCEED, end or opened, rationale=IMPORTED_NOTE)
            steps.append(Step("decide_fit", {"decision": fit}, ref.key("fit")))
        proceed = status in ("active", "onhold", "finished")
        consulted = consultation is not None or status != "planned"
        return Unit(res.line, res.line, ref, tuple(steps), proceed=proceed, consulted=consulted)

    def _date(self, res: _Resource, field: str, value: Any) -> date | None:
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            self._error(res, field, "date", "a date expected")
            return None

    def _modality(self, enc: _Resource) -> Modality | None:
        code = _coding(enc.data.get("type"), MODALITY)
        try:
            return Modality(code or "")
        except ValueError:
            self._error(enc, "Encounter.type", "enum", "a modality of alliancekit's code system")
            return None

    def _session(self, enc: _Resource, found: list[_Resource], totals: Mapping[str, float]) -> Session | None:
        before = len(self.errors)
        held_on = self._date(enc, "Encounter.period.start", (enc.data.get("period") or {}).get("start"))
        modality = self._modality(enc)
        code = _extension(enc.data, EXT_ATTENDANCE, ATTENDANCE)
        attendance = None
        try:
            attendance = Attendance(code or "")
        except ValueError:
            self._error(enc, "Encounter.extension[attendance]", "required", "alliancekit's attendance")
        administrations = [self._administration(r, totals) for r in found]
        if len(self.errors) > before or held_on is None or modality is None or attendance is None:
            return None
        return Session(held_on, modality, attendance, tuple(a for a in administrations if a is not None))

    def _administration(self, res: _Resource, totals: Mapping[str, float]) -> Administration | None:
        data = res.data
        canonical = str(data.get("questionnaire", ""))
        url, _, version = canonical.partition("|")
        measure = url.rsplit("/", 1)[-1]
        if not version or url != questionnaire_url(measure) or (measure, version) not in self.registry:
            self._error(
                res, "QuestionnaireResponse.questionnaire", "unknown-measure", "not a registered measure"
            )
            return None
        try:
            timing = AdministrationTiming(
                _extension(data, EXT_ADMINISTRATION_TIMING, ADMINISTRATION_TIMING) or ""
            )
            rater = Rater(_extension(data, EXT_RATER, RATER) or Rater.CLIENT.value)
        except ValueError:
            self._error(res, "QuestionnaireResponse.extension", "enum", "alliancekit's timing and rater")
            return None
        answers: dict[str, float | None] = {}
        for i, item in enumerate(data.get("item", [])):
            link = item.get("linkId") if isinstance(item, dict) else None
            if not isinstance(link, str):
                self._error(res, f"QuestionnaireResponse.item[{i}].linkId", "required")
                return None
            values = [v for a in item.get("answer", []) for k, v in a.items() if k.startswith("value")]
            value = values[0] if values else None
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                self._error(res, f"QuestionnaireResponse.item[{link}].answer", "type", "a number")
                return None
            answers[link] = value
        try:
            if any(v is not None for v in answers.values()):
                self.registry.score(measure, version, answers)
                return Administration(measure, version, timing, answers, rater=rater)
            total = totals.get(data["id"])
            if total is None:
                self._error(
                    res, "QuestionnaireResponse.item", "required", "no answers and no total Observation"
                )
                return None
            self.registry.score_total(measure, version, total)
            return Administration(measure, version, timing, rater=rater, total=total)
        except (AlliancekitError, ValidationError) as exc:
            field = str(getattr(exc, "field", "")).replace("$.answers.", "QuestionnaireResponse.item:")
            self._error(res, field or "QuestionnaireResponse", str(getattr(exc, "rule", "invalid")))
            return None
