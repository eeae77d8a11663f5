"""``alliancekit import csv|fhir``: load a practice's history from another system's CSV export (with a
column mapping) or from FHIR (NDJSON files or Bundles in the shape ``alliancekit export fhir`` writes).

Resumable (a checkpoint of the last committed source row), idempotent (re-running writes nothing twice),
``--dry-run`` reports every row error (row, field, rule; never a value). Exit 1 when rows have errors.
"""

from __future__ import annotations

import argparse
import sys
import unicodedata
from pathlib import Path
from typing import Any

from alliancekit import open_practice
from alliancekit.cli import signals
from alliancekit.cli.common import (
    UsageError,
    add_db,
    add_json,
    db_refused,
    default_clinic,
    existing_practice,
    given_clinic,
    location_of,
    named_file,
    print_json,
    reading,
    unknown_clinic,
    zone_of,
)
from alliancekit.cli.progress import Progress
from alliancekit.errors import NotAnAlliancekitStore, StoreError, ValidationError
from alliancekit.imports.csv_source import CsvSource
from alliancekit.imports.fhir_joining import OTHER_SYSTEM
from alliancekit.imports.fhir_source import FhirSource
from alliancekit.imports.mapping import load_mapping
from alliancekit.imports.units import RowError
from alliancekit.imports.writer import (
    DEFAULT_BATCH_SIZE,
    MAX_UNITS_PER_BATCH,
    REFUSED_WITHHELD,
    ImportProgress,
    ImportResult,
    run_import,
)
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.practice import practice_file, remove_practice_files

#: How each import reads its source, which standard input could not serve (``import csv -`` is refused).
CSV_READ = "a CSV source is read more than once (its encoding and header checked before its rows)"
FHIR_READ = "a FHIR source is read twice (checked whole, then imported)"

#: Row errors printed before the rest are only counted.
MAX_PRINTED_ERRORS = 50


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "import", help="import a history", description="Import a practice's history from another system."
    )
    isub = parser.add_subparsers(dest="import_command", required=True, metavar="FORMAT")
    csv_parser = isub.add_parser(
        "csv",
        help="a CSV export, with a column mapping",
        description="Import sessions and scores from a CSV export, with a column-mapping file (TOML or JSON; "
        "see the importing guide).",
    )
    csv_parser.add_argument(
        "--mapping",
        required=True,
        metavar="FILE",
        type=named_file("the mapping's format is told by its file name (.toml or .json)"),
        help="the column-mapping file",
    )
    fhir_parser = isub.add_parser(
        "fhir",
        help="FHIR R4 NDJSON files or Bundles, as alliancekit exports them",
        description="Import episodes, sessions, goals and scores from FHIR R4: a Bulk Data directory (or one "
        "NDJSON file), or a Bundle file, in the shape alliancekit export fhir writes.",
    )
    for p, read in ((csv_parser, CSV_READ), (fhir_parser, FHIR_READ)):
        add_db(p, "the practice to import into")
        p.add_argument(
            "--create",
            action="store_true",
            help="create the practice when --db names none yet (otherwise a missing one is an error)",
        )
        p.add_argument(
            "--clinic",
            metavar="ID",
            help="the clinic to import into (default: the practice's only one; in a new or empty practice, "
            "default, or the clinic a postgresql:// location names); one the practice does not hold yet "
            "needs --new-clinic",
        )
        p.add_argument(
            "--new-clinic",
            action="store_true",
            help="let --clinic name a clinic the practice does not hold yet (without it, such a name is "
            "taken for a typo and refused)",
        )
        p.add_argument(
            "source",
            metavar="SOURCE",
            type=named_file(f"{read}, and an import is resumed from its checkpoint by reading it again"),
            help="the file (or, for FHIR, directory) to import",
        )
        p.add_argument(
            "--source-id",
            metavar="NAME",
            help="the name the checkpoint is kept under (default: the source's file name)",
        )
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="check every row and write nothing; say what the import would write from its checkpoint",
        )
        p.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            metavar="N",
            help="units (sessions, or FHIR episodes) per commit and checkpoint "
            f"(default {DEFAULT_BATCH_SIZE})",
        )
        p.add_argument(
            "--progress",
            action="store_true",
            help="report progress on stderr even when it is not a terminal (one line per checkpoint)",
        )
        add_json(p, "print the result and the row errors as JSON")
    fhir_parser.add_argument(
        "--identifier-system",
        metavar="URL",
        help="base URL of the identifier systems the source's clients, practitioners and other participants "
        "are in: what export fhir --identifier-system was given (default: the placeholder systems "
        "urn:alliancekit:host:<kind>); a party identified in any other system is an error (other-system)",
    )
    csv_parser.set_defaults(run=run_csv)
    fhir_parser.set_defaults(run=run_fhir)


