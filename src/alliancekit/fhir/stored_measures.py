"""The measures an export describes: the registered ones, and for a measure whose plugin is gone the
definition stored with the data (:meth:`alliancekit.Practice.measure_definitions`).

The stored definitions are read at most once per export, and only when a registered measure is missing,
with the first episode's shared record (:meth:`alliancekit.Practice.export_record`), under that read's audit
entry: an export writes no entry for them. Questionnaires asked for before any episode is read take them
through :meth:`alliancekit.Practice.measure_definitions`, audited as the export. The lookup itself is
:class:`alliancekit.measures.stored.StoredMeasures`, which the progress chart shares.
"""

from __future__ import annotations

from alliancekit.measures.stored import StoredMeasures


class ExportMeasures(StoredMeasures):
    """A :class:`~alliancekit.measures.registry.MeasureRegistry` for one export, falling back to the
    stored definitions by exact id and version (anything else is the registry's)."""
