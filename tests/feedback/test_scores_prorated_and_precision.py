"""Recording sessions on a real SQLite practice: a prorated CORE-10 total recorded on its own (as a CSV or
FHIR import records a total-only administration), and an answer finer than six decimal places refused."""

from __future__ import annotations

import pytest

from alliancekit.domain import Administration, AdministrationTiming
from alliancekit.errors import ResponseError

from .conftest import Clinic, ors


def _scores(clinic: Clinic, ep: str) -> list[tuple[str, float]]:
    recorded = [e.event for e in clinic.p.timeline(clinic.actor, ep) if e.type == "session-recorded"]
    return [(s.measure_id, s.total) for event in recorded for s in event.scores]  # type: ignore[attr-defined]


def test_a_prorated_core10_total_is_recorded_total_only(clinic: Clinic) -> None:
    # 19 * 10 / 9 = 21.111111: the total alliancekit gives nine answers summing 19 (one item prorated)
    ep = clinic.episode()
    clinic.session(ep, Administration("core-10", "1.0", AdministrationTiming.START, total=21.111111))
    assert _scores(clinic, ep) == [("core-10", 21.111111)]


def test_an_ors_answer_with_seven_decimal_places_is_refused_and_nothing_written(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(24.9))
    answers = {"individually": 10, "interpersonally": 10, "socially": 4.9999996, "overall": 0}
    with pytest.raises(ResponseError) as caught:
        clinic.session(ep, Administration("ors", "1.0", AdministrationTiming.START, answers))
    assert (caught.value.field, caught.value.rule) == ("$.answers.socially", "precision")
    assert _scores(clinic, ep) == [("ors", 24.9)]
