"""Every public member of :class:`Practice`, driven with arbitrary arguments on a real SQLite practice.

The members are enumerated from the class itself (``inspect.getmembers``, names not starting with ``_``), so a
new method is fuzzed the day it is added. Each argument is drawn from its parameter's annotation: mostly valid
values (known actors, episode, session, goal and event ids, records built field by field from their
annotations), mixed with junk of every kind (wrong types, lone surrogates, NUL, ``2**70``, negative numbers,
huge strings, ``None``, bytes, unknown ids, plain objects). Two properties hold for every call:

* nothing escapes but an :class:`~alliancekit.errors.AlliancekitError`;
* a refusal writes nothing: the store's tables (events, episodes, commands, outbox: every table but the audit
  log's, where refusals are recorded on purpose) are the same before and after;
* no NUL reaches any table, the audit log included (SQLite would keep it, PostgreSQL refuses it).

A parameter whose annotation this module cannot generate fails the test with the member's name: nothing is
skipped silently. Each member gets its own practice (an SQLite file in a temporary folder, with three
episodes: one in consultation, one in active therapy with a session, a rupture, a process note and a lockbox
directive, one closed), so one member's writes do not starve another's examples.

``derandomize=True`` keeps CI deterministic. ``ALLIANCEKIT_FUZZ_SURVEY=<file>`` turns failures into a JSON
list of (member, problem) written to ``<file>``, to survey a facade's defects in one run.
"""

from __future__ import annotations

import collections.abc
import contextlib
import inspect
import json
import math
import os
import shutil
import sqlite3
import tempfile
import threading
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alliancekit
import alliancekit.practice
from alliancekit import Practice, open_practice
from alliancekit.domain import (
    Actor,
    Administration,
    Ending,
    EndingReason,
    Purpose,
    Role,
    Session,
)
from alliancekit.domain import checks as ck
from alliancekit.errors import AlliancekitError, ValidationError

from .helpers import CLIENT, CLINIC, Clock, active_episode

MEMBERS = sorted(name for name, _ in inspect.getmembers(Practice) if not name.startswith("_"))
#: Members that take arguments: each runs this many examples, at least 10,000 in all. The others (``close``,
#: ``outbox_status``, properties) have one input, so hypothesis runs them once.
WITH_ARGUMENTS = [
    name
    for name in MEMBERS
    if callable(member := inspect.getattr_static(Practice, name))
    and len(inspect.signature(member).parameters) > 1
]
EXAMPLES_PER_MEMBER = math.ceil(10_100 / len(WITH_ARGUMENTS))

SURVEY = os.environ.get("ALLIANCEKIT_FUZZ_SURVEY")
_found: set[tuple[str, str]] = set()

D = date(2026, 1, 5)
HUGE = "x" * 100_001


# ------------------------------------------------------------------------------------------------ a world


@attrs.define
class World:
    """One member's practice, its SQLite file, a read-only observer connection and the ids it holds."""

    practice: Practice
    path: Path
    observer: sqlite3.Connection
    ids: dict[str, list[str]]
    measures: dict[str, tuple[str, list[tuple[str, float, float]]]]
    nul_found: bool = False

    def fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        """Every table but the audit log's, row by row (the tables are small: a few hundred rows at most)."""
        out = []
        tables = self.observer.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for (table,) in tables.fetchall():
            if table.startswith(("sqlite_", "audit")) or "checkpoint" in table or "seal" in table:
                continue
            if table == "kiosk_failures":
                continue  # a wrong kiosk code is counted on purpose (the rate limit), like its audit entry
            rows = self.observer.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 - table names
            out.append((table, len(rows), hash(tuple(rows))))
        return tuple(out)

    def holds_nul(self) -> str | None:
        """The first table (audit log included) with a NUL in a text value, raw or JSON-escaped: SQLite keeps
        it, PostgreSQL refuses it (in text and in jsonb), so it is a call that works on one store only."""
        tables = self.observer.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        for (table,) in tables.fetchall():
            if table.startswith("sqlite_"):
                continue
            columns = [
                name
                for _, name, kind, *_ in self.observer.execute(f'PRAGMA table_info("{table}")')
                if kind.upper() in ("", "TEXT") or "CHAR" in kind.upper()
            ]
            if not columns:
                continue
            where = " OR ".join(
                f'instr("{c}", char(0)) > 0 OR instr("{c}", \'\\u0000\') > 0' for c in columns
            )
            if self.observer.execute(f'SELECT 1 FROM "{table}" WHERE {where} LIMIT 1').fetchone():  # noqa: S608
                return str(table)
        return None


