"""What schema migration 2 does to a version-1 episode, for every backend alike.

Version-1 snapshots predate the lockbox directives in the episode's state (snapshot shape 2 of
:mod:`alliancekit.events.codec`). The migration reads the directives from the episode's lockbox events
(ids and codes only: nothing there is ever encrypted), adds them to the snapshot and marks it shape 2, and
returns them as the projection keeps them, so the snapshot is again what its events fold into.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from alliancekit.events.converter import encode_json, encode_payload
from alliancekit.integrity.chain import shard_of
from alliancekit.store.definitions import BACKFILL_ACTION, BACKFILL_KEY
from alliancekit.store.protocol import AuditRecord, StoredEvent

#: The snapshot shape migration 2 writes (``alliancekit.events.codec.SNAPSHOT_VERSION`` when it was made;
#: a migration is history, so the number is written out).
SNAPSHOT_SHAPE_2 = 2


def snapshot_v2(state_json: str, events: Iterable[StoredEvent]) -> tuple[str, str]:
    """``(snapshot JSON of shape 2, lockbox JSON of the projection)`` for a version-1 snapshot."""
    directives: dict[str, Any] = {}
    for event in events:
        if event.type == "lockbox-set":
            d = json.loads(event.payload_json)
            directives[d["directive_id"]] = {
                "scope": d["scope"],
                "classes": list(d.get("classes", ())),
                "recipients": list(d.get("recipients", ())),
            }
        elif event.type == "lockbox-lifted":
            directives.pop(json.loads(event.payload_json)["directive_id"], None)
    state = json.loads(state_json)
    state["lockbox"] = directives
    state["_v"] = SNAPSHOT_SHAPE_2
    return encode_json(state), (encode_payload(directives) if directives else "{}")


def _migration_entry(
    migration: int,
    subject: str,
    clinic_id: str,
    at: datetime,
    action: str,
    record_type: str,
    *,
    client_ref: str = "",
    writes: str = "",
) -> AuditRecord:
    """An audit entry a migration writes as the system, about ``subject`` (sharded by it)."""
    return AuditRecord(
        entry_id=f"migration-{migration}-{subject}",
        at=at,
        actor_id="alliancekit",
        actor_role="system",
        clinic_id=clinic_id,
        purpose="operations",
        action=action,
        record_type=record_type,
        record_id=subject,
        outcome="allowed",
        client_ref=client_ref,
        writes=writes,
        shard=shard_of(subject),
    )


def backfill_mark_entry(clinic_id: str, at: datetime, migration: int) -> AuditRecord:
    """The audit entry by which a migration records the mark :data:`BACKFILL_KEY` it found (the store held
    administrations before it kept their measure definitions): in the hash chain, so that verification can
    tell it from a mark written into the metadata by hand. ``clinic_id``: the clinic the mark is for
    (``"(none)"``, every clinic's, for a store-wide one). Names no client."""
    return _migration_entry(migration, BACKFILL_KEY, clinic_id, at, BACKFILL_ACTION, "practice-meta")


def adoption_entry(
    episode_id: str, clinic_id: str, client_ref: str, version: int, head: str, at: datetime
) -> AuditRecord:
    """The audit entry by which migration 2 adopts an episode's stream head: every head is then named by
    an entry, as verification requires. Tamper evidence starts here."""
    return _migration_entry(
        2,
        episode_id,
        clinic_id,
        at,
        "migrate-schema",
        "episode",
        client_ref=client_ref,
        writes=f"{version}:{head}",
    )
