"""The measure registry: every measure the plugins registered, ready to validate and score responses.

INTERFACE CONTRACT (used by the core): ``MeasureRegistry.score(measure_id, version, answers) -> Score``
validates and scores one response, raising ``UnknownMeasure`` or ``ResponseError``; ``get(measure_id,
version=None)`` returns the definition mapping; ``latest_version(measure_id)``; ``supplier(measure_id,
version)``; iteration yields ``(measure_id, version)`` pairs. ``build_measure_registry(host)`` builds it
from the ``alliancekit_register_measures`` hook.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.errors import PluginError, ResponseError, UnknownMeasure

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.plugins.manager import PluginHost

MeasureRegistrar = Callable[[Mapping[str, Any]], None]


@attrs.frozen
class Score:
    """A scored response. ``clinical`` is for the measure's default population."""

    measure_id: str
    version: str
    total: float
    subscales: Mapping[str, float] = attrs.field(factory=dict)
    band: str | None = None
    clinical: bool | None = None
    risk_items: tuple[str, ...] = ()


class MeasureRegistry:
    def __init__(self) -> None:
        self._defs: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._supplier: dict[tuple[str, str], str] = {}

    def add(self, definition: Mapping[str, Any], supplier: str) -> None:
        key = (definition["id"], definition["version"])
        if key in self._defs:
            raise PluginError(
                f"measure {key[0]} version {key[1]} registered by both {self._supplier[key]!r} and {supplier!r}"
            )
        self._defs[key] = definition
        self._supplier[key] = supplier

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._defs))

    def get(self, measure_id: str, version: str | None = None) -> Mapping[str, Any]:
        if version is None:
            version = self.latest_version(measure_id)
        try:
            return self._defs[(measure_id, version)]
        except KeyError:
            raise UnknownMeasure(measure_id, version) from None

    def latest_version(self, measure_id: str) -> str:
        versions = [v for (m, v) in self._defs if m == measure_id]
        if not versions:
            raise UnknownMeasure(measure_id)
        return max(versions)

    def supplier(self, measure_id: str, version: str) -> str:
        self.get(measure_id, version)
        return self._supplier[(measure_id, version)]

    def score(self, measure_id: str, version: str, answers: Mapping[str, Any]) -> Score:
        definition = self.get(measure_id, version)
        total = 0.0
        keys = {item["key"] for item in definition["items"]}
        for extra in set(answers) - keys:
            raise ResponseError(f"/answers/{extra}", "additionalProperties")
        for item in definition["items"]:
            value = answers.get(item["key"])
            if value is None:
                raise ResponseError(f"/answers/{item['key']}", "required")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ResponseError(f"/answers/{item['key']}", "type")
            if not item["min"] <= value <= item["max"]:
                raise ResponseError(f"/answers/{item['key']}", "range")
            total += value
        return Score(measure_id, version, total)


def build_measure_registry(host: PluginHost) -> MeasureRegistry:
    registry = MeasureRegistry()
    host.call_registration("alliancekit_register_measures", lambda plugin: lambda d: registry.add(d, plugin))
    return registry
