"""The one reader of a store: everything outside the backends reads through here, decoded.

The facade's guard and views hold a :class:`RecordReader`; exports, reports and the CLI hold the facade.
A meta-test fails when any other module calls a store's read methods, so a new capability cannot read
around the access policy, the lockbox or the audit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from datetime import datetime

from alliancekit.domain.checks import NO_CLINIC
from alliancekit.errors import NotFoundError, StoreError, UnreadableRecord, ValidationError
from alliancekit.events.codec import Codec
from alliancekit.events.types import EpisodeOpened, Event
from alliancekit.lifecycle.state import EpisodeState, fold, start
from alliancekit.security.views import TimelineEntry
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    ClosedOutcome,
    CommandRecord,
    DefinitionStore,
    OutboxRecord,
    OutboxState,
    OutboxStatus,
    RequestRecord,
    RequestStore,
    Store,
    StoredDefinition,
    StoredEvent,
)

#: Decoded episode states kept per reader.
_CACHE_SIZE = 4096


class RecordReader:
    """Decoded reads of one store, with a bounded cache of episode states by stream version."""

    def __init__(self, store: Store, codec: Codec) -> None:
        self.store = store
        self.codec = codec
        # (state, head) by episode, trusted only at the exact version they were built for: the store's
        # version check means one version is one sequence of events, whoever wrote them.
        self._states: dict[str, tuple[EpisodeState, str]] = {}

    # -- episodes -------------------------------------------------------------------------------------

    def cached(self, episode_id: str) -> tuple[EpisodeState, str] | None:
        """The state and head this reader last saw for the episode, without reading (may be stale)."""
        return self._states.get(episode_id)

    def state(self, episode_id: str) -> tuple[EpisodeState, str]:
        """The episode's current state and stream head.

        :raises NotFoundError: no such episode.
        """
        found = self.store.load_snapshot(episode_id)
        if found is None:
            raise NotFoundError("episode", episode_id)
        cached = self._states.get(episode_id)
        if cached is not None and cached[0].version == found.version and cached[1] == found.head:
            return cached
        try:
            state = self.codec.decode_state(found.state_json)
        except ValidationError:  # the snapshot's words (a participant's reference) stay out of the error
            raise UnreadableRecord(episode_id, None, "shape") from None
        except ValueError:
            raise UnreadableRecord(episode_id, None, "json") from None
        if state is None:  # an older snapshot shape: fold the stream
            state = self.fold(self.store.load_events(episode_id))
        self.remember(state, found.head)
        return state, found.head

    def remember(self, state: EpisodeState, head: str) -> None:
        if len(self._states) >= _CACHE_SIZE:
            self._states.clear()  # crude but bounded; a busy host re-decodes a few snapshots
        self._states[state.episode_id] = (state, head)

    def fold(
        self, stored: list[StoredEvent], decode: Callable[[StoredEvent], Event] | None = None
    ) -> EpisodeState:
        """The state folded from stored events (the first must open the episode), each decoded by
        ``decode`` (the codec's when not given)."""
        if not stored:
            raise NotFoundError("episode", "(empty stream)")
        if decode is None:
            decode = self.codec.decode
        first = stored[0]
        opened = decode(first)
        if not isinstance(opened, EpisodeOpened):
            raise NotFoundError("episode-opened", first.episode_id)
        return fold(start(first.episode_id, first.clinic_id, opened), (decode(e) for e in stored[1:]))

    def written_by(self, episode_id: str, version: int) -> tuple[str, str] | None:
        """The actor (id and role) of the command that brought the stream to ``version``: who wrote the
        event at it; ``None`` when there is none."""
        for stored in self.store.load_events(episode_id, version - 1):
            return (stored.actor_id, stored.actor_role) if stored.seq == version else None
        return None

    def rebuilt(self, episode_id: str) -> EpisodeState:
        """The state folded from the stored events, ignoring the snapshot."""
        stored = self.store.load_events(episode_id)
        if not stored:
            raise NotFoundError("episode", episode_id)
        return self.fold(stored)

    def entries(
        self, episode_id: str, types: Collection[str] | None = None, *, after: int = 0
    ) -> list[TimelineEntry]:
        """The episode's events in order (those after version ``after``), decoded (only those of ``types``
        when given)."""
        return [
            self.entry(stored)
            for stored in self.store.load_events(episode_id, after)
            if types is None or stored.type in types
        ]

    def entry(self, stored: StoredEvent) -> TimelineEntry:
        return TimelineEntry(
            seq=stored.seq,
            event_id=stored.event_id,
            type=stored.type,
            occurred_at=stored.occurred_at,
            recorded_at=stored.recorded_at,
            actor_id=stored.actor_id,
            actor_role=stored.actor_role,
            corrects=stored.corrects,
            event=self.codec.decode(stored),
        )

    def stored_events(self, episode_id: str) -> list[StoredEvent]:
        """The raw stored events (key rotation and verification only)."""
        return self.store.load_events(episode_id)

    def episode_ids(self) -> Iterator[str]:
        return self.store.episode_ids()

    # -- projections ----------------------------------------------------------------------------------

    def caseload(
        self,
        *,
        clinic_id: str | None = None,
        clinician_id: str | None = None,
        open_only: bool = True,
        closed_under_lockbox: bool = False,
        others_under_lockbox: bool = False,
    ) -> list[CaseloadRow]:
        return self.store.caseload(
            clinic_id=clinic_id,
            clinician_id=clinician_id,
            open_only=open_only,
            closed_under_lockbox=closed_under_lockbox,
            others_under_lockbox=others_under_lockbox,
        )

    def clinics(self) -> list[str]:
        listed = getattr(self.store, "episode_clinics", None)  # without decoding rows, where it can
        if callable(listed):
            return sorted(set(listed()))
        return sorted({row.clinic_id for row in self.store.caseload(open_only=False)})

    def clinics_held(self) -> list[str]:
        """Every clinic with any record in the store (an episode, a command, an audit entry): whose records
        a copy of the whole store holds. A store that cannot tell answers its episodes' clinics."""
        held = getattr(self.store, "clinics_held", None)
        return sorted(held()) if callable(held) else self.clinics()

    def closed_outcomes(self, clinic_id: str | None) -> list[ClosedOutcome]:
        fast = getattr(self.store, "closed_outcomes", None)
        if fast is not None:
            rows: list[ClosedOutcome] = fast(clinic_id=clinic_id)
            return rows
        return [
            ClosedOutcome.of(row)
            for row in self.store.caseload(clinic_id=clinic_id, open_only=False)
            if row.closed_on is not None
        ]

    def find_command(self, clinic_id: str, command: str, key: str) -> CommandRecord | None:
        return self.store.find_command(clinic_id, command, key)

    # -- audit and outbox -----------------------------------------------------------------------------

    def audit_records(self) -> list[AuditRecord]:
        return self.store.audit_records()

    def iter_audit_records(self) -> Iterator[AuditRecord]:
        """Every audit entry, a page at a time from a store that reads so (SQLite, PostgreSQL), so a log of
        millions is walked without holding it; in no particular order."""
        stream = getattr(self.store, "iter_audit_records", None)
        return iter(stream() if callable(stream) else self.store.audit_records())

    def clinic_audit_records(self, clinic_id: str) -> list[AuditRecord]:
        """The entries an auditor of ``clinic_id`` sees: the clinic's and those of calls made without an
        actor (:data:`~alliancekit.domain.checks.NO_CLINIC`), in the order the store lists them.

        Filtered in the store's query where it can: a store chaining per clinic reads those two clinics'
        chains and the shared part an older file kept, each row of the two clinics only; a store scoped to
        another clinic holds none of them and is not read. Any other store is read whole and filtered here.
        """
        seen = (clinic_id, NO_CLINIC)
        scope = getattr(self.store, "clinic_scope", None)
        if scope is not None and scope != clinic_id:
            return []  # its rows are all its own clinic's (a call without an actor is not its clinic's)
        if getattr(self.store, "audit_chains_per_clinic", False):
            rows = self.store.audit_records(chains=("", *seen), clinics=seen)  # type: ignore[call-arg]
        else:
            rows = self.store.audit_records()
        return [r for r in rows if r.clinic_id in seen]

    def audit_checkpoints(self) -> list[AuditCheckpoint]:
        return self.store.audit_checkpoints()

    def outbox_status(self) -> OutboxStatus:
        return self.store.outbox_status()

    # -- practice metadata ----------------------------------------------------------------------------

    def load_meta(self, key: str) -> str | None:
        return self.store.load_meta(key)

    def outbox_records(
        self, state: OutboxState | None = None, limit: int = 1000, after: str | None = None
    ) -> list[OutboxRecord]:
        if after is None:  # a store written before paging takes no ``after``
            return self.store.outbox_records(state, limit)
        return self.store.outbox_records(state, limit, after)

    # -- measure definitions kept with the data --------------------------------------------------------

    @property
    def keeps_definitions(self) -> bool:
        """Whether the store keeps measure definitions (``Commit.definitions``)."""
        return isinstance(self.store, DefinitionStore)

    def measure_definitions(self) -> list[StoredDefinition]:
        """The stored measure definitions; none from a store that does not keep them."""
        if not isinstance(self.store, DefinitionStore):
            return []
        return self.store.measure_definitions()

    # -- administration requests ------------------------------------------------------------------------

    @property
    def requests(self) -> RequestStore:
        """The store's request methods; a store without them cannot keep administration requests."""
        if not isinstance(self.store, RequestStore):
            raise StoreError("this store does not keep administration requests")
        return self.store

    def request(self, clinic_id: str, request_id: str) -> RequestRecord | None:
        return self.requests.get_request(clinic_id, request_id)

    def request_by_token(self, token_hash: str) -> RequestRecord | None:
        return self.requests.find_request(token_hash)

    def kiosk_code(self, clinic_id: str, code_hash: str, at: datetime) -> RequestRecord | None:
        """The live, unredeemed kiosk code ``code_hash`` of ``clinic_id`` at ``at`` (read only)."""
        return self.requests.find_code(clinic_id, code_hash, at)

    def kiosk_failures(self, clinic_id: str, source: str, window: datetime) -> int:
        return self.requests.failures(clinic_id, source, window)