def _actor(kind: str) -> Actor:
    return {
        "clin_own": Actor("clin-a", Role.CLINICIAN, CLINIC),
        "clin_other": Actor("clin-b", Role.CLINICIAN, CLINIC),
        "clin_elsewhere": Actor("clin-a", Role.CLINICIAN, "c2"),
        "clin_emergency": Actor("clin-b", Role.CLINICIAN, CLINIC, Purpose.EMERGENCY),
        "supervisor": Actor("sup-1", Role.SUPERVISOR, CLINIC),
        "admin": Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS),
        "client_own": Actor(CLIENT, Role.CLIENT, CLINIC, Purpose.CLIENT_ACCESS),
        "system": Actor("exporter", Role.SYSTEM, CLINIC, Purpose.OPERATIONS),
    }[kind]


ACTOR_KINDS = ["clin_own"] * 8 + ["clin_other", "clin_elsewhere", "clin_emergency"]
ACTOR_KINDS += ["supervisor", "admin", "client_own", "system"]


def _make_world(folder: Path) -> World:
    path = folder / "practice.sqlite"
    practice = open_practice(path, clock=Clock())
    me = _actor("clin_own")
    active = active_episode(practice)
    directive = practice.set_lockbox(me, active.episode_id, scope="record", on=D)
    closed = active_episode(practice)
    practice.close_episode(
        me, closed.episode_id, Ending(ended_on=date(2026, 2, 1), planned=False, reason=EndingReason.DROPOUT)
    )
    new = practice.start_episode(me, client_ref="client-2", clinician_id="clin-a", opened_on=D)
    episodes = [active.episode_id, closed.episode_id, new]
    events = [e.event_id for ep in episodes for e in practice.timeline(me, ep)]
    alerts = [a for ep in episodes for a in practice.alerts(me, ep)]
    ids = {
        "episode": episodes,
        "session": [active.session_id, closed.session_id],
        "goal": [active.goal_id, closed.goal_id],
        "rupture": [active.rupture_id, closed.rupture_id],
        "event": events,
        "alert": alerts or ["alert-none"],
        "directive": [directive.record_id or "directive-none"],
        "clinician": ["clin-a", "clin-b", "sup-1"],
        "client": [CLIENT, "client-2"],
        "actor": ["clin-a", "clin-b", "sup-1", "adm-1", CLIENT],
        "clinic": [CLINIC, "c2"],
    }
    registry = practice.plugins.measures()
    measures = {}
    for measure_id in ("ors", "srs", "phq-9", "core-10"):
        version = str(registry.latest_version(measure_id))
        found = registry.get(measure_id, version)
        definition: Mapping[str, Any] = getattr(found, "definition", found)
        items = [(i["key"], float(i.get("min", 0)), float(i.get("max", 10))) for i in definition["items"]]
        measures[measure_id] = (version, items)
    # Requests of the active episode: links (a submission uses one up) and kiosk codes.
    links = [practice.request_administration(me, active.episode_id, measure="phq-9") for _ in range(8)]
    ids["token"] = [made.token or "" for made in links]
    ids["request"] = [made.request_id for made in links]
    ids["code"] = [practice.kiosk_code(me, active.episode_id, measure="phq-9").code for _ in range(4)]
    observer = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    return World(practice, path, observer, ids, measures)


