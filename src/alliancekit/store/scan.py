"""Reading a whole store for verification: the one place :mod:`alliancekit.integrity.verify` gets its input.

A backend that offers ``read_transaction()`` (a context manager; the SQLite store does) is read inside
one read transaction, so a writer committing meanwhile cannot make the parts disagree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from alliancekit.integrity.verify import EpisodeRecord
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord, Store


def scan_record(store: Store) -> tuple[Iterator[EpisodeRecord], list[AuditRecord], list[AuditCheckpoint]]:
    """The store's episodes (lazily, in id order), its audit entries and its checkpoints.

    Consume the iterator in the calling thread; it ends the read transaction when exhausted or closed.
    """
    stack = contextlib.ExitStack()
    hold = getattr(store, "read_transaction", None)
    try:
        if hold is not None:
            stack.enter_context(hold())
        audit = store.audit_records()
        checkpoints = store.audit_checkpoints()
        rows = {row.episode_id: row for row in store.caseload(open_only=False)}
        ids = list(store.episode_ids())
    except BaseException:
        stack.close()
        raise

    def episodes() -> Iterator[EpisodeRecord]:
        with stack:
            for episode_id in ids:
                yield EpisodeRecord(
                    episode_id,
                    store.load_snapshot(episode_id),
                    rows.pop(episode_id, None),
                    store.load_events(episode_id),
                )
            # Caseload rows of episodes the store does not list: projections without a record.
            for episode_id, row in sorted(rows.items()):
                yield EpisodeRecord(episode_id, None, row, ())

    return episodes(), audit, checkpoints