class _Progress:
    """On a terminal, the CLI's progress line (:mod:`alliancekit.cli.progress`: rows done of about how many,
    the rate and an ETA, counted from where this run resumed); with ``--progress`` elsewhere, one plain line
    per checkpoint (what a log or a test reads); nothing otherwise. A dry run's says it checks."""

    def __init__(self, forced: bool, dry_run: bool) -> None:
        self.terminal = Progress("check" if dry_run else "import", unit="rows")
        self.verb = "checked" if dry_run else "imported"
        self.lines = forced and not self.terminal.enabled
        self.unfinished = False
        """Whether the terminal's line is shown and not yet ended (the last one ends itself)."""
        self.committed = False
        """Whether a batch was committed (an import reports after each checkpoint; a dry run commits none)."""
        self.checkpoint = 0
        """The row of the last checkpoint this run committed (0: none)."""
        self.dry_run = dry_run

    def __call__(self, p: ImportProgress) -> None:
        self.committed = self.committed or not self.dry_run  # first: a Ctrl-C below comes after the commit
        if not self.dry_run:
            self.checkpoint = p.rows
        signals.check()  # after each checkpoint: a lost Ctrl-C stops the import here, its checkpoint saved
        if self.terminal.enabled and p.total_rows:
            done = p.rows - p.resumed_after
            total = max(p.total_rows - p.resumed_after, done)
            self.terminal(done, total)
            self.unfinished = done < total
        elif self.lines:
            eta = p.eta_seconds
            left = "" if eta is None else f"  ETA {int(eta) // 60}:{int(eta) % 60:02d}"
            share = f" of ~{p.total_rows:,}" if p.total_rows else ""
            print(
                f"{self.verb} up to row {p.rows:,}{share}  {p.rate:,.0f} rows/s{left}",
                file=sys.stderr,
                flush=True,
            )

    def done(self) -> None:
        if self.unfinished:
            print(file=sys.stderr)


def _clinic(practice: Any, args: argparse.Namespace) -> str:
    """The clinic to import into. A ``--clinic`` a practice with clinics does not hold is most likely a typo,
    which would start a clinic of its own and split the history: refused unless ``--new-clinic`` says it
    is meant (and the same command line resumes the import)."""
    clinic = given_clinic(args)
    clinics = practice.clinics()
    if clinic is not None:
        if clinics and clinic not in clinics and not args.new_clinic:
            raise UsageError(f"{unknown_clinic(clinics)}; --new-clinic to import into a new one")
        return clinic
    if len(clinics) > 1:
        raise UsageError(
            f"--clinic: the practice holds {len(clinics)} clinics ({', '.join(clinics)}); name one"
        )
    return str(clinics[0]) if clinics else default_clinic(practice)


def _creatable(location: str) -> bool:
    """Whether ``--create`` would make a new practice at ``location``: nothing there, or an empty store."""
    path = practice_file(location)
    if path is not None:
        return not path.exists() or (path.is_file() and path.stat().st_size == 0)
    try:
        open_practice(location, read_only=True).close()
    except NotAnAlliancekitStore:
        return True
    except (StoreError, ValidationError):
        return False
    return False


def _open_practice(args: argparse.Namespace) -> Any:
    """The practice to import into. A dry run creates and changes nothing: it opens the practice read-only,
    or, with ``--create`` and no practice there yet, checks against an empty one in memory."""
    if args.dry_run:
        if args.create and _creatable(location_of(args)):
            return open_practice("memory:", time_zone=zone_of(args))
        return _existing(args, read_only=True)
    if not args.create:
        return _existing(args)
    location, zone = location_of(args), zone_of(args)
    try:
        return open_practice(location, time_zone=zone)
    except (StoreError, ValidationError) as exc:
        raise db_refused(location, exc) from None


def _existing(args: argparse.Namespace, *, read_only: bool = False) -> Any:
    """The practice named, which must exist; where there is none yet, the refusal says how to make one."""
    try:
        return existing_practice(args, read_only=read_only)
    except UsageError as exc:
        if _creatable(location_of(args)):
            raise UsageError(f"{exc}; --create makes a new practice there") from None
        raise


