"""Reading a CSV export row by row into import units, with row-level errors (row, column, rule).

Numbers: an optional sign, ASCII digits and at most one decimal separator (the mapping's: a point by
default, or a comma), with a digit on at least one side of it; spaces around are ignored. Nothing else:
Python's ``float`` would also take ``1_0``, ``1e1``, ``nan``, ``infinity`` and other scripts' digits, and
the other separator would be a thousands separator, so ``1,234`` is an error unless a comma is declared,
and then it is 1.234.

Encodings: the mapping declares one (``utf-8`` by default); a byte-order mark wins over it (a UTF-8 BOM is
skipped, a UTF-16 BOM selects UTF-16). A row that does not decode is a row error, not a crash. Delimiters:
declared, or ``auto`` (the one the header holds most of). Consecutive rows of the same client, episode and
date are one session; a session dated before one already read for its episode is out of order, and one on
the same date as an earlier, separate group of rows is a duplicate.
"""

from __future__ import annotations

import codecs
import csv
import errno
import hashlib
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import attrs

from alliancekit.domain.checks import check_date, check_ref
from alliancekit.domain.records import Administration, Session
from alliancekit.domain.vocab import Attendance, Modality
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.imports.mapping import (
    DECIMALS,
    DELIMITERS,
    ImportMapping,
    MeasureColumns,
    check_measures,
    check_populations,
)
from alliancekit.imports.units import EpisodeRef, RowError, Step, Unit
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.store.scratch import ScratchMap, Value

#: The episode reference of a client's rows when the mapping names no episode column or default.
DEFAULT_EPISODE = "1"
#: What an undecodable byte becomes when read with ``surrogateescape``.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
#: A number cell, per decimal separator: ASCII digits only (``\d`` would take any script's digits).
_NUMBER = {
    sep: re.compile(rf"[+-]?(?:[0-9]+(?:{re.escape(sep)}[0-9]*)?|{re.escape(sep)}[0-9]+)") for sep in DECIMALS
}
_SEPARATOR_NAME = {".": "point", ",": "comma"}
#: Why the CSV reader stopped: its only error on a file read without ``strict``.
_TOO_LONG = f"a field of more than {csv.field_size_limit():,} characters"
#: The longest record read, in characters with its line breaks (a quoted field over several lines makes
#: one record of them all), the header's line too: each is read no further than this, so a file that is
#: one endless line costs no more memory than this bound (the FHIR import bounds a line alike).
MAX_RECORD_CHARS = 16 * 1024 * 1024
_MAX_RECORD = f"a record of more than {MAX_RECORD_CHARS:,} characters"


class _RecordTooLong(Exception):
    """A record read past :data:`MAX_RECORD_CHARS`."""


class _Lines:
    """The lines of a text file for the CSV reader, each read no further than what is left of its record's
    bound (:meth:`record` starts a record): ``readline`` would read a whole line, however long."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.left = MAX_RECORD_CHARS

    def record(self) -> None:
        self.left = MAX_RECORD_CHARS

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        """:raises _RecordTooLong: the record goes on past its bound."""
        line = self.handle.readline(self.left + 1)
        if not line:
            raise StopIteration
        if len(line) > self.left:
            raise _RecordTooLong()
        self.left -= len(line)
        return line


def _header_line(handle: IO[str]) -> str | None:
    """The file's first line, ``None`` when it is longer than :data:`MAX_RECORD_CHARS` (read no further)."""
    lines = _Lines(handle)
    try:
        return next(lines, "")
    except _RecordTooLong:
        return None


def _encoding(head: bytes, declared: str) -> tuple[str, str]:
    """The codec to read with and the errors handler, from the file's first bytes and the declaration."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "surrogateescape"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "strict"
    if declared == "utf-16":
        raise ValidationError("source", "encoding", "a UTF-16 file starts with its byte-order mark")
    return declared, "surrogateescape"


def count_rows(path: Path) -> int:
    """About the number of the file's last row (its line breaks; the header is row 1), for progress."""
    lines = 0
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            lines += chunk.count(b"\n")
    return lines


class _Bad:
    """A cell that held no number (its error is recorded)."""


BAD = _Bad()


@attrs.frozen
class _Row:
    number: int
    episode: EpisodeRef
    held_on: date
    modality: Modality
    attendance: Attendance
    administrations: tuple[Administration, ...]
    measures: tuple[tuple[str, str], ...]
    """(measure, timing) of each administration: a second one in the same session is a duplicate row."""
    specs: tuple[MeasureColumns, ...] = ()
    """The columns each administration was read from."""


