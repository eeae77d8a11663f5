"""Ids and references through the facade: one client, one spelling.

A whitespace-only reference was taken, ``"c1 "`` and ``"c1"`` were two clients, and so were the NFD and NFC
spellings of one name; a read by such an id missed (``not-found``) instead of being refused. Every id a call
takes is now checked by :func:`alliancekit.domain.checks.check_ref`, on writes and reads alike, while free
text keeps whatever spacing and characters the writer gave it.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Role
from alliancekit.errors import ValidationError
from alliancekit.practice import Practice

from .conftest import CANARY, active_episode, clinician, counter_ids, day, fixed_clock

#: Ids the rules refuse, each with the rule an error names: at the edges of each rule.
REFUSED = [
    (" ", "required"),
    ("\u00a0", "required"),
    ("c1 ", "whitespace"),
    (" c1", "whitespace"),
    ("\u00a0c1", "whitespace"),  # a no-break space leading
    ("c1\u2003", "whitespace"),
    ("c\u200b1", "control-character"),  # a zero-width space
    ("c1\u202e", "control-character"),  # a bidi override
    ("\u2066c1", "control-character"),  # a bidi isolate
    ("c\n1", "control-character"),
    ("c\t1", "control-character"),
    ("rene\u0301e", "unicode-nfc"),  # NFD: the NFC spelling is "ren\u00e9e"
]
ACCEPTED = ["c 1", "c1", "ren\u00e9e", "x"]


@pytest.fixture
def on_disk(tmp_path: Path) -> Iterator[tuple[Practice, Path]]:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=fixed_clock(), ids=counter_ids()) as practice:
        yield practice, path


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted(conn.execute(f'SELECT * FROM "{name}"'), key=repr) for name in names}  # noqa: S608


def _refused(call: Any, field: str, rule: str, value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()
    assert (caught.value.field, caught.value.rule) == (field, rule)
    if value.strip():  # never the id itself (it may be a client's reference)
        assert value.strip() not in str(caught.value)


@pytest.mark.parametrize(("value", "rule"), REFUSED)
def test_a_client_reference_the_rules_refuse_starts_no_episode(
    on_disk: tuple[Practice, Path], value: str, rule: str
) -> None:
    practice, path = on_disk
    before = _tables(path)
    _refused(
        lambda: practice.start_episode(
            clinician(), client_ref=value, clinician_id="clin-1", opened_on=day(0)
        ),
        "client_ref",
        rule,
        value,
    )
    assert _tables(path) == before


@pytest.mark.parametrize("value", ACCEPTED)
def test_a_client_reference_at_the_edge_of_the_rules_is_taken(
    on_disk: tuple[Practice, Path], value: str
) -> None:
    practice, _ = on_disk
    ep = practice.start_episode(clinician(), client_ref=value, clinician_id="clin-1", opened_on=day(0))
    assert practice.episode(clinician(), ep).client_ref == value


def test_the_nfd_spelling_of_a_reference_is_refused_not_taken_for_another_client(
    on_disk: tuple[Practice, Path],
) -> None:
    practice, path = on_disk
    nfc = "ren\u00e9e"
    practice.start_episode(clinician(), client_ref=nfc, clinician_id="clin-1", opened_on=day(0))
    before = _tables(path)
    nfd = unicodedata.normalize("NFD", nfc)
    _refused(
        lambda: practice.start_episode(clinician(), client_ref=nfd, clinician_id="clin-1", opened_on=day(0)),
        "client_ref",
        "unicode-nfc",
        nfd,
    )
    _refused(lambda: practice.audit_entries(clinician(), client_ref=nfd), "client_ref", "unicode-nfc", nfd)
    assert _tables(path) == before


@pytest.mark.parametrize(("value", "rule"), REFUSED)
def test_other_ids_of_a_call_are_held_to_the_same_rules(
    on_disk: tuple[Practice, Path], value: str, rule: str
) -> None:
    """The clinician's id, the idempotency key, the actor's own ids: each refused by its name."""
    practice, path = on_disk
    before = _tables(path)
    start = practice.start_episode
    _refused(
        lambda: start(clinician(), client_ref="c1", clinician_id=value, opened_on=day(0)),
        "clinician_id",
        rule,
        value,
    )
    _refused(
        lambda: start(
            clinician(), client_ref="c1", clinician_id="clin-1", opened_on=day(0), idempotency_key=value
        ),
        "idempotency_key",
        rule,
        value,
    )
    _refused(lambda: Actor(value, Role.CLINICIAN, "clinic-1"), "Actor.id", rule, value)
    _refused(lambda: Actor("clin-1", Role.CLINICIAN, value), "Actor.clinic_id", rule, value)
    assert _tables(path) == before


@pytest.mark.parametrize(("value", "rule"), REFUSED)
def test_a_read_by_an_id_the_rules_refuse_is_refused_not_missed(
    on_disk: tuple[Practice, Path], value: str, rule: str
) -> None:
    """Such a read was a ``not-found`` (audited as one): now it is refused before anything is read or
    written, as a write naming that id is."""
    practice, path = on_disk
    actor = clinician()
    ep, _ = active_episode(practice, actor)
    before = _tables(path)
    _refused(lambda: practice.episode(actor, value), "episode_id", rule, value)
    _refused(lambda: practice.timeline(actor, value), "episode_id", rule, value)
    _refused(lambda: practice.session_history(actor, ep, value), "session_id", rule, value)
    _refused(lambda: practice.caseload(actor, clinician_id=value), "clinician_id", rule, value)
    _refused(lambda: practice.clinic_today(value), "clinic_id", rule, value)
    assert _tables(path) == before


def test_free_text_is_not_held_to_the_id_rules(on_disk: tuple[Practice, Path]) -> None:
    """A note keeps its spacing, tabs, NFD letters and format characters: it is the writer's words."""
    practice, _ = on_disk
    actor = clinician()
    ep, _ = active_episode(practice, actor)
    words = f" {CANARY}\tre\u0301sume\u0301\u200b\u202e "
    practice.put_on_hold(actor, ep, on=day(5), reason=words)
    held = [e.event for e in practice.timeline(actor, ep) if e.type == "episode-put-on-hold"]
    assert [event.reason for event in held] == [words]  # type: ignore[attr-defined]
