"""Audited reads, group-committed: a batch of reads writes one audit transaction per 1,000 entries and
returns only once every entry is durable; concurrent reads share one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor
from alliancekit.errors import AccessDenied, StoreError
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.practice import Practice
from alliancekit.store.group_commit import AUDIT_BATCH
from alliancekit.store.protocol import AuditRecord
from alliancekit.store.sqlite import SQLiteStore

from .conftest import clinician, consultation, new_episode


class CountingStore(SQLiteStore):
    """The SQLite store, keeping each audit transaction's entries (and optionally pausing in the first)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.transactions: list[list[str]] = []
        self.hold_first = threading.Event()
        self.hold_first.set()
        self.in_first = threading.Event()
        self.fail = False
        self.refuse_record: str | None = None

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        if not self.transactions:
            self.in_first.set()
            self.hold_first.wait(timeout=60)
        if self.fail or any(r.record_id == self.refuse_record for r in records):
            raise StoreError("the disk is full")
        super().append_audit(records)
        self.transactions.append([r.entry_id for r in records])


@pytest.fixture
def counted(tmp_path: Path) -> Iterator[tuple[Practice, CountingStore, Actor, str]]:
    store = CountingStore(tmp_path / "p.sqlite")
    practice = open_practice(store)
    actor = clinician()
    ep = new_episode(practice, actor)
    store.transactions.clear()
    yield practice, store, actor, ep
    practice.close()
    store.close()


def _read_entries(path: Path) -> list[AuditRecord]:
    other = SQLiteStore(path, read_only=True)
    try:
        return [r for r in other.audit_records() if r.action == "read-episode"]
    finally:
        other.close()


@pytest.mark.parametrize(("reads", "transactions"), [(AUDIT_BATCH, 1), (AUDIT_BATCH + 1, 2), (1, 1)])
def test_a_batch_writes_one_transaction_per_1000_entries(
    counted: tuple[Practice, CountingStore, Actor, str], reads: int, transactions: int
) -> None:
    practice, store, actor, ep = counted
    with practice.batched_reads() as batch:
        for _ in range(reads):
            practice.episode(actor, ep)
        assert batch.pending == reads % AUDIT_BATCH  # a full thousand is written at once
    assert len(store.transactions) == transactions
    assert sum(map(len, store.transactions)) == reads
    assert len(_read_entries(store.path)) == reads  # durable, seen by another connection