@attrs.frozen
class _Opening:
    """An episode as its first session's row opened it: what every later unit of the episode opens it with."""

    opened_on: date
    modality: Modality
    population: str | None

    def kept(self, last: date) -> Value:
        """What is kept of the episode (:class:`~alliancekit.store.scratch.ScratchMap`), with the date of
        the last session read: dates, a code and a population's name, nothing of the client."""
        return (self.opened_on.isoformat(), self.modality.value, self.population, last.isoformat())

    @classmethod
    def read(cls, kept: Value) -> tuple[_Opening, date]:
        opened_on, modality, population, last = kept  # as kept above: only the population may be None
        opening = cls(date.fromisoformat(str(opened_on)), Modality(str(modality)), population)
        return opening, date.fromisoformat(str(last))


class CsvSource:
    """The units of a CSV file under a mapping; the errors found go to ``errors`` as rows are read."""

    def __init__(self, path: str | Path, mapping: ImportMapping, registry: MeasureRegistry) -> None:
        """:raises ValidationError: the mapping names a measure, version or item ``registry`` lacks, or a
        default or mapped norm population no registered measure declares."""
        check_measures(mapping, registry)
        check_populations(mapping, registry)
        self.path = Path(path)
        self.mapping = mapping
        self.registry = registry
        self.errors: list[RowError] = []
        self._settings = population_settings(mapping)
        self._versions: dict[str, str] = {}

    def estimated_rows(self) -> int:
        return count_rows(self.path)

    def check(self) -> None:
        """Open the file as :meth:`units` will, so that a source that cannot be read at all is found before
        anything is written.

        :raises OSError: not a file, or not readable.
        :raises ValidationError: ``source: encoding`` (UTF-16 declared, no byte-order mark); ``header:
            missing-column`` naming every mapped column the header lacks (the mapping's names: a file for
            another mapping, not a row to fix).
        """
        if self.path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "not a file", str(self.path))
        with self._open() as handle:
            header_line = _header_line(handle)
        if header_line is None:
            return  # the file stops at row 1: reported as the import reads it
        header = self._header(header_line)
        missing = [] if header is None else self._missing(header, header_line)
        if missing:
            raise ValidationError(
                "header",
                "missing-column",
                f"the mapping names columns the header lacks: {', '.join(missing)}",
            )

    # -- reading -------------------------------------------------------------------------------------

    def _open(self) -> IO[str]:
        with self.path.open("rb") as f:
            head = f.read(4)
        encoding, errors = _encoding(head, self.mapping.encoding)
        return self.path.open(encoding=encoding, errors=errors, newline="")

    def _records(self) -> Iterator[tuple[int, dict[str, str]]]:
        """``(row number, cells by column)``; the header is row 1. Header problems stop the file, and so does
        a row the CSV reader cannot read (a field past its limit: an unclosed quote, or not CSV at all)."""
        with self._open() as handle:
            header_line = _header_line(handle)
            if header_line is None:
                self.errors.append(RowError(1, "row", "max-size", _MAX_RECORD))
                return
            delimiter = self._delimiter(header_line)
            header = self._header(header_line)
            if header is None:
                self.errors.append(RowError(1, "row", "not-csv", _TOO_LONG))
                return
            missing = [c for c in self.mapping.required_columns if c not in header]
            if missing and self._undecodable(header_line):
                # not a missing column: the header itself is in another encoding (or UTF-16 without its BOM)
                self.errors.append(RowError(1, "header", "encoding", self._not_encoding()))
                return
            if missing:
                self.errors += [RowError(1, c, "missing-column", "the mapping names it") for c in missing]
                return
            doubled = [c for c in self.mapping.required_columns if header.count(c) > 1]
            if doubled:
                self.errors += [
                    RowError(1, c, "duplicate-column", "named twice in the header") for c in doubled
                ]
                return
            lines = _Lines(handle)
            reader = csv.reader(lines, delimiter=delimiter)
            number = 1
            while True:
                lines.record()
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error:
                    self.errors.append(RowError(number + 1, "row", "not-csv", _TOO_LONG))
                    return
                except _RecordTooLong:
                    self.errors.append(RowError(number + 1, "row", "max-size", _MAX_RECORD))
                    return
                number += 1
                if not any(cell.strip() for cell in cells):
                    continue  # a blank line
                if len(cells) != len(header):
                    rule = "missing-cells" if len(cells) < len(header) else "extra-cells"
                    self.errors.append(RowError(number, "row", rule, f"{len(header)} cells expected"))
                    continue
                yield number, dict(zip(header, cells, strict=True))

    def _delimiter(self, header_line: str) -> str:
        if self.mapping.delimiter == "auto":
            return max(DELIMITERS, key=header_line.count)
        return self.mapping.delimiter

    def _header(self, header_line: str) -> list[str] | None:
        """The header's column names; None when the CSV reader cannot read the line."""
        try:
            cells = next(csv.reader(io.StringIO(header_line), delimiter=self._delimiter(header_line)), [])
        except csv.Error:
            return None
        return [h.strip() for h in cells]

    @staticmethod
    def _undecodable(header_line: str) -> bool:
        """Whether the header is in another encoding (or UTF-16 without its BOM): then no column is found."""
        return "\x00" in header_line or bool(_UNDECODABLE.search(header_line))

    def _missing(self, header: list[str], header_line: str) -> list[str]:
        """The mapped columns the header lacks (none when the header is unreadable: its own error)."""
        if self._undecodable(header_line):
            return []
        return [c for c in self.mapping.required_columns if c not in header]

    def _not_encoding(self) -> str:
        return f"not {self.mapping.encoding}: declare [source] encoding"

    # -- one row -----------------------------------------------------------------------------------------

    def _cell(self, cells: Mapping[str, str], field: str) -> tuple[str, str | None]:
        """(the column, its value mapped through [values]) of a session field, or its default."""
        column = self.mapping.columns.get(field)
        if column is None:
            return f"defaults.{field}", self.mapping.defaults.get(field)
        raw = cells[column].strip()
        if not raw:
            return column, self.mapping.defaults.get(field)
        return column, self.mapping.values.get(field, {}).get(raw, raw)

    def _date(self, number: int, column: str, raw: str) -> date | None:
        for fmt in self.mapping.date_formats:
            try:
                held_on = datetime.strptime(raw.strip(), fmt).date()  # noqa: DTZ007 - a calendar date, no zone
            except ValueError:
                continue
            try:
                return check_date(column, held_on)  # the dates the library stores
            except ValidationError as exc:
                self.errors.append(RowError(number, column, exc.rule, exc.detail))
                return None
        self.errors.append(
            RowError(number, column, "date-format", "expected " + " or ".join(self.mapping.date_formats))
        )
        return None

    def _number(self, number: int, column: str, raw: str) -> float | _Bad | None:
        """The cell's number (the syntax of :data:`_NUMBER`), ``None`` when blank, :data:`BAD` after
        recording an error."""
        text = raw.strip()
        if not text:
            return None
        sep = self.mapping.decimal
        value = float(text.replace(sep, ".")) if _NUMBER[sep].fullmatch(text) else None
        if value is None or not math.isfinite(value):  # not the syntax, or more digits than a float holds
            what = f"digits 0-9, an optional sign and a decimal {_SEPARATOR_NAME[sep]}"
            self.errors.append(RowError(number, column, "number", what))
            return BAD
        return int(value) if value.is_integer() else value

    def _version(self, measure: str) -> str:
        if measure not in self._versions:
            self._versions[measure] = self.registry.latest_version(measure)
        return self._versions[measure]

    def _administration(
        self, number: int, cells: Mapping[str, str], spec: MeasureColumns
    ) -> Administration | bool | None:
        """The administration a row holds for ``spec`` (``None``: its cells are blank; ``False``: errors)."""
        read = {key: self._number(number, column, cells[column]) for key, column in spec.items.items()}
        read_total = self._number(number, spec.total, cells[spec.total]) if spec.total else None
        answers = {k: v for k, v in read.items() if not isinstance(v, _Bad)}
        if isinstance(read_total, _Bad) or len(answers) < len(read):
            return False
        total = read_total
        given = {k: v for k, v in answers.items() if v is not None}
        if not given and total is None:
            return None
        try:
            version = spec.version or self._version(spec.measure)
            if given:
                score = self.registry.score(spec.measure, version, dict(answers))
                if total is not None and abs(score.total - float(total)) > 1e-6:
                    self.errors.append(
                        RowError(number, str(spec.total), "total-mismatch", "differs from the items' score")
                    )
                    return False
                return Administration(spec.measure, version, spec.timing, dict(answers))
            self.registry.score_total(spec.measure, version, total)
            return Administration(spec.measure, version, spec.timing, total=total)
        except AlliancekitError as exc:
            self.errors.append(RowError(number, self._where(spec, exc), exc_rule(exc), exc_message(exc)))
            return False

    @staticmethod
    def _where(spec: MeasureColumns, exc: AlliancekitError) -> str:
        field = str(getattr(exc, "field", ""))
        if field == "$.total" and spec.total:
            return spec.total
        key = field.removeprefix("$.answers.")
        if key in spec.items:
            return spec.items[key]
        return f"{spec.measure} items"

    def _row(self, number: int, cells: Mapping[str, str]) -> _Row | None:
        before = len(self.errors)
        for column in self.mapping.required_columns:
            if _UNDECODABLE.search(cells[column]):
                self.errors.append(RowError(number, column, "encoding", self._not_encoding()))
        if len(self.errors) > before:
            return None
        client = self._ref(number, cells, "client", "the client's reference")
        episode = self._ref(number, cells, "episode", "", required=False)
        clinician = self._ref(number, cells, "clinician", "the clinician's id")
        population = self._population(number, cells)
        date_column = self.mapping.columns["session_date"]
        held_on = self._date(number, date_column, cells[date_column]) if cells[date_column].strip() else None
        if held_on is None and not cells[date_column].strip():
            self.errors.append(RowError(number, date_column, "required", "the session's date"))
        modality = self._choice(number, cells, "modality", Modality, Modality.IN_PERSON)
        attendance = self._choice(number, cells, "attendance", Attendance, Attendance.ATTENDED)
        specs = self.mapping.measures
        if "measure" in self.mapping.columns:
            measure_column, measure = self._cell(cells, "measure")
            specs = tuple(s for s in specs if s.measure == measure)
            if not specs:
                self.errors.append(RowError(number, measure_column, "unknown-measure", "not in [[measures]]"))
        administrations, read_from = [], []
        for spec in specs:
            made = self._administration(number, cells, spec)
            if isinstance(made, Administration):
                administrations.append(made)
                read_from.append(spec)
        if administrations and attendance not in (None, Attendance.ATTENDED):
            self.errors.append(
                RowError(number, self._cell(cells, "attendance")[0], "measures-without-attendance")
            )
        if len(self.errors) > before or held_on is None or modality is None or attendance is None:
            return None
        ref = EpisodeRef(
            str(client), episode or DEFAULT_EPISODE, str(clinician), held_on, modality, population
        )
        return _Row(
            number,
            ref,
            held_on,
            modality,
            attendance,
            tuple(administrations),
            tuple((a.measure_id, a.timing.value) for a in administrations),
            tuple(read_from),
        )

    def _ref(
        self, number: int, cells: Mapping[str, str], field: str, what: str, *, required: bool = True
    ) -> str | None:
        """A reference the library will take (the client's, the clinician's, the source's episode), or
        ``None`` (after an error, or for an optional one left blank).

        A cell is not stripped into an id: ``" c1"`` and ``"c1"`` would be one client here and two
        through the API, so a padded id is an error of its row, as every other id rule is.
        """
        column, value = self._cell(cells, field)
        if not value:
            if required:
                self.errors.append(RowError(number, column, "required", what))
            return None
        raw = cells.get(column)
        if raw is not None and raw != raw.strip():
            self.errors.append(RowError(number, column, "whitespace"))
            return None
        try:
            return check_ref(column, value)
        except ValidationError as exc:
            self.errors.append(RowError(number, column, exc.rule))
            return None

    def _population(self, number: int, cells: Mapping[str, str]) -> str | None:
        """The episode's norm population as the row gives it (``None``: blank, or after an error): an id the
        library takes, that some registered measure's norms declare (``start_episode``'s own checks, so
        the dry run finds what the import would be refused)."""
        if "population" not in self.mapping.columns and "population" not in self.mapping.defaults:
            return None
        population = self._ref(number, cells, "population", "", required=False)
        if population is None:
            return None
        try:
            return self.registry.check_population(self._cell(cells, "population")[0], population)
        except ValidationError as exc:
            self.errors.append(RowError(number, exc.field, exc.rule, exc.detail))
            return None

    def _choice(self, number: int, cells: Mapping[str, str], field: str, enum: Any, default: Any) -> Any:
        column, value = self._cell(cells, field)
        if value is None:
            return default
        try:
            return enum(value)
        except ValueError:
            self.errors.append(RowError(number, column, "enum", f"one of {', '.join(e.value for e in enum)}"))
            return None

    # -- units -------------------------------------------------------------------------------------------

    def units(self) -> Iterator[Unit]:
        """The sessions of the file in order, each with the row numbers it spans.

        Rows with errors are left out (their errors are in ``errors``); so are duplicates and rows out of
        order. A caller that must not skip rows stops at the first error at or before a unit's last row.
        A row with an error read while a session is open may be part of it (once fixed, it could join it), so
        that session's unit spans it too: a caller that stops there never writes a session in part, which a
        re-run of the fixed file could not complete (its idempotency key is taken).
        """
        self.errors.clear()  # a second pass (a restart) reports afresh
        with ScratchMap() as seen:  # each episode read: its first row's opening, its last session's date
            yield from self._grouped(seen)

    def _grouped(self, seen: ScratchMap) -> Iterator[Unit]:
        group: list[_Row] = []
        opening: _Opening | None = None  # the open session's episode as its first row had it
        errors_before = 0  # the errors found before the open session began
        for number, cells in self._records():
            row = self._row(number, cells)
            if row is None:
                continue
            ep = (row.episode.client_ref, row.episode.episode_ref)
            known = seen.get(ep)
            first, last = _Opening.read(known) if known is not None else (None, None)
            if first is not None and row.episode.population not in (None, first.population):
                # the episode opened with its first row's population: a later row cannot change it
                self.errors.append(
                    RowError(
                        number,
                        self.mapping.columns.get("population", "defaults.population"),
                        "population-changed",
                        "differs from the episode's first row",
                    )
                )
                continue
            if group and (group[0].episode.client_ref, group[0].episode.episode_ref, group[0].held_on) == (
                *ep,
                row.held_on,
            ):
                in_group = {m for r in group for m in r.measures}
                if in_group & set(row.measures) or not row.measures:
                    self.errors.append(RowError(number, "row", "duplicate", f"of row {group[0].number}"))
                    continue
                group.append(row)
                continue
            if last is not None and row.held_on < last:
                self.errors.append(
                    RowError(
                        number, self.mapping.columns["session_date"], "order", "before a session read earlier"
                    )
                )
                continue
            if last is not None and row.held_on == last:
                self.errors.append(
                    RowError(number, "row", "duplicate", "a session on this date was read earlier")
                )
                continue
            if group and opening is not None:
                yield self._unit(group, opening, errors_before)
            opening = first or _Opening(row.episode.opened_on, row.episode.modality, row.episode.population)
            group, errors_before = [row], len(self.errors)
            seen.put(ep, opening.kept(row.held_on))
        if group and opening is not None:
            yield self._unit(group, opening, errors_before)

    def _unit(self, rows: list[_Row], opening: _Opening, errors_before: int) -> Unit:
        head = rows[0]
        # The episode opens on its first session's date and in its modality, whichever unit opens it: a run
        # resumed (or raced) after that unit opens it again with the same request, which its keys answer.
        episode = attrs.evolve(
            head.episode,
            opened_on=opening.opened_on,
            modality=opening.modality,
            population=opening.population,
        )
        session = Session(
            head.held_on,
            head.modality,
            head.attendance,
            tuple(a for r in rows for a in r.administrations),
        )
        step = Step(
            "record_session", {"session": session}, episode.key(f"session:{head.held_on.isoformat()}")
        )
        last_row = max([rows[-1].number, *(e.row for e in self.errors[errors_before:])])
        return Unit(
            head.number, last_row, episode, (step,), columns=self._columns(rows), settings=self._settings
        )

    def _columns(self, rows: list[_Row]) -> dict[str, str]:
        """The source column of each library field of a session's unit that came from one column, so that a
        refusal of the library names the column to fix (a field from a default or derived names none)."""
        mapped = self.mapping.columns
        date_column = mapped["session_date"]
        # the episode opens on its first session's date: the date column too (of that session's row)
        columns = {"opened_on": date_column, "session.held_on": date_column}
        columns.update({f"session.{f}": mapped[f] for f in ("modality", "attendance") if f in mapped})
        if "population" in mapped:
            columns["population"] = mapped["population"]
        specs = [spec for r in rows for spec in r.specs]
        for i, spec in enumerate(specs):
            at = f"session.administrations[{i}]"
            if spec.total:
                columns[f"{at}.total"] = spec.total
            columns.update({f"{at}.answers.{key}": column for key, column in spec.items.items()})
        return columns


def population_settings(mapping: ImportMapping) -> str:
    """A digest of how ``mapping`` gives episodes their population (its column, default and value map), or
    ``""`` when it gives none: an import re-run after they changed reads its source again from the start,
    so that each episode already imported is checked against the population it would now open with."""
    column = mapping.columns.get("population")
    default = mapping.defaults.get("population")
    if column is None and default is None:
        return ""
    values = dict(mapping.values.get("population", {})) if column is not None else {}
    text = json.dumps([column, default, values], sort_keys=True, ensure_ascii=False)
    return "population-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def exc_rule(exc: AlliancekitError) -> str:
    return str(getattr(exc, "rule", type(exc).__name__))


def exc_message(exc: AlliancekitError) -> str:
    return str(getattr(exc, "detail", "") or "")
