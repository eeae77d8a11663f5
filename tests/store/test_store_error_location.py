"""A store's refusal to open carries where the store is (``StoreError.location``), set where the store opens:
what a caller (the CLI's ``--db``) names the store by, instead of reading it back out of the message.

Before, the error carried no location, and the CLI found the path in the message with a pattern.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from alliancekit import open_practice
from alliancekit.errors import NotAnAlliancekitStore, StoreError, StoreTooNew
from alliancekit.store.sqlite import SQLiteStore


def test_a_missing_file_opened_read_only_names_its_path(tmp_path: Path) -> None:
    db = tmp_path / "missing.sqlite"
    with pytest.raises(NotAnAlliancekitStore) as caught:
        SQLiteStore(db, read_only=True)
    assert caught.value.location == str(db)
    assert not db.exists()


def test_a_file_in_a_missing_directory_names_its_path(tmp_path: Path) -> None:
    db = tmp_path / "no-such-dir" / "x.sqlite"
    with pytest.raises(StoreError) as caught:
        open_practice(f"sqlite://{db}")  # a file URL: the error names the file, not the URL
    assert caught.value.location == str(db)
    assert str(caught.value) == f"cannot open {db}: no such directory: {db.parent}"


def test_a_file_from_a_newer_release_names_its_path(tmp_path: Path) -> None:
    db = tmp_path / "newer.sqlite"
    SQLiteStore(db).close()
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA user_version = 9999")
    for read_only in (True, False):
        with pytest.raises(StoreTooNew) as caught:
            SQLiteStore(db, read_only=read_only)
        assert caught.value.location == str(db)


def test_the_location_survives_pickling(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        SQLiteStore(tmp_path / "missing.sqlite", read_only=True)
    assert pickle.loads(pickle.dumps(caught.value)).location == str(tmp_path / "missing.sqlite")  # noqa: S301


def test_an_error_not_about_opening_carries_none() -> None:
    assert StoreError("the store is closed").location is None


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/p?clinic=a", "postgresql://app@db:5432/p?clinic=a"),
        ("postgresql://app@db/p?password=s3cret&clinic=a", "postgresql://app@db/p?clinic=a"),
        ("postgresql://db/p?sslpassword=s3cret&sslkey=/k&clinic=a", "postgresql://db/p?clinic=a"),
        ("postgresql:///p?host=/run/pg&PASSWORD=s3cret", "postgresql:///p?host=/run/pg"),
        ("/srv/clinic.sqlite", "/srv/clinic.sqlite"),
    ],
)
def test_a_location_is_shown_without_its_secrets(location: str, shown: str) -> None:
    from alliancekit.practice import shown_location

    assert shown_location(location) == shown
