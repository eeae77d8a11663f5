"""The batch path (``Practice.batch``): boundaries of ``size``, refusals at the call, failures at commit,
idempotency within and across batches, acknowledgement. Run on memory and an SQLite file (the PostgreSQL
plugin runs the contract suite's batch tests)."""

from __future__ import annotations

import contextlib
import gc
import inspect
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Recorded, open_practice
from alliancekit.batch import FACADE_ONLY, Batch
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import Actor
from alliancekit.errors import (
    AccessDenied,
    BatchClosed,
    ConflictError,
    DuplicateCommand,
    IdempotencyKeyReused,
    LifecycleError,
    NotFoundError,
    PracticeClosed,
    StoreError,
    ValidationError,
)
from alliancekit.practice import Practice
from alliancekit.store.sqlite import SQLiteStore

from .conftest import (
    CANARY,
    DAY0,
    attended,
    clinician,
    consultation,
    counter_ids,
    day,
    fixed_clock,
    goals,
    ors,
    proceed,
    srs,
)


def _episode(target: Any, actor: Actor, client: str) -> str:
    """Four commands: open, consult, proceed, agree goals."""
    ep: str = target.start_episode(actor, client_ref=client, clinician_id=actor.id, opened_on=DAY0)
    target.record_consultation(actor, ep, consultation(day(0)))
    target.decide_fit(actor, ep, proceed(day(1)))
    target.agree_goals(actor, ep, goals(1), agreed_on=day(2))
    return ep


def _writes(practice: Practice) -> int:
    return sum(len(practice.store.load_events(ep)) for ep in practice.store.episode_ids())


