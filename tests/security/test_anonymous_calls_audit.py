"""A call made without an actor is refused and audited as made by nobody. Its entry belongs to no clinic,
so every clinic's auditor reads it: it names a record only by an id the library made (an episode's) or by a
marker, never by a reference the host passed (it may be another clinic's client's). Nothing is read to
file it (tests/security/test_policy_matrix.py: a call without an actor reads nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Role
from alliancekit.domain.vocab import Purpose
from alliancekit.errors import MissingActor
from alliancekit.store.protocol import AuditRecord

from .helpers import CLIENT, active_episode, actor

HOME_AUDITOR = actor("admin")
OTHER_AUDITOR = Actor("adm-2", Role.ADMINISTRATOR, "c2", Purpose.OPERATIONS)


def _refused_anonymously(p: Practice, call: Callable[[Practice], Any]) -> AuditRecord:
    before = set(p.store.audit_records())
    with pytest.raises(MissingActor):
        call(p)
    (entry,) = [r for r in p.store.audit_records() if r not in before]
    assert (entry.actor_id, entry.outcome) == ("(none)", "refused")
    return entry


def _seen_by(auditor: Actor | None, p: Practice, entry: AuditRecord) -> bool:
    return entry.entry_id in {r.entry_id for r in p.audit_entries(auditor)}


def test_an_episode_id_is_kept_it_names_no_one() -> None:
    setup = active_episode()
    p = setup.practice
    entry = _refused_anonymously(p, lambda q: q.timeline(None, setup.episode_id))  # type: ignore[arg-type]
    assert (entry.clinic_id, entry.record_id, entry.client_ref) == ("(none)", setup.episode_id, "")
    assert _seen_by(HOME_AUDITOR, p, entry)


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("a client reference", lambda q: q.audit_entries(None, client_ref=CLIENT)),
        ("a clinician id", lambda q: q.caseload(None, clinician_id="clin-a")),
    ],
)
def test_a_host_reference_is_not_named(name: str, call: Callable[[Practice], Any]) -> None:
    setup = active_episode()
    p = setup.practice
    entry = _refused_anonymously(p, call)
    assert (entry.clinic_id, entry.record_id, entry.client_ref) == ("(none)", "(unnamed)", ""), name
    assert _seen_by(OTHER_AUDITOR, p, entry)  # every clinic's auditor reads it: so it names nothing


def test_a_marker_is_kept() -> None:
    setup = active_episode()
    entry = _refused_anonymously(setup.practice, lambda q: q.caseload(None))
    assert (entry.clinic_id, entry.record_id) == ("(none)", "(clinic)")
