"""An episode names the norm population its scores are read against (``start_episode(population=...)``):
a child's ORS is clinical below 32, an adult's below 25, in the recorded score, the FHIR interpretation,
the alerts, the review's change class and the chart; a measure that does not declare the population reads
against its default; a population no registered measure declares is refused and writes nothing; episodes
opened before the population existed read as the default population."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.cli.main import main
from alliancekit.core.runner import _request_hash
from alliancekit.domain import Actor, Administration, AdministrationTiming, Purpose, Review, Role
from alliancekit.errors import ValidationError
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.events.types import EpisodeOpened, ReviewRecorded, SessionRecorded
from alliancekit.feedback.builtin import ALLIANCE_BELOW_CUTOFF, RELIABLE_DETERIORATION
from alliancekit.feedback.reports.chart import progress_chart
from alliancekit.fhir import episode_bundle
from alliancekit.fhir.codes import V3_INTERPRETATION

from .conftest import CLINIC, CLINICIAN, START, Clinic, later, ors, srs

SUPERVISOR = Actor("sup-1", Role.SUPERVISOR, CLINIC, Purpose.TREATMENT)


def gad7(total: int) -> Administration:
    """GAD-7 answers (seven items 0-3) summing to ``total``."""
    answers: dict[str, float | None] = {f"q{i}": min(3, max(0, total - 3 * (i - 1))) for i in range(1, 8)}
    return Administration("gad-7", "1.0", AdministrationTiming.START, answers)


def _recorded_clinical(c: Clinic, ep: str, measure_id: str) -> list[bool | None]:
    """The clinical flag of each recorded score of ``measure_id``, in session order."""
    return [
        score.clinical
        for entry in c.p.timeline(CLINICIAN, ep)
        if isinstance(entry.event, SessionRecorded)
        for score in entry.event.scores
        if score.measure_id == measure_id
    ]


def _fhir_interpretations(c: Clinic, ep: str, code: str) -> list[str]:
    """The v3 interpretation (A or N) of each exported Observation of the total ``code``, by date."""
    bundle = episode_bundle(c.p, SUPERVISOR, ep)
    found = []
    for entry in bundle["entry"]:
        obs = entry["resource"]
        if obs["resourceType"] != "Observation" or "valueQuantity" not in obs:
            continue
        if not any(coding["code"] == code for coding in obs["code"]["coding"]):
            continue
        (flag,) = [
            coding["code"]
            for concept in obs.get("interpretation", [])
            for coding in concept["coding"]
            if coding["system"] == V3_INTERPRETATION
        ]
        found.append((obs["effectiveDateTime"], flag))
    return [flag for _, flag in sorted(found)]


@pytest.mark.parametrize(
    ("population", "totals", "clinical"),
    [
        ("child", (31.9, 32.0, 30.0), [True, False, True]),
        ("adolescent", (27.9, 28.0, 30.0), [True, False, False]),
        (None, (24.9, 25.0, 30.0), [True, False, False]),
        ("adult", (24.9, 25.0, 30.0), [True, False, False]),
    ],
)
def test_the_ors_cutoff_is_the_populations_on_both_sides(
    clinic: Clinic, population: str | None, totals: tuple[float, ...], clinical: list[bool]
) -> None:
    ep = clinic.episode(population=population)
    assert clinic.p.episode(CLINICIAN, ep).population == population
    for total in totals:
        clinic.session(ep, ors(total))
    assert _recorded_clinical(clinic, ep, "ors") == clinical
    assert _fhir_interpretations(clinic, ep, "ors-total") == ["A" if c else "N" for c in clinical]


def test_the_chart_draws_the_populations_cutoff(clinic: Clinic) -> None:
    child, adult = clinic.episode(population="child"), clinic.episode()
    for ep in (child, adult):
        clinic.session(ep, ors(30.0), srs(38.0))
    chart = progress_chart(clinic.p, CLINICIAN, child)
    assert chart.outcome is not None
    assert chart.alliance is not None
    assert (chart.outcome.cutoff, chart.outcome.clinical(31.9), chart.outcome.clinical(32.0)) == (
        32,
        True,
        False,
    )
    assert chart.alliance.cutoff == 36  # the SRS declares no child norm: its default
    adult_chart = progress_chart(clinic.p, CLINICIAN, adult)
    assert adult_chart.outcome is not None
    assert (adult_chart.outcome.cutoff, adult_chart.outcome.clinical(30.0)) == (25, False)


def test_a_measure_without_the_population_reads_against_its_default(clinic: Clinic) -> None:
    # the SRS has adult norms only: a child's SRS alert fires below the adult cutoff, 36, and not at it
    ep = clinic.episode(population="child")
    clinic.session(ep, ors(30.0), srs(36.0))
    assert ALLIANCE_BELOW_CUTOFF not in clinic.open_rules(ep)
    clinic.session(ep, ors(30.0), srs(35.9))
    assert ALLIANCE_BELOW_CUTOFF in clinic.open_rules(ep)
    assert _recorded_clinical(clinic, ep, "srs") == [False, True]
    # "iapt" is GAD-7's population alone: the ORS reads an iapt episode against the adult norm
    iapt = clinic.episode(population="iapt")
    for total in (24.9, 25.0, 31.9):
        clinic.session(iapt, ors(total), gad7(8), days=1)
    assert _recorded_clinical(clinic, iapt, "ors") == [True, False, False]
    assert _recorded_clinical(clinic, iapt, "gad-7") == [True] * 3  # iapt's GAD-7 cutoff is 8, adults' 10


def test_change_classes_use_the_populations_cutoff_and_borrow_its_reliable_change(clinic: Clinic) -> None:
    # 27 -> 32: a reliable improvement (5 points, the adult threshold the child norm borrows) that crosses
    # the child cutoff (recovered); for an adult 27 was never clinical (improved)
    classes = {}
    for population in ("child", None):
        ep = clinic.episode(population=population)
        clinic.session(ep, ors(27.0))
        clinic.session(ep, ors(32.0))
        clinic.p.record_review(CLINICIAN, ep, Review(held_on=clinic.day, decision="continue"))
        (review,) = [e.event for e in clinic.p.timeline(CLINICIAN, ep) if isinstance(e.event, ReviewRecorded)]
        (scored,) = review.scores
        classes[population] = scored.change
    assert classes == {"child": "recovered", None: "improved"}
    # the child's reliable deterioration is noticed with the borrowed threshold: 5 points down, not 4.9
    ep = clinic.episode(population="child")
    clinic.session(ep, ors(31.0))
    clinic.session(ep, ors(26.1))
    assert RELIABLE_DETERIORATION not in clinic.open_rules(ep)
    clinic.session(ep, ors(26.0))
    assert RELIABLE_DETERIORATION in clinic.open_rules(ep)


def _counts(path: Path) -> tuple[int, int, int]:
    conn = sqlite3.connect(path)
    try:
        return tuple(  # type: ignore[return-value]
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names
            for table in ("events", "episodes", "audit")
        )
    finally:
        conn.close()


@pytest.mark.parametrize("population", ["toddler", "Child", ""])
def test_a_population_no_measure_declares_is_refused_and_writes_nothing(
    tmp_path: Path, population: str
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=later) as p:
        Clinic(p).episode()
    before = _counts(path)
    with open_practice(path, clock=later) as p:
        with pytest.raises(ValidationError) as raised:
            p.start_episode(
                CLINICIAN,
                client_ref="client-y",
                clinician_id=CLINICIAN.id,
                opened_on=later().date(),
                population=population,
            )
        assert raised.value.field == "population"
        assert raised.value.rule == ("declared-population" if population else "required")
        assert population not in str(raised.value) or not population
        assert _counts(path) == before  # no event, episode or audit entry
        assert len(p.caseload(CLINICIAN)) == 1


def test_an_episode_opened_before_populations_reads_as_the_default(tmp_path: Path) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=later) as p:
        c = Clinic(p)
        ep = c.episode()
        c.session(ep, ors(30.0))
        (stored,) = [e for e in p.store.load_events(ep) if e.type == "episode-opened"]
    # the version-1 payload, as written before: no population
    payload = json.loads(stored.payload_json)
    del payload["population"]
    old = attrs.evolve(stored, payload_json=json.dumps(payload), schema_version=1)
    opened = Codec().decode(old)
    assert isinstance(opened, EpisodeOpened)
    assert opened.population is None
    assert EpisodeOpened.VERSION == 2
    # a snapshot of shape 4 (no population) is folded again, verifies and is rewritten in the current shape
    conn = sqlite3.connect(path)
    (text,) = conn.execute("SELECT state FROM episodes WHERE episode_id = ?", (ep,)).fetchone()
    state = json.loads(text)
    del state["population"]
    state["_v"] = 4
    conn.execute("UPDATE episodes SET state = ? WHERE episode_id = ?", (json.dumps(state), ep))
    conn.commit()
    conn.close()
    admin = Actor("admin-1", Role.ADMINISTRATOR, CLINIC)
    with open_practice(path, clock=later) as p:
        report = p.verify(admin)
        assert report.ok, report.describe()
        c = Clinic(p)
        c.day = p.episode(CLINICIAN, ep).last_session_on or c.day
        assert p.episode(CLINICIAN, ep).population is None
        c.session(ep, ors(24.9))
        snapshot = p.store.load_snapshot(ep)
        assert snapshot is not None
        assert json.loads(snapshot.state_json)["_v"] == SNAPSHOT_VERSION == 9
        assert _recorded_clinical(c, ep, "ors") == [False, True]


def test_a_batch_starts_an_episode_with_its_population_and_refuses_an_unknown_one(clinic: Clinic) -> None:
    with clinic.p.batch(size=10) as batch:
        ep = batch.start_episode(
            CLINICIAN,
            client_ref="client-b",
            clinician_id=CLINICIAN.id,
            opened_on=clinic.day,
            population="child",
        )
        with pytest.raises(ValidationError) as raised:
            batch.start_episode(
                CLINICIAN,
                client_ref="client-c",
                clinician_id=CLINICIAN.id,
                opened_on=clinic.day,
                population="x",
            )
        assert (raised.value.field, raised.value.rule) == ("population", "declared-population")
    assert clinic.p.episode(CLINICIAN, ep).population == "child"
    assert [row.episode_id for row in clinic.p.caseload(CLINICIAN)] == [ep]


def test_a_keyed_start_without_a_population_hashes_as_before_it_was_an_input() -> None:
    # a keyed start stored by the release before, retried after the upgrade, is answered from its key
    args = {"client_ref": "c", "clinician_id": "d", "opened_on": START}
    assert _request_hash("start-episode", "", {**args, "population": None}) == _request_hash(
        "start-episode", "", args
    )
    assert _request_hash("start-episode", "", {**args, "population": "child"}) != _request_hash(
        "start-episode", "", args
    )


def test_the_readable_timeline_names_the_population(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, clock=later) as p:
        child, adult = Clinic(p).episode(population="child"), Clinic(p).episode()
    for ep, shown in ((child, True), (adult, False)):
        assert main(["episode", "show", "--db", str(path), ep]) == 0
        (opened,) = [line for line in capsys.readouterr().out.splitlines() if "episode opened" in line]
        assert ("(child norms)" in opened) is shown
