"""Property-based fuzzing of the public inputs: only the library's own errors, whatever comes in.

More than 10,000 examples in all (the sum of ``max_examples`` below); ``fuzz/fuzz_inputs.py`` runs the
same targets under atheris (``tox -e fuzz``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliancekit import open_practice
from alliancekit.domain import records
from alliancekit.errors import AlliancekitError
from alliancekit.events import converter
from alliancekit.events.types import EVENT_TYPES
from alliancekit.lifecycle.state import EpisodeState
from alliancekit.plugins.manager import PluginHost, make_plugin_host
from alliancekit.security import bounded_json

from .helpers import Setup, active_episode, actor

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["2026-01-05", "attended", "video", "ors", "1.0", "start", "proceed", "x" * 20_001]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)
RECORD_TYPES = sorted(
    (v for v in vars(records).values() if isinstance(v, type) and attrs.has(v)), key=lambda t: t.__name__
)
STRUCTURE_TARGETS = [*sorted(EVENT_TYPES.values(), key=lambda t: t.TYPE), EpisodeState, *RECORD_TYPES]


def _fields_of(cls: type) -> list[str]:
    return [f.name for f in attrs.fields(cls)]


@st.composite
def field_values(draw: st.DrawFn, cls: type) -> dict[str, Any]:
    """Values for every field of ``cls``: mostly plausible, often wrong."""
    out = {}
    for name in _fields_of(cls):
        out[name] = draw(JSON | st.dates() | st.tuples(st.text(max_size=5)) | st.builds(object))
    return out


@settings(max_examples=3000, deadline=None)
@given(data=st.data())
def test_records_built_from_random_data(data: st.DataObject) -> None:
    cls = data.draw(st.sampled_from(RECORD_TYPES))
    kwargs = data.draw(field_values(cls))
    with contextlib.suppress(AlliancekitError):
        cls(**kwargs)


@settings(max_examples=3000, deadline=None)
@given(target=st.sampled_from(STRUCTURE_TARGETS), data=JSON)
def test_random_json_into_the_converter(target: type, data: Any) -> None:
    with contextlib.suppress(AlliancekitError):
        converter.structure(data, target)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_random_text_into_bounded_json(text: str) -> None:
    with contextlib.suppress(AlliancekitError):
        bounded_json.loads(text)


@pytest.fixture(scope="module")
def scratch_dir() -> Iterator[Path]:
    """A working directory for location strings that name relative files, removed after the module."""
    path = Path(tempfile.mkdtemp(prefix="ak-locations-"))
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def builtin_host() -> PluginHost:
    """One host of the builtin plugins for every example, as a process has one (``get_plugin_host``); its
    registries are built once and shared by every practice. A host per example spent over half the test's
    time rebuilding the measure registry, whatever the location string was."""
    return make_plugin_host(load_entry_points=False)


LOCATION_PREFIXES = st.sampled_from(["", "sqlite:", "memory:", "postgresql://", "nosuch:", "sqlite:x/", "./"])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prefix=LOCATION_PREFIXES,
    rest=st.text(
        alphabet=st.characters(blacklist_characters="/\\", blacklist_categories=["Cs"]), max_size=40
    ),
)
def test_random_location_strings(scratch_dir: Path, builtin_host: PluginHost, prefix: str, rest: str) -> None:
    try:
        practice = open_practice(prefix + rest, plugins=builtin_host)
    except AlliancekitError:
        return
    practice.close()


@pytest.fixture(scope="module")
def fuzzed_episode() -> Iterator[Setup]:
    """One episode every example writes to, made once and closed when the module is done (not left open)."""
    setup = active_episode()
    yield setup
    setup.practice.close()


@settings(max_examples=1000, deadline=None)
@given(data=st.data())
def test_random_records_through_the_facade(fuzzed_episode: Setup, data: st.DataObject) -> None:
    setup = fuzzed_episode
    p, ep, me = setup.practice, setup.episode_id, actor("clin_own")
    calls = {
        "record_session": (records.Session, lambda r: p.record_session(me, ep, r)),
        "record_review": (records.Review, lambda r: p.record_review(me, ep, r)),
        "note_rupture": (records.RuptureNote, lambda r: p.note_rupture(me, ep, r)),
        "revise_goal": (records.GoalRevision, lambda r: p.revise_goal(me, ep, r, revised_on=r)),
        "attach_disagreement": (
            records.Session,
            lambda r: p.attach_disagreement(me, ep, r, statement=r, received_on=r),
        ),
    }
    name = data.draw(st.sampled_from(sorted(calls)))
    cls, call = calls[name]
    try:
        value = cls(**data.draw(field_values(cls))) if data.draw(st.booleans()) else data.draw(JSON)
        call(value)
    except AlliancekitError:
        pass


@pytest.mark.parametrize("location", ["file/practice.sqlite", "sqlite:file/practice.sqlite", "a\x00b"])
def test_a_location_no_file_can_be_made_at_is_refused_and_touches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    """Found by the fuzz test above: under a path whose directory is a file, the store's opener raised
    ``NotADirectoryError`` (a PluginError), and removing the database it had not made raised it again; a NUL
    made removing it raise ``ValueError``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("a file, not a directory")
    with pytest.raises(AlliancekitError) as refused:
        open_practice(location, plugins=make_plugin_host(load_entry_points=False))
    assert type(refused.value).__name__ in ("StoreError", "ValidationError")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
