"""One SQLite file, two clinics: each clinic's verification reports its own record, nothing of the other's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Consent, Consultation, Modality, Role
from alliancekit.integrity.verify import Finding, IntegrityReport
from alliancekit.store.sqlite import SQLiteStore

from .conftest import DAY, HOST, KEY, Record, practice_on

NORTH, SOUTH = "north", "south"


def _admin(clinic: str) -> Actor:
    return Actor(f"adm-{clinic}", Role.ADMINISTRATOR, clinic)


def _episodes(p: Practice, clinic: str, count: int) -> list[str]:
    me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic)
    made = []
    for n in range(count):
        ep = p.start_episode(me, client_ref=f"{clinic}-client-{n}", clinician_id=me.id, opened_on=DAY)
        consent = Consent(treatment=True, measures=True)
        p.record_consultation(me, ep, Consultation(held_on=DAY, modality=Modality.VIDEO, consent=consent))
        p.episode(me, ep)  # an audited read
        made.append(ep)
    return made


@pytest.fixture(scope="module")
def _two_clinics(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    path = tmp_path_factory.mktemp("clinics") / "two.sqlite"
    p = practice_on(path, audit_key=KEY, checkpoint_every=5)
    episodes = {NORTH: _episodes(p, NORTH, 2), SOUTH: _episodes(p, SOUTH, 3)}
    p.close()  # seals the tail
    return path, episodes


@pytest.fixture
def two(
    _two_clinics: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> tuple[Record, dict[str, list[str]]]:
    source, episodes = _two_clinics
    copy = tmp_path / "copy.sqlite"
    shutil.copy(source, copy)
    return Record(copy, {}), episodes


def _verify(record: Record, clinic: str) -> IntegrityReport:
    with Practice(SQLiteStore(record.path, read_only=True), plugins=HOST, audit_key=KEY) as practice:
        return practice.verify(_admin(clinic))


def _text(report: IntegrityReport) -> str:
    return json.dumps(report.as_dict()) + report.describe()


def _south_ids(record: Record, episodes: dict[str, list[str]]) -> list[str]:
    """Everything that names the south clinic's record: its id, its episodes, its audit entries."""
    entries = [r[0] for r in record.sql("SELECT entry_id FROM audit WHERE clinic_id = ?", (SOUTH,))]
    return [SOUTH, *episodes[SOUTH], *entries]


def test_each_clinic_counts_only_its_own_record(two: tuple[Record, dict[str, list[str]]]) -> None:
    record, episodes = two
    report = _verify(record, NORTH)
    assert report.ok, report.describe()
    assert (report.clinic, report.episodes) == (NORTH, 2)
    # each clinic's audit entries are in chains of its own, sealed by checkpoints of its own
    assert (report.shared_audit, report.seals_checked) == (False, True)
    north = tuple(episodes[NORTH])
    assert report.events == len(record.sql("SELECT 1 FROM events WHERE episode_id IN (?, ?)", north))
    own = record.sql("SELECT 1 FROM audit WHERE clinic_id IN (?, '(none)')", (NORTH,))
    assert 0 < report.audit_entries == len(own) < len(record.sql("SELECT 1 FROM audit"))
    assert record.sql("SELECT DISTINCT chain FROM audit ORDER BY chain") == [(NORTH,), (SOUTH,)]
    assert record.sql("SELECT count(*) FROM audit WHERE chain <> clinic_id") == [(0,)]
    sealed = record.sql("SELECT 1 FROM audit_checkpoints WHERE chain = ?", (NORTH,))
    assert report.checkpoints == len(sealed) >= 2
    assert len(sealed) < len(record.sql("SELECT 1 FROM audit_checkpoints"))
    assert "shared" not in report.describe()
    text = _text(report)
    assert not [i for i in _south_ids(record, episodes) if i in text]
    assert _verify(record, SOUTH).episodes == 3