@pytest.fixture(scope="module")
def worlds() -> Iterator[Callable[[str], World]]:
    made: dict[str, World] = {}

    def get(member: str) -> World:
        if member not in made:
            # in tmpfs: every fuzzed call is audited, a commit (the subject is what calls raise and change)
            made[member] = _make_world(Path(tempfile.mkdtemp(prefix=f"fuzz-{member}-")))
        return made[member]

    yield get
    for world in made.values():
        world.observer.close()
        with contextlib.suppress(AlliancekitError):  # ``close`` itself was fuzzed on one of them
            world.practice.close()
        shutil.rmtree(world.path.parent, ignore_errors=True)
    if SURVEY:
        Path(SURVEY).write_text(json.dumps(sorted(_found), indent=1), encoding="utf-8")


# ----------------------------------------------------------------------------------------------- strategies

_SURROGATES = st.text(st.characters(categories=["Cs"], codec=None), min_size=1, max_size=3)
_CONTROLS = st.text(st.characters(categories=["Cc"]), min_size=1, max_size=3)

#: Text no store keeps the same way: NUL (PostgreSQL refuses it), lone surrogates (nothing can encode them).
UNSTORABLE_TEXT = st.one_of(
    st.sampled_from(["\x00", "a\x00b", "key\x00", "\ud800", "ep\udfff", "x\udc00y"]),
    st.tuples(st.text(max_size=5), _SURROGATES | _CONTROLS, st.text(max_size=5)).map("".join),
)
JUNK_TEXT = st.one_of(
    UNSTORABLE_TEXT,
    st.sampled_from(["", " ", "no-such-id", "\u2028", "\x1b[2J", HUGE]),
    st.text(max_size=40),
)
NOT_TEXT = st.sampled_from([5, 2**70, -1, None, b"x", 1.5, ("a",), object()])
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 2**70, -(2**70), 10**100]),
    st.integers(),
    st.floats(),
    JUNK_TEXT,
    st.binary(max_size=12),
    st.sampled_from([b"x", bytearray(b"x" * 40), memoryview(b"key")]),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from([date.min, date.max]),
    st.lists(st.integers() | st.text(max_size=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
    st.just(Ellipsis),
)


#: Which known ids a text parameter (or record field) of this name takes.
_ID_KINDS = {
    "episode_id": "episode",
    "session_id": "session",
    "goal_id": "goal",
    "rupture_id": "rupture",
    "target_event_id": "event",
    "alert_id": "alert",
    "directive_id": "directive",
    "clinician_id": "clinician",
    "to_clinician_id": "clinician",
    "client_ref": "client",
    "actor_id": "actor",
    "recipient": "actor",
    "recipients": "actor",
    "event_ids": "event",
    "classes": None,
    "clinic_id": "clinic",
    "request_id": "request",
    "token": "token",
    "code": "code",
}
_FREE_TEXT = st.sampled_from(["why", "synthetic words", "line\nbreak", "émoji 🙂", "CANARY-fuzz"]) | st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), max_size=30
)
_DATES = st.dates(date(2025, 12, 1), date(2026, 6, 30)) | st.dates(ck.MIN_DATE, ck.MAX_DATE)


def _text_for(world: World, name: str) -> st.SearchStrategy[str]:
    """A plausible text value for a parameter or field called ``name``."""
    if name in ("scope",):
        return st.sampled_from(["record", "class", "item", "everything"])
    if name == "classes":
        return st.sampled_from(["sessions", "measures", "ruptures", "goals", "no-such-class"])
    if name == "idempotency_key":
        return st.sampled_from(["key-1", "key-2"]) | st.uuids().map(str)
    if name == "measure_id":
        return st.sampled_from([*world.measures, "no-such-measure"])
    if name == "version":
        return st.sampled_from(["1.0", "2", "9.9"])
    if name == "command":  # imported_command's: a keyed command, or one that is not
        return st.sampled_from(
            ["start_episode", "record_session", "request_administration", "no-such-command"]
        )
    if name == "message_id":
        return st.sampled_from(["message-1", "no-such-message"])
    if name == "measure":
        return st.sampled_from([*world.measures, "no-such-measure"])
    if name == "language":
        return st.sampled_from(["es", "fr", "en-GB", "xx"])
    if name == "source":
        return st.sampled_from(["tablet-1", "10.0.0.7"])
    if name == "target":  # a backup's file: beside the world's practice, never in the working directory
        return st.sampled_from(["copy-a.sqlite", "copy-b.sqlite"]).map(lambda n: str(world.path.parent / n))
    if name in ("token", "code"):
        forged = "A" * 43 if name == "token" else "ABCDEFGH"
        return st.sampled_from([*world.ids[name], forged])
    kind = _ID_KINDS.get(name)
    if kind is None and name.endswith("_id"):
        kind = "event"
    if kind is not None:
        return st.sampled_from([*world.ids[kind], "no-such-id"])
    return _FREE_TEXT


