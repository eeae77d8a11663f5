"""The in-memory store: for tests, demos and short-lived hosts. Builtin plugin for the ``memory:`` scheme.

It keeps the same contract as every other store (atomic commits, conflicts, idempotency keys), under one
lock, so that the contract suite and the property tests can compare it with SQLite.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import attrs

from alliancekit.errors import ConflictError, DuplicateCommand, InvalidToken, StoreError
from alliancekit.integrity.chain import link
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.store.definitions import absent, in_order
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    CommandRecord,
    Commit,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    RequestRecord,
    RequestWrite,
    ShardHead,
    Snapshot,
    StoredDefinition,
    StoredEvent,
)
from alliancekit.store.registry import StoreRegistrar


class MemoryStore:
    """A store that lives in this process's memory and is gone when it ends.

    ``read_only=True`` only means "no writes": every write method raises :class:`StoreError`.
    """

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self._lock = threading.Lock()
        self._events: dict[str, list[StoredEvent]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._caseload: dict[str, CaseloadRow] = {}
        self._commands: dict[tuple[str, str, str], CommandRecord] = {}
        #: outbox messages in the order written, each replaced in place as its delivery state changes
        self.outbox: list[OutboxRecord] = []
        self._outbox_at: dict[str, int] = {}
        #: when each pending message's wait for its ``next_attempt_at`` began (absent: a fixed time)
        self._waits: dict[str, datetime] = {}
        #: when each message's lease began (read only while it has a lease), as ``_restart_leases`` needs
        self._leases: dict[str, datetime] = {}
        #: audit entries in the order written (every chain and shard), and each clinic's shards' last entry
        self._audit: list[AuditRecord] = []
        self._heads: dict[tuple[str, int], ShardHead] = {}
        self._checkpoints: list[AuditCheckpoint] = []
        self._meta: dict[str, str] = {}
        self._requests: dict[tuple[str, str], RequestRecord] = {}
        self._failures: dict[tuple[str, str, datetime], int] = {}
        self._definitions: dict[tuple[str, str], StoredDefinition] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(episodes={len(self._events)})"

    def _writable(self) -> None:
        if self.read_only:
            raise StoreError("the store was opened read-only: writes are refused")

    def append(self, commit: Commit) -> None:
        self._writable()
        with self._lock:
            self._apply(commit)

    def append_batch(self, commits: Sequence[Commit]) -> None:
        self._writable()
        with self._lock:
            undo: list[Callable[[], None]] = []
            try:
                for commit in commits:
                    undo.append(self._apply(commit))
            except BaseException:
                for step in reversed(undo):
                    step()
                raise

    def _cancel(self, message_ids: Sequence[str]) -> Callable[[], None]:
        """Settle pending ``message_ids`` unsent; returns what puts them back."""
        before: list[tuple[int, OutboxRecord]] = []
        for message_id in message_ids:
            found = self._message(message_id)
            if found is not None and found[1].state is OutboxState.PENDING:
                before.append(found)
                self.outbox[found[0]] = attrs.evolve(
                    found[1],
                    state=OutboxState.DELIVERED,
                    last_error="cancelled",
                    lease_owner=None,
                    lease_expires_at=None,
                )

        def restore() -> None:
            for index, message in before:
                self.outbox[index] = message

        return restore

    def _request_after(self, write: RequestWrite) -> RequestRecord:
        """The request row as ``write`` leaves it; refuses what the SQL stores refuse."""
        found = self._requests.get((write.clinic_id, write.request_id))
        if write.action == "create":
            if found is not None or write.record is None:
                raise StoreError("memory write failed: request exists")
            for other in self._requests.values():
                if other.clinic_id == write.clinic_id and (
                    (other.code_hash is not None and other.code_hash == write.record.code_hash)
                    or (other.token_hash is not None and other.token_hash == write.record.token_hash)
                ):
                    raise StoreError("memory write failed: unique request secret")
            return write.record
        if found is None:
            raise (
                InvalidToken() if write.action == "consume" else StoreError("memory write failed: no request")
            )
        if write.action == "revoke":
            return found if found.used_at or found.revoked_at else attrs.evolve(found, revoked_at=write.at)
        if found.token_hash is None or not found.live(write.at):
            raise InvalidToken()
        return attrs.evolve(found, used_at=write.at)

    # -- administration requests ----------------------------------------------------------------------------

    def request_records(self) -> list[RequestRecord]:
        """Every administration request, by clinic and id (verification only), as SQLite lists them."""
        with self._lock:
            return [self._requests[key] for key in sorted(self._requests)]

    def find_request(self, token_hash: str) -> RequestRecord | None:
        with self._lock:
            return next((r for r in self._requests.values() if r.token_hash == token_hash), None)

    def get_request(self, clinic_id: str, request_id: str) -> RequestRecord | None:
        with self._lock:
            return self._requests.get((clinic_id, request_id))

    def find_code(self, clinic_id: str, code_hash: str, at: datetime) -> RequestRecord | None:
        with self._lock:
            return next(
                (r for r in self._requests.values() if _redeemable(r, clinic_id, code_hash, at)), None
            )

    def redeem_code(
        self, clinic_id: str, code_hash: str, token_hash: str, at: datetime
    ) -> RequestRecord | None:
        self._writable()
        with self._lock:
            for key, r in self._requests.items():
                if _redeemable(r, clinic_id, code_hash, at):
                    self._requests[key] = redeemed = attrs.evolve(r, token_hash=token_hash)
                    return redeemed
            return None

    def count_failure(self, clinic_id: str, source: str, window: datetime) -> int:
        self._writable()
        with self._lock:
            key = (clinic_id, source, window)
            self._failures[key] = count = self._failures.get(key, 0) + 1
            return count

    def failures(self, clinic_id: str, source: str, window: datetime) -> int:
        with self._lock:
            return self._failures.get((clinic_id, source, window), 0)

    def _apply(self, commit: Commit) -> Callable[[], None]:
        """Write one commit (all of it or, raising, none of it); returns what puts it back. Under the lock."""
        found = self._snapshots.get(commit.episode_id)
        actual = 0 if found is None else found.version
        if actual != commit.expected_version:
            raise ConflictError(commit.episode_id, commit.expected_version, actual)
        command = commit.command
        key = None if command is None else (command.clinic_id, command.command, command.key)
        if key is not None and key in self._commands:
            raise DuplicateCommand(key[2])
        write = commit.request
        request = None if write is None else self._request_after(write)
        definitions = self._new_definitions(commit.definitions)
        stream = self._events.setdefault(commit.episode_id, [])
        undo = (
            len(stream),
            found,
            self._caseload.get(commit.episode_id),
            len(self.outbox),
            len(self._audit),
            dict(self._heads),
        )
        try:
            stream.extend(commit.events)
            self._snapshots[commit.episode_id] = Snapshot(
                commit.new_version, commit.snapshot_json, commit.head
            )
            self._caseload[commit.episode_id] = commit.caseload
            if key is not None and command is not None:
                self._commands[key] = command
            for message in commit.outbox:
                self._outbox_at[message.message_id] = len(self.outbox)
                due = message.next_attempt_at or message.created_at
                self.outbox.append(attrs.evolve(message, next_attempt_at=due))
                if due == message.created_at:  # due at once: a wait of nothing, from its creation
                    self._waits[message.message_id] = due
            self._write_audit(commit.audit)
        except BaseException:
            self._undo(commit, key, *undo)
            raise
        forget = self._add_definitions(definitions)
        if write is None or request is None:

            def undo_commit() -> None:
                forget()
                self._undo(commit, key, *undo)

            return undo_commit
        request_key = (request.clinic_id, request.request_id)
        previous = self._requests.get(request_key)
        self._requests[request_key] = request
        uncancel = self._cancel(write.cancel_messages)

        def undo_all() -> None:
            forget()
            uncancel()
            if previous is None:
                self._requests.pop(request_key, None)
            else:
                self._requests[request_key] = previous
            self._undo(commit, key, *undo)

        return undo_all

    def _new_definitions(self, definitions: Sequence[StoredDefinition]) -> list[StoredDefinition]:
        """The absent ones of ``definitions``; a changed one refuses (before anything is written)."""
        if not definitions:
            return []
        return absent({k: d.sha256 for k, d in self._definitions.items()}, definitions)

    def _add_definitions(self, definitions: Sequence[StoredDefinition]) -> Callable[[], None]:
        """Keep ``definitions`` (checked absent); returns what removes them again."""
        keys = [(d.measure_id, d.version) for d in definitions]
        self._definitions.update(zip(keys, definitions, strict=True))

        def forget() -> None:
            for key in keys:
                self._definitions.pop(key, None)

        return forget

    def measure_definitions(self) -> list[StoredDefinition]:
        with self._lock:
            return in_order(self._definitions.values())

    def save_definitions(self, definitions: Sequence[StoredDefinition]) -> None:
        self._writable()
        with self._lock:
            self._add_definitions(self._new_definitions(definitions))

    def _write_audit(self, records: Sequence[AuditRecord]) -> None:
        """Chain ``records`` in their clinic's chains, shard by shard after each shard's head; the caller
        holds the lock."""
        linked: list[AuditRecord] = []
        clinics: dict[str, list[AuditRecord]] = {}
        for record in records:
            clinics.setdefault(record.clinic_id, []).append(record)
        for clinic, of_clinic in sorted(clinics.items()):
            for shard, group in _by_shard(of_clinic):
                linked.extend(
                    attrs.evolve(r, chain=clinic) for r in link(group, self._heads.get((clinic, shard)))
                )
        self._audit.extend(linked)
        for record in linked:
            self._heads[record.chain, record.shard] = ShardHead(
                record.shard, record.position, record.hash, record.chain
            )

    def _undo(
        self,
        commit: Commit,
        key: tuple[str, str, str] | None,
        events: int,
        snapshot: Snapshot | None,
        caseload: CaseloadRow | None,
        outbox: int,
        audit: int,
        heads: dict[tuple[str, int], ShardHead],
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
        if key is not None:
            self._commands.pop(key, None)
        for message in self.outbox[outbox:]:
            self._outbox_at.pop(message.message_id, None)
            self._waits.pop(message.message_id, None)
            self._leases.pop(message.message_id, None)
        del self.outbox[outbox:]
        del self._audit[audit:]
        self._heads = heads

    def load_snapshot(self, episode_id: str) -> Snapshot | None:
        with self._lock:
            return self._snapshots.get(episode_id)

    def load_events(self, episode_id: str, after: int = 0) -> list[StoredEvent]:
        with self._lock:
            return [e for e in self._events.get(episode_id, ()) if e.seq > after]

    def caseload(
        self,
        *,
        clinic_id: str | None = None,
        clinician_id: str | None = None,
        open_only: bool = True,
        closed_under_lockbox: bool = False,
        others_under_lockbox: bool = False,
    ) -> list[CaseloadRow]:
        with self._lock:
            rows = [
                row
                for _, row in sorted(self._caseload.items())
                if (clinic_id is None or row.clinic_id == clinic_id)
                and (
                    clinician_id is None
                    or row.clinician_id == clinician_id
                    or (others_under_lockbox and row.lockbox_json != "{}")
                )
                and (
                    not open_only
                    or row.closed_on is None
                    or (closed_under_lockbox and row.lockbox_json != "{}")
                )
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

    def find_command(self, clinic_id: str, command: str, key: str) -> CommandRecord | None:
        with self._lock:
            return self._commands.get((clinic_id, command, key))

    def command_records(self) -> list[CommandRecord]:
        """Every keyed command's record, by clinic, command and key (verification only), as SQLite lists
        them."""
        with self._lock:
            return [self._commands[key] for key in sorted(self._commands)]

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        self._writable()
        with self._lock:
            self._write_audit_whole(records)

    def _write_audit_whole(self, records: Sequence[AuditRecord]) -> None:
        """:meth:`_write_audit`, or nothing when it fails midway; the caller holds the lock."""
        heads = dict(self._heads)
        size = len(self._audit)
        try:
            self._write_audit(records)
        except BaseException:
            del self._audit[size:]
            self._heads = heads
            raise

    #: The audit log is chained, and sealed, per clinic (as the SQLite store's): ``seal`` takes a clinic, and
    #: the audit reads the chains to read (:func:`alliancekit.store.scan.scan_record`).
    audit_chains_per_clinic = True

    def audit_heads(self) -> list[ShardHead]:
        """The head of every shard of every chain that has entries, by chain then shard."""
        with self._lock:
            return [self._heads[key] for key in sorted(self._heads)]

    def seal(
        self,
        make: Callable[[Sequence[ShardHead], AuditCheckpoint | None], AuditCheckpoint | None],
        *,
        clinic: str | None = None,
    ) -> AuditCheckpoint | None:
        """A checkpoint per chain (``clinic``'s only, when given), as the SQLite store's ``seal``."""
        self._writable()
        with self._lock:
            chains: dict[str, list[ShardHead]] = {} if clinic is None else {clinic: []}
            for (name, _), head in sorted(self._heads.items()):
                if clinic is None or name == clinic:
                    chains.setdefault(name, []).append(head)
            written = None
            for name, heads in (chains or {"": []}).items():
                previous = next((c for c in reversed(self._checkpoints) if c.chain == name), None)
                checkpoint = make(heads, previous)
                if checkpoint is not None:
                    written = attrs.evolve(checkpoint, chain=name)
                    self._checkpoints.append(written)
            return written

    def audit_checkpoints(self, *, chains: Sequence[str] | None = None) -> list[AuditCheckpoint]:
        """Every checkpoint, by chain then ``seq`` (``chains``: of these chains only)."""
        with self._lock:
            found = [c for c in self._checkpoints if chains is None or c.chain in chains]
        return sorted(found, key=lambda c: (c.chain, c.seq))

    def replace_payloads(
        self, updates: Sequence[tuple[str, int, str]], *, audit: Sequence[AuditRecord] = ()
    ) -> None:
        self._writable()
        with self._lock:
            # every event found before anything changes, then the entries (put back if linking fails), then
            # the payloads (which cannot fail): all or nothing, as the other stores' transaction
            found = [
                (events, next(i for i, e in enumerate(events) if e.seq == seq), payload)
                for events, seq, payload in ((self._events[ep], seq, p) for ep, seq, p in updates)
            ]
            self._write_audit_whole(audit)
            for events, index, payload in found:
                events[index] = attrs.evolve(events[index], payload_json=payload)

    def audit_records(
        self, *, chains: Sequence[str] | None = None, clinics: Sequence[str] | None = None
    ) -> list[AuditRecord]:
        """Every audit entry in the order written (``chains``: of these chains only; ``clinics``: of these
        clinics only)."""
        with self._lock:
            return [
                r
                for r in self._audit
                if (chains is None or r.chain in chains) and (clinics is None or r.clinic_id in clinics)
            ]

    # -- outbox delivery (every step under the one lock, so claims are atomic) ------------------------------

    def _message(self, message_id: str) -> tuple[int, OutboxRecord] | None:
        at = self._outbox_at.get(message_id)
        if at is None or at >= len(self.outbox) or self.outbox[at].message_id != message_id:
            return None
        return at, self.outbox[at]

    def claim_outbox(
        self, owner: str, channels: Sequence[str], now: datetime, lease_until: datetime, limit: int
    ) -> list[OutboxRecord]:
        self._writable()
        wanted = set(channels)
        with self._lock:
            self._restart_waits(now)
            self._restart_leases(now)
            due = sorted(
                (
                    (m.next_attempt_at or m.created_at, m.message_id, i)
                    for i, m in enumerate(self.outbox)
                    if m.state is OutboxState.PENDING
                    and m.channel in wanted
                    and (m.next_attempt_at or m.created_at) <= now
                    and (m.lease_expires_at is None or m.lease_expires_at <= now)
                ),
            )[: max(limit, 0)]
            claimed = []
            for _, message_id, i in due:
                self.outbox[i] = attrs.evolve(self.outbox[i], lease_owner=owner, lease_expires_at=lease_until)
                self._leases[message_id] = now
                claimed.append(self.outbox[i])
            return claimed

    def _restart_waits(self, now: datetime) -> None:
        """Waits that began after ``now`` (the clock went back) begin again at ``now``, as long as before."""
        for message_id, began in list(self._waits.items()):
            i = self._outbox_at[message_id]
            m = self.outbox[i]
            if m.state is not OutboxState.PENDING or m.next_attempt_at is None:
                del self._waits[message_id]  # settled: it waits for nothing any more
            elif began > now:
                self.outbox[i] = attrs.evolve(m, next_attempt_at=now + (m.next_attempt_at - began))
                self._waits[message_id] = now

    def _restart_leases(self, now: datetime) -> None:
        """Leases that began after ``now`` (the clock went back) begin again at ``now``, as long as before."""
        for message_id, began in list(self._leases.items()):
            i = self._outbox_at[message_id]
            m = self.outbox[i]
            if m.state is not OutboxState.PENDING or m.lease_expires_at is None:
                del self._leases[message_id]  # settled or released: no lease to begin again
            elif began > now:
                self.outbox[i] = attrs.evolve(m, lease_expires_at=now + (m.lease_expires_at - began))
                self._leases[message_id] = now

    def outbox_delivered(self, owner: str, message_ids: Sequence[str], at: datetime) -> int:
        self._writable()
        done = 0
        with self._lock:
            for message_id in message_ids:
                found = self._message(message_id)
                if found is None or found[1].state is not OutboxState.PENDING:
                    continue
                i, m = found
                self.outbox[i] = attrs.evolve(
                    m,
                    state=OutboxState.DELIVERED,
                    attempts=m.attempts + 1,
                    lease_owner=None,
                    lease_expires_at=None,
                    last_error=None,
                )
                done += 1
        return done

    def _fail(self, owner: str, message_id: str, wait_from: datetime | None = None, **changes: Any) -> bool:
        self._writable()
        with self._lock:
            found = self._message(message_id)
            if found is None:
                return False
            i, m = found
            if m.state is not OutboxState.PENDING or m.lease_owner != owner:
                return False
            self.outbox[i] = attrs.evolve(
                m, attempts=m.attempts + 1, lease_owner=None, lease_expires_at=None, **changes
            )
            if wait_from is None:
                self._waits.pop(message_id, None)
            else:
                self._waits[message_id] = wait_from
            return True

    def outbox_failed(
        self, owner: str, message_id: str, *, error: str, next_attempt_at: datetime, at: datetime
    ) -> bool:
        return self._fail(owner, message_id, at, last_error=error, next_attempt_at=next_attempt_at)

    def outbox_dead(self, owner: str, message_id: str, *, error: str, at: datetime) -> bool:
        return self._fail(owner, message_id, last_error=error, state=OutboxState.DEAD)

    def outbox_requeue(self, message_id: str, now: datetime) -> bool:
        self._writable()
        with self._lock:
            found = self._message(message_id)
            if found is None or found[1].state is not OutboxState.DEAD:
                return False
            i, m = found
            self.outbox[i] = attrs.evolve(
                m, state=OutboxState.PENDING, attempts=0, next_attempt_at=now, last_error=None
            )
            self._waits[message_id] = now
            return True

    def outbox_status(self) -> OutboxStatus:
        with self._lock:
            pending = [m for m in self.outbox if m.state is OutboxState.PENDING]
            delivered = sum(1 for m in self.outbox if m.state is OutboxState.DELIVERED)
            return OutboxStatus(
                pending=len(pending),
                delivered=delivered,
                dead=len(self.outbox) - len(pending) - delivered,
                oldest_pending_at=min((m.created_at for m in pending), default=None),
                next_due_at=min((m.next_attempt_at or m.created_at for m in pending), default=None),
            )

    def outbox_records(
        self, state: OutboxState | None = None, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        with self._lock:
            start = 0 if after is None else self._outbox_at.get(after, len(self.outbox)) + 1
            wanted = (m for m in self.outbox[start:] if state is None or m.state is OutboxState(state))
            return list(itertools.islice(wanted, max(limit, 0)))

    def load_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)

    def save_meta(self, key: str, value_json: str) -> None:
        self._writable()
        with self._lock:
            self._meta[key] = value_json

    def close(self) -> None:
        pass


def _by_shard(records: Sequence[AuditRecord]) -> list[tuple[int, list[AuditRecord]]]:
    """``records`` grouped by shard (shards in order, each group in the order given)."""
    groups: dict[int, list[AuditRecord]] = {}
    for record in records:
        groups.setdefault(record.shard, []).append(record)
    return sorted(groups.items())


def open_memory(location: str, *, read_only: bool = False) -> MemoryStore:
    return MemoryStore(read_only=read_only)


@hookimpl
def alliancekit_register_stores(register: StoreRegistrar) -> None:
    register("memory", open_memory)


def _redeemable(r: RequestRecord, clinic_id: str, code_hash: str, at: datetime) -> bool:
    """Whether ``r`` is the live, unredeemed kiosk code ``code_hash`` of ``clinic_id`` at ``at``."""
    return r.clinic_id == clinic_id and r.code_hash == code_hash and r.token_hash is None and r.live(at)
