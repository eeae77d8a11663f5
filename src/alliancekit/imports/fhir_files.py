"""Reading a FHIR source's files into checked resources, each with where it is, and reading one again.

The source is a Bulk Data directory (``*.ndjson``, one resource type per file), one NDJSON file, or a Bundle
(JSON). NDJSON is read a line at a time (a line may also hold a Bundle, as ``export fhir --max-entries``
writes an episode's transactions), so only the line being read is in memory; a Bundle file is read whole
(one episode's resources, as ``export fhir --episode`` writes). Each resource read is first checked against
its own type's definition in the FHIR R4 JSON Schema (:meth:`~alliancekit.fhir.validate.R4Schema.errors`),
so that a wrong shape is an error, not read as absent; a resource the schema refuses is named by its schema
errors alone and read no further, and a reference to it is not reported again as a reference to nothing
(:class:`~alliancekit.imports.fhir_records.Refused`).

Every resource read carries its :data:`~alliancekit.imports.fhir_json.Place`: the join keeps that, not the
resource, and :class:`SourcePlaces` reads it again when its episode is read, checking by a keyed digest that
the bytes are the ones checked before (a source changed during an import is refused, not half-read).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from alliancekit.errors import ValidationError
from alliancekit.fhir.codes import EXPORT_NOTICE
from alliancekit.fhir.privacy import REDACTED
from alliancekit.imports.fhir_json import Place, Resource, as_dict, as_list, coding_of
from alliancekit.imports.units import RowError
from alliancekit.security import bounded_json

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.fhir.validate import R4Schema
    from alliancekit.imports.fhir_records import Refused

#: The largest NDJSON line read: a resource holds at most a few hundred texts of at most 20,000 characters.
MAX_RESOURCE_BYTES = 16 * 1024 * 1024
#: The largest Bundle file read (one episode's resources, as ``alliancekit export fhir --episode`` writes).
MAX_BUNDLE_BYTES = 256 * 1024 * 1024
#: What :meth:`SourceFiles._json` returns for text it could not read (``None`` is valid JSON).
_UNREAD = object()
#: The Bundles (parsed lines or files) :class:`SourcePlaces` keeps, to read an episode's entries from one
#: parse: an episode's resources are in one Bundle, or in the few its transactions were split into.
KEPT_BUNDLES = 4
#: The resource types an import reads; others (from other systems, or not imported) are counted only.
READ_TYPES = (
    "EpisodeOfCare",
    "Encounter",
    "QuestionnaireResponse",
    "Observation",
    "Goal",
    "Flag",
    "CarePlan",
    "Consent",
    "Provenance",
)


def labelled_redacted(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (a Bundle, or an export's ``EpisodeOfCare``) has the ``REDACTED`` security label: its
    records, or its episode's, had something withheld."""
    return any(
        as_dict(label).get("system") == REDACTED["system"] and as_dict(label).get("code") == REDACTED["code"]
        for label in as_list(as_dict(data.get("meta")).get("security"))
    )


def says_withheld(data: Mapping[str, Any]) -> bool:
    """Whether ``data`` is an export's notice that records were withheld (``fhir.privacy.outcome``: counts
    and reason codes only), so the import can say why an episode may be incomplete."""
    if data.get("resourceType") != "OperationOutcome":
        return False
    return any(
        coding_of(as_dict(issue).get("details"), EXPORT_NOTICE) == "withheld"
        for issue in as_list(data.get("issue"))
    )


def source_files(path: Path) -> list[Path]:
    """The files of a source: a directory's ``*.ndjson`` in name order, or the one file named."""
    return sorted(path.glob("*.ndjson")) if path.is_dir() else [path]


def lines_of(f: IO[bytes], offset: int) -> Iterator[tuple[int, bytes]]:
    """Each line of ``f`` from ``offset`` on and where it starts, split as :meth:`bytes.splitlines` splits
    (at ``\\n``, ``\\r\\n`` and ``\\r``), holding one line at a time."""
    for chunk in f:  # split at \n only
        end = offset + len(chunk)
        body = chunk[:-1] if chunk.endswith(b"\n") else chunk
        body = body[:-1] if body.endswith(b"\r") else body
        for part in body.split(b"\r"):
            yield offset, part
            offset += len(part) + 1
        offset = end


