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
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alliancekit.domain.vocab import RequestPoint
from alliancekit.fhir.client_response import (
    EXT_AT_SESSION,
    EXT_EPISODE_OF_CARE,
    EXT_REQUEST_POINT,
    REQUEST_POINT,
)
from alliancekit.imports.units import EpisodeRef, MadeBy, Step

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.domain.records import Administration
    from alliancekit.imports.fhir_source import _Resource


def is_client_response(data: Mapping[str, Any]) -> bool:
    """Whether a QuestionnaireResponse is one the export marks as filled in by the client."""
    return any(isinstance(e, dict) and e.get("url") == EXT_REQUEST_POINT for e in data.get("extension", []))


def _value(data: Mapping[str, Any], url: str, kind: str) -> Any:
    for ext in data.get("extension", []):
        if isinstance(ext, dict) and ext.get("url") == url:
            return ext.get(kind)
    return None


class ClientResponseReading:
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that reads client responses."""

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides
        _full_urls: dict[str, tuple[str, str]]

        def _error(self, res: _Resource | None, field: str, rule: str, message: str = "") -> None: ...

        def _administration(self, res: _Resource, totals: Mapping[str, float]) -> Administration | None: ...

    def _response_episode(self, res: _Resource) -> str | None:
        """The EpisodeOfCare a client response names (reported when it names none)."""
        from alliancekit.imports.fhir_source import _ref_id

        found = _ref_id(
            _value(res.data, EXT_EPISODE_OF_CARE, "valueReference"), "EpisodeOfCare", self._full_urls
        )
        if found is None:
            self._error(
                res, "QuestionnaireResponse.extension[episodeOfCare]", "reference", "no EpisodeOfCare"
            )
        return found

    def _with_client_responses(
        self,
        ref: EpisodeRef,
        session_steps: Sequence[tuple[str, Step]],
        found: Sequence[_Resource],
        totals: Mapping[str, float],
    ) -> list[Step]:
        """The unit's session steps (``(encounter id, step)``, in order) with a step for each client
        response in ``found`` placed among them."""
        keys = {eid: (i, step.key) for i, (eid, step) in enumerate(session_steps)}
        placed: list[tuple[int, Step]] = []
        for res in found:
            made = self._client_response(res, keys, totals)
            if made is not None:
                position, args = made
                step = Step("record_client_response", args, ref.key(f"response:{res.data['id']}"))
                placed.append((min(position, len(session_steps)), step))
        steps: list[Step] = []
        for i in range(len(session_steps) + 1):
            steps += [step for position, step in placed if position == i]
            if i < len(session_steps):
                steps.append(session_steps[i][1])
        return steps

    def _client_response(
        self, res: _Resource, sessions: Mapping[str, tuple[int, str]], totals: Mapping[str, float]
    ) -> tuple[int, dict[str, Any]] | None:
        """The step arguments of one client response, and how many of the unit's sessions come before it."""
        from alliancekit.imports.fhir_source import _coding, _ref_id

        data = res.data
        administration = self._administration(res, totals)
        try:
            point = RequestPoint(
                _coding({"coding": [_value(data, EXT_REQUEST_POINT, "valueCoding")]}, REQUEST_POINT) or ""
            )
        except ValueError:
            self._error(
                res, "QuestionnaireResponse.extension[request-point]", "enum", "start, end or between"
            )
            return None
        at_session = _value(data, EXT_AT_SESSION, "valueInteger")
        if isinstance(at_session, bool) or not isinstance(at_session, int) or at_session < 0:
            self._error(res, "QuestionnaireResponse.extension[at-session]", "required", "a session number")
            return None
        try:
            responded_at: datetime | None = datetime.fromisoformat(str(data.get("authored")))
        except ValueError:
            responded_at = None
        if responded_at is None or responded_at.tzinfo is None:
            self._error(res, "QuestionnaireResponse.authored", "datetime", "a date and time with its zone")
            return None
        encounter = _ref_id(data.get("encounter"), "Encounter", self._full_urls)
        if encounter is not None and encounter not in sessions:
            self._error(res, "QuestionnaireResponse.encounter", "reference", "not a session of its episode")
            return None
        if administration is None:
            return None
        if encounter is not None:
            index, key = sessions[encounter]
            position, session_id = index + 1, MadeBy(key)
        else:  # before the session its score counts at: the next one for the start of a session
            position, session_id = max(0, at_session - (point is RequestPoint.START)), None
        args = {
            "administration": administration,
            "responded_at": responded_at,
            "session_id": session_id,
            "point": point,
        }
        return position, args
