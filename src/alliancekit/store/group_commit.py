"""Group commit of audit entries, for the guard (the only producer of entries) on any store.

* :class:`GroupCommit`: callers that arrive while an audit write is under way queue their entries, and the
  first of them writes the whole queue in one transaction (``Store.append_audit``) when that write ends.
  Concurrent reads thus share one durable write, and none returns before its own entry is durable.
* :class:`AuditBatch`: one thread's entries held over a report or an export and written one transaction
  per :data:`AUDIT_BATCH`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from alliancekit.store.protocol import AuditRecord

#: The most audit entries a batch of reads (a report, an export) holds before writing them.
AUDIT_BATCH = 1000


class AuditBatch:
    """The audit entries of one thread's batched reads (see :meth:`alliancekit.Practice.batched_reads`)."""

    def __init__(self, write: Callable[[Sequence[AuditRecord]], None]) -> None:
        self._write = write
        self._entries: list[AuditRecord] = []

    def add(self, entries: Sequence[AuditRecord]) -> None:
        """Hold ``entries``, writing the held ones once a batch's worth has gathered."""
        self._entries += entries
        if len(self._entries) >= AUDIT_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the held entries (one transaction per :data:`AUDIT_BATCH`); return once durable."""
        while self._entries:
            chunk, self._entries = self._entries[:AUDIT_BATCH], self._entries[AUDIT_BATCH:]
            self._write(chunk)

    @property
    def pending(self) -> int:
        """Entries held, not yet written."""
        return len(self._entries)


class _Group:
    __slots__ = ("done", "errors", "parts")

    def __init__(self) -> None:
        self.parts: list[Sequence[AuditRecord]] = []
        self.done = False
        self.errors: dict[int, BaseException] = {}


class GroupCommit:
    """Group commit of audit entries: callers that arrive while a write is under way queue their entries,
    and the first of them writes the whole queue in one transaction when that write ends. Every caller
    returns once its own entries are durable, or raises what writing them raised: when a group's
    transaction fails, each caller's entries are tried again on their own, so one caller's refused entry
    (a store's row-level security, say) fails that caller only."""

    def __init__(self, write: Callable[[Sequence[AuditRecord]], None]) -> None:
        self._write = write
        self._cond = threading.Condition()
        self._open = _Group()
        self._writing = False

    def write(self, entries: Sequence[AuditRecord]) -> None:
        with self._cond:
            group = self._open
            mine = len(group.parts)
            group.parts.append(entries)
            while not group.done:
                if self._writing:
                    self._cond.wait()
                    continue
                # No write under way, so this caller's group is the open one: write it.
                self._writing = True
                self._open = _Group()
                self._cond.release()
                try:
                    self._write_group(group)
                finally:
                    self._cond.acquire()
                    group.done = True
                    self._writing = False
                    self._cond.notify_all()
        error = group.errors.get(mine)
        if error is not None:
            raise error

    def _write_group(self, group: _Group) -> None:
        try:
            self._write([entry for part in group.parts for entry in part])
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the callers, each its own
            if len(group.parts) == 1:
                group.errors[0] = exc
                return
        for i, part in enumerate(group.parts):
            try:
                self._write(part)
            except BaseException as exc:  # noqa: BLE001 - raised again in its own caller
                group.errors[i] = exc

    @property
    def queued(self) -> int:
        """Entries waiting for the next write (for tests)."""
        with self._cond:
            return sum(map(len, self._open.parts))
