"""What each record becomes: statuses, codes, references, as the mapping table in docs/guides/fhir.md says."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor, GoalProgress, GoalStatus, Role
from alliancekit.errors import ValidationError
from alliancekit.fhir import episode_bundle, episode_bundles
from alliancekit.fhir import goal as goal_mapping
from alliancekit.fhir.bundle import check_max_entries
from alliancekit.fhir.codes import (
    LOINC,
    MEASURE_BANDS,
    MEASURE_SCORES,
    RATER,
    REPAIR_STRATEGY,
    RESOURCE_ID_SYSTEM,
    RUPTURE_KIND,
    RUPTURE_MARKER,
    V3_ACT_CODE,
    extension_url,
    questionnaire_url,
)
from alliancekit.fhir.export import Exporter
from alliancekit.fhir.records import GoalRecord
from alliancekit.fhir.validate import R4Schema

from .conftest import by_type, episode_of, small_practice

# demo client index -> course (alliancekit.demo.simulate.COURSES)
REFERRED, IMPROVING, RUPTURE_REPAIRED, DROPOUT, ON_HOLD, TRANSFERRED, CORRECTED, ONGOING_RUPTURE = (
    0,
    2,
    3,
    4,
    7,
    8,
    9,
    11,
)


def _bundle(demo: Practice, actor: Actor, index: int, **kw: Any) -> dict[str, list[dict[str, Any]]]:
    return by_type(episode_bundle(demo, actor, episode_of(demo, actor, index), **kw))


def _codes(concept: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


@pytest.mark.parametrize(
    ("index", "status"),
    [
        (REFERRED, "cancelled"),
        (1, "cancelled"),
        (IMPROVING, "finished"),
        (DROPOUT, "finished"),
        (ON_HOLD, "active"),
    ],
)
def test_episode_of_care_status_from_the_lifecycle(
    demo: Practice, exporter_actor: Actor, index: int, status: str
) -> None:
    (eoc,) = _bundle(demo, exporter_actor, index)["EpisodeOfCare"]
    assert eoc["status"] == status
    assert eoc["patient"]["identifier"]["value"] == f"demo-client-{index:03d}"


def test_episode_on_hold_and_resumed_keeps_its_status_history(demo: Practice, exporter_actor: Actor) -> None:
    (eoc,) = _bundle(demo, exporter_actor, ON_HOLD)["EpisodeOfCare"]
    assert [h["status"] for h in eoc["statusHistory"]] == ["planned", "active", "onhold"]
    onhold = eoc["statusHistory"][-1]["period"]
    assert onhold["start"] < onhold["end"]


def test_transfer_makes_the_new_clinician_care_manager(demo: Practice, exporter_actor: Actor) -> None:
    (eoc,) = _bundle(demo, exporter_actor, TRANSFERRED)["EpisodeOfCare"]
    assert eoc["careManager"]["identifier"]["value"] == "clin-ada"  # client 8 moves from clin-cai to clin-ada


def test_consultation_stage_is_planned_and_phone_is_virtual(tmp_path: Path, r4_schema: R4Schema) -> None:
    practice, actor, ep = small_practice(tmp_path / "p.sqlite")
    resources = by_type(episode_bundle(practice, actor, ep))
    consultation, attended, missed = resources["Encounter"]
    assert consultation["class"] == {"system": V3_ACT_CODE, "code": "VR", "display": "virtual"}
    assert consultation["type"][1]["coding"][0]["code"] == "phone"
    assert attended["status"] == "finished"
    assert missed["status"] == "cancelled"
    assert missed["extension"][0]["valueCoding"]["code"] == "no-show"


def test_no_show_is_cancelled_with_attendance_kept(demo: Practice, exporter_actor: Actor) -> None:
    encounters = _bundle(demo, exporter_actor, DROPOUT)["Encounter"]
    no_shows = [
        e for e in encounters if e.get("extension", [{}])[0].get("valueCoding", {}).get("code") == "no-show"
    ]
    assert len(no_shows) == 2
    assert {e["status"] for e in no_shows} == {"cancelled"}
    in_person = [e for e in encounters if e["type"][1]["coding"][0]["code"] == "in-person"]
    assert in_person
    assert {e["class"]["code"] for e in in_person} == {"AMB"}


def test_goals_of_a_closed_episode_are_completed_with_progress_from_reviews(
    demo: Practice, exporter_actor: Actor
) -> None:
    goals = _bundle(demo, exporter_actor, IMPROVING)["Goal"]
    assert len(goals) == 2
    for goal in goals:
        assert goal["lifecycleStatus"] == "completed"
        assert goal["achievementStatus"]["coding"][0]["code"] in {"improving", "no-change"}
        assert goal["description"]["text"].startswith("synthetic goal")


def test_goal_revision_is_a_new_version_with_its_own_provenance(
    demo: Practice, exporter_actor: Actor
) -> None:
    exporter = Exporter(demo, exporter_actor)
    exported = exporter.episode(episode_of(demo, exporter_actor, TRANSFERRED))
    goals = [r for r in exported.resources if r["resourceType"] == "Goal"]
    revised = next(g for g in goals if g["meta"]["versionId"] == "2")
    assert revised["description"]["text"] == "synthetic goal: sleep through five nights a week"
    targets = [
        t["reference"] for r in exported.resources if r["resourceType"] == "Provenance" for t in r["target"]
    ]
    assert f"Goal/{revised['id']}/_history/1" in targets
    assert f"Goal/{revised['id']}/_history/2" in targets


def test_questionnaires_carry_item_text_only_where_licensed(demo: Practice, exporter_actor: Actor) -> None:
    questionnaires = {q["name"]: q for q in _bundle(demo, exporter_actor, IMPROVING)["Questionnaire"]}
    registry = demo.plugins.measures()
    ors, phq = registry.get("ors"), registry.get("phq-9")
    assert [i["text"] for i in questionnaires["ORS"]["item"]] == [i.label for i in ors.items]
    assert [i["text"] for i in questionnaires["PHQ9"]["item"]] == [i.text for i in phq.items]
    assert questionnaires["ORS"]["copyright"] == ors.licence_notice
    assert questionnaires["PHQ9"]["code"][0]["code"] == "44249-1"
    assert questionnaires["PHQ9"]["item"][8]["code"][0]["code"] == "44260-8"
    assert questionnaires["ORS"]["url"] == "https://alliancekit.dev/fhir/Questionnaire/ors"


def test_responses_and_score_observations(demo: Practice, exporter_actor: Actor) -> None:
    resources = _bundle(demo, exporter_actor, IMPROVING)
    responses = {f"urn:uuid:{r['id']}": r for r in resources["QuestionnaireResponse"]}
    questionnaires = {f"{q['url']}|{q['version']}" for q in resources["Questionnaire"]}
    assert {r["questionnaire"] for r in responses.values()} <= questionnaires
    observations = [o for o in resources["Observation"] if "valueQuantity" in o]  # scores, not reviews
    by_code: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for obs in observations:
        for code in _codes(obs["code"]):
            by_code.setdefault(code, []).append(obs)
        (derived,) = obs["derivedFrom"]
        assert derived["reference"] in responses
    assert (LOINC, "44261-6") in by_code  # PHQ-9 total
    assert (LOINC, "70274-6") in by_code  # GAD-7 total
    assert (MEASURE_SCORES, "ors-total") in by_code
    assert {(MEASURE_SCORES, f"wai-sr-{k}") for k in ("task", "bond", "goal")} <= set(by_code)
    phq = by_code[(LOINC, "44261-6")][0]
    interpretations = {c for i in phq["interpretation"] for c in _codes(i)}
    assert any(system == MEASURE_BANDS and code.startswith("phq-9-") for system, code in interpretations)
    assert interpretations & {
        ("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", c) for c in "AN"
    }


def test_phq9_answers_are_integers_and_ors_decimals(demo: Practice, exporter_actor: Actor) -> None:
    responses = _bundle(demo, exporter_actor, IMPROVING)["QuestionnaireResponse"]
    phq = next(r for r in responses if "/phq-9|" in r["questionnaire"])
    assert all("valueInteger" in i["answer"][0] for i in phq["item"])
    ors = next(r for r in responses if "/ors|" in r["questionnaire"])
    assert [i["linkId"] for i in ors["item"]] == ["individually", "interpersonally", "socially", "overall"]


def test_corrected_session_is_amended_and_its_provenance_an_update(
    demo: Practice, exporter_actor: Actor
) -> None:
    resources = _bundle(demo, exporter_actor, CORRECTED)
    assert "amended" in {r["status"] for r in resources["QuestionnaireResponse"]}
    assert "UPDATE" in {p["activity"]["coding"][0]["code"] for p in resources["Provenance"]}


def test_rupture_observation_codes_kind_markers_and_repair(demo: Practice, exporter_actor: Actor) -> None:
    def rupture(index: int, code: str = "alliance-rupture") -> dict[str, Any]:
        obs = _bundle(demo, exporter_actor, index)["Observation"]
        (found,) = [o for o in obs if o["code"]["coding"][0]["code"] == code]
        return found

    repaired = rupture(RUPTURE_REPAIRED)
    assert _codes(repaired["valueCodeableConcept"]) == {(RUPTURE_KIND, "confrontation")}
    components = {c["code"]["coding"][0]["code"]: c for c in repaired["component"]}
    markers = {
        c["valueCodeableConcept"]["coding"][0]["code"]
        for c in repaired["component"]
        if c["code"]["coding"][0]["code"] == "marker"
    }
    assert markers == {"complaint-about-activities", "rejecting-intervention"}
    assert repaired["component"][0]["valueCodeableConcept"]["coding"][0]["system"] == RUPTURE_MARKER
    assert components["resolved"]["valueBoolean"] is True
    # the repair tried later is an Observation of its own, about the rupture
    repair = rupture(RUPTURE_REPAIRED, "repair-attempt")
    assert repair["focus"] == [{"reference": f"urn:uuid:{repaired['id']}"}]
    done = {c["code"]["coding"][0]["code"]: c for c in repair["component"]}
    assert done["repair-strategy"]["valueCodeableConcept"]["coding"][0]["system"] == REPAIR_STRATEGY
    assert done["resolved"]["valueBoolean"] is True
    assert repaired["encounter"]["reference"].startswith("urn:uuid:")
    open_one = {c["code"]["coding"][0]["code"]: c for c in rupture(ONGOING_RUPTURE)["component"]}
    assert open_one["resolved"]["valueBoolean"] is False


def test_maintenance_plan_care_plan(demo: Practice, exporter_actor: Actor) -> None:
    resources = _bundle(demo, exporter_actor, IMPROVING)
    (plan,) = resources["CarePlan"]
    goal_urls = {f"urn:uuid:{g['id']}" for g in resources["Goal"]}
    assert {g["reference"] for g in plan["goal"]} == goal_urls
    kinds = [a["detail"]["code"]["coding"][0]["code"] for a in plan["activity"]]
    assert kinds.count("coping-strategy") == 2
    assert "booster-session" in kinds
    # the booster's day as a Period a receiver can compare and search, not a date in scheduledString
    (booster,) = [
        a["detail"] for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] == "booster-session"
    ]
    assert "scheduledString" not in booster
    day = booster["scheduledPeriod"]["start"]
    assert booster["scheduledPeriod"] == {"start": day, "end": day}
    assert date.fromisoformat(day) > date.fromisoformat(plan["period"]["start"])
    assert any(n["text"].startswith("Early warning sign") for n in plan["note"])
    assert "CarePlan" not in _bundle(demo, exporter_actor, 5)  # planned ending without a plan


def test_provenance_for_every_exported_event(demo: Practice, exporter_actor: Actor) -> None:
    episode_id = episode_of(demo, exporter_actor, IMPROVING)
    resources = by_type(episode_bundle(demo, exporter_actor, episode_id))
    events = demo.timeline(exporter_actor, episode_id)
    assert len(resources["Provenance"]) == len(events)
    agent = resources["Provenance"][0]["agent"][0]["who"]
    assert agent["type"] == "Practitioner"
    assert agent["identifier"]["value"].startswith("clin-")


def test_batch_entries_are_conditional_creates_on_identifiers_that_are_not_full_urls(
    demo: Practice, exporter_actor: Actor
) -> None:
    bundle = episode_bundle(
        demo, exporter_actor, episode_of(demo, exporter_actor, IMPROVING), bundle_type="batch"
    )
    kinds = set()
    for entry in bundle["entry"]:
        request, resource = entry["request"], entry["resource"]
        kinds.add(resource["resourceType"])
        if resource["resourceType"] == "Questionnaire":
            assert request == {
                "method": "POST",
                "url": "Questionnaire",
                "ifNoneExist": f"url={resource['url']}&version={resource['version']}",
            }
        elif resource["resourceType"] == "Provenance":
            assert request == {"method": "PUT", "url": f"Provenance/{resource['id']}"}
        else:
            own = (
                resource["identifier"]
                if isinstance(resource["identifier"], dict)
                else resource["identifier"][0]
            )
            assert own == {"system": RESOURCE_ID_SYSTEM, "value": resource["id"]}
            assert own["value"] != entry["fullUrl"]
            assert "urn:uuid" not in json.dumps(resource.get("identifier"))
            assert request == {
                "method": "POST",
                "url": resource["resourceType"],
                "ifNoneExist": f"identifier={RESOURCE_ID_SYSTEM}|{resource['id']}",
            }
    assert {"Questionnaire", "Provenance", "Encounter", "QuestionnaireResponse"} <= kinds


def test_transaction_entries_are_updates_by_id_with_relative_references(
    demo: Practice, exporter_actor: Actor
) -> None:
    bundle = episode_bundle(
        demo, exporter_actor, episode_of(demo, exporter_actor, IMPROVING), bundle_type="transaction"
    )
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
    assert "urn:uuid:" not in json.dumps([e["resource"] for e in bundle["entry"]])


@pytest.mark.parametrize("size", [1, 7, 8, 50])
def test_transactions_are_split_at_max_entries_in_order(
    demo: Practice, exporter_actor: Actor, size: int
) -> None:
    episode_id = episode_of(demo, exporter_actor, IMPROVING)
    whole = episode_bundle(demo, exporter_actor, episode_id, bundle_type="transaction")
    parts = episode_bundles(demo, exporter_actor, episode_id, max_entries=size)
    assert all(len(p["entry"]) <= size for p in parts)
    assert all(len(p["entry"]) == size for p in parts[:-1])
    assert [e for p in parts for e in p["entry"]] == whole["entry"]
    assert len({p["id"] for p in parts}) == len(parts)
    assert len(parts) == -(-len(whole["entry"]) // size)


def test_a_bundle_that_fits_is_not_split(demo: Practice, exporter_actor: Actor) -> None:
    episode_id = episode_of(demo, exporter_actor, IMPROVING)
    whole = episode_bundle(demo, exporter_actor, episode_id, bundle_type="transaction")
    n = len(whole["entry"])
    assert len(episode_bundles(demo, exporter_actor, episode_id, max_entries=n)) == 1
    assert len(episode_bundles(demo, exporter_actor, episode_id, max_entries=n - 1)) == 2
    assert len(episode_bundles(demo, exporter_actor, episode_id, bundle_type="batch", max_entries=1)) == 1


@pytest.mark.parametrize("bad", [0, 10_001, -1, True, 2.0, "8"])
def test_max_entries_out_of_range_is_refused_before_reading(
    demo: Practice, exporter_actor: Actor, bad: object
) -> None:
    episode_id = episode_of(demo, exporter_actor, IMPROVING)
    before = len(demo.audit_entries(Actor("admin", Role.ADMINISTRATOR, exporter_actor.clinic_id)))
    with pytest.raises(ValidationError) as caught:
        episode_bundles(demo, exporter_actor, episode_id, max_entries=bad)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.rule) == ("max_entries", "range")
    after = demo.audit_entries(Actor("admin", Role.ADMINISTRATOR, exporter_actor.clinic_id))
    assert len(after) == before + 1  # only the auditor's own read


@pytest.mark.parametrize("bad", [0, 10_001])
def test_max_entries_out_of_range_is_worded_for_cli_and_library_users_alike(bad: int) -> None:
    with pytest.raises(ValidationError) as caught:
        check_max_entries(bad)
    assert (
        str(caught.value) == "max_entries: range (a whole number from 1 to 10000, or no limit for one Bundle)"
    )
    assert "None" not in str(caught.value)


@pytest.mark.parametrize("good", [None, 1, 10_000])
def test_max_entries_within_its_bounds_or_no_limit_passes(good: int | None) -> None:
    check_max_entries(good)


def test_exports_are_repeatable(demo: Practice, exporter_actor: Actor) -> None:
    episode_id = episode_of(demo, exporter_actor, IMPROVING)
    first = episode_bundle(demo, exporter_actor, episode_id)
    second = episode_bundle(demo, exporter_actor, episode_id)
    assert first["entry"] == second["entry"]


@pytest.mark.parametrize(
    ("status", "closed", "progress", "lifecycle", "achievement"),
    [
        (GoalStatus.ACTIVE, False, None, "active", None),
        (GoalStatus.ACTIVE, False, GoalProgress.WORSENING, "active", "worsening"),
        (GoalStatus.ON_HOLD, False, GoalProgress.NO_PROGRESS, "on-hold", "no-progress"),
        (GoalStatus.ACHIEVED, False, GoalProgress.IMPROVING, "completed", "achieved"),
        (GoalStatus.CANCELLED, True, None, "cancelled", None),
        (GoalStatus.ACTIVE, True, GoalProgress.SUSTAINING, "completed", "sustaining"),
        (GoalStatus.ON_HOLD, True, None, "completed", None),
    ],
)
def test_goal_statuses(
    status: GoalStatus, closed: bool, progress: GoalProgress | None, lifecycle: str, achievement: str | None
) -> None:
    record = GoalRecord(
        "ep", (), "g1", 1, "x", (), status, date(2025, 1, 1), date(2025, 1, 1), 0, progress, None, closed
    )
    assert goal_mapping.lifecycle_status(record) == lifecycle
    found = goal_mapping.achievement(record)
    assert (found.value if found else None) == achievement


# -- several participants, collateral raters, a group (the demo's clients seen together) ------------------

COUPLE, FAMILY, GROUP_MEMBER = 24, 25, 28


def _valid(r4_schema: R4Schema, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        assert [str(e) for e in r4_schema.check(resource)] == []


def _values(ref: dict[str, Any]) -> tuple[str, str]:
    return ref["type"], ref["identifier"]["value"]


def test_a_couple_are_participants_of_the_episode_and_its_encounters(
    demo: Practice, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    found = _bundle(demo, exporter_actor, COUPLE)
    (eoc,) = found["EpisodeOfCare"]
    (team,) = eoc["contained"]
    assert eoc["team"] == [{"reference": f"#{team['id']}"}]
    members = {_values(p["member"]): p["role"][0]["coding"][0]["code"] for p in team["participant"]}
    assert members == {
        ("Patient", "demo-client-024"): "client",
        ("RelatedPerson", "demo-partner-024"): "partner",
    }
    sessions = [e for e in found["Encounter"] if any(t["coding"][0]["code"] == "session" for t in e["type"])]
    for encounter in sessions:
        parts = {
            _values(p["individual"]): p.get("type", [{}])[0].get("coding", [{}])[0].get("code")
            for p in encounter["participant"]
        }
        assert parts[("RelatedPerson", "demo-partner-024")] == "PART"
    # each partner's measures are about them, answered by them
    about = {
        (_values(r["subject"]), _values(r["source"]), _values(r["author"]))
        for r in found["QuestionnaireResponse"]
    }
    partner = ("RelatedPerson", "demo-partner-024")
    assert (partner, partner, partner) in about
    assert (("Patient", "demo-client-024"),) * 3 in about
    _valid(r4_schema, [eoc, *sessions, *found["QuestionnaireResponse"], *found["Observation"]])


def test_a_partners_scores_have_the_client_as_subject_and_the_partner_as_focus(
    demo: Practice, exporter_actor: Actor
) -> None:
    # R4's Observation.subject is Reference(Patient | Group | Device | Location), which the JSON schema does
    # not check: the partner's scores named the partner there, as a RelatedPerson. focus is R4's element
    # for an observation about someone associated with the patient (a spouse, a parent).
    found = _bundle(demo, exporter_actor, COUPLE)
    scores = [o for o in found["Observation"] if o["category"][0]["coding"][0]["code"] == "survey"]
    responses = {r["id"]: _values(r["subject"]) for r in found["QuestionnaireResponse"]}
    partner = ("RelatedPerson", "demo-partner-024")
    focused = [o for o in scores if [_values(f) for f in o.get("focus", [])] == [partner]]
    assert focused
    for observation in scores:
        assert _values(observation["subject"]) == ("Patient", "demo-client-024")
        response = observation["derivedFrom"][0]["reference"][-36:]  # urn:uuid:<id>
        # the focus is whom the response is about, when that is not the client
        about = responses[response]
        assert [_values(f) for f in observation.get("focus", [])] == (
            [] if about[0] == "Patient" else [about]
        )


def test_a_parents_collateral_report_names_the_parent_as_author_and_the_child_as_subject(
    demo: Practice, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    found = _bundle(demo, exporter_actor, FAMILY)
    collateral = [
        r
        for r in found["QuestionnaireResponse"]
        if {"url": extension_url("rater"), "valueCoding": {"system": RATER, "code": "parent"}}
        in r["extension"]
    ]
    assert collateral
    for response in collateral:
        assert response["questionnaire"].startswith(questionnaire_url("cors"))
        assert _values(response["subject"]) == ("Patient", "demo-client-025")
        assert (
            _values(response["author"]) == _values(response["source"]) == ("RelatedPerson", "demo-parent-025")
        )
    _valid(r4_schema, collateral)


def test_each_score_names_who_rated_it_as_its_performer(demo: Practice, exporter_actor: Actor) -> None:
    # a parent's CORS of the child and the child's own have the same subject and code: only the response's
    # author said who rated, and an Observation read alone (a server's search by code) did not
    found = _bundle(demo, exporter_actor, FAMILY)
    authors = {f"urn:uuid:{r['id']}": r.get("author") for r in found["QuestionnaireResponse"]}
    scores = [o for o in found["Observation"] if "derivedFrom" in o]
    assert scores
    for observation in scores:
        author = authors[observation["derivedFrom"][0]["reference"]]
        assert observation.get("performer") == (None if author is None else [author])
    performers = {_values(o["performer"][0]) for o in scores if "performer" in o}
    assert {("Patient", "demo-client-025"), ("RelatedPerson", "demo-parent-025")} <= performers


def test_a_group_session_names_its_co_facilitator_and_the_group_session(
    demo: Practice, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    found = _bundle(demo, exporter_actor, GROUP_MEMBER)
    (eoc,) = found["EpisodeOfCare"]
    roles = [p["role"][0]["coding"][0]["code"] for p in eoc["contained"][0]["participant"]]
    assert roles == ["client", "facilitator", "facilitator"]  # the other members are never named
    sessions = [
        e
        for e in found["Encounter"]
        if any(x["url"] == extension_url("group-session") for x in e.get("extension", ()))
    ]
    assert len(sessions) == 8
    for encounter in sessions:
        performers = [
            p
            for p in encounter["participant"]
            if p.get("type", [{}])[0].get("coding", [{}])[0].get("code") == "SPRF"
        ]
        assert len(performers) == 1
    assert all(
        r["questionnaire"].split("|")[0] != questionnaire_url("srs") for r in found["QuestionnaireResponse"]
    )
    _valid(r4_schema, [eoc, *sessions, *found["QuestionnaireResponse"]])
