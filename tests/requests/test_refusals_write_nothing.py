"""Every refusal of every request command writes nothing: the whole SQLite file (every table's rows) is the
same after it as before, but for what the design asks a refusal to leave (``alliancekit.core.requests``,
``alliancekit.core.guard``): an audit entry of a refused use of a known request, of a call without an actor,
of a call the policy refused, of an unknown episode, and of a wrong kiosk code, which is also counted
against its clinic and source. Such an entry says it was refused and records no write.

The commands are enumerated from the code: the rows of the command table built in
:mod:`alliancekit.core.request_commands`, and the facade methods that run a request flow
(:class:`~alliancekit.core.requests.RequestFlows`). A new one fails
:func:`test_every_request_command_has_its_refusals` until its refusals are here. Every parameter of each is
also given a value of no accepted type, one at a time, the others valid (with all of them valid the call
succeeds: :func:`test_the_valid_call_succeeds`). A redemption the host's policy refuses, and one that
loses the race for its code to another redemption, are tested with policies of their own.
"""

from __future__ import annotations

import ast
import inspect
import shutil
import sqlite3
import tempfile
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.feedback.test_chart_stored_definition import probe
from tests.feedback.test_stored_definition_rows_and_alerts import HOSTS

from alliancekit import Practice, open_practice
from alliancekit.core import request_commands
from alliancekit.core.command_table import COMMANDS
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    Ending,
    FitDecision,
    GoalDraft,
    Modality,
    Role,
    Session,
)
from alliancekit.errors import (
    AccessDenied,
    ConflictError,
    IdempotencyKeyReused,
    InvalidToken,
    LifecycleError,
    MissingActor,
    NotFoundError,
    TooManyAttempts,
    UnknownMeasure,
    ValidationError,
)
from alliancekit.requests import RequestConfig
from alliancekit.security.policy import AccessRequest, Action, Decision, DefaultPolicy

T0 = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)
DAY = T0.date()
SOUTH, NORTH = "south", "north"
ME = Actor("clin-s", Role.CLINICIAN, SOUTH)
OTHER = Actor("clin-n", Role.CLINICIAN, NORTH)  # another clinic's clinician: answered as for an unknown id
LOW = {f"q{i}": 1 for i in range(1, 9)} | {"q9": 0}
PROBE_ANSWERS = {"q1": 3, "q2": 3, "q3": 3}
PHQ9 = Administration("phq-9", "1.0", AdministrationTiming.START, LOW)


# ------------------------------------------------------------------------------------ the commands, from code


def _table_commands() -> set[str]:
    return {n for n, spec in COMMANDS.items() if spec.build.__module__ == request_commands.__name__}


def _flow_commands() -> set[str]:
    """The facade methods whose body runs a request flow (``self._requests``)."""
    found = set()
    for name, member in vars(Practice).items():
        if not inspect.isfunction(member) or name.startswith("_"):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(member)))
        if any(isinstance(n, ast.Attribute) and n.attr == "_requests" for n in ast.walk(tree)):
            found.add(name)
    return found


REQUEST_COMMANDS = sorted(_table_commands() | _flow_commands())


# ------------------------------------------------------------------------------------------------ the world


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@attrs.define
class World:
    """A practice on an SQLite file with every kind of request a refusal needs, and their secrets."""

    path: Path
    ep: str  # active, the south clinic's
    closed: str  # closed after its requests were made
    session: str  # a session of ``ep``
    tokens: dict[str, str]  # live, used, revoked, expired, closed, gone (the probe's), pending
    codes: dict[str, str]  # live, closed, gone, used
    revocable: str  # a live request's id of ``ep``


def _episode(p: Practice) -> str:
    ep = p.start_episode(ME, client_ref="client-CANARY-7", clinician_id=ME.id, opened_on=DAY)
    consultation = Consultation(held_on=DAY, modality="video", consent=Consent(True, True))
    p.record_consultation(ME, ep, consultation)
    p.decide_fit(ME, ep, FitDecision("proceed", DAY))
    p.agree_goals(ME, ep, [GoalDraft("sleep better", ())], agreed_on=DAY)
    return ep


