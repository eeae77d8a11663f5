"""The ISO text of the times the core hashes and stores, made once per time object."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alliancekit.integrity import chain


def test_time_text_is_the_iso_text_of_each_time() -> None:
    start = datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=UTC)
    offset = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    for at in (start, offset, start.replace(microsecond=0)):
        assert chain.time_text(at) == at.isoformat()
    # far more times than are kept: each keeps its own text, never another time's
    times = [start + timedelta(microseconds=n) for n in range(2 * chain._times.keep + 7)]
    assert [chain.time_text(at) for at in times] == [at.isoformat() for at in times]
    assert [chain.time_text(at) for at in reversed(times)] == [at.isoformat() for at in reversed(times)]


def test_a_whole_import_transaction_of_times_is_formatted_once() -> None:
    # an import commits 500 clients' commands (3,000 here) at once: each command's time is formatted when
    # its events are chained and read again when its audit entry is linked and its rows written
    chain._times.clear()
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    times = [start + timedelta(milliseconds=n) for n in range(3000)]
    first = [chain.time_text(at) for at in times]
    assert all(chain.time_text(at) is text for at, text in zip(times, first, strict=True))


def test_equal_times_of_other_zones_keep_their_own_text() -> None:
    utc = datetime(2026, 3, 1, 12, tzinfo=UTC)
    east = utc.astimezone(timezone(timedelta(hours=2)))
    assert utc == east
    assert chain.time_text(utc) == "2026-03-01T12:00:00+00:00"
    assert chain.time_text(east) == "2026-03-01T14:00:00+02:00"
