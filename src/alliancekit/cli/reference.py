"""The CLI reference page, generated from the parser: ``python -m alliancekit.cli.reference PATH``.

``docs/reference/cli.md`` is this module's output; a test fails when the page is stale, so a command or
option cannot go undocumented.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alliancekit.cli.common import is_subcommands as _is_subcommands
from alliancekit.cli.common import parser_actions as _actions
from alliancekit.cli.main import build_parser

INTRO = """\
# Command line

<!-- Generated from the parser: python -m alliancekit.cli.reference docs/reference/cli.md (do not edit) -->

`alliancekit` (or `python -m alliancekit`) inspects and exercises a practice. Every command reads and writes
through the same guarded path as the library: reads of clinical content are audited, and the client's lockbox
applies (the CLI acts as a supervisor of the clinic, for operations).

## Naming the practice

`--db` takes a path to an SQLite file, or a store URL:

- `clinic.sqlite`, `sqlite:relative/clinic.sqlite`, `sqlite:///absolute/path/clinic.sqlite` (a file URL:
  percent-encoded, no host);
- `postgresql://app@db.example/practice?clinic=north` with the alliancekit-postgres plugin installed
  (`clinic` is required; `schema`, `pool_min`, `pool_max` and `retries` are the plugin's own options, and
  every other parameter, such as `sslmode` or `options=-c%20statement_timeout%3D5000`, goes to libpq);
- any scheme another store plugin registers.

Without `--db`, the `ALLIANCEKIT_DB` environment variable names the practice. `alliancekit demo` is the
exception: it never uses `ALLIANCEKIT_DB` (which names a real practice), and writes `demo.sqlite` unless told
otherwise. `measures list`, `show` and `validate` work without a practice (the installed plugins' measures);
given one, they also take the measure definitions its data stored, read through the practice and audited:
a measure whose plugin is no longer installed is still shown, listed and scored. A command that reads
never creates, migrates or converts a database: a missing file, an empty one or one that is not
alliancekit's is refused.

`--time-zone` (else the `ALLIANCEKIT_TIME_ZONE` environment variable, else UTC) names the clinic's IANA time
zone, as a host passes `time_zone=` to `Practice`: a command's "today" (the report's and quality reports'
default date, the days since a session, the day an import's dates are checked against) and the days of
`audit show --since/--until` and of an episode's timeline are the clinic's calendar days. Without it a
clinic far from UTC sees UTC's day, and an import of its morning sessions is refused as held tomorrow.

## Output

- `--out -` writes to standard output, for every command that has `--out`: the HTML report, a FHIR Bundle,
  a bulk FHIR export as NDJSON lines (every resource, one type after the other), a CSV export's table, the
  demo's summary. Messages meant for a person then go to standard error. `backup -` is refused (the copy is
  an SQLite file, verified before it is published under its name).
- `-` for a file to read is standard input where the command reads it once: `measures validate` and
  `measures check` (the response or definition), `quality --exclusions`. Anywhere else (`import csv -`,
  `import fhir -`, `--mapping -`, `--key-file -`, `--schema -`) it is refused by the parser (exit 2) in one
  line naming the argument and why: an import reads its source more than once, and resumes from its
  checkpoint by reading it again, which standard input cannot be; a mapping's format is told by its file
  name; a key's file mode is checked. Save the input to a file; a file called `-` is named `./-`.
