"""The hash chain over the audit log, its HMAC checkpoints, and verification.

Each audit entry has a ``position`` (1, 2, 3, ...), the ``prev_hash`` of the entry before it (64 zeros for
the first) and its own ``hash``: SHA-256 over the position, the previous hash and every field of the entry.
Stores call :func:`link` inside their write transaction, with the last entry's position and hash read under
the write lock, so two writers can never fork the chain.

A hash chain alone does not show that entries were cut off the end. A **checkpoint** is an HMAC-SHA256,
with a key the host holds (never stored in the database), over a position and the hash at that position,
chained to the checkpoint before it. The facade writes one every ``checkpoint_every`` audit entries, on
``Practice.close()`` and on ``Practice.audit_checkpoint()``. :func:`verify` then refuses a log whose last
checkpoint points past its end, or whose entries no longer hash to what a checkpoint sealed.

What stays possible for someone who can write the database: cutting the tail *and* the checkpoints that
sealed it, back to an earlier checkpoint. Against that the host keeps the latest checkpoint somewhere the
database's writers cannot reach (``Practice.audit_checkpoint()`` returns it) and passes it to
:func:`verify` as ``expected_head``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import attrs

from alliancekit.store.protocol import AuditCheckpoint, AuditRecord

GENESIS = "0" * 64


def entry_hash(record: AuditRecord, position: int, prev_hash: str) -> str:
    """The hash of ``record`` at ``position`` after ``prev_hash``.

    Every field, in a fixed order, as ``<length in characters>:<text>;`` (so no two different entries
    encode alike), UTF-8 encoded; the time as ``datetime.isoformat()``.
    """
    parts = (
        str(position),
        prev_hash,
        record.entry_id,
        record.at.isoformat(),
        record.actor_id,
        record.actor_role,
        record.clinic_id,
        record.purpose,
        record.action,
        record.record_type,
        record.record_id,
        record.outcome,
        record.client_ref,
        record.detail,
    )
    data = "".join(f"{len(part)}:{part};" for part in parts).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def link(records: Iterable[AuditRecord], last: tuple[int, str] | None) -> list[AuditRecord]:
    """``records`` with positions and hashes, continuing the chain after ``last`` (``(position, hash)``).

    Pure: stores call it under their write lock with the last stored entry.
    """
    position, prev = last if last is not None else (0, GENESIS)
    out = []
    for record in records:
        position += 1
        digest = entry_hash(record, position, prev)
        out.append(attrs.evolve(record, position=position, prev_hash=prev, hash=digest))
        prev = digest
    return out


def checkpoint_mac(key: bytes, position: int, digest: str, previous_mac: str) -> str:
    """The HMAC-SHA256 sealing ``(position, hash)``, chained to the previous checkpoint's MAC."""
    message = f"alliancekit-audit-checkpoint\x1f{position}\x1f{digest}\x1f{previous_mac}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make_checkpoint(
    key: bytes, head: tuple[int, str], previous: AuditCheckpoint | None, at: datetime
) -> AuditCheckpoint:
    """A checkpoint sealing ``head`` (the last entry's position and hash)."""
    previous_mac = previous.mac if previous is not None else ""
    return AuditCheckpoint(
        position=head[0], hash=head[1], mac=checkpoint_mac(key, head[0], head[1], previous_mac), at=at
    )


@attrs.frozen
class Verification:
    """What :func:`verify` found. ``first_bad`` is the 1-based position where the log stops checking out."""

    ok: bool
    entries: int
    checkpoints: int
    first_bad: int | None = None
    problem: str = ""
    checkpoints_checked: bool = False

    def describe(self) -> str:
        if self.ok:
            sealed = (
                f", {self.checkpoints} checkpoint(s) verified"
                if self.checkpoints_checked
                else ", checkpoints not checked (no key)"
            )
            return f"audit log ok: {self.entries} entries{sealed}"
        return f"audit log broken at entry {self.first_bad}: {self.problem}"


def verify(
    records: Sequence[AuditRecord],
    checkpoints: Sequence[AuditCheckpoint] = (),
    key: bytes | None = None,
    *,
    expected_head: AuditCheckpoint | None = None,
) -> Verification:
    """Check the chain in stored order, then the checkpoints (when ``key`` is given).

    A change, deletion, insertion or reordering of an entry is reported at the first position where the
    stored entries differ from a consistent chain; entries cut off the tail are reported at the position
    of the first missing entry.
    """
    prev = GENESIS
    by_position: dict[int, str] = {}
    for index, record in enumerate(records, start=1):
        if record.position != index:
            return _bad(records, checkpoints, index, "entry out of place (deleted, inserted or moved)")
        if record.prev_hash != prev:
            return _bad(records, checkpoints, index, "does not follow the entry before it")
        if entry_hash(record, index, prev) != record.hash:
            return _bad(records, checkpoints, index, "content does not match its hash")
        prev = record.hash
        by_position[index] = record.hash
    count = len(records)
    heads = list(checkpoints)
    if expected_head is not None:
        heads.append(expected_head)
    if key is None:  # the seals cannot be checked, but what they claim about the entries can
        for cp in heads:
            if cp.position > count:
                return _bad(records, checkpoints, count + 1, "entries after this one are missing")
            if by_position.get(cp.position) != cp.hash:
                return _bad(records, checkpoints, cp.position, "entries differ from what a checkpoint sealed")
        return Verification(True, count, len(checkpoints))
    previous_mac = ""
    for cp in checkpoints:
        if not hmac.compare_digest(cp.mac, checkpoint_mac(key, cp.position, cp.hash, previous_mac)):
            return _bad(records, checkpoints, min(cp.position, count + 1), "checkpoint seal is not valid")
        previous_mac = cp.mac
    for cp in heads:
        if cp.position > count:
            return _bad(records, checkpoints, count + 1, "entries after this one are missing")
        if by_position.get(cp.position) != cp.hash:
            return _bad(records, checkpoints, cp.position, "entries differ from what a checkpoint sealed")
    if expected_head is not None and not any(
        cp.mac == expected_head.mac and cp.position == expected_head.position for cp in checkpoints
    ):
        return _bad(records, checkpoints, count + 1, "the expected checkpoint is missing")
    return Verification(True, count, len(checkpoints), checkpoints_checked=True)


def _bad(
    records: Sequence[AuditRecord], checkpoints: Sequence[AuditCheckpoint], position: int, problem: str
) -> Verification:
    return Verification(False, len(records), len(checkpoints), position, problem)


def select(
    records: Iterable[AuditRecord],
    *,
    client_ref: str | None = None,
    actor_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[AuditRecord]:
    """The entries about ``client_ref``, by ``actor_id``, dated from ``since`` to ``until`` inclusive."""
    return [
        r
        for r in records
        if (client_ref is None or r.client_ref == client_ref)
        and (actor_id is None or r.actor_id == actor_id)
        and (since is None or r.at.date() >= since)
        and (until is None or r.at.date() <= until)
    ]
