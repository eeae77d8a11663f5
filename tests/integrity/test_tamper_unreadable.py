"""Tampering that leaves a row the store cannot even read (a time that is not a time, a payload that is not
JSON) is a finding of verify at that part of the record, never a crash of the verification."""

from __future__ import annotations

import pytest

from alliancekit.cli.main import main

from .conftest import Record

GARBAGE = "not-a-value"


def _finding(record: Record, check: str) -> str:
    report = record.verify()
    assert not report.ok
    assert report.describe().startswith("record broken:")
    finding = report.finding(check)
    assert finding is not None, report.describe()
    assert GARBAGE not in report.describe()
    return finding.where


def test_an_event_payload_that_is_not_json_is_found_at_its_event(record: Record) -> None:
    ep = record.episodes["ep2"]
    record.sql("UPDATE events SET payload = ? WHERE episode_id = ? AND seq = 4", (GARBAGE, ep))
    assert _finding(record, "events") == f"episode {ep} event 4"


@pytest.mark.parametrize("column", ["occurred_at", "recorded_at"])
def test_an_event_time_that_is_not_a_time_is_found_at_its_episode(record: Record, column: str) -> None:
    ep = record.episodes["ep2"]
    record.sql(f"UPDATE events SET {column} = ? WHERE episode_id = ? AND seq = 4", (GARBAGE, ep))  # noqa: S608
    assert _finding(record, "events") == f"episode {ep}"


def test_an_audit_time_that_is_not_a_time_is_found_in_the_audit_log(record: Record) -> None:
    record.sql("UPDATE audit SET at = ? WHERE position = 2", (GARBAGE,))
    where = _finding(record, "audit")  # the entry that cannot be read: by its place, not its content
    assert where.startswith("audit row shard ")
    assert where.endswith(" position 2 of chain north")


def test_an_unreadable_checkpoint_is_found_by_the_seals(record: Record) -> None:
    record.sql("UPDATE audit_checkpoints SET heads = ? WHERE seq = 1", (GARBAGE,))
    assert _finding(record, "seals") == "audit_checkpoints row checkpoint 1 of chain north"


def test_an_unreadable_caseload_row_is_found_by_the_projections(record: Record) -> None:
    record.sql("UPDATE episodes SET opened_on = ? WHERE episode_id = ?", (GARBAGE, record.episodes["ep1"]))
    assert _finding(record, "projections") == f"episodes row episode {record.episodes['ep1']}"


