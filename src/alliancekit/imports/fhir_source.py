"""Reading FHIR R4 in the shape ``alliancekit export fhir`` writes into import units, one per episode.

The source is a Bulk Data directory (``*.ndjson``, one resource type per file), one NDJSON file, or a Bundle
(JSON), read by :mod:`.fhir_files` (each resource checked against the FHIR R4 JSON Schema first). An
episode's resources live in several files and refer to each other, so the whole source is read and joined
before anything is written: the join keeps where each resource is, on disk (:mod:`.fhir_joined`,
:mod:`.fhir_joining`), and each episode is then read on its own, its resources read again from the source.
The source is read in two passes over the join: the first reads every episode and reports every problem
found (file, line, path, rule; never the value), and only when there is none does the second read the
episodes again, one at a time, into the units the writer commits. Memory holds one episode at a time,
however large the source (a Bundle file, one episode's resources, is held whole).
Each ``EpisodeOfCare`` becomes one unit: the episode rebuilt through the facade's commands, in the order its
records happened (:mod:`.fhir_episode`; see :mod:`~alliancekit.imports.fhir_records` for the records besides
the sessions):

* the episode (client from ``patient``, opened on ``period.start`` by its first clinician of record), its
  consultation (date, modality, consent) and fit decision (to proceed only where ``statusHistory`` shows
  care beginning, on that day, see :func:`~.fhir_episode.care_began`; refer or not proceed from the
  ``fit-outcome`` extension when ``cancelled``), each transfer, the other participants and the group of
  its contained CareTeam;
* each session ``Encounter`` (date, modality, attendance, who was there, group session) with its
  ``QuestionnaireResponse`` s as administrations (measure and version from ``questionnaire``, timing and
  rater from the extensions, whom it is about from ``subject``, a named rater from ``author``, the answers
  by ``linkId``); one with no answers is total-only, its total read from the score ``Observation`` derived
  from it; scores are computed again by the library (the same definitions give the same scores), and a
  score Observation that disagrees is a note of the report (:mod:`.fhir_scores`);
* each measure the client filled in themselves, as a client response (:mod:`.fhir_client_responses`);
* goals and revisions, reviews, ruptures and repairs, the handling of alerts (the rules raise the alerts
  again), each change of the client's consent to measures (a Consent, replayed in order, so a measure
  dated while consent was withdrawn is refused as it would be live), holds, the ending planned and the
  ending with its maintenance plan.

Required words the source lacks are :data:`~alliancekit.imports.fhir_records.IMPORTED_NOTE` (a hold's or a
transfer's reason, the reason for correcting a session moved earlier, an alert's resolution note, a goal
exported without its wording, a referral's target, why a planned ending has no maintenance plan); nothing
else is invented. Not carried (the export has no element for them, or the record is not the importer's to
make again): which request a client response answered, the first version of a corrected session (it is
imported as it reads now, recorded on the day it was first recorded on and corrected when a correction
moved it earlier, so the scores it set and the correction left, the alerts they raised, and the counts and
dates a correction keeps as first recorded can differ), earlier wordings and statuses of a revised goal
(the Goal is its current version), a review's narrative, process notes, addenda, statements of
disagreement, lockbox directives, the measurement protocol, and the audit log.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alliancekit.errors import ValidationError
from alliancekit.fhir.context import check_identifier_system
from alliancekit.fhir.identity import DEFAULT_SYSTEM_BASE, SystemIdentity
from alliancekit.fhir.validate import packaged_schema
from alliancekit.imports.fhir_client_responses import ClientResponseReading
from alliancekit.imports.fhir_episode import EpisodeReading
from alliancekit.imports.fhir_files import SourceFiles, SourcePlaces, source_files
from alliancekit.imports.fhir_joined import Joined
from alliancekit.imports.fhir_joining import SourceJoining
from alliancekit.imports.fhir_json import PARTIES, ref_id
from alliancekit.imports.fhir_provenance import RecordedAt
from alliancekit.imports.fhir_records import Refused
from alliancekit.imports.fhir_scores import ScoreObservations
from alliancekit.imports.units import RowError, Unit
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.store.scratch import ScratchLists

#: The report's note on a source that says records were withheld from it.
WITHHELD_NOTE = (
    "the export says records were withheld from it (a lockbox or a policy): an episode whose shared part "
    "the library's rules refuse (e.g. goals or sessions without a shared fit decision) is not imported"
)


class FhirSource(SourceFiles, SourceJoining, EpisodeReading, ClientResponseReading):
    """The units of a FHIR source; problems found while reading it go to ``errors``."""

    def __init__(
        self, path: str | Path, registry: MeasureRegistry, identifier_system: str | None = None
    ) -> None:
        """``identifier_system``: the base of the systems the source's clients, clinicians and other
        participants are identified in (what ``export fhir --identifier-system`` was given; ``None``: the
        placeholder systems). A party named in any other system is an error (rule ``other-system``).

        :raises ValidationError: ``identifier_system: absolute-uri``: not an absolute URI.
        """
        check_identifier_system(identifier_system)
        self.path = Path(path)
        self.registry = registry
        identity = SystemIdentity(identifier_system or DEFAULT_SYSTEM_BASE)
        self.base = identity.base
        self.systems = {rtype: identity.system(kind) for rtype, kind in PARTIES.items()}
        self.errors: list[RowError] = []
        self._schema = packaged_schema()
        self._joined: Joined | None = None
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

    # -- what the parts read through ---------------------------------------------------------------------

    def _target(self, reference: Any, rtype: str) -> str | None:
        if self._joined is None:  # nothing joined yet: no Bundle entry to name
            return ref_id(reference, rtype, {})
        return ref_id(reference, rtype, self._joined.urls)

    def _digest(self, data: bytes) -> str:
        assert self._joined is not None  # noqa: S101 - set for as long as the source is read
        return self._joined.scratch.digest(data)

    def _full_url(self, url: str, rtype: str, rid: str) -> None:
        assert self._joined is not None  # noqa: S101 - set for as long as the source is read
        self._joined.urls.add(url, rtype, rid)

    # -- the units ---------------------------------------------------------------------------------------

    def units(self) -> Iterator[Unit]:
        """One unit per episode, in the order of the ``EpisodeOfCare`` resources; none when any resource
        has a problem (every problem is in ``errors``). The join is kept on disk for as long as the units
        are read, and removed when they are all read (or the reading stops).

        :raises ValidationError: ``source: changed``: a resource read again for its unit is no longer the
            one the first pass checked (the source changed during the import); the units before it were
            yielded, none after.
        """
        self.errors.clear()
        self.notes.clear()
        self.refused.clear()
        self._seen.clear()
        self.withheld = False
        scratch = ScratchLists()
        places = SourcePlaces(source_files(self.path), scratch.digest)
        try:
            joined = self._joined = Joined(scratch, places)
            recorded = RecordedAt(scratch, joined.urls)
            self.scores = ScoreObservations(joined.scores)
            if self._checked_all(joined, recorded):
                notes = len(self.notes)
                for res in joined.episodes():
                    unit = self._unit(res, joined, recorded)
                    del self.notes[notes:]  # noted by the first pass already
                    if unit is not None:
                        yield unit
        finally:
            self._joined = None
            self.scores = ScoreObservations()
            places.close()
            scratch.close()

    def _checked_all(self, joined: Joined, recorded: RecordedAt) -> bool:
        """The first pass: the source read and joined, and every episode read (its unit made and dropped),
        every problem found going to ``errors``; whether there is none."""
        read = 0
        for res in self._read():
            read += 1
            self._join(res, joined, recorded)
        if self.withheld:
            self.notes.append(WITHHELD_NOTE)
        self._link_unnamed(joined)
        for res in joined.episodes():
            self._unit(res, joined, recorded)
        self._unknown_episodes(joined)
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
        return not self.errors
