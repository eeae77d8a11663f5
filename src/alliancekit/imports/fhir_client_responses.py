"""Reading back the measures a client filled in themselves, from ``QuestionnaireResponse`` s that
``alliancekit export fhir`` marks as client responses (:mod:`alliancekit.fhir.client_response`).

Each becomes a ``record_client_response`` step of its episode's unit: the administration (read as a
session's is), when the client filled it in (``authored``), the point it was asked for, and the session it
was given in (its ``Encounter``, which the unit's own session step makes) or none. The step goes between
the unit's session steps where the response stood among the sessions (after the session it names, else
before the session its score counts at), so that it counts at the same session again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alliancekit.domain.vocab import RequestPoint
from alliancekit.fhir.client_response import (
    EXT_AT_SESSION,
    EXT_REQUEST_POINT,
    REQUEST_POINT,
)
from alliancekit.fhir.codes import WORKFLOW_EPISODE_OF_CARE
from alliancekit.imports.fhir_checked import read_instant
from alliancekit.imports.fhir_json import Resource as _Resource
from alliancekit.imports.fhir_json import as_list, coding_of, extension_value, key_id
from alliancekit.imports.fhir_provenance import RecordedAt
from alliancekit.imports.fhir_records import RANK, Dated
from alliancekit.imports.units import EpisodeRef, Ref, Step

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.domain.records import Administration, Session
    from alliancekit.imports.fhir_records import Refused
    from alliancekit.imports.fhir_sessions import TotalsOf


def is_client_response(data: Mapping[str, Any]) -> bool:
    """Whether a QuestionnaireResponse is one the export marks as filled in by the client."""
    return any(
        isinstance(e, dict) and e.get("url") == EXT_REQUEST_POINT for e in as_list(data.get("extension"))
    )


class ClientResponseReading:
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that reads client responses."""

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides
        refused: Refused

        def _target(self, reference: Any, rtype: str) -> str | None: ...

        def _error(self, res: _Resource | None, field: str, rule: str, message: str = "") -> None: ...

        def _administration(
            self,
            res: _Resource,
            totals: TotalsOf,
            clinician: str | None = None,
            client: str | None = None,
        ) -> Administration | None: ...

    def _response_episode(self, res: _Resource) -> str | None:
        """The EpisodeOfCare a client response names (reported when it names none)."""
        found = self._target(extension_value(res.data, WORKFLOW_EPISODE_OF_CARE), "EpisodeOfCare")
        if found is None:
            self._error(
                res, "QuestionnaireResponse.extension[episodeOfCare]", "reference", "no EpisodeOfCare"
            )
        return found

    def _client_responses(
        self,
        ref: EpisodeRef,
        sessions: Sequence[tuple[str, Session]],
        keys: Mapping[str, str],
        found: Sequence[_Resource],
        totals: TotalsOf,
        recorded: RecordedAt,
    ) -> list[Dated]:
        """A dated step for each client response in ``found``, falling among the unit's ``sessions``
        (``(encounter id, session)`` in order, each made by the step keyed ``keys[encounter id]``) where it
        stood: after the session it names, else on its day but no earlier than the session before it and no
        later than the session its score counts at (before that session on that session's day); within that
        day, where ``recorded`` says it was stored."""
        places = {eid: (i, keys[eid]) for i, (eid, _) in enumerate(sessions)}
        days = [session.held_on for _, session in sessions]
        dated: list[Dated] = []
        for res in found:
            made = self._client_response(res, places, totals, ref.client_ref)
            if made is None:
                continue
            position, args = made
            step = Step("record_client_response", args, ref.key(f"response:{key_id(res.data)}"))
            on, rank = args["responded_at"].date(), RANK["record_session"]  # after a session that day
            if position > 0:
                on = max(on, days[position - 1])
            if position < len(days) and on >= days[position]:
                on, rank = days[position], RANK["record_session"] - 1  # before the session it counts at
            at = recorded.at(f"QuestionnaireResponse/{res.data['id']}", "client-response-recorded")
            dated.append(Dated(on, step, rank, at))
        return dated

    def _client_response(
        self, res: _Resource, sessions: Mapping[str, tuple[int, str]], totals: TotalsOf, client: str
    ) -> tuple[int, dict[str, Any]] | None:
        """The step arguments of one client response, and how many of the unit's sessions come before it."""
        data = res.data
        administration = self._administration(res, totals, client=client)
        try:
            point = RequestPoint(
                coding_of({"coding": [extension_value(data, EXT_REQUEST_POINT)]}, REQUEST_POINT) or ""
            )
        except ValueError:
            self._error(
                res, "QuestionnaireResponse.extension[request-point]", "enum", "start, end or between"
            )
            return None
        at_session = extension_value(data, EXT_AT_SESSION)
        if isinstance(at_session, bool) or not isinstance(at_session, int) or at_session < 0:
            self._error(res, "QuestionnaireResponse.extension[at-session]", "required", "a session number")
            return None
        responded_at = read_instant(self._error, res, "QuestionnaireResponse.authored", data.get("authored"))
        if responded_at is None:
            return None
        encounter = self._target(data.get("encounter"), "Encounter")
        if encounter is not None and encounter not in sessions:
            if f"Encounter/{encounter}" in self.refused:
                return None  # refused by the schema, and reported
            self._error(res, "QuestionnaireResponse.encounter", "reference", "not a session of its episode")
            return None
        if administration is None:
            return None
        if encounter is not None:
            index, key = sessions[encounter]
            position, session_id = index + 1, Ref(key)
        else:  # before the session its score counts at: the next one for the start of a session
            position, session_id = max(0, at_session - (point is RequestPoint.START)), None
            if position > len(sessions):
                # past the episode's last session (or one of its session Encounters filed elsewhere)
                self._error(
                    res,
                    "QuestionnaireResponse.extension[at-session]",
                    "range",
                    "at most the episode's sessions",
                )
                return None
        args = {
            "administration": administration,
            "responded_at": responded_at,
            "session_id": session_id,
            "point": point,
        }
        return position, args