def test_the_cli_reports_an_unreadable_row_as_a_broken_record(
    record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    record.sql("UPDATE audit SET at = ? WHERE position = 2", (GARBAGE,))
    code = main(["verify", "--db", str(record.path)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.startswith("clinic north: record broken: audit")
    assert "Traceback" not in err
    assert GARBAGE not in out + err


# -- reads of a damaged event: a library error naming the event, never a traceback or "bad input" ----------

DAMAGE = {
    "json": "payload = 'not-a-value'",
    "shape": "payload = '[]'",
    "event-type": "type = 'not-a-value'",
    "newer-version": "schema_version = 99",
}


@pytest.mark.parametrize("rule", sorted(DAMAGE))
def test_reading_a_damaged_event_raises_unreadable_record_naming_it(record: Record, rule: str) -> None:
    from alliancekit.errors import UnreadableRecord

    from .conftest import clinician, practice_on

    ep = record.episodes["ep2"]
    record.sql(f"UPDATE events SET {DAMAGE[rule]} WHERE episode_id = ? AND seq = 4", (ep,))  # noqa: S608
    with practice_on(record.path) as practice, pytest.raises(UnreadableRecord) as raised:
        practice.timeline(clinician(2), ep)
    assert (raised.value.episode_id, raised.value.seq, raised.value.rule) == (ep, 4, rule)
    assert f"episode {ep}: stored event 4 cannot be read ({rule})" in str(raised.value)
    assert GARBAGE not in str(raised.value)


@pytest.mark.parametrize("rule", sorted(DAMAGE))
@pytest.mark.parametrize(
    "command",
    [["export", "fhir", "--all", "--out"], ["export", "csv", "--identified", "--out"], ["report", "--out"]],
    ids=["export-fhir", "export-csv", "report"],
)
def test_a_command_reading_a_damaged_event_says_so_and_publishes_nothing(
    record: Record, rule: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ep = record.episodes["ep2"]
    record.sql(f"UPDATE events SET {DAMAGE[rule]} WHERE episode_id = ? AND seq = 4", (ep,))  # noqa: S608
    out_path = record.path.parent / "out"
    code = main([*command, str(out_path), "--db", str(record.path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    assert f"stored event 4 cannot be read ({rule})" in err
    assert GARBAGE not in out + err
    assert not out_path.exists()


# -- reads of a damaged snapshot: the same, and never a word of the snapshot in the message ---------------

HIDDEN_REF = "client-ref-in-a-damaged-snapshot"
SNAPSHOT_DAMAGE = {
    "json": f'state = \'{{"client_ref": "{HIDDEN_REF}"\'',
    # a participant's state keyed by their client reference: a map key is data, not a field name
    "shape": f"state = json_set(state, '$.participants', json('{{\"{HIDDEN_REF}\": 5}}'))",
}


@pytest.mark.parametrize("rule", sorted(SNAPSHOT_DAMAGE))
def test_reading_a_damaged_snapshot_raises_unreadable_record_naming_it(record: Record, rule: str) -> None:
    from alliancekit.errors import UnreadableRecord

    from .conftest import clinician, practice_on

    ep = record.episodes["ep2"]
    record.sql(f"UPDATE episodes SET {SNAPSHOT_DAMAGE[rule]} WHERE episode_id = ?", (ep,))  # noqa: S608
    with practice_on(record.path) as practice, pytest.raises(UnreadableRecord) as raised:
        practice.episode(clinician(2), ep)
    assert (raised.value.episode_id, raised.value.seq, raised.value.rule) == (ep, None, rule)
    assert str(raised.value).startswith(f"episode {ep}: stored snapshot cannot be read ({rule}): ")
    assert HIDDEN_REF not in str(raised.value)


@pytest.mark.parametrize("rule", sorted(SNAPSHOT_DAMAGE))
@pytest.mark.parametrize(
    "command",
    [["episode", "show", "EP"], ["export", "fhir", "--all", "--out", "OUT"], ["report", "--out", "OUT"]],
    ids=["episode-show", "export-fhir", "report"],
)
def test_a_command_reading_a_damaged_snapshot_says_so_without_a_traceback(
    record: Record, rule: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ep = record.episodes["ep2"]
    record.sql(f"UPDATE episodes SET {SNAPSHOT_DAMAGE[rule]} WHERE episode_id = ?", (ep,))  # noqa: S608
    out_path = record.path.parent / "out"
    args = [ep if a == "EP" else str(out_path) if a == "OUT" else a for a in command]
    code = main([*args, "--db", str(record.path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err
    assert f"stored snapshot cannot be read ({rule})" in err
    assert HIDDEN_REF not in out + err
    assert not out_path.exists()


def test_a_bad_value_under_a_map_key_is_named_without_the_key() -> None:
    from alliancekit.errors import ValidationError
    from alliancekit.events import converter
    from alliancekit.lifecycle.state import ParticipantState

    with pytest.raises(ValidationError) as raised:
        converter.structure({HIDDEN_REF: 5}, dict[str, ParticipantState])  # participants, by client reference
    assert HIDDEN_REF not in str(raised.value)
    assert raised.value.field == "(key)"
    with pytest.raises(ValidationError) as in_a_list:
        converter.structure([1, "x"], list[int])
    assert in_a_list.value.field == "1"  # a list's index is no one's data: still named
