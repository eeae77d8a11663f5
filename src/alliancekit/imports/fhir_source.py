"""Reading FHIR R4 in the shape ``alliancekit export fhir`` writes into import units, one per episode.

The source is a Bulk Data directory (``*.ndjson``, one resource type per file), one NDJSON file, or a Bundle
(JSON). An episode's resources live in several files and refer to each other, so the whole source is read
and joined in memory before anything is written; every problem found is reported (file, line, path, rule;
never the value) and, when there is any, nothing is written. Each resource read is first checked against its
own type's definition in the FHIR R4 JSON Schema (:meth:`~alliancekit.fhir.validate.R4Schema.errors`), so
that a wrong shape is an error, not read as absent; a resource the schema refuses is named by its schema
errors alone and read no further, and a reference to it is not reported again as a reference to nothing
(:class:`~alliancekit.imports.fhir_records.Refused`). The tolerant reading below names what it finds in the
resources the schema takes.
Each ``EpisodeOfCare`` becomes one unit: the episode rebuilt through the facade's commands, in the order its
records happened (see :mod:`~alliancekit.imports.fhir_records` for the records besides the sessions):

* the episode (client from ``patient``, opened on ``period.start`` by its first clinician of record), its
  consultation (date, modality, consent) and fit decision (to proceed only where ``statusHistory`` shows
  care beginning, on that day, see :func:`_care_began`; refer or not proceed from the ``fit-outcome``
  extension when ``cancelled``), each transfer, the other
  participants and the group of its contained CareTeam;
* each session ``Encounter`` (date, modality, attendance, who was there, group session) with its
  ``QuestionnaireResponse`` s as administrations (measure and version from ``questionnaire``, timing and
  rater from the extensions, whom it is about from ``subject``, a named rater from ``author``, the answers
  by ``linkId``); one with no answers is total-only, its total read from the score ``Observation`` derived
  from it; scores are computed again by the library (the same definitions give the same scores), and a
  score Observation that disagrees is a note of the report (:mod:`.fhir_scores`);
* each measure the client filled in themselves, as a client response (:mod:`.fhir_client_responses`);
* goals and revisions, reviews, ruptures and repairs, the handling of alerts (the rules raise the alerts
  again), holds, the ending planned and the ending with its maintenance plan.

Required words the source lacks are :data:`~alliancekit.imports.fhir_records.IMPORTED_NOTE` (a hold's or a
transfer's reason, an alert's resolution note, a goal exported without its wording, a referral's target, why
a planned ending has no maintenance plan); nothing else is invented. Not carried (the export has no element
for them, or the record is not the importer's to make again): which request a client response answered,
the first version of a corrected session (it is imported as it reads now, so the scores it set and the
correction left, the alerts they raised, and the counts and dates a correction keeps as first recorded
can differ), earlier wordings and statuses of a revised goal (the Goal is its current version), a review's
narrative, process notes, addenda, statements of disagreement, lockbox directives, the measurement
protocol, and the audit log.
"""

from __future__ import annotations

import codecs
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import attrs

