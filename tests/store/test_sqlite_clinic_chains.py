"""Writers of two clinics on one SQLite file at once, in threads (the guard's group commit puts entries
of both clinics in one transaction) and in processes: each clinic's audit chains stay whole and its own,
and each clinic's checkpoints are numbered and sealed on their own."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.store import sqlite
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.store.sqlite_schema import CLINIC_CHAINS_FROM, LATEST_VERSION
from alliancekit.testing.store import _DAY, SEAL_KEY, _consultation, _keep_start, _sealing_worker
from alliancekit.testing.suite import builtin_plugins

CLINICS = ("north", "south")
WRITERS = 6
ROUNDS = 5


def _verify(path: Path, clinic: str) -> IntegrityReport:
    with Practice(SQLiteStore(path, read_only=True), plugins=builtin_plugins(), audit_key=SEAL_KEY) as p:
        return p.verify(Actor(f"adm-{clinic}", Role.ADMINISTRATOR, clinic))


def _check(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*) FROM audit WHERE chain <> clinic_id").fetchone() == (0,)
        chains = {r[0] for r in conn.execute("SELECT DISTINCT chain FROM audit")}
        for clinic in chains:
            # positions 1..n in every shard of every clinic: no head was read twice or skipped
            for shard, count, top in conn.execute(
                "SELECT shard, count(*), max(position) FROM audit WHERE chain = ? GROUP BY shard", (clinic,)
            ):
                assert count == top, (clinic, shard)
            seqs = [
                r[0] for r in conn.execute("SELECT seq FROM audit_checkpoints WHERE chain = ?", (clinic,))
            ]
            assert seqs == list(range(1, len(seqs) + 1))
    finally:
        conn.close()
    assert chains == set(CLINICS)
    for clinic in CLINICS:
        report = _verify(path, clinic)
        assert report.ok, report.describe()
        assert (report.shared_audit, report.seals_checked) == (False, True)
        assert report.episodes == WRITERS // 2 * ROUNDS


def test_threads_of_two_clinics_on_one_practice_keep_each_clinics_chains(tmp_path: Path) -> None:
    path = tmp_path / "two.sqlite"
    practice = Practice(SQLiteStore(path), plugins=builtin_plugins(), audit_key=SEAL_KEY, checkpoint_every=5)
    errors: list[BaseException] = []
    for round_ in range(ROUNDS):
        barrier = threading.Barrier(WRITERS)

        def work(w: int, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
            clinic = CLINICS[w % 2]
            actor = Actor(f"clin-{w}", Role.CLINICIAN, clinic)
            try:
                barrier.wait()
                ep = practice.start_episode(
                    actor, client_ref=f"c-{round_}-{w}", clinician_id=actor.id, opened_on=_DAY
                )
                practice.record_consultation(actor, ep, _consultation())
                practice.episode(actor, ep)
                practice.audit_checkpoint(Actor("adm", Role.ADMINISTRATOR, clinic))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors[:3]
    practice.close()
    _check(path)


def test_processes_of_two_clinics_on_one_file_keep_each_clinics_chains(tmp_path: Path) -> None:
    path = tmp_path / "two.sqlite"
    SQLiteStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WRITERS)  # each round starts when every writer has its practice open
    with ctx.Pool(WRITERS, initializer=_keep_start, initargs=(start,)) as pool:
        for round_ in range(ROUNDS):
            jobs = [(f"sqlite:{path}", CLINICS[w % 2], round_, w) for w in range(WRITERS)]
            assert pool.map(_sealing_worker, jobs, chunksize=1) == ["ok"] * WRITERS
    _check(path)


def _two_clinics(path: Path) -> None:
    with Practice(
        SQLiteStore(path), plugins=builtin_plugins(), audit_key=SEAL_KEY, checkpoint_every=4
    ) as practice:
        for n in range(3):
            for clinic in CLINICS:
                actor = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic)
                ep = practice.start_episode(actor, client_ref=f"c-{n}", clinician_id=actor.id, opened_on=_DAY)
                practice.episode(actor, ep)


@pytest.mark.parametrize("page", [1, 2, 7, 10_000])
def test_a_clinics_chains_are_read_a_page_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    path = tmp_path / "two.sqlite"
    _two_clinics(path)
    monkeypatch.setattr(sqlite, "_AUDIT_PAGE_ROWS", page)
    store = SQLiteStore(path, read_only=True)
    try:
        everything = store.audit_records()
        checkpoints = store.audit_checkpoints()
        assert {r.chain for r in everything} == {c.chain for c in checkpoints} == set(CLINICS)
        for chains in (None, ("", CLINICS[0], "(none)"), (CLINICS[1],), ()):
            wanted = [r for r in everything if chains is None or r.chain in chains]
            assert store.audit_records(chains=chains) == wanted
            in_order = sorted(wanted, key=lambda r: (r.chain, r.shard, r.position))
            assert list(store.iter_audit_records(chains=chains)) == in_order
            assert store.audit_checkpoints(chains=chains) == [
                c for c in checkpoints if chains is None or c.chain in chains
            ]
    finally:
        store.close()


def test_the_migration_to_chains_per_clinic_is_not_run_again(tmp_path: Path) -> None:
    """A file already at schema 13 whose version reads lower (as tests fabricate an older version) keeps
    its clinics' chains: running the migration again would move every entry to the shared part."""
    path = tmp_path / "two.sqlite"
    _two_clinics(path)
    conn = sqlite3.connect(path)
    before = conn.execute("SELECT * FROM audit ORDER BY rowid").fetchall()
    conn.execute(f"PRAGMA user_version = {CLINIC_CHAINS_FROM - 1}")
    conn.close()
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone() == (LATEST_VERSION,)
        assert conn.execute("SELECT * FROM audit ORDER BY rowid").fetchall() == before
    finally:
        conn.close()
    for clinic in CLINICS:
        assert _verify(path, clinic).ok
