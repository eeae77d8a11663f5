"""Which function maps each record kind to resources: builtin, added or replaced by plugins.

Built from the ``alliancekit_fhir_mappers`` hook: the builtin plugin registers one mapper per record kind;
another plugin may register a kind of its own, or replace a builtin mapping. Two plugins (other than the
builtin one) registering the same kind is a clash, reported naming both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alliancekit.errors import PluginError

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.fhir.context import ExportContext
    from alliancekit.plugins.manager import PluginHost

Mapper = Callable[[Any, "ExportContext"], list[dict[str, Any]]]
MapperRegistrar = Callable[[str, Mapper], None]

BUILTIN = "alliancekit.fhir.builtin"


class MapperRegistry:
    def __init__(self) -> None:
        self._mappers: dict[str, tuple[Mapper, str]] = {}

    def add(self, kind: str, mapper: Mapper, supplier: str) -> None:
        if not kind or not callable(mapper):
            raise PluginError(f"plugin {supplier!r} registered an invalid FHIR mapper")
        current = self._mappers.get(kind)
        if current is not None and current[1] != BUILTIN and current[1] != supplier:
            raise PluginError(f"FHIR mapping of {kind!r} registered by both {current[1]!r} and {supplier!r}")
        self._mappers[kind] = (mapper, supplier)

    def get(self, kind: str) -> Mapper | None:
        found = self._mappers.get(kind)
        return None if found is None else found[0]

    def entry(self, kind: str) -> tuple[Mapper, str] | None:
        """The mapper of ``kind`` and the plugin that supplied it."""
        return self._mappers.get(kind)

    def supplier(self, kind: str) -> str:
        return self._mappers[kind][1]

    def kinds(self) -> list[str]:
        return sorted(self._mappers)


def build_mapper_registry(host: PluginHost) -> MapperRegistry:
    registry = MapperRegistry()

    def make_register(plugin: str) -> MapperRegistrar:
        def register(kind: str, mapper: Mapper) -> None:
            registry.add(kind, mapper, plugin)

        return register

    # Builtins first, whatever pluggy's call order, so that any plugin's registration replaces them.
    hook = "alliancekit_fhir_mappers"
    host.call_registration(
        hook, make_register, sorted(host.implementers(hook), key=lambda name: name != BUILTIN)
    )
    return registry


def mapper_registry(host: PluginHost) -> MapperRegistry:
    """The host's mapper registry, built once."""
    registry: MapperRegistry = host.cached("fhir-mappers", lambda: build_mapper_registry(host))
    return registry
