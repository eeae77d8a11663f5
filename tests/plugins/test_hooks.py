"""One test (at least) per hook, through a real plugin object registered in a plugin host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.errors import NotAnAlliancekitStore, PluginError, ValidationError
from alliancekit.plugins.manager import make_plugin_host
from alliancekit.store.memory import MemoryStore
from alliancekit.store.registry import StoreRegistrar


class ScratchStorePlugin:
    """Registers a scheme that opens a memory store and remembers the locations it was asked for."""

    def __init__(self) -> None:
        self.opened: list[str] = []

    @hookimpl
    def alliancekit_register_stores(self, register: StoreRegistrar) -> None:
        def opener(location: str, *, read_only: bool = False) -> MemoryStore:
            self.opened.append(location)
            return MemoryStore()

        register("scratch", opener)


def test_alliancekit_register_stores_adds_a_scheme() -> None:
    plugin = ScratchStorePlugin()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    practice = open_practice("scratch:anything", plugins=host)
    assert isinstance(practice.store, MemoryStore)
    assert plugin.opened == ["scratch:anything"]
    supplier = host.stores().schemes()["scratch"]
    assert supplier == host.pm.get_name(plugin)


def test_alliancekit_register_stores_clash_names_both_plugins() -> None:
    class Clash:
        @hookimpl
        def alliancekit_register_stores(self, register: StoreRegistrar) -> None:
            register("sqlite", lambda location: MemoryStore())

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Clash()])
    with pytest.raises(PluginError, match=r"alliancekit\.store\.sqlite.*and"):
        host.stores()


@pytest.mark.parametrize(
    ("scheme", "opener", "says"),
    [
        ("my-store", lambda location, *, read_only=False: MemoryStore(), "no location can name ('my-store')"),
        ("x", lambda location, *, read_only=False: MemoryStore(), "no location can name ('x')"),
        ("9lives", lambda location, *, read_only=False: MemoryStore(), "no location can name ('9lives')"),
        ("", lambda location, *, read_only=False: MemoryStore(), "no location can name ('')"),
        (None, lambda location, *, read_only=False: MemoryStore(), "no location can name (of another shape)"),
        (
            "scratch",
            lambda location: MemoryStore(),
            "cannot be called as opener(location, *, read_only=False)",
        ),
        ("scratch", lambda: MemoryStore(), "cannot be called as opener(location, *, read_only=False)"),
        ("scratch", "not a function", "is not callable"),
    ],
    ids=["hyphen", "one-letter", "digit-first", "empty", "not-text", "no-read-only", "no-location", "text"],
)
def test_a_store_scheme_or_opener_that_can_never_work_is_refused_when_registered(
    scheme: Any, opener: Any, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: each registered. A location naming the scheme was read as a bare SQLite path, so
    # open_practice("my-store:clinic") created an SQLite file named my-store:clinic in the working
    # directory; an opener without read_only failed every open as "failed in store opener: TypeError".
    class Broken:
        @hookimpl
        def alliancekit_register_stores(self, register: StoreRegistrar) -> None:
            register(scheme, opener)

    monkeypatch.chdir(tmp_path)
    plugin = Broken()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    with pytest.raises(PluginError) as caught:
        open_practice(f"{scheme}:clinic", plugins=host)
    name = host.pm.get_name(plugin)
    assert (caught.value.plugin, caught.value.hook) == (name, "alliancekit_register_stores")
    assert str(caught.value).startswith(f"plugin {name!r} registered a store ")
    assert says in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_a_store_opener_taking_more_than_it_needs_registers() -> None:
    class Flexible:
        @hookimpl
        def alliancekit_register_stores(self, register: StoreRegistrar) -> None:
            register("flex_1", lambda location, **options: MemoryStore())
            register("Flex2", lambda *args, read_only=False, create=True, pool=None: MemoryStore())

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Flexible()])
    for location in ("flex_1:a", "Flex2:b"):
        assert isinstance(open_practice(location, plugins=host).store, MemoryStore)


class CountingOpeners:
    """Two schemes opening memory stores, one of whose openers takes ``create``; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, bool]]] = []

    @hookimpl
    def alliancekit_register_stores(self, register: StoreRegistrar) -> None:
        def with_create(location: str, *, read_only: bool = False, create: bool = True) -> MemoryStore:
            self.calls.append(("with-create", {"read_only": read_only, "create": create}))
            return MemoryStore(read_only=read_only)

        def without(location: str, *, read_only: bool = False) -> MemoryStore:
            self.calls.append(("without", {"read_only": read_only}))
            return MemoryStore(read_only=read_only)

        register("withcreate", with_create)
        register("without", without)


