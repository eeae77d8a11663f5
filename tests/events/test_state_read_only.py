"""An episode's state is read-only all the way down, however it was made.

The practice keeps one state object per episode and hands it to the host and to plugins; a change made
through one of its maps would steer every later command in the process away from what the events say.
Every map field is found from the class, so a field added later is covered.
"""

from __future__ import annotations

import copy
import json
import pickle
import typing
from collections.abc import Callable, Mapping

import pytest

from alliancekit import open_practice
from alliancekit.domain import Actor
from alliancekit.domain.frozen_map import FrozenMap
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.practice import Practice

from .conftest import steady
from .test_lifecycle_smoke import ALLOW_ALL, MAINTENANCE

MAP_FIELDS = tuple(
    name for name, hint in typing.get_type_hints(EpisodeState).items() if typing.get_origin(hint) is Mapping
)

CHANGES: dict[str, Callable[[dict[str, object]], object]] = {
    "set an item": lambda m: m.__setitem__("x", 1),
    "delete an item": lambda m: m.__delitem__(next(iter(m), "x")),
    "clear": lambda m: m.clear(),
    "pop": lambda m: m.pop(next(iter(m), "x"), None),
    "popitem": lambda m: m.popitem(),
    "setdefault": lambda m: m.setdefault("x", 1),
    "update": lambda m: m.update(x=1),
    "merge in place": lambda m: m.__ior__({"x": 1}),
}


def test_the_map_fields_are_found() -> None:
    assert {"goals", "alerts", "latest_scores", "lockbox", "participants", "tracks"} <= set(MAP_FIELDS)


def _assert_read_only(state: EpisodeState) -> None:
    for name in MAP_FIELDS:
        value = getattr(state, name)
        assert type(value) is FrozenMap, name
        before = dict(value)
        for change in CHANGES.values():
            with pytest.raises(TypeError, match="read-only"):
                change(value)
        assert value == before, name


@pytest.mark.parametrize("change", CHANGES)
def test_a_host_cannot_change_the_state_later_commands_see(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str], change: str
) -> None:
    ep = lifecycle(sqlite_practice, actor)
    state = sqlite_practice.episode(actor, ep)
    assert state.goals  # something to lose
    with pytest.raises(TypeError, match="read-only"):
        CHANGES[change](state.goals)  # type: ignore[arg-type]
    assert sqlite_practice.episode(actor, ep) == sqlite_practice.rebuild_state(MAINTENANCE, ep)


def test_every_way_a_state_is_made_gives_read_only_maps(
    tmp_path: typing.Any, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    path = tmp_path / "p.sqlite"
    with open_practice(path, policy=ALLOW_ALL, clock=steady) as writer:
        ep = lifecycle(writer, actor)
        _assert_read_only(writer.episode(actor, ep))  # folded in this process
        _assert_read_only(writer.rebuild_state(MAINTENANCE, ep))  # folded from the events alone
    with open_practice(path, policy=ALLOW_ALL, clock=steady) as reader:
        _assert_read_only(reader.episode(actor, ep))  # decoded from the stored snapshot
    _assert_read_only(EpisodeState("e", "c", "k", "t", steady().date()))  # the defaults


def test_a_state_copies_pickles_and_encodes_like_one_made_of_dicts(
    sqlite_practice: Practice, actor: Actor, lifecycle: Callable[[Practice, Actor], str]
) -> None:
    state = sqlite_practice.episode(actor, lifecycle(sqlite_practice, actor))
    unpickled = pickle.loads(pickle.dumps(state))  # noqa: S301 (our own bytes)
    for twin in (unpickled, copy.deepcopy(state), copy.copy(state)):
        assert twin == state
        _assert_read_only(twin)
    assert json.loads(json.dumps(state.modality_counts)) == dict(state.modality_counts)
    writable = dict(state.goals)  # a copy is the caller's own
    writable.clear()
    assert state.goals
