"""The store contract's part about measure definitions kept with the data (``Commit.definitions``).

Mixed into :class:`alliancekit.testing.StoreContract`, so every backend runs it; it uses that suite's hooks
and helpers (``store``, ``commit``, ``practice``, ...).
"""

# A test suite: assertions are its point.
# ruff: noqa: S101, S311

from __future__ import annotations

import hashlib
import json
import random
from datetime import date
from typing import Any

import attrs
import pytest

from alliancekit.demo.measures import administration
from alliancekit.domain import AdministrationTiming, Attendance, Modality, Session
from alliancekit.errors import MeasureDefinitionChanged, StoreError
from alliancekit.measures.builtin import load_builtin_definition
from alliancekit.measures.definition import parse_definition
from alliancekit.store.definitions import stored_definition
from alliancekit.store.protocol import DefinitionStore, Store, StoredDefinition


def _definition(measure_id: str) -> StoredDefinition:
    return stored_definition(parse_definition(load_builtin_definition(f"{measure_id}-1.0")))


def _changed(definition: StoredDefinition) -> StoredDefinition:
    """The same id and version with other content (a plugin that edited a published definition)."""
    document = json.loads(definition.definition_json)
    document["title"] += " (edited)"
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return StoredDefinition(
        definition.measure_id, definition.version, hashlib.sha256(text.encode()).hexdigest(), text
    )


