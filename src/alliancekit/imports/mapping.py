"""The column-mapping file of ``alliancekit import csv``: which source column holds what.

A mapping is TOML (read with the standard library's ``tomllib``) or JSON of the same shape; see
``docs/guides/importing.md`` for every key and ``examples/imports/`` for an OpenFIT-style and a
NovoPsych-style mapping. A mistake in a mapping names the key and the rule, like any bad input.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from alliancekit.domain.vocab import AdministrationTiming, Attendance, Modality
from alliancekit.errors import ValidationError
from alliancekit.security import bounded_json

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.measures.registry import MeasureRegistry

#: The encodings a source file may declare (a UTF-8 BOM is skipped; UTF-16 needs its BOM).
ENCODINGS = ("utf-8", "utf-16", "latin-1", "cp1252")
#: The delimiters a source file may declare; ``auto`` picks the one of these the header line holds most of.
DELIMITERS = (",", ";", "\t", "|")
#: The decimal separators a source file may declare: a point (the default) or a comma, never both.
DECIMALS = (".", ",")
#: Date formats tried when a mapping names none: ISO 8601 only (day-first and month-first are ambiguous).
DEFAULT_DATE_FORMATS = ("%Y-%m-%d",)
#: A mapping names some columns and measures: a file far larger than any is refused before it is parsed.
MAX_MAPPING_BYTES = 1_000_000
#: The session columns a mapping names; ``client`` and ``session_date`` are required. ``population`` is the
#: episode's norm population (``start_episode(population=...)``), read from the episode's first row.
SESSION_COLUMNS = (
    "client",
    "episode",
    "session_date",
    "clinician",
    "modality",
    "attendance",
    "measure",
    "population",
)
#: The directives of Python's ``strptime`` (a format with any other would fail every row's date).
_DIRECTIVE = re.compile(r"%(.?)")
_STRPTIME_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")


@attrs.frozen
class MeasureColumns:
    """Where one measure's administration is in a row: its items (item key -> column) or its total."""

    measure: str
    timing: AdministrationTiming
    version: str | None = None
    """``None``: the latest version registered."""
    items: Mapping[str, str] = attrs.field(factory=dict)
    total: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.items.values(), *((self.total,) if self.total else ()))


