"""The hashes that make the clinical record tamper-evident: event chains, audit shard chains, seals.

Three layers, each anchoring the one below it:

* **Event chains.** Every episode's events are hash-chained: each event's ``hash`` is SHA-256 over its
  envelope, its canonical payload and the ``prev_hash`` of the event before it (:data:`GENESIS` for the
  first). The episode's snapshot row keeps the stream *head* (the last event's hash). Ciphertexts are
  masked in the payload hashed, so a key rotation re-encrypting text leaves the hashes alone; text written
  in clear and encrypted later changes what its event hashes to, and the rotation attests the new digest
  in the audit log (:func:`rehashed`) instead of rewriting a hash the chain, the snapshot and the audit
  log name.
* **Audit shard chains.** Each clinic's audit entries are spread over :data:`AUDIT_SHARDS` independent hash
  chains of its own, so writers of one clinic do not queue behind one chain head and no clinic's entries
  are in another's chains. An entry written by a command names the stream head it wrote (``writes``), which
  ties the audit log to the event chains.
* **Seals.** A checkpoint is an HMAC, with a key the host holds, over the Merkle root of a clinic's shard
  heads, chained to that clinic's checkpoint before it. Stores write one inside a single write transaction
  (``Store.seal``), so sealers in other threads or processes queue instead of forking the seal chain.

Hashes are computed by the core (events) and by the stores under their write lock (audit positions), with
the functions here and nothing else, so every backend hashes alike.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from alliancekit.events.identity_cache import IdentityCache
from alliancekit.store.protocol import AuditCheckpoint, AuditRecord, ShardHead, StoredEvent

GENESIS = "0" * 64
"""The ``prev_hash`` of a stream's first event and of a shard's first audit entry."""

AUDIT_SHARDS = 16
"""Independent audit chains per store scope. Commits go to their episode's shard, reads spread out."""

#: The prefix of an encrypted field (kept here to avoid importing the cipher).
_CIPHERTEXT = "ak:enc:v1:"

_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True, check_circular=False)


def time_text(at: datetime) -> str:
    """``at`` as ISO text, as times are hashed and stored.

    A command's time is formatted for its events' hash, its audit entry's hash and the rows of both; the
    text is made once per time object (formatting an aware datetime costs more than hashing its text).
    """
    return _times.get(at, _isoformat)


def _isoformat(at: Any) -> str:
    text: str = at.isoformat()
    return text


#: Room for a whole batch's command times: a batch chains each command's events when it is decided but
#: links the audit entries and writes the rows at its commit, hundreds or thousands of commands later (an
#: import commits 500 clients' commands at once); a smaller cache is emptied before then and every time is
#: formatted again. At most 4,096 times and their texts are kept (well under a megabyte).
_times: IdentityCache[str] = IdentityCache(4096)


