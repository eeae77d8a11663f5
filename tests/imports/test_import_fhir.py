"""``alliancekit import fhir``: the round trip (export, import into an empty store, export again) and FHIR
that is invalid or from other systems, each problem named by file line, path and rule, nothing written."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from alliancekit import Actor, Practice, Purpose, Role, open_practice
from alliancekit.demo import simulate_practice
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.validate import packaged_schema
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.writer import run_import

from .conftest import CLINIC, import_csv, run, sessions

DEMO_CLINIC = "demo-clinic"
EXAMPLES = Path(__file__).parents[2] / "examples" / "imports"
#: Fields of the state that a session's first recording set and its correction left as they were (the
#: alerts its first scores raised and the review a red alert asked for; its modality and day, which counts
#: and dates keep as first recorded): the export carries the session as corrected (its first version is in
#: alliancekit's timeline only), so the import records that version, and in an episode with a correction
#: these are left out of the comparison. The scores are compared: a correction leaves them as a replay of
#: the sessions as corrected would, which is what the import records.
CORRECTION_FIELDS = (
    "alerts",
    "alert_keys_raised",
    "review_requested",
    "modality_counts",
    "last_session_on",
    "last_attended_on",
    "last_activity_on",
)
#: What is left out of the comparison, by the kind of event an episode holds.
LEFT_OUT = {"session-corrected": CORRECTION_FIELDS}


def _actor(clinic: str) -> Actor:
    return Actor("exporter", Role.SUPERVISOR, clinic, Purpose.OPERATIONS)


def _export(practice: Practice, clinic: str, folder: Path) -> Path:
    export_ndjson(practice, _actor(clinic), folder, purpose="treatment")
    return folder


def _import(practice: Practice, source: Path, clinic: str, **more: Any) -> Any:
    return run_import(
        practice,
        FhirSource(source, practice.plugins.measures()),
        clinic_id=clinic,
        source_id=source.name,
        **more,
    )


def _lines(folder: Path, rtype: str) -> Iterator[dict[str, Any]]:
    path = folder / f"{rtype}.ndjson"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            yield json.loads(line)


def _client(ref: Any) -> str:
    return str(ref["identifier"]["value"])


def _content(folder: Path) -> dict[str, Any]:
    """What must survive the round trip, per client, without ids (an import makes new ones): the episode's
    status, period and clinician; each session's date, modality and attendance with its responses (measure,
    timing, rater, answers) and score values."""
    episodes = {e["id"]: e for e in _lines(folder, "EpisodeOfCare")}
    encounters = {e["id"]: e for e in _lines(folder, "Encounter")}
    responses: dict[str, list[Any]] = defaultdict(list)
    for r in _lines(folder, "QuestionnaireResponse"):
        answers = {
            i["linkId"]: next(iter(i["answer"][0].values())) for i in r.get("item", []) if i.get("answer")
        }
        if "encounter" not in r:
            continue  # a client's own response between sessions (see test_import_client_responses.py)
        timing = [e["valueCoding"]["code"] for e in r["extension"] if "valueCoding" in e]
        responses[r["encounter"]["reference"].split("/")[1]].append((r["questionnaire"], timing, answers))
    scores: dict[str, list[Any]] = defaultdict(list)
    for o in _lines(folder, "Observation"):
        if "encounter" in o and "valueQuantity" in o:  # scores (a rupture's Observation has no value)
            code = o["code"]["coding"][0]["code"]
            scores[o["encounter"]["reference"].split("/")[1]].append(
                (code, o.get("valueQuantity", {}).get("value"))
            )
    content: dict[str, Any] = {}
    for eid, e in episodes.items():
        visits = sorted(
            (
                enc["period"]["start"],
                [c["coding"][0]["code"] for c in enc["type"]],
                enc["status"],
                sorted(responses[enc["id"]], key=repr),
                sorted(scores[enc["id"]]),
            )
            for enc in encounters.values()
            if enc["episodeOfCare"][0]["reference"] == f"EpisodeOfCare/{eid}"
            and enc["type"][0]["coding"][0]["code"] == "session"
        )
        content[_client(e["patient"])] = {
            "status": e["status"],
            "start": e["period"]["start"],
            "end": e["period"].get("end"),
            "clinician": _client(e["careManager"]),
            "sessions": visits,
        }
    return content


#: Every kind of clinical record the round trip carries, which the demo practice holds.
COVERED = {
    "consultation-recorded",
    "fit-decided",
    "participant-added",
    "group-joined",
    "goal-agreed",
    "goal-revised",
    "session-recorded",
    "review-recorded",
    "rupture-noted",
    "rupture-repair-recorded",
    "alert-acknowledged",
    "alert-resolved",
    "episode-put-on-hold",
    "episode-resumed",
    "clinician-transferred",
    "ending-planned",
    "episode-closed",
}


def _normalised(state: Any) -> dict[str, Any]:
    """The lifecycle state without what an import makes anew (the episode's id and version, and the ids
    that key goals, ruptures and alerts): every other field, as it is."""
    view = attrs.asdict(state, recurse=False)
    del view["episode_id"], view["version"]
    for keyed in ("goals", "open_ruptures", "open_rupture_dates", "alerts", "lockbox"):
        view[keyed] = sorted(map(repr, view[keyed].values()))
    return view


def _left_out(practice: Practice) -> dict[str, set[str]]:
    """The fields left out of each client's comparison (:data:`LEFT_OUT`), from the source's timeline."""
    actor = _actor(DEMO_CLINIC)
    out: dict[str, set[str]] = {}
    for row in practice.caseload(actor, include_closed=True):
        types = {e.type for e in practice.timeline(actor, row.episode_id)}
        out[row.client_ref] = {name for kind, names in LEFT_OUT.items() if kind in types for name in names}
    return out


def _states(practice: Practice, left_out: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """Each client's episode, normalised, without the fields ``left_out`` names for it."""
    actor = _actor(DEMO_CLINIC)
    out = {}
    for row in practice.caseload(actor, include_closed=True):
        view = _normalised(practice.episode(actor, row.episode_id))
        out[row.client_ref] = {k: v for k, v in view.items() if k not in left_out[row.client_ref]}
    return out


@pytest.fixture(scope="module")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fhir-round-trip")
    simulate_practice(folder / "demo.sqlite", clients=12, seed=7)
    with open_practice(folder / "demo.sqlite") as practice:
        return _export(practice, DEMO_CLINIC, folder / "export")


