"""Research and service exports: one row per administration and one per episode, de-identified by default.

Rows are built from the records the FHIR export maps (:func:`alliancekit.fhir.records.assemble`: the
allow-listed event types only, corrections applied), read through the facade
(:meth:`~alliancekit.Practice.export_record`, audited as ``export-csv`` with the client and the purpose, in
batches of at most 1,000 entries a transaction), and published crash-safe like a Bulk export
(:mod:`alliancekit.exports.publish`): ``administrations.csv``, ``subscales.csv`` (one row per subscale
score of an administration, in long form: any measure's subscales, a plugin's included, fit the same
columns), ``episodes.csv`` and ``data-dictionary.csv`` (or ``.parquet`` files with the ``parquet`` extra).

De-identified (the default):

- **no free text**: no column holds anything a person wrote;
- **keyed pseudonyms**: the client reference, the episode id and the clinician id are replaced by
  HMAC-SHA256 of the value under a key the host provides (:func:`load_key`), so the same client has the
  same pseudonym in every export made with that key, and nobody without the key can link it back or test a
  guess. An export is refused without a key;
- **no dates**: days since the episode opened, and the year it opened, instead.

``identified=True`` (``--identified``) writes the host's own references and the dates instead, for the
practice's own service evaluation; it needs no key. Free text is never written either way.

In the CSV files, a text cell (a column of type ``string``) that begins with ``=``, ``+``, ``-``, ``@``, a
tab, a carriage return or ``'`` is written with one ``'`` before it, so a spreadsheet reads it as text rather
than running it as a formula (OWASP: CSV injection); a reader strips one leading ``'`` from those columns
to get the value back. Numbers, dates and Parquet's typed columns are written as they are.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import importlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import attrs

from alliancekit.domain.actors import Actor
from alliancekit.domain.checks import check_optional_recipient
from alliancekit.domain.vocab import Attendance, Purpose
from alliancekit.errors import ValidationError
from alliancekit.exports.publish import StagedDirectory
from alliancekit.fhir.records import (
    AdministrationRecord,
    AlertRecord,
    ClientResponseRecord,
    GoalRecord,
    RuptureRecord,
    SessionRecord,
    assemble,
)

if TYPE_CHECKING:  # pragma: no cover
    from alliancekit.practice import Practice

__all__ = [
    "DICTIONARY",
    "FORMULA_STARTS",
    "KEY_ENV",
    "MIN_KEY_BYTES",
    "Column",
    "ResearchExport",
    "TEXT_MARK",
    "export_research",
    "load_key",
    "trim_key",
    "pseudonym",
]

#: The environment variable :func:`load_key` reads when no key file is given.
KEY_ENV = "ALLIANCEKIT_EXPORT_KEY"
#: The shortest key accepted (HMAC-SHA256 keys should hold at least 128 bits; 32 random bytes are best).
MIN_KEY_BYTES = 16
#: The file that marks a directory as a research export (written last): ``replace=True`` replaces only those.
DICTIONARY_FILE = "data-dictionary"
FORMATS = ("csv", "parquet")
#: What a spreadsheet takes as the start of a formula (OWASP, CSV injection), and the quote that marks text:
#: a text cell beginning with one of them is written with :data:`TEXT_MARK` before it. The mark itself is
#: among them, so stripping one leading mark from every such column gives every value back unambiguously.
TEXT_MARK = "'"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", TEXT_MARK)


@attrs.frozen
class Column:
    """One column of the data dictionary."""

    file: str
    name: str
    type: str
    description: str
    identifying: bool = False
    """Pseudonymised or coarsened unless the export is identified."""

    @property
    def escaped(self) -> bool:
        """Text: a CSV cell of it that begins like a formula (:data:`FORMULA_STARTS`) has a ``'`` before it.
        Decided by the declared type, never by the value (a negative score stays a number)."""
        return self.type == "string"


def _c(file: str, name: str, kind: str, description: str, identifying: bool = False) -> Column:
    return Column(file, name, kind, description, identifying)


_A, _E, _S = "administrations", "episodes", "subscales"
#: The tables, in the order the dictionary lists them.
TABLES = (_A, _S, _E)
#: Every column of every file, in order: what ``data-dictionary.csv`` holds and the docs show.
DICTIONARY: tuple[Column, ...] = (
    _c(_A, "client", "string", "the client: HMAC-SHA256 pseudonym (identified: the host's client_ref)", True),
    _c(_A, "episode", "string", "the episode: pseudonym (identified: the episode id)", True),
    _c(_A, "clinician", "string", "the clinician of record then: pseudonym (identified: their id)", True),
    _c(
        _A,
        "session_number",
        "integer",
        "the session's number in the episode (1, 2, ...); for a measure the "
        "client filled in themselves, the session its score counts at (0: before any)",
    ),
    _c(_A, "day", "integer", "days from the episode's opening to the session (or to the client's response)"),
    _c(
        _A,
        "held_on",
        "date",
        "the session's or response's date (identified only; empty when de-identified)",
        True,
    ),
    _c(_A, "modality", "string", "in-person, video or phone (empty for a response given between sessions)"),
    _c(_A, "measure", "string", "the measure's id (phq-9, gad-7, ors, srs, ...)"),
    _c(_A, "version", "string", "the measure definition's version"),
    _c(_A, "timing", "string", "start or end of the session"),
    _c(_A, "rater", "string", "who rated: client, parent, partner, teacher, clinician, ..."),
    _c(_A, "about_client", "boolean", "true when the administration is about the episode's client"),
    _c(_A, "total", "number", "the total score as computed when administered (empty: not scored)"),
    _c(_A, "band", "string", "the severity band of the total, where the measure defines bands"),
    _c(_A, "clinical", "boolean", "at or beyond the measure's clinical cutoff"),
    _c(_A, "corrected", "boolean", "the session was corrected after it was first recorded"),
    _c(
        _A,
        "client_reported",
        "boolean",
        "the client filled it in themselves (a link, a kiosk code, or on "
        "paper recorded by their clinician), in a session or between sessions",
    ),
    _c(
        _A,
        "administration",
        "integer",
        "the row's number in this export (1, 2, ...): the administration the subscales rows refer to",
    ),
    _c(_S, "administration", "integer", "the administrations row (its administration column) scored"),
    _c(_S, "measure", "string", "the measure's id, as in that row"),
    _c(
        _S,
        "subscale",
        "string",
        "the subscale's key in the measure's definition (goal, task, bond, ...): "
        "alliancekit measures show ID lists its items",
    ),
    _c(
        _S,
        "score",
        "number",
        "the subscale's score as computed when administered (a subscale with no answers has no row)",
    ),
    _c(_E, "client", "string", "the client: pseudonym (identified: the host's client_ref)", True),
    _c(_E, "episode", "string", "the episode: pseudonym (identified: the episode id)", True),
    _c(_E, "clinician", "string", "the clinician of record: pseudonym (identified: their id)", True),
    _c(_E, "opened_year", "integer", "the year the episode opened"),
    _c(_E, "opened_on", "date", "the date it opened (identified only)", True),
    _c(_E, "stage", "string", "consultation, goal-setting, active, on-hold, ending or closed"),
    _c(_E, "days_open", "integer", "days from opening to closing, or to the last activity if open"),
    _c(_E, "closing_reason", "string", "why it closed (empty while open)"),
    _c(_E, "ending_reason", "string", "how treatment ended, when it ended with an ending"),
    _c(_E, "sessions_scheduled", "integer", "sessions recorded (attended, cancelled or missed)"),
    _c(_E, "sessions_attended", "integer", "sessions attended"),
    _c(_E, "goals", "integer", "goals agreed"),
    _c(_E, "ruptures", "integer", "alliance ruptures noted"),
    _c(_E, "alerts", "integer", "alerts raised"),
    _c(_E, "outcome_measure", "string", "the outcome measure first given (start of session)"),
    _c(_E, "first_total", "number", "its first total"),
    _c(_E, "latest_total", "number", "its latest total"),
    _c(
        _E,
        "withheld",
        "boolean",
        "the client's lockbox withheld part of the record: the episode's rows, counts, ending and totals "
        "are of what was shared",
    ),
)


def load_key(path: str | os.PathLike[str] | None = None, *, environ: dict[str, str] | None = None) -> bytes:
    """The pseudonym key: the bytes of the file at ``path`` (one trailing newline removed), else the value
    of :data:`KEY_ENV`.

    :raises ValidationError: ``key: required`` (neither given), ``key: unreadable`` (the file cannot be
        read), ``key: too-short`` (fewer than :data:`MIN_KEY_BYTES` bytes). The key is never in a message.
    """
    if path is not None:
        try:
            key = Path(path).read_bytes()
        except OSError as exc:
            raise ValidationError(
                "key", "unreadable", f"the key file cannot be read ({exc.strerror})"
            ) from exc
        key = trim_key(key)
    else:
        value = (os.environ if environ is None else environ).get(KEY_ENV)
        if not value:
            raise ValidationError(
                "key",
                "required",
                f"a de-identified export needs a pseudonym key: a key file (--key-file) or {KEY_ENV}",
            )
        key = value.encode()
    if len(key) < MIN_KEY_BYTES:
        raise ValidationError(
            "key", "too-short", f"at least {MIN_KEY_BYTES} bytes (32 random bytes are best)"
        )
    return key


def trim_key(raw: bytes) -> bytes:
    """A key file's bytes without their one trailing line break (the key itself may be any bytes)."""
    return raw.removesuffix(b"\n").removesuffix(b"\r")


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``value`` under ``key``, in the domain ``kind`` (a client and a clinician with the same
    reference get different pseudonyms); 32 hex digits (128 bits)."""
    return hmac.new(key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


@attrs.frozen
class ResearchExport:
    """What a research export wrote."""

    directory: Path
    files: tuple[str, ...]
    episodes: int
    administrations: int
    identified: bool
    subscales: int = 0
    """The subscale scores written (rows of ``subscales``)."""


Row = dict[str, Any]


class _Rows:
    """Builds the rows of one episode (one per administration, one for the episode)."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key
        self._cache: dict[tuple[str, str], str] = {}
        self.numbered = 0  # administrations numbered so far in this export

    def ref(self, kind: str, value: str) -> str:
        if self.key is None:
            return value
        found = self._cache.get((kind, value))
        if found is None:
            if len(self._cache) > 100_000:  # bounded: memory stays flat on any practice
                self._cache.clear()
            found = self._cache[(kind, value)] = pseudonym(self.key, kind, value)
        return found

    def episode(self, shared: Any) -> tuple[list[Row], list[Row], Row]:
        state = shared.state
        identified = self.key is None
        # what the lockbox shares: the rows and the counts say nothing of what it withholds
        assembled = assemble(state, shared.entries)
        records = assembled.records
        sessions: dict[str | None, SessionRecord] = {
            r.session_id: r for r in records if isinstance(r, SessionRecord)
        }
        client, episode = self.ref("client", state.client_ref), self.ref("episode", state.episode_id)
        admins: list[Row] = []
        subscales: list[Row] = []
        outcome: tuple[str, float | None] | None = None
        latest: float | None = None
        # in the order they were given: a client's own response among the sessions, where its score counts
        given = sorted((r for r in records if isinstance(r, AdministrationRecord)), key=_when_given)
        for record in given:
            session = sessions.get(record.session_id)
            client_reported = isinstance(record, ClientResponseRecord)
            number = (
                record.at_session
                if isinstance(record, ClientResponseRecord)
                else sessions[record.session_id].number
            )
            a, score = record.administration, record.score
            total = None if score is None else score.total
            if a.timing.value == "start" and a.about is None:
                if outcome is None:
                    outcome = (a.measure_id, total)
                if outcome[0] == a.measure_id:
                    latest = total
            self.numbered += 1
            # as scored when given (stored with the score): a measure whose plugin is gone keeps them
            for subscale, value in ({} if score is None else score.subscales).items():
                subscales.append(
                    {
                        "administration": self.numbered,
                        "measure": a.measure_id,
                        "subscale": subscale,
                        "score": value,
                    }
                )
            admins.append(
                {
                    "client": client,
                    "episode": episode,
                    "clinician": self.ref("clinician", record.clinician_id),
                    "session_number": number,
                    "day": (record.held_on - state.opened_on).days,
                    "held_on": record.held_on.isoformat() if identified else "",
                    "modality": None if session is None else session.session.modality.value,
                    "measure": a.measure_id,
                    "version": a.version,
                    "timing": a.timing.value,
                    "rater": a.rater.value,
                    "about_client": a.about is None,
                    "total": total,
                    "band": None if score is None else score.band,
                    "clinical": None if score is None else score.clinical,
                    "corrected": record.corrected,
                    "client_reported": client_reported,
                    "administration": self.numbered,
                }
            )
        end = state.closed_on or state.last_activity_on or state.opened_on
        ending = assembled.episode.ending
        row: Row = {
            "client": client,
            "episode": episode,
            "clinician": self.ref("clinician", state.clinician_id),
            "opened_year": state.opened_on.year,
            "opened_on": state.opened_on.isoformat() if identified else "",
            "stage": state.stage.value,
            "days_open": (end - state.opened_on).days,
            "closing_reason": _value(state.closing_reason),
            "ending_reason": None if ending is None else _value(ending.reason),
            "sessions_scheduled": len(sessions),
            "sessions_attended": sum(
                1 for r in sessions.values() if r.session.attendance is Attendance.ATTENDED
            ),
            "goals": _count(records, GoalRecord),
            "ruptures": _count(records, RuptureRecord),
            "alerts": _count(records, AlertRecord),  # every alert raised (the state keeps the open ones)
            "outcome_measure": None if outcome is None else outcome[0],
            "first_total": None if outcome is None else outcome[1],
            "latest_total": latest,
            "withheld": shared.withheld,
        }
        return admins, subscales, row


