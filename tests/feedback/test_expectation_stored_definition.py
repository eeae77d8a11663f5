"""A measure whose plugin is gone is still fitted by an expectation refit and still scored against
expectation in a review record, by its latest stored definition: the same bands, curves, expected scores,
zones and reliable-change classes as with the plugin installed. The definitions are read within the refit's
(or the review command's) own decided and audited call: no audit entry of their own."""

from __future__ import annotations

import math
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Ending, EndingReason, Purpose, Review, ReviewDecision, Role
from alliancekit.feedback import FeedbackConfig

from .conftest import CLINIC, CLINICIAN, later, make_clinic
from .test_chart_stored_definition import WITH_PROBE, WITHOUT, probe

#: A band is fitted from 3 closed episodes (the default is 30).
FEEDBACK = FeedbackConfig(min_episodes_per_band=3)
ADMIN = Actor("adm", Role.ADMINISTRATOR, CLINIC)
SYSTEM = Actor("maintenance", Role.SYSTEM, CLINIC, Purpose.OPERATIONS)
#: (intake, final) of the closed episodes. The probe's range 3-15 in 5 bins: 10.2 to 12.6 is bin 4 (3
#: episodes: exactly enough for a curve), 7.8 to 10.2 bin 3 (2 episodes: one short, withheld).
CLOSED = [(12, 9), (12, 10), (11, 8), (10, 8), (9, 7)]
#: (intake, latest) of the open episodes reviewed: in bin 4 (the fitted curve) a fall of exactly the
#: reliable change (3 points, still at the cutoff of 9: improved) and one point short of it (unchanged); in
#: bin 3 (the norms) 3 points to below the cutoff (recovered).
OPEN = [(12, 9), (12, 10), (10, 7)]


def practice_file(tmp_path: Path) -> tuple[Path, list[str]]:
    """An SQLite practice that scored the probe with its plugin installed: closed and open episodes."""
    c = make_clinic(tmp_path, plugins=WITH_PROBE, feedback=FEEDBACK)
    for intake, final in CLOSED:
        ep = c.episode()
        for total in (intake, final):
            c.session(ep, probe(total))
        c.day += timedelta(days=1)
        c.p.close_episode(CLINICIAN, ep, Ending(ended_on=c.day, planned=False, reason=EndingReason.GOALS_MET))
    opened = []
    for intake, latest in OPEN:
        ep = c.episode()
        for total in (intake, latest):
            c.session(ep, probe(total))
        opened.append(ep)
    c.p.close()
    return tmp_path / "p.sqlite", opened


def refit_and_review(tmp_path: Path, name: str, plugins: Any, refitter: Actor) -> dict[str, Any]:
    """On a copy of the practice opened with ``plugins``: the refit, each open episode's review scores,
    and the audit entries the refit and the reviews wrote."""
    (tmp_path / name).mkdir()
    db, opened = practice_file(tmp_path / name)
    copy = tmp_path / f"{name}.sqlite"
    shutil.copy(db, copy)
    with open_practice(copy, clock=later, plugins=plugins, feedback=FEEDBACK) as p:
        before = {e.entry_id for e in p.audit_entries(ADMIN)}
        fit = p.refit_expectations(refitter)
        day = later().date() - timedelta(days=1)
        reviews = []
        for ep in opened:
            p.record_review(CLINICIAN, ep, Review(held_on=day, decision=ReviewDecision.CONTINUE))
            [review] = [e.event for e in p.timeline(CLINICIAN, ep) if e.type == "review-recorded"]
            reviews.append(review.scores)
        entries = sorted(
            (e.actor_id, e.action, e.record_type)
            for e in p.audit_entries(ADMIN)
            if e.entry_id not in before
            and e.actor_id in (refitter.id, CLINICIAN.id)
            and e.action != "read-audit"  # the auditor's reads of the log
        )
    return {"bands": fit.bands, "summary": fit.summary(), "reviews": reviews, "entries": entries}


@pytest.mark.parametrize("refitter", [ADMIN, SYSTEM], ids=["administrator", "system"])
def test_a_refit_fits_an_uninstalled_measure_by_its_stored_definition(
    tmp_path: Path, refitter: Actor
) -> None:
    installed = refit_and_review(tmp_path, "with", WITH_PROBE, refitter)
    uninstalled = refit_and_review(tmp_path, "without", WITHOUT, refitter)
    # bin 4 has exactly the 3 episodes a curve needs, bin 3 one fewer (its slopes withheld)
    assert uninstalled["summary"] == [
        {
            "measure": "probe",
            "population": None,
            "band": "bin-3-of-5",
            "episodes": 2,
            "residual_sd": None,
            "source": "norms",
        },
        {
            "measure": "probe",
            "population": None,
            "band": "bin-4-of-5",
            "episodes": 3,
            "residual_sd": pytest.approx(0.57735, abs=1e-5),
            "source": "fitted",
        },
    ]
    curve = uninstalled["bands"][1].curve
    assert curve is not None
    # slopes (final - intake) / ln 2: -3/ln 2 twice and -2/ln 2; the median is -3/ln 2
    assert curve.q50 == pytest.approx(-3 / math.log(2))
    assert uninstalled["bands"] == installed["bands"]
    # one entry for the refit and one per review, as with the plugin: none for the stored definitions
    assert uninstalled["entries"] == installed["entries"]
    assert [e for e in uninstalled["entries"] if e[0] == refitter.id] == [
        (refitter.id, "refit-expectations", "expectation-model")
    ]
    assert "measure-definitions" not in {e[2] for e in uninstalled["entries"]}


def test_a_review_records_an_uninstalled_measures_scores_against_expectation(tmp_path: Path) -> None:
    installed = refit_and_review(tmp_path, "with", WITH_PROBE, ADMIN)
    uninstalled = refit_and_review(tmp_path, "without", WITHOUT, ADMIN)
    # the fitted curve expects 9 at session 2 from 12; bin 3 falls back to the norms
    by_episode = [{s.measure_id: s for s in scores} for scores in uninstalled["reviews"]]
    assert [set(scores) for scores in by_episode] == [{"probe"}] * 3
    first, short, norms = (scores["probe"] for scores in by_episode)
    assert (first.intake, first.latest, first.session) == (12, 9, 2)
    assert first.expected == pytest.approx(9)
    assert (first.zone, first.change) == ("green", "improved")
    assert short.change == "unchanged"  # 2 points: one short of the reliable change
    assert short.expected == pytest.approx(9)
    assert norms.change == "recovered"
    assert norms.expected == pytest.approx(10 - 3 * math.log(2) / math.log(6))  # the norms' curve
    assert uninstalled["reviews"] == installed["reviews"]
    # each review costs its command's entry, as with the plugin (and the test's timeline read its own)
    assert [e for e in uninstalled["entries"] if e[0] == CLINICIAN.id] == sorted(
        [(CLINICIAN.id, "record-review", "episode"), (CLINICIAN.id, "read-timeline", "episode")] * 3
    )
