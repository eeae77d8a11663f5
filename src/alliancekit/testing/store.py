"""The store contract: the tests every storage backend passes, the builtin memory and SQLite stores included.

How a plugin author uses it
---------------------------

Subclass :class:`StoreContract` in a test module and implement :meth:`~StoreContract.create_store`; pytest
collects the subclass (the base sets ``__test__ = False``; every subclass gets ``__test__ = True`` unless it
says otherwise, so an intermediate abstract subclass sets ``__test__ = False`` itself)::

    class TestMyStore(StoreContract):
        def create_store(self) -> Store:
            return MyStore(self.tmp_path / "db")   # a store on a fresh, empty database

        def open_again(self, store: Store) -> Store:
            return MyStore(store.path)             # optional: a second store on the same database

        @contextlib.contextmanager
        def fail_writes(self, store: Store, point: str) -> Iterator[None]:
            ...                                    # make the backend fail mid-commit, then undo that

Hooks, and what each must do:

``create_store()``
    A store on a new, empty database (each call a different one), able to write rows of :attr:`CLINIC`.
    ``self.tmp_path`` is a fresh directory for the test. Stores are closed by the suite.
``store_for_clinic(store, clinic_id)``
    A store on the same database acting for ``clinic_id``. Backends without clinic scoping return ``store``
    (the default); a scoped backend returns its view for that clinic, and the suite then expects every
    query to see the scope's rows only.
``open_again(store)``
    Optional: a second store on the same database (migrations run again on a current schema, data is
    still there). Return ``None`` (the default) when a backend cannot, and those tests skip.
``open_read_only(store)``
    Optional: a read-only store on ``store``'s database (the opener called with ``read_only=True``), or
    ``None`` (the default) to skip the read-only tests.
``shared_location(store)``
    Optional: a location string other processes can open (``sqlite:/path``, a PostgreSQL URL) for the
    multi-process sealing test, or ``None`` (the default) to skip it.
``tamper_audit_entry(store, clinic_id)``
    Optional: change one stored audit entry of ``clinic_id`` behind the store's back, as someone who can
    write the database could (its actor id, say, its hash left as it was), with the backend's own means
    (SQL on the file or the server); return ``False`` (the default) when the backend cannot, and the
    clinics' tamper test skips.
``fail_writes(store, point)``
    A context manager inside which the *backend itself* fails the next ``append`` at ``point``:
    ``"after-events"`` (the events are written, then writing the snapshot and caseload row fails) or
    ``"before-audit"`` (everything but the audit rows is written, then writing them fails). Use the
    backend's own means where it has them (a trigger that raises, a broken connection), so that the test
    proves the real transaction rolls back. ``append`` must then raise
    :class:`~alliancekit.errors.StoreError` and leave nothing behind. List what you support in
    :attr:`fault_points`.

Everything is exercised through the public protocol (and, for round trips, through the public facade
:class:`~alliancekit.Practice` on top of the store). Outbox delivery (claims, leases, retries) has its own
suite, :class:`alliancekit.testing.outbox.OutboxStoreContract`.
"""

# A test suite: assertions are its point.
# ruff: noqa: S101, PT018

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    Ending,
    EndingReason,
    FitDecision,
    FitOutcome,
    GoalDraft,
    GoalProgress,
    GoalProgressNote,
    GoalRevision,
    GoalStatus,
    MaintenancePlan,
    Modality,
    Participant,
    ParticipantRole,
    Purpose,
    RepairAttempt,
    RepairStrategy,
    Review,
    ReviewDecision,
    Role,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    Session,
)
from alliancekit.domain.checks import NO_CLINIC
from alliancekit.domain.records import RuptureNote
from alliancekit.errors import ConflictError, DuplicateCommand, MissingActor, StoreError
from alliancekit.events import converter
from alliancekit.events.types import EVENT_TYPES, event_class
from alliancekit.feedback.config import FeedbackConfig
from alliancekit.feedback.reports import Rate, practice_outcomes
from alliancekit.integrity import chain
from alliancekit.practice import Practice, open_practice
from alliancekit.store.protocol import (
    AuditCheckpoint,
    AuditRecord,
    CaseloadRow,
    CommandRecord,
    Commit,
    DefinitionStore,
    OutboxRecord,
    ShardHead,
    Store,
    StoredEvent,
)
from alliancekit.testing.definitions import DefinitionStoreTests
from alliancekit.testing.suite import ContractSuite, builtin_plugins

FAULT_POINTS = ("after-events", "before-audit")

_DAY = date(2026, 3, 2)
_T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
#: The practices' clock: on the last day the contract records (no clinical date may be after today; a
#: client's answers through a link are dated by it).
_NOW = _T0 + timedelta(days=40)


