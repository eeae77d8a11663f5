"""Selecting audit entries for a reader.

The hash chains, checkpoints and their verification moved to :mod:`alliancekit.integrity.chain` and
:mod:`alliancekit.integrity.verify` (audit entries are now chained per shard, and checkpoints seal every
shard's head together with the event chains they reference).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from alliancekit.store.protocol import AuditRecord


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
