"""Times at their edges, from the facade on a real SQLite file: the clinic's midnight in zones far from UTC
and across their clock changes, New Year and 29 February; datetimes whose UTC offset ISO 8601 (and so FHIR)
cannot write, or whose conversion to UTC would overflow; and a clock stepped backwards between commands.
Every time comes from a ``clock=`` the tests set; nothing sleeps or reads the real time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from alliancekit import Actor, Administration, Role, open_practice
from alliancekit.errors import ValidationError
from alliancekit.practice import Practice

from .conftest import attended, clinician, consultation, footprint, goals, proceed

CLINIC = "clinic-1"
ME = clinician(CLINIC)
SECOND = timedelta(seconds=1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _phq9() -> Administration:
    return Administration("phq-9", "1.0", "start", {f"q{i}": 1 for i in range(1, 10)})


def _episode(p: Practice, on: date) -> str:
    ep = p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=on)
    p.record_consultation(ME, ep, consultation(on))
    p.decide_fit(ME, ep, proceed(on))
    p.agree_goals(ME, ep, goals(1), agreed_on=on)
    return ep


@pytest.fixture
def clinic(tmp_path: Path) -> Iterator[tuple[Practice, Clock, str]]:
    clock = Clock(datetime(2026, 6, 1, 9, 0, tzinfo=UTC))
    with open_practice(
        tmp_path / "p.sqlite", clock=clock, clinic_time_zones={CLINIC: "Pacific/Auckland"}
    ) as p:
        yield p, clock, _episode(p, date(2026, 5, 1))


#: (zone, the local day that begins at its midnight): clock changes (the missing and the repeated hour, the
#: day of 23 and of 25 hours), New Year at UTC+14 and UTC-11, 29 February.
MIDNIGHTS = [
    ("Pacific/Auckland", date(2026, 4, 5)),  # 03:00 NZDT -> 02:00 NZST that night
    ("Pacific/Auckland", date(2026, 9, 27)),  # 02:00 -> 03:00
    ("Australia/Sydney", date(2026, 10, 4)),
    ("America/St_Johns", date(2026, 11, 1)),  # UTC-02:30 -> UTC-03:30
    ("America/St_Johns", date(2026, 3, 8)),
    ("Pacific/Kiritimati", date(2027, 1, 1)),
    ("Pacific/Pago_Pago", date(2027, 1, 1)),
    ("Pacific/Pago_Pago", date(2028, 2, 29)),
    ("Europe/London", date(2026, 10, 25)),
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2028, 3, 1)),  # the day after 29 February
]


@pytest.mark.parametrize(("zone", "day"), MIDNIGHTS)
def test_the_clinics_day_turns_at_its_own_midnight(tmp_path: Path, zone: str, day: date) -> None:
    midnight = datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
    clock = Clock(midnight - timedelta(days=10))
    with open_practice(tmp_path / "p.sqlite", clock=clock, clinic_time_zones={CLINIC: zone}) as p:
        ep = _episode(p, day - timedelta(days=10))
        clock.at = midnight - SECOND  # 23:59:59 on the day before
        assert p.clinic_today(CLINIC) == day - timedelta(days=1)
        before = footprint(p, ep)
        with pytest.raises(ValidationError) as refused:
            p.record_session(ME, ep, attended(day))
        assert (refused.value.field, refused.value.rule) == ("session.held_on", "future")
        with pytest.raises(ValidationError) as refused:
            p.record_client_response(ME, ep, _phq9(), responded_at=midnight)
        assert (refused.value.field, refused.value.rule) == ("responded_at", "future")
        assert footprint(p, ep) == before
        clock.at = midnight  # 00:00:00
        assert p.clinic_today(CLINIC) == day
        p.record_session(ME, ep, attended(day))
        p.record_client_response(ME, ep, _phq9(), responded_at=midnight)
        assert p.episode(ME, ep).last_session_on == day


@pytest.mark.parametrize(
    "at",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),  # before UTC's year 1
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),  # after UTC's year 9999
        datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
    ],
)
def test_a_responded_at_outside_the_dates_a_record_holds_is_refused(
    clinic: tuple[Practice, Clock, str], at: datetime
) -> None:
    """Converting the first two to the clinic's zone raised OverflowError, outside the error hierarchy."""
    p, _, ep = clinic
    before = footprint(p, ep)
    with pytest.raises(ValidationError) as refused:
        p.record_client_response(ME, ep, _phq9(), responded_at=at)
    assert (refused.value.field, refused.value.rule) == ("responded_at", "range")
    assert footprint(p, ep) == before
    p.record_client_response(ME, ep, _phq9(), responded_at=datetime(1900, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "offset",
    [
        timedelta(hours=14, minutes=1),
        timedelta(hours=-14, minutes=-1),
        timedelta(hours=5, minutes=45, seconds=1),  # a local mean time's seconds
        timedelta(hours=1, microseconds=1),
    ],
)
def test_a_utc_offset_iso_8601_cannot_write_is_refused(
    clinic: tuple[Practice, Clock, str], offset: timedelta
) -> None:
    """Kept as given, such an offset was exported as an invalid FHIR ``dateTime`` (``+05:45:01``)."""
    p, _, ep = clinic
    before = footprint(p, ep)
    at = datetime(2026, 5, 20, 12, 0, tzinfo=timezone(offset))
    with pytest.raises(ValidationError) as refused:
        p.record_client_response(ME, ep, _phq9(), responded_at=at)
    assert (refused.value.field, refused.value.rule) == ("responded_at", "utc-offset")
    assert footprint(p, ep) == before


@pytest.mark.parametrize(
    "offset", [timedelta(hours=14), timedelta(hours=-14), timedelta(hours=5, minutes=45), timedelta(0)]
)
def test_offsets_of_whole_minutes_up_to_14_hours_are_kept(
    clinic: tuple[Practice, Clock, str], offset: timedelta
) -> None:
    p, _, ep = clinic
    at = datetime(2026, 5, 20, 12, 0, tzinfo=timezone(offset))
    p.record_client_response(ME, ep, _phq9(), responded_at=at)
    [response] = [e.event for e in p.timeline(ME, ep) if e.type == "client-response-recorded"]
    assert response.responded_at == at  # type: ignore[attr-defined]
    assert response.responded_at.utcoffset() == offset  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "now",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(2200, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 9, tzinfo=timezone(timedelta(hours=5, seconds=30))),
    ],
)
def test_a_clock_out_of_bounds_is_a_validation_error_naming_the_clock(tmp_path: Path, now: datetime) -> None:
    with open_practice(tmp_path / "p.sqlite", clock=lambda: now) as p:
        with pytest.raises(ValidationError) as refused:
            p.start_episode(ME, client_ref="client-1", clinician_id=ME.id, opened_on=date(2026, 5, 1))
        assert refused.value.field == "clock"
        assert p.store.caseload(open_only=False) == []


def test_a_clock_stepped_back_between_commands_refuses_only_what_is_after_its_day(
    clinic: tuple[Practice, Clock, str],
) -> None:
    """An NTP step back over the clinic's midnight: the record stays whole and verifiable; the day that
    has not begun again is refused, the day the clock is on is not."""
    p, clock, ep = clinic
    clock.at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # 00:00 on 2 June in Auckland
    p.record_session(ME, ep, attended(date(2026, 6, 2)))
    clock.at -= SECOND  # 23:59:59 on 1 June again
    with pytest.raises(ValidationError) as refused:
        p.record_session(ME, ep, attended(date(2026, 6, 2)))
    assert refused.value.rule == "future"
    p.record_session(ME, ep, attended(date(2026, 6, 1)))
    assert p.verify(Actor("admin-1", Role.ADMINISTRATOR, CLINIC)).ok
