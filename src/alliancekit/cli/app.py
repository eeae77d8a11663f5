"""The ``alliancekit`` command's parser and commands: everything the command imports, loaded by
:func:`alliancekit.cli.main.main` once its Ctrl-C handling is in place (see there for the exit codes)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from alliancekit import __version__
from alliancekit.cli import (
    audit,
    backup,
    caseload,
    demo,
    episode,
    export,
    importer,
    measures,
    outbox,
    plugins,
    quality,
    report,
    verify,
)
from alliancekit.cli.common import (
    UsageError,
    command_parser,
    in_options,
    is_subcommands,
    os_error_text,
    parser_actions,
)
from alliancekit.cli.main import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE, json_error
from alliancekit.cli.progress import end_open_line
from alliancekit.errors import AccessDenied, AlliancekitError, StoreError, ValidationError

COMMAND_MODULES = (
    demo,
    caseload,
    episode,
    measures,
    plugins,
    report,
    quality,
    export,
    outbox,
    audit,
    verify,
    backup,
    importer,
)


class _Parser(argparse.ArgumentParser):
    """The parser of the command and of each subcommand (argparse makes these of its parent's class): a
    usage error of a command run with ``--json`` also prints its JSON error object on standard output."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            json_error("usage", message)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alliancekit",
        description="Feedback-informed psychotherapy care: inspect and exercise an alliancekit practice.",
        epilog="Exit codes: 0 done, 1 a finding (such as a failed verification), 2 a usage or input error, "
        "70 an internal error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM): a stopped command "
        "publishes nothing half-done.",
    )
    parser.add_argument(
        "--version", action="version", version=f"alliancekit {__version__}", help="print the version and exit"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def _options_below(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings of every command under ``parser``."""
    found: set[str] = set()
    for action in parser_actions(parser):
        if is_subcommands(action):
            assert isinstance(action.choices, dict)  # noqa: S101 - a subparsers action maps names to parsers
            for sub in action.choices.values():
                found |= {o for a in parser_actions(sub) for o in a.option_strings} | _options_below(sub)
    return found


def _before_the_command(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """What is wrong with an option given before the command's name (``alliancekit --json caseload``), where
    argparse would report it misleadingly: as unknown to the command, which has it, or, for an option taking
    a value, the value as an invalid command, or a missing command for an unknown option. None when the
    command comes first, or argparse's own handling is right (``-h``, ``--version``)."""
    own = {o for a in parser_actions(parser) for o in a.option_strings}
    for token in argv:
        if not token.startswith("-") or token in ("-", "--"):
            return None  # the command (or a stray word argparse names as an invalid choice)
        option = token.split("=", 1)[0]
        if option in own or any(o.startswith(option) for o in own if option.startswith("--")):
            continue  # argparse's (an abbreviation like --vers too)
        if option in _options_below(parser):
            return (
                f"{option}: an option of a command; give it after the command (alliancekit COMMAND {option})"
            )
        return f"unrecognized arguments: {token}"
    return None


def _kind(exc: BaseException) -> str:
    """The ``kind`` of a failure in its JSON error object: a fixed word a script can branch on."""
    if isinstance(exc, AccessDenied):
        return "refused"
    if isinstance(exc, UsageError | ValidationError):
        return "usage"
    if isinstance(exc, StoreError):
        return "store"
    if isinstance(exc, AlliancekitError):
        return "error"
    return "file"


def _fail(message: str, kind: str = "usage", *, as_json: bool = False) -> int:
    if as_json:
        json_error(kind, message)
    end_open_line()
    print(f"alliancekit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(argv: Sequence[str] | None) -> int:
    """The command ``argv`` names, run; its exit code (see :mod:`alliancekit.cli.main`). A stop (Ctrl-C)
    is left to the caller."""
    parser = build_parser()
    # known before parsing, so that a usage error argparse finds is reported as JSON too
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else list(argv))
    try:
        misplaced = _before_the_command(parser, sys.argv[1:] if argv is None else list(argv))
        if misplaced:
            parser.error(misplaced)
        args, extra = parser.parse_known_args(argv)
        if extra:  # refused with the usage of the command they were given to, not the top level's
            command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    finally:
        _Parser.json_errors = False
    as_json = bool(getattr(args, "json", False))
    try:
        return int(args.run(args))
    except ValidationError as exc:  # named by the option the user typed, not the library's field
        return _fail(in_options(command_parser(parser, args), exc), as_json=as_json)
    except (UsageError, AlliancekitError) as exc:
        return _fail(str(exc), _kind(exc), as_json=as_json)
    except BrokenPipeError:
        end_open_line()
        # The reader went away (``| head``): stop quietly, and keep Python from complaining at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # A file cannot be read or written: the argument that named it and the system's reason, no traceback.
        return _fail(os_error_text(command_parser(parser, args), args, exc), "file", as_json=as_json)
    except Exception as exc:  # noqa: BLE001 - the last resort: what Python would print, less the message
        if as_json:
            json_error("internal", f"internal error: {type(exc).__name__}")
        return _internal(exc)


def _internal(exc: Exception) -> int:
    """An exception nothing expected: its type and where it was raised (the frames a traceback shows,
    without their locals or source), never its message or its cause's, which may quote a client's data."""
    end_open_line()
    print("Internal error (where it was raised, innermost last):", file=sys.stderr)
    for frame in traceback.extract_tb(exc.__traceback__):
        print(f"  File {frame.filename!r}, line {frame.lineno}, in {frame.name}", file=sys.stderr)
    print(
        f"alliancekit: internal error: {type(exc).__name__} (its message is not shown: it may hold a "
        "client's data); a bug, or a record changed outside alliancekit (`alliancekit verify` checks the "
        "record)",
        file=sys.stderr,
    )
    return EXIT_INTERNAL
