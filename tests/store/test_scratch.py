"""The scratch map an import remembers its episodes in: kept on disk, holding no client reference."""

from __future__ import annotations

import pytest

from alliancekit.store.scratch import CACHE_KIB, PAGE, ScratchLists, ScratchMap


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


def test_lists_keep_each_keys_items_in_the_order_appended() -> None:
    with ScratchLists() as lists:
        assert lists.items("encounters", ("episode-1",)) == []
        assert lists.last("encounters", ("episode-1",)) is None
        assert not lists.has("encounters", ("episode-1",))
        lists.append("encounters", ("episode-1",), (0, 10, "a"))
        lists.append("encounters", ("episode-2",), (0, 20, None))
        lists.append("encounters", ("episode-1",), (1, 30, "b"))
        lists.append("responses", ("episode-1",), (2, 40, "c"))  # another list: another key space
        assert lists.items("encounters", ("episode-1",)) == [(0, 10, "a"), (1, 30, "b")]
        assert lists.last("encounters", ("episode-1",)) == (1, 30, "b")
        assert lists.items("responses", ("episode-1",)) == [(2, 40, "c")]
        assert lists.has("encounters", ("episode-2",))
        assert (lists.count("encounters"), lists.count("responses"), lists.count("none")) == (3, 1, 0)


@pytest.mark.parametrize("size", [PAGE - 1, PAGE, PAGE + 1, 2 * PAGE])
def test_a_walk_reads_every_item_across_pages_and_those_appended_meanwhile(size: int) -> None:
    with ScratchLists() as lists:
        for n in range(size):
            lists.append("episodes", (), (n,))
            lists.append("other", (), (-n,))  # items of another list between them
        walked = []
        for (n,) in lists.each("episodes"):
            walked.append(n)
            if n == 0:
                lists.append("episodes", (), (size,))  # appended after the walk began: walked too
        assert walked == list(range(size + 1))


def test_keys_without_are_those_the_other_list_lacks_in_the_order_first_appended() -> None:
    with ScratchLists() as lists:
        lists.append("encounters", ("later",), ("first of later",))
        lists.append("encounters", ("known",), ("of known",))
        lists.append("encounters", ("earlier",), ("first of earlier",))
        lists.append("encounters", ("later",), ("second of later",))
        lists.append("known", ("known",), ())
        assert list(lists.keys_without("encounters", "known")) == [
            [("first of later",), ("second of later",)],
            [("first of earlier",)],
        ]
        lists.append("known", ("later",), ())
        lists.append("known", ("earlier",), ())
        assert list(lists.keys_without("encounters", "known")) == []


def test_lists_hold_no_key_in_the_clear() -> None:
    reference = "Synthetic Client 0042"
    with ScratchLists() as lists:
        lists.append("patients", (reference,), (0, 5, 120, -1, 3, "digest"))
        rows = lists._conn().execute("SELECT name, key, item FROM items").fetchall()
        assert rows == [("patients", rows[0][1], '[0, 5, 120, -1, 3, "digest"]')]
        assert reference.encode() not in rows[0][1]
        assert lists.items("patients", (reference,)) == [(0, 5, 120, -1, 3, "digest")]


def test_a_digest_is_keyed_by_its_lists() -> None:
    with ScratchLists() as one, ScratchLists() as other:
        assert one.digest(b"{}") == one.digest(b"{}") != one.digest(b"{ }")
        assert one.digest(b"{}") != other.digest(b"{}")  # says nothing of the bytes across runs


def test_closed_lists_refuse_and_close_once() -> None:
    lists = ScratchLists()
    lists.append("episodes", (), (1,))
    lists.close()
    lists.close()
    assert "closed" in repr(lists)
    with pytest.raises(RuntimeError, match="closed"):
        lists.items("episodes", ())
