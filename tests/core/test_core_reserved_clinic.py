"""The clinic id ``(none)`` is reserved: it is the clinic (and the audit chains) of the entries of calls made
without an actor, which every clinic's auditor sees and every clinic's report checks.

A clinic of that id was accepted: its entries were taken for those calls' (shown to every other clinic's
auditor) and its audit chains were the shared ones of those calls. Every place a clinic id comes in now
refuses it with a ``ValidationError`` naming the field and the rule ``reserved``; ids next to it are taken.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from alliancekit import Practice
from alliancekit.cli.common import given_clinic
from alliancekit.domain import Actor, Role
from alliancekit.domain.checks import NO_CLINIC, check_clinic
from alliancekit.errors import MissingActor, ValidationError
from alliancekit.store.memory import MemoryStore
from alliancekit.testing.suite import builtin_plugins

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: Ids next to the reserved one, each an ordinary clinic id.
NEAR = ["(None)", "none", "(none)x", "x(none)", "( none)", "(nonE)"]


def _refused(call: object, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        call()  # type: ignore[operator]
    assert (caught.value.field, caught.value.rule) == (field, "reserved")
    assert "(none)" not in caught.value.field


def test_the_reserved_id_is_the_clinic_of_calls_without_an_actor() -> None:
    practice = Practice(MemoryStore(), plugins=builtin_plugins(), clock=lambda: T0)
    with pytest.raises(MissingActor):
        practice.caseload(None)  # type: ignore[arg-type]
    [entry] = practice.store.audit_records()
    assert (entry.clinic_id, entry.chain) == (NO_CLINIC, NO_CLINIC) == ("(none)", "(none)")


def test_an_actor_of_the_reserved_clinic_is_refused() -> None:
    _refused(lambda: Actor("admin-1", Role.ADMINISTRATOR, NO_CLINIC), "Actor.clinic_id")
    _refused(lambda: check_clinic("clinic", NO_CLINIC), "clinic")


@pytest.mark.parametrize("clinic", NEAR)
def test_ids_next_to_the_reserved_one_are_clinics(clinic: str) -> None:
    assert Actor("admin-1", Role.ADMINISTRATOR, clinic).clinic_id == clinic
    assert check_clinic("clinic", clinic) == clinic


def test_every_other_way_in_refuses_it() -> None:
    _refused(lambda: Practice(MemoryStore(), clinic_time_zones={NO_CLINIC: "UTC"}), "clinic_time_zones")
    _refused(lambda: Practice(MemoryStore(), protocols={NO_CLINIC: "none"}), "protocols")
    practice = Practice(MemoryStore(), plugins=builtin_plugins(), clock=lambda: T0)
    _refused(lambda: practice.clinic_today(NO_CLINIC), "clinic_id")
    _refused(lambda: practice.redeem_kiosk_code(NO_CLINIC, "ABCD-EFGH", source="tablet-1"), "clinic_id")
    _refused(lambda: given_clinic(argparse.Namespace(clinic=NO_CLINIC)), "clinic")
    assert practice.store.audit_records() == []  # refused before anything was written