def _when_given(record: AdministrationRecord) -> tuple[object, ...]:
    """Date first; on one day a response to the start of a session before the sessions, any other after."""
    if isinstance(record, ClientResponseRecord):
        return (record.held_on, 0 if record.point.value == "start" else 2)
    return (record.held_on, 1)


def _count(records: Iterable[object], kind: type) -> int:
    return sum(1 for r in records if isinstance(r, kind))


def _value(member: Any) -> str | None:
    return None if member is None else str(member.value)


def _columns(file: str) -> list[str]:
    return [c.name for c in DICTIONARY if c.file == file]


class _CsvSink:
    def __init__(self, directory: Path) -> None:
        self.handles: list[IO[str]] = []
        # per table: the writer, one quoting every field, and the columns whose cells are text
        self.writers = {name: self._open(directory, name) for name in TABLES}
        self.text = {
            name: frozenset(c.name for c in DICTIONARY if c.file == name and c.escaped) for name in TABLES
        }

    def _open(self, directory: Path, name: str) -> tuple[Any, Any]:
        handle = (directory / f"{name}.csv").open("w", encoding="utf-8", newline="")
        self.handles.append(handle)
        writer = csv.DictWriter(handle, fieldnames=_columns(name), lineterminator="\n")
        writer.writeheader()
        quoted = csv.DictWriter(handle, fieldnames=_columns(name), lineterminator="\n", quoting=csv.QUOTE_ALL)
        return writer, quoted

    def write(self, name: str, rows: Sequence[Row]) -> None:
        text, (writer, quoted) = self.text[name], self.writers[name]
        for row in rows:
            cells = {k: _cell(v, k in text) for k, v in row.items()}
            # Python's csv (3.11) leaves a lone carriage return unquoted when the line ends with "\n", and a
            # reader would split the row there: such a row has every field quoted (valid CSV either way)
            carriage = any(isinstance(v, str) and "\r" in v for v in cells.values())
            (quoted if carriage else writer).writerow(cells)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def _cell(value: Any, text: bool) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if text and str(value).startswith(FORMULA_STARTS):  # read as text by a spreadsheet, not run
        return TEXT_MARK + str(value)
    return value


