"""Who may refit the expected-response model of a store that holds several clinics, and whose audit logs the
refit is entered in: on the memory store and on SQLite files on disk.

The model is practice-wide: it is fitted from every clinic's closed outcomes and every clinic's feedback is
read against it. Before this, an administrator of one clinic refitted it for all of them, and the refit was
entered in their own clinic's log only. It is now decided as a key rotation is (``AccessRequest.clinics``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from alliancekit import Actor, Practice, open_practice
from alliancekit.domain import Purpose, Role
from alliancekit.errors import AccessDenied
from alliancekit.feedback.expectation import FIT_KEY
from alliancekit.security.policy import ACROSS_CLINICS, AccessRequest, Action, DefaultPolicy

from .helpers import Clock, open_on

D = date(2026, 1, 5)
SYSTEM = Actor("refitter", Role.SYSTEM, clinic_id="ops", purpose=Purpose.OPERATIONS)


def _admin(clinic: str) -> Actor:
    return Actor(f"it-{clinic}", Role.ADMINISTRATOR, clinic_id=clinic)


@pytest.fixture(params=["memory", "sqlite"])
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Practice]:
    p = open_on(request.param, tmp_path)
    yield p
    p.close()


def _episodes(p: Practice, *clinics: str) -> None:
    for clinic in clinics:
        me = Actor(f"clin-{clinic}", Role.CLINICIAN, clinic_id=clinic)
        p.start_episode(me, client_ref=f"host-{clinic}", clinician_id=me.id, opened_on=D)


def _refits(p: Practice) -> list[tuple[str, str, str, str]]:
    """Every refit entry in the store: (clinic, actor, role, outcome)."""
    return sorted(
        (r.clinic_id, r.actor_id, r.actor_role, r.outcome)
        for r in p.store.audit_records()
        if r.action == Action.REFIT_EXPECTATIONS
    )


def test_an_administrator_refits_the_model_of_a_store_of_their_own_clinic(opened: Practice) -> None:
    _episodes(opened, "north")
    fit = opened.refit_expectations(_admin("north"))
    assert fit.fitted_at is not None
    assert opened.store.load_meta(FIT_KEY) is not None
    assert _refits(opened) == [("north", "it-north", "administrator", "allowed")]


def test_an_empty_store_is_refitted_by_an_administrator_and_entered_in_their_log(opened: Practice) -> None:
    assert opened.refit_expectations(_admin("north")).fitted_at is not None
    assert _refits(opened) == [("north", "it-north", "administrator", "allowed")]


def test_an_administrator_of_one_clinic_is_refused_a_store_of_several_and_nothing_is_written(
    opened: Practice,
) -> None:
    _episodes(opened, "north", "south")
    with pytest.raises(AccessDenied, match="another clinic's records"):
        opened.refit_expectations(_admin("north"))
    # refused and audited in the actor's clinic only; no fit stored, none in use
    assert _refits(opened) == [("north", "it-north", "administrator", "refused")]
    assert opened.store.load_meta(FIT_KEY) is None
    assert opened.expectations.fit.fitted_at is None
    # the system actor refits it, entered in the log of each clinic the model is fitted from and used by
    assert opened.refit_expectations(SYSTEM).fitted_at is not None
    assert opened.store.load_meta(FIT_KEY) is not None
    assert _refits(opened) == [
        ("north", "it-north", "administrator", "refused"),
        ("north", "refitter", "system", "allowed"),
        ("south", "refitter", "system", "allowed"),
    ]
    # each clinic's auditor reads its own entry of the refit
    for clinic in ("north", "south"):
        entries = opened.audit_entries(_admin(clinic))
        refits = {(e.actor_id, e.outcome) for e in entries if e.action == Action.REFIT_EXPECTATIONS}
        assert ("refitter", "allowed") in refits


def test_the_refit_entries_of_several_clinics_verify_in_each_clinics_chains(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with open_practice(path, clock=Clock()) as p:
        _episodes(p, "north", "south")
        p.refit_expectations(SYSTEM)
    with open_practice(path, clock=Clock(), read_only=True) as again:
        for clinic in ("north", "south"):
            assert again.verify(_admin(clinic)).ok


@pytest.mark.parametrize("action", sorted(ACROSS_CLINICS))
def test_the_default_policy_decides_each_cross_clinic_action_on_the_clinics_it_reaches(action: str) -> None:
    policy = DefaultPolicy()

    def decide(clinics: frozenset[str] | None) -> bool:
        request = AccessRequest(_admin("north"), action, "store", "(all)", clinics=clinics)
        return policy.decide(request).allowed

    assert decide(frozenset({"north"}))
    assert decide(frozenset())
    assert decide(None)
    assert not decide(frozenset({"north", "south"}))
    assert not decide(frozenset({"south"}))
    system = AccessRequest(SYSTEM, action, "store", "(all)", clinics=frozenset({"north", "south"}))
    assert policy.decide(system).allowed
