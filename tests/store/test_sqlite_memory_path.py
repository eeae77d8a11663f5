"""SQLite's ``:memory:`` is not a file: each thread's connection would open a database of its own (and the
writers' lock would be a stray ``:memory:-writer`` file), so the SQLite store refuses it and names
``memory:``, the store that does live in memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.errors import ValidationError
from alliancekit.store.sqlite import SQLiteStore


@pytest.mark.parametrize("location", [":memory:", Path(":memory:"), "sqlite::memory:"])
def test_sqlite_memory_is_refused_and_leaves_no_file(
    location: str | Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError) as refused:
        open_practice(location)
    assert (refused.value.field, refused.value.rule) == ("location", "path")
    assert "memory:" in str(refused.value.detail)
    assert list(tmp_path.iterdir()) == []


def test_a_file_next_to_it_in_name_is_a_file(tmp_path: Path) -> None:
    with open_practice(SQLiteStore(tmp_path / ":memory:")) as practice:  # absolute: a real file
        assert practice.clinics() == []
    assert (tmp_path / ":memory:").is_file()
