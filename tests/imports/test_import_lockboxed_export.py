"""An export made under a client's lockbox, imported by another clinic: never a crash, never a withheld fact
invented, never half written.

For each lockbox class (and an item directive), an episode that has that class's records is exported
(NDJSON and a Bundle) with the class withheld and imported into an empty store, as a dry run and for real.
The outcome is the one ``docs/guides/importing.md`` documents: the shared part imported as it reads
(nothing of the withheld class made again), or, where the library's rules refuse the shared part (goals
without a shared fit decision), one row error naming the row, the command and the rule, saying the export
withheld part of the record, and nothing written."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from tests.security.helpers import CLINIC, Clock, active_episode

from alliancekit import Actor, Practice, Purpose, Role, open_practice
from alliancekit.domain import Consent, Consultation, Ending, FitDecision, FitOutcome, GoalDraft, Review
from alliancekit.events.catalog import LOCKBOX_CLASSES
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.validate import R4Schema, packaged_schema_path
from alliancekit.imports.fhir_source import WITHHELD_NOTE, FhirSource
from alliancekit.imports.writer import REFUSED_WITHHELD, ImportResult, run_import

from .test_import_fhir import _normalised

OWN = Actor("clin-a", Role.CLINICIAN, CLINIC)
NEW = Actor("clin-b", Role.CLINICIAN, CLINIC)
READER = Actor("exporter", Role.SUPERVISOR, CLINIC, Purpose.OPERATIONS)


def _full(p: Practice) -> tuple[str, Actor]:
    """An episode with a record of every class: consultation and fit, goals, a session with its scores, a
    rupture, a review, a hold and its resumption, a transfer, the ending planned and the closing, a statement
    of disagreement. Returns it and its clinician of record (who sets the directive)."""
    setup = active_episode(p)
    ep = setup.episode_id
    p.record_review(OWN, ep, Review(held_on=date(2026, 1, 19), decision="continue"))
    p.put_on_hold(OWN, ep, on=date(2026, 1, 20), reason="synthetic")
    p.resume(OWN, ep, on=date(2026, 2, 2))
    p.transfer(OWN, ep, to_clinician_id=NEW.id, on=date(2026, 2, 3), reason="synthetic")
    p.attach_disagreement(
        NEW, ep, setup.session_event_id, statement="synthetic", received_on=date(2026, 2, 4)
    )
    p.plan_ending(NEW, ep, on=date(2026, 2, 9), target_date=date(2026, 3, 2))
    ending = Ending(ended_on=date(2026, 3, 2), planned=True, reason="goals-met", no_plan_reason="synthetic")
    p.close_episode(NEW, ep, ending)
    return ep, NEW


def _active(p: Practice) -> tuple[str, Actor]:
    """An episode in active therapy: consultation and fit, goals, a session, a rupture."""
    return active_episode(p).episode_id, OWN


def _consultation_only(p: Practice) -> tuple[str, Actor]:
    """An episode still in consultation: no fit decision yet (its EpisodeOfCare has no statusHistory)."""
    ep = p.start_episode(OWN, client_ref="client-1", clinician_id=OWN.id, opened_on=date(2026, 1, 5))
    consent = Consent(treatment=True, measures=True)
    p.record_consultation(OWN, ep, Consultation(held_on=date(2026, 1, 6), modality="video", consent=consent))
    return ep, OWN


def _not_proceeding(p: Practice) -> tuple[str, Actor]:
    """An episode closed at the fit decision: the client is not proceeding."""
    ep, me = _consultation_only(p)
    p.decide_fit(me, ep, FitDecision(outcome="not-proceed", decided_on=date(2026, 1, 7)))
    return ep, me


def _proceeding(p: Practice, decided_on: date = date(2026, 1, 7)) -> tuple[str, Actor]:
    """An episode past its fit decision to proceed, with nothing else yet."""
    ep, me = _consultation_only(p)
    p.decide_fit(me, ep, FitDecision(outcome="proceed", decided_on=decided_on))
    return ep, me


def _unplanned(on: date) -> Ending:
    return Ending(ended_on=on, planned=False, reason="withdrawal", reflection="synthetic")


def _held_then_closed(p: Practice) -> tuple[str, Actor]:
    """Put on hold after the fit decision, and closed while on hold (no goals, no session)."""
    ep, me = _proceeding(p)
    p.put_on_hold(me, ep, on=date(2026, 1, 9), reason="synthetic")
    p.close_episode(me, ep, _unplanned(date(2026, 1, 12)))
    return ep, me


def _held_on_the_fit_day(p: Practice) -> tuple[str, Actor]:
    """Put on hold the day care was agreed."""
    ep, me = _proceeding(p)
    p.put_on_hold(me, ep, on=date(2026, 1, 7), reason="synthetic")
    return ep, me


def _closed_on_the_fit_day(p: Practice) -> tuple[str, Actor]:
    """Closed (an unplanned ending) the day care was agreed."""
    ep, me = _proceeding(p)
    p.close_episode(me, ep, _unplanned(date(2026, 1, 7)))
    return ep, me


def _ending_planned(p: Practice) -> tuple[str, Actor]:
    """Goals agreed and the ending planned: still open."""
    ep, me = _proceeding(p)
    p.agree_goals(me, ep, [GoalDraft("synthetic")], agreed_on=date(2026, 1, 8))
    p.plan_ending(me, ep, on=date(2026, 1, 9), target_date=date(2026, 2, 2))
    return ep, me


def _item(p: Practice, ep: str, by: Actor, event_type: str) -> list[str]:
    return [e.event_id for e in p.timeline(by, ep) if e.type == event_type][:1]


#: What each case withholds: how the episode is made, the directive (a class, or the type of the event an
#: item directive names), and the outcome: None (imported), else the command and rule refused.
Make = Callable[[Practice], tuple[str, Actor]]
CASES: dict[str, tuple[Make, str, str, tuple[str, str] | None]] = {
    # every class withheld from the episode with all of them: imported as shared (two are refused, below)
    **{f"class-{name}": (_full, "class", name, None) for name in sorted(LOCKBOX_CLASSES)},
    # goals and a session shared without the fit decision they need: refused, not completed
    "class-consultation": (_active, "class", "consultation", ("agree_goals", "stage")),
    # a review shared without the goals it needs: refused
    "class-goals": (_full, "class", "goals", ("record_review", "stage")),
    # the shared part is the opening alone (no statusHistory): imported as opened, no fit invented
    "class-consultation-not-proceeding": (_not_proceeding, "class", "consultation", None),
    # the same shape with no lockbox at all (an episode still in consultation): crashed the import before
    "nothing-withheld-in-consultation": (_consultation_only, "none", "", None),
    "item-session": (_full, "item", "session-recorded", None),
    "item-fit-decision": (_active, "item", "fit-decided", ("agree_goals", "stage")),
    # the fit decision withheld, a later hold, closing or ending plan shared: the EpisodeOfCare's status is
    # past planned (onhold, finished, active) with no active period; no fit decision is taken from it (one
    # was, before: imported with a fit to proceed the export withheld, or refused by agree_goals: date-order)
    "class-consultation-held-then-closed": (
        _held_then_closed,
        "class",
        "consultation",
        ("put_on_hold", "stage"),
    ),
    "item-fit-decision-held-then-closed": (
        _held_then_closed,
        "item",
        "fit-decided",
        ("put_on_hold", "stage"),
    ),
    "class-consultation-held-on-fit-day": (
        _held_on_the_fit_day,
        "class",
        "consultation",
        ("put_on_hold", "stage"),
    ),
    "class-consultation-closed-on-fit-day": (
        _closed_on_the_fit_day,
        "class",
        "consultation",
        ("close_episode", "stage"),
    ),
    "class-consultation-ending-planned": (_ending_planned, "class", "consultation", ("agree_goals", "stage")),
    "class-consultation-everything": (_full, "class", "consultation", ("agree_goals", "stage")),
}


def _export(tmp_path: Path, case: str, form: str) -> tuple[Path, frozenset[str]]:
    """The case's episode exported under its directive; and the event types no import may make again."""
    make, scope, what, _ = CASES[case]
    with open_practice(tmp_path / "source.sqlite", clock=Clock()) as p:
        ep, by = make(p)
        withheld: frozenset[str] = frozenset()
        if scope == "class":
            p.set_lockbox(by, ep, scope="class", classes=[what], on=date(2026, 3, 2))
            withheld = LOCKBOX_CLASSES[what]
        elif scope == "item":
            p.set_lockbox(by, ep, scope="item", event_ids=_item(p, ep, by, what), on=date(2026, 3, 2))
            withheld = frozenset({what})
        if form == "ndjson":
            export_ndjson(p, READER, tmp_path / "export", purpose="treatment")
            return tmp_path / "export", withheld
        path = tmp_path / "export.json"
        path.write_text(json.dumps(episode_bundle(p, READER, ep, purpose="treatment")), "utf-8")
        return path, withheld