def test_the_round_trip_reproduces_every_episode_exactly(demo_export: Path, tmp_path: Path) -> None:
    with open_practice(demo_export.parent / "demo.sqlite") as source:
        left_out = _left_out(source)
        before = _states(source, left_out)
        actor = _actor(DEMO_CLINIC)
        held = {
            e.type
            for r in source.caseload(actor, include_closed=True)
            for e in source.timeline(actor, r.episode_id)
        }
    with open_practice(tmp_path / "imported.sqlite") as practice:
        result = _import(practice, demo_export, DEMO_CLINIC)
        assert result.errors == ()
        assert result.written > 0
        after = _states(practice, left_out)
        again = _export(practice, DEMO_CLINIC, tmp_path / "again")
    assert result.notes == ()  # every episode is imported, those with several participants too
    # what the demo holds is what the comparison covers: not a vacuous equality
    assert held >= COVERED
    assert any(v["open_ruptures"] for v in before.values())
    assert any(v["alerts"] for v in before.values())
    assert sum(1 for names in left_out.values() if not names) > len(before) // 2  # most are compared whole
    assert set(after) == set(before)
    for client, view in before.items():
        assert after[client] == view, client
    original, imported = _content(demo_export), _content(again)
    assert imported == original


def _alert_histories(practice: Practice, left_out: dict[str, set[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Each client's alerts: each raised (rule, measure, participant, day), acknowledged and resolved (the
    day, and the rule, measure, participant and day of the alert handled), without the ids an import makes
    anew, sorted (the order of one instant's handlings is the clock's, not the record's); clients whose
    comparison leaves the alerts out (a corrected session) are left out."""
    actor = _actor(DEMO_CLINIC)
    out = {}
    for row in practice.caseload(actor, include_closed=True):
        if "alerts" in left_out[row.client_ref]:
            continue
        raised: dict[str, tuple[Any, ...]] = {}
        history = []
        for e in practice.timeline(actor, row.episode_id):
            if e.type == "alert-raised":
                ev = e.event
                alert = (ev.rule_id, ev.measure_id, ev.participant, ev.raised_on)  # type: ignore[attr-defined]
                raised[ev.alert_id] = alert  # type: ignore[attr-defined]
                history.append((e.type, *alert, None))
            elif e.type in ("alert-acknowledged", "alert-resolved"):
                ev = e.event
                history.append((e.type, *raised[ev.alert_id], ev.on))  # type: ignore[attr-defined]
        out[row.client_ref] = sorted(history, key=repr)
    return out


def test_the_round_trip_raises_and_handles_every_alert_again(demo_export: Path, tmp_path: Path) -> None:
    """The state holds only the open alerts; the history holds every one. The demo stores a day's records
    at one instant, a day's resolutions of earlier alerts before its session: each alert comes back, raised
    on its day and handled on the days the Flags say (none lost to a session replayed ahead of them)."""
    with open_practice(demo_export.parent / "demo.sqlite") as source:
        left_out = _left_out(source)
        before = _alert_histories(source, left_out)
    with open_practice(tmp_path / "imported.sqlite") as practice:
        assert _import(practice, demo_export, DEMO_CLINIC).errors == ()
        after = _alert_histories(practice, left_out)
    assert sum(len(h) for h in before.values()) > 50  # not a vacuous equality
    assert after == before


def _versions(practice: Practice) -> dict[str, int]:
    actor = _actor(DEMO_CLINIC)
    return {
        row.client_ref: practice.episode(actor, row.episode_id).version
        for row in practice.caseload(actor, include_closed=True)
    }


def _import_back(capsys: pytest.CaptureFixture[str], db: Path, exported: Path) -> tuple[int, str, str]:
    """``alliancekit import fhir`` of ``exported`` into a new practice at ``db``."""
    return run(capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(exported))


def test_a_second_import_writes_nothing(demo_export: Path, tmp_path: Path) -> None:
    with open_practice(tmp_path / "imported.sqlite") as practice:
        first = _import(practice, demo_export, DEMO_CLINIC)
        written = _versions(practice)
        second = _import(practice, demo_export, DEMO_CLINIC)
        third = _import(practice, demo_export, DEMO_CLINIC, batch_size=1)
        assert (second.written, second.skipped) == (0, first.written)
        assert third.written == 0
        # without the checkpoint, every episode is read and written again: the keys recognise every write
        forgotten = run_import(
            practice,
            FhirSource(demo_export, practice.plugins.measures()),
            clinic_id=DEMO_CLINIC,
            source_id="another-name",
        )
        assert (forgotten.written, forgotten.skipped) == (0, first.written)
        assert forgotten.errors == ()
        assert _versions(practice) == written  # no episode has one event more
        again = _export(practice, DEMO_CLINIC, tmp_path / "again")
    assert _content(again) == _content(demo_export)


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
def test_total_only_loinc_coded_scores_survive_the_round_trip(
    form: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A PHQ-9 and a GAD-7 recorded as totals only: the export codes their totals in LOINC (44261-6,
    70274-6), not in alliancekit's own system, and the import reads them back as the totals they are
    (it had refused them: no answers and no total Observation)."""
    source = tmp_path / "totals.csv"
    rows = (EXAMPLES / "novopsych-style.csv").read_text("utf-8").splitlines()
    rows += ["NP001,PHQ-9,2024-03-27 9:15,14,,,,,,,,,", "NP001,GAD-7,2024-03-27 9:15,9,,,,,,,,,"]
    source.write_text("\n".join(rows) + "\n", "utf-8")
    db = tmp_path / "totals.sqlite"
    code, _, err = import_csv(capsys, db, EXAMPLES / "novopsych-style.toml", source)
    assert code == 0, err
    with open_practice(db) as practice:
        if form == "ndjson":
            exported = _export(practice, CLINIC, tmp_path / "export")
            lines = (exported / "Observation.ndjson").read_text("utf-8").splitlines()
        else:
            actor = _actor(CLINIC)
            (row,) = [r for r in practice.caseload(actor, include_closed=True) if r.client_ref == "NP001"]
            bundle = episode_bundle(practice, actor, row.episode_id, purpose="treatment")
            exported = tmp_path / "episode.json"
            exported.write_text(json.dumps(bundle), "utf-8")
            lines = [json.dumps(e["resource"]) for e in bundle["entry"]]
    observations = [o for o in map(json.loads, lines) if o["resourceType"] == "Observation"]
    codes = {c["code"] for o in observations for c in o["code"]["coding"]}
    assert {"44261-6", "70274-6"} <= codes  # the totals are LOINC-coded
    code, _, err = _import_back(capsys, tmp_path / "back.sqlite", exported)
    assert code == 0, err
    back, before = sessions(tmp_path / "back.sqlite"), sessions(db)
    assert back["NP001"] == before["NP001"]
    assert [s for s in back["NP001"] if s[0] == "2024-03-27"]  # the total-only session came back


def test_total_only_administrations_survive_the_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "csv.sqlite"
    code, _, err = import_csv(capsys, db, EXAMPLES / "openfit-style.toml", EXAMPLES / "openfit-style.csv")
    assert code == 0, err
    with open_practice(db) as practice:
        exported = _export(practice, CLINIC, tmp_path / "export")
    code, _, err = _import_back(capsys, tmp_path / "back.sqlite", exported)
    assert code == 0, err
    assert sessions(tmp_path / "back.sqlite") == sessions(db)
    with open_practice(tmp_path / "back.sqlite") as practice:
        episode = practice.caseload(_actor(CLINIC))[0].episode_id
        administrations = [
            a
            for e in practice.timeline(_actor(CLINIC), episode)
            if e.type == "session-recorded"
            for a in e.event.session.administrations  # type: ignore[attr-defined]
        ]
    assert administrations
    assert all(a.total is not None and not a.answers for a in administrations)


def test_a_bundle_imports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = Path(__file__).parent / "data" / "episode-bundle.json"
    db = tmp_path / "p.sqlite"
    code, out, err = run(
        capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(bundle)
    )
    assert code == 0, err
    assert out.startswith("imported 1 units: 1 written")
    assert [s[0] for s in sessions(db)["demo-client-009"]] == [
        "2026-01-04",
        "2026-01-11",
        "2026-01-18",
        "2026-01-25",
        "2026-02-01",
    ]


def test_an_episodes_transactions_one_a_line_import_as_its_whole_bundle_does(
    demo_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `export fhir --max-entries` writes an episode's transactions one Bundle a line; the import read each
    # line as a resource, left the Bundles alone and said the file was "not an export of episodes"
    demo = str(demo_export.parent / "demo.sqlite")
    with open_practice(demo) as practice:
        episode = max(practice.caseload(_actor(DEMO_CLINIC)), key=lambda row: row.sessions_attended)
    split, whole = tmp_path / "split.ndjson", tmp_path / "whole.json"
    for out, more in ((split, ("--max-entries", "10")), (whole, ())):
        argv = ("export", "fhir", "--db", demo, "--episode", episode.episode_id, "--type", "transaction")
        code, _, err = run(capsys, *argv, "--out", str(out), *more)
        assert code == 0, err
    assert len(split.read_text(encoding="utf-8").splitlines()) > 2
    found = {}
    for source in (split, whole):
        db = tmp_path / f"{source.stem}.sqlite"
        argv = ("import", "fhir", "--db", str(db), "--create", "--clinic", DEMO_CLINIC, str(source))
        code, out, err = run(capsys, *argv)
        assert (code, out.splitlines()[0][:30]) == (0, "imported 1 units: 1 written, 0"), err
        with open_practice(db) as practice:
            found[source.stem] = _states(practice, defaultdict(set))
        assert sessions(db, DEMO_CLINIC)[episode.client_ref]
    assert found["split"] == found["whole"]
    assert list(found["split"]) == [episode.client_ref]


def test_a_booster_session_written_as_scheduled_string_still_imports(
    demo_export: Path, small_export: Path, tmp_path: Path
) -> None:
    # the export wrote a booster session's day as scheduledString before it wrote scheduledPeriod
    def older(plan: dict[str, Any]) -> dict[str, Any]:
        for activity in plan.get("activity", []):
            period = activity["detail"].pop("scheduledPeriod", None)
            if period is not None:
                activity["detail"]["scheduledString"] = period["start"]
        return plan

    plans = [older(p) for p in _lines(small_export, "CarePlan")]
    assert any("scheduledString" in a["detail"] for p in plans for a in p.get("activity", []))
    _write(small_export, "CarePlan", plans)
    found = []
    for source in (demo_export, small_export):
        with open_practice(tmp_path / f"{source.name}.sqlite") as practice:
            assert _import(practice, source, DEMO_CLINIC).errors == ()
            found.append(_states(practice, defaultdict(set)))
    assert found[0] == found[1]


def _write(folder: Path, rtype: str, resources: list[Any]) -> None:
    (folder / f"{rtype}.ndjson").write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r) for r in resources) + "\n", encoding="utf-8"
    )


@pytest.fixture
def small_export(demo_export: Path, tmp_path: Path) -> Path:
    """A copy of the demo's export, to spoil one resource at a time."""
    folder = tmp_path / "small"
    folder.mkdir()
    for path in demo_export.glob("*.ndjson"):
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


def _spoil(folder: Path, rtype: str, change: Any, index: int = 0) -> None:
    resources = list(_lines(folder, rtype))
    resources[index] = change(resources[index])
    _write(folder, rtype, resources)


def _first_answered(resources: list[Any]) -> int:
    return next(i for i, r in enumerate(resources) if any(item.get("answer") for item in r.get("item", [])))


BAD_FHIR = {
    "not JSON": ("EpisodeOfCare", lambda r: '{"resourceType": "EpisodeOfCare", ', "$", "json"),
    "no resourceType": (
        "Encounter",
        lambda r: {k: v for k, v in r.items() if k != "resourceType"},
        "resourceType",
        "required",
    ),
    "an episode without its client": (
        "EpisodeOfCare",
        lambda r: {**r, "patient": {"display": "someone"}},
        "EpisodeOfCare.patient.identifier",
        "required",
    ),
    "an encounter of another system": (
        "Encounter",
        lambda r: {**r, "episodeOfCare": [{"reference": "https://elsewhere.example/EpisodeOfCare/9"}]},
        "Encounter.episodeOfCare",
        "reference",
    ),
    "a questionnaire of another system": (
        "QuestionnaireResponse",
        lambda r: {**r, "questionnaire": "http://loinc.org/q/44249-1|2.0"},
        "QuestionnaireResponse.questionnaire",
        "unknown-measure",
    ),
    "an answer out of range": (
        "QuestionnaireResponse",
        lambda r: {
            **r,
            "item": [
                {**item, "answer": [{"valueDecimal": 99}]} if item.get("answer") else item
                for item in r["item"]
            ],
        },
        "QuestionnaireResponse.item[",  # the item by its linkId, as every item error names it
        "maximum",
    ),
    # each of these was imported as if completed, and scored: a response entered in error, one never
    # finished, two answers to one item (the first was kept), one item twice (the last was kept), answers
    # nested in a group (read as none: the administration became total-only)
    "a response entered in error": (
        "QuestionnaireResponse",
        lambda r: {**r, "status": "entered-in-error"},
        "QuestionnaireResponse.status",
        "not-completed",
    ),
    "a response in progress": (
        "QuestionnaireResponse",
        lambda r: {**r, "status": "in-progress"},
        "QuestionnaireResponse.status",
        "not-completed",
    ),
    "an item answered twice": (
        "QuestionnaireResponse",
        lambda r: {
            **r,
            "item": [{**r["item"][0], "answer": [*r["item"][0]["answer"]] * 2}, *r["item"][1:]],
        },
        "QuestionnaireResponse.item[",
        "maximum",
    ),
    "an item given twice": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": [*r["item"], r["item"][0]]},
        "QuestionnaireResponse.item[",
        "unique",
    ),
    "answers nested in a group": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": [{"linkId": "group", "item": r["item"]}]},
        "QuestionnaireResponse.item[0].item",  # a linkId the measure lacks is named by its place
        "nested",
    ),
    # named before by the library's internal path ("$.answers"), without saying what was wrong
    "an item the measure does not have": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": [*r["item"], {"linkId": "extra", "answer": [{"valueInteger": 1}]}]},
        "QuestionnaireResponse.item",
        "additionalProperties",
    ),
    "an item of the measure left out": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": r["item"][1:]},
        "QuestionnaireResponse.item",
        "required",
    ),
    "a status FHIR does not have": (
        "EpisodeOfCare",
        lambda r: {**r, "status": "paused"},
        "EpisodeOfCare.status",
        "enum",
    ),
}


