"""``alliancekit export csv`` writes each administration's subscale scores, in long form
(``subscales.csv``: administration, measure, subscale, score), as the library computed them when the measure
was given: WAI-SR's goal, task and bond, a plugin's PHQ-4-like anxiety and depression, and still the
plugin's after it is uninstalled (the scores are stored with the data). A measure without subscales, and a
total recorded without items, write none; the table holds nothing identifying, so a de-identified and an
identified export write the same one."""

from __future__ import annotations

import csv
import io
import types
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.cli.main import main
from alliancekit.domain import (
    Actor,
    Administration,
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    GoalDraft,
    Modality,
    Purpose,
    Role,
    Session,
)
from alliancekit.exports.research import export_research, parquet_available
from alliancekit.measures import parse_definition
from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.measures.scoring import compile_scorer
from alliancekit.plugins import make_plugin_host

CLINIC = "clinic-1"
CLINICIAN = Actor("clin-1", Role.CLINICIAN, CLINIC)
LEAD = Actor("lead", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)
START = date(2026, 1, 5)
KEY = b"k" * 32
CLIENT = "client-subscales-7"

#: A synthetic PHQ-4-like measure a plugin adds: four items 0-3, anxiety (q1, q2) and depression (q3, q4).
MINI4: dict[str, Any] = {
    "id": "mini-4",
    "version": "1.0",
    "title": "Synthetic four-item screen",
    "kind": "outcome",
    "direction": "higher-is-worse",
    "licence": {"notice": "Synthetic.", "item_text": False, "cite": {"ref": "synthetic"}},
    "references": {"synthetic": "A synthetic reference."},
    "source": {"ref": "synthetic"},
    "items": [{"key": f"q{i}", "label": f"Item {i}", "min": 0, "max": 3, "step": 1} for i in (1, 2, 3, 4)],
    "scoring": {
        "method": "sum",
        "reverse_keyed": [],
        "missing": {"policy": "refuse"},
        "subscales": [
            {"key": "anxiety", "label": "Anxiety", "items": ["q1", "q2"]},
            {"key": "depression", "label": "Depression", "items": ["q3", "q4"]},
        ],
    },
    "range": {"min": 0, "max": 12},
    "norms": [
        {
            "population": "adult",
            "label": "Adults",
            "default": True,
            "clinical_cutoff": {"value": 6, "clinical_if": "at-or-above", "cite": {"ref": "synthetic"}},
            "reliable_change": {"points": 3, "cite": {"ref": "synthetic"}},
        }
    ],
    "examples": [
        {
            "answers": {"q1": 3, "q2": 2, "q3": 1, "q4": 0},
            "total": 6,
            "subscales": {"anxiety": 5, "depression": 1},
        }
    ],
}
MINI4_ANSWERS = {"q1": 3, "q2": 2, "q3": 1, "q4": 0}
WAI_ANSWERS = {f"q{i}": 1 + i % 5 for i in range(1, 13)}  # 2, 3, 4, 5, 1, 2, ...
ORS_ANSWERS = {"individually": 5.0, "interpersonally": 6.0, "socially": 4.5, "overall": 7.0}


def _plugin() -> types.ModuleType:
    module = types.ModuleType("mini4_plugin")

    @hookimpl
    def alliancekit_register_measures(register: Any) -> None:
        register(MINI4)

    module.alliancekit_register_measures = alliancekit_register_measures  # type: ignore[attr-defined]
    return module


WITH_PLUGIN = make_plugin_host(load_entry_points=False, extra_plugins=[_plugin()])
WITHOUT_PLUGIN = make_plugin_host(load_entry_points=False)


def later() -> datetime:
    return datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """One episode, one session: the plugin's measure (items), WAI-SR (items), ORS (no subscales), and the
    plugin's measure again as a total without items."""
    path = tmp_path / "p.sqlite"
    with open_practice(path, plugins=WITH_PLUGIN, clock=later) as p:
        ep = p.start_episode(CLINICIAN, client_ref=CLIENT, clinician_id=CLINICIAN.id, opened_on=START)
        consent = Consent(treatment=True, measures=True)
        p.record_consultation(
            CLINICIAN, ep, Consultation(held_on=START, modality=Modality.IN_PERSON, consent=consent)
        )
        p.decide_fit(CLINICIAN, ep, FitDecision(outcome=FitOutcome.PROCEED, decided_on=START))
        p.agree_goals(CLINICIAN, ep, [GoalDraft("a synthetic goal")], agreed_on=START)
        start, end = AdministrationTiming.START, AdministrationTiming.END
        admins = (
            Administration("mini-4", "1.0", start, MINI4_ANSWERS),
            Administration("ors", "1.0", start, ORS_ANSWERS),
            Administration("wai-sr", "1.0", end, WAI_ANSWERS),
        )
        day = START + timedelta(days=7)
        p.record_session(
            CLINICIAN,
            ep,
            Session(
                held_on=day,
                modality=Modality.IN_PERSON,
                attendance=Attendance.ATTENDED,
                administrations=admins,
            ),
        )
        total_only = (Administration("mini-4", "1.0", start, total=4),)
        p.record_session(
            CLINICIAN,
            ep,
            Session(
                held_on=day + timedelta(days=7),
                modality=Modality.VIDEO,
                attendance=Attendance.ATTENDED,
                administrations=total_only,
            ),
        )
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def export(db: Path, out: Path, plugins: Any = WITH_PLUGIN, **options: Any) -> Path:
    if "identified" not in options:
        options["key"] = KEY
    with open_practice(db, plugins=plugins, clock=later) as p:
        export_research(p, LEAD, out, **options)
    return out