- `--json` prints data as JSON: times and dates in ISO 8601, no JSON inside strings (caseload rows carry
  `latest_scores`, `alerts` and `lockbox` as objects), counts as numbers. Every command that prints data, or
  a summary of what it did, has it: the exports print what they wrote (`out`, the counts, the files, what
  was not exported and why, the Questionnaires an export names but cannot contain, whether a FHIR export's
  identifiers are in the placeholder systems (`placeholder_identifiers`), `--validate`'s `schema` outcome)
  with `"ok"` saying whether the exit code is 0, `backup` the copy's reports as `verify` does, an
  import its counts, errors, notes and `hint` (what to do about its first error, as the text says it on
  standard error), `report` the file it wrote. Where `--out -` writes the export or the report itself,
  `--json` is refused. `measures validate --json` prints `{"ok": true, "score": ...}` and `measures check
  --json` `{"ok": true, "measure": ...}`; an invalid response or definition (exit 1) is `{"ok": false,
  "invalid": {"field": ..., "rule": ..., "message": ...}, "problems": [...]}`, never the value:
  `problems` lists every problem `measures validate` found in the response, and every meta-schema failure
  of a definition for `measures check` (`invalid` is the first of them). (Without `--json`, `measures
  validate` prints the scored result as JSON too, and `measures check` one line; each problem of an
  invalid one is a line of standard error.)
- **One rule for every output** (`demo --out`, `report --out`, `export fhir --out`, `export csv --out`,
  `backup PATH`): what is already there is refused unless `--replace` is given, with exit 2, before the
  practice is opened (nothing is written, not even an audit entry). For a file output (`export fhir
  --episode --out FILE`, `backup PATH`, and `report.html` and `summary.json` in the `--out` directory of
  `report` and `demo`, whose other files are left alone) that is an existing file; for a directory output
  (`export fhir --all`, `export csv`) a directory that is not empty: an empty one is used as a new one, and
  `--replace` replaces only a previous export (one holding its manifest or data dictionary), never a
  directory of other files. A directory where a file is written, or a file where a directory is, is refused
  even with `--replace`; so is `--replace` with `--out -` (standard output has nothing to replace). An SQLite
  database (the practice itself, a backup copy) is never replaced by an output, with or without
  `--replace`, but by `backup --replace`'s new copy. Whatever is written is published whole: into a hidden
  file or folder beside its name, renamed into place once complete. A device or a pipe (`--out /dev/stdout`)
  is written in place and replaces nothing; a symbolic link or FIFO another user planted at the name is
  refused, never written through; a link of the user's own is followed. A path that cannot be written is
  named with the argument that gave it (`--out a/b: a: not a directory`). One exception, so that the same
  `demo` command can be run again: over its own earlier practice at `--db` (which it replaces), `demo`
  replaces the `summary.json` and `report.html` that practice's demo wrote into `--out`.
- Large outputs are streamed: `audit show --json` writes `{"entries": [...]}` a few entries at a time, and
  `audit show --ndjson` writes one JSON object per line (NDJSON), for `jq -c` or a log shipper. A stop is
  taken between two writes: the NDJSON ends with a whole line.
- With `--json`, a command that fails (exit 2, or 70) or is stopped (130, 143) also prints one JSON object
  on a line of its own on standard output, `{"error": {"kind": ..., "message": ...}}`, besides its line on
  standard error and its exit code: `kind` is `usage` (arguments, options, a missing or foreign practice,
  an input the library refuses), `refused` (the access policy), `store` (the store or its file), `file` (a
  file that cannot be read or written), `error` (another refusal of the library, such as an unknown
  measure), `internal`, or `stopped` (Ctrl-C or SIGTERM); `message` is the standard error line's words,
  which name options, files and rules, never a client's data. Standard output is one JSON document either
  way: when `audit show --json` fails after its document began, the error is the document's last member,
  `{"entries": [...the entries written...], "error": {...}}`, so a script tests `"error" in document` for
  every command alike.

## Exit codes

The same for every command:

- **0**: done.
- **1**: a finding: the command ran and found the problem it looks for (verification found a broken record,
  a backup's copy does not verify, exported resources fail the FHIR schema or name a Questionnaire the
  export cannot contain, an import's source has rows with errors, a measure response or definition is
  invalid).
- **2**: a usage or input error: wrong arguments, a practice that is missing or not alliancekit's, an unknown
  clinic, episode or measure, a file that cannot be read or written, or the library refusing an input.
  Nothing was done; the message names what is wrong, in one line, without a traceback.
- **130**: interrupted (Ctrl-C); **143**: terminated (SIGTERM, as `docker stop` or systemd send). Either
  way the command stops as on an error, with one line on stderr: an export is published whole or not at all
  (its staging copy is removed), an import keeps its last checkpoint (the same command resumes it), and an
  unfinished demo database is removed (in a store at a URL, what the demo made there). A stop that comes
  once the command has finished its work, while its last words are still being written, exits the same way
  with the line `alliancekit: terminated; the command had already finished, and what it did stands` (and,
  with `--json`, no error object after the command's whole document). Only a stop in the last instant, once
  the command has given the signals back (its output flushed), ends the process as Python ends any program:
  the shell still reports 130 or 143, and nothing is lost or half-done.
- **70**: an internal error: a bug (in alliancekit or a plugin), or a record changed outside alliancekit in a
  way no check caught. A stored row that cannot be read (changed outside alliancekit) is exit 2 naming its
  table and key, and a finding (exit 1) of `verify` and `backup`. Standard error names the exception's type
  and the lines it was raised through, never its message: one of Python's own quotes the value it choked
  on, which may be a client's data.

A full disk or an unwritable path is exit 2 naming the path, and leaves no half-written file: every output
file is written beside its name and renamed into place once whole. A reader that stops reading early
(`alliancekit caseload | head`) ends the command quietly with exit 0.

## Commands
"""


def commands(
    parser: argparse.ArgumentParser | None = None, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every command the parser runs (``"audit show"``, ...) and its own parser, in the parser's order."""
    parser = parser or build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in _actions(parser):
        if _is_subcommands(action):
            assert isinstance(action.choices, dict)  # noqa: S101 - a subparsers action maps names to parsers
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                found.update(commands(sub, path) or {path: sub})
    return found


def _help(action: argparse.Action) -> str:
    """The action's help with ``%(default)s`` and friends filled in, as argparse does."""
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    return action.help % {**vars(action), "default": action.default}


def _name(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"`{action.metavar or action.dest}`"
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    if action.choices is not None:
        return f"`{names} {{{','.join(map(str, action.choices))}}}`"
    return f"`{names} {action.metavar or action.dest.upper()}`"


def documented_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a command's page documents: all but ``--help``."""
    return [a for a in _actions(parser) if a.nargs != 0 or a.option_strings != ["-h", "--help"]]


def markdown() -> str:
    """The reference page."""
    root = build_parser()
    parts = [INTRO, "\nOptions of `alliancekit` itself:\n\n"]
    for action in documented_actions(root):
        if not _is_subcommands(action):
            parts.append(f"- {_name(action)}: {_help(action)}\n")
    for path, parser in commands(root).items():
        parts.append(f"\n### `alliancekit {path}`\n\n{parser.description or ''}\n\n")
        for action in documented_actions(parser):
            required = " (required)" if action.required and action.option_strings else ""
            parts.append(f"- {_name(action)}{required}: {_help(action)}\n")
    return "".join(parts)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m alliancekit.cli.reference PATH", file=sys.stderr)
        return 2
    Path(args[0]).write_text(markdown(), encoding="utf-8")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
