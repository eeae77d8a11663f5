# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The outbox part of the store contract: subclass :class:`OutboxStoreContract` in a store plugin's tests.

.. code-block:: python

    import pytest
    from alliancekit.testing.outbox import OutboxStoreContract

    class TestMyStoreOutbox(OutboxStoreContract):
        @pytest.fixture
        def outbox_store(self):               # a new, empty store
            store = MyStore(...)
            yield store
            store.close()

        @pytest.fixture
        def outbox_store_twin(self, outbox_store):   # optional: a second handle on the same data
            return MyStore(...same database...)        # (another connection pool, as another process)

It checks what :mod:`alliancekit.notify.dispatcher` relies on: messages written by ``append`` with the
commit (and not when the commit fails), due times, leases that one dispatcher holds at a time and that run
out, delivered / failed / dead transitions and who may make them, requeueing dead messages, the counts and
when the first pending message is due, that concurrent claims never hand one message to two owners, that a
clock stepped back holds no message due at once, no back-off longer than its delay (while a time of a
message's own is kept) and no lease longer than its length (kept by its holder, and settled once after
another dispatcher takes it over), and paging through the messages. The base class is not collected on its
own (``__test__ = False``); subclasses are.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest

from alliancekit.errors import ConflictError
from alliancekit.store.protocol import (
    CaseloadRow,
    Commit,
    OutboxRecord,
    OutboxState,
    Store,
    StoredEvent,
)
from alliancekit.testing.suite import ContractSuite

__all__ = ["OutboxStoreContract", "commit_with_outbox"]

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def commit_with_outbox(
    episode_id: str,
    expected: int,
    messages: Sequence[tuple[str, str, datetime]],
    *,
    clinic_id: str = "clinic-outbox",
    due: Mapping[str, datetime] | None = None,
) -> Commit:
    """A one-event commit to ``episode_id`` carrying outbox messages ``(message_id, channel, created_at)``,
    each due at once unless ``due`` gives it a time of its own (as a reminder has)."""
    seq = expected + 1
    event = StoredEvent(
        episode_id=episode_id,
        seq=seq,
        event_id=f"{episode_id}-e{seq}",
        type="episode-opened" if seq == 1 else "session-recorded",
        schema_version=1,
        occurred_at=T0,
        recorded_at=T0,
        actor_id="clin-outbox",
        actor_role="clinician",
        clinic_id=clinic_id,
        payload_json="{}",
    )
    row = CaseloadRow(
        episode_id=episode_id,
        clinic_id=clinic_id,
        clinician_id="clin-outbox",
        client_ref="ref-outbox",
        stage="therapy",
        version=seq,
        opened_on=date(2026, 4, 1),
        last_session_on=None,
        sessions_attended=0,
        latest_scores_json="{}",
        open_alerts=0,
        next_review_at=None,
        review_due=False,
        closed_on=None,
    )
    outbox = [
        OutboxRecord(
            message_id=mid,
            episode_id=episode_id,
            kind="session-no-show",
            channel=channel,
            body_json=json.dumps({"message_id": mid, "kind": "session-no-show", "episode_id": episode_id}),
            created_at=created,
            next_attempt_at=(due or {}).get(mid),
        )
        for mid, channel, created in messages
    ]
    snapshot = json.dumps({"episode_id": episode_id, "version": seq})
    return Commit(episode_id, expected, [event], snapshot, row, outbox)


