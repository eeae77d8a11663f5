"""The measures an export describes: the registered ones, and for a measure whose plugin is gone the
definition stored with the data (:meth:`alliancekit.Practice.measure_definitions`).

The stored definitions are read through the facade at most once per export, and only when a registered
measure is missing, so an export that needs none reads (and audits) nothing more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alliancekit.errors import UnknownMeasure
from alliancekit.measures.definition import Measure
from alliancekit.measures.registry import MeasureRegistry


class ExportMeasures:
    """A :class:`~alliancekit.measures.registry.MeasureRegistry` for one export, falling back to the
    stored definitions by exact id and version (anything else is the registry's)."""

    def __init__(self, registry: MeasureRegistry, read_stored: Callable[[], Sequence[Measure]]) -> None:
        self.registry = registry
        self._read_stored = read_stored
        self._stored: dict[tuple[str, str], Measure] | None = None

    def get(self, measure_id: str, version: str | None = None) -> Measure:
        """The registered measure, else (for an exact version) the stored one.

        :raises UnknownMeasure: neither registered nor stored.
        """
        try:
            return self.registry.get(measure_id, version)
        except LookupError:
            if version is None:
                raise
        if self._stored is None:
            self._stored = {(m.id, m.version): m for m in self._read_stored()}
        found = self._stored.get((measure_id, version))
        if found is None:
            raise UnknownMeasure(measure_id, version)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.registry, name)