def _run(args: argparse.Namespace, make_source: Any) -> int:
    if not 1 <= args.batch_size <= MAX_UNITS_PER_BATCH:
        raise UsageError(f"--batch-size: from 1 to {MAX_UNITS_PER_BATCH}")
    if args.source_id == "":  # given but blank: a mistake, not the file's name (another checkpoint)
        raise UsageError("--source-id: empty; name the checkpoint, or leave it out for the file's name")
    # a blank --clinic, or --new-clinic naming none, is refused before anything is read
    if given_clinic(args) is None and args.new_clinic:
        raise UsageError("--new-clinic: name the new clinic with --clinic")
    path = Path(args.source)
    if not path.exists():
        raise UsageError(f"{args.source}: no such file")
    # made (and its mapping checked against the measures) before the practice is opened: a source that
    # cannot be read is a usage error that creates nothing; the CLI's practice uses the same plugins
    source = make_source(get_plugin_host().measures())
    progress = _Progress(args.progress, args.dry_run)
    created = _created(args)
    discarded: list[str] = []  # what removing a store made at a URL said
    try:
        with _open_practice(args) as practice:
            try:
                result = run_import(
                    practice,
                    source,
                    clinic_id=_clinic(practice, args),
                    # the file's name in NFC, as an id must be: macOS file names often come decomposed (NFD)
                    source_id=args.source_id or unicodedata.normalize("NFC", path.name),
                    dry_run=args.dry_run,
                    batch_size=args.batch_size,
                    progress=progress,
                )
            except BaseException:
                for said in _discard_made(practice, args, progress):
                    print(f"alliancekit: {said}", file=sys.stderr)
                raise
            if result.errors and not result.written:
                discarded += _discard_made(practice, args, progress)
    except KeyboardInterrupt as stop:
        if progress.committed:  # the checkpoint is kept: say so, as an import's error does
            kept = (
                f"imported up to the checkpoint at row {progress.checkpoint}; the same command resumes there"
            )
            raise signals.Interrupted(signals.signal_of(stop), kept) from None
        if created is None:
            raise
        raise signals.Interrupted(signals.signal_of(stop), _removed(created)) from None
    except StoreError as exc:  # a full disk, say
        if created is None or progress.committed:
            raise
        raise StoreError(f"{exc}; {_removed(created)}") from exc
    except BaseException:
        if created is not None and not progress.committed:
            _removed(created)
        raise
    progress.done()
    hint = _hint(result, source.errors, fhir=isinstance(source, FhirSource))
    if created is not None and result.errors and not result.written:  # stopped at its first unit
        discarded.append(_removed(created))
    return _report(result, args.json, hint, " ".join(discarded) or None)


def _discard_made(practice: Any, args: argparse.Namespace, progress: _Progress) -> list[str]:
    """A store at a URL that ``--create`` made and nothing was committed to: remove what this opening made
    (PostgreSQL: its schema, or its tables in an empty schema), so the same command starts it anew. An SQLite
    file is removed by name afterwards (:func:`_removed`); the store itself knows what its opening made.
    Returns what to say of it (nothing when nothing was removed)."""
    at_a_url = practice_file(location_of(args)) is None
    if at_a_url and args.create and not args.dry_run and not progress.committed and practice.discard():
        return ["the new store was removed (nothing was imported)"]
    return []


def _created(args: argparse.Namespace) -> Path | None:
    """The SQLite file ``--create`` is about to make (``None``: it exists, or the practice is not an SQLite
    file, or nothing is created): removed again if the import fails before it commits anything, so that a
    failed first run leaves no database behind (the same command creates it anew)."""
    if args.dry_run or not args.create:
        return None
    path = practice_file(location_of(args))
    return None if path is None or str(path) == ":memory:" or path.exists() else path


def _removed(created: Path) -> str:
    """Remove the database this run created and committed nothing to; say so."""
    remove_practice_files(created)
    return f"the new database {created} was removed (nothing was imported)"