from alliancekit.domain.records import (
    Administration,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    Participant,
    Session,
)
from alliancekit.domain.vocab import (
    AdministrationTiming,
    Attendance,
    EndingReason,
    FitOutcome,
    Modality,
    ParticipantRole,
    Rater,
)
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.fhir.coded_answers import ONE_VALUE, coded_answer
from alliancekit.fhir.codes import (
    ADMINISTRATION_TIMING,
    ATTENDANCE,
    ENCOUNTER_KIND,
    EXPORT_NOTICE,
    EXT_ADMINISTRATION_TIMING,
    EXT_ATTENDANCE,
    EXT_CLINICIAN_OF_RECORD,
    EXT_CONSENT,
    EXT_FIT_OUTCOME,
    EXT_GROUP_SESSION,
    EXT_NORM_POPULATION,
    EXT_RATER,
    FIT_OUTCOME,
    GROUP_ID_SYSTEM,
    MAINTENANCE_ACTIVITY,
    MEASURE_SCORES,
    MODALITY,
    PARTICIPANT_ROLE,
    RATER,
    REVIEW,
    RUPTURE,
    V3_PARTICIPATION_TYPE,
    WORKFLOW_EPISODE_OF_CARE,
    questionnaire_url,
)
from alliancekit.fhir.observation import total_code
from alliancekit.fhir.privacy import REDACTED
from alliancekit.fhir.validate import packaged_schema
from alliancekit.imports.fhir_client_responses import ClientResponseReading, is_client_response
from alliancekit.imports.fhir_json import Resource as _Resource
from alliancekit.imports.fhir_json import as_dict, as_list, extension_value, sub_extensions
from alliancekit.imports.fhir_json import coding_of as _coding
from alliancekit.imports.fhir_json import extension_of as _extension
from alliancekit.imports.fhir_json import identifier_of as _identifier
from alliancekit.imports.fhir_json import ref_id as _ref_id
from alliancekit.imports.fhir_provenance import EpisodeEvents, RecordedAt
from alliancekit.imports.fhir_records import (
    IMPORTED_NOTE,
    RANK,
    Dated,
    EpisodeReader,
    Linked,
    Refused,
    in_order,
)
from alliancekit.imports.fhir_scores import TOTAL, ScoreObservations
from alliancekit.imports.units import EpisodeRef, RowError, Step, Unit
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.security import bounded_json

#: The largest NDJSON line read: a resource holds at most a few hundred texts of at most 20,000 characters.
MAX_RESOURCE_BYTES = 16 * 1024 * 1024
#: The largest Bundle file read (one episode's resources, as ``alliancekit export fhir --episode`` writes).
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
#: What :meth:`FhirSource._json` returns for text it could not read (``None`` is valid JSON).
_UNREAD = object()
#: A measure id and version in the definition format's own patterns (measure-definition.schema.json): only
#: such a pair from a QuestionnaireResponse's canonical is named in an error
_MEASURE_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_VERSION = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")

#: The ``QuestionnaireResponse.status`` values read as a record: what the export writes (``amended`` after a
#: correction). ``in-progress``, ``stopped`` and ``entered-in-error`` are refused, never scored as given.
READ_STATUSES = ("completed", "amended")

#: The resource types an import reads; others (from other systems, or not imported) are counted only.
READ_TYPES = (
    "EpisodeOfCare",
    "Encounter",
    "QuestionnaireResponse",
    "Observation",
    "Goal",
    "Flag",
    "CarePlan",
    "Provenance",
)


#: The report's note on a source that says records were withheld from it.
WITHHELD_NOTE = (
    "the export says records were withheld from it (a lockbox or a policy): an episode whose shared part "
    "the library's rules refuse (e.g. goals or sessions without a shared fit decision) is not imported"
)