def test_reads_outside_a_batch_are_durable_before_they_return(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    practice, store, actor, ep = counted
    practice.episode(actor, ep)
    practice.episode(actor, ep)
    assert len(store.transactions) == 2
    assert len(_read_entries(store.path)) == 2


def test_a_batch_that_raises_still_writes_its_entries(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    practice, store, actor, ep = counted
    stranger = Actor("someone-else", actor.role, actor.clinic_id)

    def report() -> None:
        with practice.batched_reads():
            practice.episode(actor, ep)
            practice.episode(stranger, ep)  # refused: its refusal is audited too

    with pytest.raises(AccessDenied):
        report()
    outcomes = sorted(r.outcome for r in practice.store.audit_records() if r.record_id == ep and not r.writes)
    assert outcomes == ["allowed", "refused"]
    assert len(store.transactions) == 1


def test_a_failed_batch_write_fails_the_block(counted: tuple[Practice, CountingStore, Actor, str]) -> None:
    practice, store, actor, ep = counted
    store.fail = True
    with pytest.raises(StoreError), practice.batched_reads():
        practice.episode(actor, ep)


def test_nested_batches_write_once_at_the_outer_end(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    practice, store, actor, ep = counted
    with practice.batched_reads():
        with practice.batched_reads():
            practice.episode(actor, ep)
        assert store.transactions == []
        practice.episode(actor, ep)
    assert [len(t) for t in store.transactions] == [2]


def test_concurrent_reads_share_one_durable_write(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    """While one read's entry is being written, the reads that arrive queue and are written together,
    and none of them returns before its own entry is durable."""
    practice, store, actor, ep = counted
    store.hold_first.clear()
    returned: list[str] = []
    first = threading.Thread(target=lambda: (practice.episode(actor, ep), returned.append("first")))
    first.start()
    assert store.in_first.wait(timeout=60)
    group = practice._open().guard._group
    others = [
        threading.Thread(target=lambda: (practice.episode(actor, ep), returned.append("other")))
        for _ in range(3)
    ]
    for t in others:
        t.start()
    while group.queued < 3:
        threading.Event().wait(0.005)
    assert returned == []  # the first is still writing, the others wait for the next write
    store.hold_first.set()
    for t in [first, *others]:
        t.join(timeout=60)
    assert sorted(returned) == ["first", "other", "other", "other"]
    assert [len(t) for t in store.transactions] == [1, 3]
    assert len(_read_entries(store.path)) == 4


def test_a_failed_group_write_fails_every_reader_of_the_group(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    practice, store, actor, ep = counted
    store.hold_first.clear()
    errors: list[str] = []

    def read() -> None:
        try:
            practice.episode(actor, ep)
        except StoreError:
            errors.append("failed")

    first = threading.Thread(target=read)
    first.start()
    assert store.in_first.wait(timeout=60)
    store.fail = True
    others = [threading.Thread(target=read) for _ in range(2)]
    for t in others:
        t.start()
    group = practice._open().guard._group
    while group.queued < 2:
        threading.Event().wait(0.005)
    store.hold_first.set()
    for t in [first, *others]:
        t.join(timeout=60)
    assert errors == ["failed"] * 3
    assert _read_entries(store.path) == []


def test_an_entry_refused_in_a_group_fails_its_own_reader_only(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    """A group's transaction that fails is tried again reader by reader: the others' reads succeed."""
    practice, store, actor, ep = counted
    other = new_episode(practice, actor, client="client-2")
    store.transactions.clear()
    store.hold_first.clear()
    outcomes: dict[str, str] = {}

    def read(name: str, episode_id: str) -> None:
        try:
            practice.episode(actor, episode_id)
            outcomes[name] = "ok"
        except StoreError:
            outcomes[name] = "failed"

    first = threading.Thread(target=read, args=("first", ep))
    first.start()
    assert store.in_first.wait(timeout=60)
    store.refuse_record = other
    group = practice._open().guard._group
    good = threading.Thread(target=read, args=("good", ep))
    good.start()
    while group.queued < 1:
        threading.Event().wait(0.005)
    refused = threading.Thread(target=read, args=("refused", other))
    refused.start()
    while group.queued < 2:
        threading.Event().wait(0.005)
    store.hold_first.set()
    for t in (first, good, refused):
        t.join(timeout=60)
    assert outcomes == {"first": "ok", "good": "ok", "refused": "failed"}
    assert [len(t) for t in store.transactions] == [1, 1]
    assert len(_read_entries(store.path)) == 2


def test_an_entry_under_the_writers_lock_does_not_wait_for_a_group_that_waits_for_that_lock(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    """A retry after a lost race runs under the store's writers' lock (``Guard.exclusive``). An entry it
    writes meanwhile (a read, a refusal) must not queue behind a group whose writer, in another thread,
    waits for that lock: each would wait for the other for ever. It is written on its own instead."""
    practice, store, actor, ep = counted
    guard = practice._open().guard
    outcome: list[str] = []

    def under_the_lock() -> None:
        with guard.exclusive():
            reader = threading.Thread(target=practice.episode, args=(actor, ep), daemon=True)
            reader.start()  # leads a group, whose write waits for the writers' lock this thread holds
            assert store.in_first.wait(timeout=60)
            practice.episode(actor, ep)  # audited under the lock
            outcome.append("read under the lock")
        reader.join()
        outcome.append("group written")

    holder = threading.Thread(target=under_the_lock, daemon=True)  # a deadlock must fail, not hang
    holder.start()
    holder.join(timeout=120)
    assert outcome == ["read under the lock", "group written"]
    assert len(_read_entries(store.path)) == 2


def test_a_replay_is_written_as_a_read_is_in_the_group_commit(
    counted: tuple[Practice, CountingStore, Actor, str],
) -> None:
    """A keyed command answered again writes its ``replayed`` entry as a read writes its entry: queued with
    concurrent reads and durable before it returns. The first command's entry is in its own commit."""
    practice, store, actor, ep = counted
    first_time = practice.record_consultation(actor, ep, consultation(), idempotency_key="k-1")
    assert store.transactions == []  # the first command's entry went with its commit
    store.hold_first.clear()
    returned: list[Any] = []
    leader = threading.Thread(target=lambda: returned.append(practice.episode(actor, ep)))
    leader.start()
    assert store.in_first.wait(timeout=60)

    def repeat() -> None:
        returned.append(practice.record_consultation(actor, ep, consultation(), idempotency_key="k-1"))

    repeats = [threading.Thread(target=repeat) for _ in range(2)]
    for t in repeats:
        t.start()
    group = practice._open().guard._group
    while group.queued < 2 and any(t.is_alive() for t in repeats):
        threading.Event().wait(0.005)
    try:
        assert returned == []  # neither repeat returns before its entry is written
    finally:
        store.hold_first.set()
    for t in [leader, *repeats]:
        t.join(timeout=60)
    assert [r for r in returned if not isinstance(r, EpisodeState)] == [
        attrs.evolve(first_time, duplicate=True)
    ] * 2
    assert [len(t) for t in store.transactions] == [1, 2]
    other = SQLiteStore(store.path, read_only=True)
    try:
        replays = [r for r in other.audit_records() if r.outcome == "replayed"]
    finally:
        other.close()
    assert [(r.action, r.record_id, r.writes) for r in replays] == [("record-consultation", ep, "")] * 2


@pytest.mark.parametrize("attempt", range(5))
def test_two_writers_of_one_keyed_command_write_it_once_and_audit_the_other_as_replayed(
    tmp_path: Path, attempt: int
) -> None:
    """Two practices on one file make the same keyed command at the same moment: one commits it, the other
    (finding the key, or losing the race and finding it on the retry) is answered with its result."""
    path = tmp_path / f"p-{attempt}.sqlite"
    actor = clinician()
    with open_practice(path) as setup:
        ep = new_episode(setup, actor)
    practices = [open_practice(path), open_practice(path)]
    start = threading.Barrier(2)
    results: list[Any] = []

    def write(practice: Practice) -> None:
        start.wait(timeout=60)
        results.append(practice.record_consultation(actor, ep, consultation(), idempotency_key="k-1"))

    threads = [threading.Thread(target=write, args=(p,)) for p in practices]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for practice in practices:
        practice.close()
    assert sorted(r.duplicate for r in results) == [False, True]
    store = SQLiteStore(path, read_only=True)
    try:
        assert [e.type for e in store.load_events(ep)] == ["episode-opened", "consultation-recorded"]
        entries = [r for r in store.audit_records() if r.action == "record-consultation"]
    finally:
        store.close()
    assert sorted((r.outcome, bool(r.writes)) for r in entries) == [("allowed", True), ("replayed", False)]
