"""Administration requests as table rows: one column order and one mapping for every store.

The SQLite store and the PostgreSQL plugin keep the same columns and differ only in how an instant is held
(microseconds since the epoch there, ``timestamptz`` here), so each passes its own conversion of an instant
and the rest is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from alliancekit.store.protocol import RequestRecord

#: The columns of ``administration_requests`` in the order every store writes and reads them.
REQUEST_COLUMNS = (
    "clinic_id",
    "request_id",
    "episode_id",
    "measure_id",
    "version",
    "point",
    "session_id",
    "language",
    "token_hash",
    "code_hash",
    "created_at",
    "expires_at",
    "remind_at",
    "revoked_at",
    "used_at",
)
#: The columns that hold an instant (the ones a store converts).
REQUEST_INSTANTS = frozenset({"created_at", "expires_at", "remind_at", "revoked_at", "used_at"})


def _as_read(value: Any) -> datetime:
    return value  # type: ignore[no-any-return]  # the driver already gives a datetime


def request_fields(record: RequestRecord, instant: Callable[[datetime], Any]) -> dict[str, Any]:
    """``record``'s columns in :data:`REQUEST_COLUMNS` order, each instant that is set through ``instant``."""
    fields: dict[str, Any] = {}
    for name in REQUEST_COLUMNS:
        value = getattr(record, name)
        fields[name] = instant(value) if name in REQUEST_INSTANTS and value is not None else value
    return fields


def request_from_row(row: Sequence[Any], instant: Callable[[Any], datetime] = _as_read) -> RequestRecord:
    """The record a row in :data:`REQUEST_COLUMNS` order holds, each stored instant through ``instant``."""
    values = dict(zip(REQUEST_COLUMNS, row, strict=True))
    for name in REQUEST_INSTANTS:
        if values[name] is not None:
            values[name] = instant(values[name])
    return RequestRecord(**values)