class SourcePlaces:
    """Reads resources again from where they were read (their :data:`~alliancekit.imports.fhir_json.Place`),
    refusing bytes that are no longer the ones read before."""

    def __init__(self, files: list[Path], digest: Callable[[bytes], str]) -> None:
        self.files, self.digest = files, digest
        self._open: dict[int, IO[bytes]] = {}
        self._bundles: dict[tuple[int, int], Any] = {}

    def _bytes(self, place: Place) -> bytes:
        number, offset, length, _, _, digest = place
        f = self._open.get(number)
        if f is None:
            f = self._open[number] = self.files[number].open("rb")
        f.seek(offset)
        raw = f.read(length)
        if len(raw) != length or self.digest(raw) != digest:
            raise ValidationError(
                "source", "changed", "the source changed while it was imported; import it again"
            )
        return raw

    def load(self, place: Place) -> Resource:
        """The resource at ``place``, as it was read."""
        number, offset, _, entry, row, _ = place
        name = self.files[number].name
        # the very bytes bounded_json took when they were first read (the digest says so): its checks are
        # not run again, and json reads them as it did then
        if entry < 0:
            return Resource(json.loads(self._bytes(place).decode("utf-8")), name, row, place)
        bundle = self._bundles.get((number, offset))
        if bundle is None:
            bundle = json.loads(self._bytes(place).decode("utf-8"))
            if len(self._bundles) >= KEPT_BUNDLES:
                del self._bundles[next(iter(self._bundles))]
            self._bundles[(number, offset)] = bundle
        return Resource(bundle["entry"][entry]["resource"], name, row, place)

    def close(self) -> None:
        for f in self._open.values():
            f.close()
        self._open.clear()
        self._bundles.clear()


