"""Entry point of the ``alliancekit`` command (also ``python -m alliancekit``).

Exit codes, the same for every command:

* 0: done.
* 1: a finding: the command ran and found a problem it was asked to look for (verification found a broken
  record, exported resources fail the FHIR schema, a measure response or definition is invalid).
* 2: a usage or input error: wrong arguments, an unknown clinic or episode, a database that is missing or
  not alliancekit's, a file that cannot be read or written, or the library refusing an input (its message
  names the field and rule). Nothing was done.
* 130: interrupted (Ctrl-C, SIGINT); 143: terminated (SIGTERM, as a container stop sends). The command stops
  as on an error: a staged export is removed, never published; an import keeps its last checkpoint and the
  same command resumes it. With ``--json`` its JSON error object (kind ``stopped``) is on standard output,
  as a failed command's is.
* 70: an internal error: a bug (in alliancekit or a plugin), or a record changed outside alliancekit. Standard
  error names the exception's type and where it was raised, never its message: a message of Python's own
  (``Invalid isoformat string: '...'``, a ``KeyError``'s key) quotes the value it choked on, which may be a
  client's data.

A user's mistake is reported in one line on standard error, never with a traceback. A reader that stops
reading early (``| head``) ends the command quietly with exit 0 (not 141, a shell's number for a process
killed by SIGPIPE): what the pipeline wanted it got.

This module is the entry point and imports little: it puts the Ctrl-C handling in place before the
commands (:mod:`alliancekit.cli.app`) and the library are imported, so that a Ctrl-C while the command
starts also ends it with exit 130 and its one line, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from alliancekit.cli.progress import end_open_line
from alliancekit.cli.signals import signal_of, stopped_line, stopping_cleanly

if TYPE_CHECKING:
    import argparse

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: sysexits' EX_SOFTWARE: not a finding (1), not the user's mistake (2)
EXIT_INTERNAL = 70


def main(argv: Sequence[str] | None = None) -> int:
    with stopping_cleanly(), _no_library_logs():
        try:
            # The commands and the library take a second or more to import: a Ctrl-C meanwhile stops the
            # command like one later, not with a traceback from the middle of an import.
            from alliancekit.cli.app import run

            return run(argv)
        except KeyboardInterrupt as exc:  # also a stop that came while parsing, or while reporting an error
            line = stopped_line(exc)
            # the same test as for a usage error: the stop may come before the arguments are parsed
            if "--json" in (sys.argv[1:] if argv is None else list(argv)):
                json_error("stopped", line.removeprefix("alliancekit: "))
            end_open_line()
            print(line, file=sys.stderr)
            return 128 + signal_of(exc)


def json_error(kind: str, message: str) -> None:
    """With ``--json``, the failure as one JSON object on its own line of standard output, besides the
    stderr line and the exit code: ``{"error": {"kind": ..., "message": ...}}`` (``kind`` ``stopped`` for a
    stop by a signal). The message is the stderr line's, which names options, files and rules, never a
    client's data."""
    end_open_line()
    with contextlib.suppress(OSError, ValueError):  # a reader gone away: the exit code still says it
        sys.stdout.write(json.dumps({"error": {"kind": kind, "message": message}}) + "\n")
        sys.stdout.flush()


@contextlib.contextmanager
def _no_library_logs() -> Iterator[None]:
    """Keep what libraries log off the operator's stderr while the command runs, unless the host calling
    :func:`main` configured logging: without a handler, Python's last-resort handler prints their warnings
    bare (a connection pool's "discarding closed connection: <psycopg.Connection [BAD] at 0x...>" when the
    server ended a connection the store then replaced). alliancekit's own loggers are quiet already (a
    library leaves logging to its host); the command says what went wrong itself."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser (every command's options: what ``--help`` shows)."""
    from alliancekit.cli.app import build_parser as build

    return build()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
