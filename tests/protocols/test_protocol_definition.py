"""A measurement protocol is validated on construction: each bad input is a ValidationError naming the field
and the rule, echoing nothing of the value."""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit.errors import ValidationError
from alliancekit.protocols import MeasurementProtocol, ScheduleEntry, When
from alliancekit.protocols.definition import MAX_ENTRIES, MAX_EVERY

CANARY = "canary-value-9f2"


def _refused(field: str, rule: str, make: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        make()
    assert (refused.value.field, refused.value.rule) == (field, rule)
    assert CANARY not in str(refused.value)


def test_a_valid_protocol_keeps_its_entries_and_points() -> None:
    protocol = MeasurementProtocol(
        "fit-plus",
        (
            ScheduleEntry("ors", "session-start"),
            ScheduleEntry("srs", When.SESSION_END),
            ScheduleEntry("phq-9", "every-weeks", 4),
            ScheduleEntry("ors", "ending"),
        ),
    )
    assert [e.when for e in protocol.entries][:2] == [When.SESSION_START, When.SESSION_END]
    assert protocol.measures == ("ors", "srs", "phq-9")


@pytest.mark.parametrize("when", ["every-sessions", "every-weeks"])
def test_an_interval_entry_needs_its_interval(when: str) -> None:
    _refused("every", "required", lambda: ScheduleEntry("phq-9", when))


@pytest.mark.parametrize("when", ["session-start", "session-end", "intake", "review", "ending"])
def test_an_entry_without_an_interval_takes_none(when: str) -> None:
    _refused("every", "not-allowed", lambda: ScheduleEntry("phq-9", when, 2))


@pytest.mark.parametrize("every", [1, MAX_EVERY])
def test_the_interval_bounds_are_accepted(every: int) -> None:
    assert ScheduleEntry("phq-9", "every-sessions", every).every == every


@pytest.mark.parametrize("every", [0, -1, MAX_EVERY + 1])
def test_an_interval_out_of_range_is_refused(every: int) -> None:
    _refused("every", "range", lambda: ScheduleEntry("phq-9", "every-weeks", every))


@pytest.mark.parametrize("every", [True, 2.0, "2"])
def test_an_interval_that_is_not_a_whole_number_is_refused(every: Any) -> None:
    _refused("every", "type", lambda: ScheduleEntry("phq-9", "every-weeks", every))


def test_an_unknown_occasion_is_refused() -> None:
    _refused("when", "enum", lambda: ScheduleEntry("phq-9", CANARY))


@pytest.mark.parametrize("measure", ["", 7, None])
def test_a_missing_or_wrong_measure_is_refused(measure: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        ScheduleEntry(measure, "intake")
    assert refused.value.field == "measure"


def test_a_protocol_needs_entries() -> None:
    _refused("entries", "required", lambda: MeasurementProtocol("empty", ()))


def test_a_protocol_entries_must_be_a_list() -> None:
    _refused("entries", "type", lambda: MeasurementProtocol("p", CANARY))  # type: ignore[arg-type]


def test_a_protocol_entry_must_be_a_schedule_entry() -> None:
    bad: Any = (ScheduleEntry("ors", "intake"), {"measure": CANARY})
    _refused("entries[1]", "type", lambda: MeasurementProtocol("p", bad))


def test_a_measure_twice_for_the_same_occasion_is_refused() -> None:
    twice = (ScheduleEntry("ors", "intake"), ScheduleEntry("srs", "intake"), ScheduleEntry("ors", "intake"))
    _refused("entries[2]", "duplicate", lambda: MeasurementProtocol("p", twice))


def test_a_measure_on_two_occasions_is_fine() -> None:
    both = (ScheduleEntry("ors", "intake"), ScheduleEntry("ors", "ending"))
    assert len(MeasurementProtocol("p", both).entries) == 2


def test_too_many_entries_are_refused() -> None:
    many = tuple(ScheduleEntry(f"m{i}", "intake") for i in range(MAX_ENTRIES + 1))
    _refused("entries", "max-items", lambda: MeasurementProtocol("p", many))
    assert len(MeasurementProtocol("p", many[:MAX_ENTRIES]).entries) == MAX_ENTRIES


@pytest.mark.parametrize("name", ["Fit", "fit plus", "-fit", "fit-", CANARY.upper()])
def test_a_badly_formed_name_is_refused(name: str) -> None:
    _refused("name", "pattern", lambda: MeasurementProtocol(name, (ScheduleEntry("ors", "intake"),)))


@pytest.mark.parametrize("name", ["", None, 3])
def test_a_missing_name_is_refused(name: Any) -> None:
    with pytest.raises(ValidationError) as refused:
        MeasurementProtocol(name, (ScheduleEntry("ors", "intake"),))
    assert refused.value.field == "name"


def test_a_plugin_name_may_carry_its_prefix() -> None:
    assert MeasurementProtocol("myclinic.intake-2", (ScheduleEntry("ors", "intake"),)).name == (
        "myclinic.intake-2"
    )