class DefinitionStoreTests:
    """Definitions are written with the commit that first carries them, once, and never changed.

    Its tests take ``self`` as ``Any``: they use the helpers of the suite they are mixed into."""

    __test__ = False

    def _keeps(self, store: Store) -> DefinitionStore:
        assert isinstance(store, DefinitionStore), "every backend keeps measure definitions"
        return store

    def test_a_commit_stores_its_definitions_once(self: Any, store: Store) -> None:
        kept = self._keeps(store)
        phq9, gad7 = _definition("phq-9"), _definition("gad-7")
        assert kept.measure_definitions() == []
        store.append(attrs.evolve(self.commit("ep-1", 0, 1), definitions=[phq9]))
        store.append(attrs.evolve(self.commit("ep-1", 1, 1), definitions=[gad7, phq9]))
        assert kept.measure_definitions() == [gad7, phq9]  # ordered by id; the repeat kept once
        assert [e.seq for e in store.load_events("ep-1")] == [1, 2]
        [again] = [d for d in kept.measure_definitions() if d.measure_id == "phq-9"]
        assert json.loads(again.definition_json) == json.loads(phq9.definition_json)
        assert hashlib.sha256(again.definition_json.encode()).hexdigest() == again.sha256

    def test_a_changed_definition_refuses_the_commit_and_writes_nothing(self: Any, store: Store) -> None:
        kept = self._keeps(store)
        phq9 = _definition("phq-9")
        store.append(attrs.evolve(self.commit("ep-1", 0, 1), definitions=[phq9]))
        audit = len(store.audit_records())
        bad = attrs.evolve(self.commit("ep-1", 1, 1), definitions=[_definition("gad-7"), _changed(phq9)])
        with pytest.raises(MeasureDefinitionChanged) as refused:
            store.append(bad)
        assert (refused.value.field, refused.value.rule) == ("$.version", "changed")
        assert (refused.value.measure_id, refused.value.version) == ("phq-9", phq9.version)
        self.assert_unchanged(store, "ep-1", 1, audit)
        assert kept.measure_definitions() == [phq9]  # the other definition of the refused commit neither
        store.append(attrs.evolve(bad, definitions=[phq9]))  # the unchanged one goes through

    def test_a_batch_stores_definitions_and_a_changed_one_refuses_it_all(self: Any, store: Store) -> None:
        kept = self._keeps(store)
        phq9, gad7 = _definition("phq-9"), _definition("gad-7")
        first = attrs.evolve(self.commit("ep-1", 0, 1), definitions=[phq9])
        second = attrs.evolve(self.commit("ep-2", 0, 1), definitions=[phq9, gad7])
        store.append_batch([first, second])
        assert kept.measure_definitions() == [gad7, phq9]
        ors = _definition("ors")
        batch = [
            attrs.evolve(self.commit("ep-1", 1, 1), definitions=[ors]),
            attrs.evolve(self.commit("ep-3", 0, 1), definitions=[_changed(gad7)]),
        ]
        audit = len(store.audit_records())
        with pytest.raises(MeasureDefinitionChanged):
            store.append_batch(batch)
        self.assert_unchanged(store, "ep-1", 1, audit)
        self.assert_unchanged(store, "ep-3", 0, audit)
        assert kept.measure_definitions() == [gad7, phq9]
        # Two commits of one batch that disagree with each other are refused the same way.
        clash = [batch[0], attrs.evolve(self.commit("ep-3", 0, 1), definitions=[_changed(ors)])]
        with pytest.raises(MeasureDefinitionChanged):
            store.append_batch(clash)
        assert kept.measure_definitions() == [gad7, phq9]

    def test_save_definitions_inserts_the_absent_and_refuses_a_changed_one(self: Any, store: Store) -> None:
        kept = self._keeps(store)
        phq9, gad7 = _definition("phq-9"), _definition("gad-7")
        kept.save_definitions([phq9])
        kept.save_definitions([phq9, gad7])
        assert kept.measure_definitions() == [gad7, phq9]
        with pytest.raises(MeasureDefinitionChanged):
            kept.save_definitions([_definition("ors"), _changed(gad7)])
        assert kept.measure_definitions() == [gad7, phq9]

    def test_definitions_are_kept_per_clinic_in_a_clinic_scoped_store(self: Any, store: Store) -> None:
        other: Any = self._other(store)
        if other is store:
            pytest.skip("this backend holds the whole practice, not one clinic of it")
        phq9 = _definition("phq-9")
        self._keeps(store).save_definitions([phq9])
        assert self._keeps(other).measure_definitions() == []
        other.save_definitions([_changed(phq9)])  # another clinic's own: not a change of this one's
        assert self._keeps(store).measure_definitions() == [phq9]

    def test_definitions_survive_opening_again_and_read_only(self: Any, store: Store) -> None:
        phq9 = _definition("phq-9")
        self._keeps(store).save_definitions([phq9])
        again = self.open_again(store)
        if again is None:
            pytest.skip("this backend cannot open a second store on the same database")
        assert self._keeps(self._track(again)).measure_definitions() == [phq9]
        reader = self.open_read_only(store)
        if reader is None:
            pytest.skip("this backend cannot open a read-only store on the same database")
        kept = self._keeps(self._track(reader))
        assert kept.measure_definitions() == [phq9]
        with pytest.raises(StoreError):
            kept.save_definitions([_definition("gad-7")])
        assert kept.measure_definitions() == [phq9]

    def test_a_practice_stores_what_its_administrations_used(self: Any, store: Store) -> None:
        practice = self.practice(store)
        actor = self.actor()
        ep = self.active_episode(practice, actor)
        registry = practice.plugins.measures()
        for day, measure in ((9, "phq-9"), (16, "phq-9")):
            given = administration(registry, measure, AdministrationTiming.START, 0.4, random.Random(day))
            practice.record_session(
                actor,
                ep,
                Session(
                    held_on=date(2026, 3, day),
                    modality=Modality.VIDEO,
                    attendance=Attendance.ATTENDED,
                    administrations=(given,),
                ),
            )
        assert self._keeps(store).measure_definitions() == [stored_definition(registry.get("phq-9", "1.0"))]
        [measure] = practice.measure_definitions(actor)
        assert (measure.id, measure.version) == ("phq-9", "1.0")
        assert dict(measure.definition) == dict(registry.get("phq-9", "1.0").definition)
