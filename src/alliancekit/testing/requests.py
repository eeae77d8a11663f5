# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The administration-request part of the store contract: subclass :class:`RequestStoreContract`.

.. code-block:: python

    import pytest
    from alliancekit.testing.requests import RequestStoreContract

    class TestMyStoreRequests(RequestStoreContract):
        @pytest.fixture
        def request_store(self):               # a new, empty store acting for CLINIC
            store = MyStore(...)
            yield store
            store.close()

        @pytest.fixture
        def request_store_twin(self, request_store):   # optional: a second handle on the same data
            return MyStore(...same database...)          # (other connections, as another process)

It checks what the request flows of :class:`~alliancekit.Practice` rely on, through the facade on the store:
a request row written with its commit (and only hashes of its secrets), a token used exactly once even when
two submissions race, refusals at the exact expiry instant and after a revocation that write one audit entry
and nothing else, the reminder settled unsent when the request is used, a kiosk code found without a write and
redeemed once and only in its clinic, and the failed-attempt counter shared by every handle on the store.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from alliancekit.domain import Actor, Consent, Consultation, FitDecision, GoalDraft, Role
from alliancekit.errors import InvalidToken
from alliancekit.notify.outbox import Subscriptions
from alliancekit.practice import Practice
from alliancekit.requests import RequestConfig
from alliancekit.requests.tokens import code_hash, token_hash
from alliancekit.store.protocol import OutboxState, RequestStore, Store
from alliancekit.testing.suite import ContractSuite, builtin_plugins

__all__ = ["CLINIC", "RequestStoreContract"]

#: The clinic every request of the suite belongs to (a clinic-scoped store acts for it).
CLINIC = "clinic-requests"
T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
_DAY = date(2026, 5, 4)
_ANSWERS = {f"q{i}": 1 for i in range(1, 10)} | {"q9": 0}


