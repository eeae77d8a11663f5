"""A canary string in every free-text field of the demo practice appears nowhere but the store.

Every free-text field (the fields marked free text, ``is_free_text``, of every record handed to the facade,
and every free-text argument) gets the canary appended on its way into the public API, with logging captured
at DEBUG. Then the canary is looked for in the logs, in the messages of exceptions raised with canary-laden
input, in the reprs of every record, state and event object the facade returns, and in the CLI's text
output.

Client references get a marker of their own: every reference the demo opens an episode or adds a
participant with, wherever it is passed afterwards (a rater, an actor's id). A reference and the alerts an
episode raised (a risk item endorsed among them) are client data too, kept out of every repr; the CLI may
print a reference where the user asked for it (the caseload), so only its repr-free output is not checked.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import date
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Batch, Practice
from alliancekit.cli.main import main
from alliancekit.demo import simulate_practice
from alliancekit.domain import Actor, Purpose, Role, Session, vocab
from alliancekit.domain.checks import is_free_text
from alliancekit.errors import AlliancekitError
from alliancekit.feedback.reports import attention_list, practice_outcomes, progress_chart, quality_reports
from alliancekit.feedback.rules import alert_rules
from alliancekit.security.policy import Action
from alliancekit.store.sqlite import SQLiteStore

CANARY = "CANARY-7f3e9b2a-do-not-leak"
REF_MARK = "-ref4c9d1e"
TEXT_ARGUMENTS = ("reason", "text", "statement", "override_reason")


def _inject(value: Any) -> Any:
    """``value`` with the canary in every free-text field, recursively."""
    if isinstance(value, tuple | list):
        return type(value)(_inject(v) for v in value)
    if not attrs.has(type(value)):
        return value
    changes = {}
    for field in attrs.fields(type(value)):
        current = getattr(value, field.name)
        if attrs.has(type(current)) or (
            isinstance(current, tuple) and current and attrs.has(type(current[0]))
        ):
            changes[field.name] = _inject(current)
        elif is_free_text(field) and isinstance(current, str):
            changes[field.name] = f"{current} {CANARY}"
        elif is_free_text(field) and isinstance(current, tuple):
            changes[field.name] = (*(f"{s} {CANARY}" for s in current), CANARY)
        elif is_free_text(field) and current is None:
            changes[field.name] = (CANARY,) if field.name == "tasks" else CANARY
    return attrs.evolve(value, **changes)


#: The vocabularies of clinical judgements: what a clinician decided or noticed, kept out of reprs.
CLINICAL_VOCABULARIES = (
    vocab.FitOutcome,
    vocab.GoalProgress,
    vocab.ReviewDecision,
    vocab.RuptureKind,
    vocab.RuptureMarker,
    vocab.RuptureCause,
    vocab.RepairStrategy,
    vocab.EndingReason,
    vocab.ClosingReason,
    vocab.AlertSeverity,
)

#: The demo's client references as given and as the practice sees them, with REF_MARK.
_REFS: dict[str, str] = {}


def _marked(value: Any) -> Any:
    """``value`` with REF_MARK on every client reference in it: a ``client_ref`` (an episode's or a
    participant's) is learnt, and every string equal to one learnt (a rater, an actor's id) is marked."""
    if isinstance(value, str):
        return _REFS.get(value, value)
    if isinstance(value, tuple | list):
        return type(value)(_marked(v) for v in value)
    if isinstance(value, dict):
        return {_marked(k): _marked(v) for k, v in value.items()}
    if not attrs.has(type(value)):
        return value
    ref = getattr(value, "client_ref", None)
    if isinstance(ref, str) and not ref.endswith(REF_MARK):
        _REFS.setdefault(ref, ref + REF_MARK)
    fields = [f for f in attrs.fields(type(value)) if f.init]
    return attrs.evolve(value, **{f.alias: _marked(getattr(value, f.name)) for f in fields})


def _canary_everywhere(method: Any) -> Any:
    @functools.wraps(method)
    def wrapper(self: Practice, *args: Any, **kwargs: Any) -> Any:
        if isinstance(kwargs.get("client_ref"), str) and not kwargs["client_ref"].endswith(REF_MARK):
            _REFS.setdefault(kwargs["client_ref"], kwargs["client_ref"] + REF_MARK)
        args = tuple(_inject(_marked(a)) for a in args)
        kwargs = {
            k: (f"{v} {CANARY}" if k in TEXT_ARGUMENTS and isinstance(v, str) else _inject(_marked(v)))
            for k, v in kwargs.items()
        }
        return method(self, *args, **kwargs)

    return wrapper


def _reprs(value: Any, seen: set[int] | None = None) -> Iterator[str]:
    """The repr of ``value`` and of every attrs value, list and mapping inside it."""
    seen = set() if seen is None else seen
    if id(value) in seen or isinstance(value, str | bytes | int | float | date | type(None)):
        return  # a value is data, not a repr: the repr of the object holding it is what is checked
    seen.add(id(value))
    yield repr(value)
    if attrs.has(type(value)):
        for field in attrs.fields(type(value)):
            inner = getattr(value, field.name)
            if field.repr is True or attrs.has(type(inner)):
                yield from _reprs(inner, seen)
            elif isinstance(inner, Mapping | tuple | list):
                # a hidden field's collection is data (keys, texts): only the objects in it have reprs
                values = inner.values() if isinstance(inner, Mapping) else inner
                for item in values:
                    yield from _reprs(item, seen)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _reprs(item, seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _reprs(item, seen)


@pytest.fixture(scope="module")
def canary_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("canary") / "demo.sqlite"
    _REFS.clear()
    patch = pytest.MonkeyPatch()
    for name in dir(Practice):
        if not name.startswith("_") and callable(getattr(Practice, name)) and name != "close":
            patch.setattr(Practice, name, _canary_everywhere(getattr(Practice, name)))
            if name in vars(Batch):  # the demo's clients go through a batch
                patch.setattr(Batch, name, _canary_everywhere(getattr(Batch, name)))
    handler = _Collect()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        simulate_practice(path, clients=16, seed=11, today=date(2026, 5, 31))  # before what _exercise adds
        texts = _exercise(path)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        patch.undo()
    return path, texts + handler.messages


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.messages.append(repr(record.args))
        if record.exc_info:
            self.messages.append(logging.Formatter().formatException(record.exc_info))


def _exercise(path: Path) -> list[str]:
    """Process notes, addenda, statements, lockbox, exports and refusals on top of the demo; returns every
    repr and message the facade produced."""
    texts: list[str] = []
    practice = Practice(SQLiteStore(path))
    sup = Actor("sup-dee", Role.SUPERVISOR, "demo-clinic")
    system = Actor("exporter", Role.SYSTEM, "demo-clinic", Purpose.OPERATIONS)
    rows = practice.caseload(sup, include_closed=True)
    for row in rows:
        me = Actor(row.clinician_id, Role.CLINICIAN, "demo-clinic")
        client = Actor(row.client_ref, Role.CLIENT, "demo-clinic", Purpose.CLIENT_ACCESS)
        ep = row.episode_id
        timeline = practice.timeline(me, ep)
        if row.stage != "closed":
            practice.record_process_note(me, ep, written_on=date(2026, 6, 1), text="private note")
        sessions = [e for e in timeline if e.type == "session-recorded"]
        if sessions:
            first = sessions[0]
            practice.add_addendum(
                me, ep, first.event.session_id, text="addendum", reason="late", added_on=date(2026, 6, 1)
            )
            practice.attach_disagreement(
                client, ep, first.event_id, statement="I disagree", received_on=date(2026, 6, 2)
            )
            texts += _reprs(practice.session_history(me, ep, first.event.session_id))
        practice.set_lockbox(client, ep, scope="class", classes=["ruptures"], on=date(2026, 6, 3))
        texts += _reprs(practice.episode(me, ep))
        texts += _reprs(list(practice.timeline(me, ep)))
        texts += _reprs(list(practice.timeline(sup, ep)))
        texts += _reprs(practice.shared_record(system, ep, recipient="hospital"))
        texts += _reprs(practice.shared_record(me, ep, override_reason="court order"))
        texts += _reprs(practice.client_view(client, ep))
        texts += _reprs(practice.process_notes(me, ep))
        texts += _reprs(practice.rebuild_state(system, ep))
        texts += _reprs(practice.alerts(me, ep))
        texts += _reprs(progress_chart(practice, me, ep))
        texts.append(repr(practice.timeline(me, ep)))
        texts += _refusals(practice, sup, me, client, ep)
        texts.append(repr(client))  # a client actor's id is their reference
    texts += _reprs(rows)
    texts += _reprs(practice.closed_outcomes(sup))
    texts += _reprs(attention_list(practice, sup, today=date(2026, 6, 4)))
    texts += _reprs(practice_outcomes(practice, sup))
    texts += _reprs(quality_reports(practice, sup, today=date(2026, 6, 4)))
    texts += _reprs(practice.store.audit_records())
    texts.append(repr(practice))
    texts.append(repr(practice.store))
    practice.close()
    return texts


def _refusals(practice: Practice, sup: Actor, me: Actor, client: Actor, ep: str) -> list[str]:
    """Refusals and rule breaks with canary-laden input: their messages and reprs."""
    texts: list[str] = []
    day = date(2026, 6, 1)
    bad_calls = [
        lambda: practice.record_session(
            sup, ep, Session(held_on=day, modality="video", attendance="attended")
        ),
        lambda: practice.break_glass(sup, ep, reason="no emergency purpose"),
        lambda: practice.record_process_note(sup, ep, written_on=day, text="x"),
        lambda: practice.put_on_hold(me, ep, on=date(2020, 1, 1), reason="too early"),
        lambda: practice.attach_disagreement(client, ep, "no-such-event", statement="x", received_on=day),
        lambda: practice.record_session(
            me, ep, Session(held_on=day, modality="video", attendance="no-show", helpful="x" * 20_000)
        ),
    ]
    for call in bad_calls:
        with pytest.raises(AlliancekitError) as caught:
            call()
        texts += [str(caught.value), repr(caught.value), repr(caught.value.args)]
    return texts


def test_the_canary_is_in_the_store(canary_demo: tuple[Path, list[str]]) -> None:
    path, _ = canary_demo
    with closing(sqlite3.connect(path)) as conn, conn:
        payloads = [r[0] for r in conn.execute("SELECT payload FROM events")]
        query = "SELECT type FROM events WHERE payload LIKE ?"
        kinds = {r[0] for r in conn.execute(query, (f"%{CANARY}%",))}
    assert sum(CANARY in p for p in payloads) > 100
    assert {"consultation-recorded", "session-recorded", "process-note-recorded", "episode-closed"} <= kinds


def test_the_canary_is_nowhere_in_logs_exceptions_or_reprs(canary_demo: tuple[Path, list[str]]) -> None:
    _, texts = canary_demo
    assert len(texts) > 1000
    leaks = [t for t in texts if CANARY in t]
    assert not leaks, leaks[:3]


def test_no_client_reference_or_alert_is_in_logs_exceptions_or_reprs(
    canary_demo: tuple[Path, list[str]],
) -> None:
    path, texts = canary_demo
    query = "SELECT payload FROM events WHERE type = ?"
    with closing(sqlite3.connect(path)) as conn, conn:
        refs = [r[0] for r in conn.execute("SELECT client_ref FROM episodes")]
        participants = [r[0] for r in conn.execute(query, ("participant-added",))]
        alerts = [r[0] for r in conn.execute(query, ("alert-raised",))]
    # the checks below can fail: every reference is marked, a client endorsed PHQ-9 item 9, and the reprs
    # walked include the alerts and the objects that hold a reference
    assert refs
    assert all(ref.endswith(REF_MARK) for ref in refs)
    assert participants
    assert all(REF_MARK in payload for payload in participants)
    assert any("risk-item-endorsed" in payload for payload in alerts)
    kinds = ("AlertState(", "AlertRaised(", "EpisodeOpened(", "ProgressChart(", "AuditRecord(", "Reason(")
    for kind in kinds:
        assert any(t.startswith(kind) for t in texts), kind
    with closing(Practice(SQLiteStore(path))) as practice:
        rule_ids = {rule.id for rule in alert_rules(practice.plugins)}
    # an audit entry names the command it was for ('plan-ending' is a command and a review decision)
    actions = {f"'{v}'" for k, v in vars(Action).items() if k.isupper()}
    judgements = [f"'{v.value}'" for e in CLINICAL_VOCABULARIES for v in e if f"'{v.value}'" not in actions]
    judgements += [f"<{e.__name__}." for e in CLINICAL_VOCABULARIES]
    leaks = [
        t
        for t in texts
        if REF_MARK in t or any(rule_id in t for rule_id in rule_ids) or any(j in t for j in judgements)
    ]
    assert not leaks, (len(leaks), sorted({t.partition("(")[0][:60] for t in leaks}), leaks[:2])


def test_the_canary_is_not_in_cli_text_output(
    canary_demo: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = canary_demo
    assert main(["caseload", "--db", str(path), "--all"]) == 0
    episodes = [line.split()[0] for line in capsys.readouterr().out.splitlines()[2:-1]]
    outputs = []
    for prefix in episodes:
        assert main(["episode", "show", "--db", str(path), prefix]) == 0
        outputs.append(capsys.readouterr().out)
    assert main(["caseload", "--db", str(path)]) == 0
    assert main(["audit", "show", "--db", str(path)]) == 0
    outputs.append(capsys.readouterr().out)
    text = "\n".join(outputs)
    assert "session 1" in text
    assert CANARY not in text
    assert "process note" not in text  # process notes are not even mentioned in the timeline


# -- scores: client data too, kept out of every repr ---------------------------------------------------------

SCORE = "14.8"  # ORS items of 3.7: a total found nowhere else in the record


def test_no_score_or_risk_item_is_in_the_reprs_of_what_the_facade_returns() -> None:
    from alliancekit.domain import Administration, Ending, Review
    from alliancekit.feedback.reports import progress_chart

    from .helpers import CLINIC, active_episode

    me, sup = Actor("clin-a", Role.CLINICIAN, CLINIC), Actor("sup-1", Role.SUPERVISOR, CLINIC)
    setup = active_episode()
    p, ep, day = setup.practice, setup.episode_id, date(2026, 6, 1)  # the clock's today
    ors = Administration("ors", "1.0", "start", dict.fromkeys(_ORS_ITEMS, 3.7))
    phq9 = Administration("phq-9", "1.0", "start", {**{f"q{i}": 1 for i in range(1, 9)}, "q9": 2})
    p.record_session(
        me, ep, Session(held_on=day, modality="video", attendance="attended", administrations=(ors, phq9))
    )
    p.record_review(me, ep, Review(held_on=day, decision="continue"))
    request = p.request_administration(me, ep, measure="ors")
    assert request.token is not None
    submission = p.submit_response(request.token, answers=dict.fromkeys(_ORS_ITEMS, 3.7))
    assert submission.total == 14.8
    p.close_episode(me, ep, Ending(ended_on=day, planned=False, reason="dropout"))
    returned = [
        submission,
        p.episode(me, ep),
        p.rebuild_state(me, ep),
        list(p.timeline(me, ep)),
        p.session_history(me, ep, setup.session_id),
        p.shared_record(me, ep),
        p.caseload(me, include_closed=True),
        p.closed_outcomes(sup),
        progress_chart(p, me, ep),
    ]
    assert SCORE in str(p.episode(me, ep).latest_scores["ors"].total)  # the check below can fail
    texts = [text for value in returned for text in _reprs(value)]
    leaks = [t for t in texts if SCORE in t or "'q9'" in t]
    assert not leaks, leaks[:3]


_ORS_ITEMS = ("individually", "interpersonally", "socially", "overall")
