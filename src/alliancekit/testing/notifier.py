# ruff: noqa: S101 - assertions are what a contract suite is made of
"""The notifier contract: subclass :class:`NotifierContract` in a channel plugin's tests.

.. code-block:: python

    import pytest
    from alliancekit.testing.notifier import NotifierContract, NotifierUnderTest, Received

    class TestMyChannel(NotifierContract):
        @pytest.fixture
        def notifier(self, my_receiver) -> NotifierUnderTest:
            return NotifierUnderTest(
                channel=MyChannel(url=my_receiver.url),
                received=lambda: [Received(m.key, m.raw) for m in my_receiver.messages],
                broken=MyChannel(url="http://127.0.0.1:9"),   # or None
            )

``received`` reads back what really reached the receiver (a real local server, not a mock): each delivery's
idempotency key as the receiver saw it and the raw bytes it got. The suite checks that the channel has a
name, delivers a message carrying its idempotency key, kind and episode reference, keeps the key when the
same message is delivered again, gives distinct messages distinct keys, raises when it cannot deliver, and,
through a real practice and dispatcher, delivers every message once and none of the client's words.
The base class is not collected on its own (``__test__ = False``); subclasses are.

Also here, for hosts' tests: :class:`RecordingChannel` (keeps what it is given) and :class:`ChannelPlugin`
(registers channels through the real hook).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import (
    Actor,
    Attendance,
    Consent,
    Consultation,
    Ending,
    EndingReason,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Preferences,
    Role,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
    Session,
)
from alliancekit.notify.channels import Channel, ChannelRegistrar
from alliancekit.notify.dispatcher import DispatchPolicy
from alliancekit.notify.outbox import ALL_KINDS, Notification, Subscriptions
from alliancekit.plugins.hookspecs import hookimpl
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.memory import MemoryStore
from alliancekit.testing.suite import ContractSuite

__all__ = [
    "CANARY",
    "ChannelPlugin",
    "NotifierContract",
    "NotifierUnderTest",
    "Received",
    "RecordingChannel",
    "episode_with_notifications",
]

#: Put in every free-text field by :func:`episode_with_notifications`; must never reach a channel.
CANARY = "CANARY-client-words-7f3a9c"


@attrs.frozen
class Received:
    """One delivery as the receiver saw it."""

    idempotency_key: str
    content: bytes


@attrs.frozen
class NotifierUnderTest:
    """What a :class:`NotifierContract` subclass's ``notifier`` fixture returns: the channel to test and how
    to read what its receiver got."""

    channel: Channel
    received: Callable[[], list[Received]]
    broken: Channel | None = None
    """The same kind of channel pointed at nothing (deliver must raise), or ``None`` to skip that check."""


class RecordingChannel:
    """A channel that keeps every notification it is given (thread-safe)."""

    def __init__(self, name: str = "recording", kinds: Sequence[str] | None = None) -> None:
        self.name = name
        if kinds is not None:
            self.kinds = tuple(kinds)
        self.delivered: list[Notification] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecordingChannel({self.name!r})"

    def deliver(self, message: Notification) -> None:
        with self._lock:
            self.delivered.append(message)


class ChannelPlugin:
    """A plugin object registering the given channels through ``alliancekit_register_notifiers``."""

    def __init__(self, *channels: Any) -> None:
        self.channels = channels

    @hookimpl
    def alliancekit_register_notifiers(self, register: ChannelRegistrar) -> None:
        for channel in self.channels:
            register(channel)


def episode_with_notifications(practice: Any, actor: Actor, *, text: str = CANARY) -> str:
    """Walk one episode through facts that make notifications, with ``text`` in every free-text field.

    Makes a rupture note, a no-show session and a planned ending (kinds ``rupture-noted``,
    ``session-no-show``, ``episode-closed``); returns the episode id.
    """
    day = date(2026, 3, 2)
    ep: str = practice.start_episode(
        actor, client_ref="contract-client", clinician_id=actor.id, opened_on=day
    )
    practice.record_consultation(
        actor,
        ep,
        Consultation(
            held_on=day,
            modality=Modality.VIDEO,
            consent=Consent(treatment=True, measures=True),
            presenting_concerns=(text,),
            client_questions=(text,),
            preferences=Preferences(values_to_include=(text,), not_ready_topics=(text,)),
        ),
    )
    practice.decide_fit(actor, ep, FitDecision(outcome=FitOutcome.PROCEED, decided_on=day, rationale=text))
    practice.agree_goals(actor, ep, [GoalDraft(text, (text,))], agreed_on=day)
    session = practice.record_session(
        actor,
        ep,
        Session(
            held_on=day,
            modality=Modality.IN_PERSON,
            attendance=Attendance.ATTENDED,
            helpful=text,
            not_helpful=text,
        ),
    )
    practice.note_rupture(
        actor,
        ep,
        RuptureNote(
            noted_on=day,
            kind=RuptureKind.WITHDRAWAL,
            markers=(RuptureMarker.MINIMAL_RESPONSE,),
            likely_cause=RuptureCause.TRUST_IN_PROCESS,
            session_id=session.record_id,
            description=text,
            client_view=text,
        ),
    )
    practice.record_session(
        actor,
        ep,
        Session(held_on=day, modality=Modality.PHONE, attendance=Attendance.NO_SHOW, not_helpful=text),
    )
    practice.plan_ending(actor, ep, on=day)
    practice.close_episode(
        actor,
        ep,
        Ending(
            ended_on=day,
            planned=True,
            reason=EndingReason.GOALS_MET,
            reflection=text,
            no_plan_reason=text,
        ),
    )
    return ep


def _sample(message_id: str = "0123456789abcdef0123456789abcdef", channel: str = "x") -> Notification:
    return Notification(
        message_id=message_id,
        kind="alert-raised",
        channel=channel,
        episode_id="episode-contract-1",
        clinic_id="clinic-contract",
        clinician_id="clin-contract",
        occurred_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
        attempt=1,
        alert_id="alert-1",
        rule_id="alliance-below-cutoff",
        severity="amber",
    )


class NotifierContract(ContractSuite):
    """Checks every notification channel must pass. Provide the ``notifier`` fixture in the subclass."""

    __test__ = False

    #: seconds a broken channel may take to raise (its own timeouts should be shorter)
    failure_time_limit: ClassVar[float] = 20.0

    @pytest.fixture
    def notifier(self) -> NotifierUnderTest:  # pragma: no cover - the subclass provides it
        raise NotImplementedError("subclasses provide the notifier fixture")

    def _keys(self, notifier: NotifierUnderTest, key: str) -> list[Received]:
        return [r for r in notifier.received() if r.idempotency_key == key]

    def test_is_a_channel_with_a_name(self, notifier: NotifierUnderTest) -> None:
        assert isinstance(notifier.channel, Channel)
        assert isinstance(notifier.channel.name, str)
        assert notifier.channel.name.strip()

    def test_delivers_with_the_idempotency_key_kind_and_reference(self, notifier: NotifierUnderTest) -> None:
        message = _sample(channel=notifier.channel.name)
        notifier.channel.deliver(message)
        (got,) = self._keys(notifier, message.idempotency_key)
        assert message.kind.encode() in got.content
        assert message.episode_id.encode() in got.content

    def test_same_message_again_keeps_its_key(self, notifier: NotifierUnderTest) -> None:
        message = _sample("11111111111111111111111111111111", notifier.channel.name)
        notifier.channel.deliver(message)
        notifier.channel.deliver(attrs.evolve(message, attempt=2))
        assert len(self._keys(notifier, message.idempotency_key)) == 2

    def test_distinct_messages_have_distinct_keys(self, notifier: NotifierUnderTest) -> None:
        before = {r.idempotency_key for r in notifier.received()}
        for i in range(3):
            notifier.channel.deliver(_sample(f"{i:032x}", notifier.channel.name))
        after = {r.idempotency_key for r in notifier.received()}
        assert after - before == {f"{i:032x}" for i in range(3)}

    def test_raises_when_it_cannot_deliver(self, notifier: NotifierUnderTest) -> None:
        if notifier.broken is None:
            pytest.skip("no broken channel supplied")
        outcome: list[BaseException | None] = []

        def attempt() -> None:
            try:
                notifier.broken.deliver(_sample(channel=notifier.broken.name))  # type: ignore[union-attr]
            except Exception as exc:  # noqa: BLE001 - any exception is the expected failure signal
                outcome.append(exc)
            else:
                outcome.append(None)

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(self.failure_time_limit)
        assert not worker.is_alive(), f"deliver did not return within {self.failure_time_limit} s"
        assert outcome, "deliver neither returned nor raised"
        assert isinstance(outcome[0], Exception), "deliver to nowhere returned without raising"

    def test_through_the_dispatcher_once_each_and_no_client_words(self, notifier: NotifierUnderTest) -> None:
        host = make_plugin_host(load_entry_points=False, extra_plugins=[ChannelPlugin(notifier.channel)])
        practice = open_practice(
            MemoryStore(),
            plugins=host,
            subscriptions=Subscriptions.of({notifier.channel.name: ALL_KINDS}),
            dispatch_policy=DispatchPolicy(call_timeout=self.failure_time_limit),
        )
        actor = Actor("clin-contract", Role.CLINICIAN, "clinic-contract")
        before = {r.idempotency_key for r in notifier.received()}
        episode_with_notifications(practice, actor)
        written = practice.store.outbox_records()
        assert {m.kind for m in written} == {"rupture-noted", "session-no-show", "episode-closed"}
        summary = practice.dispatch_pending()
        assert (summary.delivered, summary.failed, summary.dead) == (len(written), 0, 0)
        new = [r for r in notifier.received() if r.idempotency_key not in before]
        assert sorted(r.idempotency_key for r in new) == sorted(m.message_id for m in written)
        for r in new:
            assert CANARY.encode() not in r.content
