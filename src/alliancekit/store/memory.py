"""The in-memory store: for tests, demos and short-lived hosts. Builtin plugin for the ``memory:`` scheme.

It keeps the same contract as every other store (atomic commits, conflicts, idempotency keys), under one
lock, so that the contract suite and the property tests can compare it with SQLite.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import attrs

from alliancekit.errors import ConflictError, DuplicateCommand
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.security.audit_chain import link
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    Commit,
    OutboxRecord,
    StoredEvent,
)
from alliancekit.store.registry import StoreRegistrar


class MemoryStore:
    """A store that lives in this process's memory and is gone when it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[StoredEvent]] = {}
        self._snapshots: dict[str, tuple[int, str]] = {}
        self._caseload: dict[str, CaseloadRow] = {}
        self._commands: dict[str, tuple[str, int]] = {}
        self.outbox: list[OutboxRecord] = []
        self._audit: list[AuditRecord] = []
        self._checkpoints: list[AuditCheckpoint] = []

    def __repr__(self) -> str:
        return f"MemoryStore(episodes={len(self._events)})"

    def append(self, commit: Commit) -> None:
        with self._lock:
            actual = self._snapshots.get(commit.episode_id, (0, ""))[0]
            if actual != commit.expected_version:
                raise ConflictError(commit.episode_id, commit.expected_version, actual)
            if commit.idempotency_key is not None and commit.idempotency_key in self._commands:
                raise DuplicateCommand(commit.idempotency_key)
            stream = self._events.setdefault(commit.episode_id, [])
            undo = (
                len(stream),
                self._snapshots.get(commit.episode_id),
                self._caseload.get(commit.episode_id),
                len(self.outbox),
                len(self._audit),
            )
            try:
                stream.extend(commit.events)
                self._snapshots[commit.episode_id] = (commit.new_version, commit.snapshot_json)
                self._caseload[commit.episode_id] = commit.caseload
                if commit.idempotency_key is not None:
                    self._commands[commit.idempotency_key] = (commit.episode_id, commit.new_version)
                self.outbox.extend(commit.outbox)
                self._audit.extend(link(commit.audit, self._head()))
            except BaseException:
                self._undo(commit, *undo)
                raise

    def _undo(
        self,
        commit: Commit,
        events: int,
        snapshot: tuple[int, str] | None,
        caseload: CaseloadRow | None,
        outbox: int,
        audit: int,
    ) -> None:
        """Put everything back as it was before a failed append (all or nothing, even in memory)."""
        del self._events[commit.episode_id][events:]
        if not self._events[commit.episode_id]:
            del self._events[commit.episode_id]
        if snapshot is None:
            self._snapshots.pop(commit.episode_id, None)
        else:
            self._snapshots[commit.episode_id] = snapshot
        if caseload is None:
            self._caseload.pop(commit.episode_id, None)
        else:
            self._caseload[commit.episode_id] = caseload
        if commit.idempotency_key is not None:
            self._commands.pop(commit.idempotency_key, None)
        del self.outbox[outbox:]
        del self._audit[audit:]

    def load_snapshot(self, episode_id: str) -> tuple[int, str] | None:
        return self._snapshots.get(episode_id)

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        with self._lock:
            return [e for e in self._events.get(episode_id, ()) if e.seq > after]

    def caseload(
        self, *, clinic_id: str | None = None, clinician_id: str | None = None, open_only: bool = True
    ) -> list[CaseloadRow]:
        with self._lock:
            rows = [
                row
                for _, row in sorted(self._caseload.items())
                if (clinic_id is None or row.clinic_id == clinic_id)
                and (clinician_id is None or row.clinician_id == clinician_id)
                and (not open_only or row.closed_on is None)
            ]
        return rows

    def closed_outcomes(self, *, clinic_id: str | None = None) -> list[ClosedOutcome]:
        with self._lock:
            return [
                ClosedOutcome.of(row)
                for _, row in sorted(self._caseload.items())
                if row.closed_on is not None and (clinic_id is None or row.clinic_id == clinic_id)
            ]

    def episode_ids(self) -> Iterator[str]:
        with self._lock:
            ids = sorted(self._events)
        return iter(ids)

    def find_command(self, idempotency_key: str) -> tuple[str, int] | None:
        return self._commands.get(idempotency_key)

    def _head(self) -> tuple[int, str] | None:
        return (self._audit[-1].position, self._audit[-1].hash) if self._audit else None

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        with self._lock:
            self._audit.extend(link(records, self._head()))

    def audit_head(self) -> tuple[int, str] | None:
        with self._lock:
            return self._head()

    def append_checkpoint(self, checkpoint: AuditCheckpoint) -> None:
        with self._lock:
            self._checkpoints.append(checkpoint)

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        with self._lock:
            return list(self._checkpoints)

    def replace_payloads(self, updates: Sequence[tuple[str, int, str]]) -> None:
        with self._lock:
            for episode_id, seq, payload in updates:
                events = self._events[episode_id]
                index = next(i for i, e in enumerate(events) if e.seq == seq)
                events[index] = attrs.evolve(events[index], payload_json=payload)

    def audit_records(self) -> list[AuditRecord]:
        with self._lock:
            return list(self._audit)

    def close(self) -> None:
        pass


@hookimpl
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    register("memory", lambda location: MemoryStore())