def test_a_tampered_event_is_only_in_its_own_clinics_report(two: tuple[Record, dict[str, list[str]]]) -> None:
    record, episodes = two
    victim = episodes[SOUTH][1]
    record.sql("UPDATE events SET actor_id = 'x' WHERE episode_id = ? AND seq = 2", (victim,))
    north = _verify(record, NORTH)
    assert north.ok, north.describe()
    assert not [i for i in _south_ids(record, episodes) if i in _text(north)]
    south = _verify(record, SOUTH)
    assert not south.ok
    finding = south.finding("events")
    assert finding is not None
    assert finding.where == f"episode {victim} event 2"
    assert finding.problem == "content does not match its hash"


@pytest.mark.parametrize("column", ["actor_id", "writes"])
def test_a_tampered_audit_entry_is_only_in_its_own_clinics_report(
    two: tuple[Record, dict[str, list[str]]], column: str
) -> None:
    """Each clinic's audit chains are its own: a changed entry of the south clinic breaks the south
    report's audit chain, and the north report checks none of it (it stays ok, naming nothing of south)."""
    record, episodes = two
    [(entry_id, shard, position)] = record.sql(
        "SELECT entry_id, shard, position FROM audit WHERE clinic_id = ? AND writes != ''"
        " ORDER BY shard, position LIMIT 1",
        (SOUTH,),
    )
    record.sql(f"UPDATE audit SET {column} = 'x' WHERE entry_id = ?", (entry_id,))  # noqa: S608
    south = _verify(record, SOUTH)
    finding = south.finding("audit")
    assert finding is not None, south.describe()
    assert (finding.where, finding.problem) == (
        f"audit shard {shard} entry {position}",
        "content does not match its hash",
    )
    north = _verify(record, NORTH)
    assert north.ok, north.describe()
    assert (north.shared_audit, north.seals_checked) == (False, True)
    assert not [i for i in _south_ids(record, episodes) if i in _text(north)]


def test_a_cut_of_one_clinics_audit_chain_is_only_in_its_own_report(
    two: tuple[Record, dict[str, list[str]]],
) -> None:
    """The last entries of a south shard deleted: the south seals find them missing; north is untouched."""
    record, _ = two
    [(shard, last)] = record.sql(
        "SELECT shard, max(position) FROM audit WHERE chain = ? GROUP BY shard ORDER BY 2 DESC LIMIT 1",
        (SOUTH,),
    )
    record.sql("DELETE FROM audit WHERE chain = ? AND shard = ? AND position = ?", (SOUTH, shard, last))
    south = _verify(record, SOUTH)
    finding = south.finding("seals")
    assert finding is not None, south.describe()
    assert finding.where == f"audit shard {shard} entry {last}"
    assert _verify(record, NORTH).ok


def test_an_entry_moved_to_another_clinics_chain_breaks_both(
    two: tuple[Record, dict[str, list[str]]],
) -> None:
    """An entry's chain is its clinic's: one relabelled into the north chains (its hash unchanged) leaves a
    gap in south's chain and an entry out of place in north's."""
    record, _ = two
    [(entry_id, shard)] = record.sql(
        "SELECT entry_id, shard FROM audit WHERE chain = ? ORDER BY shard, position DESC LIMIT 1",
        (SOUTH,),
    )
    top = record.sql("SELECT max(position) FROM audit WHERE chain = ? AND shard = ?", (NORTH, shard))[0][0]
    record.sql(
        "UPDATE audit SET chain = ?, position = ? WHERE entry_id = ?", (NORTH, (top or 0) + 1, entry_id)
    )
    north = _verify(record, NORTH)
    finding = north.finding("audit")
    assert finding is not None, north.describe()
    assert finding.problem == "entry out of place (moved to another clinic's chain)"
    assert _verify(record, SOUTH).finding("seals") is not None


def test_an_episode_moved_to_another_clinic_stays_in_its_own_clinics_report(
    two: tuple[Record, dict[str, list[str]]],
) -> None:
    record, episodes = two
    moved = episodes[SOUTH][0]
    record.sql("UPDATE episodes SET clinic_id = ? WHERE episode_id = ?", (NORTH, moved))
    south = _verify(record, SOUTH)
    finding = south.finding("projections")
    assert south.episodes == 3
    assert finding is not None
    assert finding.where == f"episode {moved} caseload row"