def _practice(path: Path, clock: Clock, *, plugin: bool = True) -> Practice:
    requests = RequestConfig(kiosk_attempts=3)
    return open_practice(path, clock=clock, plugins=HOSTS[plugin], requests=requests)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> World:
    folder = Path(tmp_path_factory.mktemp("refusals", numbered=True))
    path = folder / "p.sqlite"
    clock = Clock()
    clock.now = T0 - timedelta(hours=4)
    with _practice(path, clock) as p:
        ep, closed = _episode(p), _episode(p)
        session = p.record_session(
            ME,
            ep,
            Session(
                held_on=DAY,
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                administrations=(probe(10),),
            ),
        ).record_id
        assert session is not None

        def token(episode: str, measure: str = "phq-9", **more: Any) -> str:
            made = p.request_administration(ME, episode, measure=measure, **more).token
            assert made is not None
            return made

        tokens = {
            "live": token(ep),
            "used": token(ep),
            "revoked": token(ep),
            "expired": token(ep, expires_in=timedelta(hours=1)),
            "closed": token(closed),
            "gone": token(ep, measure="probe"),
        }
        codes = {
            "live": p.kiosk_code(ME, ep, measure="phq-9").code,
            "closed": p.kiosk_code(ME, closed, measure="phq-9").code,
            "gone": p.kiosk_code(ME, ep, measure="probe").code,
            "used": p.kiosk_code(ME, ep, measure="phq-9").code,
        }
        p.submit_response(tokens["used"], answers=LOW)
        revoked = p.request_administration(ME, ep, measure="phq-9")
        assert revoked.token is not None
        tokens["revoked"] = revoked.token
        p.revoke_request(ME, ep, revoked.request_id)
        redeemed = p.redeem_kiosk_code(SOUTH, codes["used"], source="tablet-1").token
        assert redeemed is not None
        p.submit_response(redeemed, answers=LOW)
        revocable = p.request_administration(ME, ep, measure="phq-9").request_id
        p.revoke_request(ME, ep, revocable, idempotency_key="revoke-1")  # a key a later revoke may reuse
        revocable = p.request_administration(ME, ep, measure="phq-9").request_id
        p.plan_ending(ME, closed, on=DAY)
        p.close_episode(
            ME, closed, Ending(ended_on=DAY, planned=True, reason="goals-met", no_plan_reason="moved away")
        )
        clock.now = T0
        for _ in range(3):  # the limit of a source, reached in T0's window
            with pytest.raises(InvalidToken):
                p.redeem_kiosk_code(SOUTH, "WRONGCODE", source="tablet-full")
    return World(path, ep, closed, session, tokens, codes, revocable)


