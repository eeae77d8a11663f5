"""What docs/guides/deploying.md says about threads, per-request practices and online backups, with real
threads on SQLite files: no update lost, the record verifies, a backup taken during writes is sound."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path

from alliancekit import Actor, Consent, Consultation, FitDecision, GoalDraft, Practice, Session, open_practice
from alliancekit.errors import ConflictError

ME = Actor("clin-1", "clinician", clinic_id="north")
ADMIN = Actor("it-1", "administrator", clinic_id="north")
KEY = b"audit-key-for-tests-only-32bytes"
EACH = 15
CLOSE_UNDER_READER = Path(__file__).parent / "scripts" / "close_under_reader.py"


def _active_episode(practice: Practice, ref: str) -> str:
    ep = practice.start_episode(ME, client_ref=ref, clinician_id="clin-1", opened_on=date(2026, 1, 5))
    consultation = Consultation(held_on=date(2026, 1, 5), modality="phone", consent=Consent(True, True))
    practice.record_consultation(ME, ep, consultation)
    practice.decide_fit(ME, ep, FitDecision("proceed", date(2026, 1, 5)))
    practice.agree_goals(ME, ep, [GoalDraft("goal")], agreed_on=date(2026, 1, 5))
    return ep


def _record(practice: Practice, ep: str, day: date) -> None:
    session = Session(held_on=day, modality="phone", attendance="attended")
    while True:
        try:
            practice.record_session(ME, ep, session)
            return
        except ConflictError:  # every retry lost to another writer; nothing was written
            continue


def _run(workers: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's failure
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def _days(n: int) -> list[date]:
    return [date(2026, 1, 6) + timedelta(days=n * EACH + i) for i in range(EACH)]


def test_one_practice_shared_by_threads_loses_nothing(tmp_path: Path) -> None:
    with open_practice(tmp_path / "p.sqlite", audit_key=KEY, checkpoint_every=7) as practice:
        shared = _active_episode(practice, "shared")
        own = [_active_episode(practice, f"own-{n}") for n in range(3)]

        def writes(ep: str, n: int) -> Callable[[], None]:
            def work() -> None:
                for day in _days(n):
                    _record(practice, ep, day)

            return work

        def reader() -> None:
            for _ in range(EACH):
                practice.caseload(ME)
                practice.timeline(ME, shared)

        _run([writes(shared, n) for n in range(3)] + [writes(own[n], n) for n in range(3)] + [reader, reader])
        assert practice.episode(ME, shared).sessions_attended == 3 * EACH
        assert [practice.episode(ME, ep).sessions_attended for ep in own] == [EACH] * 3
    with open_practice(tmp_path / "p.sqlite", read_only=True, audit_key=KEY) as check:
        report = check.verify(ADMIN)
    assert report.ok, report.describe()
    assert report.seals_checked


def test_a_practice_per_request_from_many_threads_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path) as practice:
        ep = _active_episode(practice, "shared")

    def requests(n: int) -> Callable[[], None]:
        def work() -> None:
            for day in _days(n):
                with open_practice(path, audit_key=KEY) as per_request:
                    _record(per_request, ep, day)

        return work

    _run([requests(n) for n in range(4)])
    with open_practice(path) as check:
        assert check.episode(ME, ep).sessions_attended == 4 * EACH
    with open_practice(path, read_only=True, audit_key=KEY) as check:
        report = check.verify(ADMIN)
    assert report.ok, report.describe()


def test_an_online_backup_taken_while_a_thread_writes_is_sound(tmp_path: Path) -> None:
    path, copy = tmp_path / "p.sqlite", tmp_path / "backup.sqlite"
    with open_practice(path) as practice:
        ep = _active_episode(practice, "shared")
        started = threading.Event()

        def writer() -> None:
            for i, day in enumerate(_days(0) + _days(1)):
                _record(practice, ep, day)
                if i == 2:
                    started.set()

        def backup() -> None:
            started.wait()
            with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(copy)) as target:
                source.backup(target)

        _run([writer, backup])
        assert practice.episode(ME, ep).sessions_attended == 2 * EACH
        before = 4  # opened, consultation, fit decision, goals: then at least 3 sessions before the copy
    with open_practice(copy, read_only=True) as restored:
        report = restored.verify(ADMIN)
    assert report.ok, report.describe()
    assert report.episodes == 1
    assert report.events >= before + 3


def test_closing_a_shared_practice_waits_for_a_statement_another_thread_is_in(tmp_path: Path) -> None:
    """The guide's "close it when the process stops", while a request thread is still reading: the close
    used to free that thread's SQLite connection under its running statement (a segmentation fault); it
    now closes it once the statement is done. In a process of its own, so that a crash is reported."""
    done = subprocess.run(
        [sys.executable, str(CLOSE_UNDER_READER), str(tmp_path / "p.sqlite")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["2", "closed"]  # the reader read its timeline (opened, consultation)