def test_the_cli_verifies_every_clinic_and_names_the_finding(
    two: tuple[Record, dict[str, list[str]]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record, episodes = two
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(KEY)
    argv = ["verify", "--db", str(record.path), "--key-file", str(key_file)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" record ")[0] for line in lines] == ["clinic north:", "clinic south:"]
    assert all(": record ok: " in line for line in lines)
    victim = episodes[SOUTH][2]
    record.sql("UPDATE events SET actor_id = 'x' WHERE episode_id = ? AND seq = 2", (victim,))
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert out.startswith("clinic north: record ok: 2 episodes")
    assert "clinic south: record broken: events (3 episodes" in out
    assert f"  events: episode {victim} event 2: content does not match its hash" in out
    assert main([*argv, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    assert [(r["clinic"], r["ok"]) for r in result["reports"]] == [(NORTH, True), (SOUTH, False)]


def test_the_cli_verifies_the_clinic_named(
    two: tuple[Record, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    record, episodes = two
    record.sql("UPDATE events SET actor_id = 'x' WHERE episode_id = ? AND seq = 2", (episodes[SOUTH][0],))
    assert main(["verify", "--db", str(record.path), "--clinic", NORTH]) == 0
    out = capsys.readouterr().out
    assert out.startswith("clinic north: record ok:")
    assert "south" not in out
    assert main(["verify", "--db", str(record.path), "--clinic", SOUTH, "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)["reports"]
    assert (report["clinic"], report["episodes"], report["ok"]) == (SOUTH, 3, False)


def test_the_cli_refuses_a_clinic_without_episodes_in_the_file(
    two: tuple[Record, dict[str, list[str]]], capsys: pytest.CaptureFixture[str]
) -> None:
    record, _ = two
    before = record.path.read_bytes()
    assert main(["verify", "--db", str(record.path), "--clinic", "west-secret"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "alliancekit: error: --clinic: no such clinic in this practice (it holds: north, south)\n"
    assert "west-secret" not in err
    assert record.path.read_bytes() == before


def test_a_single_clinic_file_shares_nothing(record: Record) -> None:
    report = record.verify()
    assert (report.ok, report.clinic, report.shared_audit) == (True, "north", False)
    assert "shared" not in report.describe()


def test_an_episode_whose_clinic_cannot_be_read_is_a_finding_without_its_id(record: Record) -> None:
    ep = record.episodes["ep1"]
    record.sql("UPDATE episodes SET opened_on = 'not-a-date' WHERE episode_id = ?", (ep,))  # the caseload
    record.sql("UPDATE events SET recorded_at = 'not-a-time' WHERE episode_id = ? AND seq = 1", (ep,))
    report = record.verify()
    finding = report.finding("events")
    assert finding is not None
    assert (finding.where, finding.problem) == ("an episode of unknown clinic", "its clinic cannot be read")
    assert report.episodes == 2
    assert ep not in finding.where
    # the caseload row's clinic column still reads as north: north's report names the row that cannot be read
    assert report.finding("projections") == Finding(
        "projections",
        f"episodes row episode {ep}",
        "a value in it is not what its column holds (a time, date, number or JSON that is not one)"
        " (changed outside alliancekit)",
    )


def test_a_row_whose_clinic_cannot_be_read_either_is_named_to_no_clinic(record: Record) -> None:
    ep = record.episodes["ep1"]
    record.sql("UPDATE episodes SET opened_on = 'not-a-date', clinic_id = 7 WHERE episode_id = ?", (ep,))
    record.sql("UPDATE events SET recorded_at = 'not-a-time' WHERE episode_id = ? AND seq = 1", (ep,))
    report = record.verify()
    assert report.finding("projections") is not None
    assert ep not in _text(report)