class OutboxStoreContract(ContractSuite):
    """Outbox behaviour every store must have. Provide ``outbox_store`` (and optionally its twin)."""

    __test__ = False

    @pytest.fixture
    def outbox_store(self) -> Store:  # pragma: no cover - the subclass provides it
        raise NotImplementedError("subclasses provide the outbox_store fixture")

    @pytest.fixture
    def outbox_store_twin(self, outbox_store: Store) -> Store:
        """A second handle on the same data; the same object unless the subclass says otherwise."""
        return outbox_store

    def _seed(self, store: Store, count: int = 3, channel: str = "email") -> list[str]:
        ids = [f"m{i:03d}" for i in range(count)]
        store.append(commit_with_outbox("ep-outbox", 0, [(m, channel, _at(i)) for i, m in enumerate(ids)]))
        return ids

    def test_messages_are_written_with_the_commit_pending_and_due(self, outbox_store: Store) -> None:
        ids = self._seed(outbox_store)
        records = outbox_store.outbox_records()
        assert [r.message_id for r in records] == ids
        for i, r in enumerate(records):
            assert (r.state, r.attempts, r.last_error, r.lease_owner) == (OutboxState.PENDING, 0, None, None)
            assert r.created_at == _at(i)
            assert r.next_attempt_at == _at(i)
        status = outbox_store.outbox_status()
        assert (status.pending, status.delivered, status.dead, status.oldest_pending_at) == (3, 0, 0, _at(0))

    def test_status_tells_when_the_first_pending_message_is_due(self, outbox_store: Store) -> None:
        # a reminder is written first and due last: the status dates the pending messages by their due
        # times (next_due_at), and keeps when the oldest was written (oldest_pending_at)
        outbox_store.append(
            commit_with_outbox(
                "ep-outbox",
                0,
                [("remind", "email", _at(0)), ("now", "email", _at(5))],
                due={"remind": _at(500)},
            )
        )
        status = outbox_store.outbox_status()
        assert (status.pending, status.oldest_pending_at, status.next_due_at) == (2, _at(0), _at(5))
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        assert outbox_store.outbox_delivered("A", ["now"], _at(6)) == 1
        status = outbox_store.outbox_status()
        assert (status.pending, status.oldest_pending_at, status.next_due_at) == (1, _at(0), _at(500))
        outbox_store.claim_outbox("A", ["email"], _at(500), _at(530), 10)
        assert outbox_store.outbox_failed("A", "remind", error="x", next_attempt_at=_at(560), at=_at(501))
        assert outbox_store.outbox_status().next_due_at == _at(560)  # a failure is due again after its delay
        outbox_store.claim_outbox("A", ["email"], _at(560), _at(590), 10)
        assert outbox_store.outbox_dead("A", "remind", error="x", at=_at(561))
        status = outbox_store.outbox_status()
        assert (status.pending, status.dead, status.oldest_pending_at, status.next_due_at) == (
            0,
            1,
            None,
            None,
        )

    def test_a_refused_commit_writes_no_message(self, outbox_store: Store) -> None:
        self._seed(outbox_store)
        with pytest.raises(ConflictError):
            outbox_store.append(commit_with_outbox("ep-outbox", 0, [("late", "email", T0)]))
        assert [r.message_id for r in outbox_store.outbox_records()] == ["m000", "m001", "m002"]

    def test_claim_takes_due_messages_of_the_channels_oldest_first(self, outbox_store: Store) -> None:
        ids = ["m000", "m001", "m002"]  # written earlier, each due at a time of its own
        due = {m: _at(i) for i, m in enumerate(ids)}
        outbox_store.append(
            commit_with_outbox("ep-outbox", 0, [(m, "email", _at(-10)) for m in ids], due=due)
        )
        outbox_store.append(commit_with_outbox("ep-other", 0, [("p000", "pager", _at(0))]))
        assert outbox_store.claim_outbox("A", ["email"], _at(-1), _at(60), 10) == []
        first = outbox_store.claim_outbox("A", ["email"], _at(1), _at(60), 10)
        assert [r.message_id for r in first] == ["m000", "m001"]
        assert {(r.lease_owner, r.lease_expires_at) for r in first} == {("A", _at(60))}
        assert [
            r.message_id for r in outbox_store.claim_outbox("A", ["email", "pager"], _at(5), _at(60), 1)
        ] == ["p000"]
        assert outbox_store.claim_outbox("A", [], _at(5), _at(60), 10) == []

    def test_a_lease_is_exclusive_until_it_runs_out(
        self, outbox_store: Store, outbox_store_twin: Store
    ) -> None:
        self._seed(outbox_store, 2)
        held = outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        assert len(held) == 2
        assert outbox_store_twin.claim_outbox("B", ["email"], _at(29), _at(60), 10) == []
        taken = outbox_store_twin.claim_outbox("B", ["email"], _at(30), _at(60), 10)
        assert {r.message_id for r in taken} == {"m000", "m001"}
        assert {r.lease_owner for r in taken} == {"B"}

    def test_delivered_applies_once_whoever_holds_the_lease(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 2)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        outbox_store.claim_outbox("B", ["email"], _at(31), _at(60), 10)
        assert outbox_store.outbox_delivered("A", ["m000"], _at(32)) == 1  # late, but it was delivered
        assert outbox_store.outbox_delivered("B", ["m000", "m001", "nope"], _at(33)) == 1
        assert outbox_store.outbox_delivered("B", [], _at(33)) == 0
        for r in outbox_store.outbox_records(OutboxState.DELIVERED):
            assert (r.attempts, r.lease_owner, r.lease_expires_at) == (1, None, None)
        assert outbox_store.claim_outbox("C", ["email"], _at(1000), _at(2000), 10) == []
        assert outbox_store.outbox_status().delivered == 2

    def test_failed_only_by_the_lease_holder_and_due_again_later(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        assert (
            outbox_store.outbox_failed("B", "m000", error="OSError", next_attempt_at=_at(100), at=_at(6))
            is False
        )
        assert (
            outbox_store.outbox_failed("A", "m000", error="OSError", next_attempt_at=_at(100), at=_at(6))
            is True
        )
        (r,) = outbox_store.outbox_records()
        assert (r.state, r.attempts, r.last_error, r.next_attempt_at) == (
            OutboxState.PENDING,
            1,
            "OSError",
            _at(100),
        )
        assert (r.lease_owner, r.lease_expires_at) == (None, None)
        assert outbox_store.claim_outbox("A", ["email"], _at(99), _at(200), 10) == []
        again = outbox_store.claim_outbox("A", ["email"], _at(100), _at(200), 10)
        assert [(x.message_id, x.attempts) for x in again] == [("m000", 1)]
        assert outbox_store.outbox_failed("A", "nope", error="x", next_attempt_at=_at(1), at=_at(1)) is False

    def test_dead_only_by_the_lease_holder_and_never_claimed(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 2)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        assert outbox_store.outbox_dead("B", "m000", error="timeout", at=_at(6)) is False
        assert outbox_store.outbox_dead("A", "m000", error="timeout", at=_at(6)) is True
        assert outbox_store.outbox_dead("A", "m000", error="timeout", at=_at(6)) is False
        (dead,) = outbox_store.outbox_records(OutboxState.DEAD)
        assert (dead.message_id, dead.attempts, dead.last_error) == ("m000", 1, "timeout")
        status = outbox_store.outbox_status()
        assert (status.pending, status.dead, status.oldest_pending_at) == (1, 1, _at(1))
        assert [r.message_id for r in outbox_store.claim_outbox("C", ["email"], _at(999), _at(2000), 10)] == [
            "m001"
        ]

    def test_requeue_puts_only_dead_messages_back(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 2)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(30), 10)
        outbox_store.outbox_dead("A", "m000", error="timeout", at=_at(6))
        outbox_store.outbox_delivered("A", ["m001"], _at(6))
        assert outbox_store.outbox_requeue("m001", _at(50)) is False
        assert outbox_store.outbox_requeue("nope", _at(50)) is False
        assert outbox_store.outbox_requeue("m000", _at(50)) is True
        assert outbox_store.outbox_requeue("m000", _at(50)) is False
        (r,) = outbox_store.outbox_records(OutboxState.PENDING)
        assert (r.message_id, r.attempts, r.last_error, r.next_attempt_at) == ("m000", 0, None, _at(50))
        assert [x.message_id for x in outbox_store.claim_outbox("A", ["email"], _at(50), _at(90), 10)] == [
            "m000"
        ]

    # -- a clock stepped back (claims at an earlier reading than the writes) --------------------------------

    def test_a_message_due_at_once_is_claimable_at_once_after_the_clock_went_back(
        self, outbox_store: Store
    ) -> None:
        self._seed(outbox_store, 2)  # due at _at(0) and _at(1), their creation
        tick = timedelta(microseconds=1)
        first = outbox_store.claim_outbox("A", ["email"], _at(0) - tick, _at(30), 1)
        assert [r.message_id for r in first] == ["m000"]  # one microsecond before its stamp
        second = outbox_store.claim_outbox("A", ["email"], _at(-3600), _at(-3570), 10)
        assert [r.message_id for r in second] == ["m001"]  # an hour before it

    def test_a_message_due_at_once_is_claimable_when_the_clock_reads_its_stamp(
        self, outbox_store: Store
    ) -> None:
        self._seed(outbox_store, 1)
        assert [r.message_id for r in outbox_store.claim_outbox("A", ["email"], _at(0), _at(30), 10)] == [
            "m000"
        ]

    def test_a_time_of_its_own_is_kept_after_the_clock_went_back(self, outbox_store: Store) -> None:
        outbox_store.append(
            commit_with_outbox("ep-outbox", 0, [("r000", "email", _at(0))], due={"r000": _at(100)})
        )
        tick = timedelta(microseconds=1)
        assert outbox_store.claim_outbox("A", ["email"], _at(-3600), _at(-3570), 10) == []
        assert outbox_store.claim_outbox("A", ["email"], _at(100) - tick, _at(130), 10) == []
        assert [r.message_id for r in outbox_store.claim_outbox("A", ["email"], _at(100), _at(130), 10)] == [
            "r000"
        ]

    def test_a_back_off_waits_its_delay_from_a_claim_after_the_clock_went_back(
        self, outbox_store: Store
    ) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        outbox_store.outbox_failed("A", "m000", error="OSError", next_attempt_at=_at(35), at=_at(5))  # 30 s
        tick = timedelta(microseconds=1)
        # An hour back: the 30 seconds begin again at this claim, not at the failure's stamp.
        assert outbox_store.claim_outbox("A", ["email"], _at(-3600), _at(-3570), 10) == []
        assert outbox_store.claim_outbox("A", ["email"], _at(-3570) - tick, _at(-3540), 10) == []
        again = outbox_store.claim_outbox("A", ["email"], _at(-3570), _at(-3540), 10)
        assert [(r.message_id, r.attempts, r.next_attempt_at) for r in again] == [("m000", 1, _at(-3570))]

    def test_a_back_off_with_the_clock_going_forward_waits_until_its_time(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        outbox_store.outbox_failed("A", "m000", error="OSError", next_attempt_at=_at(35), at=_at(5))
        tick = timedelta(microseconds=1)
        assert (
            outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10) == []
        )  # the failure's own reading
        assert outbox_store.claim_outbox("A", ["email"], _at(35) - tick, _at(65), 10) == []
        assert [r.message_id for r in outbox_store.claim_outbox("A", ["email"], _at(35), _at(65), 10)] == [
            "m000"
        ]

    def test_a_requeued_message_is_claimable_at_once_after_the_clock_went_back(
        self, outbox_store: Store
    ) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        outbox_store.outbox_dead("A", "m000", error="Refused", at=_at(6))
        assert outbox_store.outbox_requeue("m000", _at(50)) is True
        taken = outbox_store.claim_outbox("A", ["email"], _at(50) - timedelta(microseconds=1), _at(80), 10)
        assert [(r.message_id, r.attempts) for r in taken] == [("m000", 0)]

    # -- a lease held when the clock stepped back ----------------------------------------------------------

    def test_a_lease_that_began_after_now_runs_its_length_from_now(
        self, outbox_store: Store, outbox_store_twin: Store
    ) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)  # 30 seconds; then A dies
        tick = timedelta(microseconds=1)
        # An hour back: A's lease begins again at this claim, for its 30 seconds, not the hour as well.
        assert outbox_store_twin.claim_outbox("B", ["email"], _at(-3600), _at(-3570), 10) == []
        (held,) = outbox_store.outbox_records()
        assert (held.lease_owner, held.lease_expires_at) == ("A", _at(-3570))
        assert outbox_store_twin.claim_outbox("B", ["email"], _at(-3570) - tick, _at(-3540), 10) == []
        taken = outbox_store_twin.claim_outbox("B", ["email"], _at(-3570), _at(-3540), 10)
        assert [(r.message_id, r.lease_owner, r.lease_expires_at) for r in taken] == [
            ("m000", "B", _at(-3540))
        ]

    def test_a_lease_begins_again_only_when_it_began_after_now(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 2)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        tick = timedelta(microseconds=1)
        assert outbox_store.claim_outbox("B", ["email"], _at(5), _at(65), 10) == []  # the lease's own start
        assert {r.lease_expires_at for r in outbox_store.outbox_records()} == {_at(35)}
        assert outbox_store.claim_outbox("B", ["email"], _at(5) - tick, _at(65), 10) == []  # 1 us after now
        assert {r.lease_expires_at for r in outbox_store.outbox_records()} == {_at(35) - tick}
        assert outbox_store.claim_outbox("B", ["email"], _at(35) - 2 * tick, _at(65), 10) == []
        taken = outbox_store.claim_outbox("B", ["email"], _at(35) - tick, _at(65), 10)
        assert {(r.message_id, r.lease_owner) for r in taken} == {("m000", "B"), ("m001", "B")}

    def test_a_lease_begun_again_keeps_its_holder_who_alone_records_a_failure(
        self, outbox_store: Store
    ) -> None:
        self._seed(outbox_store, 1)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        assert outbox_store.claim_outbox("B", ["email"], _at(-3600), _at(-3570), 10) == []
        again, at = _at(-3540), _at(-3599)
        assert outbox_store.outbox_failed("B", "m000", error="OSError", next_attempt_at=again, at=at) is False
        assert outbox_store.outbox_dead("B", "m000", error="OSError", at=at) is False
        assert outbox_store.outbox_failed("A", "m000", error="OSError", next_attempt_at=again, at=at) is True
        (r,) = outbox_store.outbox_records()
        assert (r.attempts, r.lease_owner, r.lease_expires_at) == (1, None, None)
        assert r.next_attempt_at == _at(-3540)

    def test_a_dispatcher_whose_lease_was_taken_over_after_the_step_settles_nothing_twice(
        self, outbox_store: Store, outbox_store_twin: Store
    ) -> None:
        self._seed(outbox_store, 2)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)  # A is slow, not dead
        assert outbox_store_twin.claim_outbox("B", ["email"], _at(-3600), _at(-3570), 10) == []
        assert len(outbox_store_twin.claim_outbox("B", ["email"], _at(-3570), _at(-3540), 10)) == 2
        # A's results arrive after B took over: its failure is not recorded over B's lease, its delivery is
        # (once); B's delivery of the same message then changes nothing.
        assert (
            outbox_store.outbox_failed("A", "m001", error="OSError", next_attempt_at=_at(60), at=_at(6))
            is False
        )
        assert outbox_store.outbox_dead("A", "m001", error="OSError", at=_at(6)) is False
        assert outbox_store.outbox_delivered("A", ["m000"], _at(6)) == 1
        assert outbox_store.outbox_delivered("A", ["m000"], _at(7)) == 0
        assert outbox_store_twin.outbox_delivered("B", ["m000", "m001"], _at(-3569)) == 1
        records = outbox_store.outbox_records()
        assert [(r.message_id, r.state, r.attempts, r.lease_owner) for r in records] == [
            ("m000", OutboxState.DELIVERED, 1, None),
            ("m001", OutboxState.DELIVERED, 1, None),
        ]
        assert outbox_store.claim_outbox("C", ["email"], _at(-3000), _at(-2970), 10) == []

    # -- listing -------------------------------------------------------------------------------------------

    def test_records_page_after_a_message_in_their_order(self, outbox_store: Store) -> None:
        ids = self._seed(outbox_store, 5)
        assert [r.message_id for r in outbox_store.outbox_records(limit=2)] == ids[:2]
        assert [r.message_id for r in outbox_store.outbox_records(limit=2, after=ids[1])] == ids[2:4]
        assert [r.message_id for r in outbox_store.outbox_records(limit=2, after=ids[3])] == ids[4:]
        assert outbox_store.outbox_records(limit=2, after=ids[4]) == []
        assert outbox_store.outbox_records(limit=2, after="nope") == []

    def test_a_page_of_one_state_starts_after_a_message_no_longer_in_it(self, outbox_store: Store) -> None:
        ids = self._seed(outbox_store, 4)
        outbox_store.claim_outbox("A", ["email"], _at(5), _at(35), 10)
        for message_id in ids:
            outbox_store.outbox_dead("A", message_id, error="Refused", at=_at(6))
        assert outbox_store.outbox_requeue(ids[1], _at(7)) is True  # m001 pending again, in its place
        page = outbox_store.outbox_records(OutboxState.DEAD, limit=10, after=ids[1])
        assert [r.message_id for r in page] == ids[2:]
        assert [
            r.message_id for r in outbox_store.outbox_records(OutboxState.DEAD, limit=1, after=ids[0])
        ] == [ids[2]]

    def test_records_filter_and_limit(self, outbox_store: Store) -> None:
        self._seed(outbox_store, 5)
        assert len(outbox_store.outbox_records(limit=2)) == 2
        assert outbox_store.outbox_records(OutboxState.DEAD) == []
        assert len(outbox_store.outbox_records(OutboxState.PENDING)) == 5

    def test_concurrent_claims_never_share_a_message(
        self, outbox_store: Store, outbox_store_twin: Store
    ) -> None:
        ids = [f"c{i:03d}" for i in range(60)]
        for n, chunk in enumerate(ids[i : i + 10] for i in range(0, 60, 10)):
            outbox_store.append(commit_with_outbox(f"ep-c{n}", 0, [(m, "email", T0) for m in chunk]))
        claimed: dict[str, list[str]] = {}
        errors: list[BaseException] = []

        def worker(store: Store, owner: str) -> None:
            try:
                while batch := store.claim_outbox(owner, ["email"], _at(1), _at(600), 3):
                    claimed.setdefault(owner, []).extend(r.message_id for r in batch)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=(outbox_store if i % 2 else outbox_store_twin, f"w{i}"))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        every = [m for got in claimed.values() for m in got]
        assert sorted(every) == ids
