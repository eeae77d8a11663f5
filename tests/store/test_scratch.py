"""The scratch map an import remembers its episodes in: kept on disk, holding no client reference."""

from __future__ import annotations

import pytest

from alliancekit.store.scratch import CACHE_KIB, ScratchMap


def test_it_keeps_replaces_and_forgets_values() -> None:
    with ScratchMap() as seen:
        assert seen.get(("client-1", "episode-1")) is None
        seen.put(("client-1", "episode-1"), ("first",))
        seen.put(("client-2", "episode-1"), ("other",))
        assert seen.get(("client-1", "episode-1")) == ("first",)
        seen.put(("client-1", "episode-1"), ("second",))
        assert seen.get(("client-1", "episode-1")) == ("second",)
        assert len(seen) == 2
        seen.clear()
        assert len(seen) == 0
        assert seen.get(("client-2", "episode-1")) is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("a", "b"), ("a\x1fb",)),  # a separator inside a part
        (("a", "b"), ("ab", "")),
        (("a|", "b"), ("a", "|b")),
        (("", ""), ("",)),
        (("é",), ("e\u0301",)),  # the same letter, composed and not: two references
    ],
)
def test_keys_are_told_apart_exactly(one: tuple[str, ...], other: tuple[str, ...]) -> None:
    with ScratchMap() as seen:
        seen.put(one, ("one",))
        assert seen.get(other) is None
        seen.put(other, ("other",))
        assert (seen.get(one), seen.get(other)) == (("one",), ("other",))


def test_the_database_holds_no_client_reference() -> None:
    reference = "Synthetic Client 0042"
    with ScratchMap() as seen:
        seen.put((reference, "episode-7"), ("2025-01-06", None))
        rows = seen._conn().execute("SELECT key, value FROM scratch").fetchall()
    assert len(rows) == 1
    key, value = rows[0]
    assert reference.encode() not in key
    assert b"episode-7" not in key
    assert value == '["2025-01-06", null]'


def test_two_maps_hash_one_key_differently() -> None:
    # each map has its own secret: a key's hash says nothing across runs
    with ScratchMap() as one, ScratchMap() as other:
        assert one._key(("client", "episode")) != other._key(("client", "episode"))


def test_its_memory_is_a_bounded_page_cache() -> None:
    with ScratchMap() as seen:
        (size,) = seen._conn().execute("PRAGMA cache_size").fetchone()
        (file,) = [row[2] for row in seen._conn().execute("PRAGMA database_list") if row[1] == "main"]
    assert size == -CACHE_KIB
    assert file == ""  # a private temporary database: SQLite removes its file when it closes


def test_a_closed_map_refuses_use_and_closes_again_quietly() -> None:
    seen = ScratchMap()
    seen.put(("a",), ("1",))
    seen.close()
    seen.close()
    assert repr(seen) == "<ScratchMap closed>"
    with pytest.raises(RuntimeError, match="closed"):
        seen.get(("a",))
