"""A measure whose plugin is gone is described by its stored definition for the history only: a new
administration of it is refused. A new request or kiosk code for it, and a request or kiosk code made while
the plugin was installed (opened, redeemed, answered), are each :class:`UnknownMeasure` naming the measure
and saying its plugin is not installed, never the client's data, and write nothing: no event, no audit
entry, no message, no request (a redeemed kiosk code keeps the token the store gave it, which no one gets).
With the plugin installed the same calls succeed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.feedback.conftest import CLINIC, CLINICIAN, later, make_clinic
from tests.feedback.test_chart_stored_definition import probe
from tests.feedback.test_stored_definition_rows_and_alerts import HOSTS

from alliancekit import open_practice
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
    if call == "redeem_kiosk_code":  # the code's row now holds a token hash no one was given; nothing else
        [(was, now)] = [(b, a) for b, a in zip(before[3], after[3], strict=True) if b != a]
        assert (was.token_hash, now.token_hash is not None) == (None, True)
        assert after[:3] == before[:3]
    else:
        assert after == before


@pytest.mark.parametrize("call", sorted(CALLS))
def test_with_the_plugin_installed_the_same_calls_succeed(tmp_path: Path, call: str) -> None:
    db, ep, token, code = _made(tmp_path)
    with open_practice(db, clock=later, plugins=HOSTS[True]) as p:
        assert CALLS[call](p, ep, token, code) is not None


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
