"""Filing each resource of a FHIR source under the episode it belongs to, as it is read
(:class:`~alliancekit.imports.fhir_joined.Joined` keeps where each is, on disk), and the references to
episodes the source does not have.

An Encounter names its episode (``episodeOfCare``), a session's QuestionnaireResponse its Encounter, a
client response its episode (the ``workflow-episodeOfCare`` extension), a score Observation the response
it is ``derivedFrom``, a Goal, Flag, review, rupture or repair its episode (the same extension), a CarePlan
its episode (``supportingInfo``), a Consent its episode (the workflow-episodeOfCare extension, else the
EpisodeOfCare its ``provision.data`` names; another system's Consent, of a policy not alliancekit's, is left
alone and noted) and a Provenance what its event made (:mod:`.fhir_provenance`).
A Goal, Flag, Observation or Consent without either (an export written before it had one, another system's)
belongs to its subject's (a Consent's patient's) episode when the source has only one
(:meth:`SourceJoining._link_unnamed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alliancekit.fhir.codes import (
    MAINTENANCE_ACTIVITY,
    MEASURE_SCORES,
    REVIEW,
    RUPTURE,
    WORKFLOW_EPISODE_OF_CARE,
)
from alliancekit.fhir.observation import total_code
from alliancekit.imports.fhir_client_responses import is_client_response
from alliancekit.imports.fhir_files import labelled_redacted
from alliancekit.imports.fhir_joined import (
    CLIENT_RESPONSES,
    ENCOUNTERS,
    OBSERVATIONS,
    RESPONSES,
    SCORES,
    Joined,
)
from alliancekit.imports.fhir_json import (
    Resource,
    as_dict,
    as_list,
    coding_of,
    extension_value,
    identifier_of,
    other_system,
)
from alliancekit.imports.fhir_records import OTHER_POLICY, other_systems_consent
from alliancekit.imports.fhir_scores import TOTAL, score_value

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.imports.fhir_provenance import RecordedAt
    from alliancekit.imports.fhir_records import Refused
    from alliancekit.imports.units import RowError
    from alliancekit.measures.registry import MeasureRegistry


#: The rule of the error on a party named by an identifier in another system than the import's.
OTHER_SYSTEM = "other-system"

#: The element naming whom a resource is about, where it is not ``subject``.
SUBJECT = {"consents": "patient"}


class SourceJoining:
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that joins the source."""

    registry: MeasureRegistry
    systems: dict[str, str]
    """The identifier system of each kind of party (``Patient`` -> the clients' system, ...)."""
    base: str
    """The base of those systems (``--identifier-system``)."""
    notes: list[str]
    withheld: bool
    refused: Refused
    errors: list[RowError]
    _total_codes: set[tuple[str, str]] | None

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides

        def _error(self, res: Resource | None, field: str, rule: str, message: str = "") -> None: ...

        def _target(self, reference: Any, rtype: str) -> str | None: ...

        def _response_episode(self, res: Resource) -> str | None: ...

    def _join(self, res: Resource, joined: Joined, recorded: RecordedAt) -> None:
        data = res.data
        kind = data["resourceType"]
        if (field := other_system(data, self.systems)) is not None:
            # another organisation's C-1042 is not this practice's: never filed under the local client
            self._error(
                res, field, OTHER_SYSTEM, f"the identifier system --identifier-system names ({self.base})"
            )
            return
        if kind == "EpisodeOfCare":
            labelled = labelled_redacted(data)
            joined.add_episode(res, identifier_of(data.get("patient")), labelled)
            self.withheld = self.withheld or labelled
        elif kind == "Encounter":
            episode = self._target(next(iter(as_list(data.get("episodeOfCare"))), None), "EpisodeOfCare")
            if episode is None:
                self._error(res, "Encounter.episodeOfCare", "reference", "not an alliancekit episode's")
                return
            joined.add(ENCOUNTERS, episode, res)
        elif kind == "QuestionnaireResponse" and is_client_response(data):
            if (episode := self._response_episode(res)) is not None:
                joined.add(CLIENT_RESPONSES, episode, res)
        elif kind == "QuestionnaireResponse":
            encounter = self._target(data.get("encounter"), "Encounter")
            if encounter is None:
                self._error(res, "QuestionnaireResponse.encounter", "reference", "no Encounter")
                return
            joined.add(RESPONSES, encounter, res)
        elif kind == "Observation":
            self._observation(res, joined)
        elif kind == "Consent" and other_systems_consent(data):
            self.notes.append(
                f"{res.file} line {res.line}: Consent.policyRule: {OTHER_POLICY} (another system's consent, "
                "not alliancekit's consent to measures: left alone)"
            )
        elif kind in ("Goal", "Flag", "Consent"):
            self._link(res, joined, {"Goal": "goals", "Flag": "flags", "Consent": "consents"}[kind])
        elif kind == "CarePlan":
            episode = self._target(next(iter(as_list(data.get("supportingInfo"))), None), "EpisodeOfCare")
            if (
                episode is not None
                and coding_of(data.get("category"), MAINTENANCE_ACTIVITY) == "maintenance-plan"
            ):
                joined.link(episode, "care_plans", res)
        elif kind == "Provenance":
            recorded.add(res, self._error)

    def _link(self, res: Resource, joined: Joined, bucket: str) -> None:
        """File a Goal, Flag, review or rupture under the episode its workflow-episodeOfCare extension
        names; one without the extension (an export written before it had one) waits for
        :meth:`_link_unnamed`."""
        named = extension_value(res.data, WORKFLOW_EPISODE_OF_CARE)
        if named is None and bucket == "consents":  # else the episode the provision is about, if it names one
            data = as_list(as_dict(res.data.get("provision")).get("data"))
            named = next((d.get("reference") for d in data if self._names_episode(d)), None)
        if named is None:
            joined.unnamed(res, bucket)
            return
        episode = self._target(named, "EpisodeOfCare")
        if episode is None:
            kind = res.data["resourceType"]
            self._error(
                res, f"{kind}.extension[workflow-episodeOfCare]", "reference", "not an alliancekit episode's"
            )
            return
        joined.link(episode, bucket, res)

    def _names_episode(self, data: Any) -> bool:
        """Whether a Consent's ``provision.data`` item is about an EpisodeOfCare."""
        return isinstance(data, dict) and self._target(data.get("reference"), "EpisodeOfCare") is not None

    def _link_unnamed(self, joined: Joined) -> None:
        """A resource that names no episode belongs to its subject's episode when the source has one only;
        otherwise it is not imported (and the report says so)."""
        if not joined.any_unnamed:
            return
        for res, bucket in joined.unnamed_resources():
            found = joined.episodes_of(identifier_of(res.data.get(SUBJECT.get(bucket, "subject"))))
            if len(found) == 1:
                joined.link(found[0], bucket, res)
            else:
                kind = res.data["resourceType"]
                self.notes.append(f"{res.file} line {res.line}: a {kind} of no one episode: not imported")

    def _observation(self, res: Resource, joined: Joined) -> None:
        data = res.data
        joined.add(OBSERVATIONS, data["id"], res)
        review = coding_of(data.get("code"), REVIEW)
        rupture = coding_of(data.get("code"), RUPTURE)
        if review == "review" or rupture in ("alliance-rupture", "repair-attempt"):
            buckets = {"review": "reviews", "alliance-rupture": "ruptures", "repair-attempt": "repairs"}
            self._link(res, joined, buckets[review or str(rupture)])
            return
        response = self._target(next(iter(as_list(data.get("derivedFrom"))), None), "QuestionnaireResponse")
        code = coding_of(data.get("code"), MEASURE_SCORES)
        value = score_value(data)
        total = (code is not None and code.endswith("-total")) or self._total_coded(data.get("code"))
        if response is None or value is None:
            return
        if total or code is not None:  # a total, and compared with the score computed again from the answers
            joined.add(SCORES, response, res, code or TOTAL, int(total))

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

    def _unknown_episodes(self, joined: Joined) -> None:
        """Report what names an episode the source does not have: a client response, an Encounter, a Goal,
        review, rupture, Flag or Consent (an episode refused before it was read is reported by its own
        errors, not by what refers to it)."""
        for ref in self.refused.typed:
            if ref.startswith("EpisodeOfCare/"):
                joined.known(ref.partition("/")[2])
        for rid in self.refused.untyped:
            joined.known(rid)
        for found in joined.unknown(CLIENT_RESPONSES):
            self._error(
                found[0], "QuestionnaireResponse.extension[episodeOfCare]", "reference", "no such episode"
            )
        for found in joined.unknown(ENCOUNTERS):
            self._error(
                found[0], "Encounter.episodeOfCare", "reference", "no such EpisodeOfCare in the source"
            )
        for first in joined.unknown_linked():
            field = f"{first.data['resourceType']}.extension[workflow-episodeOfCare]"
            self._error(first, field, "reference", "no such EpisodeOfCare in the source")