def _code(resource: Any) -> str:
    return str(resource.get("code", {}).get("coding", [{}])[0].get("code"))


def _without_component(name: str) -> Any:
    return lambda r: {**r, "component": [c for c in r["component"] if _code(c) != name]}


def _ext(url_tail: str, change: Any) -> Any:
    """A change to the extension whose URL ends with ``url_tail``."""
    return lambda r: {
        **r,
        "extension": [change(e) if e["url"].endswith(url_tail) else e for e in r["extension"]],
    }


def _parts(change: dict[str, Any]) -> Any:
    """A change to some parts of a complex extension."""
    return lambda e: {
        **e,
        "extension": [{**p, **change[p["url"]]} if p["url"] in change else p for p in e["extension"]],
    }


def _replaced(parts: dict[str, Any]) -> Any:
    """Some parts of a complex extension replaced whole."""
    return lambda e: {**e, "extension": [parts.get(p["url"], p) for p in e["extension"]]}


def _has_ext(url_tail: str, part: str | None = None) -> Any:
    def found(r: Any) -> bool:
        for e in r.get("extension", []):
            if e["url"].endswith(url_tail) and (
                part is None or any(p["url"] == part for p in e["extension"])
            ):
                return True
        return False

    return found


#: The clinical records the round trip carries, each spoiled: the kind of resource, which one, the change,
#: and the path and rule the error must name.
BAD_RECORDS: dict[str, tuple[str, Any, Any, str, str]] = {
    "a goal without its start date": (
        "Goal",
        lambda r: True,
        lambda r: {k: v for k, v in r.items() if k != "startDate"},
        "Goal.startDate",
        "date",
    ),
    "a goal status alliancekit does not have": (
        "Goal",
        lambda r: True,
        _ext("goal-status", lambda e: {**e, "valueCoding": {**e["valueCoding"], "code": "paused"}}),
        "Goal.extension[goal-status]",
        "enum",
    ),
    "a goal of an episode not in the source": (
        "Goal",
        lambda r: True,
        _ext(
            "workflow-episodeOfCare", lambda e: {**e, "valueReference": {"reference": "EpisodeOfCare/gone"}}
        ),
        "Goal.extension[workflow-episodeOfCare]",
        "reference",
    ),
    "a review decision alliancekit does not have": (
        "Observation",
        lambda r: _code(r) == "review",
        lambda r: {
            **r,
            "valueCodeableConcept": {"coding": [{**r["valueCodeableConcept"]["coding"][0], "code": "x"}]},
        },
        "Observation.valueCodeableConcept",
        "enum",
    ),
    "a goal's progress about no goal": (
        "Observation",
        lambda r: _code(r) == "goal-progress",
        lambda r: {**r, "focus": [{"reference": "Goal/gone"}]},
        "Observation.focus",
        "reference",
    ),
    "a rupture without its salience": (
        "Observation",
        lambda r: _code(r) == "alliance-rupture",
        _without_component("salience"),
        "Observation.component[salience]",
        "required",
    ),
    # an element left out is "required", one holding no code alliancekit has "enum" (left out, it was "enum")
    "a rupture without its likely cause": (
        "Observation",
        lambda r: _code(r) == "alliance-rupture",
        _without_component("likely-cause"),
        "Observation.component[likely-cause]",
        "required",
    ),
    "a rupture whose likely cause is coded elsewhere": (
        "Observation",
        lambda r: _code(r) == "alliance-rupture",
        lambda r: {
            **r,
            "component": [
                {**c, "valueCodeableConcept": {"coding": [{"system": "x", "code": "y"}]}}
                if _code(c) == "likely-cause"
                else c
                for c in r["component"]
            ],
        },
        "Observation.component[likely-cause]",
        "enum",
    ),
    "a rupture without its kind": (
        "Observation",
        lambda r: _code(r) == "alliance-rupture",
        lambda r: {k: v for k, v in r.items() if k != "valueCodeableConcept"},
        "Observation.valueCodeableConcept",
        "required",
    ),
    "a review without its decision": (
        "Observation",
        lambda r: _code(r) == "review",
        lambda r: {k: v for k, v in r.items() if k != "valueCodeableConcept"},
        "Observation.valueCodeableConcept",
        "required",
    ),
    "a goal's progress without its value": (
        "Observation",
        lambda r: _code(r) == "goal-progress",
        lambda r: {k: v for k, v in r.items() if k != "valueCodeableConcept"},
        "Observation.valueCodeableConcept",
        "required",
    ),
    # another system's record of someone else, under this episode: refused, not read as the client's
    "a session about another client": (
        "Encounter",
        lambda r: r["type"][0]["coding"][0]["code"] == "session",
        lambda r: {
            **r,
            "subject": {**r["subject"], "identifier": {**r["subject"]["identifier"], "value": "x"}},
        },
        "Encounter.subject",
        "episode-client",
    ),
    "a consultation about another client": (
        "Encounter",
        lambda r: r["type"][0]["coding"][0]["code"] == "consultation",
        lambda r: {
            **r,
            "subject": {**r["subject"], "identifier": {**r["subject"]["identifier"], "value": "x"}},
        },
        "Encounter.subject",
        "episode-client",
    ),
    "a response about another client": (
        "QuestionnaireResponse",
        lambda r: r["subject"]["type"] == "Patient" and "request-point" not in json.dumps(r),
        lambda r: {
            **r,
            "subject": {**r["subject"], "identifier": {**r["subject"]["identifier"], "value": "x"}},
        },
        "QuestionnaireResponse.subject",
        "episode-client",
    ),
    "a repair attempt without its outcome": (
        "Observation",
        lambda r: _code(r) == "repair-attempt",
        _without_component("resolved"),
        "Observation.component[resolved]",
        "required",
    ),
    "an alert of no alliancekit rule": (
        "Flag",
        lambda r: True,
        lambda r: {**r, "code": {"coding": [{"system": "http://elsewhere.example/rules", "code": "x"}]}},
        "Flag.code",
        "required",
    ),
    "an ending reason alliancekit does not have": (
        "EpisodeOfCare",
        _has_ext("/ending", "reason"),
        _ext("/ending", _parts({"reason": {"valueCoding": {"system": "x", "code": "bored"}}})),
        "EpisodeOfCare.extension[ending].reason",
        "enum",
    ),
    "an ending plan on no date": (
        "EpisodeOfCare",
        _has_ext("/ending", "planned-on"),
        _ext("/ending", _parts({"planned-on": {"valueDate": "2026-02-30"}})),  # a date's form, of no day
        "EpisodeOfCare.extension[ending].planned-on",
        "date",
    ),
    "a clinician of record without an id": (
        "EpisodeOfCare",
        _has_ext("clinician-of-record"),
        _ext("clinician-of-record", _parts({"clinician": {"valueReference": {"display": "someone"}}})),
        "EpisodeOfCare.extension[clinician-of-record].clinician",
        "required",
    ),
    "a consent that is not yes or no": (
        "Encounter",
        _has_ext("/consent"),
        _ext("/consent", _replaced({"treatment": {"url": "treatment", "valueString": "yes"}})),
        "Encounter.extension[consent].treatment",
        "required",
    ),
    "a Provenance recorded at no instant": (
        "Provenance",
        lambda r: True,
        lambda r: {**r, "recorded": "2026-02-30T10:00:00Z"},  # an instant's form, on no day
        "Provenance.recorded",
        "datetime",
    ),
    "a Provenance that occurred on no day": (
        "Provenance",
        lambda r: True,
        lambda r: {**r, "occurredDateTime": "2026-02-30"},  # a date's form, of no day
        "Provenance.occurredDateTime",
        "date",
    ),
    "a participant of a role alliancekit does not have": (
        "EpisodeOfCare",
        lambda r: bool(r.get("contained")),
        lambda r: {
            **r,
            "contained": [
                {
                    **r["contained"][0],
                    "participant": [
                        r["contained"][0]["participant"][0],
                        {
                            **r["contained"][0]["participant"][1],
                            "role": [{"coding": [{"system": "x", "code": "y"}]}],
                        },
                        *r["contained"][0]["participant"][2:],
                    ],
                }
            ],
        },
        "EpisodeOfCare.contained.participant[1].role",
        "enum",
    ),
}