def _episode_row(source: Path) -> int:
    """The source row of the EpisodeOfCare: its line in the NDJSON file, its entry in a Bundle."""
    if source.is_dir():
        return 1
    entries = json.loads(source.read_text("utf-8"))["entry"]
    kinds = [e["resource"]["resourceType"] for e in entries]
    return kinds.index("EpisodeOfCare") + 1


def _import(source: Path, target: Path, dry_run: bool) -> tuple[ImportResult, list[str]]:
    """The import's result, and the event types then in the target (every episode's)."""
    with open_practice(target, clock=Clock()) as p:
        result = run_import(
            p, FhirSource(source, p.plugins.measures()), clinic_id=CLINIC, source_id="x", dry_run=dry_run
        )
        rows = p.caseload(READER, include_closed=True)
        return result, [e.type for row in rows for e in p.timeline(READER, row.episode_id)]


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lockboxed_export_imports_as_documented(case: str, form: str, tmp_path: Path) -> None:
    source, withheld = _export(tmp_path, case, form)
    refused = CASES[case][3]
    checked, nothing = _import(source, tmp_path / "dry.sqlite", dry_run=True)
    # a dry run does not run the library's rules: it writes nothing and reports the source readable
    assert (checked.errors, checked.to_write, checked.written, nothing) == ((), 1, 0, [])
    result, types = _import(source, tmp_path / "imported.sqlite", dry_run=False)
    said = WITHHELD_NOTE in result.notes
    assert said == bool(withheld)  # the report says the export withheld records, and only then
    assert said == (WITHHELD_NOTE in checked.notes)
    if refused is None:
        assert (result.errors, result.written) == ((), 1)
        assert "episode-opened" in types
        assert sorted(set(types) & withheld) == []  # nothing withheld is made again
        return
    (error,) = result.errors
    assert (error.row, error.field, error.rule, error.message) == (
        _episode_row(source),
        *refused,
        REFUSED_WITHHELD,
    )
    assert (result.written, result.checkpoint, types) == (0, 0, [])  # nothing half written


