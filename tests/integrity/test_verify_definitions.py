"""The measure definitions kept with the data, tampered with on a real SQLite file: ``verify`` finds each
change by its ``definitions`` check (the CLI exits 1 naming it), and a definition with nothing to hold it to
but itself, or a store that held administrations before it kept definitions, verifies as documented."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import attrs
import pytest

from alliancekit import Practice
from alliancekit.cli.main import main
from alliancekit.core.definitions import SCORED_TYPES, DecodedOnce
from alliancekit.domain import Attendance, Modality, Session
from alliancekit.errors import UnreadableRecord
from alliancekit.events.codec import Codec
from alliancekit.events.types import Event
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.store.definitions import BACKFILL_KEY, stored_definition
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import StoredEvent
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import BACKFILL_AUDITED_FROM
from alliancekit.store.upgrade import backfill_mark_entry
from alliancekit.testing.concurrency import active_episode

from .conftest import ADMIN, DAY, HOST, T0, Record, clinician, phq9

MARK_UNRECORDED = (
    "the mark excusing administrations without a stored definition has no audit entry"
    " (set outside alliancekit)"
)
CUTOFF = '"clinical_if":"at-or-above","value":10}'


def _definition(record: Record, measure_id: str = "phq-9") -> tuple[str, str]:
    [(text, digest)] = record.sql(
        "SELECT definition, sha256 FROM measure_definitions WHERE measure_id = ? AND version = '1.0'",
        (measure_id,),
    )
    return str(text), str(digest)


def _store(record: Record, text: str, digest: str, measure_id: str = "phq-9", version: str = "1.0") -> None:
    record.sql(
        "INSERT INTO measure_definitions (measure_id, version, sha256, definition) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (measure_id, version) DO UPDATE SET sha256 = excluded.sha256,"
        " definition = excluded.definition",
        (measure_id, version, digest, text),
    )


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _problem(report: IntegrityReport) -> tuple[str, str]:
    finding = report.finding("definitions")
    assert finding is not None, report.describe()
    assert not report.ok
    assert [f.check for f in report.findings] == ["definitions"]  # nothing else was touched
    return finding.where, finding.problem


def test_the_untouched_record_verifies_its_definitions(record: Record) -> None:
    report = record.verify()
    assert report.ok, report.describe()
    assert report.definitions == len(record.sql("SELECT 1 FROM measure_definitions")) == 1
    assert report.definitions_missing == 0
    assert "1 measure definitions" in report.describe()


def test_an_edited_text_is_found(record: Record) -> None:
    text, digest = _definition(record)
    _store(record, text.replace(CUTOFF, CUTOFF.replace("10", "15")), digest)
    where, problem = _problem(record.verify())
    assert (where, problem) == (
        "measure phq-9 version 1.0",
        "its text does not match its SHA-256 (changed outside alliancekit)",
    )


def test_an_edited_text_with_its_hash_recomputed_differs_from_the_installed_one(record: Record) -> None:
    text, _ = _definition(record)
    edited = text.replace(CUTOFF, CUTOFF.replace("10", "15"))
    assert edited != text
    _store(record, edited, _sha(edited))
    where, problem = _problem(record.verify())
    assert (where, problem) == (
        "measure phq-9 version 1.0",
        "it differs from the installed plugin's definition of the same version",
    )
    assert "15" not in problem


def test_a_deleted_definition_an_administration_used_is_found(record: Record) -> None:
    record.sql("DELETE FROM measure_definitions WHERE measure_id = 'phq-9'")
    report = record.verify()
    where, problem = _problem(report)
    assert where == "measure phq-9 version 1.0"
    first = sorted(record.episodes.values())[0]
    assert problem == f"administered in episode {first} but no definition of it is stored"
    assert (report.definitions, report.definitions_missing) == (0, 1)


def test_another_installed_definition_in_its_place_is_found(record: Record) -> None:
    other = stored_definition(HOST.measures().get("gad-7", "1.0"))
    _store(record, other.definition_json, other.sha256)  # text and hash agree, under phq-9 1.0's key
    where, problem = _problem(record.verify())
    assert (where, problem) == (
        "measure phq-9 version 1.0",
        "it is not a valid definition of the measure and version it is stored under",
    )


def test_another_installed_version_in_its_place_is_found(record: Record) -> None:
    """gad-7 1.1's definition stored as gad-7 1.0 (both installed): named by its key, not passed."""
    newer = stored_definition(HOST.measures().get("gad-7", "1.1"))
    _store(record, newer.definition_json, newer.sha256, "gad-7", "1.0")
    where, _problem_text = _problem(record.verify())
    assert where == "measure gad-7 version 1.0"


def test_text_that_is_not_json_is_found(record: Record) -> None:
    _store(record, "{not json", _sha("{not json"))
    assert _problem(record.verify())[1] == (
        "it is not a valid definition of the measure and version it is stored under"
    )


def test_a_definition_nothing_installed_can_vouch_for_is_checked_for_itself_only(record: Record) -> None:
    """The documented limit: a self-consistent definition of a measure version this host has no plugin for
    verifies (there is no reference to hold it to); the same text with a stale hash does not."""
    text, _ = _definition(record)
    document = json.loads(text)
    document["id"] = "local-scale"
    custom = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    _store(record, custom, _sha(custom), "local-scale")
    report = record.verify()
    assert report.ok, report.describe()
    assert report.definitions == 2
    edited = custom.replace(CUTOFF, CUTOFF.replace("10", "15"))
    _store(record, edited, _sha(edited), "local-scale")
    assert record.verify().ok  # nothing installed to tell: the limit the docs name
    _store(record, edited, _sha(custom), "local-scale")
    assert _problem(record.verify())[0] == "measure local-scale version 1.0"


