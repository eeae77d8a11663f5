"""Issue 12's numbers through a real practice (SQLite on disk): exact thresholds in the alert rules,
OpenFIT's zones computed by hand, and plain statements of what could not be computed."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Role
from alliancekit.feedback import Expectation, Zone
from alliancekit.feedback.expectation import rational_expectation
from alliancekit.feedback.reports.outcomes import practice_outcomes
from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.plugins.manager import make_plugin_host

from .conftest import CLINIC, Clinic, core10, make_clinic, ors, srs

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)


def test_ors_exact_five_point_changes(clinic: Clinic) -> None:
    # 20.4 - 15.4 is 4.999999999999998 in binary floating point; the rule must see 5.0
    down = clinic.episode()
    clinic.session(down, ors(20.4))
    clinic.session(down, ors(15.4))
    assert "reliable-deterioration" in clinic.rules_raised(down)
    up = clinic.episode()
    clinic.session(up, ors(15.4))
    clinic.session(up, ors(20.4))
    assert "reliable-deterioration" not in clinic.rules_raised(up)
    clinic.p.close_episode(
        clinic.actor, up, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
    )
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.overall.reliable_improvement.numerator == 1  # a reliable improvement, not "unchanged"


@pytest.mark.parametrize(("second", "drop"), [(31.8, True), (31.7, True), (31.9, False)])
def test_srs_alliance_drop_of_exactly_one_point(clinic: Clinic, second: float, drop: bool) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(32.8))
    clinic.session(ep, srs(second))
    assert ("alliance-dropped" in clinic.rules_raised(ep)) is drop


def test_zones_of_a_small_practice_by_hand(clinic: Clinic) -> None:
    """ORS intake 15.4, session 2, rational expectation (no fitted curves): predicted
    15.4 + 5 * ln 2 / ln 6 = 15.4 + 1.934264 = 17.334264; lower bound 17.334264 - 5 = 12.334264;
    drawn band 17.334264 +- 2.5. OpenFIT: at or above the prediction green, below it but at or above the
    lower bound amber (orange), below the bound red."""
    measure = clinic.p.plugins.measures().get("ors")
    e = clinic.p.expectations.expect(measure, 15.4, 2)
    assert e is not None
    assert e.expected == pytest.approx(15.4 + 5 * math.log(2) / math.log(6), abs=1e-6)
    assert e.limit == pytest.approx(e.expected - 5, abs=1e-6)
    assert (e.low, e.high) == pytest.approx((e.expected - 2.5, e.expected + 2.5), abs=1e-6)
    assert [e.zone(t) for t in (17.4, 17.3, 15.0, 12.4, 12.3)] == [
        Zone.GREEN,
        Zone.AMBER,  # inside the drawn band, below the prediction
        Zone.AMBER,
        Zone.AMBER,
        Zone.RED,
    ]
    raised = {}
    for second in (17.4, 17.3, 12.3):
        ep = clinic.episode()
        clinic.session(ep, ors(15.4))
        clinic.session(ep, ors(second))
        raised[second] = [r for r in clinic.rules_raised(ep) if r.startswith("outcome-")]
    assert raised == {
        17.4: [],
        17.3: ["outcome-below-expected"],
        12.3: ["outcome-far-below-expected"],
    }


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_zone_exactly_on_the_prediction_and_on_the_bound(higher_is_better: bool) -> None:
    sign = 1 if higher_is_better else -1
    e = Expectation(3, 20.4, 20.4 - 2.5, 20.4 + 2.5, 20.4 - sign * 5, higher_is_better, "test")
    assert e.zone(20.4) is Zone.GREEN
    assert e.zone(20.4 - sign * 0.1) is Zone.AMBER
    assert e.zone(20.4 + sign * 0.1) is Zone.GREEN
    bound = 20.4 - sign * 5
    assert e.zone(bound) is Zone.AMBER
    assert e.zone(bound - sign * 0.1) is Zone.RED


def test_rational_expectation_reaches_exactly_one_threshold_at_the_horizon(clinic: Clinic) -> None:
    measure = clinic.p.plugins.measures().get("ors")
    e = rational_expectation(measure, 15.4, 6)
    assert e is not None
    assert e.expected == 20.4  # exactly: 15.4 + 5
    assert e.zone(20.4) is Zone.GREEN
    assert e.zone(20.3) is Zone.AMBER


def test_empty_practice_says_nothing_can_be_computed(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    outcomes = practice_outcomes(c.p, SUPERVISOR)
    assert outcomes.overall.saes is None
    assert outcomes.overall.recovery.value is None
    assert outcomes.summary == "This practice has no episodes yet: there is nothing to report."
    assert outcomes.notes == ("No closed episode: no change rates and no SAES can be computed.",)


def test_episodes_without_a_baseline_and_too_few_for_saes_are_stated(clinic: Clinic) -> None:
    for totals in ([], [15.0], [15.0, 21.0]):
        ep = clinic.episode()
        for total in totals:
            clinic.session(ep, ors(total))
        clinic.p.close_episode(
            clinic.actor, ep, Ending(ended_on=clinic.day, planned=False, reason=EndingReason.LIFE_CHANGE)
        )
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.overall.saes is None
    assert outcomes.overall.saes_bucket == "-"
    assert outcomes.notes == (
        (
            "2 ended episode(s) have no intake and later score on an outcome measure: they are counted as "
            "ended but not in change rates or SAES."
        ),
        (
            "ors: SAES not computed: 1 closed episode(s) with a clinical-range intake and a later score, "
            "at least 3 needed."
        ),
    )


class NoNormsMeasure:
    """CORE-10 items and scoring registered as another outcome measure with no norms at all."""

    @hookimpl
    def alliancekit_register_measures(self, register: Any) -> None:
        d = copy.deepcopy(json.loads(json.dumps(load_builtin_definition("core-10-1.0"))))
        d["id"] = "core-10-plain"
        d["norms"] = []
        for example in d["examples"]:  # no norms, no clinical status to score (registration checks it)
            example.pop("clinical", None)
        register(d)


def test_a_measure_without_norms_gets_no_saes_and_no_zone_and_says_why(tmp_path: Path) -> None:
    host = make_plugin_host(load_entry_points=False, extra_plugins=[NoNormsMeasure()])
    c = Clinic(open_practice(tmp_path / "p.sqlite", plugins=host))
    measure = c.p.plugins.measures().get("core-10-plain")
    for _ in range(3):
        ep = c.episode()
        for total in (20, 12):
            admin = core10(total)
            c.session(ep, type(admin)("core-10-plain", "1.0", admin.timing, admin.answers))
        c.p.close_episode(c.actor, ep, Ending(ended_on=c.day, planned=False, reason=EndingReason.LIFE_CHANGE))
    assert c.p.expectations.expect(measure, 20, 2) is None
    assert c.p.expectations.unavailable(measure, 20, 2) == (
        "Clinical Outcomes in Routine Evaluation - 10 has no expected response: no plugin model or fitted "
        "curve covers it and its norms give no reliable-change threshold to build one from"
    )
    outcomes = practice_outcomes(c.p, SUPERVISOR)
    assert outcomes.overall.saes is None
    assert outcomes.overall.measured == 0
    assert outcomes.notes == (
        (
            "core-10-plain: no reliable-change classes for 3 episode(s): the measure's norms give no "
            "reliable-change threshold."
        ),
        (
            "core-10-plain: SAES not computed for 3 episode(s): the measure's norms give no clinical cutoff, "
            "so the clinical range the SAES is computed over cannot be decided."
        ),
    )
