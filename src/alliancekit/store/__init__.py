"""Storage: the protocol every backend satisfies, and the builtin memory and SQLite backends."""

from alliancekit.store.protocol import (
    AuditRecord,
    CaseloadRow,
    Commit,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    Store,
    StoredEvent,
)

__all__ = [
    "AuditRecord",
    "CaseloadRow",
    "Commit",
    "OutboxRecord",
    "OutboxState",
    "OutboxStatus",
    "Store",
    "StoredEvent",
]
