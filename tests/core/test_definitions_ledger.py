"""The runner carries a measure's definition to the store with the first commit that uses it, and not with
the next ones; a definition changed under the same version refuses the command and writes nothing."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from datetime import date

import pytest

from alliancekit import Actor, Practice, Role
from alliancekit.demo.measures import administration
from alliancekit.domain import (
    AdministrationTiming,
    Attendance,
    Consent,
    Consultation,
    FitDecision,
    FitOutcome,
    Modality,
    Session,
)
from alliancekit.errors import MeasureDefinitionChanged
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.definitions import stored_definition
from alliancekit.store.memory import MemoryStore
from alliancekit.store.protocol import Commit, StoredDefinition

ACTOR = Actor("clin-1", Role.CLINICIAN, "clinic-a")
DAY = date(2026, 3, 2)


class CarriedStore(MemoryStore):
    """A memory store that notes which definitions each accepted commit carried."""

    def __init__(self) -> None:
        super().__init__()
        self.carried: list[list[str]] = []

    def append(self, commit: Commit) -> None:
        super().append(commit)
        self.carried.append([d.measure_id for d in commit.definitions])

    def append_batch(self, commits: Sequence[Commit]) -> None:
        super().append_batch(commits)
        self.carried.extend([d.measure_id for d in c.definitions] for c in commits)


def _practice(store: MemoryStore) -> tuple[Practice, str]:
    practice = Practice(store, plugins=make_plugin_host(load_entry_points=False))
    ep = practice.start_episode(ACTOR, client_ref="ref-1", clinician_id="clin-1", opened_on=DAY)
    practice.record_consultation(
        ACTOR, ep, Consultation(held_on=DAY, modality="video", consent=Consent(treatment=True, measures=True))
    )
    practice.decide_fit(ACTOR, ep, FitDecision(FitOutcome.PROCEED, DAY))
    return practice, ep


def _session(practice: Practice, day: int, *measures: str) -> Session:
    registry = practice.plugins.measures()
    given = tuple(
        administration(registry, m, AdministrationTiming.START, 0.4, random.Random(day)) for m in measures
    )
    return Session(
        held_on=date(2026, 3, day),
        modality=Modality.VIDEO,
        attendance=Attendance.ATTENDED,
        administrations=given,
    )


def test_only_the_first_commit_using_a_measure_carries_its_definition() -> None:
    store = CarriedStore()
    practice, ep = _practice(store)
    store.carried.clear()
    practice.record_session(ACTOR, ep, _session(practice, 9, "phq-9"))
    practice.record_session(ACTOR, ep, _session(practice, 16, "phq-9", "gad-7"))
    practice.record_session(ACTOR, ep, _session(practice, 23, "phq-9", "gad-7"))
    assert store.carried == [["phq-9"], ["gad-7"], []]
    with practice.batch() as batch:
        batch.record_session(ACTOR, ep, _session(practice, 30, "phq-9", "gad-7"))
    assert store.carried[-1] == []
    # A second practice on the store carries it once more (its own runner): the store keeps it once.
    with Practice(store, plugins=make_plugin_host(load_entry_points=False)) as again:
        again.record_session(ACTOR, ep, _session(again, 31, "phq-9"))
    assert store.carried[-1] == ["phq-9"]
    assert [d.measure_id for d in store.measure_definitions()] == ["gad-7", "phq-9"]
    practice.close()


def _changed(definition: StoredDefinition) -> StoredDefinition:
    document = json.loads(definition.definition_json)
    document["title"] += " (edited)"
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return StoredDefinition(
        definition.measure_id, definition.version, hashlib.sha256(text.encode()).hexdigest(), text
    )


def test_a_definition_changed_under_its_version_refuses_the_command_and_writes_nothing() -> None:
    store = CarriedStore()
    practice, ep = _practice(store)
    phq9 = stored_definition(practice.plugins.measures().get("phq-9", "1.0"))
    store.save_definitions([_changed(phq9)])  # as stored by a plugin that later edited the definition
    version = practice.episode(ACTOR, ep).version
    with pytest.raises(MeasureDefinitionChanged) as refused:
        practice.record_session(ACTOR, ep, _session(practice, 9, "phq-9"))
    assert "phq-9" in str(refused.value)
    assert refused.value.rule == "changed"
    assert practice.episode(ACTOR, ep).version == version
    assert store.measure_definitions() == [_changed(phq9)]
    # The next command without that measure is not held up, and the refused one is not remembered.
    practice.record_session(ACTOR, ep, _session(practice, 10, "gad-7"))
    with pytest.raises(MeasureDefinitionChanged):
        practice.record_session(ACTOR, ep, _session(practice, 11, "phq-9"))
    practice.close()
