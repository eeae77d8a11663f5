"""The builtin memory and SQLite stores pass the store contract every backend passes."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit.errors import StoreError
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import Store
from alliancekit.store.sqlite import SQLiteStore, open_sqlite
from alliancekit.testing import StoreContract


class _FailingDict(dict):  # type: ignore[type-arg]
    """A copy of one of the memory store's tables that fails on the first write."""

    def __setitem__(self, key: Any, value: Any) -> None:
        raise StoreError("injected fault")


class _FailingList(list):  # type: ignore[type-arg]
    def extend(self, values: Any) -> None:
        raise StoreError("injected fault")


class TestMemoryStore(StoreContract):
    def create_store(self) -> Store:
        return MemoryStore()

    def tamper_audit_entry(self, store: Store, clinic_id: str) -> bool:
        assert isinstance(store, MemoryStore)
        at = next(i for i, r in enumerate(store._audit) if r.clinic_id == clinic_id)
        store._audit[at] = attrs.evolve(store._audit[at], actor_id="x")
        return True

    @contextlib.contextmanager
    def fail_writes(self, store: Store, point: str) -> Iterator[None]:
        assert isinstance(store, MemoryStore)
        name = {"after-events": "_snapshots", "before-audit": "_audit"}[point]
        real = getattr(store, name)
        setattr(store, name, _FailingDict(real) if isinstance(real, dict) else _FailingList(real))
        try:
            yield
        finally:
            setattr(store, name, real)


_FAULT_TRIGGERS = {
    # The upsert of the episodes row (snapshot + caseload) comes right after the events.
    "after-events": ("BEFORE INSERT ON episodes", "BEFORE UPDATE ON episodes"),
    # The audit rows are the last thing a commit writes.
    "before-audit": ("BEFORE INSERT ON audit",),
}


class TestSQLiteStore(StoreContract):
    def create_store(self) -> Store:
        return SQLiteStore(self.tmp_path / f"store-{len(list(self.tmp_path.iterdir()))}.sqlite")

    def open_again(self, store: Store) -> Store:
        assert isinstance(store, SQLiteStore)
        return SQLiteStore(store.path)

    def open_read_only(self, store: Store) -> Store:
        assert isinstance(store, SQLiteStore)
        return open_sqlite(f"sqlite:{store.path}", read_only=True)

    def shared_location(self, store: Store) -> str:
        assert isinstance(store, SQLiteStore)
        return f"sqlite:{store.path}"

    def tamper_audit_entry(self, store: Store, clinic_id: str) -> bool:
        assert isinstance(store, SQLiteStore)
        admin = sqlite3.connect(store.path, isolation_level=None)
        try:
            changed = admin.execute(
                "UPDATE audit SET actor_id = 'x'"
                " WHERE rowid = (SELECT min(rowid) FROM audit WHERE clinic_id = ?)",
                (clinic_id,),
            ).rowcount
        finally:
            admin.close()
        return changed == 1

    @contextlib.contextmanager
    def fail_writes(self, store: Store, point: str) -> Iterator[None]:
        """Triggers that make SQLite itself abort the write, so the real transaction must roll back."""
        assert isinstance(store, SQLiteStore)
        admin = sqlite3.connect(store.path, isolation_level=None)
        names = [f"contract_fault_{i}" for i in range(len(_FAULT_TRIGGERS[point]))]
        try:
            for name, when in zip(names, _FAULT_TRIGGERS[point], strict=True):
                admin.execute(
                    f"CREATE TRIGGER {name} {when} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
                )
            yield
        finally:
            for name in names:
                admin.execute(f"DROP TRIGGER IF EXISTS {name}")
            admin.close()


def test_a_create_store_that_reopens_one_database_is_told_so(tmp_path: Path) -> None:
    """A plugin author's create_store on one fixed file: the batch test failed with a ConflictError from deep
    in the store ("expected version 0, found 8"), not with what create_store must do."""

    class OneFile(StoreContract):
        def create_store(self) -> Store:
            return SQLiteStore(self.tmp_path / "db.sqlite")

    contract = OneFile()
    contract.tmp_path, contract._opened = tmp_path, []
    try:
        with pytest.raises(AssertionError, match=r"create_store\(\) returned a store that already holds"):
            contract.test_a_batch_through_the_facade_writes_what_one_by_one_writes(
                contract._track(contract.create_store())
            )
    finally:
        for store in contract._opened:
            store.close()