def _labelled_redacted(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (a Bundle, or an export's ``EpisodeOfCare``) has the ``REDACTED`` security label: its
    records, or its episode's, had something withheld."""
    return any(
        as_dict(label).get("system") == REDACTED["system"] and as_dict(label).get("code") == REDACTED["code"]
        for label in as_list(as_dict(data.get("meta")).get("security"))
    )


def _says_withheld(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is an export's notice that records were withheld (``fhir.privacy.outcome``: counts
    and reason codes only), so the import can say why an episode may be incomplete."""
    if data.get("resourceType") != "OperationOutcome":
        return False
    return any(
        _coding(as_dict(issue).get("details"), EXPORT_NOTICE) == "withheld"
        for issue in as_list(data.get("issue"))
    )


@attrs.define
class _Joined:
    """The source's resources, joined to the episode they belong to."""

    episodes: list[_Resource] = attrs.Factory(list)
    encounters: defaultdict[str, list[_Resource]] = attrs.Factory(lambda: defaultdict(list))
    responses: defaultdict[str, list[_Resource]] = attrs.Factory(lambda: defaultdict(list))
    totals: dict[str, float] = attrs.Factory(dict)
    client_responses: defaultdict[str, list[_Resource]] = attrs.Factory(lambda: defaultdict(list))
    """The measures a client filled in themselves, by EpisodeOfCare (:mod:`.fhir_client_responses`)."""
    observations: dict[str, _Resource] = attrs.Factory(dict)
    linked: defaultdict[str, Linked] = attrs.Factory(lambda: defaultdict(Linked))
    recorded: RecordedAt = attrs.Factory(RecordedAt)
    unnamed: list[tuple[_Resource, str]] = attrs.Factory(list)
    """Resources that name no episode, and the kind of record each is."""
    labelled: set[str] = attrs.Factory(set)
    """The EpisodeOfCare labelled ``REDACTED``: the episodes that had records withheld."""

    def withheld(self, episode: str, notice: bool) -> bool:
        """Whether the source says records of ``episode`` were withheld: its EpisodeOfCare's label, when the
        source labels any (an export before the label, with only ``notice`` for the whole source, says it
        of every episode)."""
        return episode in self.labelled if self.labelled else notice


def _by_clinician_of_record(steps: list[Step], first: str) -> tuple[Step, ...]:
    """``steps`` (in order) each made by the clinician of record when it runs: ``first``, then the one each
    transfer hands over to (a transfer is made by the one handing over)."""
    out = []
    current = first
    for step in steps:
        out.append(step if current == first else attrs.evolve(step, by=current))
        if step.method == "transfer":
            current = step.args["to_clinician_id"]
    return tuple(out)


def _care_began(status: Any, history: list[tuple[str, date, date | None]]) -> tuple[bool, date | None]:
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


class FhirSource(ClientResponseReading):
    """The units of a FHIR source; problems found while reading it go to ``errors``."""

    def __init__(self, path: str | Path, registry: MeasureRegistry) -> None:
        self.path = Path(path)
        self.registry = registry
        self.errors: list[RowError] = []
        self._schema = packaged_schema()
        self._full_urls: dict[str, tuple[str, str]] = {}
        self.refused = Refused()
        """The resources refused before they were read (reported by their own errors)."""
        self.notes: list[str] = []
        """Episodes read but not imported, and why; scores of the source that differ from the library's."""
        self.ignored: dict[str, int] = defaultdict(int)
        """Resources of types the import does not read, by type (for the report)."""
        self._total_codes: set[tuple[str, str]] | None = None
        self.scores = ScoreObservations()
        """The source's score Observations, to note where one disagrees with the library's score."""
        self._seen: dict[str, int] = defaultdict(int)
        """Resources of the types the import reads, by type, refused or not."""
        self.withheld = False
        """Whether the source says records were withheld from it (an export under a lockbox or a policy:
        an ``OperationOutcome`` with alliancekit's ``withheld`` notice, a ``REDACTED`` label on the Bundle or
        an EpisodeOfCare). Such an episode may be refused by the library's rules; nothing withheld is
        invented to complete it. Which episodes: :attr:`~alliancekit.imports.units.Unit.withheld`."""

    def estimated_rows(self) -> int:
        """The episodes of an NDJSON source (the lines of its EpisodeOfCare file), for progress; 0 for a
        Bundle (read whole anyway)."""
        path = self.path / "EpisodeOfCare.ndjson" if self.path.is_dir() else self.path
        if path.suffix != ".ndjson" or not path.exists():
            return 0
        with path.open("rb") as f:
            return sum(1 for line in f if line.strip())

    def check(self) -> None:
        """Find before anything is written a source with nothing to read.

        :raises ValidationError: ``source: no-files``: a directory without NDJSON files (a directory is read
            for its ``*.ndjson`` files; a Bundle is named by its own file).
        """
        if self.path.is_dir() and not self._files():
            raise ValidationError(
                "source", "no-files", "no NDJSON files (*.ndjson) in the directory; name a Bundle file itself"
            )

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
            raw = file.read_bytes().removeprefix(codecs.BOM_UTF8)
            if file.suffix == ".json":
                text = self._decoded(raw, file.name, 1, "")
                if text is not None:
                    yield from self._bundle(file.name, text)
                continue
            # decoded line by line: a line that is not UTF-8 is its own row error, and the lines after it
            # are still read (a JSON string may hold U+2028, which is no line break in NDJSON)
            entries = 0
            for number, raw_line in enumerate(raw.splitlines(), start=1):
                line = self._decoded(raw_line, file.name, number, f" line {number}")
                if line is None or not line.strip():
                    continue
                data = self._json(line, file.name, number, MAX_RESOURCE_BYTES)
                if data is _UNREAD:
                    continue
                if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                    # one Bundle a line, as `export fhir --max-entries` writes an episode's transactions:
                    # its entries are read as a Bundle file's, numbered on across the file's Bundles
                    yield from self._entries(file.name, data, entries)
                    entries += len(as_list(data.get("entry")))
                    continue
                yield from self._checked(data, file.name, number)

    def _decoded(self, raw: bytes, name: str, row: int, where: str) -> str | None:
        """``raw`` as text, or None and a row error: FHIR JSON is UTF-8 (the error names the file and line,
        never the bytes, which may be a client's)."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.errors.append(RowError(row, "$", "encoding", f"{name}{where}: not UTF-8"))
            return None

    def _json(self, text: str, name: str, line: int, max_bytes: int) -> Any:
        """``text`` parsed within the bounds of JSON from outside, or a row error naming the rule broken."""
        try:
            return bounded_json.loads(text, max_bytes=max_bytes)
        except ValidationError as exc:
            rule, detail = ("json", "not JSON") if exc.rule == "syntax" else (exc.rule, exc.detail)
            self.errors.append(RowError(line, "$", rule, f"{name} line {line}: {detail}"))
            return _UNREAD

    def _bundle(self, name: str, text: str) -> Iterator[_Resource]:
        bundle = self._json(text, name, 1, MAX_BUNDLE_BYTES)
        if bundle is _UNREAD:
            return
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            self.errors.append(RowError(1, "resourceType", "bundle", f"{name}: a Bundle expected"))
            return
        yield from self._entries(name, bundle, 0)

    def _entries(self, name: str, bundle: dict[str, Any], before: int) -> Iterator[_Resource]:
        """The resources of ``bundle``, each numbered by its entry, after ``before`` entries of the same
        file's earlier Bundles."""
        # a Bundle of any type labels what had records withheld (only a collection has the notice too)
        self.withheld = self.withheld or _labelled_redacted(bundle)
        if not isinstance(bundle.get("entry", []), list):
            self.errors.append(RowError(before + 1, "Bundle.entry", "type", f"{name}: a list of entries"))
            return
        for error in self._schema.errors(bundle, entries=False):  # the entries' resources one by one, below
            entry = re.match(r"\$\.entry\[(\d+)\]", error.path)
            row = before + (1 if entry is None else int(entry.group(1)) + 1)
            self.errors.append(RowError(row, f"Bundle{error.path[1:]}", error.rule, name))
        for i, entry in enumerate(bundle.get("entry", []), start=before + 1):
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
            if isinstance(data, dict):
                self.refused.add(data, None, self._target)
            return
        kind = data["resourceType"]
        if kind not in self._schema.resource_types:
            message = f"{file} line {line}: not a FHIR R4 resource type"
            self.errors.append(RowError(line, "resourceType", "enum", message))
            self.refused.add(data, None, self._target)
            return
        if kind in READ_TYPES:
            self._seen[kind] += 1
        else:
            self.ignored[kind] += 1
            self.withheld = self.withheld or _says_withheld(data)
            return
        # against its own type's definition of the R4 schema: a resource it refuses is named by its schema
        # errors alone and read no further (the reading below would name the same problem again), and what
        # refers to it does not report it missing (see refused)
        where = f"{file} line {line}"
        schema_errors = [
            RowError(line, f"{kind}{e.path[1:]}", e.rule, where) for e in self._schema.errors(data)
        ]
        if schema_errors:
            self.errors.extend(schema_errors)
            self.refused.add(data, kind, self._target)
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
        self.refused.clear()
        self.scores.clear()
        self._seen.clear()
        self.withheld = False
        joined = _Joined()
        read = 0
        for res in self._read():
            read += 1
            self._join(res, joined)
        if self.withheld:
            self.notes.append(WITHHELD_NOTE)
        joined.recorded.resolve(self._full_urls)
        self._link_unnamed(joined)
        made = [self._unit(res, joined) for res in joined.episodes]
        known = {res.data["id"] for res in joined.episodes}
        # an episode refused before it was read is reported by its own errors, not by what refers to it
        known |= {ref.partition("/")[2] for ref in self.refused.typed if ref.startswith("EpisodeOfCare/")}
        known |= self.refused.untyped
        for episode_id, found in joined.client_responses.items():
            if episode_id not in known:
                self._error(
                    found[0], "QuestionnaireResponse.extension[episodeOfCare]", "reference", "no such episode"
                )
        for episode_id, found in joined.encounters.items():
            if episode_id not in known:
                self._error(
                    found[0], "Encounter.episodeOfCare", "reference", "no such EpisodeOfCare in the source"
                )
        for episode_id, linked in joined.linked.items():
            if episode_id not in known:
                first = next(iter([*linked.goals, *linked.reviews, *linked.ruptures, *linked.flags]), None)
                if first is not None:
                    field = f"{first.data['resourceType']}.extension[workflow-episodeOfCare]"
                    self._error(first, field, "reference", "no such EpisodeOfCare in the source")
        # a line or Bundle that could not be read at all may have been an EpisodeOfCare: its error stands
        unread = any(e.field in ("$", "resourceType") or e.field.startswith("Bundle") for e in self.errors)
        if (read or self.ignored) and not self._seen["EpisodeOfCare"] and not self.withheld and not unread:
            # FHIR, but not an export of episodes (another system's resources, a wrong file): not a success;
            # a source with no resource at all (an empty practice's export) has nothing to import. What its
            # other resources lack (a response's Encounter, say) follows from that: this error alone says it
            message = f"no EpisodeOfCare in {self.path.name}: not an export of episodes, nothing to import"
            seen = ", ".join(f"{kind} {n}" for kind, n in sorted(self._seen.items()) if n)
            if seen:
                message += f" (found: {seen})"
            if self.ignored:
                left = ", ".join(f"{kind} {n}" for kind, n in sorted(self.ignored.items()))
                message += f" (left alone: {left})"
            self.errors[:] = [RowError(1, "EpisodeOfCare", "required", message)]
        if self.errors:
            return
        yield from (unit for unit in made if unit is not None)

    def _target(self, reference: Any, rtype: str) -> str | None:
        return _ref_id(reference, rtype, self._full_urls)

    def _link(self, res: _Resource, joined: _Joined, bucket: str) -> None:
        """File a Goal, Flag, review or rupture under the episode its workflow-episodeOfCare extension
        names; one without the extension (an export written before it had one) waits for
        :meth:`_link_unnamed`."""
        named = extension_value(res.data, WORKFLOW_EPISODE_OF_CARE)
        if named is None:
            joined.unnamed.append((res, bucket))
            return
        episode = self._target(named, "EpisodeOfCare")
        if episode is None:
            kind = res.data["resourceType"]
            self._error(
                res, f"{kind}.extension[workflow-episodeOfCare]", "reference", "not an alliancekit episode's"
            )
            return
        getattr(joined.linked[episode], bucket).append(res)

    def _link_unnamed(self, joined: _Joined) -> None:
        """A resource that names no episode belongs to its subject's episode when the source has one only;
        otherwise it is not imported (and the report says so)."""
        episodes: dict[str | None, list[str]] = defaultdict(list)
        for res in joined.episodes:
            episodes[_identifier(res.data.get("patient"))].append(res.data["id"])
        for res, bucket in joined.unnamed:
            found = episodes.get(_identifier(res.data.get("subject")), [])
            if len(found) == 1:
                getattr(joined.linked[found[0]], bucket).append(res)
            else:
                kind = res.data["resourceType"]
                self.notes.append(f"{res.file} line {res.line}: a {kind} of no one episode: not imported")

    def _join(self, res: _Resource, joined: _Joined) -> None:
        data = res.data
        kind = data["resourceType"]
        if kind == "EpisodeOfCare":
            joined.episodes.append(res)
            if _labelled_redacted(data):
                joined.labelled.add(data["id"])
                self.withheld = True
        elif kind == "Encounter":
            episode = self._target(next(iter(as_list(data.get("episodeOfCare"))), None), "EpisodeOfCare")
            if episode is None:
                self._error(res, "Encounter.episodeOfCare", "reference", "not an alliancekit episode's")
                return
            joined.encounters[episode].append(res)
        elif kind == "QuestionnaireResponse" and is_client_response(data):
            if (episode := self._response_episode(res)) is not None:
                joined.client_responses[episode].append(res)
        elif kind == "QuestionnaireResponse":
            encounter = self._target(data.get("encounter"), "Encounter")
            if encounter is None:
                self._error(res, "QuestionnaireResponse.encounter", "reference", "no Encounter")
                return
            joined.responses[encounter].append(res)
        elif kind == "Observation":
            self._observation(res, joined)
        elif kind in ("Goal", "Flag"):
            self._link(res, joined, "goals" if kind == "Goal" else "flags")
        elif kind == "CarePlan":
            episode = self._target(next(iter(as_list(data.get("supportingInfo"))), None), "EpisodeOfCare")
            if (
                episode is not None
                and _coding(data.get("category"), MAINTENANCE_ACTIVITY) == "maintenance-plan"
            ):
                joined.linked[episode].care_plans.append(res)
        elif kind == "Provenance":
            joined.recorded.add(res, self._error)

    def _observation(self, res: _Resource, joined: _Joined) -> None:
        data = res.data
        joined.observations[data["id"]] = res
        review = _coding(data.get("code"), REVIEW)
        rupture = _coding(data.get("code"), RUPTURE)
        if review == "review" or rupture in ("alliance-rupture", "repair-attempt"):
            buckets = {"review": "reviews", "alliance-rupture": "ruptures", "repair-attempt": "repairs"}
            self._link(res, joined, buckets[review or str(rupture)])
            return
        response = self._target(next(iter(as_list(data.get("derivedFrom"))), None), "QuestionnaireResponse")
        code = _coding(data.get("code"), MEASURE_SCORES)
        value = as_dict(data.get("valueQuantity")).get("value")
        total = (code is not None and code.endswith("-total")) or self._total_coded(data.get("code"))
        if response is None or not isinstance(value, int | float):
            return
        if total:
            joined.totals[response] = float(value)
        if total or code is not None:  # compared with the score computed again from the answers, if any
            self.scores.add(response, code or TOTAL, float(value), res)

    def _total_coded(self, concept: Any) -> bool:
        """Whether ``concept`` has the code the export gives a registered measure's total
        (:func:`~alliancekit.fhir.observation.total_code`: LOINC's for PHQ-9 and GAD-7, in place of
        alliancekit's ``measure-scores`` code)."""
        if self._total_codes is None:
            self._total_codes = {
                (coding["system"], coding["code"])
                for measure_id, version in self.registry
                for coding in total_code(self.registry.get(measure_id, version), measure_id)["coding"]
            }
        codings = as_list(as_dict(concept).get("coding"))
        return any((as_dict(c).get("system"), as_dict(c).get("code")) in self._total_codes for c in codings)

    def _unit(self, res: _Resource, joined: _Joined) -> Unit | None:
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
        consulted, held, sessions = self._encounters(res, joined)
        history = self._history(res)
        population = self._population(res)
        if len(self.errors) > before or opened is None or client is None or not clinicians or history is None:
            return None
        modality = Modality.IN_PERSON if held is None else held.modality
        ref = EpisodeRef(client, data["id"], clinicians[0][0], opened, modality, population)
        keys = {eid: ref.key(f"session:{eid}") for eid, _ in sessions}
        recorded = joined.recorded
        dated = [
            Dated(
                s.held_on,
                Step("record_session", {"session": s}, keys[eid]),
                at=recorded.at(f"Encounter/{eid}", "session-recorded"),
            )
            for eid, s in sessions
        ]
        responses = joined.client_responses[data["id"]]
        dated += self._client_responses(ref, sessions, keys, responses, joined.totals, recorded)
        reader = EpisodeReader(
            ref,
            joined.linked[data["id"]],
            joined.observations,
            recorded,
            self._error,
            self._target,
            self.refused,
        )
        episode = EpisodeEvents(recorded, f"EpisodeOfCare/{data['id']}")
        dated += self._team(res, ref, episode)
        dated += reader.goals() + reader.reviews() + reader.ruptures(keys) + reader.alerts()
        end = self._date(res, "EpisodeOfCare.period.end", period.get("end")) if period.get("end") else None
        planning, ending = reader.ending(res, end)
        dated += planning + self._transfers(ref, clinicians, episode)
        dated += self._holds(ref, history, status, episode)
        if len(self.errors) > before:
            return None
        last_day = max([opened, *(d.on for d in dated)])
        dated += self._outcome(res, ref, status, history, end or last_day, ending, episode)
        steps = _by_clinician_of_record([d.step for d in in_order(dated)], clinicians[0][0])
        proceed, fit_on = _care_began(status, history)
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

    def _population(self, res: _Resource) -> str | None:
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
        self, res: _Resource, joined: _Joined
    ) -> tuple[bool, Consultation | None, list[tuple[str, Session]]]:
        """Whether the episode's consultation is in the source, what it says, and each session by its
        Encounter's id, in date order."""
        mine = sorted(
            joined.encounters.get(res.data["id"], []),
            key=lambda r: str(as_dict(r.data.get("period")).get("start")),
        )
        consultation = next(
            (r for r in mine if _coding(r.data.get("type"), ENCOUNTER_KIND) == "consultation"), None
        )
        held = None if consultation is None else self._consultation(consultation)
        sessions = []
        for enc in mine:
            kind = _coding(enc.data.get("type"), ENCOUNTER_KIND)
            if kind == "session":
                session = self._session(enc, joined.responses.get(enc.data["id"], []), joined.totals)
                if session is not None:
                    sessions.append((enc.data["id"], session))
            elif kind != "consultation":
                self._error(
                    enc, "Encounter.type", "unknown-kind", "not an alliancekit consultation or session"
                )
        return consultation is not None, held, sessions

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
        res: _Resource,
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
            ending = ending or Ending(
                end, planned=False, reason=EndingReason.WITHDRAWAL, reflection=IMPORTED_NOTE
            )
            step = Step("close_episode", {"ending": ending}, ref.key("close"))
            return [Dated(ending.ended_on, step, at=episode.at("episode-closed"))]
        if status == "cancelled":
            outcome = self._fit_outcome(res)
            on = end if res.data.get("period", {}).get("end") else ref.opened_on
            referred = IMPORTED_NOTE if outcome is FitOutcome.REFER else None
            fit = FitDecision(outcome, on, rationale=IMPORTED_NOTE, referred_to=referred)
            return [Dated(on, Step("decide_fit", {"decision": fit}, ref.key("fit")))]
        return []

    def _team(self, res: _Resource, ref: EpisodeRef, episode: EpisodeEvents) -> list[Dated]:
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
            if who is None or on is None:
                self._error(res, f"{field}.member" if who is None else f"{field}.period.start", "required")
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
            participant = Participant(who, kind, consent)
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

    def _consent(self, res: _Resource, node: Mapping[str, Any], field: str) -> Consent | None:
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
        return Consent(given["treatment"], given["measures"], given["data-sharing"])

    def _clinicians(self, res: _Resource) -> list[tuple[str, date]]:
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

    def _history(self, res: _Resource) -> list[tuple[str, date, date | None]] | None:
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

    def _fit_outcome(self, res: _Resource) -> FitOutcome:
        code = _coding({"coding": [extension_value(res.data, EXT_FIT_OUTCOME)]}, FIT_OUTCOME)
        if code == FitOutcome.REFER.value:
            return FitOutcome.REFER
        return FitOutcome.NOT_PROCEED

    def _consultation(self, enc: _Resource) -> Consultation | None:
        held_on = self._date(enc, "Encounter.period.start", as_dict(enc.data.get("period")).get("start"))
        modality = self._modality(enc)
        consent = self._consent(enc, enc.data, "Encounter.extension[consent]")
        if held_on is None or modality is None or consent is None:
            return None
        return Consultation(held_on, modality, consent)

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
        administrations = [self._administration(r, totals, clinician) for r in found]
        if len(self.errors) > before or held_on is None or modality is None or attendance is None:
            return None
        return Session(
            held_on,
            modality,
            attendance,
            tuple(a for a in administrations if a is not None),
            attended_by=present,
            group_session_id=group if isinstance(group, str) else None,
        )

    def _coded(self, res: _Resource, measure: str, version: str, link: str, coding: Any) -> Any:
        """The response position a LOINC-coded answer names (an EHR's PHQ-9 or GAD-7), by the definition's
        answer codes; ``None`` when it is refused (and reported). A link the measure lacks keeps the coding,
        for the measure's own validation to name."""
        defined = self.registry.get(measure, version)
        item = next((item for item in defined.items if item.key == link), None)
        if item is None:
            return coding
        try:
            return coded_answer(
                defined, item, coding, f"QuestionnaireResponse.item[{link}].answer.valueCoding"
            )
        except ValidationError as exc:
            self._error(res, exc.field, exc.rule, exc.detail)
            return None

    def _administration(
        self, res: _Resource, totals: Mapping[str, float], clinician: str | None = None
    ) -> Administration | None:
        data = res.data
        canonical = str(data.get("questionnaire", ""))
        url, _, version = canonical.partition("|")
        measure = url.rsplit("/", 1)[-1]
        if not version or url != questionnaire_url(measure) or (measure, version) not in self.registry:
            said = "not a registered measure"
            if (
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
            self._error(res, "QuestionnaireResponse.questionnaire", "unknown-measure", said)
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
        for i, item in enumerate(data.get("item", [])):
            link = item.get("linkId") if isinstance(item, dict) else None
            if not isinstance(link, str):
                self._error(res, f"QuestionnaireResponse.item[{i}].linkId", "required")
                return None
            if not isinstance(item.get("answer", []), list):
                self._error(res, f"QuestionnaireResponse.item[{link}].answer", "type", "a list of answers")
                return None
            if link in answers:  # the later one would replace the earlier, unseen
                self._error(res, f"QuestionnaireResponse.item[{link}]", "unique", "an item may appear once")
                return None
            if "item" in item:
                # the export's items are flat: answers nested in a group would be read as no answer at all
                self._error(
                    res, f"QuestionnaireResponse.item[{link}].item", "nested", "items are not grouped"
                )
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
                self._error(res, f"QuestionnaireResponse.item[{link}].answer", rule, said)
                return None
            kind, value = values[0] if values else (None, None)
            if kind == "valueCoding":
                value = self._coded(res, measure, version, link, value)
                if value is None:
                    return None
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                self._error(res, f"QuestionnaireResponse.item[{link}].answer", "type", "a number")
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
            field = str(getattr(exc, "field", "")).replace("$.answers.", "QuestionnaireResponse.item:")
            if field == "$.answers":  # an item missing, or one the measure does not have
                field = "QuestionnaireResponse.item"
            # the detail names the measure's own items and rules, never an answer (ValidationError's contract)
            detail = str(getattr(exc, "detail", "") or "")
            self._error(res, field or "QuestionnaireResponse", str(getattr(exc, "rule", "invalid")), detail)
            return None