def test_a_batch_has_every_command_of_the_table_as_the_facade_has_it() -> None:
    for name in set(COMMANDS) - FACADE_ONLY:
        assert getattr(Batch, name) is getattr(Practice, name), name
    commands = {n for n, f in vars(Batch).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert commands - {"flush", "episode", "alerts"} == set(COMMANDS) - FACADE_ONLY
    assert set(COMMANDS) > FACADE_ONLY


def test_the_embedding_guide_names_each_command_a_batch_lacks(source_root: Path) -> None:
    """The guide said a batch had "the same command methods as Practice"; a host calling
    ``batch.kiosk_code`` met an ``AttributeError``. Each facade command a batch lacks is named there."""
    guide = (source_root / "docs" / "guides" / "embedding.md").read_text(encoding="utf-8")
    section = guide.split("## Many commands at once: the batch path", 1)[1].split("\n## ", 1)[0]
    commands = {*COMMANDS, "record_group_session"}
    lacking = {name for name in commands if not hasattr(Batch, name)}
    assert lacking == FACADE_ONLY | {"record_group_session"}
    assert sorted(name for name in lacking if f"`{name}`" not in section) == []


@pytest.mark.parametrize(
    ("commands", "commits"), [(4, [4]), (5, [5]), (6, [5, 1]), (10, [5, 5]), (11, [5, 5, 1])]
)
def test_one_transaction_per_size_commands(
    practice: Practice, actor: Actor, commands: int, commits: list[int]
) -> None:
    size = 5
    acknowledged: list[list[Any]] = []
    with practice.batch(size=size, on_commit=acknowledged.append) as batch:
        ep = _episode(batch, actor, "client-1")
        for n in range(commands - 4):
            batch.record_session(actor, ep, attended(day(3 + n), ors(practice), srs(practice)))
        # What has been acknowledged is durable; the rest is held, not written.
        assert _writes(practice) >= sum(len(a) for a in acknowledged)
        assert batch.pending == commands % size
    assert [len(a) for a in acknowledged] == commits
    assert acknowledged[0][0] == ep
    last = acknowledged[-1][-1]
    assert practice.episode(actor, ep).version == (last.version if commands > 4 else 4)


def test_acknowledged_results_are_what_the_calls_returned_in_order(practice: Practice, actor: Actor) -> None:
    returned: list[Any] = []
    acknowledged: list[Any] = []
    with practice.batch(size=3, on_commit=acknowledged.extend) as batch:
        returned.append(
            ep := batch.start_episode(actor, client_ref="c", clinician_id=actor.id, opened_on=DAY0)
        )
        returned.append(batch.record_consultation(actor, ep, consultation(day(0))))
        returned.append(batch.decide_fit(actor, ep, proceed(day(1))))
        returned.append(batch.agree_goals(actor, ep, goals(2), agreed_on=day(2)))
        returned.append(batch.record_session(actor, ep, attended(day(3), ors(practice))))
    assert acknowledged == returned
    assert returned[-1].version == practice.episode(actor, ep).version
    assert returned[-1].record_id


def test_a_refused_command_mid_batch_raises_at_the_call_and_holds_nothing(
    practice: Practice, actor: Actor
) -> None:
    with practice.batch(size=100) as batch:
        ep = _episode(batch, actor, "client-1")
        with pytest.raises(NotFoundError):
            batch.agree_goals(actor, "no-such-episode", goals(1), agreed_on=day(2))
        with pytest.raises(ValidationError) as bad:
            batch.record_session(actor, ep, "not a session")  # type: ignore[arg-type]
        assert CANARY not in str(bad.value)
        with pytest.raises(AccessDenied):
            batch.record_session(clinician(ident="someone-else"), ep, attended(day(3)))
        with pytest.raises(LifecycleError):
            batch.decide_fit(actor, ep, proceed(day(1)))  # already decided within this batch
        assert batch.pending == 4
        recorded = batch.record_session(actor, ep, attended(day(3), ors(practice)))
    assert practice.episode(actor, ep).version == recorded.version
    assert [e.type for e in practice.store.load_events(ep)][4] == "session-recorded"


class _FailingSQLite(SQLiteStore):
    fail = False

    def append_batch(self, commits: Any) -> None:
        if self.fail:  # the real store, a real transaction: a trigger-free failure inside it

            def work(conn: Any) -> None:
                from alliancekit.store.sqlite import _write_commit

                for commit in commits:
                    _write_commit(conn, commit)
                conn.execute("SELECT * FROM no_such_table")

            self._write(work)
        super().append_batch(commits)


def test_a_store_failure_at_commit_writes_nothing_of_the_batch(tmp_path: Path, actor: Actor) -> None:
    store = _FailingSQLite(tmp_path / "p.sqlite")
    acknowledged: list[Any] = []
    with contextlib.closing(store), open_practice(store, ids=counter_ids(), clock=fixed_clock()) as practice:
        with practice.batch(size=100, on_commit=acknowledged.append) as batch:
            kept = _episode(batch, actor, "client-kept")
        audit_before = len(store.audit_records())
        store.fail = True
        with pytest.raises(StoreError), practice.batch(size=100, on_commit=acknowledged.append) as batch:  # noqa: PT012 - the whole block is what fails
            lost = _episode(batch, actor, "client-lost")
            batch.record_session(actor, kept, attended(day(3), ors(practice)))
        store.fail = False
        assert store.load_snapshot(lost) is None
        assert practice.episode(actor, kept).version == 4
        assert len(acknowledged) == 1
        assert "record-session" not in {a.action for a in store.audit_records()[audit_before:]}
        # The store is usable, and the same commands go through now.
        with practice.batch() as batch:
            batch.record_session(actor, kept, attended(day(3), ors(practice)))
        assert practice.episode(actor, kept).version == 5


def test_a_block_ending_with_an_error_writes_nothing_it_held(practice: Practice, actor: Actor) -> None:
    with pytest.raises(RuntimeError), practice.batch(size=3) as batch:  # noqa: PT012 - the whole block is what fails
        committed = _episode(batch, actor, "client-1")  # 3 committed, 1 held
        raise RuntimeError("the host's own failure")
    assert practice.episode(actor, committed).version == 3
    with pytest.raises(BatchClosed):
        batch.record_session(actor, committed, attended(day(3)))
    with pytest.raises(BatchClosed):
        batch.flush()


def test_idempotency_keys_within_a_batch_and_across_batches(practice: Practice, actor: Actor) -> None:
    session = attended(day(3), ors(practice))
    with practice.batch(size=100) as batch:
        ep = _episode(batch, actor, "client-1")
        first = batch.record_session(actor, ep, session, idempotency_key="s-1")
        again = batch.record_session(actor, ep, session, idempotency_key="s-1")
        assert again == type(first)(ep, first.version, duplicate=True, record_id=first.record_id)
        with pytest.raises(IdempotencyKeyReused):
            batch.record_session(actor, ep, attended(day(4)), idempotency_key="s-1")
        started = batch.start_episode(
            actor, client_ref="c2", clinician_id=actor.id, opened_on=DAY0, idempotency_key="e-1"
        )
        assert (
            batch.start_episode(
                actor, client_ref="c2", clinician_id=actor.id, opened_on=DAY0, idempotency_key="e-1"
            )
            == started
        )
    with practice.batch() as batch:  # committed now: the facade and a new batch see the key
        assert batch.record_session(actor, ep, session, idempotency_key="s-1").duplicate
        assert (
            batch.start_episode(
                actor, client_ref="c2", clinician_id=actor.id, opened_on=DAY0, idempotency_key="e-1"
            )
            == started
        )
    assert practice.record_session(actor, ep, session, idempotency_key="s-1").duplicate
    assert practice.episode(actor, ep).version == 5
    assert len(list(practice.store.episode_ids())) == 2
    # every repeat answered (held in the batch, committed, on the facade) is audited once, writing nothing
    replays = [
        (r.action, r.record_id, r.writes) for r in practice.store.audit_records() if r.outcome == "replayed"
    ]
    assert sorted(replays) == sorted([("record-session", ep, "")] * 3 + [("start-episode", started, "")] * 2)


def test_a_correction_and_an_addendum_find_a_session_recorded_in_the_same_batch(
    practice: Practice, actor: Actor
) -> None:
    with practice.batch() as batch:
        ep = _episode(batch, actor, "client-1")
        recorded = batch.record_session(actor, ep, attended(day(3), ors(practice)))
        batch.correct_session(
            actor, ep, recorded.record_id, attended(day(3), ors(practice, 0.2)), reason="typo"
        )
        batch.add_addendum(actor, ep, recorded.record_id, text="later", reason="context", added_on=day(4))
    history = practice.session_history(actor, ep, recorded.record_id)
    assert len(history.corrections) == 1
    assert len(history.addenda) == 1


def test_expected_version_is_checked_against_the_batch_state(practice: Practice, actor: Actor) -> None:
    with practice.batch() as batch:
        ep = _episode(batch, actor, "client-1")
        with pytest.raises(ConflictError):
            batch.record_session(actor, ep, attended(day(3)), expected_version=3)
        assert batch.record_session(actor, ep, attended(day(3)), expected_version=4).version == 5


def test_another_writer_moving_an_episode_on_fails_the_whole_batch(practice: Practice, actor: Actor) -> None:
    ep = _episode(practice, actor, "client-1")
    with pytest.raises(ConflictError), practice.batch() as batch:  # noqa: PT012 - the whole block is what fails
        other = batch.start_episode(actor, client_ref="c2", clinician_id=actor.id, opened_on=DAY0)
        batch.record_session(actor, ep, attended(day(3)))
        practice.record_session(actor, ep, attended(day(4)))  # lands first
    assert practice.store.load_snapshot(other) is None
    assert practice.episode(actor, ep).version == 5


@pytest.mark.parametrize(("size", "rule"), [(0, "min"), (100_001, "max"), ("5", "type")])
def test_a_bad_size_is_refused(memory_practice: Practice, size: object, rule: str) -> None:
    with pytest.raises(ValidationError) as bad:
        memory_practice.batch(size=size)  # type: ignore[arg-type]
    assert bad.value.field == "size"


def test_the_largest_size_is_allowed_and_on_commit_must_be_callable(memory_practice: Practice) -> None:
    assert memory_practice.batch(size=100_000).pending == 0
    assert memory_practice.batch(size=1).pending == 0
    with pytest.raises(ValidationError) as bad:
        memory_practice.batch(on_commit="print")  # type: ignore[arg-type]
    assert bad.value.field == "on_commit"


def test_a_read_in_a_batch_sees_the_held_state_and_is_audited_with_the_batch(
    practice: Practice, actor: Actor
) -> None:
    with practice.batch(size=100) as batch:
        ep = _episode(batch, actor, "client-1")
        batch.record_session(actor, ep, attended(day(3), ors(practice, 0.1), srs(practice, 0.2)))
        seen = batch.episode(actor, ep)
        assert seen.version == batch.episode(actor, ep).version > 4
        assert batch.alerts(actor, ep) == dict(seen.alerts)
        assert seen.alerts  # a low SRS raises an alert, decided in the batch
        with pytest.raises(AccessDenied):
            batch.episode(clinician(ident="someone-else"), ep)
        # A refusal is written at once (nothing was handed out); the allowed reads wait for the batch.
        reads_before = [a.outcome for a in practice.store.audit_records() if a.action == "read-episode"]
        assert reads_before == ["refused"]
    reads = [a for a in practice.store.audit_records() if a.action == "read-episode"]
    assert sorted((a.record_id, a.outcome) for a in reads) == [(ep, "allowed")] * 3 + [(ep, "refused")]
    assert practice.episode(actor, ep) == seen


def test_reads_alone_are_audited_when_the_block_ends_even_with_an_error(
    practice: Practice, actor: Actor
) -> None:
    ep = _episode(practice, actor, "client-1")
    with pytest.raises(RuntimeError), practice.batch() as batch:  # noqa: PT012 - the whole block is what fails
        batch.episode(actor, ep)
        batch.record_session(actor, ep, attended(day(3)))
        raise RuntimeError("the host's own failure")
    assert [a.record_id for a in practice.store.audit_records() if a.action == "read-episode"] == [ep]
    assert practice.episode(actor, ep).version == 4


def test_a_batch_of_a_practice_closed_since_refuses_and_writes_nothing(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as practice:
        ep = _episode(practice, actor, "client-1")
        before = len(practice.store.audit_records())
        early = practice.batch()  # made while open, used after the close
        batch = practice.batch().__enter__()
        batch.record_session(actor, ep, attended(day(3)), idempotency_key="s-1")  # held, not committed
        batch.episode(actor, ep)  # answered: its entry is written at the close all the same
    with pytest.raises(PracticeClosed):
        early.record_session(actor, ep, attended(day(3)))
    with pytest.raises(PracticeClosed):
        batch.record_session(actor, ep, attended(day(4)))
    with pytest.raises(PracticeClosed):
        batch.flush()
    with pytest.raises(PracticeClosed):
        batch.__exit__(None, None, None)  # the block's end: nothing held is written to a closed store
    with pytest.raises(BatchClosed):
        batch.flush()
    with open_practice(path) as again:
        assert len(again.store.load_events(ep)) == 4
        assert [(r.action, r.outcome) for r in again.store.audit_records()[before:]] == [
            ("read-episode", "allowed")
        ]


def test_a_read_only_practice_refuses_a_batch_as_it_refuses_reads_and_writes(
    tmp_path: Path, actor: Actor
) -> None:
    # A batch hands out what it reads (and a keyed repeat's first result) before its audit entries are
    # written: on a store that refuses every write they never would be, so the batch itself is refused.
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as practice:
        ep = _episode(practice, actor, "client-1")
        practice.record_session(actor, ep, attended(day(3)), idempotency_key="s-1")
        before = len(practice.store.audit_records())
    with open_practice(path, read_only=True) as read_only:
        with pytest.raises(StoreError):
            read_only.episode(actor, ep)  # the facade: a read that cannot be audited is not answered
        with pytest.raises(StoreError):
            read_only.record_session(actor, ep, attended(day(3)), idempotency_key="s-1")
        with pytest.raises(StoreError):
            read_only.batch()
    with open_practice(path) as again:  # and a writable one still has its batch
        assert len(again.store.audit_records()) == before
        with again.batch() as batch:
            assert batch.record_session(actor, ep, attended(day(3)), idempotency_key="s-1").duplicate


def test_a_key_another_writer_applies_meanwhile_fails_the_batch_whole_and_then_refuses(
    tmp_path: Path, actor: Actor
) -> None:
    # The race the embedding guide describes: the batch holds a keyed command, another process applies a
    # command with the same key (here to another episode), and the batch's commit writes none of its
    # commands; run again, the key is known and the other request is refused as on the facade.
    path = tmp_path / "p.sqlite"
    with open_practice(path, ids=counter_ids(), clock=fixed_clock()) as mine, open_practice(path) as other:
        first, second = _episode(mine, actor, "client-1"), _episode(mine, actor, "client-2")
        third = _episode(mine, actor, "client-3")
        before = _writes(mine)
        with mine.batch() as batch:
            batch.record_session(actor, first, attended(day(3)), idempotency_key="row-7")
            batch.record_session(actor, second, attended(day(3)))  # unkeyed, in the same transaction
            other.record_session(actor, third, attended(day(4)), idempotency_key="row-7")
            with pytest.raises(DuplicateCommand):
                batch.flush()
        assert _writes(mine) == before + 1  # the other writer's session only
        with pytest.raises(IdempotencyKeyReused):
            mine.record_session(actor, first, attended(day(3)), idempotency_key="row-7")


def test_on_commit_gets_a_list_of_the_calls_results_of_these_three_types(
    practice: Practice, actor: Actor
) -> None:
    acknowledged: list[Recorded | str | list[str]] = []
    with practice.batch(size=2, on_commit=acknowledged.extend) as batch:
        ep = batch.start_episode(actor, client_ref="c", clinician_id=actor.id, opened_on=DAY0)
        batch.record_consultation(actor, ep, consultation(day(0)))
        batch.decide_fit(actor, ep, proceed(day(1)))
        batch.agree_goals(actor, ep, goals(2), agreed_on=day(2))
    assert [type(result) for result in acknowledged] == [str, Recorded, Recorded, list]
    assert all(isinstance(goal_id, str) for goal_id in acknowledged[-1])  # type: ignore[union-attr]


#: A host's callbacks: one that takes what is passed, one that takes something else.
_CALLBACKS = """
from alliancekit import Recorded, open_practice

def kept(results: list[Recorded | str | list[str]]) -> None: ...
def wrong(results: list[int]) -> None: ...

with open_practice("memory:") as practice:
    practice.batch(on_commit=kept)
    practice.batch(on_commit=wrong)
"""


def test_on_commit_is_typed_with_what_it_gets(tmp_path: Path) -> None:
    """A callback taking another list is a type error (it was ``list[Any]``: any list passed), the precise
    one is not."""
    (tmp_path / "host.py").write_text(_CALLBACKS)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(tmp_path / ".c"),
            "host.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = done.stdout.splitlines()
    assert len(errors) == 1, done.stdout + done.stderr
    assert errors[0].startswith('host.py:9: error: Argument "on_commit"')


def _dropped_warnings(practice: Practice, use: Callable[[Batch], object]) -> list[str]:
    """The ResourceWarnings said when a batch made outside ``with``, then ``use``d, is dropped."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        batch = practice.batch()
        use(batch)
        del batch
        gc.collect()
    return [str(w.message) for w in said if issubclass(w.category, ResourceWarning)]


def test_a_batch_dropped_holding_a_command_says_so(practice: Practice, actor: Actor) -> None:
    """Used without ``with`` and never flushed, a batch's commands were dropped without a word: the host had
    its results (an episode id) but nothing was written."""
    said = _dropped_warnings(
        practice, lambda b: b.start_episode(actor, client_ref="c-1", clinician_id=actor.id, opened_on=DAY0)
    )
    assert said == [
        "Batch(size=500, pending=1) dropped before its block ended or flush(): what it held was not written"
    ]
    assert list(practice.store.episode_ids()) == []


def test_a_batch_dropped_holding_a_reads_audit_entry_says_so(practice: Practice, actor: Actor) -> None:
    ep = practice.start_episode(actor, client_ref="c-1", clinician_id=actor.id, opened_on=DAY0)
    assert len(_dropped_warnings(practice, lambda b: b.episode(actor, ep))) == 1


def test_a_batch_that_holds_nothing_is_dropped_silently(practice: Practice, actor: Actor) -> None:
    def flushed(batch: Batch) -> None:
        batch.start_episode(actor, client_ref="c-1", clinician_id=actor.id, opened_on=DAY0)
        batch.flush()

    def ended(batch: Batch) -> None:
        with batch:
            batch.start_episode(actor, client_ref="c-2", clinician_id=actor.id, opened_on=DAY0)

    assert _dropped_warnings(practice, flushed) == []
    assert _dropped_warnings(practice, ended) == []
    assert _dropped_warnings(practice, lambda b: None) == []
    assert len(list(practice.store.episode_ids())) == 2