def _digest(parts: Iterable[str]) -> str:
    # "<length>:<text>;" per part, so no two different tuples of parts encode alike.
    data = "".join([f"{len(part)}:{part};" for part in parts]).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _mask(node: Any) -> Any:
    if isinstance(node, str):
        return _CIPHERTEXT if node.startswith(_CIPHERTEXT) else node
    if isinstance(node, dict):
        return {k: _mask(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_mask(v) for v in node]
    return node


def canonical_payload(payload_json: str, *, is_canonical: bool = False) -> str:
    """The payload as hashed: sorted keys, compact, encrypted fields reduced to their prefix.

    Ciphertexts are masked because key rotation rewrites them without changing the record; their own
    integrity is AES-GCM's, bound to the event id and field. ``is_canonical`` says the text was written by
    the core's canonical encoder (the write path), which saves a parse when nothing is encrypted.
    """
    if is_canonical and _CIPHERTEXT not in payload_json:
        return payload_json
    return _CANONICAL.encode(_mask(json.loads(payload_json)))


def _event_digest(
    prev_hash: str, episode_id: str, seq: int, event_id: str, event_type: str, schema_version: int,
    occurred: str, recorded: str, actor_id: str, actor_role: str, clinic_id: str, corrects: str | None,
    payload: str,
) -> str:  # fmt: skip
    """The one definition of an event's hash (times as ISO text, the payload canonical)."""
    return _digest(
        (
            prev_hash, episode_id, str(seq), event_id, event_type, str(schema_version), occurred, recorded,
            actor_id, actor_role, clinic_id, corrects or "", payload,
        )
    )  # fmt: skip


def event_hash(event: StoredEvent, prev_hash: str, *, is_canonical: bool = False) -> str:
    """The hash of ``event`` following ``prev_hash`` in its episode's stream."""
    e = event
    return _event_digest(
        prev_hash, e.episode_id, e.seq, e.event_id, e.type, e.schema_version, time_text(e.occurred_at),
        time_text(e.recorded_at), e.actor_id, e.actor_role, e.clinic_id, e.corrects,
        canonical_payload(e.payload_json, is_canonical=is_canonical),
    )  # fmt: skip


#: The audit entry a key rotation writes for an event whose hash its rewrite changed: the rotation's action
#: (:attr:`alliancekit.security.policy.Action.ROTATE_KEYS`) and this record type; its record id is the
#: event's id, its detail the digest :func:`rehashed` gives (see :mod:`alliancekit.integrity.verify`).
REHASH_ACTION = "rotate-keys"
REHASH_RECORD = "event"


def rehashed(event: StoredEvent, payload_json: str) -> str | None:
    """The digest ``event`` hashes to once its payload is rewritten to ``payload_json`` (its stored
    ``prev_hash`` kept), when that differs from its stored hash: for the rotation to attest in the audit
    log. ``None`` when the rewrite leaves its hash as it is (a ciphertext re-encrypted: masked alike), and
    when the event did not match its hash before (changed outside alliancekit: a rewrite must not attest,
    and so hide, that change).

    Text written before encryption was turned on is hashed as it is; once a rotation encrypts it, the
    event hashes to its masked form instead, which only the attestation vouches for.
    """
    before = event_hash(event, event.prev_hash)
    after = event_hash(attrs.evolve(event, payload_json=payload_json), event.prev_hash)
    if after == before or before != event.hash:
        return None
    return after


def chain_events(events: Sequence[StoredEvent], head: str) -> list[StoredEvent]:
    """``events`` with ``prev_hash`` and ``hash`` set, continuing the stream after ``head``."""
    out = []
    for e in events:
        digest = event_hash(e, head)
        out.append(
            StoredEvent(
                e.episode_id, e.seq, e.event_id, e.type, e.schema_version, e.occurred_at, e.recorded_at,
                e.actor_id, e.actor_role, e.clinic_id, e.payload_json, e.corrects, head, digest,
            )
        )  # fmt: skip
        head = digest
    return out


class NewEvent(NamedTuple):
    """An event of a command about to be committed: its id, type, schema version and canonical payload."""

    event_id: str
    type: str
    schema_version: int
    payload_json: str


def new_events(
    episode_id: str,
    clinic_id: str,
    actor_id: str,
    actor_role: str,
    at: datetime,
    corrects: str | None,
    after_seq: int,
    head: str,
    events: Sequence[NewEvent],
) -> list[StoredEvent]:
    """One command's events as stored, hash-chained after ``head``, in one pass (the write path).

    A command's events share one actor, one time (formatted once) and one correction link; their payloads
    come from the canonical encoder.
    """
    iso = time_text(at)
    out = []
    for seq, e in enumerate(events, start=after_seq + 1):
        payload = canonical_payload(e.payload_json, is_canonical=True)
        digest = _event_digest(
            head, episode_id, seq, e.event_id, e.type, e.schema_version, iso, iso, actor_id, actor_role,
            clinic_id, corrects, payload,
        )  # fmt: skip
        out.append(
            StoredEvent(
                episode_id, seq, e.event_id, e.type, e.schema_version, at, at, actor_id, actor_role,
                clinic_id, e.payload_json, corrects, head, digest,
            )
        )  # fmt: skip
        head = digest
    return out


def shard_of(key: str) -> int:
    """The audit shard of ``key`` (an episode id for commits, an entry id for everything else)."""
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % AUDIT_SHARDS


#: The name an entry's recipient is hashed under (:func:`entry_hash`), before its value.
RECIPIENT_PART = "recipient"


def entry_hash(record: AuditRecord, position: int, prev_hash: str) -> str:
    """The hash of the audit entry ``record`` at ``position`` of its shard, after ``prev_hash``.

    The sixteen fields every entry has are hashed in a fixed order. A field added since (``recipient``)
    is hashed only when it is not empty, as two more parts, its name and its value, after them: an entry
    without it (every entry written before it existed, and every entry of a call that names no recipient)
    hashes exactly as before, so older chains still verify; one with it cannot hash like one without (the
    parts are length-prefixed, so a longer tuple never encodes like a shorter one), so a recipient emptied,
    added or changed in a stored row is found. A field added later follows the same rule, after it.
    """
    fixed = (
        str(record.shard),
        str(position),
        prev_hash,
        record.entry_id,
        time_text(record.at),
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
        record.writes,
    )
    if not record.recipient:
        return _digest(fixed)
    return _digest((*fixed, RECIPIENT_PART, record.recipient))


def link(records: Iterable[AuditRecord], last: ShardHead | None) -> list[AuditRecord]:
    """``records`` (all of one shard) with positions and hashes, continuing after ``last``.

    Pure: stores call it under the shard's write lock with the shard's stored head.
    """
    return [
        AuditRecord(
            r.entry_id, r.at, r.actor_id, r.actor_role, r.clinic_id, r.purpose, r.action, r.record_type,
            r.record_id, r.outcome, r.client_ref, r.detail, r.writes, r.shard, position, prev, digest,
            r.recipient,
        )
        for r, position, prev, digest in chained(records, last)
    ]  # fmt: skip


def chained(
    records: Iterable[AuditRecord], last: ShardHead | None
) -> Iterator[tuple[AuditRecord, int, str, str]]:
    """Each of ``records`` (all of one shard) with the position, previous hash and hash :func:`link` gives
    it, continuing after ``last``: for a store that writes the values as a row, without a linked copy of
    each record (an entry per command of a batch; a record of its 18 fields costs more than its hash)."""
    position, prev = (last.position, last.hash) if last is not None else (0, GENESIS)
    for r in records:
        position += 1
        digest = entry_hash(r, position, prev)
        yield r, position, prev, digest
        prev = digest


def merkle_root(heads: Sequence[ShardHead]) -> str:
    """The Merkle root over shard heads (sorted by shard); :data:`GENESIS` when there are none."""
    level = [_digest(("leaf", str(h.shard), str(h.position), h.hash)) for h in sorted(heads)]
    if not level:
        return GENESIS
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [_digest(("node", *pair)) if len(pair) == 2 else pair[0] for pair in pairs]
    return level[0]


def seal_mac(key: bytes, seq: int, root: str, previous_mac: str) -> str:
    """The HMAC-SHA256 over a checkpoint's number and root, chained to the previous checkpoint's MAC."""
    message = f"alliancekit-seal-v2\x1f{seq}\x1f{root}\x1f{previous_mac}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make_checkpoint(
    key: bytes, heads: Sequence[ShardHead], previous: AuditCheckpoint | None, at: datetime
) -> AuditCheckpoint:
    """The checkpoint after ``previous`` sealing ``heads``; stores call it inside ``Store.seal``."""
    seq = previous.seq + 1 if previous is not None else 1
    ordered = tuple(sorted(heads))
    root = merkle_root(ordered)
    mac = seal_mac(key, seq, root, previous.mac if previous is not None else "")
    return AuditCheckpoint(seq=seq, heads=ordered, root=root, mac=mac, at=at)
