"""The field-by-field snapshot encoder writes exactly the text of a full encoding, for every state the demo
practice's episodes pass through (shared maps reused from the cache, fresh ones encoded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliancekit.demo import simulate_practice
from alliancekit.events import converter, state_json
from alliancekit.events.codec import SNAPSHOT_VERSION, Codec
from alliancekit.events.identity_cache import IdentityCache
from alliancekit.events.types import EpisodeOpened
from alliancekit.lifecycle.state import EpisodeState, apply, start
from alliancekit.store.sqlite import SQLiteStore


def _reference(state: EpisodeState) -> str:
    return converter.encode_json(converter.unstructure(state) | {"_v": SNAPSHOT_VERSION})


def _states(path: Path) -> list[EpisodeState]:
    store = SQLiteStore(path, read_only=True)
    codec = Codec()
    states = []
    try:
        for episode_id in store.episode_ids():
            stored = store.load_events(episode_id)
            opened = codec.decode(stored[0])
            assert isinstance(opened, EpisodeOpened)
            state = start(episode_id, stored[0].clinic_id, opened)
            states.append(state)
            for event in stored[1:]:
                state = apply(codec.decode(event), state)
                states.append(state)
    finally:
        store.close()
    return states


@pytest.fixture(scope="module")
def demo_states(tmp_path_factory: pytest.TempPathFactory) -> list[EpisodeState]:
    path = tmp_path_factory.mktemp("state-json") / "demo.sqlite"
    simulate_practice(path, clients=12)
    return _states(path)


def test_every_state_encodes_as_the_full_encoding(demo_states: list[EpisodeState]) -> None:
    assert len(demo_states) > 200
    for state in demo_states:
        assert Codec.encode_state(state) == _reference(state)
    # a second pass reads the maps back from the cache
    for state in demo_states:
        assert Codec.encode_state(state) == _reference(state)


def test_a_full_cache_is_emptied_and_still_encodes_alike(
    demo_states: list[EpisodeState], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_json, "_texts", IdentityCache(2))
    for state in demo_states[:50]:
        assert Codec.encode_state(state) == _reference(state)
    assert len(state_json._texts) <= 2
