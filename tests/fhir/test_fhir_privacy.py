"""Privacy in exports: process notes never leave, purposes limit free text, other clinics are invisible."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import attrs
import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import AccessDenied, NotFoundError, ValidationError
from alliancekit.events.types import EVENT_TYPES
from alliancekit.fhir import episode_bundle, export_ndjson
from alliancekit.fhir.records import EXPORTED_EVENT_TYPES, NOT_EXPORTED_EVENT_TYPES
from alliancekit.fhir.validate import R4Schema

from .conftest import append_raw, episode_of

CANARY = "CANARY-7f3e-process-note-never-leaves"


def _copy(src: Path, dst: Path) -> Path:
    with closing(sqlite3.connect(src)) as source, closing(sqlite3.connect(dst)) as target, source, target:
        source.backup(target)
    return dst


def test_every_event_type_is_decided_exported_or_not() -> None:
    """A new event type is not exported until someone decides, here, which set it belongs to."""
    undecided = set(EVENT_TYPES) - EXPORTED_EVENT_TYPES - NOT_EXPORTED_EVENT_TYPES
    assert undecided == set()
    assert "process-note-recorded" not in EXPORTED_EVENT_TYPES


def test_process_note_canary_never_appears_in_any_export(
    demo_db: Path, tmp_path: Path, exporter_actor: Actor, r4_schema: R4Schema
) -> None:
    db = _copy(demo_db, tmp_path / "with-notes.sqlite")
    with open_practice(db) as practice:
        episode_ids = list(practice.store.episode_ids())
        for episode_id in episode_ids:
            # a process note as the facade writes it
            append_raw(
                practice,
                episode_id,
                "process-note-recorded",
                {
                    "note_id": f"note-{episode_id[:8]}",
                    "author_id": "clin-ada",
                    "written_on": "2025-10-01",
                    "text": f"{CANARY} countertransference",
                },
            )
        for episode_id in episode_ids:
            assert practice.store.load_events(episode_id)[-1].type == "process-note-recorded"
        texts = []
        for purpose in ("treatment", "client-access", "quality-improvement"):
            for bundle_type in ("collection", "transaction"):
                for episode_id in episode_ids:
                    bundle = episode_bundle(
                        practice, exporter_actor, episode_id, purpose=purpose, bundle_type=bundle_type
                    )
                    texts.append(json.dumps(bundle))
        result = export_ndjson(practice, exporter_actor, tmp_path / "bulk")
    assert result.episodes == len(episode_ids)
    texts += [path.read_text(encoding="utf-8") for path in sorted((tmp_path / "bulk").iterdir())]
    assert len(texts) > 100
    for text in texts:
        assert CANARY not in text
        assert "countertransference" not in text
        assert "process-note" not in text
    # the Provenance of the note's event is not exported either: one per *exported* event
    with open_practice(db) as practice:
        episode_id = episode_of(practice, exporter_actor, 2)
        bundle = episode_bundle(practice, exporter_actor, episode_id)
        provenance = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
        assert len(provenance) == len(practice.store.load_events(episode_id)) - 1
    assert r4_schema.check(bundle) == []


def test_quality_improvement_exports_carry_no_free_text(demo_db: Path, exporter_actor: Actor) -> None:
    with open_practice(demo_db) as practice:
        for index in (2, 3, 8):
            episode_id = episode_of(practice, exporter_actor, index)
            treatment = json.dumps(episode_bundle(practice, exporter_actor, episode_id))
            qi = json.dumps(
                episode_bundle(practice, exporter_actor, episode_id, purpose="quality-improvement")
            )
            assert "synthetic" in treatment  # the demo's free text all says "synthetic"
            assert "synthetic" not in qi
            assert '"HQUALIMP"' in qi
            assert '"Goal 1"' in qi


def test_export_purpose_must_be_one_of_three(demo_db: Path, exporter_actor: Actor) -> None:
    with open_practice(demo_db) as practice:
        episode_id = episode_of(practice, exporter_actor, 2)
        with pytest.raises(ValidationError) as caught:
            episode_bundle(practice, exporter_actor, episode_id, purpose=Purpose.OPERATIONS)
        assert caught.value.field == "purpose"
        # a client exports their own record (the right of access), never another client's
        own = practice.episode(exporter_actor, episode_id).client_ref
        client = Actor(own, Role.CLIENT, "demo-clinic", Purpose.CLIENT_ACCESS)
        bundle = episode_bundle(practice, client, episode_id)
        assert bundle["meta"]["security"][0]["code"] == "PATRQT"
        with pytest.raises(AccessDenied):
            episode_bundle(practice, attrs.evolve(client, id="demo-client-999"), episode_id)


def test_another_clinics_episode_is_refused(demo_db: Path, exporter_actor: Actor, tmp_path: Path) -> None:
    with open_practice(demo_db) as practice:
        episode_id = episode_of(practice, exporter_actor, 2)
        stranger = Actor("sup-x", Role.SUPERVISOR, "other-clinic", Purpose.TREATMENT)
        # refused as an id that names no episode is: the stranger does not learn that this one exists
        with pytest.raises(NotFoundError) as refused:
            episode_bundle(practice, stranger, episode_id)
        with pytest.raises(NotFoundError) as unknown:
            episode_bundle(practice, stranger, "0" * 32)
        assert str(refused.value) == str(unknown.value)
        assert export_ndjson(practice, stranger, tmp_path / "none").episodes == 0


def test_exports_are_audited(demo_db: Path, tmp_path: Path, exporter_actor: Actor) -> None:
    db = _copy(demo_db, tmp_path / "audited.sqlite")
    with open_practice(db) as practice:
        before = set(practice.store.audit_records())  # listed by shard: compare as sets
        episode_id = episode_of(practice, exporter_actor, 2)
        episode_bundle(practice, exporter_actor, episode_id, purpose="client-access")
        rows = [r for r in practice.store.audit_records() if r not in before and r.action == "export-fhir"]
    # (finding the episode read the caseload, which is audited too)
    assert [(r.action, r.record_id, r.purpose, r.actor_id) for r in rows] == [
        ("export-fhir", episode_id, "client-access", "exporter")
    ]
