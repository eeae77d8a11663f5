"""Reports: the attention list order, practice outcomes with counts, the progress chart, the HTML report
(self-contained, and saying so when the practice is empty), the ``report`` command."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.domain import (
    Actor,
    Attendance,
    Consent,
    Ending,
    EndingReason,
    Modality,
    Participant,
    Review,
    ReviewDecision,
    Role,
    RuptureCause,
    RuptureKind,
    RuptureMarker,
    RuptureNote,
)
from alliancekit.domain.vocab import AlertSeverity
from alliancekit.feedback.reports import (
    attention_list,
    chart_svg,
    chart_vega_lite,
    practice_outcomes,
    progress_chart,
    render_report,
)
from alliancekit.feedback.reports.outcomes import Rate, saes_bucket
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import Store

from .conftest import CLINIC, Clinic, config, make_clinic, ors, phq9, srs

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC)


def test_empty_practice_reports_say_so(tmp_path: Path) -> None:
    c = make_clinic(tmp_path)
    outcomes = practice_outcomes(c.p, SUPERVISOR)
    assert outcomes.empty
    assert outcomes.summary == "This practice has no episodes yet: there is nothing to report."
    assert attention_list(c.p, SUPERVISOR, today=date(2026, 1, 1)) == []
    page = render_report(c.p, SUPERVISOR, today=date(2026, 1, 1))
    assert "This practice has no episodes yet" in page
    assert "No open episode needs attention today." in page
    assert "No open episode has a recorded session yet." in page


def test_open_episodes_only_say_no_episode_has_ended(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(20))
    outcomes = practice_outcomes(clinic.p, SUPERVISOR)
    assert outcomes.empty
    assert "No episode has ended yet" in outcomes.summary


def test_attention_list_is_ordered_by_urgency(tmp_path: Path) -> None:
    clinic = make_clinic(tmp_path, feedback=config(gap_days=60))
    quiet = clinic.episode()
    clinic.session(quiet, ors(30), srs(39))
    amber = clinic.episode()
    clinic.session(amber, ors(30), srs(30))
    urgent = clinic.episode()
    clinic.session(urgent, phq9(3, item9=1))
    red = clinic.episode()
    clinic.session(red, phq9(8))
    clinic.session(red, phq9(15))
    today = clinic.day + timedelta(days=1)
    items = attention_list(clinic.p, clinic.actor, clinician_id=clinic.actor.id, today=today)
    assert [i.episode_id for i in items] == [urgent, red, amber]
    assert [i.severity for i in items] == [AlertSeverity.URGENT, AlertSeverity.RED, AlertSeverity.AMBER]
    texts = [r.text for r in items[0].reasons]
    assert texts[0].startswith("A risk item was endorsed on")
    assert "A progress review is due." in texts
    # a long silence adds an amber reason to the quiet episode and it joins the list, last
    later = attention_list(clinic.p, clinic.actor, today=today + timedelta(days=60))
    assert later[-1].episode_id in (quiet, amber)
    assert any("No session for" in r.text for r in later[-1].reasons)


def test_attention_list_puts_the_longest_silence_first_within_a_severity(clinic: Clinic) -> None:
    first = clinic.episode()
    clinic.session(first, srs(30))
    second = clinic.episode()
    clinic.session(second, srs(30), days=10)
    items = attention_list(clinic.p, clinic.actor, today=clinic.day)
    assert [i.episode_id for i in items] == [first, second]


def test_acknowledged_alert_stays_in_the_list_marked(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, srs(30))
    (alert_id,) = clinic.p.alerts(clinic.actor, ep)
    clinic.p.acknowledge_alert(clinic.actor, ep, alert_id)
    (item,) = attention_list(clinic.p, clinic.actor, today=clinic.day)
    assert item.reasons[0].text.endswith("(acknowledged)")
    clinic.p.resolve_alert(clinic.actor, ep, alert_id, note="talked it through")
    assert attention_list(clinic.p, clinic.actor, today=clinic.day) == []


def _closed(clinic: Clinic, totals: list[float], reason: EndingReason, modality: Modality, who: Actor) -> str:
    ep = clinic.episode(who)
    for total in totals:
        clinic.session(ep, ors(total), modality=modality, actor=who)
    clinic.day += timedelta(days=1)
    clinic.p.close_episode(who, ep, Ending(ended_on=clinic.day, planned=False, reason=reason))
    return ep


def test_practice_outcomes_rates_carry_counts_and_groups(tmp_path: Path) -> None:
    c = make_clinic(tmp_path, feedback=None)
    ada, bea = Actor("clin-ada", Role.CLINICIAN, CLINIC), Actor("clin-bea", Role.CLINICIAN, CLINIC)
    _closed(c, [15, 20, 27], EndingReason.GOALS_MET, Modality.IN_PERSON, ada)  # recovered (+12, crosses 25)
    _closed(c, [10, 13, 16], EndingReason.GOALS_MET, Modality.VIDEO, ada)  # improved (+6)
    _closed(c, [18, 19], EndingReason.DROPOUT, Modality.PHONE, bea)  # unchanged
    _closed(c, [20, 14], EndingReason.LIFE_CHANGE, Modality.IN_PERSON, bea)  # deteriorated (-6)
    _closed(c, [], EndingReason.DROPOUT, Modality.IN_PERSON, bea)  # no scores: ended, not measured
    open_ep = c.episode()
    c.session(open_ep, ors(10))
    outcomes = practice_outcomes(c.p, SUPERVISOR)
    o = outcomes.overall
    assert (o.ended, o.measured) == (5, 4)
    assert o.reliable_improvement == Rate(2, 4)
    assert o.recovery == Rate(1, 4)  # all four started below the ORS cutoff of 25
    assert o.deterioration == Rate(1, 4)
    assert o.dropout == Rate(2, 5)
    # ACORN's SAES, by hand: all four intakes (15, 10, 18, 20) are below the ORS cutoff of 25, changes
    # +12, +6, +1, -6. Intake mean 15.75, SD sqrt(56.75 / 3) = 4.3493; mean change 3.25. The line of
    # change on intake has slope -66.75 / 56.75 = -1.17621 and intercept 3.25 + 1.17621 * 15.75 = 21.7753,
    # so the residuals are +7.8678, -4.0132, +0.3965, -4.2511.
    assert o.saes_n == 4
    assert o.saes == pytest.approx(3.25 / 4.3493, abs=1e-4)  # residuals average 0: mean change / SD
    by_clinician = {g.key: g for g in outcomes.by_clinician}
    assert by_clinician["clin-ada"].saes == pytest.approx((3.25 + (7.8678 - 4.0132) / 2) / 4.3493, abs=1e-4)
    assert by_clinician["clin-bea"].saes == pytest.approx((3.25 + (0.3965 - 4.2511) / 2) / 4.3493, abs=1e-4)
    assert by_clinician["clin-ada"].saes_bucket == "highly effective (above 0.8)"  # 1.19
    assert o.saes_bucket == "effective (above 0.5 up to 0.8)"  # 0.747
    assert by_clinician["clin-bea"].saes_bucket == "0.5 or below (no published label)"  # 0.304
    assert outcomes.notes == (
        (
            "1 ended episode(s) have no intake and later score on an outcome measure: they are counted as "
            "ended but not in change rates or SAES."
        ),
    )
    assert {g.key for g in outcomes.by_modality} == {"in-person", "video", "phone", "no sessions"}
    assert [g.key for g in outcomes.by_period] == [f"{c.day.year}-Q{(c.day.month - 1) // 3 + 1}"]
    assert str(o.dropout) == "40% (2 of 5)"
    assert str(Rate(0, 0)) == "- (0 of 0)"
    assert saes_bucket(None) == "-"


@pytest.mark.parametrize(
    ("saes", "label"),
    [
        (0.81, "highly effective (above 0.8)"),
        (0.8, "effective (above 0.5 up to 0.8)"),  # ACE: "greater than 0.8" is highly effective
        (0.51, "effective (above 0.5 up to 0.8)"),
        (0.5, "0.5 or below (no published label)"),  # ACE's criteria: effective "exceeds .5"
    ],
)
def test_saes_bands_are_exceeded_strictly(saes: float, label: str) -> None:
    assert saes_bucket(saes) == label


def test_progress_chart_marks_reviews_ruptures_missed_sessions_and_alerts(clinic: Clinic) -> None:
    ep = clinic.episode()
    clinic.session(ep, ors(18), srs(38))
    clinic.session(ep, ors(16), srs(34))
    clinic.p.note_rupture(
        clinic.actor,
        ep,
        RuptureNote(
            noted_on=clinic.day,
            kind=RuptureKind.CONFRONTATION,
            markers=(RuptureMarker.COMPLAINT_ABOUT_PROGRESS,),
            likely_cause=RuptureCause.GOAL_DISAGREEMENT,
        ),
    )
    clinic.session(ep, attendance=Attendance.NO_SHOW)
    clinic.session(ep, ors(21), srs(39))
    clinic.p.record_review(clinic.actor, ep, Review(held_on=clinic.day, decision=ReviewDecision.CONTINUE))
    chart = progress_chart(clinic.p, clinic.actor, ep)
    assert chart.outcome is not None
    assert chart.alliance is not None
    assert [(p.session, p.total) for p in chart.outcome.points] == [(1, 18.0), (2, 16.0), (4, 21.0)]
    # 21 is inside the drawn band but below the predicted 18 + 5 ln 4 / ln 6 = 21.87: amber (OpenFIT zones)
    assert [p.zone.value for p in chart.outcome.points] == ["grey", "amber", "amber"]
    assert chart.outcome.cutoff == 25
    assert chart.alliance.cutoff == 36
    assert [b.session for b in chart.band] == [1, 2, 3, 4]
    assert chart.band_source == "norms"
    kinds = {(m.kind, m.session) for m in chart.markers}
    assert {("rupture", 2), ("missed", 3), ("review", 4)} <= kinds
    assert any(k == "alert" for k, _ in kinds)
    svg = chart_svg(chart)
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    # three outcome points (intake, amber, green) and three alliance points, each one mark
    assert len(re.findall(r'data-mark="(zone-[a-z]+|alliance(?:-low)?)"', svg)) == 6
    assert 'data-mark="band"' in svg
    assert "ORS clinical cutoff (25)" in svg
    spec = chart_vega_lite(chart)
    assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/v5")
    assert len(spec["vconcat"]) == 2
    json.dumps(spec)  # plain JSON


def test_html_report_is_self_contained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--quiet", "--out", str(tmp_path / "demo-out")]) == 0
    assert (tmp_path / "demo-out" / "report.html").exists()
    assert main(["report", "--db", str(db), "--out", str(tmp_path / "out"), "--today", "2026-02-01"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "Practice outcomes" in page
    assert "Needs attention today (2026-02-01)" in page
    # nothing fetched from elsewhere: no script sources, stylesheets, images or CSS urls
    assert not re.search(r"<script[^>]+src=|<link |<img |url\(|@import", page)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts
    assert all('type="application/vnd.vegalite+json"' in s for s in scripts)
    assert "synthetic" not in page  # no free text from the records
    # every chart of the demo practice has a legend of exactly the marks it draws
    svgs = re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)
    assert svgs
    for svg in svgs:
        drawn = set(re.findall(r'data-mark="([^"]+)"', svg))
        assert drawn == set(re.findall(r'data-legend="([^"]+)"', svg))
    summary = json.loads((tmp_path / "demo-out" / "summary.json").read_text())
    assert len(summary["alerts_by_rule"]) == 11  # the split alliance of the demo's couple among them


def test_report_command_on_a_missing_or_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--db", str(tmp_path / "nope.sqlite"), "--out", str(tmp_path)]) == 2
    open_practice(tmp_path / "empty.sqlite").close()
    with pytest.raises(SystemExit) as exited:  # a wrong date is a usage error, found before anything opens
        main(["report", "--db", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path), "--today", "x"])
    assert exited.value.code == 2
    assert "--today" in capsys.readouterr().err
    assert main(["report", "--db", str(tmp_path / "empty.sqlite"), "--out", str(tmp_path / "o")]) == 0
    assert "no episodes yet" in (tmp_path / "o" / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("option", "rule"),
    [(("--today", "2200-01-01"), "--today: range"), (("--max-charts", "-1"), "--max-charts: range")],
    ids=["today", "max-charts"],
)
def test_a_refused_report_option_writes_nothing(
    option: tuple[str, str], rule: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "p.sqlite"
    with open_practice(db) as practice:
        entries = len(practice.store.audit_records())
    out = tmp_path / "new"
    assert main(["report", "--db", str(db), "--out", str(out), *option]) == 2
    assert rule in capsys.readouterr().err
    assert not out.exists()  # not even the directory
    with open_practice(db) as practice:
        assert len(practice.store.audit_records()) == entries  # nor the audit entry of a read


class PlainStore:
    """A store with only the protocol's methods (no ``closed_outcomes`` fast path), over a memory store."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        # every member of the Store protocol, and nothing else
        for name, member in vars(Store).items():
            if callable(member) and not name.startswith("_"):
                setattr(self, name, getattr(inner, name))


