"""Entry point of the ``alliancekit`` command (also ``python -m alliancekit``).

Exit codes, the same for every command:

* 0: done.
* 1: a finding: the command ran and found a problem it was asked to look for (verification found a broken
  record, a backup's copy does not verify, exported resources fail the FHIR schema or name a Questionnaire
  the export cannot contain, an import's source has rows with errors, a measure response or definition is
  invalid).
* 2: a usage or input error: wrong arguments, an unknown clinic or episode, a database that is missing or
  not alliancekit's, a file that cannot be read or written, or the library refusing an input (its message
  names the field and rule). Nothing was done.
* 130: interrupted (Ctrl-C, SIGINT); 143: terminated (SIGTERM, as a container stop sends). The command stops
  as on an error: a staged export is removed, never published; an import keeps its last checkpoint and the
  same command resumes it. With ``--json`` its JSON error object (kind ``stopped``) is on standard output,
  as a failed command's is. A stop that comes once the command has finished (its work done, its output
  flushed) exits the same way, its line saying so, and no JSON object follows the command's whole document.
* 70: an internal error: a bug (in alliancekit or a plugin), or a record changed outside alliancekit. Standard
  error names the exception's type and where it was raised, never its message: a message of Python's own
  (``Invalid isoformat string: '...'``, a ``KeyError``'s key) quotes the value it choked on, which may be a
  client's data.

A user's mistake is reported in one line on standard error, never with a traceback. A reader that stops
reading early (``| head``) ends the command quietly with exit 0 (not 141, a shell's number for a process
killed by SIGPIPE): what the pipeline wanted it got.

This module is the entry point and imports nothing Python has not loaded already (nor does the
``alliancekit`` package): the Ctrl-C handling is in place from the first line of :func:`main`, before any
other module of alliancekit or of Python's is imported, so that a Ctrl-C while the command starts also ends
it with exit 130 and its one line (and its JSON object), never a traceback. What runs before that is
Python's start-up (the interpreter, ``site``, the installed script's own imports) and the loading of the
package and this module: a Ctrl-C then ends the process as Python ends any program (a shell reports 130, with
Python's traceback when the interpreter was running; where it lands in a callback of Python's import
machinery, Python prints it as "Exception ignored" and the program goes on). From :func:`main`'s first
line an interrupt lost so is kept and raised again once the handling is in place. SIGTERM is turned into a
clean stop once :func:`~alliancekit.cli.signals.stopping_cleanly` is in place, the first thing :func:`main`
does; before, it ends the process with the signal's default action (a shell reports 143, nothing printed).
"""

import sys

# ``typing`` is not loaded yet: type checkers take any name ``TYPE_CHECKING`` as true
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import logging
    import typing
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
#: sysexits' EX_SOFTWARE: not a finding (1), not the user's mistake (2)
EXIT_INTERNAL = 70

_open_document = False
"""Whether standard output holds the beginning of a streamed JSON document (``audit show --json``) that was
not ended: a failure then ends it with its ``error`` member (see :func:`json_error`)."""


def main(argv: "Sequence[str] | None" = None) -> int:
    # An interrupt Python raises in a callback (the import machinery's, the garbage collector's) is printed
    # as "Exception ignored" and lost: until stopping_cleanly's own hook is in place it is kept here instead,
    # and raised again once it is.
    lost: list[BaseException] = []
    unraisable = sys.unraisablehook

    def keep(info: "typing.Any") -> None:
        if isinstance(info.exc_value, KeyboardInterrupt):
            lost.append(info.exc_value)
        else:
            unraisable(info)

    sys.unraisablehook = keep
    try:
        # Python raises a Ctrl-C as KeyboardInterrupt from here on: it stops the command like one later, also
        # while the signal handling, the commands and the library (a second or more) are imported.
        from alliancekit.cli.signals import finishing, stopping_cleanly

        with stopping_cleanly():
            if lost:
                raise lost[0]
            previous = _no_library_logs()
            try:
                from alliancekit.cli.app import run

                code = run(argv)
            finally:
                _restore_library_logs(previous)
            finishing()  # a stop from now on is said as one after the command finished (exit 130 or 143)
        return code
    except KeyboardInterrupt as exc:  # also a stop that came while parsing, or while reporting an error
        return stopped(exc, argv)
    finally:
        sys.unraisablehook = unraisable
        json_document_open(False)  # a host calling main() again starts afresh


def stopped(exc: KeyboardInterrupt, argv: "Sequence[str] | None") -> int:
    """Report the stop ``exc`` (its stderr line, and its JSON object when the command was run with
    ``--json``) and return its exit code."""
    from alliancekit.cli.progress import end_open_line
    from alliancekit.cli.signals import Interrupted, signal_of, stopped_line

    line = stopped_line(exc)
    # a finished command's document is whole on standard output already: no second one after it
    finished = isinstance(exc, Interrupted) and exc.finished
    # the same test as for a usage error: the stop may come before the arguments are parsed
    if not finished and "--json" in (sys.argv[1:] if argv is None else list(argv)):
        json_error("stopped", line.removeprefix("alliancekit: "))
    end_open_line()
    print(line, file=sys.stderr)
    return 128 + signal_of(exc)


def json_error(kind: str, message: str) -> None:
    """With ``--json``, the failure as one JSON object on its own line of standard output, besides the
    stderr line and the exit code: ``{"error": {"kind": ..., "message": ...}}`` (``kind`` ``stopped`` for a
    stop by a signal). The message is the stderr line's, which names options, files and rules, never a
    client's data. When a streamed document was begun (``{"entries": [...``), the error is its last member
    instead, so that standard output is one JSON document either way."""
    import contextlib
    import json

    from alliancekit.cli.progress import end_open_line

    end_open_line()
    error = json.dumps({"kind": kind, "message": message})
    text = f'\n  ],\n  "error": {error}\n}}\n' if _open_document else f'{{"error": {error}}}\n'
    json_document_open(False)
    with contextlib.suppress(OSError, ValueError):  # a reader gone away: the exit code still says it
        sys.stdout.write(text)
        sys.stdout.flush()


def json_document_open(is_open: bool) -> None:
    """Say that a streamed JSON document was begun on standard output (``True``) or ended (``False``)."""
    global _open_document
    _open_document = is_open


def _no_library_logs() -> "logging.Handler | None":
    """Keep what libraries log off the operator's stderr while the command runs, unless the host calling
    :func:`main` configured logging: without a handler, Python's last-resort handler prints their warnings
    bare (a connection pool's "discarding closed connection: <psycopg.Connection [BAD] at 0x...>" when the
    server ended a connection the store then replaced). alliancekit's own loggers are quiet already (a
    library leaves logging to its host); the command says what went wrong itself. Returns the handler
    added, for :func:`_restore_library_logs`."""
    import logging

    root = logging.getLogger()
    if root.handlers:
        return None
    handler = logging.NullHandler()
    root.addHandler(handler)
    return handler


def _restore_library_logs(handler: "logging.Handler | None") -> None:
    if handler is not None:
        import logging

        logging.getLogger().removeHandler(handler)


def build_parser() -> "argparse.ArgumentParser":
    """The command's argument parser (every command's options: what ``--help`` shows)."""
    from alliancekit.cli.app import build_parser as build

    return build()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