def _answers(world: World, measure_id: str) -> st.SearchStrategy[dict[str, float | None]]:
    if measure_id not in world.measures:
        return st.dictionaries(st.sampled_from(["q1", "overall"]), st.floats(0, 10), max_size=2)
    _, items = world.measures[measure_id]
    answer = st.one_of(
        *[st.floats(low, high).map(lambda v: round(v, 1)) for _, low, high in items[:1]],
        st.integers(0, 3),
        st.none(),
        st.sampled_from([-1.0, 11.0, 1e9]),
    )
    return st.fixed_dictionaries({key: answer for key, _, _ in items})


@st.composite
def _administration(draw: st.DrawFn, world: World) -> Administration:
    measure_id = draw(st.sampled_from([*world.measures, "no-such-measure"]))
    version = world.measures[measure_id][0] if measure_id in world.measures else "1.0"
    version = draw(st.sampled_from([version, version, "0.1"]))
    timing = draw(st.sampled_from(["start", "end"]))
    answers = draw(_answers(world, measure_id))
    return Administration(measure_id, version, typing.cast(Any, timing), answers)


def _optional_inner(tp: Any) -> Any | None:
    """``X`` for ``X | None``, else None."""
    if typing.get_origin(tp) in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
    return None


class CannotGenerate(Exception):
    """An annotation this module has no strategy for: the test fails with the member's name."""


def _valid(world: World, name: str, tp: Any) -> st.SearchStrategy[Any]:
    """Plausible values of type ``tp`` for a parameter or field called ``name``."""
    inner = _optional_inner(tp)
    if inner is not None:
        return st.none() | _valid(world, name, inner)
    origin = typing.get_origin(tp)
    if tp is type(None):
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(_valid(world, name, arg) for arg in typing.get_args(tp)))
    if tp is timedelta:
        return st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40))
    if origin in (Mapping, collections.abc.Mapping) and name == "answers":
        return st.one_of(*(_answers(world, m) for m in world.measures))
    if origin in (Mapping, collections.abc.Mapping) and name == "questionnaire_response":
        items = st.lists(
            st.fixed_dictionaries(
                {"linkId": st.sampled_from(["q1", "q9", "nope"]), "answer": st.just([{"valueInteger": 1}])}
            ),
            max_size=10,
        )
        return st.fixed_dictionaries({"resourceType": st.just("QuestionnaireResponse"), "item": items})
    if origin in (Mapping, collections.abc.Mapping) and name == "args":
        # imported_command's: the arguments of a session or an episode's start, or of neither
        start = {
            "client_ref": _text_for(world, "client_ref"),
            "clinician_id": _text_for(world, "clinician_id"),
            "opened_on": _DATES,
            "population": st.none() | st.sampled_from(["child", "adult", "no-such-population"]),
        }
        return st.one_of(
            st.fixed_dictionaries({"session": _record(world, Session)}),
            st.fixed_dictionaries(start),
            st.dictionaries(_FREE_TEXT, JUNK, max_size=3),
        )
    if origin is os.PathLike:
        return _text_for(world, name).map(Path)
    if tp is Actor:
        return st.sampled_from(ACTOR_KINDS).map(_actor)
    if tp is str:
        return _text_for(world, name)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(1, 5) | st.integers(0, 500)
    if tp is float:
        return st.floats(0, 0.01)
    if tp is date:
        return _DATES
    if tp is datetime:
        return st.datetimes(timezones=st.just(UTC))
    if tp is bytes:
        return st.binary(min_size=32, max_size=40)
    if tp is threading.Event:
        return st.builds(_set_event)  # an unset one would make ``run_dispatcher`` run for ever
    if tp is Any or tp is object:
        return JUNK
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if tp is Administration:
        return _administration(world)
    if isinstance(tp, type) and attrs.has(tp):
        return _record(world, tp)
    if isinstance(tp, type) and issubclass(tp, tuple) and hasattr(tp, "_fields"):  # a NamedTuple
        fields = typing.get_type_hints(tp)
        return st.tuples(*(_valid(world, f, fields[f]) for f in tp._fields)).map(lambda t: tp(*t))
    if origin in (collections.abc.Sequence, list, tuple, collections.abc.Iterable):
        args = typing.get_args(tp)
        item = _valid(world, name, args[0])
        values = st.lists(item, max_size=3)
        return values | values.map(tuple)
    if origin in (collections.abc.Callable,):
        return st.sampled_from([_ignore, None])
    if origin in (types.UnionType, typing.Union):  # a union of several: any of them
        return st.one_of(*(_valid(world, name, a) for a in typing.get_args(tp)))
    if tp is type(None):
        return st.none()
    raise CannotGenerate(f"{name}: {tp!r}")


