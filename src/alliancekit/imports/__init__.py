"""Importing a practice's history: CSV exports of other systems (with a column mapping) and FHIR.

See ``docs/guides/importing.md``. Every write goes through the facade (guard, checks, scoring, audit) with
an idempotency key derived from the source record, and a checkpoint in the practice's metadata lets a
re-run resume after the last committed source row. The sources (:mod:`.csv_source`, :mod:`.fhir_source`)
and the writer (:mod:`.writer`, :func:`~alliancekit.imports.writer.run_import`) are imported from their
modules; this package holds only the light value types (the core reads a checkpoint).
"""

from alliancekit.imports.checkpoint import ImportCheckpoint
from alliancekit.imports.mapping import ImportMapping, MeasureColumns, load_mapping, parse_mapping
from alliancekit.imports.units import RowError

__all__ = [
    "ImportCheckpoint",
    "ImportMapping",
    "MeasureColumns",
    "RowError",
    "load_mapping",
    "parse_mapping",
]
