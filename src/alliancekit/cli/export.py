"""``alliancekit export fhir``: an episode as a FHIR R4 Bundle, or the practice as Bulk Data NDJSON."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alliancekit import Actor, Practice
from alliancekit.cli.common import STDOUT, add_clinic, add_db, cli_actor, existing_practice, note, output
from alliancekit.cli.episode import resolve_episode
from alliancekit.domain import Purpose
from alliancekit.fhir.bulk import BulkResult, export_ndjson
from alliancekit.fhir.bundle import BUNDLE_TYPES, episode_bundle
from alliancekit.fhir.context import EXPORT_PURPOSES, ExportOptions
from alliancekit.fhir.validate import R4Schema, SchemaError

#: Errors printed before the rest are only counted.
MAX_PRINTED_ERRORS = 50


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
        required=True,
        metavar="PATH",
        help="the Bundle file, or the NDJSON directory (new or empty; published only once complete); "
        "- writes the Bundle, or every resource as NDJSON lines, to stdout",
    )
    fhir.add_argument(
        "--replace",
        action="store_true",
        help="with --all: replace the previous export in a non-empty --out directory",
    )
    fhir.add_argument(
        "--purpose",
        choices=[p.value for p in EXPORT_PURPOSES],
        default=Purpose.TREATMENT.value,
        help="why the records are exported (default: treatment)",
    )
    fhir.add_argument(
        "--type", dest="bundle_type", choices=BUNDLE_TYPES, default="collection", help="Bundle type"
    )
    fhir.add_argument(
        "--identifier-system",
        metavar="URL",
        help="base URL of the host's identifier systems for clients, practitioners and the organisation",
    )
    fhir.add_argument(
        "--validate", action="store_true", help="check every resource against the FHIR R4 schema"
    )
    fhir.add_argument("--schema", metavar="PATH", help="the FHIR R4 JSON Schema (default: the packaged copy)")
    fhir.set_defaults(run=run_fhir)


def _bulk_to_stdout(
    practice: Practice,
    actor: Actor,
    purpose: str,
    options: ExportOptions,
    check: Callable[[dict[str, Any]], None],
) -> BulkResult:
    """The bulk export as one NDJSON stream on stdout, resource type after resource type.

    The export is made as always (crash-safe, audited) in a temporary directory, then copied out line by
    line: there is one way to export, and stdout gets exactly what the files hold.
    """
    with tempfile.TemporaryDirectory(prefix="alliancekit-export-") as tmp:
        result = export_ndjson(
            practice, actor, Path(tmp) / "export", purpose=purpose, options=options, on_resource=check
        )
        with output(STDOUT) as out:
            for rtype in result.counts:
                with (result.directory / f"{rtype}.ndjson").open(encoding="utf-8") as lines:
                    shutil.copyfileobj(lines, out)
    return result


def run_fhir(args: argparse.Namespace) -> int:
    schema = R4Schema(args.schema) if args.validate else None
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
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        if args.episode:
            episode_id = resolve_episode(practice, actor, args.episode)
            bundle = episode_bundle(
                practice,
                actor,
                episode_id,
                purpose=args.purpose,
                bundle_type=args.bundle_type,
                options=options,
            )
            check(bundle)
            with output(args.out) as handle:
                handle.write(json.dumps(bundle, indent=2, ensure_ascii=False) + "\n")
            entries = len(bundle.get("entry", []))
            note(
                f"wrote a {args.bundle_type} Bundle of {entries} resources to {args.out}", to_stderr=to_stdout
            )
        elif to_stdout:
            result = _bulk_to_stdout(practice, actor, args.purpose, options, check)
            note(f"wrote {result.resources} resources of {result.episodes} episodes", to_stderr=True)
        else:
            result = export_ndjson(
                practice,
                actor,
                args.out,
                purpose=args.purpose,
                options=options,
                on_resource=check,
                replace=args.replace,
            )
            print(f"wrote {result.resources} resources of {result.episodes} episodes to {args.out}")
            for rtype, count in result.counts.items():
                print(f"  {rtype}.ndjson  {count}")
    if schema is None:
        return 0
    for error in errors:
        print(f"invalid: {error}", file=sys.stderr)
    if error_count > len(errors):
        print(f"... and {error_count - len(errors)} more", file=sys.stderr)
    if error_count:
        print(f"alliancekit: {error_count} schema error(s)", file=sys.stderr)
        return 1
    note("valid: every resource passes the FHIR R4 schema", to_stderr=to_stdout)
    return 0
