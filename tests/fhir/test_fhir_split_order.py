"""A transaction split into parts loaded in order: no part refers to a resource a later part creates."""

from __future__ import annotations

from typing import Any

import pytest

from alliancekit import Practice
from alliancekit.domain import Actor
from alliancekit.errors import ValidationError
from alliancekit.fhir import episode_bundle, episode_bundles
from alliancekit.fhir.bundle import split_bundle

from .conftest import episode_of

#: Demo clients of several courses (alliancekit.demo.simulate.COURSES): referred, improving, rupture
#: repaired, corrected, ongoing rupture.
CLIENTS = (0, 2, 3, 9, 11)


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return own + [r for value in node.values() for r in _references(value)]
    if isinstance(node, list):
        return [r for item in node for r in _references(item)]
    return []


def _forward(parts: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """``(part, reference)`` for each reference to a resource that only a later part creates."""
    made_in = {e["request"]["url"]: i for i, part in enumerate(parts) for e in part["entry"]}
    return [
        (i, ref)
        for i, part in enumerate(parts)
        for entry in part["entry"]
        for ref in _references(entry["resource"])
        if made_in.get(ref, -1) > i
    ]


def _transaction(*links: tuple[str, list[str]]) -> dict[str, Any]:
    """A transaction of Observations, each ``(id, the ids it refers to by hasMember)``."""
    entry = [
        {
            "resource": {
                "resourceType": "Observation",
                "id": rid,
                "hasMember": [{"reference": f"Observation/{t}"} for t in targets],
            },
            "request": {"method": "PUT", "url": f"Observation/{rid}"},
        }
        for rid, targets in links
    ]
    return {"resourceType": "Bundle", "id": "b", "type": "transaction", "entry": entry}


def _ids(part: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in part["entry"]]


def test_no_split_of_any_size_refers_forward(demo: Practice, exporter_actor: Actor) -> None:
    members = 0
    for index in CLIENTS:
        episode_id = episode_of(demo, exporter_actor, index)
        whole = episode_bundle(demo, exporter_actor, episode_id, bundle_type="transaction")
        entries = whole.get("entry", [])
        members += sum(len(e["resource"].get("hasMember", ())) for e in entries)
        for size in range(1, len(entries) + 1):
            parts = split_bundle(whole, size)
            assert _forward(parts) == [], (index, size)
            assert all(len(p["entry"]) <= size for p in parts)
            assert sorted(u for p in parts for u in _urls(p)) == sorted(_urls(whole))
    assert members > 0  # reviews naming goal-progress Observations: the references that used to point ahead


def _urls(bundle: dict[str, Any]) -> list[str]:
    return [e["request"]["url"] for e in bundle.get("entry", [])]


def test_episode_bundles_refer_only_back_at_every_size(demo: Practice, exporter_actor: Actor) -> None:
    episode_id = episode_of(demo, exporter_actor, 2)
    for size in (1, 2, 4, 5, 8, 13, 16, 32):
        assert _forward(episode_bundles(demo, exporter_actor, episode_id, max_entries=size)) == []


def test_entries_move_only_to_follow_what_they_refer_to() -> None:
    # a refers to c: c moves up to just before a; b keeps its place after a
    parts = split_bundle(_transaction(("a", ["c"]), ("b", []), ("c", [])), 1)
    assert [_ids(p) for p in parts] == [["c"], ["a"], ["b"]]
    # already in reference order: unchanged
    parts = split_bundle(_transaction(("c", []), ("a", ["c"]), ("b", ["a"])), 2)
    assert [_ids(p) for p in parts] == [["c", "a"], ["b"]]


def test_a_cycle_is_never_cut() -> None:
    bundle = _transaction(("x", []), ("a", ["b"]), ("b", ["c"]), ("c", ["a"]), ("y", ["a"]))
    parts = split_bundle(bundle, 3)
    assert [_ids(p) for p in parts] == [["x"], ["a", "b", "c"], ["y"]]
    parts = split_bundle(bundle, 4)
    assert [_ids(p) for p in parts] == [["x", "a", "b", "c"], ["y"]]


def test_a_cycle_larger_than_max_entries_is_refused() -> None:
    bundle = _transaction(("x", []), ("a", ["b"]), ("b", ["c"]), ("c", ["a"]))
    with pytest.raises(ValidationError) as caught:
        split_bundle(bundle, 2)
    assert (caught.value.field, caught.value.rule) == ("max_entries", "cycle")
    assert "at least 3" in str(caught.value)
