"""A clinic's "today" is its own calendar date: at a day boundary where UTC and the clinic disagree, the
clinic wins (default dates of commands, the attention list's days, the report's date, audit queries).
Naive datetimes are refused."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import ValidationError
from alliancekit.feedback.reports import attention_list, render_report
from alliancekit.fhir import episode_bundle
from alliancekit.notify.channels import NotifierRegistry
from alliancekit.notify.dispatcher import Dispatcher

from .conftest import CLINIC, CLINICIAN, Clinic, phq9

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)

# 2026-03-10: Auckland keeps daylight time (UTC+13) until 5 April, Los Angeles since 8 March (UTC-7)
# (IANA tz database; the expected dates below are the wall-clock dates of these instants).
AUCKLAND_MIDNIGHT = datetime(2026, 3, 10, 11, 0, tzinfo=UTC)  # 2026-03-11 00:00 in Auckland
LOS_ANGELES_MIDNIGHT = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # 2026-03-10 00:00 in Los Angeles
SECOND = timedelta(seconds=1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.mark.parametrize(
    ("zone", "midnight", "before", "after"),
    [
        ("Pacific/Auckland", AUCKLAND_MIDNIGHT, date(2026, 3, 10), date(2026, 3, 11)),
        ("America/Los_Angeles", LOS_ANGELES_MIDNIGHT, date(2026, 3, 9), date(2026, 3, 10)),
    ],
)
def test_today_turns_at_the_clinics_midnight(
    tmp_path: Path, zone: str, midnight: datetime, before: date, after: date
) -> None:
    clock = Clock(midnight - SECOND)
    with open_practice(tmp_path / "p.sqlite", clock=clock, time_zone=zone) as p:
        assert p.today == p.clinic_today(CLINIC) == before
        clock.at = midnight
        assert p.today == p.clinic_today(CLINIC) == after
        # the UTC date at the same instants is 2026-03-10 on both sides: "today" is not the UTC date
        assert {(midnight - SECOND).date(), midnight.date()} == {date(2026, 3, 10)}


def test_a_clinic_may_have_its_own_zone(tmp_path: Path) -> None:
    clock = Clock(AUCKLAND_MIDNIGHT)  # 2026-03-11 in Auckland, 2026-03-10 04:00 in Los Angeles
    with open_practice(
        tmp_path / "p.sqlite",
        clock=clock,
        time_zone="Pacific/Auckland",
        clinic_time_zones={"west": "America/Los_Angeles"},
    ) as p:
        assert p.clinic_today(CLINIC) == date(2026, 3, 11)
        assert p.clinic_today("west") == date(2026, 3, 10)


def test_without_a_zone_today_is_the_utc_date(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 3, 10, 23, 59, 59, tzinfo=UTC))
    with open_practice(tmp_path / "p.sqlite", clock=clock) as p:
        assert p.today == date(2026, 3, 10)
        clock.at += SECOND
        assert p.today == date(2026, 3, 11)


@pytest.mark.parametrize(
    ("offset", "expected"), [(-SECOND, date(2026, 3, 10)), (timedelta(0), date(2026, 3, 11))]
)
def test_a_commands_default_date_is_the_clinics(tmp_path: Path, offset: timedelta, expected: date) -> None:
    clock = Clock(datetime(2026, 3, 1, tzinfo=UTC))  # after the episode's days: none may be after today
    with open_practice(tmp_path / "p.sqlite", clock=clock, time_zone="Pacific/Auckland") as p:
        c = Clinic(p)
        ep = c.episode()
        c.session(ep, phq9(10, item9=1))  # a risk item endorsed: an alert to acknowledge
        alert_id = next(iter(p.alerts(CLINICIAN, ep)))
        clock.at = AUCKLAND_MIDNIGHT + offset
        p.acknowledge_alert(CLINICIAN, ep, alert_id)  # no date given
        (acknowledged,) = [e for e in p.timeline(CLINICIAN, ep) if e.type == "alert-acknowledged"]
        assert acknowledged.event.on == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(("offset", "days"), [(-SECOND, 6), (timedelta(0), 7)])
def test_attention_days_and_report_date_count_the_clinics_days(
    tmp_path: Path, offset: timedelta, days: int
) -> None:
    clock = Clock(datetime(2026, 3, 5, tzinfo=UTC))  # after the session's day: none may be after today
    with open_practice(tmp_path / "p.sqlite", clock=clock, time_zone="Pacific/Auckland", review_every=1) as p:
        c = Clinic(p)
        c.day = date(2026, 2, 25)
        ep = c.episode()
        c.session(ep, phq9(10, item9=1), days=7)  # held on 2026-03-04, an urgent alert open
        clock.at = AUCKLAND_MIDNIGHT + offset  # the clinic's 2026-03-10 23:59:59, then 2026-03-11 00:00
        (item,) = [i for i in attention_list(p, SUPERVISOR) if i.episode_id == ep]
        assert item.days_since_session == days
        today = (date(2026, 3, 4) + timedelta(days=days)).isoformat()
        assert f"Needs attention today ({today})" in render_report(p, SUPERVISOR)


@pytest.mark.parametrize(
    ("zone", "first_day"), [("UTC", date(2026, 3, 10)), ("Pacific/Auckland", date(2026, 3, 11))]
)
def test_audit_days_are_the_clinics_days(tmp_path: Path, zone: str, first_day: date) -> None:
    auditor = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
    clock = Clock(AUCKLAND_MIDNIGHT)
    with open_practice(tmp_path / "p.sqlite", clock=clock, time_zone=zone) as p:
        Clinic(p).episode()  # audited at 2026-03-10 11:00 UTC
        assert p.audit_entries(auditor, since=first_day, until=first_day)
        assert not p.audit_entries(auditor, until=first_day - timedelta(days=1))
        assert not p.audit_entries(auditor, since=first_day + timedelta(days=1))


# ------------------------------------------------------------------------------------------ bad input

NAIVE = datetime(2026, 3, 10, 12, 0)  # noqa: DTZ001 - the naive datetime being refused


def _refused(caught: pytest.ExceptionInfo[ValidationError], field: str, rule: str) -> None:
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert "2026" not in str(caught.value)  # the value is not echoed


def test_a_naive_clock_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with open_practice(tmp_path / "p.sqlite", clock=lambda: NAIVE) as p:
        with pytest.raises(ValidationError) as caught:
            p.start_episode(
                CLINICIAN, client_ref="client-x", clinician_id=CLINICIAN.id, opened_on=date(2026, 3, 10)
            )
        _refused(caught, "clock", "timezone-aware")
        assert p.store.caseload(open_only=False) == []
        assert p.store.audit_records() == []
        with pytest.raises(ValidationError) as caught:
            p.today  # noqa: B018 - the property reads the clock
        _refused(caught, "clock", "timezone-aware")


def test_an_aware_clock_in_any_zone_is_accepted(tmp_path: Path) -> None:
    # 2026-03-11 00:30 at UTC+13 is 2026-03-10 11:30 UTC: the instant counts, not its zone
    at = datetime(2026, 3, 11, 0, 30, tzinfo=timezone(timedelta(hours=13)))
    with open_practice(tmp_path / "p.sqlite", clock=lambda: at) as p:
        assert p.today == date(2026, 3, 10)


def test_a_dispatcher_with_a_naive_clock_is_refused(tmp_path: Path) -> None:
    with open_practice(tmp_path / "p.sqlite") as p:
        registry = NotifierRegistry()

        class Quiet:
            name = "quiet"

            def deliver(self, message: object) -> None: ...

        registry.add(Quiet(), "test")
        dispatcher = Dispatcher(p.store, registry, clock=lambda: NAIVE)
        with pytest.raises(ValidationError) as caught:
            dispatcher.dispatch_pending()
        _refused(caught, "clock", "timezone-aware")


def test_a_naive_bundle_timestamp_is_refused(clinic: Clinic) -> None:
    ep = clinic.episode()
    before = len(clinic.p.store.audit_records())
    with pytest.raises(ValidationError) as caught:
        episode_bundle(clinic.p, CLINICIAN, ep, timestamp=NAIVE)
    _refused(caught, "timestamp", "timezone-aware")
    assert len(clinic.p.store.audit_records()) == before


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "America", 13, None])
def test_an_unknown_time_zone_is_refused(tmp_path: Path, zone: object) -> None:
    with pytest.raises(ValidationError) as caught:
        open_practice(tmp_path / "p.sqlite", time_zone=zone)
    assert caught.value.field == "time_zone"
    assert caught.value.rule == ("type" if not isinstance(zone, str) else "time-zone")


@pytest.mark.parametrize(
    ("zones", "field", "rule"),
    [
        ({"west": "Nowhere/Town"}, "clinic_time_zones.west", "time-zone"),
        ({"": "UTC"}, "clinic_time_zones", "required"),
        (["UTC"], "clinic_time_zones", "type"),
    ],
)
def test_a_bad_clinic_time_zone_is_refused(tmp_path: Path, zones: object, field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        open_practice(tmp_path / "p.sqlite", clinic_time_zones=zones)
    assert (caught.value.field, caught.value.rule) == (field, rule)
