"""``alliancekit export fhir``: an episode as a FHIR R4 Bundle, or the practice as Bulk Data NDJSON;
``alliancekit export csv``: research and service tables (:mod:`alliancekit.exports.research`)."""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

from alliancekit import Actor, Practice
from alliancekit.cli.common import (
    KEY_FILE_NAMED,
    STDOUT,
    UsageError,
    add_clinic,
    add_db,
    add_json,
    add_replace,
    check_target,
    cli_actor,
    existing_practice,
    named_file,
    not_with,
    note,
    output,
    output_path,
    print_json,
    read_key_file,
    reading,
)
from alliancekit.cli.episode import resolve_episode
from alliancekit.cli.progress import Progress
from alliancekit.domain import Purpose
from alliancekit.domain.checks import check_optional_recipient
from alliancekit.errors import ValidationError
from alliancekit.exports.research import (
    FORMATS,
    KEY_ENV,
    MIN_KEY_BYTES,
    export_research,
    load_key,
    parquet_available,
    trim_key,
)
from alliancekit.fhir.bulk import BulkResult, check_base_url, export_ndjson
from alliancekit.fhir.bundle import (
    BUNDLE_TYPES,
    check_max_entries,
    episode_bundles,
    missing_questionnaires,
)
from alliancekit.fhir.context import EXPORT_PURPOSES, ExportOptions
from alliancekit.fhir.identity import DEFAULT_SYSTEM_BASE, placeholder_identifiers
from alliancekit.fhir.records import NOT_EXPORTED_REASONS
from alliancekit.fhir.validate import R4Schema, SchemaError

#: Errors printed before the rest are only counted.
MAX_PRINTED_ERRORS = 50

#: ``--json``'s help on both exports.
SUMMARY_HELP = (
    'print what was written as JSON (counts, files, warnings, "ok"; not with --out -, where standard '
    "output is the export itself)"
)


@contextlib.contextmanager
def _directory_is_out() -> Iterator[None]:
    """The export's ``directory`` refused (it exists and is not empty, it is not writable...) is the one
    ``--out`` named: said so, as every library error names the option the user typed."""
    try:
        yield
    except ValidationError as exc:
        if exc.field != "directory":
            raise
        raise ValidationError("out", exc.rule, exc.detail) from None


def _no_json_on_stdout(args: argparse.Namespace) -> None:
    """``--json`` with ``--out -`` would put the summary inside the export: refused, naming both."""
    if args.json and args.out == STDOUT:
        raise not_with("--json", "--out -", "standard output is the export itself; the summary is on stderr")


