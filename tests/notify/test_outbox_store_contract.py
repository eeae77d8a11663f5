"""The builtin stores pass the outbox store contract (the one a PostgreSQL or host store must pass too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.outbox import OutboxStoreContract


class TestMemoryStoreOutbox(OutboxStoreContract):
    @pytest.fixture
    def outbox_store(self) -> MemoryStore:
        return MemoryStore()


class TestSQLiteStoreOutbox(OutboxStoreContract):
    @pytest.fixture
    def outbox_store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "outbox.sqlite")
        yield store
        store.close()

    @pytest.fixture
    def outbox_store_twin(self, tmp_path: Path, outbox_store: SQLiteStore) -> Iterator[SQLiteStore]:
        twin = SQLiteStore(tmp_path / "outbox.sqlite")  # another set of connections, as another process
        yield twin
        twin.close()
