"""``alliancekit measures``: list, show, validate a response, check a definition being written."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alliancekit.cli.common import add_json, print_json
from alliancekit.errors import ValidationError
from alliancekit.measures import commands
from alliancekit.plugins.manager import get_plugin_host

#: Read at most this much of an input file: the measure validators refuse far smaller documents, and
#: reading a huge file whole just to refuse it would be a denial of service on the host.
MAX_INPUT_BYTES = 16 * 1024 * 1024


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("measures", help="registered measures", description="Registered measures.")
    msub = parser.add_subparsers(dest="measures_command", required=True, metavar="COMMAND")
    listing = msub.add_parser("list", help="every registered measure", description="List measures.")
    add_json(listing)
    listing.set_defaults(run=run_list)
    show = msub.add_parser("show", help="one measure, with citations", description="Show a measure.")
    show.add_argument("measure_id", metavar="ID", help="the measure's id (see `measures list`)")
    show.add_argument("--version", dest="measure_version", metavar="VERSION", help="default: the latest")
    add_json(show, "print the measure's definition (JSON)")
    show.set_defaults(run=run_show)
    validate = msub.add_parser(
        "validate", help="validate and score a response", description="Validate and score a response."
    )
    validate.add_argument("measure_id", metavar="ID", help="the measure's id (see `measures list`)")
    validate.add_argument("response", metavar="RESPONSE.json", help="the response document, or - for stdin")
    validate.add_argument("--version", dest="measure_version", metavar="VERSION", help="default: the latest")
    validate.set_defaults(run=run_validate)
    check = msub.add_parser(
        "check", help="check a measure definition", description="Check a measure definition you are writing."
    )
    check.add_argument("definition", metavar="DEFINITION.json", help="the definition, or - for stdin")
    check.set_defaults(run=run_check)


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    path = Path(name)
    if not path.exists():
        raise ValidationError(name, "exists", "no such file")
    if not path.is_file():
        raise ValidationError(name, "file", "it is a directory" if path.is_dir() else "not a regular file")
    with path.open("rb") as handle:
        return handle.read(MAX_INPUT_BYTES + 1)


def _emit(code: int, text: str) -> int:
    print(text, file=sys.stdout if code == 0 else sys.stderr)
    return code


def run_list(args: argparse.Namespace) -> int:
    print(commands.list_measures(get_plugin_host().measures(), as_json=args.json))
    return 0


def run_show(args: argparse.Namespace) -> int:
    registry = get_plugin_host().measures()
    if args.json:
        measure = registry.get(args.measure_id, args.measure_version)
        print_json(measure.definition)
        return 0
    print(commands.show_measure(registry, args.measure_id, args.measure_version))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    registry = get_plugin_host().measures()
    # An unknown measure is a usage error (exit 2); an invalid response is the finding (exit 1).
    registry.entry(args.measure_id, args.measure_version)
    document = _read(args.response)
    return _emit(*commands.validate_response(registry, args.measure_id, document, args.measure_version))


def run_check(args: argparse.Namespace) -> int:
    return _emit(*commands.check_definition(_read(args.definition)))
