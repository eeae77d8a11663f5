"""A measure whose plugin is gone is described by its stored definition for the history only: a new
administration of it is refused. A new request or kiosk code for it, and a request or kiosk code made while
the plugin was installed (opened, redeemed, answered), are each :class:`UnknownMeasure` naming the measure
and saying its plugin is not installed, never the client's data, and write nothing: no event, no audit
entry, no message, no request, and a kiosk code keeps no token (it can be redeemed once the plugin is back).
With the plugin installed the same calls succeed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.feedback.conftest import CLINIC, CLINICIAN, later, make_clinic
from tests.feedback.test_chart_stored_definition import probe
from tests.feedback.test_stored_definition_rows_and_alerts import HOSTS

from alliancekit import open_practice
from alliancekit.domain import Ending
from alliancekit.errors import InvalidToken, NotFoundError, UnknownMeasure
from alliancekit.practice import Practice

ANSWERS = {"q1": 3, "q2": 3, "q3": 3}
SAID = (
    "no measure with id probe{} "
    "(the store holds a definition of probe: the plugin that supplies it is not installed)"
)


def _made(tmp_path: Path) -> tuple[Path, str, str, str]:
    """An episode that scored the probe, with a link request and a kiosk code for it, made with its plugin."""
    c = make_clinic(tmp_path, plugins=HOSTS[True])
    ep = c.episode()
    c.session(ep, probe(10))
    token = c.p.request_administration(CLINICIAN, ep, measure="probe").token
    code = c.p.kiosk_code(CLINICIAN, ep, measure="probe").code
    assert token is not None
    c.p.close()
    return tmp_path / "p.sqlite", ep, token, code


def _written(p: Practice, ep: str) -> tuple[Any, ...]:
    s: Any = p.store
    return (len(s.load_events(ep)), len(s.audit_records()), len(s.outbox_records()), s.request_records())


CALLS = {
    "request_administration": lambda p, ep, token, code: p.request_administration(
        CLINICIAN, ep, measure="probe"
    ),
    "kiosk_code": lambda p, ep, token, code: p.kiosk_code(CLINICIAN, ep, measure="probe"),
    "open_request": lambda p, ep, token, code: p.open_request(token),
    "redeem_kiosk_code": lambda p, ep, token, code: p.redeem_kiosk_code(CLINIC, code, source="tablet-1"),
    "submit_response": lambda p, ep, token, code: p.submit_response(token, answers=ANSWERS),
}
VERSIONED = {"open_request", "redeem_kiosk_code", "submit_response"}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_a_request_for_a_measure_whose_plugin_is_gone_is_refused_by_name_writing_nothing(
    tmp_path: Path, call: str
) -> None:
    db, ep, token, code = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[False]) as p:
        before = _written(p, ep)
        with pytest.raises(UnknownMeasure) as refused:
            CALLS[call](p, ep, token, code)
        after = _written(p, ep)
    assert isinstance(refused.value, NotFoundError)
    assert refused.value.stored
    assert str(refused.value) == SAID.format(" version 1.0" if call in VERSIONED else "")
    assert "client-x" not in str(refused.value)  # the client's reference
    assert after == before


@pytest.mark.parametrize("call", sorted(CALLS))
def test_with_the_plugin_installed_the_same_calls_succeed(tmp_path: Path, call: str) -> None:
    db, ep, token, code = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[True]) as p:
        assert CALLS[call](p, ep, token, code) is not None


CLIENT_CALLS = ("open_request", "redeem_kiosk_code", "submit_response")


@pytest.mark.parametrize("call", CLIENT_CALLS)
def test_a_closed_episode_s_request_is_the_token_s_refusal_before_its_measure(
    tmp_path: Path, call: str
) -> None:
    """Whether the request can be used at all comes first, on every call through a token or a code: a
    closed episode's request is refused as closed (one audited entry), whatever its measure; submitting
    looked the measure up first and answered UnknownMeasure."""
    db, ep, token, code = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[True]) as p:
        on = later().date()
        p.plan_ending(CLINICIAN, ep, on=on)
        p.close_episode(
            CLINICIAN, ep, Ending(ended_on=on, planned=True, reason="goals-met", no_plan_reason="x")
        )
    with open_practice(db, clock=later, plugins=HOSTS[False]) as p:
        before = _written(p, ep)
        with pytest.raises(InvalidToken):
            CALLS[call](p, ep, token, code)
        after = _written(p, ep)
        [entry] = p.store.audit_records()[before[1] :]
    assert (after[0], after[2], after[3]) == (before[0], before[2], before[3])
    assert (entry.outcome, entry.detail, entry.record_type) == ("refused", "closed", "request")


def test_a_kiosk_code_refused_for_its_measure_is_redeemed_once_the_plugin_is_back(tmp_path: Path) -> None:
    """The refusal gave the code no token: reinstalled, the same code opens the form (it was refused as
    already redeemed when the store had given it a token before the measure was looked up)."""
    db, _, _, code = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[False]) as p, pytest.raises(UnknownMeasure):
        p.redeem_kiosk_code(CLINIC, code, source="tablet-1")
    with open_practice(db, clock=later, plugins=HOSTS[True]) as p:
        form = p.redeem_kiosk_code(CLINIC, code, source="tablet-1")
        assert form.token is not None
        assert p.submit_response(form.token, answers=ANSWERS).total is not None


def test_a_used_request_is_still_the_token_s_refusal(tmp_path: Path) -> None:
    """The measure is looked up after the token's checks: a used token is refused as before (audited)."""
    db, _, token, _ = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[True]) as p:
        p.submit_response(token, answers=ANSWERS)
    with open_practice(db, clock=later, plugins=HOSTS[False]) as p:
        entries = len(p.store.audit_records())
        with pytest.raises(InvalidToken):
            p.open_request(token)
        assert len(p.store.audit_records()) == entries + 1