def _hint(result: ImportResult, source_errors: list[RowError], *, fhir: bool) -> str | None:
    """What to do about the first error, fitted to its kind (``None`` without errors). Running again
    resumes only after a checkpoint of committed rows, and only a row a user can fix is worth fixing:

    * a FHIR source with no EpisodeOfCare is not an export of episodes: nothing to fix or resume;
    * a party in another identifier system: the base the export used, or another organisation's source;
    * any other error in a FHIR source: a FHIR source is imported only when all of it reads, so nothing was
      written (its errors are all listed);
    * a CSV header that does not fit the mapping (row 1): nothing was written;
    * a refusal of an episode a lockboxed export withheld records of: editing the file cannot supply them;
    * otherwise a row to fix (a source row, or a unit the library refused): the import stopped there, and
      the same command resumes after the checkpoint, if one was committed.
    """
    if not result.errors:
        return None
    would = result.dry_run
    nothing = "nothing would be imported" if would else "nothing was imported"
    if fhir and source_errors:
        if [(e.row, e.field, e.rule) for e in source_errors] == [(1, "EpisodeOfCare", "required")]:
            return (
                f"{nothing}: the source holds no episodes; name an export of episodes, as `alliancekit "
                "export fhir` writes"
            )
        if any(e.rule == OTHER_SYSTEM for e in source_errors):
            return (
                f"{nothing}: the source names clients or clinicians in identifier systems other than "
                "--identifier-system gives (default urn:alliancekit:host); if it is this practice's own "
                "export, give the --identifier-system the export was made with; another organisation's "
                "people are not this practice's"
            )
        return (
            f"{nothing}: a FHIR source is imported only when every resource in it reads; fix "
            "the errors listed, then run the same command again"
        )
    first = result.errors[0]
    if source_errors and source_errors[0] == first and first.row == 1:  # a CSV file's header
        return (
            f"{nothing}: the header (row 1) does not fit the mapping; fix the file or the mapping, "
            "then run the same command again"
        )
    if would:
        where = f"the import would stop at row {first.row}, the first with an error"
        return f"{where} ({result.to_write} units to write before it); fix the rows listed before importing"
    if first.message == REFUSED_WITHHELD:
        where = (
            f"stopped at row {first.row}: the export withheld records this episode needs (a lockbox), "
            "which editing the file cannot supply"
        )
        return f"{where}; leave the episode out of the source, then run the same command again to resume"
    where = f"stopped at row {first.row}, the first with an error"
    if result.checkpoint:
        return (
            f"{where}: imported up to the checkpoint at row {result.checkpoint}; fix the file and run "
            "the same command again to resume after it"
        )
    return f"{where}: this run imported nothing; fix the file and run the same command again"


def _rechecked_line(result: ImportResult) -> str:
    """What a run says when the source did not match its checkpoint (it read every row again)."""
    what = "would be" if result.dry_run else "was"
    return (
        f"the checkpoint at row {result.rechecked} does not match the source (shorter, or changed before "
        f"that row): the whole source {what} checked, each unit by its keys"
    )


def _report(result: ImportResult, as_json: bool, hint: str | None = None, removed: str | None = None) -> int:
    """The result: as text (the errors and notes on stderr), or as one JSON document carrying what the text
    says, ``hint`` (what to do about the first error) and ``removed`` (the new database removed) included;
    the hint and the removal are said on stderr either way."""
    if as_json:
        print_json({**result.to_json(), "hint": hint, "removed": removed})
    else:
        # a dry run says what the import would do from the checkpoint, in the words of its report
        done = f"{result.to_write} to write" if result.dry_run else f"{result.written} written"
        print(
            f"{'checked' if result.dry_run else 'imported'} {result.units} units: {done}, "
            f"{result.skipped} already imported; checkpoint at row {result.checkpoint}"
        )
        for line in result.notes:
            print(f"note: {line}", file=sys.stderr)
        for error in result.errors[:MAX_PRINTED_ERRORS]:
            print(f"error: {error}", file=sys.stderr)
        if len(result.errors) > MAX_PRINTED_ERRORS:
            print(f"... and {len(result.errors) - MAX_PRINTED_ERRORS} more", file=sys.stderr)
    if result.rechecked:
        print(f"alliancekit: {_rechecked_line(result)}", file=sys.stderr)
    if hint is not None:
        print(f"alliancekit: {hint}", file=sys.stderr)
    if removed is not None:
        print(f"alliancekit: {removed}", file=sys.stderr)
    if result.errors:
        return 1
    return 0


def run_csv(args: argparse.Namespace) -> int:
    with reading("--mapping", args.mapping):
        mapping = load_mapping(args.mapping)

    def source(registry: Any) -> CsvSource:
        made = CsvSource(args.source, mapping, registry)
        made.check()
        return made

    return _run(args, source)


def run_fhir(args: argparse.Namespace) -> int:
    def source(registry: Any) -> FhirSource:
        made = FhirSource(args.source, registry, args.identifier_system)
        made.check()
        return made

    return _run(args, source)