@pytest.fixture
def world(template: World) -> Iterator[World]:
    """A copy of the template's file for one case (a refusal that wrote would change the next one's)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(shutil.copytree(template.path.parent, Path(folder) / "w"))
        yield attrs.evolve(template, path=copy / template.path.name)


# -------------------------------------------------------------------------------- what a refusal may leave


def _tables(path: Path) -> dict[str, Counter[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {n: Counter(conn.execute(f'SELECT * FROM "{n}"')) for n in names}  # noqa: S608 - its names


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]


NOTHING: tuple[tuple[str, str, str], ...] = ()
"""No audit entry: (outcome, record type, detail) of each entry a refusal leaves."""
NO_ACTOR = (("refused", "episode", ""),)
POLICY = (("refused", "episode", ""),)
UNKNOWN_EPISODE = (("not-found", "episode", ""),)
UNKNOWN_SESSION = (("not-found", "session", ""),)


def token_refused(reason: str) -> tuple[tuple[str, str, str], ...]:
    return (("refused", "request", reason),)


WRONG_CODE = (("refused", "kiosk", ""),)
LIMIT = (("refused", "kiosk", "limit"),)


def _left(before: dict[str, Counter[Any]], after: dict[str, Counter[Any]], path: Path) -> dict[str, Any]:
    """What the call left: the tables that changed, each as the rows it gained (it may lose none)."""
    changed: dict[str, Any] = {}
    for table in sorted(before.keys() | after.keys()):
        was, now = before.get(table, Counter()), after.get(table, Counter())
        if was == now:
            continue
        assert not (was - now), f"{table}: rows changed or removed"
        changed[table] = [
            dict(zip(_columns(path, table), row, strict=True)) for row in (now - was).elements()
        ]
    return changed


def _check(
    path: Path, call: Callable[[], object], error: type[Exception], entries: Any, counted: bool
) -> None:
    before = _tables(path)
    with pytest.raises(error):
        call()
    left = _left(before, _tables(path), path)
    audit = left.pop("audit", [])
    assert sorted((e["outcome"], e["record_type"], e["detail"]) for e in audit) == sorted(entries)
    assert all(e["writes"] == "" for e in audit)  # an entry of a refusal records no write
    if "audit_checkpoints" in left:  # a seal of the entries' chains, when one falls due: nothing else
        assert audit
        left.pop("audit_checkpoints")
    if counted:
        [row] = left.pop("kiosk_failures")  # the source's first failure in the window
        assert row["failures"] == 1
    assert left == {}


# ----------------------------------------------------------------------------------------------- the cases

Call = Callable[[Practice, World], object]
#: (error, audit entries, a wrong kiosk code counted, the measure's plugin installed)
Case = tuple[type[Exception], Any, bool, bool, Call]


def _client_response(**changes: Any) -> Call:
    def call(p: Practice, w: World) -> object:
        args: dict[str, Any] = {"responded_at": T0 - timedelta(hours=1), "session_id": None, "point": None}
        args |= changes
        episode = args.pop("episode", w.ep)
        administration = args.pop("administration", PHQ9)
        return p.record_client_response(args.pop("actor", ME), episode, administration, **args)

    return call


def _request(name: str, **changes: Any) -> Call:
    def call(p: Practice, w: World) -> object:
        args: dict[str, Any] = {"measure": "phq-9"} | changes
        actor, episode = args.pop("actor", ME), args.pop("episode", w.ep)
        return getattr(p, name)(actor, episode, **args)

    return call


def _both_requests() -> dict[str, dict[str, Case]]:
    cases: dict[str, dict[str, Case]] = {}
    for name in ("request_administration", "kiosk_code"):
        cases[name] = {
            "no actor": (MissingActor, NO_ACTOR, False, True, _request(name, actor=None)),
            "another clinic's clinician": (
                NotFoundError,
                UNKNOWN_EPISODE,
                False,
                True,
                _request(name, actor=OTHER),
            ),
            "unknown episode": (
                NotFoundError,
                UNKNOWN_EPISODE,
                False,
                True,
                _request(name, episode="ep-none"),
            ),
            "closed episode": (
                LifecycleError,
                NOTHING,
                False,
                True,
                lambda p, w, name=name: _request(name)(p, attrs.evolve(w, ep=w.closed)),
            ),
            "unknown measure": (UnknownMeasure, NOTHING, False, True, _request(name, measure="no-such")),
            "measure's plugin gone": (UnknownMeasure, NOTHING, False, False, _request(name, measure="probe")),
            "unknown session": (
                NotFoundError,
                UNKNOWN_SESSION,
                False,
                True,
                _request(name, session_id="s-none"),
            ),
            "wrong language": (ValidationError, NOTHING, False, True, _request(name, language="not a tag")),
            "wrong point": (ValidationError, NOTHING, False, True, _request(name, point="later")),
        }
    link = cases["request_administration"]
    link["negative expiry"] = (
        ValidationError,
        NOTHING,
        False,
        True,
        _request("request_administration", expires_in=timedelta(hours=-1)),
    )
    return cases


def _revoke(**changes: Any) -> Call:
    def call(p: Practice, w: World) -> object:
        args: dict[str, Any] = {"actor": ME, "episode": w.ep, "request_id": w.revocable} | changes
        return p.revoke_request(
            args["actor"], args["episode"], args["request_id"], idempotency_key=args.get("key")
        )

    return call


def _open(token: str, **more: Any) -> Call:
    return lambda p, w: p.open_request(w.tokens.get(token, token), **more)


def _submit(which: str, **more: Any) -> Call:
    """Submit through the world's ``which`` token (or ``which`` itself), the measure's answers."""

    def call(p: Practice, w: World) -> object:
        args = {"answers": PROBE_ANSWERS if which == "gone" else LOW} | more
        return p.submit_response(w.tokens.get(which, which), **args)

    return call


def _redeem(code: str, **more: Any) -> Call:
    def call(p: Practice, w: World) -> object:
        args = {"source": "tablet-1"} | more
        return p.redeem_kiosk_code(args.pop("clinic", SOUTH), w.codes.get(code, code), **args)

    return call


def _token_uses(call: Callable[[str], Call]) -> dict[str, Case]:
    return {
        "forged token": (InvalidToken, NOTHING, False, True, call("x" * 43)),
        "used": (InvalidToken, token_refused("used"), False, True, call("used")),
        "revoked": (InvalidToken, token_refused("revoked"), False, True, call("revoked")),
        "expired": (InvalidToken, token_refused("expired"), False, True, call("expired")),
        "closed episode": (InvalidToken, token_refused("closed"), False, True, call("closed")),
        "measure's plugin gone": (UnknownMeasure, NOTHING, False, False, call("gone")),
    }


CASES: dict[str, dict[str, Case]] = {
    **_both_requests(),
    "revoke_request": {
        "no actor": (MissingActor, NO_ACTOR, False, True, _revoke(actor=None)),
        "another clinic's clinician": (NotFoundError, UNKNOWN_EPISODE, False, True, _revoke(actor=OTHER)),
        "unknown episode": (NotFoundError, UNKNOWN_EPISODE, False, True, _revoke(episode="ep-none")),
        "unknown request": (LifecycleError, NOTHING, False, True, _revoke(request_id="r-none")),
        "key reused for another request": (
            IdempotencyKeyReused,
            NOTHING,
            False,
            True,
            _revoke(key="revoke-1"),
        ),
    },
    "record_client_response": {
        "no actor": (MissingActor, NO_ACTOR, False, True, _client_response(actor=None)),
        "another clinic's clinician": (
            NotFoundError,
            UNKNOWN_EPISODE,
            False,
            True,
            _client_response(actor=OTHER),
        ),
        "unknown episode": (NotFoundError, UNKNOWN_EPISODE, False, True, _client_response(episode="ep-none")),
        "closed episode": (
            LifecycleError,
            NOTHING,
            False,
            True,
            lambda p, w: _client_response()(p, attrs.evolve(w, ep=w.closed)),
        ),
        "measure's plugin gone": (
            UnknownMeasure,
            NOTHING,
            False,
            False,
            _client_response(administration=probe(3)),
        ),
        "unknown session": (
            NotFoundError,
            UNKNOWN_SESSION,
            False,
            True,
            _client_response(session_id="s-none"),
        ),
        "a future time": (
            ValidationError,
            NOTHING,
            False,
            True,
            _client_response(responded_at=T0 + timedelta(days=2)),
        ),
        "timing against point": (ValidationError, NOTHING, False, True, _client_response(point="end")),
        "stale expected version": (ConflictError, NOTHING, False, True, _client_response(expected_version=1)),
    },
    "open_request": {
        **_token_uses(_open),
        "wrong language": (ValidationError, NOTHING, False, True, _open("live", language="not a tag")),
    },
    "submit_response": {
        **_token_uses(_submit),
        "answers out of range": (ValidationError, NOTHING, False, True, _submit("live", answers={"q1": 99})),
        "wrong language": (ValidationError, NOTHING, False, True, _submit("live", language="not a tag")),
        "answers that are not JSON": (ValidationError, NOTHING, False, True, _submit("live", answers="{")),
        "closed episode, answers that are not JSON": (
            InvalidToken,
            token_refused("closed"),
            False,
            True,
            _submit("closed", answers="{"),
        ),
    },
    "redeem_kiosk_code": {
        "wrong code": (InvalidToken, WRONG_CODE, True, True, _redeem("ABCDEFGH")),
        "not a code": (InvalidToken, WRONG_CODE, True, True, _redeem("no!")),
        "another clinic's code": (InvalidToken, WRONG_CODE, True, True, _redeem("live", clinic=NORTH)),
        "used code": (InvalidToken, WRONG_CODE, True, True, _redeem("used")),
        "too many attempts": (TooManyAttempts, LIMIT, False, True, _redeem("live", source="tablet-full")),
        "closed episode": (InvalidToken, token_refused("closed"), False, True, _redeem("closed")),
        "measure's plugin gone": (UnknownMeasure, NOTHING, False, False, _redeem("gone")),
        "wrong language": (ValidationError, NOTHING, False, True, _redeem("live", language="not a tag")),
        "wrong source": (ValidationError, NOTHING, False, True, _redeem("live", source="")),
        "wrong clinic": (ValidationError, NOTHING, False, True, _redeem("live", clinic="")),
    },
}


def test_every_request_command_has_its_refusals() -> None:
    assert REQUEST_COMMANDS == [
        "kiosk_code",
        "open_request",
        "record_client_response",
        "redeem_kiosk_code",
        "request_administration",
        "revoke_request",
        "submit_response",
    ]  # what the enumeration finds today (it must find something)
    assert sorted(CASES) == REQUEST_COMMANDS


@pytest.mark.parametrize(
    ("command", "refusal"), [(c, r) for c in sorted(CASES) for r in sorted(CASES[c])], ids=lambda v: str(v)
)
def test_a_refusal_leaves_the_store_as_it_was_but_its_audit_entry(
    world: World, command: str, refusal: str
) -> None:
    error, entries, counted, installed, call = CASES[command][refusal]
    with _practice(world.path, Clock(), plugin=installed) as p:
        _check(world.path, lambda: call(p, world), error, entries, counted)


# ---------------------------------------------------------------------- every parameter, of no accepted type

#: Each command's every parameter, valid: the call succeeds (a parameter of no accepted type is the refusal).
VALID: dict[str, Callable[[World], dict[str, Any]]] = {
    "request_administration": lambda w: {
        "actor": ME,
        "episode_id": w.ep,
        "measure": "phq-9",
        "point": "start",
        "session_id": w.session,
        "language": "es",
        "expires_in": timedelta(hours=2),
        "remind_after": timedelta(hours=1),
        "key": "request-2",
    },
    "kiosk_code": lambda w: {
        "actor": ME,
        "episode_id": w.ep,
        "measure": "phq-9",
        "point": "end",
        "session_id": w.session,
        "language": "es",
    },
    "revoke_request": lambda w: {
        "actor": ME,
        "episode_id": w.ep,
        "request_id": w.revocable,
        "idempotency_key": "revoke-2",
    },
    "record_client_response": lambda w: {
        "actor": ME,
        "episode_id": w.ep,
        "administration": PHQ9,
        "responded_at": T0 - timedelta(hours=1),
        "session_id": w.session,
        "point": "start",
        "idempotency_key": "response-2",
        "expected_version": None,
    },
    "open_request": lambda w: {"token": w.tokens["live"], "language": "es"},
    "redeem_kiosk_code": lambda w: {
        "clinic_id": SOUTH,
        "code": w.codes["live"],
        "source": "tablet-1",
        "language": "es",
    },
    "submit_response": lambda w: {
        "token": w.tokens["live"],
        "answers": LOW,
        "questionnaire_response": None,
        "language": "es",
    },
}
#: What a parameter of no accepted type leaves, where it is not a ValidationError that writes nothing.
NOT_A_VALIDATION_ERROR: dict[str, tuple[type[Exception], Any, bool]] = {
    "actor": (MissingActor, NO_ACTOR, False),  # a call without an actor is audited, as made by no one
    "token": (InvalidToken, NOTHING, False),  # names no request: nothing to file it in
    "code": (InvalidToken, WRONG_CODE, True),  # a wrong code is counted and audited
}


def _parameters(command: str) -> list[str]:
    return [n for n in inspect.signature(getattr(Practice, command)).parameters if n != "self"]


def test_every_parameter_of_every_request_command_has_a_valid_value(template: World) -> None:
    assert sorted(VALID) == REQUEST_COMMANDS
    for command in REQUEST_COMMANDS:
        assert sorted(VALID[command](template)) == sorted(_parameters(command)), command


@pytest.mark.parametrize("command", REQUEST_COMMANDS)
def test_the_valid_call_succeeds(world: World, command: str) -> None:
    with _practice(world.path, Clock()) as p:
        assert getattr(p, command)(**VALID[command](world)) is not None


@pytest.mark.parametrize(
    ("command", "parameter"), [(c, n) for c in REQUEST_COMMANDS for n in _parameters(c)], ids=str
)
def test_a_parameter_of_no_accepted_type_is_refused_writing_nothing(
    world: World, command: str, parameter: str
) -> None:
    args = VALID[command](world) | {parameter: object()}
    error, entries, counted = NOT_A_VALIDATION_ERROR.get(parameter, (ValidationError, NOTHING, False))
    with _practice(world.path, Clock()) as p:
        _check(world.path, lambda: getattr(p, command)(**args), error, entries, counted)


def test_the_check_finds_a_write_before_a_refusal(world: World) -> None:
    """A call that redeems a code and then fails is caught: the token it wrote, and its allowed entry."""

    def redeemed_then_refused() -> None:
        p.redeem_kiosk_code(SOUTH, world.codes["live"], source="tablet-1")
        raise InvalidToken()

    with _practice(world.path, Clock()) as p, pytest.raises(AssertionError):
        _check(world.path, redeemed_then_refused, InvalidToken, NOTHING, False)


# ------------------------------------------------------------------------- the policy, and a lost race


class RefusesKiosks:
    """The default policy, but a kiosk's redemption is refused (a host's policy may)."""

    def decide(self, request: AccessRequest) -> Decision:
        if request.action == Action.REDEEM_KIOSK_CODE:
            return Decision.refuse("kiosks are closed")
        return DefaultPolicy().decide(request)


def test_a_redemption_the_policy_refuses_leaves_only_its_refused_entry(world: World) -> None:
    """The code was given its token before the policy was asked: refused, it could not be redeemed again."""
    with open_practice(world.path, clock=Clock(), plugins=HOSTS[True], policy=RefusesKiosks()) as p:
        _check(
            world.path, lambda: _redeem("live")(p, world), AccessDenied, (("refused", "request", ""),), False
        )
    with _practice(world.path, Clock()) as p:  # the same code, allowed now
        assert p.redeem_kiosk_code(SOUTH, world.codes["live"], source="tablet-1").token is not None


class RedeemsMeanwhile:
    """The default policy, which, asked about a redemption the first time, lets another practice on the same
    file redeem the same code first: the redemption it then allows has lost the race."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.raced = False
        self.form: Any = None

    def decide(self, request: AccessRequest) -> Decision:
        if request.action == Action.REDEEM_KIOSK_CODE and not self.raced:
            self.raced = True
            with _practice(self.world.path, Clock()) as other:
                self.form = other.redeem_kiosk_code(SOUTH, self.world.codes["live"], source="tablet-2")
        return DefaultPolicy().decide(request)


def test_a_code_redeemed_by_another_call_after_it_was_read_is_a_wrong_code(world: World) -> None:
    """Found live, then taken by another redemption before its own: counted and audited as a wrong code; the
    other redemption's token is the one that works."""
    policy = RedeemsMeanwhile(world)
    before = _tables(world.path)
    with open_practice(world.path, clock=Clock(), plugins=HOSTS[True], policy=policy) as p:
        with pytest.raises(InvalidToken):
            p.redeem_kiosk_code(SOUTH, world.codes["live"], source="tablet-1")
        after = _tables(world.path)
        [counted] = (after["kiosk_failures"] - before["kiosk_failures"]).elements()
        assert counted[-1] == 1  # the source's first failure in the window
        columns = _columns(world.path, "audit")
        entries = [
            dict(zip(columns, row, strict=True)) for row in (after["audit"] - before["audit"]).elements()
        ]
        outcomes = sorted(
            (e["outcome"], e["record_type"], e["actor_id"].startswith("kiosk-")) for e in entries
        )
        assert outcomes == [("allowed", "request", False), ("refused", "kiosk", True)]  # the other's, its own
        assert policy.form is not None
        assert p.submit_response(policy.form.token, answers=LOW).total is not None
