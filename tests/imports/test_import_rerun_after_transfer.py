"""A re-run of an import over a source already imported writes nothing twice when the source holds a
transfer: the alerts the first clinician resolved before handing the episode over (explicitly, or by a
review) are looked for as the clinician of record the stored episode has now, so no read is refused and
nothing is written (under another source id, or read again from the start after the source changed before
its checkpoint). SQLite files on disk, through the library and through the CLI; and the CSV importer after a
transfer made in the practice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from alliancekit import Actor, Practice, Purpose, Role, open_practice
from alliancekit.domain import Attendance, Modality, Review, ReviewDecision
from alliancekit.domain.records import Session
from alliancekit.imports import ImportCheckpoint
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import import_actor, run_import

from .conftest import CLINIC as CSV_CLINIC
from .conftest import import_csv, row, run, write_csv, write_mapping
from .test_import_fhir_order import CLINIC, ME, OTHER, READER, Clock, _day, _episode, _exported
from .test_import_fhir_round_trip import END, START, _administration

AUDITOR = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)


def _scored(p: Practice, ep: str, by: Actor, day: int, level: float) -> None:
    scores = (_administration(p, "ors", START, level), _administration(p, "srs", END, level))
    p.record_session(by, ep, Session(_day(day), Modality.VIDEO, Attendance.ATTENDED, scores))


def _source(folder: Path, *, resolved_by_review: bool, session_last: bool = False) -> Path:
    """One episode whose first clinician sees alerts raised and resolves some (by hand, or the review-due
    one by recording a review) before transferring it; the second clinician then records a session and
    resolves an alert of their own (and, with ``session_last``, records one more session). Exported as
    NDJSON."""
    clock = Clock()
    with open_practice(folder / "source.sqlite", clock=clock) as p:
        ep = _episode(p)
        clock.to(_day(60))
        for day, level in ((7, 0.6), (14, 0.2), (21, 0.1)):
            _scored(p, ep, ME, day, level)
        raised = p.episode(ME, ep).alerts
        assert len(raised) >= 2  # the case needs alerts raised before the transfer
        if resolved_by_review:
            p.record_review(ME, ep, Review(held_on=_day(22), decision=ReviewDecision.CONTINUE))
        for alert_id in sorted(raised)[:2]:
            if alert_id in p.episode(ME, ep).alerts:
                p.resolve_alert(ME, ep, alert_id, note="synthetic", on=_day(22))
        p.transfer(ME, ep, to_clinician_id=OTHER.id, on=_day(23), reason="synthetic")
        _scored(p, ep, OTHER, 28, 0.1)
        still_open = sorted(p.episode(OTHER, ep).alerts)
        p.resolve_alert(OTHER, ep, still_open[0], note="synthetic", on=_day(29))
        if session_last:
            _scored(p, ep, OTHER, 35, 0.1)
        return _exported(p, folder / "export", "ndjson")


def _held(db: Path) -> tuple[int, int, Counter[tuple[str, str]]]:
    """Episodes, events (every episode's timeline), and the audit's entries by outcome and action."""
    with open_practice(db) as p:
        rows = p.caseload(READER, include_closed=True)
        events = sum(len(p.timeline(READER, r.episode_id)) for r in rows)
        audit = Counter((e.outcome, e.action) for e in p.audit_entries(AUDITOR))
    return len(rows), events, audit


def _run(db: Path, source: Path, source_id: str) -> tuple[int, int, tuple[str, ...]]:
    later = Clock()  # the import runs after all of it (no clinical date may be after the clinic's today)
    later.to(_day(100))
    with open_practice(db, clock=later) as practice:
        found = FhirSource(source, practice.plugins.measures())
        result = run_import(practice, found, clinic_id=CLINIC, source_id=source_id)
    return result.written, result.skipped, tuple(str(e) for e in result.errors)


def _refused(audit: Counter[tuple[str, str]]) -> int:
    return sum(n for (outcome, _), n in audit.items() if outcome != "allowed" and outcome != "replayed")


@pytest.mark.parametrize(
    "resolved_by_review", [False, True], ids=["resolved by hand", "resolved by a review"]
)
def test_a_rerun_under_another_source_id_writes_nothing_and_is_refused_nothing(
    resolved_by_review: bool, tmp_path: Path
) -> None:
    source, db = _source(tmp_path, resolved_by_review=resolved_by_review), tmp_path / "imported.sqlite"
    assert _run(db, source, "first") == (1, 0, ())
    episodes, events, audit = _held(db)
    assert audit[("allowed", "transfer")] == 1
    assert audit[("allowed", "resolve-alert")] >= 2  # one the first clinician made, one the second

    assert _run(db, source, "other") == (0, 1, ())
    again = _held(db)
    assert again[:2] == (episodes, events)
    assert _refused(again[2]) == 0
    # what the re-run wrote is what a re-run writes: each keyed command answered again, reads, its checkpoint
    added = again[2] - audit
    assert {action for _, action in added} <= {*{a for _, a in audit}, "read-episode", "import"}
    assert {outcome for outcome, _ in added} == {"allowed", "replayed"}
    assert added[("replayed", "transfer")] == 1


def test_a_rerun_read_again_from_the_start_writes_nothing_twice(tmp_path: Path) -> None:
    """The source changed before the checkpoint (the unit there is another record): read from its start."""
    source, db = _source(tmp_path, resolved_by_review=False), tmp_path / "imported.sqlite"
    assert _run(db, source, "s") == (1, 0, ())
    episodes, events, _ = _held(db)
    with open_practice(db) as practice:
        system = import_actor(CLINIC)
        practice.save_import_checkpoint(system, "s", ImportCheckpoint(1, "import-another-record", 1))
    assert _run(db, source, "s") == (0, 1, ())
    episodes_after, events_after, audit = _held(db)
    assert (episodes_after, events_after) == (episodes, events)
    assert _refused(audit) == 0


def test_a_source_imported_only_up_to_the_transfer_gets_the_rest_written_once(tmp_path: Path) -> None:
    """The stored story ends before a transfer the source holds (an earlier export): the first clinician's
    steps are still theirs to read for, and what follows is written."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as p:
        ep = _episode(p)
        clock.to(_day(60))
        for day, level in ((7, 0.6), (14, 0.2), (21, 0.1)):
            _scored(p, ep, ME, day, level)
        first = sorted(p.episode(ME, ep).alerts)[0]
        p.resolve_alert(ME, ep, first, note="synthetic", on=_day(22))
        early = _exported(p, tmp_path / "early", "ndjson")
        p.transfer(ME, ep, to_clinician_id=OTHER.id, on=_day(23), reason="synthetic")
        _scored(p, ep, OTHER, 28, 0.1)
        late = _exported(p, tmp_path / "late", "ndjson")
    db = tmp_path / "imported.sqlite"
    assert _run(db, early, "early") == (1, 0, ())
    assert _run(db, late, "late") == (1, 0, ())
    episodes, events, audit = _held(db)
    assert _refused(audit) == 0
    assert _run(db, late, "late-again") == (0, 1, ())
    assert _held(db)[:2] == (episodes, events)
    assert episodes == 1


def test_the_cli_reruns_an_export_with_a_transfer_under_another_source_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, db = _source(tmp_path, resolved_by_review=True), tmp_path / "cli.sqlite"
    common = ("import", "fhir", str(source), "--db", str(db), "--create", "--clinic", CLINIC, "--new-clinic")
    code, out, err = run(capsys, *common)
    assert code == 0, err
    assert out.startswith("imported 1 units: 1 written, 0 already imported")
    episodes, events, audit = _held(db)
    code, out, err = run(capsys, *common, "--source-id", "other")
    assert (code, err) == (0, "")
    assert out.startswith("imported 1 units: 0 written, 1 already imported")
    again = _held(db)
    assert again[:2] == (episodes, events)
    assert _refused(again[2]) == 0
    assert again[2][("allowed", "resolve-alert")] == audit[("allowed", "resolve-alert")]


def test_a_csv_rerun_after_the_episode_was_transferred_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CSV importer writes as the mapping's clinician; after the practice transferred the episode to
    another, a re-run's keyed commands are answered to the clinician who made them."""
    db, mapping = tmp_path / "p.sqlite", write_mapping(tmp_path)
    source = write_csv(
        tmp_path, [row("c-001", "08/01/2024", phq9="14"), row("c-001", "15/01/2024", phq9="9")]
    )
    assert import_csv(capsys, db, mapping, source)[0] == 0
    clin_a = Actor("clin-a", Role.CLINICIAN, CSV_CLINIC)
    supervisor = Actor("sup", Role.SUPERVISOR, CSV_CLINIC, Purpose.OPERATIONS)
    auditor = Actor("adm-1", Role.ADMINISTRATOR, CSV_CLINIC, Purpose.OPERATIONS)
    with open_practice(db) as p:
        (entry,) = p.caseload(supervisor, include_closed=True)
        p.transfer(clin_a, entry.episode_id, to_clinician_id="clin-b", on=_day(0), reason="synthetic")
        events = len(p.timeline(supervisor, entry.episode_id))
        before = Counter(e.outcome for e in p.audit_entries(auditor))
    code, out, err = import_csv(capsys, db, mapping, source, "--source-id", "again")
    assert (code, err) == (0, "")
    assert out.startswith("imported 2 units: 0 written, 2 already imported")
    with open_practice(db) as p:
        assert len(p.timeline(supervisor, entry.episode_id)) == events
        after = Counter(e.outcome for e in p.audit_entries(auditor))
    assert after["refused"] == before["refused"] == 0


THIRD = Actor("clin-3", Role.CLINICIAN, CLINIC)


def _transferred_in_practice(db: Path, holder: Actor, day: int) -> None:
    """The practice hands the imported episode over to a clinician the source never names."""
    later = Clock()
    later.to(_day(100))
    with open_practice(db, clock=later) as p:
        (entry,) = p.caseload(READER)
        p.transfer(holder, entry.episode_id, to_clinician_id=THIRD.id, on=_day(day), reason="synthetic")


def _untransferred_source(folder: Path) -> Path:
    """One episode whose clinician resolves alerts between sessions and records a session after the last
    resolution (the last step of its story is a session), never transferring it."""
    clock = Clock()
    with open_practice(folder / "source.sqlite", clock=clock) as p:
        ep = _episode(p)
        clock.to(_day(60))
        for day, level in ((7, 0.6), (14, 0.2), (21, 0.1)):
            _scored(p, ep, ME, day, level)
        raised = sorted(p.episode(ME, ep).alerts)
        assert len(raised) >= 2
        for alert_id in raised[:2]:
            p.resolve_alert(ME, ep, alert_id, note="synthetic", on=_day(22))
        _scored(p, ep, ME, 28, 0.1)
        return _exported(p, folder / "export", "ndjson")


@pytest.mark.parametrize("with_source_transfer", [False, True], ids=["no transfer", "and one in the source"])
def test_a_rerun_after_a_transfer_made_in_the_practice_writes_nothing_and_is_refused_nothing(
    with_source_transfer: bool, tmp_path: Path
) -> None:
    """A re-run before the practice's transfer and one after it: both write nothing, and neither looks an
    alert up as a clinician who no longer holds the episode (no refused audit entry)."""
    if with_source_transfer:
        source, holder = _source(tmp_path, resolved_by_review=False, session_last=True), OTHER
    else:
        source, holder = _untransferred_source(tmp_path), ME
    db = tmp_path / "imported.sqlite"
    assert _run(db, source, "first") == (1, 0, ())
    assert _run(db, source, "before") == (0, 1, ())
    episodes, events, audit = _held(db)
    assert _refused(audit) == 0
    _transferred_in_practice(db, holder, day=40)
    held = _held(db)
    assert held[1] == events + 1  # the practice's transfer
    assert _run(db, source, "after") == (0, 1, ())
    again = _held(db)
    assert again[:2] == (episodes, events + 1)
    assert _refused(again[2]) == 0
    assert again[2][("allowed", "resolve-alert")] == audit[("allowed", "resolve-alert")]
    with open_practice(db) as p:
        (entry,) = p.caseload(READER)
        assert entry.clinician_id == THIRD.id  # the re-run handed nothing back


def test_the_cli_reruns_an_export_after_a_transfer_made_in_the_practice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, db = _untransferred_source(tmp_path), tmp_path / "cli.sqlite"
    common = ("import", "fhir", str(source), "--db", str(db), "--create", "--clinic", CLINIC, "--new-clinic")
    assert run(capsys, *common)[0] == 0
    _transferred_in_practice(db, ME, day=40)
    episodes, events, _ = _held(db)
    code, out, err = run(capsys, *common, "--source-id", "other")
    assert (code, err) == (0, "")
    assert out.startswith("imported 1 units: 0 written, 1 already imported")
    again = _held(db)
    assert again[:2] == (episodes, events)
    assert _refused(again[2]) == 0


def _ending_with_alert_steps(folder: Path, *, with_source_transfer: bool) -> tuple[Path, Actor]:
    """One episode whose story ends with alerts resolved and acknowledged (no session after them), with or
    without a transfer in the source; and the clinician of record it ends with."""
    if with_source_transfer:
        return _source(folder, resolved_by_review=False), OTHER  # ends with the second clinician's resolution
    clock = Clock()
    with open_practice(folder / "source.sqlite", clock=clock) as p:
        ep = _episode(p)
        clock.to(_day(60))
        for day, level in ((7, 0.6), (14, 0.2), (21, 0.1)):
            _scored(p, ep, ME, day, level)
        raised = sorted(p.episode(ME, ep).alerts)
        assert len(raised) >= 2
        p.acknowledge_alert(ME, ep, raised[0], on=_day(22))
        p.resolve_alert(ME, ep, raised[1], note="synthetic", on=_day(22))
        return _exported(p, folder / "export", "ndjson"), ME


@pytest.mark.parametrize("with_source_transfer", [False, True], ids=["no transfer", "and one in the source"])
def test_a_rerun_of_a_story_ending_with_alert_steps_after_a_transfer_in_the_practice_writes_nothing(
    with_source_transfer: bool, tmp_path: Path
) -> None:
    """The last steps of the source are an alert's handling: the re-run finds each stored by its key, as its
    maker (who is answered about a command they made), and does not look its alert up as a clinician who no
    longer holds the episode."""
    source, holder = _ending_with_alert_steps(tmp_path, with_source_transfer=with_source_transfer)
    db = tmp_path / "imported.sqlite"
    assert _run(db, source, "first") == (1, 0, ())
    episodes, events, audit = _held(db)
    _transferred_in_practice(db, holder, day=40)
    assert _run(db, source, "after") == (0, 1, ())
    again = _held(db)
    assert again[:2] == (episodes, events + 1)  # the practice's transfer only
    assert _refused(again[2]) == 0
    assert again[2][("allowed", "resolve-alert")] == audit[("allowed", "resolve-alert")]
    with open_practice(db) as p:
        (entry,) = p.caseload(READER)
        assert entry.clinician_id == THIRD.id


def test_an_alert_step_a_later_export_adds_after_a_transfer_in_the_practice_is_still_refused(
    tmp_path: Path,
) -> None:
    """What the earlier import never wrote is a new record, made as the clinician who no longer holds the
    episode: refused, as any new record of theirs is (the re-run's answer is not taken for it)."""
    clock = Clock()
    with open_practice(tmp_path / "source.sqlite", clock=clock) as p:
        ep = _episode(p)
        clock.to(_day(60))
        for day, level in ((7, 0.6), (14, 0.2), (21, 0.1)):
            _scored(p, ep, ME, day, level)
        raised = sorted(p.episode(ME, ep).alerts)
        p.resolve_alert(ME, ep, raised[0], note="synthetic", on=_day(22))
        early = _exported(p, tmp_path / "early", "ndjson")
        p.resolve_alert(ME, ep, raised[1], note="synthetic", on=_day(23))
        late = _exported(p, tmp_path / "late", "ndjson")
    db = tmp_path / "imported.sqlite"
    assert _run(db, early, "early") == (1, 0, ())
    _transferred_in_practice(db, ME, day=40)
    written, skipped, errors = _run(db, late, "late")
    assert (written, skipped) == (0, 0)
    (error,) = errors
    assert "AccessDenied" in error
