"""Query projections written in the same transaction as the events: today, the caseload row."""

from __future__ import annotations

from alliancekit.events.converter import encode_json
from alliancekit.lifecycle.rules import review_due
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.store.protocol import CaseloadRow


def caseload_row(state: EpisodeState, *, review_every: int, open_alerts: int = 0) -> CaseloadRow:
    """The caseload row for ``state``: what a clinician's list shows without reading events."""
    treating = state.is_open and state.fit is not None
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
        next_review_at=state.last_review_at_session + review_every if treating else None,
        review_due=treating and review_due(state, review_every),
        closed_on=state.closed_on,
    )
