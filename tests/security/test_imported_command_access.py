"""``Practice.imported_command`` (what an import's dry run asks instead of writing) is decided as the command.

Whether a key holds a given request is an answer about the record: asked with a guess at a session's
answers, it confirms the guess or not. It was decided as an import, so an administrator (shown no clinical
content) could confirm, unaudited, a guess at a client's PHQ-9 item 9 under a key read from nothing but
the episode's reference; and another clinic's episode answered ``None`` where an id naming no episode is
not found. Now only whoever may make the command, or made it, is answered; anyone else is refused and
audited, and another clinic's episode is not found, exactly as an unknown id.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Practice, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import Actor, Administration, Role, Session
from alliancekit.errors import AccessDenied, IdempotencyKeyReused, NotFoundError, ValidationError
from alliancekit.store.memory import MemoryStore

from .helpers import CLINIC, Clock, active_episode, actor

KEY = "host-key-1"
HELD_ON = date(2026, 1, 19)


def _session(item_9: int) -> Session:
    answers = {**{f"q{i}": 1 for i in range(1, 9)}, "q9": item_9}
    return Session(
        held_on=HELD_ON,
        modality="video",
        attendance="attended",
        administrations=(Administration("phq-9", "1.0", "start", answers),),
    )


def _stored(p: Practice, episode_id: str) -> None:
    p.record_session(actor("clin_own"), episode_id, _session(3), idempotency_key=KEY)  # type: ignore[arg-type]


def _ask(p: Practice, who: Actor | None, episode_id: str, item_9: int) -> str | None:
    return p.imported_command(
        who,  # type: ignore[arg-type]
        "record_session",
        {"session": _session(item_9)},
        idempotency_key=KEY,
        episode_id=episode_id,
    )


def _entries(p: Practice, outcome: str) -> int:
    return sum(1 for r in p.store.audit_records() if r.outcome == outcome)  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["admin", "system", "supervisor", "clin_other", "client_own"])
def test_no_one_the_policy_refuses_the_command_learns_whether_a_guess_is_stored(kind: str) -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    for guess in range(4):  # the stored answer (3) among them: every guess is refused alike
        before = _entries(p, "refused")
        with pytest.raises(AccessDenied):
            _ask(p, actor(kind), setup.episode_id, guess)
        assert _entries(p, "refused") == before + 1


def test_the_clinician_of_record_is_answered_as_the_command_would_answer_them() -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    assert _ask(p, actor("clin_own"), setup.episode_id, 3) == setup.episode_id
    with pytest.raises(IdempotencyKeyReused):
        _ask(p, actor("clin_own"), setup.episode_id, 2)


def test_an_unused_key_is_none_for_the_clinician_of_record() -> None:
    setup = active_episode()
    assert _ask(setup.practice, actor("clin_own"), setup.episode_id, 3) is None


def test_whoever_made_the_command_is_answered_after_a_transfer() -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    p.transfer(
        actor("clin_own"),  # type: ignore[arg-type]
        setup.episode_id,
        to_clinician_id="clin-b",
        on=HELD_ON,
        reason="synthetic",
    )
    assert _ask(p, actor("clin_own"), setup.episode_id, 3) == setup.episode_id
    before = _entries(p, "refused")
    with pytest.raises(AccessDenied):  # not the request clin-a made: nothing said of the key
        _ask(p, actor("clin_own"), setup.episode_id, 2)
    assert _entries(p, "refused") == before + 1


def test_another_clinics_episode_is_not_found_as_an_unknown_id_is() -> None:
    p = Practice(MemoryStore(), clock=Clock())
    setup = active_episode(p)
    _stored(p, setup.episode_id)
    elsewhere = Actor("adm-2", Role.ADMINISTRATOR, "c2")
    clinician_elsewhere = actor("clin_elsewhere")  # clin-a, of clinic c2
    for who in (elsewhere, clinician_elsewhere):
        for episode_id in (setup.episode_id, "f" * 32):
            before = _entries(p, "not-found")
            with pytest.raises(NotFoundError):
                _ask(p, who, episode_id, 3)
            assert _entries(p, "not-found") == before + 1
    assert CLINIC != "c2"


def test_a_start_is_answered_only_to_whoever_may_start_the_episode() -> None:
    setup = active_episode()
    p = setup.practice
    args = {"client_ref": "client-9", "clinician_id": "clin-a", "opened_on": HELD_ON, "population": None}
    own = actor("clin_own")
    episode_id = p.start_episode(own, **args, idempotency_key="start-key")  # type: ignore[arg-type]
    assert p.imported_command(own, "start_episode", args, idempotency_key="start-key") == episode_id  # type: ignore[arg-type]
    for kind in ("admin", "system", "clin_other"):
        with pytest.raises(AccessDenied):
            p.imported_command(actor(kind), "start_episode", args, idempotency_key="start-key")  # type: ignore[arg-type]


def test_on_a_read_only_practice_a_refusal_answers_nothing_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite"
    with open_practice(db) as p:
        setup = active_episode(p)
        _stored(p, setup.episode_id)
        entries = len(p.store.audit_records())  # type: ignore[attr-defined]
    with open_practice(db, read_only=True) as p:
        for guess in (2, 3):
            with pytest.raises(AccessDenied):
                _ask(p, actor("admin"), setup.episode_id, guess)
        assert _ask(p, actor("clin_own"), setup.episode_id, 3) == setup.episode_id
    with open_practice(db) as p:
        assert len(p.store.audit_records()) == entries  # type: ignore[attr-defined]


MAPPING = """
[columns]
client = "Client"
episode = "Episode"
session_date = "Date"

