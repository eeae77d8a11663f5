"""The measures a reader of the data describes them by: the registered ones, and for a measure whose plugin
is gone the definition stored with the data (:meth:`alliancekit.Practice.measure_definitions`).

The stored definitions are read at most once per object, and only when a lookup needs them, under the
audit entry of the guarded call they belong to: a report's and an export's from the guarded read they made
first (:meth:`StoredMeasures.covered_by`: a timeline, closed outcomes, an exported episode's shared record),
a refit's, a review record's, a command's alert rules' and its caseload row's within that decided and
audited call. Only an export asked for questionnaires before it read any episode reads them through
``Practice.measure_definitions``, audited as the export. The FHIR export, the progress chart, the
practice-outcomes report, the expectation refit, the review record, the alert rules and the caseload row's
primary outcome use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from alliancekit.errors import UnknownMeasure
from alliancekit.events.converter import encode_payload
from alliancekit.measures.definition import Measure
from alliancekit.measures.registry import MeasureRegistry, version_key

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.security.views import CarriesDefinitions


class StoredMeasures:
    """A :class:`~alliancekit.measures.registry.MeasureRegistry` falling back to the stored definitions by
    exact id and version, or by id for :meth:`latest` (anything else is the registry's)."""

    def __init__(
        self,
        registry: MeasureRegistry,
        read_stored: Callable[[], Sequence[Measure]] | None = None,
        *,
        uncovered: Callable[[], Sequence[Measure]] | None = None,
    ) -> None:
        self.registry = registry
        self._read_stored = read_stored
        #: what reads them when no guarded read covers them (an audited read of their own), else nothing
        self._uncovered = uncovered
        self._stored: dict[tuple[str, str], Measure] | None = None

    def covered_by(self, read: CarriesDefinitions) -> None:
        """Read the stored definitions (when a lookup needs them) from a guarded read's result, under that
        read's audit entry, unless a reader is set already: a report's or an export's first read serves all
        its lookups. Until then only the ``uncovered`` reader given (if any) reads them."""
        if self._read_stored is None:
            self._read_stored = read.measure_definitions

    @property
    def read(self) -> bool:
        """Whether the stored definitions have been read (at most once, when a lookup needed them)."""
        return self._stored is not None

    def stored(self, measure_id: str, version: str) -> Measure | None:
        """The stored definition of a measure version (``None``: none stored); the first call reads them."""
        return self._definitions().get((measure_id, version))

    def _definitions(self) -> dict[tuple[str, str], Measure]:
        if self._stored is None:
            read = self._read_stored or self._uncovered
            if read is None:  # no read has covered them yet: none is read
                return {}
            self._stored = {(m.id, m.version): m for m in read()}
        return self._stored

    def latest(self, measure_id: str) -> Measure | None:
        """The registry's latest version of a measure, else the latest version stored (``None``: neither).
        The stored definitions are read only when no plugin supplies the measure."""
        try:
            return self.registry.get(measure_id)
        except LookupError:
            pass
        stored = self._definitions()
        versions = [v for (m, v) in stored if m == measure_id]
        return stored[(measure_id, max(versions, key=version_key))] if versions else None

    def get(self, measure_id: str, version: str | None = None) -> Measure:
        """The registered measure, else (for an exact version) the stored one.

        :raises UnknownMeasure: neither registered nor stored.
        """
        try:
            return self.registry.get(measure_id, version)
        except LookupError:
            if version is None:
                raise
        found = self.stored(measure_id, version)
        if found is None:
            raise UnknownMeasure(measure_id, version)
        return found

    def scored_with(self, measure_id: str, version: str | None) -> Measure | None:
        """The definition that scored ``version`` of a measure: the stored one, unless the registered one of
        that version is identical (a store refuses a changed one, so the stored one is what the scores
        used); with neither, the registry's latest version of the measure; ``None`` when nothing describes
        it. Always reads the stored definitions (once), to tell an identical registered one from a changed
        one."""
        stored = None if version is None else self.stored(measure_id, version)
        if stored is not None:
            try:
                registered = self.registry.get(measure_id, version)
            except LookupError:
                return stored
            same = encode_payload(registered.definition) == encode_payload(stored.definition)
            return registered if same else stored
        try:
            return self.registry.get(measure_id)
        except LookupError:
            return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.registry, name)