class _ParquetSink:
    """Row groups of up to 10,000 rows per file: memory stays flat."""

    GROUP = 10_000

    def __init__(self, directory: Path) -> None:
        # imported by name: the optional dependency (the parquet extra) has no type stubs
        pa = importlib.import_module("pyarrow")
        pq = importlib.import_module("pyarrow.parquet")

        self.pa, self.pq = pa, pq
        types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}
        types["date"] = pa.string()
        self.schemas = {
            name: pa.schema([(c.name, types[c.type]) for c in DICTIONARY if c.file == name])
            for name in TABLES
        }
        self.writers = {n: pq.ParquetWriter(directory / f"{n}.parquet", s) for n, s in self.schemas.items()}
        self.pending: dict[str, list[Row]] = {name: [] for name in TABLES}

    def write(self, name: str, rows: Sequence[Row]) -> None:
        pending = self.pending[name]
        pending.extend({k: (None if v == "" else v) for k, v in row.items()} for row in rows)
        if len(pending) >= self.GROUP:
            self._flush(name)

    def _flush(self, name: str) -> None:
        if self.pending[name]:
            table = self.pa.Table.from_pylist(self.pending[name], schema=self.schemas[name])
            self.writers[name].write_table(table)
            self.pending[name] = []

    def close(self) -> None:
        for name, writer in self.writers.items():
            self._flush(name)
            writer.close()


