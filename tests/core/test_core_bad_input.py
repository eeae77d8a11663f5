"""Bad input through the public facade: the right error class, a message that names the field or rule and
never the client's words, and nothing written."""

from __future__ import annotations

import contextlib
import functools
import os
import random
import sqlite3
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Consent, Consultation, GoalRevision, Role, Session
from alliancekit.errors import (
    AlliancekitError,
    ConflictError,
    LifecycleError,
    NotAnAlliancekitStore,
    StoreError,
    StoreTooNew,
    ValidationError,
)
from alliancekit.events import converter
from alliancekit.practice import Practice
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import AuditRecord, CommandRecord, Commit, StoredEvent
from alliancekit.store.sqlite import SQLiteStore

from .conftest import (
    CANARY,
    active_episode,
    attended,
    clinician,
    consultation,
    counter_ids,
    day,
    fixed_clock,
    footprint,
    maintenance,
    new_episode,
    ors,
    proceed,
    stored_snapshot,
    unplanned_ending,
)


def assert_clean(error: BaseException, *words: str) -> None:
    """The message names what it should and carries no client words."""
    message = str(error)
    assert CANARY not in message
    assert CANARY not in repr(error)
    for word in words:
        assert word in message, (word, message)


# ------------------------------------------------------------------------------------- unknown enum value


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (
            lambda: Session(held_on=day(3), modality="telepathy", attendance="attended", helpful=CANARY),
            "Session.modality",
        ),
        (
            lambda: Session(held_on=day(3), modality="video", attendance="maybe", helpful=CANARY),
            "Session.attendance",
        ),
        (lambda: Actor("clin-1", "wizard", "clinic-1"), "Actor.role"),
    ],
)
def test_unknown_enum_value_in_a_record(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        build()
    assert (caught.value.field, caught.value.rule) == (field, "enum")
    assert_clean(caught.value, field, "enum")


def test_unknown_enum_value_from_json() -> None:
    data = {"held_on": "2026-01-08", "modality": "telepathy", "attendance": "attended", "helpful": CANARY}
    with pytest.raises(ValidationError) as caught:
        converter.structure(data, Session)
    assert caught.value.field == "modality"
    assert caught.value.rule == "enum"
    assert_clean(caught.value, "modality")


def test_unknown_enum_value_writes_nothing(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    before = footprint(practice, ep)
    with pytest.raises(ValidationError):
        practice.record_session(
            actor, ep, Session(held_on=day(3), modality="video", attendance="no-such", helpful=CANARY)
        )
    assert footprint(practice, ep) == before


# ----------------------------------------------------------------------------------- missing required field


def test_missing_required_field_from_json() -> None:
    data = {"held_on": "2026-01-08", "modality": "video", "helpful": CANARY}
    with pytest.raises(ValidationError) as caught:
        converter.structure(data, Session)
    assert (caught.value.field, caught.value.rule) == ("attendance", "required")
    assert_clean(caught.value, "attendance", "required")


def test_missing_required_field_as_none(practice: Practice, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        Session(held_on=None, modality="video", attendance="attended", helpful=CANARY)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("Session.held_on", "type")
    assert_clean(caught.value, "Session.held_on")


@pytest.mark.parametrize(
    ("call", "field", "rule"),
    [
        (lambda p, a, ep, g: p.put_on_hold(a, ep, on=day(5), reason="  "), "reason", "required"),
        (
            lambda p, a, ep, g: p.transfer(a, ep, to_clinician_id="", on=day(5), reason=CANARY),
            "to_clinician_id",
            "required",
        ),
        (lambda p, a, ep, g: p.agree_goals(a, ep, [], agreed_on=None), "agreed_on", "type"),
        (lambda p, a, ep, g: p.resume(a, ep, on=None), "on", "type"),
        (lambda p, a, ep, g: p.plan_ending(a, ep, on=day(5), target_date=CANARY), "target_date", "type"),
        (
            lambda p, a, ep, g: p.revise_goal(
                a, ep, GoalRevision(g[0], reason=CANARY), revised_on="2026-02-01"
            ),
            "revised_on",
            "type",
        ),
        (
            lambda p, a, ep, g: p.put_on_hold(a, ep, on=datetime(2026, 2, 1, tzinfo=UTC), reason=CANARY),
            "on",
            "type",
        ),
        (
            lambda p, a, ep, g: p.record_session(a, ep, {"held_on": "2026-01-08", "helpful": CANARY}),
            "session",
            "type",
        ),
        (lambda p, a, ep, g: p.record_session(None, ep, attended(day(5))), "actor", "required"),
        (
            lambda p, a, ep, g: p.correct_session(a, ep, "s", attended(day(5)), reason=""),
            "reason",
            "required",
        ),
    ],
)
def test_missing_or_wrong_required_input_through_the_facade(
    practice: Practice, actor: Actor, call: Any, field: str, rule: str
) -> None:
    ep, goal_ids = active_episode(practice, actor)
    before = footprint(practice, ep)
    with pytest.raises(ValidationError) as caught:
        call(practice, actor, ep, goal_ids)
    assert (caught.value.field, caught.value.rule) == (field, rule)
    assert_clean(caught.value, field)
    after = footprint(practice, ep)
    if field == "actor":
        # A call without an actor is refused before anything is read, and the refusal itself is audited
        # (DESIGN §8): one audit row, nothing else.
        assert after[:2] + after[3:] == before[:2] + before[3:]
        assert after[2] == before[2] + 1
        assert practice.store.audit_records()[-1].outcome == "refused"
    else:
        assert after == before


def test_start_episode_without_client_ref_writes_nothing(practice: Practice, actor: Actor) -> None:
    with pytest.raises(ValidationError) as caught:
        practice.start_episode(actor, client_ref="", clinician_id=actor.id, opened_on=day(0))
    assert caught.value.field == "client_ref"
    assert list(practice.store.episode_ids()) == []
    assert practice.store.audit_records() == []


def test_bad_measure_answer_writes_nothing(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    good = ors(practice)
    answers = dict(good.answers)
    first = next(iter(answers))
    answers[first] = 1000.0
    bad = type(good)(good.measure_id, good.version, good.timing, answers)
    before = footprint(practice, ep)
    with pytest.raises(ValidationError) as caught:
        practice.record_session(actor, ep, attended(day(3), bad))
    assert first in caught.value.field
    assert "1000" not in str(caught.value)
    assert footprint(practice, ep) == before


# --------------------------------------------------------------------------------------- impossible dates


def test_session_before_the_consultation(practice: Practice, actor: Actor) -> None:
    ep = new_episode(practice, actor)
    practice.record_consultation(actor, ep, consultation(day(5)))
    practice.decide_fit(actor, ep, proceed(day(6)))
    before = footprint(practice, ep)
    with pytest.raises(LifecycleError) as caught:
        practice.record_session(actor, ep, attended(day(4)))
    assert caught.value.rule == "date-order"
    assert_clean(caught.value, "session", "consultation")
    assert footprint(practice, ep) == before


def test_consultation_before_opening(practice: Practice, actor: Actor) -> None:
    ep = new_episode(practice, actor)
    before = footprint(practice, ep)
    with pytest.raises(LifecycleError) as caught:
        practice.record_consultation(actor, ep, consultation(day(-3)))
    assert caught.value.rule == "date-order"
    assert footprint(practice, ep) == before


# --------------------------------------------------------------------------------------------- closed episode


def test_closed_episode_refuses_and_writes_nothing(practice: Practice, actor: Actor) -> None:
    ep, _ = active_episode(practice, actor)
    practice.close_episode(actor, ep, unplanned_ending(day(10)))
    before = footprint(practice, ep)
    for call in (
        lambda: practice.record_session(actor, ep, attended(day(11))),
        lambda: practice.put_on_hold(actor, ep, on=day(11), reason=CANARY),
        lambda: practice.transfer(actor, ep, to_clinician_id="clin-2", on=day(11), reason=CANARY),
        lambda: practice.close_episode(actor, ep, unplanned_ending(day(12))),
        lambda: practice.record_consultation(actor, ep, consultation(day(11))),
    ):
        with pytest.raises(LifecycleError) as caught:
            call()
        assert caught.value.rule == "episode-closed"
        assert_clean(caught.value, "closed")
    assert footprint(practice, ep) == before


# ------------------------------------------------------------------------------------------- stale version


def _hand_commit(practice: Practice, episode_id: str, expected: int) -> Commit:
    """A commit built by hand: one consultation event at ``expected + 1``."""
    from alliancekit.events.types import ConsultationRecorded
    from alliancekit.lifecycle.state import fold

    state = practice.episode(Actor("clin-1", "clinician", "clinic-1"), episode_id)
    event = ConsultationRecorded(consultation(day(0)))
    after = fold(state, [event])
    at = datetime(2026, 1, 5, tzinfo=UTC)
    stored = StoredEvent(
        episode_id=episode_id,
        seq=expected + 1,
        event_id=f"hand-{expected}",
        type=event.TYPE,
        schema_version=event.VERSION,
        occurred_at=at,
        recorded_at=at,
        actor_id="clin-1",
        actor_role="clinician",
        clinic_id="clinic-1",
        payload_json=converter.dumps(event),
    )
    audit = AuditRecord(
        f"audit-hand-{expected}",
        at,
        "clin-1",
        "clinician",
        "clinic-1",
        "treatment",
        "record-consultation",
        "episode",
        episode_id,
        "allowed",
    )
    from alliancekit.projections import caseload_row

    return Commit(
        episode_id=episode_id,
        expected_version=expected,
        events=[stored],
        snapshot_json=converter.dumps(after),
        caseload=caseload_row(after, review_every=6),
        audit=[audit],
        command=CommandRecord(
            "clinic-1", "record-consultation", f"key-{expected}", "", episode_id, expected + 1
        ),
    )


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_stale_version_on_the_store(kind: str, tmp_path: Path, actor: Actor) -> None:
    store = MemoryStore() if kind == "memory" else SQLiteStore(tmp_path / "stale.sqlite")
    with contextlib.closing(store), open_practice(store, ids=counter_ids(), clock=fixed_clock()) as practice:
        ep = new_episode(practice, actor)
        assert store.load_snapshot(ep)[0] == 1  # type: ignore[index]
        good = _hand_commit(practice, ep, expected=1)
        for stale in (0, 2, 7):
            commit = _hand_commit(practice, ep, expected=1)
            commit = Commit(
                episode_id=commit.episode_id,
                expected_version=stale,
                events=commit.events,
                snapshot_json=commit.snapshot_json,
                caseload=commit.caseload,
                audit=commit.audit,
                command=CommandRecord("clinic-1", "record-consultation", f"stale-{stale}", "", ep, 2),
            )
            before = footprint(practice, ep)
            with pytest.raises(ConflictError) as caught:
                store.append(commit)
            assert (caught.value.expected, caught.value.actual) == (stale, 1)
            assert_clean(caught.value, ep)
            assert footprint(practice, ep) == before
            assert store.find_command("clinic-1", "record-consultation", f"stale-{stale}") is None
        store.append(good)  # the right version still goes through
        assert store.load_snapshot(ep)[0] == 2  # type: ignore[index]
        with pytest.raises(ConflictError):
            store.append(good)  # and the same version a second time is now stale


class _Interloper:
    """A clock for practice A that, when armed, lets practice B write to the episode first.

    ``Practice._commit`` reads the clock after the rules decided and before the store write, so this puts a
    real concurrent write exactly in the window the store's version check guards. From the ``waiting``-th
    reading on, B writes from a thread of its own and is not waited for: a store that holds its writers'
    lock over a retry (``SQLiteStore.exclusive``) makes B wait for A's commit.
    """

    def __init__(self, other: Practice, actor: Actor, episode_id: str, times: int) -> None:
        self.other, self.actor, self.episode_id, self.times = other, actor, episode_id, times
        self.waiting: int | None = None
        self.threads: list[threading.Thread] = []
        self.skip = 0
        """Readings to let pass first: a command's input checks read the clinic's today before deciding."""

    def __call__(self) -> datetime:
        if self.skip > 0:
            self.skip -= 1
        elif self.times > 0:
            self.times -= 1
            write = functools.partial(
                self.other.record_session, self.actor, self.episode_id, attended(day(3))
            )
            if self.waiting is not None and self.waiting <= 1:
                self.threads.append(threading.Thread(target=write))
                self.threads[-1].start()
            else:
                write()
            if self.waiting is not None:
                self.waiting -= 1
        return datetime(2026, 6, 1, 9, tzinfo=UTC)  # the fixed clock's now


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_stale_version_through_the_facade(kind: str, tmp_path: Path, actor: Actor, opened: Any) -> None:
    shared: Any = MemoryStore() if kind == "memory" else tmp_path / "facade.sqlite"
    b = opened(shared)
    ep, _ = active_episode(b, actor)
    # A reads the clock once for its input checks (today: let pass), then once per attempt, between
    # deciding and writing: each of those readings lets B write first.
    interloper = _Interloper(b, actor, ep, times=2)
    interloper.skip = 1
    # No retries: the conflict reaches the caller and nothing of A's command is written.
    a = opened(shared, clock=interloper, conflict_retries=0)
    before_audit = len(a.store.audit_records())
    with pytest.raises(ConflictError) as caught:
        a.record_session(actor, ep, attended(day(4), ors(a)))
    assert_clean(caught.value)
    interfered = 2 - interloper.times  # one: A's only attempt (it had no state to guess on)
    assert interfered == 1
    interloper.times = 0  # disarmed: A's audited reads below read the clock too
    events = a.store.load_events(ep)
    assert [e.type for e in events].count("session-recorded") == interfered  # only B's
    assert len(a.store.audit_records()) == before_audit + interfered  # B's commands; A wrote nothing
    assert a.rebuild_state(maintenance(), ep) == stored_snapshot(a, ep) == a.episode(actor, ep)
    # With retries: A decides again on the fresh state, and both sessions land. The interferences: the
    # guess on A's stale state, then a fresh attempt; the retry after that lost race runs under SQLite's
    # writers' lock, so B's third write waits for A's commit (the memory store has no such lock: there B
    # interferes once more, synchronously, and A's third fresh attempt lands).
    interloper.times, interloper.skip = 3, 1
    if kind == "sqlite":
        interloper.waiting = 3
    a.conflict_retries = 3
    done = a.record_session(actor, ep, attended(day(5), ors(a)))
    for thread in interloper.threads:
        thread.join()
    assert interloper.times == 0
    st = a.episode(actor, ep)
    events = a.store.load_events(ep)
    assert st.version == len(events)
    sessions = [e.seq for e in events if e.type == "session-recorded"]
    assert len(sessions) == st.sessions_scheduled == interfered + 3 + 1  # B's four and A's one
    # A's session is the last one on the memory store; on SQLite B's waiting write lands after it
    assert (sessions[-1] if kind == "memory" else sessions[-2]) <= done.version
    assert (kind == "memory") == (done.version == st.version)
    assert a.rebuild_state(maintenance(), ep) == stored_snapshot(a, ep) == st


# ------------------------------------------------------------------------------------------ not our database


def _snapshot_files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_random_bytes_file_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "random.sqlite"
    path.write_bytes(random.Random(7).randbytes(8192))
    before = _snapshot_files(tmp_path)
    with pytest.raises(NotAnAlliancekitStore) as caught:
        open_practice(path)
    assert isinstance(caught.value, StoreError)
    assert isinstance(caught.value, AlliancekitError)
    assert "random.sqlite" in str(caught.value)
    assert _snapshot_files(tmp_path) == before


def test_sqlite_database_of_another_application_is_not_ours(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers (name) VALUES ('someone')")
    conn.commit()
    conn.close()
    before = _snapshot_files(tmp_path)
    for location in (path, f"sqlite:{path}", str(path)):
        with pytest.raises(NotAnAlliancekitStore) as caught:
            open_practice(location)
        assert "not an alliancekit database" in str(caught.value)
    assert _snapshot_files(tmp_path) == before, "refusing a foreign database must not change it"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT name FROM customers").fetchall() == [("someone",)]
    conn.close()


def test_database_newer_than_the_code(tmp_path: Path, actor: Actor) -> None:
    path = tmp_path / "newer.sqlite"
    with open_practice(path) as practice:
        new_episode(practice, actor)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = (path.read_bytes(), os.path.getsize(path))
    with pytest.raises(StoreTooNew) as caught:
        open_practice(path)
    assert "999" in str(caught.value)
    assert "upgrade" in str(caught.value)
    assert (path.read_bytes(), os.path.getsize(path)) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 999
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    conn.close()


def test_unknown_location_scheme() -> None:
    with pytest.raises(ValidationError) as caught:
        open_practice("nosuchstore://somewhere")
    assert (caught.value.field, caught.value.rule) == ("location", "unknown-store-scheme")


def test_location_of_the_wrong_type() -> None:
    with pytest.raises(ValidationError) as caught:
        open_practice(42)  # type: ignore[arg-type]
    assert caught.value.field == "location"


def test_unknown_episode_is_not_found(practice: Practice, actor: Actor) -> None:
    from alliancekit.errors import NotFoundError

    with pytest.raises(NotFoundError) as caught:
        practice.record_consultation(actor, "no-such-episode", consultation())
    assert caught.value.kind == "episode"
    # a failed access attempt: audited in the actor's clinic, naming no client, nothing else written
    [entry] = practice.store.audit_records()
    assert (entry.outcome, entry.action, entry.record_id) == (
        "not-found",
        "record-consultation",
        "no-such-episode",
    )
    assert (entry.clinic_id, entry.client_ref, entry.writes) == (actor.clinic_id, "", "")
    assert list(practice.store.episode_ids()) == []
    with pytest.raises(NotFoundError):
        practice.timeline(actor, "no-such-episode")
    assert [r.outcome for r in practice.store.audit_records()] == ["not-found", "not-found"]


def test_consultation_record_repr_hides_free_text() -> None:
    assert CANARY not in repr(consultation())
    assert CANARY not in repr(
        Consultation(
            held_on=day(0), modality="video", consent=consultation().consent, presenting_concerns=(CANARY,)
        )
    )


@pytest.mark.parametrize("where", ["missing-directory", "a-directory"])
def test_path_that_cannot_be_opened_is_not_called_foreign(tmp_path: Path, where: str) -> None:
    path = tmp_path / "no-such-dir" / "x.sqlite" if where == "missing-directory" else tmp_path
    with pytest.raises(StoreError) as caught:
        open_practice(path)
    assert not isinstance(caught.value, NotAnAlliancekitStore)
    assert "cannot open" in str(caught.value)
    assert not (tmp_path / "no-such-dir").exists()


# ------------------------------------------------------------------------------------- practice options


@pytest.mark.parametrize("option", ["clock", "ids", "policy", "dispatch_policy", "plugins"])
def test_a_practice_option_of_the_wrong_type_is_refused_when_opened(option: str, tmp_path: Path) -> None:
    """Each was taken as given: the first call then failed with a TypeError or AttributeError (or, for the
    dispatch policy, the first dispatch)."""
    with pytest.raises(ValidationError) as caught:
        open_practice(tmp_path / "p.sqlite", **{option: CANARY})
    assert (caught.value.field, caught.value.rule) == (option, "type")
    assert_clean(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # the database it would have made is not left


def test_a_refused_option_leaves_an_existing_practice_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=fixed_clock()) as practice:
        practice.start_episode(
            Actor("clin-1", Role.CLINICIAN, "north"),
            client_ref="c-1",
            clinician_id="clin-1",
            opened_on=date(2026, 5, 4),
        )
    before = _tables(path)
    with pytest.raises(ValidationError):
        open_practice(path, clock=CANARY)
    assert path.exists()
    assert _tables(path) == before


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}  # noqa: S608


@pytest.mark.parametrize(
    ("made", "rule"),
    [
        (5, "type"),
        ("", "required"),
        ("a" * 201, "reference"),
        ("id\x00", "control-character"),
        ("id\ud800", "unicode"),
    ],
)
def test_an_id_the_host_made_wrong_is_refused_and_written_nowhere(
    made: Any, rule: str, tmp_path: Path
) -> None:
    """The ids option's ids were written as they came: an empty episode id no call could name again, NUL
    in every table, a surrogate failing the SQLite encoder with a UnicodeEncodeError."""
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=fixed_clock(), ids=lambda kind: made) as practice:
        before = _tables(path)
        with pytest.raises(ValidationError) as caught:
            practice.start_episode(clinician(), client_ref=CANARY, clinician_id="clin-1", opened_on=day(0))
        assert (caught.value.field, caught.value.rule) == ("ids", rule)
        assert_clean(caught.value)
        assert _tables(path) == before


def test_ids_the_host_made_of_the_longest_length_are_taken(tmp_path: Path) -> None:
    numbers = counter_ids()
    longest = lambda kind: numbers(kind).ljust(200, "x")  # noqa: E731 - the option's one line
    with open_practice(tmp_path / "p.sqlite", clock=fixed_clock(), ids=longest) as p:
        ep = p.start_episode(clinician(), client_ref="host-1", clinician_id="clin-1", opened_on=day(0))
        assert len(ep) == 200
        assert p.episode(clinician(), ep).version == 1


# ----------------------------------------------------------------------- refused before the read's audit


@pytest.mark.parametrize(
    ("session_id", "rule"),
    [(None, "type"), ("", "required"), ("s" * 201, "reference"), ("s\x00", "control-character")],
)
def test_a_bad_session_id_of_a_session_history_writes_no_audit_entry(
    practice: Practice, actor: Actor, session_id: Any, rule: str
) -> None:
    """The episode's read was decided and audited (an ``allowed`` entry) before the session id was checked."""
    ep, _ = active_episode(practice, actor)
    before = footprint(practice, ep)
    with pytest.raises(ValidationError) as caught:
        practice.session_history(actor, ep, session_id)
    assert (caught.value.field, caught.value.rule) == ("session_id", rule)
    assert footprint(practice, ep) == before


def test_a_key_rotation_refused_for_its_inputs_writes_no_audit_entry(practice: Practice) -> None:
    """Without a cipher the rotation was audited as allowed before it was refused; a progress that is not a
    function raised a TypeError after the first batch had been rewritten."""
    admin = Actor("it-1", "administrator", "clinic-1")
    with pytest.raises(ValidationError) as caught:
        practice.rotate_encryption(admin)
    assert (caught.value.field, caught.value.rule) == ("cipher", "required")
    with pytest.raises(ValidationError) as caught:
        practice.rotate_encryption(admin, progress=CANARY)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("progress", "type")
    assert practice.store.audit_records() == []


# ----------------------------------------------------------------------------------- sets are not lists


@pytest.mark.parametrize("unordered", [set, frozenset])
def test_a_set_where_a_list_is_taken_is_refused_and_writes_nothing(
    practice: Practice, actor: Actor, unordered: type
) -> None:
    """A set's order follows the process's string hash seed: what was stored, and a keyed command's request
    hash, differed between processes, so the same keyed request retried by another process was refused
    with IdempotencyKeyReused."""
    ep, _ = active_episode(practice, actor)
    before = footprint(practice, ep)
    with pytest.raises(ValidationError) as caught:
        practice.set_lockbox(
            actor,
            ep,
            scope="class",
            classes=unordered({"sessions", "reviews"}),
            idempotency_key="lockbox-1",
            on=day(3),
        )
    assert (caught.value.field, caught.value.rule) == ("classes", "type")
    assert footprint(practice, ep) == before
    with pytest.raises(ValidationError) as caught:
        Consultation(day(0), "video", Consent(True, True), presenting_concerns=unordered({CANARY}))
    assert (caught.value.field, caught.value.rule) == ("Consultation.presenting_concerns", "type")
    assert_clean(caught.value)
    made = practice.set_lockbox(actor, ep, scope="class", classes=["sessions", "reviews"], on=day(3))
    assert practice.episode(actor, ep).version == made.version  # the same classes as a list are taken