class SourceFiles:
    """The part of :class:`~alliancekit.imports.fhir_source.FhirSource` that reads the source's files."""

    path: Path
    errors: list[RowError]
    withheld: bool
    refused: Refused
    ignored: dict[str, int]
    _seen: dict[str, int]
    _schema: R4Schema

    if TYPE_CHECKING:  # pragma: no cover - what FhirSource provides

        def _target(self, reference: Any, rtype: str) -> str | None: ...

        def _digest(self, data: bytes) -> str: ...

        def _full_url(self, url: str, rtype: str, rid: str) -> None: ...

    def _files(self) -> list[Path]:
        return source_files(self.path)

    def _error(self, res: Resource | None, field: str, rule: str, message: str = "") -> None:
        line = 0 if res is None else res.line
        where = "" if res is None else f"{res.file} line {res.line}"
        self.errors.append(RowError(line, field, rule, f"{where}: {message}" if message else where))

    def _read(self) -> Iterator[Resource]:
        for number, file in enumerate(self._files()):
            with file.open("rb") as f:
                start = len(codecs.BOM_UTF8) if f.read(len(codecs.BOM_UTF8)) == codecs.BOM_UTF8 else 0
                if file.suffix == ".json":
                    f.seek(start)
                    raw = f.read()
                    text = self._decoded(raw, file.name, 1, "")
                    if text is not None:
                        at = (number, start, len(raw), -1, 1, self._digest(raw))
                        yield from self._bundle(file.name, text, at)
                    continue
                f.seek(start)
                yield from self._lines(f, start, number, file.name)

    def _lines(self, f: IO[bytes], start: int, number: int, name: str) -> Iterator[Resource]:
        # decoded line by line: a line that is not UTF-8 is its own row error, and the lines after it
        # are still read (a JSON string may hold U+2028, which is no line break in NDJSON)
        entries = 0
        for row, (offset, raw_line) in enumerate(lines_of(f, start), start=1):
            line = self._decoded(raw_line, name, row, f" line {row}")
            if line is None or not line.strip():
                continue
            data = self._json(line, name, row, MAX_RESOURCE_BYTES)
            if data is _UNREAD:
                continue
            at = (number, offset, len(raw_line), -1, row, self._digest(raw_line))
            if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                # one Bundle a line, as `export fhir --max-entries` writes an episode's transactions:
                # its entries are read as a Bundle file's, numbered on across the file's Bundles
                yield from self._entries(name, data, entries, at)
                entries += len(as_list(data.get("entry")))
                continue
            yield from self._checked(data, name, row, at)

    def _decoded(self, raw: bytes, name: str, row: int, where: str) -> str | None:
        """``raw`` as text, or None and a row error: FHIR JSON is UTF-8 (the error names the file and line,
        never the bytes, which may be a client's)."""
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.errors.append(RowError(row, "$", "encoding", f"{name}{where}: not UTF-8"))
            return None

    def _json(self, text: str, name: str, line: int, max_bytes: int) -> Any:
        """``text`` parsed within the bounds of JSON from outside, or a row error naming the rule broken."""
        try:
            return bounded_json.loads(text, max_bytes=max_bytes)
        except ValidationError as exc:
            rule, detail = ("json", "not JSON") if exc.rule == "syntax" else (exc.rule, exc.detail)
            self.errors.append(RowError(line, "$", rule, f"{name} line {line}: {detail}"))
            return _UNREAD

    def _bundle(self, name: str, text: str, at: Place) -> Iterator[Resource]:
        bundle = self._json(text, name, 1, MAX_BUNDLE_BYTES)
        if bundle is _UNREAD:
            return
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            self.errors.append(RowError(1, "resourceType", "bundle", f"{name}: a Bundle expected"))
            return
        yield from self._entries(name, bundle, 0, at)

    def _entries(self, name: str, bundle: dict[str, Any], before: int, at: Place) -> Iterator[Resource]:
        """The resources of ``bundle`` (read from ``at``), each numbered by its entry, after ``before``
        entries of the same file's earlier Bundles."""
        # a Bundle of any type labels what had records withheld (only a collection has the notice too)
        self.withheld = self.withheld or labelled_redacted(bundle)
        if not isinstance(bundle.get("entry", []), list):
            self.errors.append(RowError(before + 1, "Bundle.entry", "type", f"{name}: a list of entries"))
            return
        for error in self._schema.errors(bundle, entries=False):  # the entries' resources one by one, below
            entry = re.match(r"\$\.entry\[(\d+)\]", error.path)
            row = before + (1 if entry is None else int(entry.group(1)) + 1)
            self.errors.append(RowError(row, f"Bundle{error.path[1:]}", error.rule, name))
        number, offset, length, _, _, digest = at
        for index, entry in enumerate(bundle.get("entry", [])):
            row = before + 1 + index
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and isinstance(entry.get("fullUrl"), str):
                self._full_url(entry["fullUrl"], str(resource.get("resourceType")), str(resource.get("id")))
            yield from self._checked(resource, name, row, (number, offset, length, index, row, digest))

    def _checked(self, data: Any, file: str, line: int, at: Place) -> Iterator[Resource]:
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            self.errors.append(RowError(line, "resourceType", "required", f"{file} line {line}"))
            if isinstance(data, dict):
                self.refused.add(data, None, self._target)
            return
        kind = data["resourceType"]
        if kind not in self._schema.resource_types:
            message = f"{file} line {line}: not a FHIR R4 resource type"
            self.errors.append(RowError(line, "resourceType", "enum", message))
            self.refused.add(data, None, self._target)
            return
        if kind in READ_TYPES:
            self._seen[kind] += 1
        else:
            self.ignored[kind] += 1
            self.withheld = self.withheld or says_withheld(data)
            return
        # against its own type's definition of the R4 schema: a resource it refuses is named by its schema
        # errors alone and read no further (the reading below would name the same problem again), and what
        # refers to it does not report it missing (see refused)
        where = f"{file} line {line}"
        schema_errors = [
            RowError(line, f"{kind}{e.path[1:]}", e.rule, where) for e in self._schema.errors(data)
        ]
        if schema_errors:
            self.errors.extend(schema_errors)
            self.refused.add(data, kind, self._target)
            return
        if not isinstance(data.get("id"), str):
            self.errors.append(
                RowError(line, f"{data['resourceType']}.id", "required", f"{file} line {line}")
            )
            return
        yield Resource(data, file, line, at)