def by_administration(out: Path) -> tuple[list[dict[str, str]], dict[int, dict[str, float]]]:
    """The administrations rows, and each one's subscale scores by its ``administration`` number."""
    admins = rows(out / "administrations.csv")
    scores: dict[int, dict[str, float]] = {}
    for row in rows(out / "subscales.csv"):
        scores.setdefault(int(row["administration"]), {})[row["subscale"]] = float(row["score"])
        owner = next(a for a in admins if a["administration"] == row["administration"])
        assert row["measure"] == owner["measure"]
    return admins, scores


def expected_wai() -> dict[str, float]:
    measure = parse_definition(load_builtin_definition("wai-sr-1.0"))
    return dict(compile_scorer(measure)(WAI_ANSWERS).subscales)


def test_the_subscale_rows_are_the_scores_the_library_computed(db: Path, tmp_path: Path) -> None:
    out = export(db, tmp_path / "out")
    admins, scores = by_administration(out)
    assert [a["administration"] for a in admins] == ["1", "2", "3", "4"]  # numbered in the export
    number = {(a["measure"], float(a["total"])): int(a["administration"]) for a in admins}
    # the plugin's measure, by hand (q1+q2, q3+q4) and as its scorer computes it
    assert scores[number[("mini-4", 6)]] == {"anxiety": 5.0, "depression": 1.0}
    assert dict(compile_scorer(parse_definition(MINI4))(MINI4_ANSWERS).subscales) == {
        "anxiety": 5,
        "depression": 1,
    }
    # WAI-SR's goal, task and bond: the library's own scorer's values, and the items' sums by hand
    wai = scores[number[("wai-sr", 35)]]
    assert wai == expected_wai()
    assert wai == {
        "task": sum(WAI_ANSWERS[k] for k in ("q1", "q2", "q10", "q12")),
        "bond": sum(WAI_ANSWERS[k] for k in ("q3", "q5", "q7", "q9")),
        "goal": sum(WAI_ANSWERS[k] for k in ("q4", "q6", "q8", "q11")),
    }
    # ORS has no subscales and the total recorded without items has none: neither writes a row
    assert number[("ors", 22.5)] not in scores
    assert number[("mini-4", 4)] not in scores
    assert len(rows(out / "subscales.csv")) == 5


def test_an_uninstalled_plugins_measure_keeps_its_subscales(db: Path, tmp_path: Path) -> None:
    installed = export(db, tmp_path / "with")
    gone = export(db, tmp_path / "without", plugins=WITHOUT_PLUGIN)
    assert (gone / "subscales.csv").read_bytes() == (installed / "subscales.csv").read_bytes()
    _, scores = by_administration(gone)
    assert scores[1] == {"anxiety": 5.0, "depression": 1.0}


def test_the_subscales_table_holds_nothing_identifying(db: Path, tmp_path: Path) -> None:
    de_identified = export(db, tmp_path / "de")
    identified = export(db, tmp_path / "id", identified=True)
    text = (de_identified / "subscales.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "administration,measure,subscale,score"
    with open_practice(db, plugins=WITH_PLUGIN, clock=later) as p:
        (ep,) = p.episode_ids(LEAD)
    for secret in (CLIENT, ep, CLINICIAN.id, "2026-"):
        assert secret not in text
        assert secret not in (de_identified / "administrations.csv").read_text(encoding="utf-8")
    assert (identified / "subscales.csv").read_bytes() == text.encode()
    # the identified export's administrations carry the same numbers: the join is the same either way
    assert [r["administration"] for r in rows(identified / "administrations.csv")] == ["1", "2", "3", "4"]


def test_parquet_subscales_are_typed(db: Path, tmp_path: Path) -> None:
    if not parquet_available():
        pytest.skip("pyarrow is not installed: pip install 'alliancekit[parquet]' to test the Parquet export")
    import pyarrow.parquet as pq

    out = export(db, tmp_path / "pq", file_format="parquet")
    table = pq.read_table(out / "subscales.parquet")
    assert [str(t) for t in table.schema.types] == ["int64", "string", "string", "double"]
    wai = {r["subscale"]: r["score"] for r in table.to_pylist() if r["measure"] == "wai-sr"}
    assert wai == expected_wai()


def test_cli_writes_the_subscales_table_to_stdout(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", "1")  # the plugin is not installed here
    argv = ["export", "csv", "--db", str(db), "--clinic", CLINIC, "--identified", "--out", "-"]
    code = main([*argv, "--table", "subscales"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = list(csv.DictReader(io.StringIO(captured.out)))
    assert [(r["administration"], r["measure"], r["subscale"]) for r in table] == [
        ("1", "mini-4", "anxiety"),
        ("1", "mini-4", "depression"),
        *(("3", "wai-sr", key) for key in ("bond", "goal", "task")),  # as stored: by key
    ]
    assert captured.err == "wrote 5 subscale scores of 4 administrations (identified) to -\n"