[defaults]
clinician = "clin-a"
modality = "video"
attendance = "attended"

[[measures]]
measure = "phq-9"
timing = "start"
total = "PHQ9"
"""


def test_a_dry_run_reports_a_session_the_import_would_be_refused_as_the_import_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An episode transferred since it was imported: its next session is refused to the clinician the
    source names. The dry run (read-only) says so by its row, as the import then does."""
    db, mapping, source = tmp_path / "p.sqlite", tmp_path / "map.toml", tmp_path / "history.csv"
    mapping.write_text(MAPPING, encoding="utf-8")
    source.write_text("Client,Episode,Date,PHQ9\nc-1,1,2026-01-05,5\n", encoding="utf-8")
    assert main(["import", "csv", "--mapping", str(mapping), "--db", str(db), "--create", str(source)]) == 0
    with open_practice(db) as p:
        clin_a = Actor("clin-a", Role.CLINICIAN, "default")
        (row,) = p.caseload(clin_a)
        p.transfer(clin_a, row.episode_id, to_clinician_id="clin-b", on=date(2026, 1, 6), reason="leave")
    source.write_text("Client,Episode,Date,PHQ9\nc-1,1,2026-01-05,5\nc-1,1,2026-01-12,6\n", encoding="utf-8")
    capsys.readouterr()
    reports = []
    for dry in (["--dry-run"], []):
        argv = ["import", "csv", "--mapping", str(mapping), "--db", str(db), str(source), "--json", *dry]
        assert main(argv) == 1
        reports.append(json.loads(capsys.readouterr().out)["errors"])
    refused = [{"row": 3, "field": "record_session", "rule": "AccessDenied"}]
    for errors in reports:
        assert [{k: e[k] for k in ("row", "field", "rule")} for e in errors] == refused


# -- any_request: whether a key holds a request of the command on the episode, whatever its arguments ------


def _any(p: Practice, who: Actor | None, episode_id: str, key: str = KEY) -> str | None:
    return p.imported_command(
        who,  # type: ignore[arg-type]
        "record_session",
        {},
        idempotency_key=key,
        episode_id=episode_id,
        any_request=True,
    )


@pytest.mark.parametrize("kind", ["admin", "system", "supervisor", "clin_other", "client_own"])
def test_no_one_the_policy_refuses_the_command_learns_whether_a_key_is_used(kind: str) -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    for key in (KEY, "an-unused-key"):  # used or not: refused alike, and audited
        before = _entries(p, "refused")
        with pytest.raises(AccessDenied):
            _any(p, actor(kind), setup.episode_id, key)
        assert _entries(p, "refused") == before + 1


def test_the_clinician_of_record_learns_whether_a_key_is_used_on_the_episode() -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    assert _any(p, actor("clin_own"), setup.episode_id) == setup.episode_id
    assert _any(p, actor("clin_own"), setup.episode_id, "an-unused-key") is None
    other = active_episode(p).episode_id  # clin-a's too: the key holds a request on another episode
    with pytest.raises(IdempotencyKeyReused):  # as asking with the arguments says, naming no episode
        _any(p, actor("clin_own"), other)


def test_whoever_made_the_command_learns_only_of_their_own_key_after_a_transfer() -> None:
    setup = active_episode()
    p = setup.practice
    _stored(p, setup.episode_id)
    p.transfer(
        actor("clin_own"),  # type: ignore[arg-type]
        setup.episode_id,
        to_clinician_id="clin-b",
        on=HELD_ON,
        reason="synthetic",
    )
    assert _any(p, actor("clin_own"), setup.episode_id) == setup.episode_id
    before = _entries(p, "refused")
    with pytest.raises(AccessDenied):  # a key clin-a never used: nothing said of it
        _any(p, actor("clin_own"), setup.episode_id, "an-unused-key")
    assert _entries(p, "refused") == before + 1


def test_any_request_is_for_a_command_on_an_episode_and_a_bool() -> None:
    setup = active_episode()
    p = setup.practice
    own = actor("clin_own")
    with pytest.raises(ValidationError) as start:
        p.imported_command(own, "start_episode", {}, idempotency_key="k", any_request=True)  # type: ignore[arg-type]
    assert (start.value.field, start.value.rule) == ("any_request", "episode-command")
    with pytest.raises(ValidationError) as flag:
        p.imported_command(
            own,  # type: ignore[arg-type]
            "record_session",
            {},
            idempotency_key=KEY,
            episode_id=setup.episode_id,
            any_request=1,  # type: ignore[arg-type]
        )
    assert (flag.value.field, flag.value.rule) == ("any_request", "type")
