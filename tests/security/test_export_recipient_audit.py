"""The audit entry of an export or a share names whom it went to (an accounting of disclosures says to
whom): allowed, refused, not found or overridden, and the stored measure definitions an export reads. A
recipient is a host's id, never in parentheses (``(unnamed)`` is what an entry records for none named).
Every export path (Python and CLI) is in ``test_lockbox_matrix``; these are the guard's other ways out."""

from __future__ import annotations

from datetime import date

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import AccessDenied, NotFoundError, ValidationError
from alliancekit.store.protocol import AuditRecord

from .helpers import CLINIC, active_episode

ADMIN = Actor("adm-1", Role.ADMINISTRATOR, CLINIC, Purpose.OPERATIONS)
OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
OTHER = Actor("clin-b", Role.CLINICIAN, CLINIC)
SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)
TO = "hospital-x"


def _new(p: Practice, before: set[str]) -> list[AuditRecord]:
    """The entries written since ``before`` (the ids then), but the auditor's reads of the log."""
    return [e for e in p.audit_entries(ADMIN) if e.entry_id not in before and e.action != "read-audit"]


def _ids(p: Practice) -> set[str]:
    return {e.entry_id for e in p.audit_entries(ADMIN)}


@pytest.mark.parametrize("recipient", [None, TO])
def test_a_refused_export_names_its_recipient(recipient: str | None) -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    before = _ids(p)
    with pytest.raises(AccessDenied):
        p.export_record(OTHER, ep, recipient=recipient)
    (entry,) = _new(p, before)
    assert (entry.outcome, entry.action, entry.recipient) == (
        "refused",
        "export-fhir",
        recipient or "(unnamed)",
    )
    assert p.verify(ADMIN).ok


def test_an_export_of_an_episode_that_does_not_exist_names_its_recipient() -> None:
    p = active_episode().practice
    before = _ids(p)
    with pytest.raises(NotFoundError):
        p.shared_record(SUPERVISOR, "no-such-episode", recipient=TO)
    (entry,) = _new(p, before)
    assert (entry.outcome, entry.record_id, entry.recipient) == ("not-found", "no-such-episode", TO)


def test_a_lockbox_override_names_its_recipient() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    p.set_lockbox(OWN, ep, scope="record", on=date(2026, 1, 19))
    before = _ids(p)
    p.shared_record(SUPERVISOR, ep, recipient=TO, override_reason="court order")
    (entry,) = _new(p, before)
    assert (entry.action, entry.outcome, entry.recipient) == ("override-lockbox", "lockbox-override", TO)
    assert p.verify(ADMIN).ok


@pytest.mark.parametrize("recipient", [None, TO])
def test_the_measure_definitions_an_export_reads_are_audited_with_its_recipient(
    recipient: str | None,
) -> None:
    p = active_episode().practice
    before = _ids(p)
    p.measure_definitions(SUPERVISOR, kind="csv", recipient=recipient)
    (entry,) = _new(p, before)
    assert (entry.action, entry.record_type) == ("export-csv", "measure-definitions")
    assert entry.recipient == (recipient or "(unnamed)")


def test_a_read_that_is_no_share_names_no_recipient() -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    before = _ids(p)
    p.timeline(SUPERVISOR, ep)
    p.caseload(SUPERVISOR)
    assert [e.recipient for e in _new(p, before)] == ["", ""]


@pytest.mark.parametrize("reserved", ["(unnamed)", "()", "(hospital-x)"])
def test_a_recipient_in_parentheses_is_refused_and_nothing_is_written(reserved: str) -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    before = _ids(p)
    for call in (
        lambda: p.shared_record(SUPERVISOR, ep, recipient=reserved),
        lambda: p.export_record(SUPERVISOR, ep, recipient=reserved),
        lambda: p.measure_definitions(SUPERVISOR, recipient=reserved),
    ):
        with pytest.raises(ValidationError) as refused:
            call()
        assert (refused.value.field, refused.value.rule) == ("recipient", "reserved")
        assert reserved not in str(refused.value)  # the value is not echoed
    assert _new(p, before) == []


@pytest.mark.parametrize("name", ["(hospital-x", "hospital-x)", "a(b)", "x"])
def test_a_recipient_with_a_parenthesis_at_one_end_only_is_an_id(name: str) -> None:
    setup = active_episode()
    p, ep = setup.practice, setup.episode_id
    before = _ids(p)
    p.export_record(SUPERVISOR, ep, recipient=name)
    assert [e.recipient for e in _new(p, before)] == [name]