class _Episodes:
    """The episode ids of an export of the whole clinic, and the progress line that counts them.

    Iterated by the export as ``episode_ids``: the ids are read then, where the export would read them
    itself (after its directory checks, in its audited batch), so the audit log gets what it got without
    a progress line; called as the export's ``progress`` with the episodes exported so far.
    """

    def __init__(self, practice: Practice, actor: Actor) -> None:
        self.practice = practice
        self.actor = actor
        self.total = 0
        self.line: Progress | None = None

    def __iter__(self) -> Iterator[str]:
        ids = self.practice.episode_ids(self.actor)
        self.total = len(ids)
        self.line = Progress("exporting episodes", unit="episodes")  # timed from the first read
        return iter(ids)

    def __call__(self, done: int) -> None:
        if self.line is not None:
            self.line(done, self.total)

    def close(self) -> None:
        """End the line if the export stopped before its last episode (an error, Ctrl-C)."""
        if self.line is not None:
            self.line.close()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("export", help="export records", description="Export records for other systems.")
    esub = parser.add_subparsers(dest="export_command", required=True, metavar="FORMAT")
    fhir = esub.add_parser(
        "fhir",
        help="HL7 FHIR R4: a Bundle per episode, or NDJSON per resource type",
        description="Export as HL7 FHIR R4: one episode as a Bundle (JSON), or every episode as NDJSON files "
        "per resource type with a Bulk Data manifest.",
    )
    add_db(fhir)
    add_clinic(fhir)
    which = fhir.add_mutually_exclusive_group(required=True)
    which.add_argument("--episode", metavar="ID", help="one episode (id or unique prefix): a Bundle")
    which.add_argument(
        "--all", action="store_true", help="every episode: NDJSON files in the --out directory"
    )
    fhir.add_argument(
        "--out",
        type=output_path,
        required=True,
        metavar="PATH",
        help="the Bundle file, or the NDJSON directory (new or empty; published only once complete); "
        "- writes the Bundle, or every resource as NDJSON lines, to stdout",
    )
    add_replace(
        fhir, "the Bundle file (--episode), or a previous export in a non-empty --out directory (--all)"
    )
    _add_purpose(fhir, Purpose.TREATMENT)
    _add_recipient(fhir)
    fhir.add_argument(
        "--type",
        dest="bundle_type",
        choices=BUNDLE_TYPES,
        help="with --episode: the Bundle type: collection (the default), batch (conditional creates) or "
        "transaction (updates by id)",
    )
    fhir.add_argument(
        "--max-entries",
        type=int,
        metavar="N",
        help="with --episode and --type transaction: split the episode into transactions of at most N "
        "entries, written as NDJSON (one Bundle a line, to load in order)",
    )
    fhir.add_argument(
        "--base-url",
        metavar="URL",
        help="with --all: the absolute URL the directory will be served at (the manifest's file URLs; "
        "default: the files' file: URLs)",
    )
    fhir.add_argument(
        "--request",
        metavar="URL",
        help="with --all: the kick-off request URL for the manifest (default: BASE-URL/$export)",
    )
    fhir.add_argument(
        "--requires-access-token",
        action="store_true",
        help="with --all: the manifest says the files need an access token",
    )
    fhir.add_argument(
        "--identifier-system",
        metavar="URL",
        help=(
            "base URL of the host's identifier systems for clients, practitioners and the organisation; "
            "without it, the placeholder systems urn:alliancekit:host:<kind>, the same for every host "
            "(a warning on stderr; set it before loading an EHR)"
        ),
    )
    fhir.add_argument(
        "--validate", action="store_true", help="check every resource against the FHIR R4 schema"
    )
    fhir.add_argument(
        "--schema",
        metavar="FILE",
        type=named_file("the FHIR R4 schema is loaded from its file, the packaged copy by default"),
        help="with --validate: the FHIR R4 JSON Schema (default: the packaged copy)",
    )
    add_json(fhir, SUMMARY_HELP)
    fhir.set_defaults(run=run_fhir)
    register_csv(esub)


def _add_recipient(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recipient",
        metavar="ID",
        help="who the export is for (recorded in its audit entries): what the client's lockbox withholds "
        "from them is left out; without it, the export may go anywhere, so whatever any lockbox directive "
        "withholds from anyone is left out, and the entries record (unnamed)",
    )


def _add_purpose(parser: argparse.ArgumentParser, default: Purpose) -> None:
    parser.add_argument(
        "--purpose",
        choices=[p.value for p in EXPORT_PURPOSES],
        default=default.value,
        help=f"why the records are exported (default: {default.value})",
    )