def test_an_existing_store_is_opened_once_by_an_opener_that_takes_create() -> None:
    # Before the fix the CLI opened every practice read-only (a whole store: a PostgreSQL connection pool),
    # closed it and opened it again to write.
    plugin = CountingOpeners()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    open_practice("withcreate:x", plugins=host, create=False).close()
    assert plugin.calls == [("with-create", {"read_only": False, "create": False})]
    open_practice("without:x", plugins=host, create=False).close()  # judged read-only, then opened to write
    assert plugin.calls[1:] == [("without", {"read_only": True}), ("without", {"read_only": False})]
    open_practice("without:x", plugins=host).close()  # create=True, the default: one opening, as ever
    assert plugin.calls[3:] == [("without", {"read_only": False})]


def test_a_missing_sqlite_file_is_not_created_without_create(tmp_path: Path) -> None:
    path = tmp_path / "missing.sqlite"
    with pytest.raises(NotAnAlliancekitStore):
        open_practice(path, create=False)
    assert list(tmp_path.iterdir()) == []
    open_practice(path).close()
    with open_practice(path, create=False) as practice:
        assert not practice.discard()  # an SQLite file is not removed by the practice: the caller deletes it
        assert practice.closed
    assert path.exists()


def test_unknown_scheme_is_a_validation_error() -> None:
    host = make_plugin_host(load_entry_points=False)
    with pytest.raises(ValidationError) as caught:
        open_practice("nosuchscheme:x", plugins=host)
    assert caught.value.field == "location"


def test_builtin_stores_open_bare_paths_and_schemes(tmp_path: Path) -> None:
    host = make_plugin_host(load_entry_points=False)
    assert type(open_practice(tmp_path / "a.sqlite", plugins=host).store).__name__ == "SQLiteStore"
    assert (
        type(open_practice(f"sqlite:{tmp_path / 'b.sqlite'}", plugins=host).store).__name__ == "SQLiteStore"
    )
    assert type(open_practice("memory:", plugins=host).store).__name__ == "MemoryStore"
    assert (tmp_path / "b.sqlite").exists()


def _definition(measure_id: str) -> dict[str, object]:
    from alliancekit.plugins.manager import get_plugin_host

    registry = get_plugin_host().measures()
    builtin = registry.get("ors")
    definition = dict(getattr(builtin, "definition", builtin))
    definition["id"] = measure_id
    return definition


def test_alliancekit_register_measures_registers_and_attributes(fresh_plugin_host: None) -> None:
    class ExtraMeasure:
        @hookimpl
        def alliancekit_register_measures(self, register):  # type: ignore[no-untyped-def]
            register(_definition("ors-copy"))

    plugin = ExtraMeasure()
    host = make_plugin_host(load_entry_points=False, extra_plugins=[plugin])
    registry = host.measures()
    version = registry.latest_version("ors-copy")
    assert registry.supplier("ors-copy", version) == host.pm.get_name(plugin)
    assert registry.supplier("ors", registry.latest_version("ors")) == "alliancekit.measures.builtin"


def test_alliancekit_register_measures_clash_names_both_plugins(fresh_plugin_host: None) -> None:
    class Duplicate:
        @hookimpl
        def alliancekit_register_measures(self, register):  # type: ignore[no-untyped-def]
            register(_definition("ors"))

    host = make_plugin_host(load_entry_points=False, extra_plugins=[Duplicate()])
    with pytest.raises(PluginError, match=r"alliancekit\.measures\.builtin"):
        host.measures()
