"""An ``every-weeks`` measure falls due at the clinic's midnight, 7 x N calendar days after it was given:
across a clock change, New Year at UTC+14 and UTC-11, and onto 29 February. On a real SQLite file, the time
from a ``clock=`` the test sets."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alliancekit import Actor, Administration, Consent, Consultation, FitDecision, GoalDraft, open_practice
from alliancekit.domain import Session
from alliancekit.protocols import MeasurementProtocol, ScheduleEntry

CLINIC = "north"
ME = Actor("clin-1", "clinician", CLINIC)
EVERY_TWO_WEEKS = MeasurementProtocol("fortnightly-phq9", (ScheduleEntry("phq-9", "every-weeks", 2),))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    ("zone", "given"),
    [
        ("Pacific/Kiritimati", date(2026, 12, 18)),  # due 1 January
        ("Pacific/Pago_Pago", date(2026, 12, 18)),
        ("Europe/London", date(2026, 10, 18)),  # the clocks go back on 25 October
        ("Pacific/Auckland", date(2026, 9, 20)),  # forward on 27 September
        ("America/St_Johns", date(2028, 2, 15)),  # due 29 February
    ],
)
def test_due_from_the_clinics_midnight_not_a_microsecond_before(
    tmp_path: Path, zone: str, given: date
) -> None:
    clock = Clock(datetime.combine(given, time(12), ZoneInfo(zone)).astimezone(UTC))
    with open_practice(
        tmp_path / "p.sqlite",
        clock=clock,
        clinic_time_zones={CLINIC: zone},
        protocols={CLINIC: EVERY_TWO_WEEKS},
    ) as p:
        ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=given)
        p.record_consultation(
            ME, ep, Consultation(held_on=given, modality="video", consent=Consent(True, True))
        )
        p.decide_fit(ME, ep, FitDecision("proceed", given))
        p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=given)
        phq9 = Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})
        p.record_session(ME, ep, Session(given, "video", "attended", administrations=(phq9,)))
        midnight = datetime.combine(given + timedelta(weeks=2), time(), ZoneInfo(zone)).astimezone(UTC)
        clock.now = midnight - timedelta(microseconds=1)
        assert [d.measure for d in p.due_measures(ME, ep)] == []
        clock.now = midnight
        assert [d.measure for d in p.due_measures(ME, ep)] == ["phq-9"]