def _edit_episodes(source: Path, edit: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``edit`` to each EpisodeOfCare of a Bulk export (as another system might send it)."""
    path = source / "EpisodeOfCare.ndjson"
    episodes = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    for episode in episodes:
        edit(episode)
    path.write_text("".join(json.dumps(e) + "\n" for e in episodes), "utf-8")


def test_a_refusal_of_a_complete_export_says_nothing_of_withholding(tmp_path: Path) -> None:
    """The message names withholding only when the source says records were withheld: the same source
    without its notice (as another system might send it) is refused in the plain words."""
    source, _ = _export(tmp_path, "class-consultation", "ndjson")
    (source / "OperationOutcome.ndjson").unlink()
    _edit_episodes(source, lambda eoc: eoc.pop("meta"))  # the EpisodeOfCare's REDACTED label
    result, types = _import(source, tmp_path / "imported.sqlite", dry_run=False)
    (error,) = result.errors
    assert (error.field, error.rule, error.message, types) == (
        "agree_goals",
        "stage",
        "refused by the library",
        [],
    )
    assert WITHHELD_NOTE not in result.notes


@pytest.mark.parametrize("form", ["ndjson", "bundle"])
@pytest.mark.parametrize(
    "make", [_held_then_closed, _held_on_the_fit_day, _closed_on_the_fit_day, _ending_planned, _full]
)
def test_with_nothing_withheld_the_same_shapes_keep_their_fit_decision(
    make: Make, form: str, tmp_path: Path
) -> None:
    """Every episode that proceeded shows an active period (or status) care began in: exported whole, each
    shape above comes back with its fit decision to proceed, on its day, and the same state."""
    with open_practice(tmp_path / "source.sqlite", clock=Clock()) as p:
        ep, _ = make(p)
        before = _normalised(p.episode(READER, ep))
        if form == "ndjson":
            export_ndjson(p, READER, tmp_path / "export", purpose="treatment")
            source = tmp_path / "export"
        else:
            source = tmp_path / "export.json"
            source.write_text(json.dumps(episode_bundle(p, READER, ep, purpose="treatment")), "utf-8")
    with open_practice(tmp_path / "imported.sqlite", clock=Clock()) as p:
        result = run_import(p, FhirSource(source, p.plugins.measures()), clinic_id=CLINIC, source_id="x")
        assert (result.errors, result.written) == ((), 1)
        (row,) = p.caseload(READER, include_closed=True)
        after = _normalised(p.episode(READER, row.episode_id))
    assert (after["fit"], after["fit_on"]) == (FitOutcome.PROCEED, before["fit_on"])
    assert after == before


def test_in_a_bulk_export_the_episodes_label_says_which_had_records_withheld(tmp_path: Path) -> None:
    """A Bulk export's notices name no episode; the EpisodeOfCare's ``REDACTED`` label says which had records
    withheld, and only that episode's refusal says so. An export without the labels (written before them)
    says it of every episode, as before."""
    with open_practice(tmp_path / "source.sqlite", clock=Clock()) as p:
        locked, by = _not_proceeding(p)
        p.set_lockbox(by, locked, scope="class", classes=["consultation"], on=date(2026, 3, 2))
        _active(p)
        export_ndjson(p, READER, tmp_path / "export", purpose="treatment")
    source = tmp_path / "export"
    schema = R4Schema(packaged_schema_path())
    for path in source.glob("*.ndjson"):
        for line in path.read_text("utf-8").splitlines():
            assert [str(e) for e in schema.errors(json.loads(line))] == []
    lines = (source / "EpisodeOfCare.ndjson").read_text("utf-8").splitlines()
    episodes = [json.loads(line) for line in lines]
    labels = {e["id"]: [c["code"] for c in e.get("meta", {}).get("security", [])] for e in episodes}
    assert sorted(labels.values()) == [[], ["REDACTED"]]

    def withheld(found: Path) -> dict[str, bool]:
        with open_practice(tmp_path / "read.sqlite", clock=Clock()) as p:
            units = FhirSource(found, p.plugins.measures()).units()
            return {unit.episode.episode_ref: unit.withheld for unit in units}

    assert withheld(source) == {rid: bool(codes) for rid, codes in labels.items()}
    # the complete episode as another system might send it (no active period: no fit decision, so its goals
    # are refused): refused in the plain words, though the source has the other episode's notice
    rows = {e["id"]: row for row, e in enumerate(episodes, start=1)}
    (plain,) = [rid for rid, codes in labels.items() if not codes]

    def no_fit(episode: dict[str, Any]) -> None:
        if episode["id"] == plain:
            episode["status"] = "planned"
            del episode["statusHistory"]

    _edit_episodes(source, no_fit)
    result, _ = _import(source, tmp_path / "imported.sqlite", dry_run=False)
    (error,) = result.errors
    assert (error.row, error.field, error.rule, error.message) == (
        rows[plain],
        "agree_goals",
        "stage",
        "refused by the library",
    )
    assert WITHHELD_NOTE in result.notes
    _edit_episodes(source, lambda e: e.pop("meta", None))  # an export written before the label
    assert withheld(source) == dict.fromkeys(labels, True)
