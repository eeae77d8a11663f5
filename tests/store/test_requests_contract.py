"""The builtin stores pass the administration-request contract (the PostgreSQL plugin passes it too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alliancekit.store.memory import MemoryStore
from alliancekit.store.sqlite import SQLiteStore
from alliancekit.testing.requests import RequestStoreContract


class TestMemoryStoreRequests(RequestStoreContract):
    @pytest.fixture
    def request_store(self) -> MemoryStore:
        return MemoryStore()


class TestSQLiteStoreRequests(RequestStoreContract):
    @pytest.fixture
    def request_store(self, tmp_path: Path) -> Iterator[SQLiteStore]:
        store = SQLiteStore(tmp_path / "requests.sqlite")
        yield store
        store.close()

    @pytest.fixture
    def request_store_twin(self, tmp_path: Path, request_store: SQLiteStore) -> Iterator[SQLiteStore]:
        twin = SQLiteStore(tmp_path / "requests.sqlite")  # its own connections, as another process
        yield twin
        twin.close()
