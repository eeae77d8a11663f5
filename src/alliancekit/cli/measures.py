"""``alliancekit measures``: list, show, validate a response, check a definition being written.

``list``, ``show`` and ``validate`` read the installed plugins' measures and, given a practice (``--db`` or
``$ALLIANCEKIT_DB``), the definitions stored with its data too: a measure whose plugin is no longer installed
is still shown, listed and scored by the definition its administrations used. They are read through the
practice's guarded path (:meth:`alliancekit.Practice.measure_definitions`, audited as a report's read).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from alliancekit.cli.common import (
    add_clinic,
    add_db,
    add_json,
    cli_actor,
    existing_practice,
    names_practice,
    print_json,
)
from alliancekit.errors import AlliancekitError, ValidationError
from alliancekit.measures import commands
from alliancekit.measures.advice import Advice
from alliancekit.measures.registry import MeasureRegistry
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.practice import REPORT_KIND

#: Read at most this much of an input file: the measure validators refuse far smaller documents, and
#: reading a huge file whole just to refuse it would be a denial of service on the host.
MAX_INPUT_BYTES = 16 * 1024 * 1024

#: The supplier shown for a measure known only by the definition a practice stored.
STORED = "stored in the practice; its plugin is not installed"

#: What a command given no practice reads.
WITHOUT_PRACTICE = ", else the installed plugins' measures only"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("measures", help="registered measures", description="Registered measures.")
    msub = parser.add_subparsers(dest="measures_command", required=True, metavar="COMMAND")
    listing = msub.add_parser(
        "list",
        help="every registered measure",
        description="List measures: the installed plugins', and with a practice the ones its data stored "
        "definitions of.",
    )
    _add_practice(listing)
    add_json(listing)
    listing.set_defaults(run=run_list)
    show = msub.add_parser(
        "show",
        help="one measure, with citations",
        description="Show a measure: an installed plugin's, or with a practice the definition its data "
        "stored (of a measure whose plugin is gone).",
    )
    show.add_argument("measure_id", metavar="ID", help="the measure's id (see `measures list`)")
    show.add_argument("--version", dest="measure_version", metavar="VERSION", help="default: the latest")
    _add_practice(show)
    add_json(show, "print the measure's definition (JSON)")
    show.set_defaults(run=run_show)
    validate = msub.add_parser(
        "validate",
        help="validate and score a response",
        description="Validate and score a response (exit 1 when it is invalid, listing every problem found, "
        "each by its JSON path and rule), by an installed plugin's measure or, with a practice, by a "
        "definition its data stored.",
    )
    validate.add_argument("measure_id", metavar="ID", help="the measure's id (see `measures list`)")
    validate.add_argument("response", metavar="RESPONSE.json", help="the response document, or - for stdin")
    validate.add_argument("--version", dest="measure_version", metavar="VERSION", help="default: the latest")
    _add_practice(validate)
    add_json(
        validate,
        'print {"ok": true, "score": {...}} as JSON, or {"ok": false, "invalid": {"field", "rule", '
        '"message"}, "problems": [...]} for an invalid response, "problems" listing every problem found '
        "(without it the scored result is printed as JSON too, or each problem on a line of its own)",
    )
    validate.set_defaults(run=run_validate)
    check = msub.add_parser(
        "check",
        help="check a measure definition",
        description="Check a measure definition you are writing (exit 1 when it is invalid, listing every "
        "meta-schema failure, each by its JSON path and rule). A valid definition may still get warnings, on "
        "standard error, for what it leaves out.",
    )
    check.add_argument("definition", metavar="DEFINITION.json", help="the definition, or - for stdin")
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on a warning too: a valid definition without worked examples, without the default "
        "population's reliable-change figure or clinical cutoff, or with a citation marked unconfirmed",
    )
    add_json(
        check,
        'print {"ok": true, "measure": {"id", "version", "items", "examples"}, "warnings": [...]} as JSON '
        '("ok" false with --strict when there are warnings), or {"ok": false, "invalid": {"field", "rule", '
        '"message"}, "problems": [...]} for an invalid definition, '
        '"problems" listing every meta-schema failure (a definition that passes the meta-schema is refused '
        "by the first consistency rule or example it breaks)",
    )
    check.set_defaults(run=run_check)


def _add_practice(parser: argparse.ArgumentParser) -> None:
    add_db(
        parser,
        "a practice whose stored measure definitions count too",
        default=WITHOUT_PRACTICE,
        time_zone=False,
    )
    add_clinic(parser)


def _registry(args: argparse.Namespace) -> MeasureRegistry:
    """The installed plugins' measures; with a practice named, also the definitions its data stored that no
    plugin registers (read through the practice, audited)."""
    registry: MeasureRegistry = get_plugin_host().measures()
    if not names_practice(args):
        return registry
    with existing_practice(args) as practice:
        stored = practice.measure_definitions(cli_actor(practice, args), kind=REPORT_KIND)
    missing = [m for m in stored if (m.id, m.version) not in registry]
    if not missing:
        return registry
    both = MeasureRegistry()  # a registry of its own: the plugin host's stays the plugins' alone
    for measure_id, version in registry:
        both.add(registry.get(measure_id, version).definition, registry.supplier(measure_id, version))
    for measure in missing:
        both.add(measure.definition, STORED)
    return both


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


def _invalid(exc: AlliancekitError, problems: tuple[AlliancekitError, ...] = ()) -> int:
    """A finding with ``--json``: its document on stdout, its lines on stderr (as without), exit 1.

    ``invalid`` is the first problem (as it always was), ``problems`` every one, ``invalid`` first."""
    problems = problems or (exc,)
    print_json(
        {
            "ok": False,
            "invalid": commands.refusal_json(problems[0]),
            "problems": [commands.refusal_json(problem) for problem in problems],
        }
    )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1


def run_list(args: argparse.Namespace) -> int:
    print(commands.list_measures(_registry(args), as_json=args.json))
    return 0


def run_show(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.json:
        measure = registry.get(args.measure_id, args.measure_version)
        print_json(measure.definition)
        return 0
    print(commands.show_measure(registry, args.measure_id, args.measure_version))
    return 0


def run_validate(args: argparse.Namespace) -> int:
    registry = _registry(args)
    # An unknown measure is a usage error (exit 2); an invalid response is the finding (exit 1).
    registry.entry(args.measure_id, args.measure_version)
    document = _read(args.response)
    if not args.json:
        return _emit(*commands.validate_response(registry, args.measure_id, document, args.measure_version))
    try:
        score = commands.scored_response(registry, args.measure_id, document, args.measure_version)
    except AlliancekitError as exc:
        refusals = commands.response_refusals(registry, args.measure_id, document, args.measure_version, exc)
        return _invalid(exc, refusals)
    print_json({"ok": True, "score": score.to_json()})
    return 0


def run_check(args: argparse.Namespace) -> int:
    document = _read(args.definition)
    if not args.json:
        code, text, advice = commands.check_definition(document, strict=args.strict)
        # the summary of a valid definition on stdout (even when --strict fails it), error lines on stderr
        print(text, file=sys.stdout if code == 0 or advice else sys.stderr)
        _warn(advice)
        return code
    try:
        measure, advice = commands.checked_definition(document)
    except AlliancekitError as exc:
        return _invalid(exc, commands.definition_refusals(document, exc))
    summary: dict[str, Any] = {
        "id": measure.id,
        "version": measure.version,
        "items": len(measure.items),
        "examples": len(measure.examples),
    }
    failed = bool(args.strict and advice)
    print_json(
        {"ok": not failed, "measure": summary, "warnings": [commands.refusal_json(item) for item in advice]}
    )
    _warn(advice)
    return 1 if failed else 0


def _warn(advice: tuple[Advice, ...]) -> None:
    for item in advice:
        print(f"warning: {item}", file=sys.stderr)
