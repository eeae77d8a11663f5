"""Importing a practice's history: CSV exports of other systems (with a column mapping) and FHIR.

See ``docs/guides/importing.md``. Every write goes through the facade (guard, checks, scoring, audit) with
an idempotency key derived from the source record, and a checkpoint in the practice's metadata lets a
re-run resume after the last committed source row.
"""

from alliancekit.imports.checkpoint import ImportCheckpoint
from alliancekit.imports.csv_source import CsvSource
from alliancekit.imports.mapping import ImportMapping, MeasureColumns, load_mapping, parse_mapping
from alliancekit.imports.units import RowError
from alliancekit.imports.writer import ImportProgress, ImportResult, run_import

__all__ = [
    "CsvSource",
    "ImportCheckpoint",
    "ImportMapping",
    "ImportProgress",
    "ImportResult",
    "MeasureColumns",
    "RowError",
    "load_mapping",
    "parse_mapping",
    "run_import",
]