@attrs.frozen
class ImportMapping:
    """A parsed, checked column mapping."""

    columns: Mapping[str, str]
    """Session field (one of :data:`SESSION_COLUMNS`) -> source column."""
    measures: tuple[MeasureColumns, ...]
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    """The decimal separator of the number cells (the other one of :data:`DECIMALS` is never accepted: no
    thousands separators)."""
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    defaults: Mapping[str, str] = attrs.field(factory=dict)
    """Values for the session fields no column holds (``clinician``, ``modality``, ``attendance``,
    ``episode``, ``population``), and for a blank cell of one a column holds."""
    values: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    """Per session field, source value -> alliancekit value (``"DNA"`` -> ``"did-not-attend"``)."""

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Every column the mapping names: a source file must have each in its header."""
        named = [*self.columns.values()]
        for m in self.measures:
            named += m.columns
        return tuple(dict.fromkeys(named))


def load_mapping(path: str | Path) -> ImportMapping:
    """Read and check a mapping file (``.toml``, or ``.json``)."""
    with Path(path).open("rb") as handle:
        raw = handle.read(MAX_MAPPING_BYTES + 1)  # no more than that is ever read of a file of any size
    kind = "json" if str(path).endswith(".json") else "toml"
    if len(raw) > MAX_MAPPING_BYTES:
        raise ValidationError("mapping", "max-size", f"at most {MAX_MAPPING_BYTES} bytes")
    try:
        if kind == "json":
            data = bounded_json.loads(raw, max_bytes=MAX_MAPPING_BYTES)
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except ValidationError as exc:  # out of bounds (a hostile file): the rule, as the mapping's
        raise ValidationError("mapping", exc.rule, exc.detail) from None
    except RecursionError:  # TOML nested past the stack: no mapping is nested more than three deep
        raise ValidationError("mapping", "max-depth", "nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise ValidationError(
            "mapping", kind, f"not valid {kind.upper()}" + (f" (line {line})" if line else "")
        ) from None
    return parse_mapping(data)


def _table(data: Mapping[str, Any], key: str, where: str = "mapping") -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ValidationError(f"{where}.{key}", "type", "a table")
    return value


def _text(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(where, "type", "a non-empty string")
    return value


def _known(where: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise ValidationError(f"{where}.{key}", "unknown-key", "one of " + ", ".join(allowed))


def parse_mapping(data: Any) -> ImportMapping:
    """Check a mapping already parsed from TOML or JSON."""
    if not isinstance(data, Mapping):
        raise ValidationError("mapping", "type", "a table")
    _known("mapping", data, ("format", "source", "columns", "defaults", "values", "measures"))
    source = _table(data, "source")
    _known("mapping.source", source, ("encoding", "delimiter", "decimal", "date_formats"))
    encoding = source.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        raise ValidationError("mapping.source.encoding", "enum", "one of " + ", ".join(ENCODINGS))
    delimiter = source.get("delimiter", ",")
    if delimiter != "auto" and delimiter not in DELIMITERS:
        raise ValidationError("mapping.source.delimiter", "enum", 'one of , ; | a tab, or "auto"')
    decimal = source.get("decimal", ".")
    if decimal not in DECIMALS:
        raise ValidationError("mapping.source.decimal", "enum", '"." or ","')
    formats = source.get("date_formats", list(DEFAULT_DATE_FORMATS))
    if (
        not isinstance(formats, list)
        or not formats
        or not all(isinstance(f, str) and "%" in f for f in formats)
    ):
        raise ValidationError("mapping.source.date_formats", "type", "a list of strptime formats")
    for i, fmt in enumerate(formats):
        if any(d not in _STRPTIME_DIRECTIVES for d in _DIRECTIVE.findall(fmt)):
            raise ValidationError(f"mapping.source.date_formats[{i}]", "format", "strptime directives only")
    columns = {k: _text(f"mapping.columns.{k}", v) for k, v in _table(data, "columns").items()}
    _known("mapping.columns", columns, SESSION_COLUMNS)
    for required in ("client", "session_date"):
        if required not in columns:
            raise ValidationError(f"mapping.columns.{required}", "required", "the column that holds it")
    defaults = {k: _text(f"mapping.defaults.{k}", v) for k, v in _table(data, "defaults").items()}
    _known("mapping.defaults", defaults, ("episode", "clinician", "modality", "attendance", "population"))
    if "clinician" not in columns and "clinician" not in defaults:
        raise ValidationError("mapping.defaults.clinician", "required", "a clinician column or a default")
    values: dict[str, dict[str, str]] = {}
    for field, table in _table(data, "values").items():
        if field not in ("modality", "attendance", "measure", "population"):
            raise ValidationError(
                f"mapping.values.{field}", "unknown-key", "modality, attendance, measure or population"
            )
        if not isinstance(table, Mapping):
            raise ValidationError(f"mapping.values.{field}", "type", "a table")
        values[field] = {str(k): _text(f"mapping.values.{field}", v) for k, v in table.items()}
    for field, enum in (("modality", Modality), ("attendance", Attendance)):
        for where, value in [(f"mapping.defaults.{field}", defaults.get(field))] + [
            (f"mapping.values.{field}", v) for v in values.get(field, {}).values()
        ]:
            if value is not None and value not in {e.value for e in enum}:
                raise ValidationError(where, "enum", "one of " + ", ".join(e.value for e in enum))
    measures = data.get("measures", [])
    if not isinstance(measures, list) or not measures:
        raise ValidationError("mapping.measures", "required", "at least one [[measures]] table")
    specs = tuple(_measure(f"mapping.measures[{i}]", m) for i, m in enumerate(measures))
    first: dict[tuple[str, AdministrationTiming], int] = {}
    for i, spec in enumerate(specs):
        # a row would give the measure twice at the same point of one session
        j = first.setdefault((spec.measure, spec.timing), i)
        if j != i:
            raise ValidationError(f"mapping.measures[{i}]", "duplicate", f"the measure and timing of [{j}]")
    return ImportMapping(
        columns=columns,
        measures=specs,
        encoding=encoding,
        delimiter=delimiter,
        decimal=decimal,
        date_formats=tuple(formats),
        defaults=defaults,
        values=values,
    )


def _measure(where: str, data: Any) -> MeasureColumns:
    if not isinstance(data, Mapping):
        raise ValidationError(where, "type", "a table")
    _known(where, data, ("measure", "version", "timing", "items", "total"))
    timing = data.get("timing", "start")
    if not isinstance(timing, str) or timing not in {t.value for t in AdministrationTiming}:
        raise ValidationError(f"{where}.timing", "enum", "start or end")
    items = _table(data, "items", where)
    total = data.get("total")
    if not items and total is None:
        raise ValidationError(where, "required", "items (item key -> column) or a total column")
    return MeasureColumns(
        measure=_text(f"{where}.measure", data.get("measure")),
        timing=AdministrationTiming(timing),
        version=None if data.get("version") is None else _text(f"{where}.version", data["version"]),
        items={k: _text(f"{where}.items.{k}", v) for k, v in items.items()},
        total=None if total is None else _text(f"{where}.total", total),
    )


def check_measures(mapping: ImportMapping, registry: MeasureRegistry) -> None:
    """Refuse a mapping whose ``[[measures]]`` name a measure or version no plugin registers, or an item the
    measure does not have: a mistake of the mapping, found before any row is read."""
    known = {measure_id for measure_id, _ in registry}
    for i, spec in enumerate(mapping.measures):
        where = f"mapping.measures[{i}]"
        if spec.measure not in known:
            raise ValidationError(f"{where}.measure", "unknown-measure", "see alliancekit measures list")
        if spec.version is not None and (spec.measure, spec.version) not in registry:
            raise ValidationError(f"{where}.version", "unknown-version", "see alliancekit measures list")
        items = registry.get(spec.measure, spec.version).item_keys
        for key in spec.items:
            if key not in items:
                raise ValidationError(f"{where}.items.{key}", "unknown-item", "not an item of the measure")


def check_populations(mapping: ImportMapping, registry: MeasureRegistry) -> None:
    """Refuse a mapping whose ``[defaults] population`` or ``[values.population]`` names a norm population
    no registered measure declares (rule ``declared-population``, as ``start_episode`` refuses it): every
    row would be refused for it, so it is the mapping's mistake, found before any row is read."""
    named = [("mapping.defaults.population", mapping.defaults.get("population"))]
    named += [("mapping.values.population", v) for v in mapping.values.get("population", {}).values()]
    for where, population in named:
        if population is not None:
            registry.check_population(where, population)
