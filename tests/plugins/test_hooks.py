"""One test (at least) per hook, through a real plugin object registered in a plugin host."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliancekit import hookimpl, open_practice
from alliancekit.errors import PluginError, ValidationError
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