def _spoiled(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Import ``folder`` by the CLI: the error lines (after checking that it failed, named no client and
    wrote nothing)."""
    db = tmp_path / "p.sqlite"
    code, _, err = run(
        capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", DEMO_CLINIC, str(folder)
    )
    assert code == 1
    assert "demo-client" not in err
    assert sessions(db, DEMO_CLINIC) == {}
    return [line for line in err.splitlines() if line.startswith("error: ")]


@pytest.mark.parametrize("case", sorted(BAD_FHIR))
def test_invalid_fhir_and_fhir_of_other_systems_are_named_and_nothing_is_written(
    case: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rtype, change, field, rule = BAD_FHIR[case]
    index = _first_answered(list(_lines(small_export, rtype))) if rtype == "QuestionnaireResponse" else 0
    _spoil(small_export, rtype, change, index)
    errors = _spoiled(small_export, tmp_path, capsys)
    assert any(f", {field}" in line and f": {rule}" in line for line in errors), errors


@pytest.mark.parametrize(
    ("value", "rule"),
    [("c1 ", "whitespace"), ("rene\u0301e", "unicode-nfc")],
    ids=["trailing space", "not NFC"],
)
def test_a_client_reference_the_library_refuses_is_named_and_nothing_is_written(
    value: str, rule: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first episode's client reference, throughout the source (its Encounters and responses name the
    same Patient), is one the library refuses as the unit is written."""
    client = _client(next(_lines(small_export, "EpisodeOfCare"))["patient"])
    for path in small_export.glob("*.ndjson"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace(f'"{client}"', json.dumps(value)), encoding="utf-8")
    errors = _spoiled(small_export, tmp_path, capsys)
    assert any(", client_ref" in line and f": {rule}" in line for line in errors), errors
    assert not any("episode-client" in line for line in errors), errors


@pytest.mark.parametrize(
    ("canonical", "says"),
    [
        (  # alliancekit's canonical of a measure whose plugin is not installed here: named, with the way out
            "https://alliancekit.dev/fhir/Questionnaire/phq4|1.0",
            "measure phq4 version 1.0 is not registered here (is the plugin that supplies it installed?",
        ),
        # anything else in the canonical may be anyone's words: never echoed
        ("https://alliancekit.dev/fhir/Questionnaire/JaneDoe|1.0", "not a registered measure"),
        ("https://alliancekit.dev/fhir/Questionnaire/phq4|JaneDoe", "not a registered measure"),
        ("https://alliancekit.dev/fhir/Questionnaire/phq4|" + "1." * 40 + "1", "not a registered measure"),
        ("http://loinc.org/q/44249-1|2.0", "not a registered measure"),
    ],
    ids=["plugin-measure", "id-words", "version-words", "version-too-long", "other-system"],
)
def test_a_measure_not_registered_here_is_named_when_the_canonical_is_alliancekits(
    canonical: str, says: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, every case said "not a registered measure": an export of a plugin's measure, imported where
    # the plugin is not installed, gave no hint which measure (or that a plugin) was missing.
    _spoil(small_export, "QuestionnaireResponse", lambda r: {**r, "questionnaire": canonical}, 0)
    errors = _spoiled(small_export, tmp_path, capsys)
    line = next(e for e in errors if "QuestionnaireResponse.questionnaire: unknown-measure" in e)
    assert says in line, line
    assert "Jane" not in "\n".join(errors)


@pytest.mark.parametrize(
    ("canonical", "rule", "says"),
    [
        (  # a registered measure's canonical without "|version", as an EHR may keep it: which versions
            "https://alliancekit.dev/fhir/Questionnaire/gad-7",
            "version",
            "measure gad-7 named without its version (url|version; registered: 1.0, 1.1, 1.2)",
        ),
        ("https://alliancekit.dev/fhir/Questionnaire/phq4", "unknown-measure", "not a registered measure"),
        ("https://alliancekit.dev/fhir/Questionnaire/JaneDoe", "unknown-measure", "not a registered measure"),
    ],
    ids=["registered", "not-registered", "id-words"],
)
def test_a_canonical_without_its_version_says_so_when_the_measure_is_registered(
    canonical: str,
    rule: str,
    says: str,
    small_export: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Before, a registered measure's canonical without its version was "not a registered measure" too.
    _spoil(small_export, "QuestionnaireResponse", lambda r: {**r, "questionnaire": canonical}, 0)
    errors = _spoiled(small_export, tmp_path, capsys)
    line = next(e for e in errors if "QuestionnaireResponse.questionnaire: " in e)
    assert f"QuestionnaireResponse.questionnaire: {rule} (" in line, line
    assert says in line, line
    assert "Jane" not in "\n".join(errors)


#: Elements of the wrong JSON type (an object for a list, text for an object, null for a coding): each is
#: named by path and rule, as a missing element would be, never a TypeError or AttributeError traceback.
BAD_SHAPES = {
    "an episode's period that is not an object": (
        "EpisodeOfCare",
        lambda r: {**r, "period": True},
        "EpisodeOfCare.period.start",
        "date",
    ),
    "an encounter's period that is text": (
        "Encounter",
        lambda r: {**r, "period": "2026-01-05"},
        "Encounter.period.start",
        "date",
    ),
    "an encounter's episode that is not a list": (
        "Encounter",
        lambda r: {**r, "episodeOfCare": {"reference": r["episodeOfCare"][0]["reference"]}},
        "Encounter.episodeOfCare",
        "type",  # the schema's keyword: the resource is refused before it is read
    ),
    "a coding that is null": ("Encounter", lambda r: {**r, "type": [{"coding": None}]}, "Encounter.type", ""),
    "a response's items that are not a list": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": r["item"][0]},
        "QuestionnaireResponse.item",
        "type",
    ),
    "an answer that is not a list": (
        "QuestionnaireResponse",
        lambda r: {**r, "item": [{**item, "answer": "3"} for item in r["item"]]},
        "QuestionnaireResponse.item[",
        "type",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_SHAPES))
def test_an_element_of_the_wrong_type_is_named_and_nothing_is_written(
    case: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rtype, change, field, rule = BAD_SHAPES[case]
    index = _first_answered(list(_lines(small_export, rtype))) if rtype == "QuestionnaireResponse" else 0
    _spoil(small_export, rtype, change, index)
    errors = _spoiled(small_export, tmp_path, capsys)
    assert any(f", {field}" in line and f": {rule}" in line for line in errors), errors


def test_a_bundle_whose_entries_are_not_a_list_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "meta": {"security": 5}, "entry": {}}))
    code, _, err = run(capsys, "import", "fhir", "--db", str(tmp_path / "p.sqlite"), "--create", str(bundle))
    assert code == 1
    assert "error: row 1, Bundle.entry: type" in err


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_a_malformed_clinical_record_is_named_by_file_line_path_and_rule_and_nothing_is_written(
    case: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rtype, pick, change, field, rule = BAD_RECORDS[case]
    resources = list(_lines(small_export, rtype))
    index = next(i for i, r in enumerate(resources) if pick(r))
    _spoil(small_export, rtype, change, index)
    errors = _spoiled(small_export, tmp_path, capsys)
    where = f"{rtype}.ndjson line {index + 1}"
    assert any(f", {field}: {rule} ({where}" in line for line in errors), errors


#: A value that must never be echoed by an error.
CANARY = "canary-7f3a-not-echoed"

#: Resources of a shape the FHIR R4 schema refuses, the value (or the type) being the canary: the kind of
#: resource, which one, the change, and the path (in the resource) and the rule (the JSON Schema keyword).
SCHEMA_ERRORS: dict[str, tuple[str, Any, Any, str, str]] = {
    "a value of the wrong type": (
        "Observation",
        lambda r: "valueQuantity" in r,
        lambda r: {**r, "valueQuantity": {**r["valueQuantity"], "value": CANARY}},
        "Observation.valueQuantity.value",
        "type",
    ),
    "an element FHIR does not have": (
        "Encounter",
        lambda r: True,
        lambda r: {**r, "mood": CANARY},
        "Encounter.mood",
        "additionalProperties",
    ),
    "a property whose name is free text": (
        "Encounter",
        lambda r: True,
        lambda r: {**r, CANARY: 1},
        "Encounter.?",
        "additionalProperties",
    ),
    "a required element missing": (
        "Observation",
        lambda r: "valueQuantity" in r,
        lambda r: {**{k: v for k, v in r.items() if k != "code"}, "note": [{"text": CANARY}]},
        "Observation.code",
        "required",
    ),
    "a code outside its required binding": (
        "Observation",
        lambda r: "valueQuantity" in r,
        lambda r: {**r, "status": CANARY},
        "Observation.status",
        "enum",
    ),
    "a code outside its binding in a contained resource": (
        "EpisodeOfCare",
        lambda r: bool(r.get("contained")),
        lambda r: {**r, "contained": [{**r["contained"][0], "status": CANARY}, *r["contained"][1:]]},
        "EpisodeOfCare.contained[0].status",
        "enum",
    ),
    "an item's answer of the wrong type": (
        "QuestionnaireResponse",
        lambda r: bool(r.get("item")),
        lambda r: {**r, "item": [{**r["item"][0], "answer": [{"valueDecimal": CANARY}]}, *r["item"][1:]]},
        "QuestionnaireResponse.item[0].answer[0].valueDecimal",
        "type",
    ),
    "a date that is no date": (
        "EpisodeOfCare",
        lambda r: True,
        lambda r: {**r, "period": {**r["period"], "start": "soon"}},
        "EpisodeOfCare.period.start",
        "pattern",
    ),
    "a session's date that is no date": (
        "Encounter",
        lambda r: True,
        lambda r: {**r, "period": {**r["period"], "start": "soon"}},
        "Encounter.period.start",
        "pattern",
    ),
    "an instant without its time": (
        "Provenance",
        lambda r: True,
        lambda r: {**r, "recorded": "2026-03-02"},
        "Provenance.recorded",
        "pattern",
    ),
    "a score that is text": (
        "Observation",
        lambda r: "valueQuantity" in r and bool(r.get("derivedFrom")),
        lambda r: {**r, "valueQuantity": {**r["valueQuantity"], "value": CANARY}},
        "Observation.valueQuantity.value",
        "type",
    ),
    "a goal's status FHIR does not have (its progress refers to it)": (
        "Goal",
        lambda r: True,
        lambda r: {**r, "lifecycleStatus": CANARY},
        "Goal.lifecycleStatus",
        "enum",
    ),
    "a resource type FHIR R4 does not have": (
        "Goal",
        lambda r: True,
        lambda r: {**r, "resourceType": CANARY},
        "resourceType",
        "enum",
    ),
}


def _schema_errors(folder: Path, rtype: str, index: int) -> list[tuple[int, str, str]]:
    """The errors the FHIR R4 schema finds in resource ``index`` of ``folder``'s ``rtype`` file, as the
    import names them (row, path, keyword)."""
    resource = list(_lines(folder, rtype))[index]
    kind = resource["resourceType"]
    named = kind if kind in packaged_schema().resource_types else ""
    return [
        (index + 1, f"{named}{e.path[1:]}".lstrip("."), e.rule) for e in packaged_schema().errors(resource)
    ]


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], db: Path) -> tuple[str, str]:
    """The output of an import that failed, after checking that it named no value and wrote nothing."""
    code, out, err = run(capsys, *argv)
    assert code == 1
    assert CANARY not in out + err
    assert "demo-client" not in out + err
    assert sessions(db, DEMO_CLINIC) == {}
    return out, err