def test_outcomes_are_the_same_without_the_store_fast_path() -> None:
    inner = MemoryStore()
    fast = Clinic(open_practice(inner))
    _closed(fast, [15, 20, 27], EndingReason.GOALS_MET, Modality.IN_PERSON, fast.actor)
    _closed(fast, [20, 14], EndingReason.DROPOUT, Modality.VIDEO, fast.actor)
    _closed(fast, [12, 13, 18], EndingReason.GOALS_MET, Modality.VIDEO, fast.actor)
    plain = open_practice(PlainStore(inner))
    assert not hasattr(plain.store, "closed_outcomes")
    assert plain.closed_outcomes(SUPERVISOR) == fast.p.closed_outcomes(SUPERVISOR)
    assert practice_outcomes(plain, SUPERVISOR) == practice_outcomes(fast.p, SUPERVISOR)
    assert practice_outcomes(plain, SUPERVISOR).overall.ended == 3


def test_progress_chart_and_report_show_each_participant_and_rater(clinic: Clinic) -> None:
    """A couple with a partner's own ratings and a parent-style collateral report: each is its own line on
    the panel of its measure, named by host reference and rater; the identified client's line is unchanged."""
    ep = clinic.episode()
    partner = "client-partner-1"
    consent = Consent(treatment=True, measures=True)
    clinic.p.add_participant(clinic.actor, ep, Participant(partner, "partner", consent), added_on=clinic.day)
    for own, theirs, seen in ((18, 15, 20), (21, 17, 22)):
        clinic.session(
            ep,
            ors(own),
            attrs.evolve(ors(theirs), about=partner),
            attrs.evolve(ors(seen), about=partner, rater="partner", rater_ref="client-x"),
            srs(38),
            attrs.evolve(srs(31), about=partner),
        )
    chart = progress_chart(clinic.p, clinic.actor, ep)
    assert chart.outcome is not None
    assert [p.total for p in chart.outcome.points] == [18.0, 21.0]
    lines = {(s.measure_id, s.who): [p.total for p in s.points] for s in chart.others}
    assert lines == {
        ("ors", partner): [15.0, 17.0],
        ("ors", f"{partner}, rated by partner"): [20.0, 22.0],
        ("srs", partner): [31.0, 31.0],
    }
    svg = chart_svg(chart)
    # each in the legend, by the measure's short name
    for label in (f"ORS: {partner}, rated by partner", f"ORS: {partner}", f"SRS: {partner}"):
        assert f'class="s">{label}</text></g>' in svg, label
    spec = json.dumps(chart_vega_lite(chart))
    assert f"{partner}, rated by partner" in spec
    items = attention_list(clinic.p, clinic.actor, today=clinic.day)
    reasons = [r.text for item in items for r in item.reasons]
    assert any(f"(participant {partner})" in text for text in reasons)  # the partner's SRS is below 36