def parquet_available() -> bool:
    """Whether ``pyarrow`` (the ``parquet`` extra: ``pip install 'alliancekit[parquet]'``) is installed."""
    try:
        importlib.import_module("pyarrow.parquet")
    except ImportError:
        return False
    return True


def _write_dictionary(directory: Path) -> None:
    with (directory / f"{DICTIONARY_FILE}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "column", "type", "identifying", "description", "csv_escaped"])
        for c in DICTIONARY:
            rest = ["true" if c.identifying else "false", c.description, "true" if c.escaped else "false"]
            writer.writerow([c.file, c.name, c.type, *rest])


def export_research(
    practice: Practice,
    actor: Actor,
    directory: str | Path,
    *,
    key: bytes | None = None,
    identified: bool = False,
    purpose: Purpose = Purpose.QUALITY_IMPROVEMENT,
    file_format: str = "csv",
    episode_ids: Iterable[str] | None = None,
    replace: bool = False,
    progress: Callable[[int], None] | None = None,
    recipient: str | None = None,
) -> ResearchExport:
    """Export every episode of the actor's clinic (or ``episode_ids``) as research/service tables.

    :param key: the pseudonym key (:func:`load_key`); required unless ``identified``.
    :param identified: write the host's references and dates instead of pseudonyms and day offsets.
    :param purpose: the purpose the export is made for (the access policy decides on it; audited).
    :param file_format: ``"csv"`` or ``"parquet"`` (needs the ``parquet`` extra).
    :param progress: called with the number of episodes exported so far, after each.
    :param recipient: whom the tables are for: the lockbox withholds what the client withheld from them,
        and each episode's audit entry names them. With none named, whatever any directive withholds from
        anyone is withheld, and the entries record ``(unnamed)``.
    :raises ValidationError: ``recipient: ...`` (not an id; ``reserved``: in parentheses), ``key:
        required`` (no key and not identified), ``key: conflict`` (a key and ``identified``), ``key:
        type``, ``identified: type``, ``format: one-of``, ``format: missing-dependency`` (parquet without
        pyarrow), and the ``directory`` rules of :class:`~alliancekit.exports.publish.StagedDirectory`; all
        before anything is read or written.
    :raises AccessDenied: the policy refuses the actor an episode (nothing is published).
    """
    if not isinstance(identified, bool):
        raise ValidationError("identified", "type", "True or False")
    to = check_optional_recipient("recipient", recipient)
    if identified:
        if key is not None:  # a key asks for pseudonyms, identified for none: which was meant is unknown
            raise ValidationError("key", "conflict", "an identified export takes no pseudonym key")
    elif key is None:
        raise ValidationError("key", "required", "a de-identified export needs a pseudonym key")
    elif not isinstance(raw_key := cast(object, key), bytes) or len(raw_key) < MIN_KEY_BYTES:
        raise ValidationError("key", "type", f"bytes, at least {MIN_KEY_BYTES} of them")
    if not isinstance(purpose, Purpose):
        raise ValidationError("purpose", "type", "Purpose expected")
    if file_format not in FORMATS:
        raise ValidationError("format", "one-of", "csv or parquet")
    if file_format == "parquet" and not parquet_available():
        raise ValidationError(
            "format", "missing-dependency", "parquet needs pyarrow: pip install 'alliancekit[parquet]'"
        )
    rows = _Rows(key)
    done = admins = subscales = 0
    with StagedDirectory(directory, replace=replace, replaces=f"{DICTIONARY_FILE}.csv") as staged:
        sink: _CsvSink | _ParquetSink = (
            _CsvSink(staged.path) if file_format == "csv" else _ParquetSink(staged.path)
        )
        # every read audited as it is made (export-csv), one transaction per 1,000 entries, the rest when
        # the block ends: all durable before the directory is published
        with practice.batched_reads():
            try:
                for episode_id in _ids(practice, actor, episode_ids):
                    shared = practice.export_record(
                        actor, episode_id, purpose=purpose, kind="csv", recipient=to
                    )
                    if not shared.frame_withheld:  # a whole-record lockbox: not even a row says it exists
                        episode_rows, subscale_rows, episode_row = rows.episode(shared)
                        sink.write(_A, episode_rows)
                        sink.write(_S, subscale_rows)
                        sink.write(_E, [episode_row])
                        admins += len(episode_rows)
                        subscales += len(subscale_rows)
                    done += 1
                    if progress is not None:
                        progress(done)
            finally:
                sink.close()
        _write_dictionary(staged.path)  # last: it marks a complete export
        staged.publish(lambda: None)  # the reads were audited (and made durable) by the block above
        files = tuple(sorted(p.name for p in staged.path.iterdir()))
    return ResearchExport(Path(directory), files, done, admins, identified, subscales)


def _ids(practice: Practice, actor: Actor, episode_ids: Iterable[str] | None) -> Iterator[str]:
    yield from (practice.episode_ids(actor) if episode_ids is None else episode_ids)


def dictionary_markdown() -> str:
    """The data dictionary as the Markdown tables the guide shows (a test keeps the two the same)."""
    out = []
    for name in TABLES:
        out += [f"`{name}`", "", "| column | type | description |", "|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.description} |" for c in DICTIONARY if c.file == name]
        out.append("")
    return "\n".join(out)