class _Recording:
    """A store wrapper that remembers every commit the store accepted (for round-trip comparisons)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.commits: list[Commit] = []

    def append(self, commit: Commit) -> None:
        self.store.append(commit)
        self.commits.append(commit)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _forward(name: str) -> property:
    return property(lambda self: getattr(self.store, name))


# Python 3.12+ checks a runtime protocol with ``getattr_static``, which never calls ``__getattr__``: the
# wrapper declares every member of the protocol itself, so that it still is a ``Store``.
for _name in [
    n for n in {*dir(Store), *dir(DefinitionStore)} if not n.startswith("_") and n not in vars(_Recording)
]:
    setattr(_Recording, _name, _forward(_name))


def _json(text: str) -> Any:
    return json.loads(text)


def _audit_value(record: AuditRecord) -> dict[str, Any]:
    """An audit row as its writer gave it: without what the store adds (chain position and hashes)."""
    value = attrs.asdict(record)
    for added in ("position", "prev_hash", "hash", "chain"):
        value.pop(added, None)
    return value


def _shard_chains_problem(records: Sequence[AuditRecord]) -> str | None:
    """Where the audit shards stop being chains (positions 1..n, linked, hashes recompute), or None; each
    chain's shards on their own (:attr:`AuditRecord.chain`, a clinic's in a store chaining per clinic)."""
    heads: dict[tuple[str, int], tuple[int, str]] = {}
    for r in records:
        position, prev = heads.get((r.chain, r.shard), (0, chain.GENESIS))
        if (
            r.position != position + 1
            or r.prev_hash != prev
            or chain.entry_hash(r, r.position, prev) != r.hash
        ):
            return f"chain {r.chain!r} shard {r.shard} entry {position + 1}"
        heads[r.chain, r.shard] = (r.position, r.hash)
    return None


#: The command name of the contract's hand-built keyed commits.
COMMAND = "test-write"


def _json_numbers_as_floats(text: str) -> Any:
    return json.loads(text, parse_int=float)


def _row_value(row: CaseloadRow) -> dict[str, Any]:
    """A caseload row with its JSON column as a value, so backends may store it as JSON or text."""
    value = attrs.asdict(row)
    value["latest_scores_json"] = _json(row.latest_scores_json)
    return value


def _event_value(event: StoredEvent) -> dict[str, Any]:
    value = attrs.asdict(event)
    value["payload_json"] = _json(event.payload_json)
    return value


class StoreContract(ContractSuite, DefinitionStoreTests):
    """Abstract contract suite for :class:`~alliancekit.store.Store` backends (see the module docstring)."""

    __test__ = False

    #: The clinic :meth:`create_store` stores write for.
    CLINIC: ClassVar[str] = "clinic-a"
    #: A second clinic, reached through :meth:`store_for_clinic`.
    OTHER_CLINIC: ClassVar[str] = "clinic-b"
    #: Fault points the backend can inject (see :meth:`fail_writes`).
    fault_points: ClassVar[tuple[str, ...]] = FAULT_POINTS
    #: Threads writing one episode at once in the concurrency test, and commands each.
    concurrent_writers: ClassVar[int] = 8
    commands_per_writer: ClassVar[int] = 25
    #: Concurrent submissions of one command under one idempotency key.
    same_key_submissions: ClassVar[int] = 1000

    tmp_path: Path

    # ------------------------------------------------------------------------------------------ hooks

    def create_store(self) -> Store:
        """A store on a new, empty database, writing for :attr:`CLINIC`."""
        raise NotImplementedError

    def store_for_clinic(self, store: Store, clinic_id: str) -> Store:
        """A store on the same database acting for ``clinic_id`` (unscoped backends: ``store``)."""
        return store

    def open_again(self, store: Store) -> Store | None:
        """A second store on ``store``'s database, or ``None`` when the backend cannot."""
        return None

    def open_read_only(self, store: Store) -> Store | None:
        """A read-only store on ``store``'s database, or ``None`` when the backend cannot."""
        return None

    def shared_location(self, store: Store) -> str | None:
        """A location other processes open ``store``'s database with, or ``None``."""
        return None

    def tamper_audit_entry(self, store: Store, clinic_id: str) -> bool:
        """Change one stored audit entry of ``clinic_id`` behind ``store``'s back; ``False``: cannot."""
        return False

    def fail_writes(self, store: Store, point: str) -> contextlib.AbstractContextManager[None]:
        """Inside the block the backend fails the next ``append`` at ``point`` (one of FAULT_POINTS).

        Implement it with ``@contextlib.contextmanager``.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------------------------- fixtures

    @pytest.fixture(autouse=True)
    def _contract_setup(self, tmp_path: Path) -> Iterator[None]:
        self.tmp_path = tmp_path
        self._opened: list[Store] = []
        yield
        for store in reversed(self._opened):
            store.close()

    @pytest.fixture
    def store(self) -> Store:
        return self._new_store()

    def _new_store(self) -> Store:
        """:meth:`create_store`'s store, checked to be empty: one on the database of an earlier call (a
        fixed file name under ``tmp_path``) made tests fail far from the cause, as a version conflict."""
        store = self._track(self.create_store())
        assert next(iter(store.episode_ids()), None) is None and store.audit_records() == [], (
            "create_store() returned a store that already holds records: each call must open a new, empty "
            "database (a name of its own under self.tmp_path, a schema of its own)"
        )
        return store

    def _track(self, store: Store) -> Store:
        self._opened.append(store)
        return store

    def _other(self, store: Store) -> Store:
        other = self.store_for_clinic(store, self.OTHER_CLINIC)
        if other is not store:
            self._opened.append(other)
        return other

    # -------------------------------------------------------------------------------------- helpers

    def practice(self, store: Store, **options: Any) -> Practice:
        """The public facade on ``store``, with only builtin plugins and a steady clock."""
        ticks = iter(range(10**9))
        options.setdefault("clock", lambda: _NOW + timedelta(milliseconds=next(ticks)))
        return Practice(store, plugins=builtin_plugins(), **options)

    def actor(self, clinic_id: str | None = None, actor_id: str = "clin-1") -> Actor:
        return Actor(actor_id, Role.CLINICIAN, clinic_id or self.CLINIC)

    def active_episode(self, practice: Practice, actor: Actor, client_ref: str = "client-1") -> str:
        """An episode in active therapy: opened, consulted, fit to proceed, one goal agreed."""
        ep = practice.start_episode(actor, client_ref=client_ref, clinician_id=actor.id, opened_on=_DAY)
        practice.record_consultation(actor, ep, _consultation())
        practice.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, _DAY))
        practice.agree_goals(
            actor, ep, [GoalDraft("sleep through the night", ("wind-down routine",))], agreed_on=_DAY
        )
        return ep

    def commit(
        self,
        episode_id: str,
        expected: int,
        count: int = 1,
        *,
        clinic_id: str | None = None,
        key: str | None = None,
        clinician_id: str = "clin-1",
        closed_on: date | None = None,
        tag: str = "",
        head: str | None = None,
        command: str = COMMAND,
        shards: Sequence[int] = (0,),
    ) -> Commit:
        """A hand-built commit of ``count`` synthetic events (the store never interprets payloads).

        The events are chained after ``head`` (GENESIS for a new stream, a stand-in hash otherwise); the
        commit carries one audit entry per shard in ``shards``."""
        clinic = clinic_id or self.CLINIC
        new_version = expected + count
        events = [
            StoredEvent(
                episode_id=episode_id,
                seq=expected + i,
                event_id=f"{episode_id}-{tag}-e{expected + i}",
                type="synthetic",
                schema_version=1,
                occurred_at=_T0 + timedelta(seconds=expected + i),
                recorded_at=_T0 + timedelta(seconds=expected + i, microseconds=1),
                actor_id="clin-1",
                actor_role="clinician",
                clinic_id=clinic,
                payload_json=json.dumps({"n": expected + i, "tag": tag}),
            )
            for i in range(1, count + 1)
        ]
        start = head if head is not None else chain.GENESIS if expected == 0 else "f" * 64
        events = chain.chain_events(events, start)
        new_head = events[-1].hash if events else start
        row = CaseloadRow(
            episode_id=episode_id,
            clinic_id=clinic,
            clinician_id=clinician_id,
            client_ref=f"ref-{episode_id}",
            stage="closed" if closed_on else "active",
            version=new_version,
            opened_on=_DAY,
            last_session_on=_DAY + timedelta(days=new_version),
            sessions_attended=new_version,
            latest_scores_json=json.dumps({"ors": 21.5, "srs": 36.0}),
            open_alerts=1,
            next_review_at=6,
            review_due=False,
            closed_on=closed_on,
        )
        outbox = [
            OutboxRecord(
                f"{episode_id}-{tag}-m{new_version}",
                episode_id,
                "alert-raised",
                "email",
                json.dumps({"ref": episode_id}),
                _T0,
            )
        ]
        audit = [
            AuditRecord(
                f"{episode_id}-{tag}-a{new_version}" + (f"-s{shard}" if len(shards) > 1 else ""),
                _T0,
                "clin-1",
                "clinician",
                clinic,
                "treatment",
                "test-write",
                "episode",
                episode_id,
                "allowed",
                writes=f"{new_version}:{new_head}",
                shard=shard,
            )
            for shard in shards
        ]
        snapshot = json.dumps({"episode_id": episode_id, "version": new_version, "tag": tag})
        record = (
            None
            if key is None
            else CommandRecord(clinic, command, key, f"request-of-{key}", episode_id, new_version)
        )
        return Commit(
            episode_id, expected, events, snapshot, row, outbox, audit, command=record, head=new_head
        )

    def find(self, store: Store, key: str, *, clinic_id: str | None = None) -> tuple[str, int] | None:
        """``(episode_id, version)`` of the contract's keyed command ``key``, or None."""
        found = store.find_command(clinic_id or self.CLINIC, COMMAND, key)
        return None if found is None else (found.episode_id, found.version)

    def assert_unchanged(self, store: Store, episode_id: str, version: int, audit_count: int) -> None:
        """``episode_id`` is still at ``version`` with that many events, and no audit row was added."""
        events = store.load_events(episode_id)
        assert [e.seq for e in events] == list(range(1, version + 1))
        found = store.load_snapshot(episode_id)
        if version == 0:
            assert found is None
            assert episode_id not in list(store.episode_ids())
            assert all(r.episode_id != episode_id for r in store.caseload(open_only=False))
        else:
            assert found is not None and found.version == version
            assert _json(found.state_json)["version"] == version
            [row] = [r for r in store.caseload(open_only=False) if r.episode_id == episode_id]
            assert row.version == version
        assert len(store.audit_records()) == audit_count

    # ------------------------------------------------------------------------------- round trips

    def test_every_event_type_round_trips_through_the_facade(self, store: Store) -> None:
        recording = _Recording(store)
        practice = self.practice(recording)
        actor = self.actor()
        ep = _full_lifecycle(practice, actor)

        stored = store.load_events(ep)
        written = [e for c in recording.commits for e in c.events]
        assert {e.type for e in stored} == set(EVENT_TYPES), "the scenario must cover every event type"
        assert [_event_value(e) for e in stored] == [_event_value(e) for e in written]
        for got, sent in zip(stored, written, strict=True):
            cls = event_class(got.type)
            assert converter.structure(_json(got.payload_json), cls) == converter.structure(
                _json(sent.payload_json), cls
            )
        # The snapshot, the caseload row and the fold of the stored events all agree with what was written.
        last = recording.commits[-1]
        found = store.load_snapshot(ep)
        assert found is not None
        assert found.version == len(stored) == last.new_version
        assert _json(found.state_json) == _json(last.snapshot_json)
        assert found.head == last.head == stored[-1].hash
        assert [e.prev_hash for e in stored] == [chain.GENESIS, *[e.hash for e in stored[:-1]]]
        reader = self.actor(actor_id="clin-2")  # the clinician of record since the transfer
        assert practice.rebuild_state(reader, ep) == practice.episode(reader, ep)
        [row] = store.caseload(clinic_id=self.CLINIC, open_only=False)
        assert _row_value(row) == _row_value(last.caseload)
        # A second practice (no cache) reads the same state from the store alone.
        assert self.practice(store).episode(reader, ep) == practice.episode(reader, ep)
        timeline = practice.timeline(reader, ep)
        seqs = [t.seq for t in timeline]  # the facade leaves some records out (process notes)
        assert seqs == sorted(set(seqs))
        assert set(seqs) <= {e.seq for e in stored}
        assert seqs[0] == 1

    def test_event_payloads_keep_their_json_values(self, store: Store) -> None:
        payload = {
            "floats": [0.1, 0.30000000000000004, 1e-7, 5.0, 1e300, -0.0, 21.5],
            "ints": [0, -1, 2**53],
            "text": 'naïve café — 日本語 \u2028 "quoted" \\ back',
            "nested": {"b": [True, False, None], "a": {}},
        }
        commit = self.commit("ep-json", 0)
        event = attrs.evolve(commit.events[0], payload_json=json.dumps(payload, ensure_ascii=False))
        store.append(attrs.evolve(commit, events=[event]))
        [loaded] = store.load_events("ep-json")
        # Numbers keep their value, not their spelling: JSONB gives 1e300 back as a 301-digit integer.
        assert _json_numbers_as_floats(loaded.payload_json) == _json_numbers_as_floats(json.dumps(payload))
        assert _json(loaded.payload_json)["text"] == payload["text"]
        assert loaded.occurred_at == event.occurred_at and loaded.recorded_at == event.recorded_at

    def test_load_events_after_a_version(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 3))
        store.append(self.commit("ep-1", 3, 2))
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3, 4, 5]
        assert [e.seq for e in store.load_events("ep-1", after=3)] == [4, 5]
        assert store.load_events("ep-1", after=5) == []
        assert store.load_events("no-such-episode") == []
        assert store.load_snapshot("no-such-episode") is None

    # ---------------------------------------------------------------------------------- atomicity

    @pytest.mark.parametrize("point", FAULT_POINTS)
    def test_a_commit_failing_midway_writes_nothing(self, store: Store, point: str) -> None:
        if point not in self.fault_points:
            pytest.skip(f"this backend cannot inject a fault at {point}")
        store.append(self.commit("ep-1", 0, 2))
        audit_before = len(store.audit_records())
        for commit in (self.commit("ep-1", 2, 3, key="k-1"), self.commit("ep-new", 0, 2, key="k-2")):
            with self.fail_writes(store, point), pytest.raises(StoreError):
                store.append(commit)
        self.assert_unchanged(store, "ep-1", 2, audit_before)
        self.assert_unchanged(store, "ep-new", 0, audit_before)
        assert self.find(store, "k-1") is None and self.find(store, "k-2") is None
        # The store is still usable, and the same commits now go through in full.
        store.append(self.commit("ep-1", 2, 3, key="k-1"))
        store.append(self.commit("ep-new", 0, 2, key="k-2"))
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3, 4, 5]
        assert self.find(store, "k-1") == ("ep-1", 5)
        assert len(store.audit_records()) == audit_before + 2

    @pytest.mark.parametrize("point", FAULT_POINTS)
    def test_a_command_failing_midway_leaves_the_episode_as_it_was(self, store: Store, point: str) -> None:
        if point not in self.fault_points:
            pytest.skip(f"this backend cannot inject a fault at {point}")
        practice = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(practice, actor)
        before = practice.episode(actor, ep)
        with self.fail_writes(store, point), pytest.raises(StoreError):
            practice.record_session(actor, ep, _session(1), idempotency_key="session-1")
        assert self.practice(store).episode(actor, ep) == before
        assert len(store.load_events(ep)) == before.version
        # No audit row of the failed command survived (reads may be audited on their own).
        assert "record-session" not in {r.action for r in store.audit_records()}
        assert store.find_command(self.CLINIC, "record-session", "session-1") is None
        recorded = practice.record_session(actor, ep, _session(1), idempotency_key="session-1")
        assert recorded.version == before.version + 1 and not recorded.duplicate

    # ------------------------------------------------------------------------ conflicts and keys

    def test_a_stale_version_is_a_conflict_and_writes_nothing(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2))
        audit_before = len(store.audit_records())
        for expected in (0, 1, 3, 7):
            with pytest.raises(ConflictError) as caught:
                store.append(self.commit("ep-1", expected, 1, tag="stale"))
            assert (caught.value.episode_id, caught.value.expected, caught.value.actual) == (
                "ep-1",
                expected,
                2,
            )
        with pytest.raises(ConflictError):
            store.append(self.commit("ep-unknown", 4, 1))
        self.assert_unchanged(store, "ep-1", 2, audit_before)
        self.assert_unchanged(store, "ep-unknown", 0, audit_before)
        assert all(_json(e.payload_json)["tag"] == "" for e in store.load_events("ep-1"))

    def test_a_used_idempotency_key_is_a_duplicate_and_writes_nothing(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2, key="key-1"))
        assert self.find(store, "key-1") == ("ep-1", 2)
        audit_before = len(store.audit_records())
        with pytest.raises(DuplicateCommand):
            store.append(self.commit("ep-1", 2, 1, key="key-1"))
        # A used key with a stale version: either refusal will do (the core stores report the conflict).
        with pytest.raises((ConflictError, DuplicateCommand)):
            store.append(self.commit("ep-1", 0, 1, key="key-1"))
        with pytest.raises(DuplicateCommand):
            store.append(self.commit("ep-2", 0, 1, key="key-1"))
        self.assert_unchanged(store, "ep-1", 2, audit_before)
        self.assert_unchanged(store, "ep-2", 0, audit_before)
        assert self.find(store, "key-2") is None
        store.append(self.commit("ep-1", 2, 1, key="key-2"))
        assert self.find(store, "key-2") == ("ep-1", 3)
        assert store.find_command(self.CLINIC, COMMAND, "key-2") == CommandRecord(
            self.CLINIC, COMMAND, "key-2", "request-of-key-2", "ep-1", 3
        )

    def test_idempotency_keys_are_scoped_to_clinic_and_command(self, store: Store) -> None:
        other = self._other(store)
        store.append(self.commit("ep-1", 0, 1, key="k"))
        # Same key, other clinic or other command: not found, and free to use.
        assert store.find_command(self.OTHER_CLINIC, COMMAND, "k") is None
        assert store.find_command(self.CLINIC, "other-command", "k") is None
        assert store.find_command(self.CLINIC, COMMAND, "K") is None
        store.append(self.commit("ep-1", 1, 1, key="k", command="other-command"))
        other.append(self.commit("ep-b", 0, 1, key="k", clinic_id=self.OTHER_CLINIC))
        assert self.find(store, "k") == ("ep-1", 1)
        found = store.find_command(self.CLINIC, "other-command", "k")
        assert found is not None and (found.episode_id, found.version) == ("ep-1", 2)
        assert self.find(other, "k", clinic_id=self.OTHER_CLINIC) == ("ep-b", 1)
        # The same triple again is a duplicate, and writes nothing.
        audit_before = len(store.audit_records())
        with pytest.raises(DuplicateCommand):
            store.append(self.commit("ep-1", 2, 1, key="k", command="other-command"))
        self.assert_unchanged(store, "ep-1", 2, audit_before)

    def test_command_records_list_each_clinics_keyed_commands(self, store: Store) -> None:
        """``command_records()`` (what verification's commands check reads) lists every keyed command's
        record by clinic, command and key: none on a fresh store, none for a commit without a key, and, in a
        clinic-scoped store, the scope's only."""
        other = self._other(store)
        assert store.command_records() == []  # type: ignore[attr-defined]
        store.append(self.commit("ep-1", 0, 1))
        store.append(self.commit("ep-1", 1, 2, key="k-2"))
        store.append(self.commit("ep-1", 3, 1, key="k-1", command="other-command"))
        other.append(self.commit("ep-b", 0, 1, key="k-2", clinic_id=self.OTHER_CLINIC))
        ours = [
            CommandRecord(self.CLINIC, "other-command", "k-1", "request-of-k-1", "ep-1", 4),
            CommandRecord(self.CLINIC, COMMAND, "k-2", "request-of-k-2", "ep-1", 3),
        ]
        theirs = [CommandRecord(self.OTHER_CLINIC, COMMAND, "k-2", "request-of-k-2", "ep-b", 1)]
        if other is store:  # one store for both clinics: all of them, by clinic
            assert store.command_records() == ours + theirs  # type: ignore[attr-defined]
        else:
            assert store.command_records() == ours  # type: ignore[attr-defined]
            assert other.command_records() == theirs  # type: ignore[attr-defined]

    def test_command_records_are_those_the_facade_keyed(self, store: Store) -> None:
        practice = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(practice, actor)
        first = practice.record_session(actor, ep, _session(1), idempotency_key="s-1")
        practice.record_session(actor, ep, _session(1), idempotency_key="s-1")  # a repeat: no new record
        [record] = store.command_records()  # type: ignore[attr-defined]
        assert (record.clinic_id, record.command, record.key) == (self.CLINIC, "record-session", "s-1")
        assert (record.episode_id, record.version) == (ep, first.version)
        assert record == store.find_command(self.CLINIC, "record-session", "s-1")

    def test_a_repeated_command_through_the_facade_is_applied_once(self, store: Store) -> None:
        practice = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(practice, actor)
        first = practice.record_session(actor, ep, _session(1), idempotency_key="s-1")
        audited = len(store.audit_records())
        again = practice.record_session(actor, ep, _session(1), idempotency_key="s-1")
        assert again.duplicate and (again.episode_id, again.version) == (first.episode_id, first.version)
        assert again.record_id == first.record_id
        assert len(store.load_events(ep)) == first.version
        # the repeat was answered: one entry, outcome replayed, naming the command and the episode
        replays = [r for r in store.audit_records() if r.outcome == "replayed"]
        assert len(store.audit_records()) == audited + 1
        assert [(r.action, r.record_id, r.writes) for r in replays] == [("record-session", ep, "")]

    # ------------------------------------------------------------------------------ caseload

    # ----------------------------------------------------------------------------- batches of commits

    def test_a_batch_of_commits_is_written_in_order(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2))
        audit_before = len(store.audit_records())
        first = self.commit("ep-1", 2, 1, key="b-1", tag="b")
        second = self.commit("ep-1", 3, 2, key="b-2", tag="b", head=first.head)
        store.append_batch([first, self.commit("ep-2", 0, 1, tag="b"), second])
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3, 4, 5]
        assert [e.hash for e in store.load_events("ep-1")][-1] == second.head
        found = store.load_snapshot("ep-1")
        assert found is not None and (found.version, found.head) == (5, second.head)
        assert {r.episode_id: r.version for r in store.caseload(open_only=False)} == {"ep-1": 5, "ep-2": 1}
        assert self.find(store, "b-1") == ("ep-1", 3) and self.find(store, "b-2") == ("ep-1", 5)
        assert len(store.audit_records()) == audit_before + 3
        assert _shard_chains_problem(store.audit_records()) is None
        store.append_batch([])  # nothing to write: nothing written, no error
        assert len(store.audit_records()) == audit_before + 3

    def test_a_batch_with_a_stale_commit_last_writes_nothing(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2))
        audit_before = len(store.audit_records())
        good = [self.commit("ep-new", 0, 2, key="n-1"), self.commit("ep-1", 2, 1, key="n-2")]
        with pytest.raises(ConflictError) as caught:
            store.append_batch([*good, self.commit("ep-1", 2, 1, tag="stale")])
        assert (caught.value.episode_id, caught.value.expected) == ("ep-1", 2)
        self.assert_unchanged(store, "ep-1", 2, audit_before)
        self.assert_unchanged(store, "ep-new", 0, audit_before)
        assert self.find(store, "n-1") is None and self.find(store, "n-2") is None
        store.append_batch(good)  # the same commits without the stale one go through
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3]

    def test_a_batch_with_a_used_key_writes_nothing(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 1, key="used"))
        audit_before = len(store.audit_records())
        for batch in (
            [self.commit("ep-2", 0, 1), self.commit("ep-1", 1, 1, key="used")],
            [self.commit("ep-2", 0, 1, key="twice"), self.commit("ep-3", 0, 1, key="twice")],
        ):
            with pytest.raises(DuplicateCommand):
                store.append_batch(batch)
            self.assert_unchanged(store, "ep-1", 1, audit_before)
            self.assert_unchanged(store, "ep-2", 0, audit_before)
            self.assert_unchanged(store, "ep-3", 0, audit_before)
        assert self.find(store, "twice") is None

    @pytest.mark.parametrize("point", FAULT_POINTS)
    def test_a_batch_failing_midway_writes_nothing(self, store: Store, point: str) -> None:
        if point not in self.fault_points:
            pytest.skip(f"this backend cannot inject a fault at {point}")
        store.append(self.commit("ep-1", 0, 2))
        audit_before = len(store.audit_records())
        batch = [self.commit("ep-new", 0, 2, key="f-1"), self.commit("ep-1", 2, 3, key="f-2")]
        with self.fail_writes(store, point), pytest.raises(StoreError):
            store.append_batch(batch)
        self.assert_unchanged(store, "ep-1", 2, audit_before)
        self.assert_unchanged(store, "ep-new", 0, audit_before)
        assert self.find(store, "f-1") is None and self.find(store, "f-2") is None
        store.append_batch(batch)
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3, 4, 5]

    def test_a_batch_through_the_facade_writes_what_one_by_one_writes(self, store: Store) -> None:
        """The same commands through ``Practice.batch`` and one by one, on two stores with the same ids
        and clock: the same events, snapshots, caseload rows and audit actions."""
        written = []
        for batched in (False, True):
            target_store = self._new_store() if batched else store  # made once the first has written
            ticks, ids = iter(range(10**9)), iter(range(10**9))
            practice = self.practice(
                target_store,
                clock=lambda ticks=ticks: _NOW + timedelta(milliseconds=next(ticks)),
                ids=lambda kind, ids=ids: f"{kind}-{next(ids)}",
            )
            actor = self.actor()
            with contextlib.ExitStack() as stack:
                target: Any = stack.enter_context(practice.batch(size=3)) if batched else practice
                ep = self.active_episode(target, actor)
                for n in range(1, 5):
                    target.record_session(actor, ep, _session(n), idempotency_key=f"s-{n}")
                again = target.record_session(actor, ep, _session(4), idempotency_key="s-4")
                assert again.duplicate and again.version == 8
            found = target_store.load_snapshot(ep)
            assert found is not None
            written.append(
                [
                    found.version,
                    found.head,
                    _json(found.state_json),
                    [_event_value(e) for e in target_store.load_events(ep)],
                    [_row_value(r) for r in target_store.caseload(open_only=False)],
                    # each audit chain in its order (how a store interleaves the chains is its own)
                    [
                        (a.action, a.record_id, a.writes, a.outcome)
                        for a in sorted(target_store.audit_records(), key=lambda a: (a.shard, a.position))
                    ],
                ]
            )
        assert written[0] == written[1]
        assert written[0][0] == 8

    def test_the_lockbox_projection_round_trips(self, store: Store) -> None:
        """The directives in force travel with the caseload row and the closed outcome (readers decide a
        summary on them without the snapshot)."""
        lockbox = '{"d1":{"classes":["sessions"],"recipients":[],"scope":"class"}}'
        plain = self.commit("ep-1", 0, 1)
        store.append(attrs.evolve(plain, caseload=attrs.evolve(plain.caseload, lockbox_json=lockbox)))
        closed = self.commit("ep-2", 0, 1, closed_on=_DAY)
        store.append(closed)
        rows = {r.episode_id: r for r in store.caseload(clinic_id=self.CLINIC, open_only=False)}
        assert rows["ep-1"].lockbox_json == lockbox
        assert rows["ep-2"].lockbox_json == "{}"
        closer = self.commit("ep-1", 1, 1, closed_on=_DAY)
        store.append(attrs.evolve(closer, caseload=attrs.evolve(closer.caseload, lockbox_json=lockbox)))
        fast = getattr(store, "closed_outcomes", None)
        if fast is not None:
            outcomes = fast(clinic_id=self.CLINIC)
            assert sorted(o.lockbox_json for o in outcomes) == sorted([lockbox, "{}"])

    def test_the_open_caseload_brings_closed_rows_under_a_lockbox(self, store: Store) -> None:
        """``closed_under_lockbox`` adds to the open caseload the closed rows that carry directives (whether
        such an episode is closed to a reader is for the reader's guard to decide), filtered and ordered as
        the rest; closed rows without directives stay out, and without the flag nothing changes."""
        lockbox = '{"d1":{"classes":["ending"],"recipients":[],"scope":"class"}}'

        def locked(commit: Commit) -> Commit:
            return attrs.evolve(commit, caseload=attrs.evolve(commit.caseload, lockbox_json=lockbox))

        other = self._other(store)
        store.append(self.commit("ep-3", 0, 1))  # open
        store.append(locked(self.commit("ep-1", 0, 1, closed_on=_DAY)))  # closed, under a directive
        store.append(self.commit("ep-2", 0, 1, closed_on=_DAY))  # closed, no directive
        store.append(locked(self.commit("ep-4", 0, 1, clinician_id="clin-2")))  # open, under a directive
        store.append(locked(self.commit("ep-0", 0, 1, clinician_id="clin-2", closed_on=_DAY)))
        other.append(locked(self.commit("ep-9", 0, 1, clinic_id=self.OTHER_CLINIC, closed_on=_DAY)))

        def ids(**query: Any) -> list[str]:
            return [r.episode_id for r in store.caseload(clinic_id=self.CLINIC, **query)]

        assert ids(closed_under_lockbox=True) == ["ep-0", "ep-1", "ep-3", "ep-4"]
        assert ids() == ["ep-3", "ep-4"]
        assert ids(clinician_id="clin-1", closed_under_lockbox=True) == ["ep-1", "ep-3"]
        assert ids(clinician_id="clin-2", closed_under_lockbox=True) == ["ep-0", "ep-4"]
        assert ids(clinician_id="nobody", closed_under_lockbox=True) == []
        # with the closed rows asked for anyway, the flag changes nothing
        assert (
            ids(open_only=False, closed_under_lockbox=True)
            == ids(open_only=False)
            == [
                "ep-0",
                "ep-1",
                "ep-2",
                "ep-3",
                "ep-4",
            ]
        )
        rows = {r.episode_id: r for r in store.caseload(clinic_id=self.CLINIC, closed_under_lockbox=True)}
        assert (rows["ep-1"].closed_on, rows["ep-1"].lockbox_json) == (_DAY, lockbox)
        others = other.caseload(clinic_id=self.OTHER_CLINIC, closed_under_lockbox=True)
        assert [r.episode_id for r in others] == ["ep-9"]
        # the row follows the episode: the directive lifted (the row carries none), the closed row is out
        store.append(self.commit("ep-1", 1, 1, closed_on=_DAY))
        assert ids(closed_under_lockbox=True) == ["ep-0", "ep-3", "ep-4"]

    def test_one_clinicians_caseload_brings_the_other_clinicians_rows_under_a_lockbox(
        self, store: Store
    ) -> None:
        """``others_under_lockbox`` adds to one clinician's caseload the other clinicians' rows that carry
        directives (whether such an episode is this clinician's to a reader is for the reader's guard to
        decide: a directive may withhold a transfer), open or closed as ``open_only`` and
        ``closed_under_lockbox`` say, ordered with the clinician's own; rows without directives stay with
        their clinician, another clinic's stay out, and without a clinician or the flag nothing changes."""
        lockbox = '{"d1":{"classes":["administrative"],"recipients":[],"scope":"class"}}'

        def locked(commit: Commit) -> Commit:
            return attrs.evolve(commit, caseload=attrs.evolve(commit.caseload, lockbox_json=lockbox))

        other = self._other(store)
        store.append(self.commit("ep-3", 0, 1))  # clin-1's, open
        store.append(self.commit("ep-2", 0, 1, closed_on=_DAY))  # clin-1's, closed
        store.append(locked(self.commit("ep-5", 0, 1, closed_on=_DAY)))  # clin-1's, closed, under a directive
        store.append(locked(self.commit("ep-4", 0, 1, clinician_id="clin-2")))  # clin-2's, open, under one
        store.append(locked(self.commit("ep-0", 0, 1, clinician_id="clin-2", closed_on=_DAY)))
        store.append(self.commit("ep-1", 0, 1, clinician_id="clin-2"))  # clin-2's, open
        store.append(self.commit("ep-6", 0, 1, clinician_id="clin-2", closed_on=_DAY))  # clin-2's, closed
        other.append(locked(self.commit("ep-9", 0, 1, clinic_id=self.OTHER_CLINIC, clinician_id="clin-2")))

        def ids(**query: Any) -> list[str]:
            rows = store.caseload(clinic_id=self.CLINIC, others_under_lockbox=True, **query)
            return [r.episode_id for r in rows]

        everything = ["ep-0", "ep-1", "ep-2", "ep-3", "ep-4", "ep-5", "ep-6"]
        assert ids(clinician_id="clin-1") == ["ep-3", "ep-4"]
        assert ids(clinician_id="clin-1", closed_under_lockbox=True) == ["ep-0", "ep-3", "ep-4", "ep-5"]
        assert ids(clinician_id="clin-1", open_only=False) == ["ep-0", "ep-2", "ep-3", "ep-4", "ep-5"]
        assert ids(clinician_id="clin-1", open_only=False, closed_under_lockbox=True) == [
            "ep-0",
            "ep-2",
            "ep-3",
            "ep-4",
            "ep-5",
        ]
        assert ids(clinician_id="clin-2") == ["ep-1", "ep-4"]  # clin-1 has no open row under a directive
        assert ids(clinician_id="clin-2", closed_under_lockbox=True) == ["ep-0", "ep-1", "ep-4", "ep-5"]
        assert ids(clinician_id="clin-2", open_only=False) == ["ep-0", "ep-1", "ep-4", "ep-5", "ep-6"]
        assert ids(clinician_id="nobody") == ["ep-4"]
        assert ids(clinician_id="nobody", open_only=False) == ["ep-0", "ep-4", "ep-5"]
        # without a clinician the flag changes nothing, nor does a clinician without the flag
        assert ids() == ["ep-1", "ep-3", "ep-4"]
        assert ids(open_only=False) == everything
        assert ids(closed_under_lockbox=True) == ["ep-0", "ep-1", "ep-3", "ep-4", "ep-5"]
        plain = store.caseload(clinic_id=self.CLINIC, clinician_id="clin-1", open_only=False)
        assert [r.episode_id for r in plain] == ["ep-2", "ep-3", "ep-5"]
        # the rows come as stored: the other clinician's, with their directives
        rows = {
            r.episode_id: r
            for r in store.caseload(clinic_id=self.CLINIC, clinician_id="clin-1", others_under_lockbox=True)
        }
        assert (rows["ep-4"].clinician_id, rows["ep-4"].lockbox_json) == ("clin-2", lockbox)
        others = other.caseload(clinic_id=self.OTHER_CLINIC, clinician_id="clin-1", others_under_lockbox=True)
        assert [r.episode_id for r in others] == ["ep-9"]
        # the row follows the episode: the directive lifted (the row carries none), it stays with clin-2
        store.append(self.commit("ep-4", 1, 1, clinician_id="clin-2"))
        assert ids(clinician_id="clin-1") == ["ep-3"]
        assert ids(clinician_id="clin-2") == ["ep-1", "ep-4"]

    def test_the_missed_measures_projection_round_trips(self, store: Store) -> None:
        """The measures an episode missed under its protocol travel with the caseload row, and change with
        the next commit (the ``missed_measures`` column of migration 5)."""
        first = self.commit("ep-1", 0, 1)
        missed = '["ors","srs"]'
        store.append(attrs.evolve(first, caseload=attrs.evolve(first.caseload, missed_measures_json=missed)))
        store.append(self.commit("ep-2", 0, 1))
        rows = {r.episode_id: r for r in store.caseload(clinic_id=self.CLINIC)}
        assert rows["ep-1"].missed_measures == ("ors", "srs")
        assert rows["ep-2"].missed_measures == ()
        store.append(self.commit("ep-1", 1, 1))
        (row,) = [r for r in store.caseload(clinic_id=self.CLINIC) if r.episode_id == "ep-1"]
        assert row.missed_measures_json == "[]"

    def test_the_population_projection_round_trips(self, store: Store) -> None:
        """The episode's norm population travels with the caseload row and the closed outcome, and changes
        with the next commit (the ``population`` column of SQLite migration 12, PostgreSQL migration 14)."""

        def named(commit: Commit, population: str | None) -> Commit:
            return attrs.evolve(commit, caseload=attrs.evolve(commit.caseload, population=population))

        store.append(named(self.commit("ep-1", 0, 1), "child"))
        store.append(self.commit("ep-2", 0, 1, closed_on=_DAY))
        store.append(named(self.commit("ep-3", 0, 1, closed_on=_DAY), "adolescent"))
        rows = {r.episode_id: r.population for r in store.caseload(clinic_id=self.CLINIC, open_only=False)}
        assert rows == {"ep-1": "child", "ep-2": None, "ep-3": "adolescent"}
        fast = getattr(store, "closed_outcomes", None)
        if fast is not None:
            assert sorted(o.population or "" for o in fast(clinic_id=self.CLINIC)) == ["", "adolescent"]
        store.append(named(self.commit("ep-1", 1, 1), "adolescent"))
        (row,) = [r for r in store.caseload(clinic_id=self.CLINIC) if r.episode_id == "ep-1"]
        assert row.population == "adolescent"

    def test_practice_outcomes_read_each_episode_against_its_population(self, store: Store) -> None:
        """Through the facade: a child's ORS intake is read against the child cutoff (32), an adult's against
        the adult one (25), each at its cutoff on both sides; an intake of 30, between them, is clinical for
        the child only. Each episode has a clinician of its own, so each is counted on its own."""
        practice = self.practice(store)
        cases = [  # (population, intake, clinical); each improves by 6 points (the reliable change is 5)
            ("child", 31.9, True),
            ("child", 32.0, False),
            ("child", 30.0, True),
            (None, 30.0, False),
            (None, 24.9, True),
            (None, 25.0, False),
        ]
        for i, (population, intake, _) in enumerate(cases):
            closed_ors_episode(practice, self.actor(actor_id=f"clin-{i}"), population, (intake, intake + 6))
        supervisor = Actor("sup-1", Role.SUPERVISOR, self.CLINIC, Purpose.TREATMENT)
        rows = practice.caseload(supervisor, include_closed=True)
        assert sorted((r.clinician_id, r.population) for r in rows) == [
            (f"clin-{i}", population) for i, (population, _, _) in enumerate(cases)
        ]
        outcomes = practice_outcomes(practice, supervisor)
        groups = {group.key: group for group in outcomes.by_clinician}
        for i, (population, intake, clinical) in enumerate(cases):
            assert groups[f"clin-{i}"].recovery == (Rate(1, 1) if clinical else Rate(0, 0)), (
                population,
                intake,
            )
            assert groups[f"clin-{i}"].reliable_improvement == Rate(1, 1)

    def test_caseload_filters_and_order(self, store: Store) -> None:
        other = self._other(store)
        scoped = other is not store
        a_rows = {
            "ep-a3": self.commit("ep-a3", 0, 1, clinician_id="clin-1"),
            "ep-a1": self.commit("ep-a1", 0, 2, clinician_id="clin-2"),
            "ep-a2": self.commit("ep-a2", 0, 1, clinician_id="clin-1", closed_on=_DAY),
            "ep-a0": self.commit("ep-a0", 0, 3, clinician_id="clin-1"),
        }
        b_rows = {
            "ep-b1": self.commit("ep-b1", 0, 1, clinic_id=self.OTHER_CLINIC, clinician_id="clin-1"),
            "ep-b0": self.commit(
                "ep-b0", 0, 1, clinic_id=self.OTHER_CLINIC, clinician_id="clin-9", closed_on=_DAY
            ),
        }
        for c in a_rows.values():
            store.append(c)
        for c in b_rows.values():
            other.append(c)

        def ids(rows: Sequence[CaseloadRow]) -> list[str]:
            return [r.episode_id for r in rows]

        assert ids(store.caseload(clinic_id=self.CLINIC)) == ["ep-a0", "ep-a1", "ep-a3"]
        assert ids(store.caseload(clinic_id=self.CLINIC, open_only=False)) == [
            "ep-a0",
            "ep-a1",
            "ep-a2",
            "ep-a3",
        ]
        assert ids(store.caseload(clinic_id=self.CLINIC, clinician_id="clin-1")) == ["ep-a0", "ep-a3"]
        assert ids(store.caseload(clinic_id=self.CLINIC, clinician_id="clin-1", open_only=False)) == [
            "ep-a0",
            "ep-a2",
            "ep-a3",
        ]
        assert ids(store.caseload(clinic_id=self.CLINIC, clinician_id="nobody")) == []
        assert ids(other.caseload(clinic_id=self.OTHER_CLINIC, open_only=False)) == ["ep-b0", "ep-b1"]
        assert ids(other.caseload(clinic_id=self.OTHER_CLINIC)) == ["ep-b1"]
        # A clinic-scoped store names its clinic (whole-store reads give another clinic nothing); others none.
        assert getattr(store, "clinic_scope", None) == (self.CLINIC if scoped else None)
        if scoped:
            assert getattr(other, "clinic_scope", None) == self.OTHER_CLINIC
            # A clinic-scoped store sees its own clinic only, whatever it is asked.
            assert ids(store.caseload(clinic_id=self.OTHER_CLINIC, open_only=False)) == []
            assert ids(store.caseload(open_only=False)) == ["ep-a0", "ep-a1", "ep-a2", "ep-a3"]
            assert ids(store.caseload(clinician_id="clin-1")) == ["ep-a0", "ep-a3"]
            assert list(store.episode_ids()) == ["ep-a0", "ep-a1", "ep-a2", "ep-a3"]
            assert list(other.episode_ids()) == ["ep-b0", "ep-b1"]
        else:
            assert ids(store.caseload(open_only=False)) == [
                "ep-a0",
                "ep-a1",
                "ep-a2",
                "ep-a3",
                "ep-b0",
                "ep-b1",
            ]
            assert ids(store.caseload(clinician_id="clin-1")) == ["ep-a0", "ep-a3", "ep-b1"]
        for row in store.caseload(clinic_id=self.CLINIC, open_only=False):
            assert _row_value(row) == _row_value(a_rows[row.episode_id].caseload)
        # The row follows the episode: a later commit replaces it.
        store.append(self.commit("ep-a0", 3, 1, clinician_id="clin-2", closed_on=_DAY + timedelta(days=9)))
        assert ids(store.caseload(clinic_id=self.CLINIC, clinician_id="clin-2")) == ["ep-a1"]
        [row] = [r for r in store.caseload(clinic_id=self.CLINIC, open_only=False) if r.episode_id == "ep-a0"]
        assert (row.version, row.clinician_id, row.closed_on) == (4, "clin-2", _DAY + timedelta(days=9))

    def test_caseload_through_the_facade(self, store: Store) -> None:
        practice = self.practice(store)
        alice, bob = self.actor(actor_id="clin-alice"), self.actor(actor_id="clin-bob")
        supervisor = Actor("sup-1", Role.SUPERVISOR, self.CLINIC)
        ep_a = self.active_episode(practice, alice, "client-a")
        ep_b = self.active_episode(practice, bob, "client-b")
        assert {r.episode_id for r in practice.caseload(supervisor)} == {ep_a, ep_b}
        assert [r.episode_id for r in practice.caseload(supervisor, clinician_id="clin-bob")] == [ep_b]
        [row] = practice.caseload(alice, clinician_id="clin-alice")
        assert (row.stage, row.client_ref, row.clinic_id) == ("active", "client-a", self.CLINIC)
        practice.record_session(alice, ep_a, _session(1))
        [row] = practice.caseload(alice, clinician_id="clin-alice")
        assert (row.sessions_attended, row.last_session_on) == (1, _DAY + timedelta(days=1))

    def test_episode_ids_in_order(self, store: Store) -> None:
        assert list(store.episode_ids()) == []
        for ep in ("ep-m", "ep-a", "ep-z", "ep-b"):
            store.append(self.commit(ep, 0, 1))
        store.append(self.commit("ep-a", 1, 1))
        assert list(store.episode_ids()) == ["ep-a", "ep-b", "ep-m", "ep-z"]

    # ------------------------------------------------------------------------------------ audit

    def test_audit_rows_in_the_order_written(self, store: Store) -> None:
        practice = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(practice, actor)
        rows = store.audit_records()
        writes = ["start-episode", "record-consultation", "decide-fit", "agree-goals"]
        assert [r.action for r in rows if r.action in writes] == writes
        assert {(r.actor_id, r.clinic_id, r.record_id, r.outcome) for r in rows} == {
            (actor.id, self.CLINIC, ep, "allowed")
        }
        extra = [
            AuditRecord(
                f"read-{i}",
                _T0 + timedelta(seconds=i),
                actor.id,
                "clinician",
                self.CLINIC,
                "treatment",
                "read-episode",
                "episode",
                ep,
                "allowed" if i % 2 else "denied",
            )
            for i in range(3)
        ]
        store.append_audit(extra)
        store.append(self.commit("ep-x", 0, 1))
        after = store.audit_records()
        assert set(rows) <= set(after)
        # Within a shard (all of these went to shard 0), entries are listed in the order written.
        added = [r for r in after if r not in rows]
        assert [_audit_value(r) for r in added] == [
            _audit_value(r) for r in (*extra, *self.commit("ep-x", 0, 1).audit)
        ]
        # The store chains every row it writes, per shard (positions 1..n, each hash over the one before),
        # and lists each shard's rows in position order (all rows in the order written, where it can).
        for shard in {r.shard for r in after}:
            positions = [r.position for r in after if r.shard == shard]
            assert positions == sorted(positions)
        assert _shard_chains_problem(after) is None
        last = {(r.chain, r.shard): ShardHead(r.shard, r.position, r.hash, r.chain) for r in after}
        assert store.audit_heads() == [last[s] for s in sorted(last)]

    def test_audit_heads_name_their_chains(self, store: Store) -> None:
        """Each head names the chain it heads (``ShardHead.chain``, its entries' ``AuditRecord.chain``):
        in a store chaining per clinic, each clinic's own and the chain of calls made without an actor;
        in a clinic-scoped store, the scope's only. A checkpoint's heads read back name its chain."""
        other = self._other(store)
        practice = self.practice(store, audit_key=SEAL_KEY)
        theirs = practice if other is store else self.practice(other, audit_key=SEAL_KEY)
        self.active_episode(practice, self.actor())
        self.active_episode(theirs, self.actor(self.OTHER_CLINIC), client_ref="client-b")
        per_clinic = getattr(store, "audit_chains_per_clinic", False)
        if per_clinic:  # the chain of calls made without an actor (a clinic-scoped store has none)
            with pytest.raises(MissingActor):
                practice.caseload(None)  # type: ignore[arg-type]
        for s in {id(store): store, id(other): other}.values():
            entries = s.audit_records()
            last = {(r.chain, r.shard): ShardHead(r.shard, r.position, r.hash, r.chain) for r in entries}
            assert s.audit_heads() == [last[k] for k in sorted(last)]
        if per_clinic:
            assert {h.chain for h in store.audit_heads()} == {self.CLINIC, self.OTHER_CLINIC, NO_CLINIC}
            for clinic in (self.CLINIC, self.OTHER_CLINIC):
                assert all(r.chain == r.clinic_id == clinic for r in entries if r.chain == clinic)
        admin = Actor("admin-1", Role.ADMINISTRATOR, self.CLINIC)
        sealed = practice.audit_checkpoint(admin)
        assert sealed is not None
        [read] = [c for c in store.audit_checkpoints() if c.chain == sealed.chain and c.seq == sealed.seq]
        assert read == sealed
        assert {h.chain for h in read.heads} == {sealed.chain}
        assert list(read.heads) == [h for h in store.audit_heads() if h.chain == sealed.chain]

    def test_audit_records_read_by_chain_and_clinic(self, store: Store) -> None:
        """A store chaining per clinic reads the entries of some chains and some clinics only
        (``chains=``, ``clinics=``), in the order it lists them all: what an auditor's listing asks for."""
        if not getattr(store, "audit_chains_per_clinic", False):
            pytest.skip("this backend keeps one set of chains (optional)")
        store.append(self.commit("ep-1", 0, 1, shards=(3, 0)))
        store.append(self.commit("ep-b", 0, 1, clinic_id=self.OTHER_CLINIC))
        store.append_audit([attrs.evolve(self.commit("ep-x", 0).audit[0], clinic_id=NO_CLINIC, writes="")])
        every = store.audit_records()
        read: Any = store.audit_records  # chains= and clinics=: a store chaining per clinic
        for chains, clinics in [
            (None, (self.CLINIC, NO_CLINIC)),
            (("", self.CLINIC), None),
            (("", self.CLINIC, NO_CLINIC), (self.CLINIC, NO_CLINIC)),
            ((self.OTHER_CLINIC,), (self.CLINIC,)),
            ((), None),
        ]:
            expected = [
                r
                for r in every
                if (chains is None or r.chain in chains) and (clinics is None or r.clinic_id in clinics)
            ]
            assert read(chains=chains, clinics=clinics) == expected
        assert {r.clinic_id for r in read(clinics=(NO_CLINIC,))} == {NO_CLINIC}

    def test_audit_recipients_kept_and_hashed_when_named(self, store: Store) -> None:
        """An export's entry names its recipient (``AuditRecord.recipient``): it reads back as written, in
        a commit's entries and alone, and is hashed with the entry; an entry naming none hashes exactly as
        entries did before the field existed (:func:`alliancekit.integrity.chain.entry_hash`)."""
        commit = self.commit("ep-1", 0, 1)
        base = commit.audit[0]
        store.append(attrs.evolve(commit, audit=[attrs.evolve(base, recipient="hospital-x")]))
        store.append_audit(
            [
                attrs.evolve(base, entry_id="share-1", writes="", recipient="(unnamed)"),
                attrs.evolve(base, entry_id="read-1", writes=""),
                # not ASCII: a backend that hashes in SQL counts characters, as Python does
                attrs.evolve(base, entry_id="share-2", writes="", recipient="h\u00f4pital-\u00fc"),
            ]
        )
        rows = store.audit_records()
        assert {r.entry_id: r.recipient for r in rows} == {
            base.entry_id: "hospital-x",
            "share-1": "(unnamed)",
            "read-1": "",
            "share-2": "h\u00f4pital-\u00fc",
        }
        assert _shard_chains_problem(rows) is None
        for r in rows:
            unnamed = chain.entry_hash(attrs.evolve(r, recipient=""), r.position, r.prev_hash)
            assert (unnamed == r.hash) is (r.recipient == "")
        stream = getattr(store, "iter_audit_records", None)
        if stream is not None:
            assert {r.entry_id: r.recipient for r in stream()} == {r.entry_id: r.recipient for r in rows}

    def test_audit_entries_streamed_by_shard_then_position(self, store: Store) -> None:
        stream = getattr(store, "iter_audit_records", None)
        if stream is None:
            pytest.skip("this backend does not stream its audit entries (optional)")
        assert list(stream()) == []
        store.append(self.commit("ep-1", 0, 1, shards=(3, 0, 3)))
        store.append(self.commit("ep-2", 0, 1, shards=(0,)))
        rows = store.audit_records()
        # verification walks them in this order, once: a chain out of it is a finding
        assert list(stream()) == sorted(rows, key=lambda r: (r.shard, r.position))

    def test_audit_entries_of_one_commit_in_several_shards(self, store: Store) -> None:
        assert store.audit_heads() == []
        store.append(self.commit("ep-1", 0, 1, shards=(3, 0, 3)))
        store.append_audit(
            [
                attrs.evolve(self.commit("ep-1", 0).audit[0], entry_id=f"read-{i}", shard=s, writes="")
                for i, s in enumerate((chain.AUDIT_SHARDS - 1, 3))
            ]
        )
        rows = store.audit_records()
        assert [(r.shard, r.position) for r in rows] == [
            (0, 1),
            (3, 1),
            (3, 2),
            (3, 3),
            (chain.AUDIT_SHARDS - 1, 1),
        ]
        assert [r.entry_id for r in rows if r.shard == 3] == ["ep-1--a1-s3", "ep-1--a1-s3", "read-1"]
        assert rows[0].prev_hash == rows[1].prev_hash == chain.GENESIS
        assert rows[2].prev_hash == rows[1].hash
        assert _shard_chains_problem(rows) is None
        assert [h.shard for h in store.audit_heads()] == [0, 3, chain.AUDIT_SHARDS - 1]
        assert store.audit_heads()[1] == ShardHead(3, 3, rows[3].hash, rows[3].chain)

    def test_seal_reads_heads_and_writes_the_checkpoint(self, store: Store) -> None:
        key = b"k" * 32
        seen: list[tuple[list[ShardHead], AuditCheckpoint | None]] = []

        def make(heads: Sequence[ShardHead], previous: AuditCheckpoint | None) -> AuditCheckpoint | None:
            seen.append((list(heads), previous))
            return chain.make_checkpoint(key, heads, previous, _T0) if heads else None

        assert store.audit_checkpoints() == []
        assert store.seal(make) is None  # nothing to seal: make said so, nothing written
        assert seen == [([], None)] and store.audit_checkpoints() == []
        store.append(self.commit("ep-1", 0, 1, shards=(2,)))
        store.append_audit([attrs.evolve(self.commit("ep-1", 0).audit[0], entry_id="read-1", shard=7)])
        first = store.seal(make)
        assert first is not None and first.seq == 1
        heads, previous = seen[-1]
        assert heads == store.audit_heads() and previous is None
        assert [h.shard for h in first.heads] == [2, 7]
        second = store.seal(make)
        assert second is not None and second.seq == 2
        assert seen[-1][1] == first
        assert store.audit_checkpoints() == [first, second]
        assert second.mac == chain.seal_mac(key, 2, second.root, first.mac)

        def broken(heads: Sequence[ShardHead], previous: AuditCheckpoint | None) -> AuditCheckpoint | None:
            raise StoreError("the sealer failed")

        with pytest.raises(StoreError):
            store.seal(broken)
        assert store.audit_checkpoints() == [first, second]

    def test_snapshot_keeps_the_stream_head(self, store: Store) -> None:
        first = self.commit("ep-1", 0, 2)
        store.append(first)
        second = self.commit("ep-1", 2, 1, head=first.head)
        store.append(second)
        found = store.load_snapshot("ep-1")
        assert found is not None and (found.version, found.head) == (3, second.head)
        events = store.load_events("ep-1")
        assert [(e.prev_hash, e.hash) for e in events] == [
            (e.prev_hash, e.hash) for e in (*first.events, *second.events)
        ]
        assert events[2].prev_hash == events[1].hash == first.head

    # ------------------------------------------------------------------------------- read-only

    def test_a_read_only_store_reads_and_refuses_every_write(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2, key="k"))
        reader = self.open_read_only(store)
        if reader is None:
            pytest.skip("this backend cannot open a read-only store on the same database")
        self._track(reader)
        assert [e.seq for e in reader.load_events("ep-1")] == [1, 2]
        assert reader.load_snapshot("ep-1") == store.load_snapshot("ep-1")
        assert reader.audit_records() == store.audit_records()
        before = (store.audit_records(), store.audit_checkpoints(), store.outbox_records())
        writes: list[Callable[[], object]] = [
            lambda: reader.append(self.commit("ep-1", 2, 1)),
            lambda: reader.append(self.commit("ep-2", 0, 1)),
            lambda: reader.append_audit(store.audit_records()[:1]),
            lambda: reader.seal(lambda heads, prev: chain.make_checkpoint(b"k" * 32, heads, prev, _T0)),
            lambda: reader.replace_payloads([("ep-1", 1, "{}")]),
            lambda: reader.claim_outbox("o", ["email"], _T0 + timedelta(days=1), _T0 + timedelta(days=2), 5),
            lambda: reader.outbox_requeue("ep-1--m2", _T0),
            lambda: reader.save_meta("demo", '{"demo": true}'),
        ]
        for write in writes:
            with pytest.raises(StoreError):
                write()
        self.assert_unchanged(store, "ep-1", 2, len(before[0]))
        assert self.find(store, "k") == ("ep-1", 2)
        assert (store.audit_records(), store.audit_checkpoints(), store.outbox_records()) == before
        assert [_json(e.payload_json)["n"] for e in store.load_events("ep-1")] == [1, 2]
        assert store.load_meta("demo") is None

    def test_replace_payloads_rewrites_only_those(self, store: Store) -> None:
        if not hasattr(store, "replace_payloads"):
            pytest.skip("no payload rewriting in this alliancekit")
        store.append(self.commit("ep-1", 0, 3))
        store.append(self.commit("ep-2", 0, 1))
        store.replace_payloads(
            [("ep-1", 2, '{"n": 2, "rewritten": true}'), ("ep-2", 1, '{"n": 1, "x": "y"}')]
        )
        assert [_json(e.payload_json) for e in store.load_events("ep-1")] == [
            {"n": 1, "tag": ""},
            {"n": 2, "rewritten": True},
            {"n": 3, "tag": ""},
        ]
        assert [_json(e.payload_json) for e in store.load_events("ep-2")] == [{"n": 1, "x": "y"}]

    def test_replace_payloads_appends_the_rotation_s_entries_with_the_rewrite(self, store: Store) -> None:
        """A key rotation's attestations of the events it rehashed are appended, chained as
        ``append_audit`` chains entries, in the rewrite's transaction."""
        store.append(self.commit("ep-1", 0, 2))
        before = store.audit_records()
        entries = [
            AuditRecord(
                f"attest-{seq}", _T0, "adm-1", "administrator", self.CLINIC, "operations", "rotate-keys",
                "event", f"ep-1-e{seq}", "allowed", detail=f"{seq:064x}", shard=seq,
            )
            for seq in (1, 2)
        ]  # fmt: skip
        store.replace_payloads([("ep-1", 2, '{"n": 2, "rewritten": true}')], audit=entries)
        assert [_json(e.payload_json) for e in store.load_events("ep-1")] == [
            {"n": 1, "tag": ""},
            {"n": 2, "rewritten": True},
        ]
        after = store.audit_records()
        added = [r for r in after if r not in before]
        assert sorted(map(_audit_value, added), key=str) == sorted(map(_audit_value, entries), key=str)
        assert _shard_chains_problem(after) is None

    # ---------------------------------------------------------------------------- practice metadata

    def test_practice_metadata_round_trips_and_is_replaced(self, store: Store) -> None:
        assert store.load_meta("expectation-fit") is None
        value = '{"slopes":[-1.8204921640625003,0.1],"note":"\u00e9t\u00e9 \u2013 ok"}'
        store.save_meta("expectation-fit", value)
        store.save_meta("demo", '{"demo":true}')
        assert store.load_meta("expectation-fit") == value  # the same text: floats read back exactly
        store.save_meta("expectation-fit", "{}")
        assert (store.load_meta("expectation-fit"), store.load_meta("demo")) == ("{}", '{"demo":true}')
        assert store.load_meta("Demo") is None and store.load_meta("demo ") is None

    def test_practice_metadata_is_kept_per_clinic_in_a_clinic_scoped_store(self, store: Store) -> None:
        other = self._other(store)
        if other is store:
            pytest.skip("this backend holds the whole practice, not one clinic of it")
        store.save_meta("demo", '{"demo":true}')
        assert other.load_meta("demo") is None
        other.save_meta("demo", '{"demo":false}')
        assert (store.load_meta("demo"), other.load_meta("demo")) == ('{"demo":true}', '{"demo":false}')

    def test_practice_metadata_survives_opening_again(self, store: Store) -> None:
        store.save_meta("demo", '{"demo":true}')
        again = self.open_again(store)
        if again is None:
            pytest.skip("this backend cannot open a second store on the same database")
        self._track(again)
        assert again.load_meta("demo") == '{"demo":true}'
        again.save_meta("demo", "{}")
        assert store.load_meta("demo") == "{}"

    def test_the_expectation_fit_is_stored_and_read_by_a_practice_opened_later(self, store: Store) -> None:
        # Three closed PHQ-9 episodes from the same intake band: one fitted band, in use at 3 episodes.
        for n, (final, sessions) in enumerate([(10.0, 6), (12.0, 8), (7.0, 5)]):
            commit = self.commit(f"ep-{n}", 0, 1, closed_on=_DAY)
            row = attrs.evolve(
                commit.caseload,
                outcome_measure="phq-9",
                first_outcome=20.0,
                latest_outcome=final,
                outcome_sessions=sessions,
                ending_reason="goals-met",
            )
            store.append(attrs.evolve(commit, caseload=row))
        config = FeedbackConfig(min_episodes_per_band=3)
        admin = Actor("admin-1", Role.ADMINISTRATOR, self.CLINIC)
        first = self.practice(store, feedback=config)
        assert first.expectations.fit.fitted_at is None  # nothing stored yet: the norms
        fit = first.refit_expectations(admin)
        assert fit.fitted_at is not None and [b.episodes for b in fit.bands] == [3]
        assert [e.action for e in store.audit_records()][-1] == "refit-expectations"
        again = self.open_again(store)
        if again is None:
            pytest.skip("this backend cannot open a second store on the same database")
        later = self.practice(self._track(again), feedback=config)
        assert later.expectations.fit == fit  # the same curves, and when they were fitted
        measure = later.plugins.measures().get("phq-9")
        expected = later.expectations.expect(measure, 20.0, 6)
        assert expected is not None and expected.source == "fitted" and expected.episodes == 3
        assert expected == first.expectations.expect(measure, 20.0, 6)
        # Cut into other intake bins, the stored bands do not apply: the norms stand in until a refit.
        other = self.practice(
            self._track(self.open_again(store) or again), feedback=FeedbackConfig(intake_bins=4)
        )
        assert other.expectations.fit.fitted_at is None

    # ------------------------------------------------------------------------------- migrations

    def test_an_empty_database_is_usable_at_once(self) -> None:
        store = self._new_store()
        assert list(store.episode_ids()) == []
        assert store.caseload(open_only=False) == []
        assert store.audit_records() == []
        assert store.audit_heads() == [] and store.audit_checkpoints() == []
        assert self.find(store, "nothing") is None
        store.append(self.commit("ep-1", 0, 1, key="k"))
        assert self.find(store, "k") == ("ep-1", 1)

    def test_opening_again_keeps_the_data(self, store: Store) -> None:
        store.append(self.commit("ep-1", 0, 2, key="k"))
        again = self.open_again(store)
        if again is None:
            pytest.skip("this backend cannot open a second store on the same database")
        self._track(again)
        assert [e.seq for e in again.load_events("ep-1")] == [1, 2]
        assert self.find(again, "k") == ("ep-1", 2)
        again.append(self.commit("ep-1", 2, 1))
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2, 3]
        third = self._track(self.open_again(again) or again)
        assert list(third.episode_ids()) == ["ep-1"]

    # ------------------------------------------------------------------------------ concurrency

    def test_concurrent_writers_on_one_episode_lose_nothing(self, store: Store) -> None:
        setup = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(setup, actor)
        base = setup.episode(actor, ep).version
        writers, each = self.concurrent_writers, self.commands_per_writer
        retries = [0] * writers
        errors: list[BaseException] = []
        barrier = threading.Barrier(writers)

        def write(w: int) -> None:
            practice = self.practice(store, conflict_retries=0)
            try:
                barrier.wait()
                for i in range(each):
                    retries[w] += _retry_on_conflict(
                        functools.partial(
                            practice.record_session, actor, ep, _session(1, helpful=f"w{w}-c{i}")
                        )
                    )
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        _run_threads(write, writers)
        assert not errors, errors
        events = store.load_events(ep)
        # Exactly one session per command; the rules may add alert events on the way (a review falls due).
        assert all(e.type == "session-recorded" or e.type.startswith("alert-") for e in events[base:])
        sessions = [_json(e.payload_json) for e in events if e.type == "session-recorded"]
        assert len(sessions) == writers * each
        assert sorted(s["number"] for s in sessions) == list(range(1, writers * each + 1))
        tags = sorted(s["session"]["helpful"] for s in sessions)
        assert tags == sorted(f"w{w}-c{i}" for w in range(writers) for i in range(each))
        state = self.practice(store).episode(actor, ep)
        assert state.version == len(events) and state.sessions_attended == writers * each
        assert _shard_chains_problem(store.audit_records()) is None, "concurrent writers forked a shard"

    def test_concurrent_same_key_submissions_apply_once(self, store: Store) -> None:
        setup = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(setup, actor)
        before = setup.episode(actor, ep).version
        n = self.same_key_submissions
        results: list[Any] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(n)

        def submit(_: int) -> None:
            practice = self.practice(store, conflict_retries=50)
            try:
                barrier.wait()
                results.append(practice.record_session(actor, ep, _session(1), idempotency_key="once"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        _run_threads(submit, n)
        assert not errors, errors[:3]
        assert len(results) == n
        assert sum(not r.duplicate for r in results) == 1
        assert {(r.episode_id, r.version, r.record_id) for r in results} == {
            (ep, before + 1, results[0].record_id)
        }
        events = store.load_events(ep)
        assert len(events) == before + 1 and events[-1].type == "session-recorded"

    def test_concurrent_same_key_episode_starts_open_one_episode(self, store: Store) -> None:
        actor = self.actor()
        n = min(self.same_key_submissions, 200)
        ids: list[str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(n)

        def submit(_: int) -> None:
            practice = self.practice(store)
            try:
                barrier.wait()
                ids.append(
                    practice.start_episode(
                        actor,
                        client_ref="c",
                        clinician_id="clin-1",
                        opened_on=_DAY,
                        idempotency_key="start-once",
                    )
                )
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        _run_threads(submit, n)
        assert not errors, errors[:3]
        assert len(set(ids)) == 1 and len(ids) == n
        assert list(store.episode_ids()) == ids[:1]
        assert len(store.load_events(ids[0])) == 1

    # -------------------------------------------------------------------------------- sealing races

    #: Rounds of the sealing-race tests (threads, processes), and commands per writer per round.
    seal_thread_rounds: ClassVar[int] = 20
    seal_process_rounds: ClassVar[int] = 20
    seal_processes: ClassVar[int] = 6

    def _verify(self, store: Store) -> Any:
        checker = self.practice(store, audit_key=SEAL_KEY)
        return checker.verify_audit(Actor("auditor", Role.ADMINISTRATOR, self.CLINIC))

    def test_a_tamper_in_one_clinics_audit_does_not_fail_another_clinics_verify(self, store: Store) -> None:
        """Two clinics on one database (through :meth:`store_for_clinic`): each clinic's audit entries are
        in chains, and under checkpoints, of its own, so an entry of the other clinic changed behind the
        store's back breaks the other clinic's report (its audit chain, named by position) and leaves this
        clinic's report whole, naming nothing of the other clinic."""
        other = self._other(store)
        ours = self.practice(store, audit_key=SEAL_KEY, checkpoint_every=3)
        theirs = ours if other is store else self.practice(other, audit_key=SEAL_KEY, checkpoint_every=3)
        admins = {c: Actor(f"admin-{c}", Role.ADMINISTRATOR, c) for c in (self.CLINIC, self.OTHER_CLINIC)}
        self.active_episode(ours, self.actor())
        ep = self.active_episode(theirs, self.actor(self.OTHER_CLINIC), client_ref="client-b")
        for practice, clinic in ((ours, self.CLINIC), (theirs, self.OTHER_CLINIC)):
            assert practice.audit_checkpoint(admins[clinic]) is not None
            report = practice.verify(admins[clinic])
            assert (report.ok, report.shared_audit, report.seals_checked) == (True, False, True), (
                report.describe()
            )
        if not self.tamper_audit_entry(other, self.OTHER_CLINIC):
            pytest.skip("this backend cannot change a stored audit entry behind its own back")
        broken = theirs.verify(admins[self.OTHER_CLINIC])
        finding = broken.finding("audit")
        assert finding is not None, broken.describe()
        assert finding.where.startswith("audit shard ")
        report = ours.verify(admins[self.CLINIC])
        assert report.ok, report.describe()
        assert (report.episodes, report.shared_audit) == (1, False)
        text = json.dumps(report.as_dict()) + report.describe()
        assert self.OTHER_CLINIC not in text and ep not in text

    def test_concurrent_sealing_in_threads_keeps_the_record_verifiable(self, store: Store) -> None:
        """8 threads on one Practice with an audit key, sealing every 5 entries and on demand."""
        practice = self.practice(store, audit_key=SEAL_KEY, checkpoint_every=5)
        admin = Actor("admin-1", Role.ADMINISTRATOR, self.CLINIC)
        errors: list[BaseException] = []
        for round_ in range(self.seal_thread_rounds):
            barrier = threading.Barrier(self.concurrent_writers)

            def work(w: int, round_: int = round_, barrier: threading.Barrier = barrier) -> None:
                actor = self.actor(actor_id=f"clin-{w}")
                try:
                    barrier.wait()
                    ep = practice.start_episode(
                        actor, client_ref=f"c-{round_}-{w}", clinician_id=actor.id, opened_on=_DAY
                    )
                    practice.record_consultation(actor, ep, _consultation())
                    practice.episode(actor, ep)
                    practice.audit_checkpoint(admin)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            _run_threads(work, self.concurrent_writers)
            assert not errors, errors[:3]
            report = self._verify(store)
            assert report.ok, f"round {round_}: {report.describe()}"
        checkpoints = store.audit_checkpoints()
        assert [c.seq for c in checkpoints] == list(range(1, len(checkpoints) + 1))
        # every round sealed something; a sealer that finds nothing new since the last seal writes none
        assert len(checkpoints) >= self.seal_thread_rounds

    def test_concurrent_sealing_in_processes_keeps_the_record_verifiable(self, store: Store) -> None:
        """6 processes, each with its own Practice on one database, writing and sealing at once."""
        location = self.shared_location(store)
        if location is None:
            pytest.skip("this backend has no location other processes can open")
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        # the round starts when every worker has its practice open (a worker waiting there takes no
        # other job, so each round's jobs run in distinct workers)
        start = ctx.Barrier(self.seal_processes)
        with ctx.Pool(self.seal_processes, initializer=_keep_start, initargs=(start,)) as pool:
            for round_ in range(self.seal_process_rounds):
                jobs = [(location, self.CLINIC, round_, w) for w in range(self.seal_processes)]
                results = pool.map(_sealing_worker, jobs, chunksize=1)
                assert all(r == "ok" for r in results), results
                report = self._verify(store)
                assert report.ok, f"round {round_}: {report.describe()}"
        checkpoints = store.audit_checkpoints()
        assert [c.seq for c in checkpoints] == list(range(1, len(checkpoints) + 1))
        # every round sealed something; a sealer that finds nothing new since the last seal writes none
        assert len(checkpoints) >= self.seal_process_rounds


#: The seal key of the sealing-race tests.
SEAL_KEY = b"contract-seal-key-" + b"x" * 14


#: The sealing-race worker's start line (a ``multiprocessing`` barrier), set when its pool starts it.
_start: Any = None


def _keep_start(start: Any) -> None:
    global _start  # a pool worker's state, set once by its initializer
    _start = start


def _sealing_worker(job: tuple[str, str, int, int]) -> str:
    """One process of the sealing race: open a Practice, wait for the others at the start line, then
    write, read, seal, close (which seals again)."""
    location, clinic, round_, w = job
    practice = open_practice(location, plugins=builtin_plugins(), audit_key=SEAL_KEY, checkpoint_every=5)
    actor = Actor(f"clin-p{w}", Role.CLINICIAN, clinic)
    admin = Actor("admin-1", Role.ADMINISTRATOR, clinic)
    try:
        _start.wait(timeout=300)  # a worker that never came breaks the barrier: the round fails, not hangs
        ep = practice.start_episode(
            actor, client_ref=f"p-{round_}-{w}", clinician_id=actor.id, opened_on=_DAY
        )
        practice.record_consultation(actor, ep, _consultation())
        practice.episode(actor, ep)
        practice.audit_checkpoint(admin)
    finally:
        practice.close()
    return "ok"


# ------------------------------------------------------------------------------------------ scenario


def _consultation() -> Consultation:
    return Consultation(
        held_on=_DAY,
        modality=Modality.VIDEO,
        consent=Consent(treatment=True, measures=True, data_sharing=False),
        presenting_concerns=("trouble sleeping", "worry at work"),
        client_questions=("how long does therapy take?",),
    )


def closed_ors_episode(
    practice: Practice, actor: Actor, population: str | None, totals: Sequence[float]
) -> str:
    """An episode of ``actor``'s naming the norm ``population``, with one attended session per ORS total in
    ``totals`` (a week apart), closed with its goals met; its id."""
    ep = practice.start_episode(
        actor,
        client_ref=f"client-of-{actor.id}",
        clinician_id=actor.id,
        opened_on=_DAY,
        population=population,
    )
    practice.record_consultation(actor, ep, _consultation())
    practice.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, _DAY))
    practice.agree_goals(actor, ep, [GoalDraft("sleep through the night")], agreed_on=_DAY)
    for week, total in enumerate(totals):
        session = attrs.evolve(_session(1 + 7 * week), administrations=(_ors(total),))
        practice.record_session(actor, ep, session)
    ending = Ending(
        ended_on=_DAY + timedelta(days=7 * len(totals)), planned=False, reason=EndingReason.GOALS_MET
    )
    practice.close_episode(actor, ep, ending)
    return ep


def _ors(total: float) -> Administration:
    """ORS answers summing to ``total`` (four items 0-10, one decimal)."""
    item = round(total / 4, 1)
    answers: dict[str, float | None] = {"individually": item, "interpersonally": item, "socially": item}
    answers["overall"] = round(total - 3 * item, 1)
    return Administration("ors", "1.0", AdministrationTiming.START, answers)


def _session(day: int, *, attendance: Attendance = Attendance.ATTENDED, helpful: str = "") -> Session:
    return Session(
        held_on=_DAY + timedelta(days=day),
        modality=Modality.IN_PERSON,
        attendance=attendance,
        helpful=helpful,
        not_helpful="homework felt rushed",
    )


def _full_lifecycle(practice: Practice, actor: Actor) -> str:
    """One episode through every event type, built through the public facade."""
    ep = practice.start_episode(actor, client_ref="client-7", clinician_id=actor.id, opened_on=_DAY)
    practice.record_consultation(actor, ep, _consultation())
    practice.decide_fit(actor, ep, FitDecision(FitOutcome.PROCEED, _DAY, rationale="a good fit"))
    # a partner taking part, and a group the client joins: the events of several participants
    partner = Participant("client-8", ParticipantRole.PARTNER, Consent(treatment=True, measures=True))
    practice.add_participant(actor, ep, partner, added_on=_DAY)
    practice.join_group(actor, ep, group_id="group-1", facilitator_ids=(actor.id,), joined_on=_DAY)
    goals = practice.agree_goals(
        actor,
        ep,
        [GoalDraft("sleep better", ("sleep diary",)), GoalDraft("speak up at work", ())],
        agreed_on=_DAY,
    )
    practice.revise_goal(
        actor,
        ep,
        GoalRevision(
            goals[1], reason="more concrete", description="one meeting a week", status=GoalStatus.ACTIVE
        ),
        revised_on=_DAY,
    )
    practice.set_protocol(actor, ep, "fit", on=_DAY)
    practice.change_population(actor, ep, "adolescent", on=_DAY)
    practice.change_measures_consent(actor, ep, False, on=_DAY)  # withdrawn, then given again
    practice.change_measures_consent(actor, ep, True, on=_DAY)
    practice.change_measures_consent(actor, ep, False, on=_DAY, participant="client-8")  # the partner's
    practice.change_measures_consent(actor, ep, True, on=_DAY, participant="client-8")
    first = practice.record_session(actor, ep, _session(1, helpful="the diary"))
    assert first.record_id is not None
    practice.record_session(actor, ep, _session(2, attendance=Attendance.NO_SHOW))
    practice.record_session(actor, ep, _session(3, attendance=Attendance.NO_SHOW))  # raises an alert
    alert_id = next(iter(practice.alerts(actor, ep)))
    practice.acknowledge_alert(actor, ep, alert_id, on=_DAY + timedelta(days=3))
    practice.resolve_alert(actor, ep, alert_id, note="called the client", on=_DAY + timedelta(days=3))
    practice.correct_session(
        actor, ep, first.record_id, _session(1, helpful="the diary, mostly"), reason="typo"
    )
    practice.record_review(
        actor,
        ep,
        Review(
            held_on=_DAY + timedelta(days=3),
            decision=ReviewDecision.CONTINUE,
            progress_towards_goals="some",
            goal_progress=(GoalProgressNote(goals[0], GoalProgress.IMPROVING, "fewer bad nights"),),
        ),
    )
    rupture = practice.note_rupture(
        actor,
        ep,
        RuptureNote(
            noted_on=_DAY + timedelta(days=3),
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.MINIMAL_RESPONSE, RuptureMarker.TOPIC_SHIFT),
            likely_cause=RuptureCause.TASK_DISAGREEMENT,
            session_id=first.record_id,
            description="went quiet about homework",
        ),
    )
    assert rupture.record_id is not None
    practice.record_repair(
        actor,
        ep,
        rupture.record_id,
        RepairAttempt(
            attempted_on=_DAY + timedelta(days=4),
            strategies=(RepairStrategy.INVITE_CLIENT_VIEW,),
            resolved=True,
        ),
    )
    practice.record_process_note(actor, ep, written_on=_DAY + timedelta(days=4), text="my own reflections")
    practice.add_addendum(
        actor,
        ep,
        first.record_id,
        text="also mentioned sleep",
        reason="forgot",
        added_on=_DAY + timedelta(days=4),
    )
    session_event = next(e for e in practice.store.load_events(ep) if e.type == "session-recorded")
    client = Actor("client-7", Role.CLIENT, actor.clinic_id)
    practice.attach_disagreement(
        client,
        ep,
        session_event.event_id,
        statement="I said it differently",
        received_on=_DAY + timedelta(days=4),
    )
    lockbox = practice.set_lockbox(client, ep, scope="record", on=_DAY + timedelta(days=4))
    assert lockbox.record_id is not None
    practice.lift_lockbox(client, ep, lockbox.record_id, on=_DAY + timedelta(days=5))
    practice.put_on_hold(actor, ep, on=_DAY + timedelta(days=5), reason="travel")
    practice.resume(actor, ep, on=_DAY + timedelta(days=20))
    # The client fills a measure in through a request's link (and a revoked request beside it).
    revoked = practice.request_administration(actor, ep, measure="phq-9")
    practice.revoke_request(actor, ep, revoked.request_id)
    link = practice.request_administration(actor, ep, measure="phq-9", point="between")
    assert link.token is not None
    practice.submit_response(link.token, answers={f"q{i}": 1 for i in range(1, 10)})
    practice.transfer(actor, ep, to_clinician_id="clin-2", on=_DAY + timedelta(days=21), reason="caseload")
    actor = Actor("clin-2", actor.role, actor.clinic_id, actor.purpose)  # the clinician of record now
    # planned on the day the client's answers came in (the clock's today): not before the latest entry
    practice.plan_ending(actor, ep, on=_DAY + timedelta(days=40), target_date=_DAY + timedelta(days=40))
    practice.close_episode(
        actor,
        ep,
        Ending(
            ended_on=_DAY + timedelta(days=40),
            planned=True,
            reason=EndingReason.GOALS_MET,
            reflection="proud",
            maintenance_plan=MaintenancePlan(
                warning_signs=("late nights",),
                coping_strategies=("diary",),
                booster_sessions=(_DAY + timedelta(days=100),),
                return_plan="call us",
            ),
        ),
    )
    return ep


# ------------------------------------------------------------------------------------------- threads


def _retry_on_conflict(command: Callable[[], object], limit: int = 100_000) -> int:
    """Run ``command`` until it does not conflict (at most ``limit`` times); the number of retries."""
    for attempt in range(limit):
        try:
            command()
        except ConflictError:
            continue
        return attempt
    raise AssertionError(f"still conflicting after {limit} attempts")


def _run_threads(target: Callable[[int], None], count: int) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a writer thread hung"