def register_csv(esub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    table = esub.add_parser(
        "csv",
        help="research and service tables: a row per administration and per episode, de-identified",
        description="Export one row per administration and one per episode, with a data dictionary, "
        "de-identified by default: no free text, no dates (days from the episode's opening), and the "
        "client, episode and clinician replaced by HMAC-SHA256 pseudonyms under a key the host provides "
        f"(--key-file, or the environment variable {KEY_ENV}).",
    )
    add_db(table)
    add_clinic(table)
    table.add_argument(
        "--out",
        type=output_path,
        required=True,
        metavar="DIR",
        help="the directory (new or empty; published only once complete); - writes one table (--table) "
        "as CSV to stdout",
    )
    # an identified export takes no key: both given is a usage error, not a key silently ignored
    naming = table.add_mutually_exclusive_group()
    naming.add_argument(
        "--key-file",
        metavar="FILE",
        type=named_file(KEY_FILE_NAMED),
        help=f"file holding the pseudonym key (default: ${KEY_ENV})",
    )
    naming.add_argument(
        "--identified",
        action="store_true",
        help="the host's references and dates instead of pseudonyms (for the practice's own use; no key, "
        "so not with --key-file)",
    )
    table.add_argument(
        "--format", choices=FORMATS, default="csv", help="csv (the default), or parquet (the parquet extra)"
    )
    table.add_argument(
        "--table",
        choices=("administrations", "subscales", "episodes"),
        help="with --out -: which table to write (default: administrations)",
    )
    _add_purpose(table, Purpose.QUALITY_IMPROVEMENT)
    _add_recipient(table)
    add_replace(table, "a previous export in a non-empty --out directory")
    add_json(table, SUMMARY_HELP)
    table.set_defaults(run=run_csv)


def _csv_key(args: argparse.Namespace) -> bytes | None:
    """The pseudonym key: ``--key-file``'s, else the environment's; none for an identified export."""
    if args.identified:
        return None
    if args.key_file is None:
        return load_key()
    return read_key_file(args.key_file, min_bytes=MIN_KEY_BYTES, trim=trim_key)


def run_csv(args: argparse.Namespace) -> int:
    to_stdout = args.out == STDOUT
    _no_json_on_stdout(args)
    if to_stdout and args.format != "csv":
        raise ValidationError("format", "stdout", "--out - writes CSV only")
    check_target("--out", args.out, replace=args.replace, directory=True)
    if not to_stdout and args.table is not None:
        raise UsageError("--table: only with --out - (a directory gets every table)")
    args.table = args.table or "administrations"  # its default, once known to be wanted
    # the key, the format's dependency and the target are checked before the practice is opened
    key = _csv_key(args)
    check_optional_recipient("recipient", args.recipient)
    if args.format == "parquet" and not parquet_available():
        raise ValidationError(
            "format", "missing-dependency", "parquet needs pyarrow: pip install 'alliancekit[parquet]'"
        )
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        purpose = Purpose(args.purpose)
        with closing(_Episodes(practice, actor)) as episodes:
            export = functools.partial(
                export_research,
                practice,
                actor,
                key=key,
                identified=args.identified,
                purpose=purpose,
                episode_ids=episodes,
                progress=episodes,
                recipient=args.recipient,
            )
            if to_stdout:
                with tempfile.TemporaryDirectory(prefix="alliancekit-export-") as tmp:
                    result = export(Path(tmp) / "export")
                    with (
                        (result.directory / f"{args.table}.csv").open(encoding="utf-8") as rows,
                        output(STDOUT) as out,
                    ):
                        shutil.copyfileobj(rows, out)
            else:
                with _directory_is_out():
                    result = export(args.out, file_format=args.format, replace=args.replace)
    kind = "identified" if result.identified else "de-identified"
    if args.json:
        print_json(
            {
                "out": args.out,
                "format": args.format,
                "identified": result.identified,
                "episodes": result.episodes,
                "administrations": result.administrations,
                "subscales": result.subscales,
                "files": list(result.files),
                "ok": True,
            }
        )
        return 0
    counts = f"{result.administrations} administrations of {result.episodes} episodes"
    if to_stdout and args.table == "episodes":  # only the table written is counted
        counts = f"{result.episodes} episodes"
    elif to_stdout and args.table == "subscales":
        counts = f"{result.subscales} subscale scores of {result.administrations} administrations"
    note(
        f"wrote {counts} ({kind}) to {args.out}",
        to_stderr=to_stdout,
    )
    if not to_stdout:
        for name in result.files:
            print(f"  {name}")
    return 0


def _bulk_to_stdout(
    practice: Practice,
    actor: Actor,
    purpose: str,
    options: ExportOptions,
    check: Callable[[dict[str, Any]], None],
    episodes: _Episodes,
    recipient: str | None,
) -> BulkResult:
    """The bulk export as one NDJSON stream on stdout, resource type after resource type.

    The export is made as always (crash-safe, audited) in a temporary directory, then copied out line by
    line: there is one way to export, and stdout gets exactly what the files hold.
    """
    with tempfile.TemporaryDirectory(prefix="alliancekit-export-") as tmp:
        result = export_ndjson(
            practice,
            actor,
            Path(tmp) / "export",
            purpose=purpose,
            options=options,
            on_resource=check,
            episode_ids=episodes,
            progress=episodes,
            recipient=recipient,
        )  # no manifest on stdout: its URLs do not matter
        with output(STDOUT) as out:
            for rtype in result.counts:
                with (result.directory / f"{rtype}.ndjson").open(encoding="utf-8") as lines:
                    shutil.copyfileobj(lines, out)
    return result


#: Options shaping the NDJSON directory ``--all`` writes: with a Bundle, or on stdout, they would be ignored.
DIRECTORY_OPTIONS = {
    "--base-url": "base_url",
    "--request": "request",
    "--requires-access-token": "requires_access_token",
}


#: Options shaping the Bundle of one ``--episode``: with ``--all`` they would be ignored.
BUNDLE_OPTIONS = {"--type": "bundle_type", "--max-entries": "max_entries"}


def _check_fhir_combinations(args: argparse.Namespace) -> None:
    """Options that would be silently ignored in this combination are refused, naming both."""
    if args.schema is not None and not args.validate:
        raise UsageError("--schema: only with --validate (the schema is what --validate checks against)")
    for option, dest in BUNDLE_OPTIONS.items():
        if args.all and getattr(args, dest) is not None:
            raise not_with(option, "--all", "it shapes the Bundle of one --episode")
    for option, dest in DIRECTORY_OPTIONS.items():
        if getattr(args, dest) in (None, False):
            continue
        if args.episode is not None:
            raise not_with(option, "--episode", "it shapes the NDJSON directory --all writes")
        if args.out == STDOUT:
            raise not_with(option, "--out -", "it shapes the NDJSON directory; stdout gets NDJSON lines only")


def run_fhir(args: argparse.Namespace) -> int:
    _no_json_on_stdout(args)
    _check_fhir_combinations(args)
    args.bundle_type = args.bundle_type or "collection"
    schema = None
    if args.validate:
        with reading("--schema", args.schema or "(the packaged copy)"):
            schema = R4Schema(args.schema)
    errors: list[SchemaError] = []  # the first MAX_PRINTED_ERRORS; the rest are only counted
    error_count = 0

    def check(resource: dict[str, Any]) -> None:
        nonlocal error_count
        if schema is None:
            return
        for error in schema.errors(resource):
            error_count += 1
            if len(errors) < MAX_PRINTED_ERRORS:
                errors.append(error)

    options = ExportOptions(identifier_system=args.identifier_system)
    to_stdout = args.out == STDOUT
    # checked before the practice is opened: bad input writes nothing, not even an audit entry
    if args.max_entries is not None and args.bundle_type != "transaction":
        raise ValidationError("max_entries", "transaction-only", "--max-entries splits transactions only")
    check_max_entries(args.max_entries)
    check_optional_recipient("recipient", args.recipient)
    if args.base_url is not None:
        check_base_url("base_url", args.base_url)
    if args.request is not None:
        check_base_url("request", args.request, query=True)
    check_target("--out", args.out, replace=args.replace, directory=args.all)
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        if args.episode is not None:  # "" is a blank id, refused, not a request for every episode
            episode_id = resolve_episode(practice, actor, args.episode, field="episode")
            bundles = episode_bundles(
                practice,
                actor,
                episode_id,
                purpose=args.purpose,
                bundle_type=args.bundle_type,
                max_entries=args.max_entries,
                options=options,
                recipient=args.recipient,
            )
            for bundle in bundles:
                check(bundle)
            with output(args.out) as handle:
                if args.max_entries is None:
                    handle.write(json.dumps(bundles[0], indent=2, ensure_ascii=False) + "\n")
                else:
                    for bundle in bundles:
                        handle.write(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")) + "\n")
            entries = sum(len(b.get("entry", [])) for b in bundles)
            what = (
                f"a {args.bundle_type} Bundle" if len(bundles) == 1 else f"{len(bundles)} {args.bundle_type}s"
            )
            summary: dict[str, Any] = {
                "out": args.out,
                "episodes": 1,
                "resources": entries,
                "bundle_type": args.bundle_type,
                "bundles": len(bundles),
            }
            if not args.json:
                note(f"wrote {what} of {entries} resources to {args.out}", to_stderr=to_stdout)
            missing = missing_questionnaires(bundles)
            placeholder = placeholder_identifiers(bundles)
        elif to_stdout:
            with closing(_Episodes(practice, actor)) as episodes:
                result = _bulk_to_stdout(
                    practice, actor, args.purpose, options, check, episodes, args.recipient
                )
            note(f"wrote {result.resources} resources of {result.episodes} episodes", to_stderr=True)
            summary = {}
        else:
            with closing(_Episodes(practice, actor)) as episodes, _directory_is_out():
                result = export_ndjson(
                    practice,
                    actor,
                    args.out,
                    purpose=args.purpose,
                    options=options,
                    on_resource=check,
                    episode_ids=episodes,
                    progress=episodes,
                    replace=args.replace,
                    base_url=args.base_url,
                    request=args.request,
                    requires_access_token=args.requires_access_token,
                    recipient=args.recipient,
                )
            summary = {
                "out": args.out,
                "episodes": result.episodes,
                "resources": result.resources,
                "withheld_episodes": result.withheld_episodes,
                "files": {f"{rtype}.ndjson": count for rtype, count in result.counts.items()},
            }
            if not args.json:
                print(f"wrote {result.resources} resources of {result.episodes} episodes to {args.out}")
                for rtype, count in result.counts.items():
                    print(f"  {rtype}.ndjson  {count}")
        if not args.episode:
            summary["not_exported"] = {
                event_type: {"count": count, "reason": NOT_EXPORTED_REASONS.get(event_type, "no mapping")}
                for event_type, count in result.not_exported.items()
            }
            if not args.json:
                _report_not_exported(result.not_exported)
            missing = list(result.missing_questionnaires)
            placeholder = result.placeholder_identifiers
    if placeholder:
        _warn_placeholder()
    for canonical in missing:
        print(
            f"alliancekit: warning: the export names Questionnaire {canonical} but cannot contain it: that "
            "measure's definition is neither registered nor stored with the data (was its plugin removed "
            "before the store kept definitions?)",
            file=sys.stderr,
        )
    if missing:
        print(
            "alliancekit: the export is incomplete (exit 1); reinstall the measure's plugin", file=sys.stderr
        )
    code = 1 if missing or error_count else 0
    if args.json:
        summary["missing_questionnaires"] = missing
        summary["placeholder_identifiers"] = placeholder
        summary["schema"] = None if schema is None else _schema_summary(errors, error_count)
        summary["ok"] = code == 0
        print_json(summary)
    if schema is None:
        return code
    if not args.json:
        for (
            error
        ) in errors:  # where and which rule, never jsonschema's message: it may quote a client's value
            print(f"invalid: {error.resource} at {error.path}: {error.rule or 'schema'}", file=sys.stderr)
        if error_count > len(errors):
            print(f"... and {error_count - len(errors)} more", file=sys.stderr)
    if error_count:
        print(f"alliancekit: {error_count} schema error(s)", file=sys.stderr)
    elif not args.json:
        note("valid: every resource passes the FHIR R4 schema", to_stderr=to_stdout)
    return code


def _schema_summary(errors: list[SchemaError], count: int) -> dict[str, Any]:
    """``--validate``'s outcome for ``--json``: the errors' count, and the first ones by resource, path and
    rule (never jsonschema's message: it may quote a client's value)."""
    return {
        "valid": count == 0,
        "error_count": count,
        "errors": [{"resource": e.resource, "path": e.path, "rule": e.rule or "schema"} for e in errors],
    }


def _warn_placeholder() -> None:
    """The references are in the placeholder systems: fine to try the export out, wrong to load beside
    another host's export (the same client reference would be the same client). A warning, not a failure:
    the export is complete and valid, and the demo and first trials are made this way."""
    print(
        f"alliancekit: warning: no --identifier-system given: clients, practitioners and the organisation "
        f"are identified in the placeholder systems {DEFAULT_SYSTEM_BASE}:<kind>, the same for every host; "
        "set --identifier-system to a URL your organisation controls before loading the export into an EHR",
        file=sys.stderr,
    )


def _report_not_exported(counts: dict[str, int]) -> None:
    """What the export left out and why (on stderr: stdout may be the export itself)."""
    for event_type, count in counts.items():
        reason = NOT_EXPORTED_REASONS.get(event_type, "no mapping")
        print(f"not exported: {count} {event_type}: {reason}", file=sys.stderr)