def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


def _ignore(*args: object) -> None:
    return None


@st.composite
def _record_draw(draw: st.DrawFn, world: World, cls: type) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for field in attrs.fields(cls):
        if field.default is not attrs.NOTHING and draw(st.booleans()):
            continue  # its default
        tp = hints[field.name]
        if typing.get_origin(tp) in (Mapping, collections.abc.Mapping, dict):
            kwargs[field.name] = draw(st.dictionaries(st.text(max_size=4), st.floats(0, 10), max_size=3))
            continue
        kwargs[field.name] = draw(_valid(world, field.name, tp), label=f"{cls.__name__}.{field.name}")
    try:
        return cls(**kwargs)
    except AlliancekitError:
        return kwargs  # not a record, so junk as an argument


_records: dict[tuple[int, type], st.SearchStrategy[Any]] = {}


def _record(world: World, cls: type) -> st.SearchStrategy[Any]:
    key = (id(world), cls)
    if key not in _records:
        _valid_fields(world, cls)  # fail early on a field type with no strategy
        _records[key] = _record_draw(world, cls)
    return _records[key]


def _valid_fields(world: World, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        tp = hints[field.name]
        if typing.get_origin(tp) not in (Mapping, collections.abc.Mapping, dict):
            _valid(world, field.name, tp)


def _junk_for(tp: Any) -> st.SearchStrategy[Any]:
    """Junk, with more broken text where text belongs."""
    text_like = tp is str or _optional_inner(tp) is str
    return UNSTORABLE_TEXT | JUNK_TEXT | NOT_TEXT | JUNK if text_like else JUNK


# -------------------------------------------------------------------------------------- members and calls

# every public name fetched (the package loads them on first use, so vars() holds only those used so far
# in this process: which depended on the tests run before this module)
_PUBLIC = {name: getattr(alliancekit, name) for name in alliancekit.__all__}
_NAMESPACE = {**_PUBLIC, **vars(alliancekit.practice)}


def _hints(member: str, function: Callable[..., Any]) -> dict[str, Any]:
    module = inspect.getmodule(function)
    try:
        return typing.get_type_hints(function, globalns=vars(module) if module else {}, localns=_NAMESPACE)
    except NameError as exc:
        pytest.fail(f"Practice.{member}: cannot resolve its annotations ({exc}); teach this module the type")


def _draw_call(data: st.DataObject, world: World, member: str) -> tuple[Callable[[], object], str]:
    """A call of ``member`` on the world's practice with drawn arguments (a property is read), and which
    argument is junk."""
    attribute = inspect.getattr_static(Practice, member)
    if isinstance(attribute, property):
        return (lambda: getattr(world.practice, member)), "(property)"
    if not callable(attribute):
        pytest.fail(
            f"Practice.{member}: a public {type(attribute).__name__} that is neither method nor property"
        )
    function = getattr(Practice, member)
    hints = _hints(member, function)
    parameters = list(inspect.signature(function).parameters.values())[1:]
    strategies = []
    for parameter in parameters:
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            pytest.fail(f"Practice.{member}: cannot generate *{parameter.name} / **{parameter.name}")
        if parameter.name not in hints:
            pytest.fail(f"Practice.{member}: parameter {parameter.name} has no annotation")
        tp = hints[parameter.name]
        try:
            strategies.append((_valid(world, parameter.name, tp), _junk_for(tp)))
        except CannotGenerate as exc:
            pytest.fail(f"Practice.{member}: cannot generate parameter {exc}")
    # One argument is junk (or, one time in three, none is): the others are plausible, so the call gets
    # past the checks of the arguments before it, as far as the junk one.
    spoiled = data.draw(st.integers(0, len(parameters) + len(parameters) // 2), label="junk argument")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    junk_argument = "no junk argument"
    for i, (parameter, (valid, junk)) in enumerate(zip(parameters, strategies, strict=True)):
        if i == spoiled:
            value = data.draw(junk, label=parameter.name)
            junk_argument = f"{parameter.name}: {type(value).__name__}"
        elif parameter.default is not parameter.empty and data.draw(st.integers(0, 3), label="default?") == 0:
            continue
        else:
            value = data.draw(valid, label=parameter.name)
        if parameter.kind is parameter.KEYWORD_ONLY:
            kwargs[parameter.name] = value
        else:
            args.append(value)
    bound = getattr(world.practice, member)
    return (lambda: bound(*args, **kwargs)), junk_argument


def _problem(member: str, message: str) -> None:
    if SURVEY:
        _found.add((member, message))
        return
    pytest.fail(f"Practice.{member}: {message}")


def test_every_public_member_is_fuzzed() -> None:
    """The members come from the class; at least 10,000 examples in all."""
    assert len(MEMBERS) >= 40
    assert "record_session" in MEMBERS
    assert "break_glass" in MEMBERS
    assert EXAMPLES_PER_MEMBER * len(WITH_ARGUMENTS) >= 10_000


@pytest.mark.parametrize("member", MEMBERS)
@settings(
    max_examples=EXAMPLES_PER_MEMBER,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_public_member_with_arbitrary_arguments(
    worlds: Callable[[str], World], member: str, data: st.DataObject
) -> None:
    world = worlds(member)
    call, junk = _draw_call(data, world, member)
    before = world.fingerprint()
    try:
        # in the world's folder: a drawn path (a backup's junk target is a plain file name) is relative to it
        with contextlib.chdir(world.path.parent):
            call()
    except AlliancekitError as refusal:
        if world.fingerprint() != before:
            _problem(member, f"refused ({type(refusal).__name__}) yet wrote to the store [{junk}]")
    except Exception as exc:  # noqa: BLE001 - the point of the test
        _problem(member, f"{type(exc).__name__} outside alliancekit.errors [{junk}]")
    if not world.nul_found and (table := world.holds_nul()) is not None:
        world.nul_found = True  # reported once: it stays in the table
        _problem(member, f"a NUL reached the {table} table [{junk}]")


# ------------------------------------------------------------------------------ the fingerprint, checked


def test_the_fingerprint_sees_writes_and_not_audit_rows(tmp_path: Path) -> None:
    world = _make_world(tmp_path)
    try:
        me, episode_id = _actor("clin_own"), world.ids["episode"][0]
        before = world.fingerprint()
        assert {table for table, _, _ in before} >= {"events", "episodes"}
        world.practice.episode(me, episode_id)  # a read: one audit row, nothing else
        with pytest.raises(AlliancekitError):
            world.practice.episode(_actor("clin_elsewhere"), episode_id)  # a refusal, audited
        assert world.fingerprint() == before
        world.practice.record_process_note(me, episode_id, written_on=D, text="note")
        assert world.fingerprint() != before
        assert world.holds_nul() is None
        with closing(sqlite3.connect(world.path)) as probe, probe:
            probe.execute("CREATE TABLE probe (payload TEXT)")
            probe.execute('INSERT INTO probe VALUES (\'{"a": "\\u0000"}\')')
        assert world.holds_nul() == "probe"
        with closing(sqlite3.connect(world.path)) as probe, probe:
            probe.execute("UPDATE probe SET payload = 'raw' || char(0)")
        assert world.holds_nul() == "probe"
    finally:
        world.observer.close()
        world.practice.close()


# ------------------------------------------------------- the defects of issue 11 ("Exceptions outside ...")
#
# Each is refused with a ValidationError naming the parameter and the rule of ``alliancekit.domain.checks``,
# and writes nothing but the audit row of the refusal. They pass once the facade checks every argument.


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    made = _make_world(tmp_path)
    yield made
    made.observer.close()
    made.practice.close()


def _refused(world: World, call: Callable[[], object], field: str, rule: str) -> None:
    before = world.fingerprint()
    with pytest.raises(ValidationError) as caught:
        call()
    assert (caught.value.field, caught.value.rule) == (field, rule), str(caught.value)
    assert "\ud800" not in str(caught.value)
    assert "\x00" not in str(caught.value)
    assert world.fingerprint() == before


def test_lone_surrogate_in_a_text_is_refused(world: World) -> None:
    p, me, ep = world.practice, _actor("clin_own"), world.ids["episode"][0]
    _refused(world, lambda: p.put_on_hold(me, ep, on=D, reason="ill\ud800"), "reason", "unicode")
    _refused(world, lambda: p.record_process_note(me, ep, written_on=D, text="\udfff"), "text", "unicode")


def test_lone_surrogate_in_an_id_is_refused(world: World) -> None:
    p, me = world.practice, _actor("clin_own")
    _refused(world, lambda: p.episode(me, "ep\ud800"), "episode_id", "unicode")
    _refused(
        world,
        lambda: p.start_episode(me, client_ref="client\ud800", clinician_id="clin-a", opened_on=D),
        "client_ref",
        "unicode",
    )
    _refused(
        world,
        lambda: p.record_process_note(
            me, world.ids["episode"][0], written_on=D, text="t", idempotency_key="k\ud800"
        ),
        "idempotency_key",
        "unicode",
    )


def test_nul_is_refused_in_texts_and_ids(world: World) -> None:
    p, me, ep = world.practice, _actor("clin_own"), world.ids["episode"][0]
    _refused(world, lambda: p.put_on_hold(me, ep, on=D, reason="ill\x00"), "reason", "control-character")
    _refused(
        world,
        lambda: p.start_episode(me, client_ref="client\x00", clinician_id="clin-a", opened_on=D),
        "client_ref",
        "control-character",
    )
    _refused(world, lambda: p.timeline(me, ep + "\x00"), "episode_id", "control-character")
    _refused(
        world,
        lambda: p.record_process_note(me, ep, written_on=D, text="t", idempotency_key="key\x00"),
        "idempotency_key",
        "control-character",
    )


def test_caseload_with_a_number_for_clinician_id(world: World) -> None:
    p, number = world.practice, typing.cast(Any, 5)
    _refused(world, lambda: p.caseload(_actor("supervisor"), clinician_id=number), "clinician_id", "type")


def test_verify_audit_with_bytes_for_the_expected_head(world: World) -> None:
    p, head = world.practice, typing.cast(Any, b"x")
    _refused(world, lambda: p.verify_audit(_actor("admin"), expected_head=head), "expected_head", "type")


def test_break_glass_with_a_huge_number_for_the_episode(world: World) -> None:
    p, huge = world.practice, typing.cast(Any, 2**70)
    _refused(
        world, lambda: p.break_glass(_actor("clin_emergency"), huge, reason="crisis"), "episode_id", "type"
    )
