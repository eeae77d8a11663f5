"""Request expiry, reminders and kiosk codes across a clock change, at their exact instants, on a real SQLite
file. A link's expiry and reminder are durations (4 days is 96 hours, whatever change falls in between, as
the client-measures guide says); a kiosk code lasts the clinic's calendar day (23 or 25 hours on the day the
clocks change). Times come from a clock the tests move; nothing sleeps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alliancekit import (
    Actor,
    Consent,
    Consultation,
    FitDecision,
    GoalDraft,
    Practice,
    RequestConfig,
    Subscriptions,
)
from alliancekit.errors import InvalidToken
from alliancekit.store.sqlite import SQLiteStore

CLINIC = "north"
ME = Actor("clin-1", "clinician", CLINIC)
TICK = timedelta(microseconds=1)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _local(zone: str, day: date, at: time) -> datetime:
    return datetime.combine(day, at, ZoneInfo(zone)).astimezone(UTC)


def _practice(path: Path, clock: Clock, zone: str) -> tuple[Practice, str]:
    p = Practice(
        SQLiteStore(path),
        clock=clock,
        clinic_time_zones={CLINIC: zone},
        requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
        subscriptions=Subscriptions.of({"client-sms": ["administration-request", "administration-reminder"]}),
    )
    day = clock.now.astimezone(ZoneInfo(zone)).date()
    ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=day)
    p.record_consultation(ME, ep, Consultation(held_on=day, modality="video", consent=Consent(True, True)))
    p.decide_fit(ME, ep, FitDecision("proceed", day))
    p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=day)
    return p, ep


#: (zone, a Friday 10:00 before the change, the wall-clock hour 96 hours later): forward (an hour lost,
#: 11:00) and back (an hour repeated, 09:00).
CHANGES = [
    ("Pacific/Auckland", date(2026, 9, 25), 11),
    ("Pacific/Auckland", date(2026, 4, 3), 9),
    ("Australia/Sydney", date(2026, 10, 2), 11),
    ("America/St_Johns", date(2026, 10, 30), 9),
    ("Europe/London", date(2026, 3, 27), 11),
    ("America/New_York", date(2026, 10, 30), 9),
]


@pytest.mark.parametrize(("zone", "friday", "hour"), CHANGES)
def test_a_link_lives_96_hours_across_a_clock_change(
    tmp_path: Path, zone: str, friday: date, hour: int
) -> None:
    made_at = _local(zone, friday, time(10, 0))
    clock = Clock(made_at)
    p, ep = _practice(tmp_path / "p.sqlite", clock, zone)
    with p:
        made = p.request_administration(ME, ep, measure="phq-9")
        assert made.token is not None
        assert made.expires_at - made_at == timedelta(hours=96)
        assert made.remind_at is not None
        assert made.remind_at - made_at == timedelta(hours=48)
        local = made.expires_at.astimezone(ZoneInfo(zone))
        assert (local.date(), local.hour) == (friday + timedelta(days=4), hour)
        # the reminder is due at its instant, not a microsecond before
        reminders = [m for m in p.outbox_records() if m.kind == "administration-reminder"]
        assert [(m.created_at, m.next_attempt_at) for m in reminders] == [(made_at, made.remind_at)]
        clock.now = made.expires_at - TICK
        assert p.open_request(made.token).request_id == made.request_id
        clock.now = made.expires_at
        with pytest.raises(InvalidToken):
            p.open_request(made.token)


@pytest.mark.parametrize(
    ("zone", "day", "hours"),
    [
        ("America/St_Johns", date(2026, 11, 1), 25),
        ("America/St_Johns", date(2026, 3, 8), 23),
        ("Pacific/Auckland", date(2026, 4, 5), 25),
        ("Pacific/Auckland", date(2026, 9, 27), 23),
        ("Europe/London", date(2026, 10, 25), 25),
        ("Pacific/Kiritimati", date(2026, 12, 31), 24),
        ("Pacific/Pago_Pago", date(2028, 2, 29), 24),
    ],
)
def test_a_kiosk_code_lasts_the_clinics_calendar_day(
    tmp_path: Path, zone: str, day: date, hours: int
) -> None:
    midnight = _local(zone, day, time(0, 0))
    clock = Clock(midnight - timedelta(days=3))
    p, ep = _practice(tmp_path / "p.sqlite", clock, zone)
    with p:
        clock.now = midnight - TICK  # the day before, its last instant: a code for that day only
        late = p.kiosk_code(ME, ep, measure="phq-9")
        assert (late.valid_on, late.expires_at) == (day - timedelta(days=1), midnight)
        clock.now = midnight
        with pytest.raises(InvalidToken):
            p.redeem_kiosk_code(CLINIC, late.code, source="tablet")
        code = p.kiosk_code(ME, ep, measure="phq-9")
        assert code.valid_on == day
        assert code.expires_at - midnight == timedelta(hours=hours)
        assert code.expires_at == _local(zone, day + timedelta(days=1), time(0, 0))
        spare = p.kiosk_code(ME, ep, measure="phq-9")
        clock.now = code.expires_at - TICK
        p.redeem_kiosk_code(CLINIC, code.code, source="tablet")
        clock.now = code.expires_at
        with pytest.raises(InvalidToken):
            p.redeem_kiosk_code(CLINIC, spare.code, source="tablet")