@pytest.mark.parametrize("case", sorted(SCHEMA_ERRORS))
def test_a_resource_the_fhir_schema_refuses_is_named_by_row_path_and_rule_never_its_value(
    case: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rtype, pick, change, field, rule = SCHEMA_ERRORS[case]
    index = next(i for i, r in enumerate(_lines(small_export, rtype)) if pick(r))
    _spoil(small_export, rtype, change, index)
    db = tmp_path / "p.sqlite"
    where = f"{rtype}.ndjson line {index + 1}"
    for dry_run in ([], ["--dry-run"]):
        argv = ["import", "fhir", "--db", str(db), "--create", "--clinic", DEMO_CLINIC, *dry_run]
        _, err = _refused([*argv, str(small_export)], capsys, db)
        assert f"error: row {index + 1}, {field}: {rule} ({where}" in err, err
        out, _ = _refused([*argv, "--json", str(small_export)], capsys, db)
        errors = json.loads(out)["errors"]
        found = [(e["row"], e["field"], e["rule"]) for e in errors]
        assert (index + 1, field, rule) in found
        # its schema errors only (jsonschema may name one value by two keywords, as a decimal's type and
        # pattern): the resource is not read further, and what refers to it does not report it missing
        assert {e["message"].split(":")[0] for e in errors} == {where}, found
        assert found == _schema_errors(small_export, rtype, index), found


def test_a_bundle_the_fhir_schema_refuses_is_named_by_entry_path_and_rule_never_its_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = json.loads((Path(__file__).parent / "data" / "episode-bundle.json").read_text(encoding="utf-8"))
    entries = bundle["entry"]
    score = next(i for i, e in enumerate(entries) if "valueQuantity" in e["resource"])
    entries[score]["resource"]["valueQuantity"]["value"] = CANARY
    entries[0]["request"] = {"method": CANARY, "url": "x"}
    bundle["type"] = CANARY
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    db = tmp_path / "p.sqlite"
    _, err = _refused(
        ["import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(path)], capsys, db
    )
    assert "error: row 1, Bundle.type: enum (bundle.json)" in err
    assert "error: row 1, Bundle.entry[0].request.method: enum (bundle.json)" in err
    row = score + 1
    assert f"error: row {row}, Observation.valueQuantity.value: type (bundle.json line {row})" in err


def test_resources_the_import_does_not_read_are_left_alone(small_export: Path, tmp_path: Path) -> None:
    _write(
        small_export, "Patient", [{"resourceType": "Patient", "id": "p1", "name": [{"text": "synthetic"}]}]
    )
    with open_practice(tmp_path / "p.sqlite") as practice:
        assert _import(practice, small_export, DEMO_CLINIC).errors == ()


@pytest.mark.parametrize(
    ("name", "resources", "said"),
    [
        (
            "patients.ndjson",
            [{"resourceType": "Patient", "id": "p1", "name": [{"text": "synthetic"}]}],
            " (left alone: Patient 1)",
        ),
        (
            "scores.ndjson",
            [
                {
                    "resourceType": "Observation",
                    "id": "o1",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6"}]},
                    "valueQuantity": {"value": 12},
                }
            ],
            " (found: Observation 1)",
        ),
        (  # a response another vendor's system wrote: it was named by its missing Encounter instead
            "responses.ndjson",
            [
                {"resourceType": "Patient", "id": "p1", "name": [{"text": "synthetic"}]},
                {
                    "resourceType": "QuestionnaireResponse",
                    "id": "qr1",
                    "questionnaire": "http://loinc.org/q/44249-1",
                    "status": "completed",
                    "subject": {"reference": "Patient/p1"},
                    "item": [
                        {
                            "linkId": "/44250-9",
                            "text": "synthetic",
                            "answer": [{"valueCoding": {"system": "http://loinc.org", "code": "LA6569-3"}}],
                        }
                    ],
                },
            ],
            " (found: QuestionnaireResponse 1) (left alone: Patient 1)",
        ),
    ],
)
def test_fhir_of_another_system_without_episodes_is_not_a_success(
    name: str, resources: list[dict[str, Any]], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An integrator who points the import at the wrong file (another system's Patients, or its scores)
    is told: exit 1, naming what is missing, nothing written; it had said \"imported 0 units\" and exit 0."""
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in resources), encoding="utf-8")
    db = tmp_path / "p.sqlite"
    code, out, err = run(capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(path))
    assert code == 1
    message = f"no EpisodeOfCare in {name}: not an export of episodes, nothing to import{said}"
    assert f"error: row 1, EpisodeOfCare: required ({message})" in err
    assert err.count("error: ") == 1  # what the other resources lack follows from it
    assert "the source holds no episodes" in err
    assert "synthetic" not in err + out
    assert not db.exists()


def test_an_export_of_one_episode_is_still_read(demo_export: Path, tmp_path: Path) -> None:
    """The boundary: one EpisodeOfCare is enough."""
    actor = _actor(DEMO_CLINIC)
    with open_practice(demo_export.parent / "demo.sqlite") as source:
        bundle = episode_bundle(source, actor, source.episode_ids(actor)[0], purpose="treatment")
    path = tmp_path / "one.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "EpisodeOfCare") == 1
    with open_practice(tmp_path / "p.sqlite") as practice:
        result = _import(practice, path, DEMO_CLINIC)
    assert (result.errors, result.written) == ((), 1)


@pytest.mark.parametrize(
    ("day", "refused"),
    [
        ("2001-01-01", "record_session: date-order"),  # before the episode opened
        ("2099-01-01", "session.held_on: future"),  # after the clinic's today: a typo of the year
    ],
)
def test_a_refused_episode_discards_its_whole_batch_and_the_fixed_source_resumes(
    day: str, refused: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    episodes = list(_lines(small_export, "EpisodeOfCare"))
    second = episodes[1]["id"]
    encounters = list(_lines(small_export, "Encounter"))
    mine = [
        i
        for i, e in enumerate(encounters)
        if e["episodeOfCare"][0]["reference"] == f"EpisodeOfCare/{second}"
        and e["type"][0]["coding"][0]["code"] == "session"
    ]
    if not mine:
        pytest.skip("the demo's second episode has no session")
    original = encounters[mine[-1]]["period"]
    encounters[mine[-1]] = {**encounters[mine[-1]], "period": {"start": day, "end": day}}
    _write(small_export, "Encounter", encounters)
    db = tmp_path / "p.sqlite"
    argv = [
        "import",
        "fhir",
        "--db",
        str(db),
        "--create",
        "--clinic",
        DEMO_CLINIC,
        "--batch-size",
        "3",
        str(small_export),
    ]
    code, out, err = run(capsys, *argv)
    assert code == 1
    line = next(i for i, e in enumerate(_lines(small_export, "EpisodeOfCare"), start=1) if e["id"] == second)
    assert f"error: row {line}, {refused} (refused by the library)" in err
    assert day not in err
    assert "checkpoint at row 0" in out
    assert sessions(db, DEMO_CLINIC) == {}  # the first episode, in the same batch, is not written either
    encounters[mine[-1]] = {**encounters[mine[-1]], "period": original}
    _write(small_export, "Encounter", encounters)
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert len(sessions(db, DEMO_CLINIC)) == len(episodes)


@pytest.mark.parametrize("bundle_type", ["collection", "batch", "transaction"])
def test_every_bundle_type_the_export_writes_imports(
    bundle_type: str, demo_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alliancekit.fhir import episode_bundle

    with open_practice(demo_export.parent / "demo.sqlite") as practice:
        actor = _actor(DEMO_CLINIC)
        row = next(r for r in practice.caseload(actor, include_closed=True) if r.sessions_attended > 2)
        bundle = episode_bundle(practice, actor, row.episode_id, purpose="treatment", bundle_type=bundle_type)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    db = tmp_path / "p.sqlite"
    code, _, err = run(capsys, "import", "fhir", "--db", str(db), "--create", "--clinic", CLINIC, str(path))
    assert code == 0, err
    held = sessions(db)[row.client_ref]
    assert sum(1 for s in held if s[1] == "attended") == row.sessions_attended


@pytest.mark.parametrize("where", ["ndjson", "bundle"])
def test_bytes_that_are_not_utf_8_are_a_row_error_naming_the_line_never_a_crash_or_the_value(
    where: str, small_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FHIR JSON is UTF-8: a line (or a Bundle) that is not is refused by its rule, the lines after it still
    read (an NDJSON file's errors are all reported), and the bytes next to the bad one are not echoed."""
    if where == "ndjson":
        path = small_export / "Goal.ndjson"
        lines = path.read_bytes().splitlines()
        lines[1] = lines[1].replace(b'"id":"', b'"id":"' + CANARY.encode() + b"\xff", 1)
        path.write_bytes(b"\n".join(lines) + b"\n")
        source, expected = small_export, "error: row 2, $: encoding (Goal.ndjson line 2: not UTF-8)"
    else:
        data = (Path(__file__).parent / "data" / "episode-bundle.json").read_bytes()
        source = tmp_path / "bundle.json"
        source.write_bytes(data.replace(b'"type"', CANARY.encode() + b'\xfe"type"', 1))
        expected = "error: row 1, $: encoding (bundle.json: not UTF-8)"
    db = tmp_path / "p.sqlite"
    for dry_run in ([], ["--dry-run"]):
        argv = ["import", "fhir", "--db", str(db), "--create", "--clinic", DEMO_CLINIC, *dry_run, str(source)]
        _, err = _refused(argv, capsys, db)
        assert expected in err, err


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_import_into_no_practice_says_that_create_makes_one(
    dry_run: bool, demo_export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The integrator's first run names a new file without --create: refused (exit 2, nothing made), and
    told how to make it; a file that exists but is not a practice is not offered --create."""
    missing = tmp_path / "new.sqlite"
    more = ["--dry-run"] if dry_run else []
    code, _, err = run(capsys, "import", "fhir", "--db", str(missing), *more, str(demo_export))
    assert code == 2
    assert f"no alliancekit database at {missing}" in err
    assert "--create makes a new practice there" in err
    assert not missing.exists()
    foreign = tmp_path / "notes.sqlite"
    foreign.write_bytes(b"not a database")
    code, _, err = run(capsys, "import", "fhir", "--db", str(foreign), *more, str(demo_export))
    assert code == 2
    assert "--create" not in err
    assert foreign.read_bytes() == b"not a database"
