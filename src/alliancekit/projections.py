"""Query projections written in the same transaction as the events: today, the caseload row."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from alliancekit.events.converter import encode_json, encode_payload, unstructure
from alliancekit.events.identity_cache import IdentityCache
from alliancekit.lifecycle.rules import review_due
from alliancekit.lifecycle.state import AlertState, EpisodeState
from alliancekit.protocols.definition import MeasurementProtocol
from alliancekit.protocols.schedule import missed_measures
from alliancekit.store.protocol import CaseloadRow


def _never(measure_id: str) -> bool:
    return False


def primary_outcome(state: EpisodeState, is_outcome: Callable[[str], bool]) -> str | None:
    """The episode's primary outcome measure: the outcome measure scored first (ties: by id)."""
    candidates = [
        (point.session_number, measure_id)
        for measure_id, point in state.first_scores.items()
        if is_outcome(measure_id)
    ]
    return min(candidates)[1] if candidates else None


def caseload_row(
    state: EpisodeState,
    *,
    review_every: int,
    is_outcome: Callable[[str], bool] = _never,
    protocol: MeasurementProtocol | None = None,
) -> CaseloadRow:
    """The caseload row for ``state``: what a clinician's list and the practice reports show without
    reading events. ``is_outcome(measure_id)`` says which measures are outcome measures; ``protocol`` is
    the measurement protocol the episode follows (its missed administrations are listed)."""
    treating = state.is_open and state.fit is not None
    open_alerts, open_alerts_json, highest = _alerts.get(state.alerts, _open_alerts)
    outcome = primary_outcome(state, is_outcome)
    first = state.first_scores.get(outcome) if outcome else None
    latest = state.latest_scores.get(outcome) if outcome else None
    modality = None
    if state.modality_counts:
        modality = max(sorted(state.modality_counts.items()), key=lambda item: item[1])[0]
    return CaseloadRow(
        episode_id=state.episode_id,
        clinic_id=state.clinic_id,
        clinician_id=state.clinician_id,
        client_ref=state.client_ref,
        stage=state.stage.value,
        version=state.version,
        opened_on=state.opened_on,
        last_session_on=state.last_session_on,
        sessions_attended=state.sessions_attended,
        latest_scores_json=encode_json(
            {measure: point.total for measure, point in sorted(state.latest_scores.items())}
        ),
        open_alerts=open_alerts,
        next_review_at=state.attended_at_last_review + review_every if treating else None,
        review_due=treating and review_due(state, review_every),
        closed_on=state.closed_on,
        open_alerts_json=open_alerts_json,
        highest_severity=highest,
        outcome_measure=outcome,
        first_outcome=None if first is None else first.total,
        latest_outcome=None if latest is None else latest.total,
        outcome_sessions=None
        if first is None or latest is None
        else latest.session_number - first.session_number + 1,
        modality=modality,
        ending_reason=None if state.ending_reason is None else state.ending_reason.value,
        lockbox_json=lockbox_json(state),
        missed_measures_json="[]"
        if protocol is None
        else encode_json(list(missed_measures(protocol, state, review_every=review_every))),
        population=state.population,
    )


def _open_alerts(value: object) -> tuple[int, str, str | None]:
    """How many open alerts, their JSON (most severe first) and the highest severity."""
    assert isinstance(value, Mapping)  # noqa: S101 - EpisodeState.alerts
    alerts: list[tuple[str, AlertState]] = sorted(
        value.items(), key=lambda item: (-item[1].severity.rank, item[1].rule_id, item[0])
    )
    text = json.dumps(
        [
            {"id": alert_id, "rule": a.rule_id, "severity": a.severity.value, "status": a.status.value}
            | ({"measure": a.measure_id} if a.measure_id else {})
            | ({"participant": a.participant} if a.participant else {})
            for alert_id, a in alerts
        ],
        separators=(",", ":"),
    )
    return len(alerts), text, alerts[0][1].severity.value if alerts else None


#: The open-alerts part of the row by the identity of the state's alerts map: most commands leave it alone.
_alerts: IdentityCache[tuple[int, str, str | None]] = IdentityCache(8192)


def lockbox_json(state: EpisodeState) -> str:
    """The directives in force as the projection keeps them (canonical JSON; ``{}`` for none)."""
    if not state.lockbox:
        return "{}"
    return encode_payload(unstructure(dict(state.lockbox)))