class Clock:
    """A clock the test moves by hand (no sleeping, no timing)."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RequestStoreContract(ContractSuite):
    """Administration-request behaviour every store must have. Provide ``request_store`` (and its twin)."""

    __test__ = False

    @pytest.fixture
    def request_store(self) -> Store:  # pragma: no cover - the subclass provides it
        raise NotImplementedError("subclasses provide the request_store fixture")

    @pytest.fixture
    def request_store_twin(self, request_store: Store) -> Store:
        """A second handle on the same data; the same object unless the subclass says otherwise."""
        return request_store

    # -- helpers ------------------------------------------------------------------------------------------

    clinician = Actor("clin-req", Role.CLINICIAN, CLINIC)

    def practice(self, store: Store, clock: Clock | None = None) -> Practice:
        return Practice(
            store,
            plugins=builtin_plugins(),
            clock=clock or Clock(),
            requests=RequestConfig(link_template="https://clinic.example/m/{token}"),
            subscriptions=Subscriptions.of(
                {"client-sms": ["administration-request", "administration-reminder"]}
            ),
        )

    def episode(self, practice: Practice) -> str:
        me = self.clinician
        ep = practice.start_episode(me, client_ref="client-req", clinician_id=me.id, opened_on=_DAY)
        consent = Consent(treatment=True, measures=True)
        practice.record_consultation(me, ep, Consultation(held_on=_DAY, modality="video", consent=consent))
        practice.decide_fit(me, ep, FitDecision("proceed", _DAY))
        practice.agree_goals(me, ep, [GoalDraft("sleep better", ())], agreed_on=_DAY)
        return ep

    @staticmethod
    def written(practice: Practice, ep: str) -> tuple[int, int]:
        """What a refusal must leave as it was: the stream and the outbox."""
        store = practice.store
        return (len(store.load_events(ep)), len(store.outbox_records()))

    @classmethod
    @contextlib.contextmanager
    def refused(cls, practice: Practice, ep: str) -> Iterator[None]:
        """The block raises :class:`~alliancekit.errors.InvalidToken`, leaves :meth:`written` as it was and
        audits one ``refused`` entry naming the request in its clinic (a failed access attempt)."""
        before, audited = cls.written(practice, ep), set(practice.store.audit_records())
        with pytest.raises(InvalidToken):
            yield
        assert cls.written(practice, ep) == before
        (entry,) = [r for r in practice.store.audit_records() if r not in audited]
        assert (entry.clinic_id, entry.record_type, entry.outcome, entry.client_ref) == (
            CLINIC,
            "request",
            "refused",
            "",
        )

    # -- the request row ----------------------------------------------------------------------------------

    def test_the_store_keeps_administration_requests(self, request_store: Store) -> None:
        assert isinstance(request_store, RequestStore)

    def test_a_request_row_is_written_with_its_commit_and_keeps_only_hashes(
        self, request_store: Store
    ) -> None:
        p = self.practice(request_store)
        ep = self.episode(p)
        made = p.request_administration(self.clinician, ep, measure="phq-9", point="end")
        assert made.token is not None
        assert isinstance(request_store, RequestStore)
        row = request_store.find_request(token_hash(made.token))
        assert row is not None
        assert row == request_store.get_request(CLINIC, made.request_id)
        assert (row.episode_id, row.measure_id, row.version, row.point) == (ep, "phq-9", "1.0", "end")
        assert (row.created_at, row.expires_at) == (T0, T0 + timedelta(days=4))
        assert row.remind_at == T0 + timedelta(days=2)
        assert (row.used_at, row.revoked_at, row.code_hash) == (None, None, None)
        assert made.token not in repr(row)
        assert request_store.find_request(token_hash(made.token + "x")) is None
        assert request_store.get_request("another-clinic", made.request_id) is None

    def test_request_records_list_the_requests_made(self, request_store: Store) -> None:
        """``request_records()`` (what verification's requests check reads) lists every administration
        request as stored, by clinic and id: none on a fresh store, then links and kiosk codes alike, each
        as :meth:`get_request` finds it after it was revoked or used."""
        assert isinstance(request_store, RequestStore)
        listed = request_store.request_records  # type: ignore[attr-defined]
        assert listed() == []
        p = self.practice(request_store)
        ep = self.episode(p)
        link = p.request_administration(self.clinician, ep, measure="phq-9")
        kiosk = p.kiosk_code(self.clinician, ep, measure="phq-9")
        revoked = p.request_administration(self.clinician, ep, measure="phq-9")
        p.revoke_request(self.clinician, ep, revoked.request_id)
        assert link.token is not None
        p.submit_response(link.token, answers=_ANSWERS)
        ids = sorted([link.request_id, kiosk.request_id, revoked.request_id])
        rows = listed()
        assert rows == [request_store.get_request(CLINIC, i) for i in ids]
        by_id = {r.request_id: r for r in rows}
        assert (by_id[link.request_id].used_at, by_id[revoked.request_id].revoked_at) == (T0, T0)
        assert by_id[kiosk.request_id].code_hash is not None
        assert {(r.clinic_id, r.episode_id) for r in rows} == {(CLINIC, ep)}

    # -- using a token ------------------------------------------------------------------------------------

    def test_a_token_is_used_once_and_its_reminder_is_not_sent(self, request_store: Store) -> None:
        p = self.practice(request_store)
        ep = self.episode(p)
        made = p.request_administration(self.clinician, ep, measure="phq-9")
        assert made.token is not None
        p.submit_response(made.token, answers=_ANSWERS)
        with self.refused(p, ep):
            p.submit_response(made.token, answers=_ANSWERS)
        kinds = {(m.kind, m.state, m.last_error) for m in p.outbox_records()}
        assert kinds == {
            ("administration-request", OutboxState.PENDING, None),
            ("administration-reminder", OutboxState.DELIVERED, "cancelled"),
        }
        row = request_store.get_request(CLINIC, made.request_id)  # type: ignore[attr-defined]
        assert row.used_at == T0

    @pytest.mark.parametrize(("after", "usable"), [(timedelta(microseconds=-1), True), (timedelta(0), False)])
    def test_a_token_expires_at_the_exact_instant(
        self, request_store: Store, after: timedelta, usable: bool
    ) -> None:
        clock = Clock()
        p = self.practice(request_store, clock)
        ep = self.episode(p)
        made = p.request_administration(self.clinician, ep, measure="phq-9", expires_in=timedelta(hours=1))
        assert made.token is not None
        clock.now = made.expires_at + after
        if usable:
            assert p.submit_response(made.token, answers=_ANSWERS).total == 8
            return
        with self.refused(p, ep):
            p.submit_response(made.token, answers=_ANSWERS)

    def test_the_store_refuses_a_consume_after_expiry_even_when_the_flow_saw_it_live(
        self, request_store: Store
    ) -> None:
        # The flow checks first; the store's conditional write is the guard (a request expiring between the
        # check and the commit).
        clock = Clock()
        p = self.practice(request_store, clock)
        ep = self.episode(p)
        made = p.request_administration(self.clinician, ep, measure="phq-9", expires_in=timedelta(hours=1))
        assert made.token is not None
        ticks = iter([made.expires_at - timedelta(microseconds=1)])
        clock_calls: Callable[[], datetime] = lambda: next(ticks, made.expires_at)  # noqa: E731
        p2 = Practice(request_store, plugins=builtin_plugins(), clock=clock_calls)
        with self.refused(p, ep):
            p2.submit_response(made.token, answers=_ANSWERS)

    def test_a_revoked_token_is_refused(self, request_store: Store) -> None:
        p = self.practice(request_store)
        ep = self.episode(p)
        made = p.request_administration(self.clinician, ep, measure="phq-9")
        assert made.token is not None
        p.revoke_request(self.clinician, ep, made.request_id)
        with self.refused(p, ep):
            p.submit_response(made.token, answers=_ANSWERS)
        reminders = [m for m in p.outbox_records() if m.kind == "administration-reminder"]
        assert [(m.state, m.last_error) for m in reminders] == [(OutboxState.DELIVERED, "cancelled")]

    def test_two_submissions_of_one_token_at_once_write_one_administration(
        self, request_store: Store, request_store_twin: Store
    ) -> None:
        setup = self.practice(request_store)
        ep = self.episode(setup)
        made = setup.request_administration(self.clinician, ep, measure="phq-9")
        token = made.token
        assert token is not None
        # Two practices (on two handles of the store, where the backend has them), as two tabs reaching two
        # workers: both see the request live, both decide, the store lets one commit consume it.
        practices = [self.practice(request_store), self.practice(request_store_twin)]
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        lock = threading.Lock()

        def submit(i: int) -> None:
            barrier.wait()
            try:
                practices[i].submit_response(token, answers=_ANSWERS)
                outcome = "recorded"
            except InvalidToken:
                outcome = "refused"
            with lock:
                outcomes.append(outcome)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["recorded", "refused"]
        responses = [e for e in request_store.load_events(ep) if e.type == "client-response-recorded"]
        assert len(responses) == 1

    # -- kiosk codes --------------------------------------------------------------------------------------

    def test_a_kiosk_code_is_redeemed_once_in_its_clinic_on_its_day(self, request_store: Store) -> None:
        clock = Clock()
        p = self.practice(request_store, clock)
        ep = self.episode(p)
        kiosk = p.kiosk_code(self.clinician, ep, measure="phq-9")
        assert isinstance(request_store, RequestStore)
        # Another clinic's code of the same letters is another code.
        assert (
            request_store.redeem_code("another-clinic", code_hash("another-clinic", kiosk.code), "t0", T0)
            is None
        )
        found = request_store.redeem_code(CLINIC, code_hash(CLINIC, kiosk.code), token_hash("t" * 43), T0)
        assert found is not None
        assert found.token_hash == token_hash("t" * 43)
        assert (
            request_store.redeem_code(CLINIC, code_hash(CLINIC, kiosk.code), token_hash("u" * 43), T0) is None
        )
        # and a fresh code expires at the clinic's midnight
        other = p.kiosk_code(self.clinician, ep, measure="phq-9")
        at = other.expires_at
        assert (
            request_store.redeem_code(CLINIC, code_hash(CLINIC, other.code), token_hash("v" * 43), at) is None
        )

    def test_a_kiosk_code_is_found_as_it_would_be_redeemed_writing_nothing(
        self, request_store: Store
    ) -> None:
        """``find_code`` finds what ``redeem_code`` would take, in its clinic, until the instant it expires,
        and changes nothing: the code is found again, and redeemed after."""
        p = self.practice(request_store)
        ep = self.episode(p)
        kiosk = p.kiosk_code(self.clinician, ep, measure="phq-9")
        assert isinstance(request_store, RequestStore)
        hashed, end = code_hash(CLINIC, kiosk.code), kiosk.expires_at
        assert request_store.find_code("another-clinic", code_hash("another-clinic", kiosk.code), T0) is None
        assert request_store.find_code(CLINIC, code_hash(CLINIC, "no-code"), T0) is None
        found = request_store.find_code(CLINIC, hashed, end - timedelta(microseconds=1))
        assert found is not None
        assert (found.request_id, found.episode_id, found.token_hash) == (kiosk.request_id, ep, None)
        assert request_store.find_code(CLINIC, hashed, end) is None  # expired at the instant
        assert request_store.get_request(CLINIC, kiosk.request_id) == found  # nothing written
        assert request_store.find_code(CLINIC, hashed, T0) == found
        assert request_store.redeem_code(CLINIC, hashed, token_hash("t" * 43), T0) is not None
        assert request_store.find_code(CLINIC, hashed, T0) is None  # redeemed
        revoked = p.kiosk_code(self.clinician, ep, measure="phq-9")
        p.revoke_request(self.clinician, ep, revoked.request_id)
        assert request_store.find_code(CLINIC, code_hash(CLINIC, revoked.code), T0) is None

    def test_failed_kiosk_attempts_are_counted_per_clinic_source_and_window(
        self, request_store: Store, request_store_twin: Store
    ) -> None:
        assert isinstance(request_store, RequestStore)
        assert isinstance(request_store_twin, RequestStore)
        assert request_store.failures(CLINIC, "tablet-1", T0) == 0
        assert request_store.count_failure(CLINIC, "tablet-1", T0) == 1
        assert request_store_twin.count_failure(CLINIC, "tablet-1", T0) == 2
        assert request_store.failures(CLINIC, "tablet-1", T0) == 2
        assert request_store.failures(CLINIC, "tablet-2", T0) == 0
        assert request_store.failures(CLINIC, "tablet-1", T0 + timedelta(minutes=15)) == 0
