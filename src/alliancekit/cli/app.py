"""The ``alliancekit`` command's parser and commands: everything the command imports, loaded by
:func:`alliancekit.cli.main.main` once its Ctrl-C handling is in place (see there for the exit codes)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
from collections.abc import Sequence

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
from alliancekit.cli.common import UsageError, command_parser, in_options
from alliancekit.cli.main import EXIT_INTERNAL, EXIT_OK, EXIT_USAGE
from alliancekit.cli.progress import end_open_line
from alliancekit.errors import AlliancekitError, ValidationError

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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


def _fail(message: str) -> int:
    end_open_line()
    print(f"alliancekit: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run(argv: Sequence[str] | None) -> int:
    """The command ``argv`` names, run; its exit code (see :mod:`alliancekit.cli.main`). A stop (Ctrl-C)
    is left to the caller."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # refused with the usage of the command they were given to, not the top level's
        command_parser(parser, args).error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.run(args))
    except ValidationError as exc:  # named by the option the user typed, not the library's field
        return _fail(in_options(command_parser(parser, args), exc))
    except (UsageError, AlliancekitError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        end_open_line()
        # The reader went away (``| head``): stop quietly, and keep Python from complaining at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        # A file the user named cannot be read or written: the system's reason, no traceback.
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or type(exc).__name__}")
    except Exception as exc:  # noqa: BLE001 - the last resort: what Python would print, less the message
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