@pytest.mark.parametrize("mark", ['"pending"', '"done"'])
def test_a_backfill_mark_set_by_hand_is_found(record: Record, mark: str) -> None:
    """Only a migration sets the mark that lets administrations go without a stored definition, and it
    records it in the audit log: written into the metadata by hand (the definition deleted with it), the
    mark is a finding, not a licence; the missing definition is still counted."""
    record.sql("DELETE FROM measure_definitions WHERE measure_id = 'phq-9'")
    record.sql("INSERT INTO practice_meta (key, value) VALUES (?, ?)", (BACKFILL_KEY, mark))
    report = record.verify()
    where, problem = _problem(report)
    assert (where, problem) == (
        f"practice metadata {BACKFILL_KEY}",
        MARK_UNRECORDED,
    )
    assert (report.definitions, report.definitions_missing) == (0, 1)


def test_a_backfill_mark_entry_filed_by_hand_in_another_clinic_does_not_vouch(record: Record) -> None:
    """The mark's entry counts only where a migration files it (under no clinic, for a SQLite file): an
    entry of another clinic's chain does not vouch for this clinic's report."""
    store = SQLiteStore(record.path)
    try:  # chained as the store chains any entry: the audit chains still check out
        store.append_audit([backfill_mark_entry("south", T0, BACKFILL_AUDITED_FROM)])
    finally:
        store.close()
    record.sql("INSERT INTO practice_meta (key, value) VALUES (?, ?)", (BACKFILL_KEY, '"done"'))
    report = record.verify()
    assert [f.check for f in report.findings] == ["definitions"], report.describe()
    assert report.findings[0].where == f"practice metadata {BACKFILL_KEY}"


def test_the_cli_exits_1_naming_the_definitions_finding(
    record: Record, capsys: pytest.CaptureFixture[str]
) -> None:
    text, _ = _definition(record)
    edited = text.replace(CUTOFF, CUTOFF.replace("10", "15"))
    _store(record, edited, _sha(edited))
    assert main(["verify", "--db", str(record.path)]) == 1
    out = capsys.readouterr().out
    assert "record broken: definitions" in out
    assert "  definitions: measure phq-9 version 1.0: it differs from the installed plugin's" in out
    assert main(["verify", "--db", str(record.path), "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)["reports"]
    assert report["definitions"] == 1
    assert [f["check"] for f in report["findings"]] == ["definitions"]


def test_the_demo_verifies_with_its_definitions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--clients", "12", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["verify", "--db", str(db), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"]
    [report] = out["reports"]
    assert report["definitions"] >= 2
    assert (report["definitions_missing"], report["findings"]) == (0, [])


def test_a_memory_practice_verifies_the_definitions_its_commits_stored() -> None:
    practice = Practice(MemoryStore(), plugins=HOST, clock=lambda: T0)
    me = clinician()
    ep = active_episode(practice, me)
    session = Session(
        held_on=DAY, modality=Modality.VIDEO, attendance=Attendance.ATTENDED, administrations=(phq9(12),)
    )
    practice.record_session(me, ep, session)
    report = practice.verify(ADMIN)
    assert report.ok, report.describe()
    assert (report.definitions, report.definitions_missing) == (1, 0)


def test_verification_decodes_each_stored_event_once(record: Record, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold and the measure versions administered read the same decoded events: every event of the
    record is decoded exactly once (it was twice for each event that scores, once in each)."""
    decoded: list[tuple[str, int]] = []
    real = Codec.decode

    def counted(self: Codec, stored: StoredEvent) -> Event:
        decoded.append((stored.episode_id, stored.seq))
        return real(self, stored)

    monkeypatch.setattr(Codec, "decode", counted)
    report = record.verify()
    assert report.ok, report.describe()
    events = record.sql("SELECT episode_id, seq FROM events")
    scored = sum(1 for (kind,) in record.sql("SELECT type FROM events") if kind in SCORED_TYPES)
    assert scored >= 1  # the record has administrations: the second decoding is what is measured
    assert sorted(decoded) == sorted((str(e), int(s)) for e, s in events)
    assert len(decoded) == report.events


def test_a_decoding_failure_is_remembered_and_raised_to_each_reader() -> None:
    calls: list[int] = []

    def failing(stored: StoredEvent) -> Event:
        calls.append(stored.seq)
        raise UnreadableRecord(stored.episode_id, stored.seq, "json")

    decode = DecodedOnce(failing)
    stored = StoredEvent("ep-1", 1, "ev-1", "session-recorded", 1, T0, T0, "a", "clinician", "north", "{")
    for _ in range(2):
        with pytest.raises(UnreadableRecord):
            decode(stored)
    assert calls == [1]
    other = attrs.evolve(stored, episode_id="ep-2")
    with pytest.raises(UnreadableRecord):
        decode(other)  # another episode's: decoded, and the first one forgotten
    with pytest.raises(UnreadableRecord):
        decode(stored)
    assert calls == [1, 1, 1]
