"""Helpers shared by CLI commands: naming and opening a practice, the CLI's actor, output.

A practice is named the same way by every command: ``--db`` takes a path (an SQLite file) or a store URL
(``sqlite:///path``, ``postgresql://...?clinic=north``, any scheme a store plugin registers); without
``--db`` the ``ALLIANCEKIT_DB`` environment variable names it. ``--time-zone`` (else
``ALLIANCEKIT_TIME_ZONE``, else UTC) is the clinic's zone: its calendar day is the command's "today" and the
day of a date given.
"""

from __future__ import annotations

import argparse
import contextlib
import enum
import functools
import io
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import attrs

from alliancekit import Actor, Practice, Purpose, Role, open_practice
from alliancekit.cli import signals
from alliancekit.cli.main import json_document_open
from alliancekit.domain.checks import check_clinic, check_time_zone
from alliancekit.errors import (
    NotAnAlliancekitStore,
    StoreCorrupt,
    StoreError,
    StoreNeedsMigration,
    ValidationError,
)
from alliancekit.practice import practice_file, shown_location
from alliancekit.security import private_files

#: The environment variable that names the practice when ``--db`` is not given.
DB_ENV = "ALLIANCEKIT_DB"

#: The environment variable that gives the clinic's time zone when ``--time-zone`` is not.
TIME_ZONE_ENV = "ALLIANCEKIT_TIME_ZONE"

#: What ``--out -`` means: standard output.
STDOUT = "-"


class UsageError(Exception):
    """A mistake in how the command was called, found after parsing (exit 2, no traceback)."""


def not_with(option: str, other: str, why: str) -> UsageError:
    """Two options given together where one would be ignored: refused, naming both."""
    return UsageError(f"{option}: not with {other} ({why})")


def parser_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return parser._actions  # noqa: SLF001 - argparse has no public way to list a parser's arguments


def is_subcommands(action: argparse.Action) -> bool:
    return isinstance(action, argparse._SubParsersAction)  # noqa: SLF001 - as above


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The parser of the (sub)command ``args`` ran, found by following the chosen subcommands."""
    while True:
        chosen = [a for a in parser_actions(parser) if is_subcommands(a) and getattr(args, a.dest, None)]
        if not chosen:
            return parser
        action = chosen[0]
        assert isinstance(action.choices, dict)  # noqa: S101 - a subparsers action maps names to parsers
        parser = action.choices[getattr(args, action.dest)]


def option_for(parser: argparse.ArgumentParser, field: str) -> str | None:
    """The argument of ``parser`` a library field stands for, named as the usage line shows it: the argument
    taking a value whose destination is the field (an argument's destination is the library parameter it is
    passed to). An option by its long form (``--max-entries``); a positional by its metavar, or by its
    destination where it has none, as argparse shows it (``SOURCE``, ``ID``). None for a field no argument
    gives (a flag's value cannot be wrong: ``json`` is a JSON text's field, not --json)."""
    for action in parser_actions(parser):
        if action.dest != field or action.nargs == 0 or is_subcommands(action):
            continue
        if not action.option_strings:
            return action.metavar if isinstance(action.metavar, str) else action.dest
        names = [o for o in action.option_strings if o.startswith("--")]
        if names:
            return max(names, key=len)
    return None


def argument_of(
    parser: argparse.ArgumentParser, args: argparse.Namespace, name: str
) -> tuple[str, str] | None:
    """The argument of ``parser`` whose path ``name`` is, lies under (``--out DIR``'s ``DIR/report.html``) or
    blocks as a file on the way to (``--out a/b``'s file ``a``): its name as :func:`option_for` gives it, and
    the path given.
    None when no argument's value is such a path (a file the command chose itself)."""
    target = os.path.abspath(name)
    found: tuple[str, str] | None = None
    for action in parser_actions(parser):
        value = getattr(args, action.dest, None)
        if action.nargs == 0 or is_subcommands(action) or not isinstance(value, str) or value in ("", STDOUT):
            continue
        option = option_for(parser, action.dest)
        given = os.path.abspath(value)
        if option is None or "://" in value:
            continue
        if target == given or target.startswith(given.rstrip(os.sep) + os.sep):
            return option, value  # the path itself, or a file in it: the closest match
        # a file on the way to the path, where a directory must be: no other argument's path can be under it
        blocking = os.path.lexists(target) and not os.path.isdir(target)
        if found is None and blocking and given.startswith(target.rstrip(os.sep) + os.sep):
            found = option, value
    return found


def os_error_text(parser: argparse.ArgumentParser, args: argparse.Namespace, exc: OSError) -> str:
    """A file the command could not read or write, in one line naming the argument it came from (``--out
    a/b: a is not a directory``) and the system's reason; the path alone when no argument gave it."""
    reason = exc.strerror or type(exc).__name__
    names = [str(n) for n in (exc.filename2, exc.filename) if n is not None]
    for name in names:
        found = argument_of(parser, args, name)
        if found is None:
            continue
        option, value = found
        target, given = os.path.abspath(name), os.path.abspath(value)
        if target == given or target.startswith(given.rstrip(os.sep) + os.sep):
            return f"{option} {name}: {reason}"
        return f"{option} {value}: {name}: not a directory"  # a file where a directory must be made
    return f"{names[-1]}: {reason}" if names else reason


def in_options(parser: argparse.ArgumentParser, error: ValidationError) -> str:
    """A library error as the CLI says it: the option (or positional) the user typed in place of the
    library's field."""
    option = option_for(parser, error.field)
    message = str(error)
    if option is None or not message.startswith(f"{error.field}: "):
        return message
    return f"{option}{message[len(error.field) :]}"


def output_path(value: str) -> str:
    """An argparse type for an argument naming where a command writes (its metavar is ``DIR`` or ``PATH``):
    not blank. A blank one was taken for the current directory (``report --out ""`` wrote ``./report.html``)
    or made a file named by spaces."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty; name a file or directory, or - for standard output")
    return value


def input_file(value: str) -> str:
    """An argparse type for an option naming a file to read (its metavar is ``FILE``): not blank. ``-`` is
    taken as it is, for an option that reads standard input; any other uses :func:`named_file`."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty; name a file")
    return value


#: What ``-`` means for an input that reads standard input (``measures validate -``, ``--exclusions -``).
STDIN = "-"


def named_file(why: str) -> Callable[[str], str]:
    """An argparse type for an argument naming a file standard input cannot stand in for: not blank, and
    ``-`` refused saying ``why`` (argparse names the argument; exit 2), rather than read as a file called
    ``-`` or reported as missing. A file called ``-`` is named ``./-``."""

    @functools.wraps(input_file)  # a file name all the same (``inspect.unwrap`` finds input_file)
    def named(value: str) -> str:
        if value == STDIN:
            raise argparse.ArgumentTypeError(
                f"- (standard input) is not read here: {why}; name a file (./- for a file called -)"
            )
        return input_file(value)

    return named


#: Why ``--key-file -`` is refused, for every command that takes a key.
KEY_FILE_NAMED = "a key is kept in a file only its owner can read, and the file's mode is checked"


@contextlib.contextmanager
def reading(option: str, path: str) -> Iterator[None]:
    """A file the user named with ``option`` that cannot be read is a usage error naming the option."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or 'cannot be read'}") from None


def read_key_file(path: str, *, min_bytes: int, trim: Callable[[bytes], bytes]) -> bytes:
    """The key in the file ``--key-file`` names, ``trim``-med; too short, or unreadable, a usage error (the
    key is never in a message)."""
    with reading("--key-file", path):
        key = trim(Path(path).read_bytes())
        mode = Path(path).stat().st_mode
    if len(key) < min_bytes:
        raise UsageError(f"--key-file {path}: too-short (a key of at least {min_bytes} bytes)")
    # warned, not refused: secret volumes (Kubernetes' default among them) mount keys 0644 in a container
    # nobody else shares; on a shared machine, whoever reads the key can re-identify or forge
    if os.name == "posix" and stat.S_ISREG(mode) and mode & 0o077:
        shown_mode = f"{stat.S_IMODE(mode):04o}"
        print(
            f"alliancekit: warning: --key-file {path}: open to other users (mode {shown_mode}); chmod 600 it",
            file=sys.stderr,
        )
    return key


def add_db(
    parser: argparse.ArgumentParser, help: str = "the practice", *, default: str = "", time_zone: bool = True
) -> None:
    """``--db`` (and ``--time-zone``, for a command that has a "today"), as every command names a practice;
    ``default`` says what the command does without either (the default: it needs one)."""
    parser.add_argument(
        "--db",
        metavar="LOCATION",
        help=f"{help}: an SQLite file path or a store URL (sqlite:///path, postgresql://...?clinic=ID); "
        f"default: ${DB_ENV}{default}",
    )
    if not time_zone:
        return
    parser.add_argument(
        "--time-zone",
        metavar="NAME",
        help="the clinic's IANA time zone (Pacific/Auckland): its calendar day is today and the day of a "
        f"date given; default: ${TIME_ZONE_ENV}, else UTC",
    )


def zone_of(args: argparse.Namespace) -> ZoneInfo:
    """The clinic's time zone: ``--time-zone``, else ``$ALLIANCEKIT_TIME_ZONE``, else UTC."""
    given = getattr(args, "time_zone", None)
    if given is not None:
        return check_time_zone("time_zone", given)  # named --time-zone by the CLI's error handler
    try:
        return check_time_zone("time_zone", os.environ.get(TIME_ZONE_ENV) or "UTC")
    except ValidationError as exc:
        raise UsageError(f"${TIME_ZONE_ENV}: {exc.rule} ({exc.detail})") from None


def names_practice(args: argparse.Namespace) -> bool:
    """Whether the command was given a practice (``--db``, or ``$ALLIANCEKIT_DB``): for a command that
    works without one (``measures``). A blank ``--db`` is a mistake, refused by :func:`location_of`."""
    return args.db is not None or bool(os.environ.get(DB_ENV))


def location_of(args: argparse.Namespace) -> str:
    """The practice's location: ``--db``, else ``$ALLIANCEKIT_DB``."""
    if args.db == "":  # given but blank: a mistake, not a request for $ALLIANCEKIT_DB
        raise UsageError("--db: empty; name the practice (a file path or a store URL)")
    location = args.db or os.environ.get(DB_ENV)
    if not location:
        raise UsageError(f"--db: name the practice (a file path or a store URL), or set {DB_ENV}")
    return str(location)


def shown(location: str) -> str:
    """The location as messages show it: a URL without its password (in the user part or the query)."""
    return shown_location(location)


def existing_practice(
    args: argparse.Namespace,
    *,
    read_only: bool = False,
    audit_key: bytes | None = None,
    too_old: str | None = None,
) -> Practice:
    """Open the existing practice the command names; never create, migrate or convert one by accident.

    Opened read-only, or for writing with ``create=False`` (every read of clinical content writes its audit
    entry): either refuses a missing, empty or foreign database without touching it, in one opening (one
    connection pool on PostgreSQL). ``too_old`` replaces the store's advice for a database too old to read
    without migrating it ("open it for writing once"), for a command that must not migrate it.
    """
    location, zone = location_of(args), zone_of(args)
    try:
        return open_practice(location, read_only=read_only, create=False, audit_key=audit_key, time_zone=zone)
    except NotAnAlliancekitStore as exc:
        raise UsageError(f"no alliancekit database at {shown(location)} ({_why(location, exc)})") from None
    except StoreCorrupt:
        raise  # it names the file; verify reports it as a failed check
    except (StoreError, ValidationError) as exc:
        why = too_old if isinstance(exc, StoreNeedsMigration) and too_old is not None else exc
        raise db_refused(location, why) from None


def db_refused(location: str, why: object) -> UsageError:
    """The store's refusal of the practice at ``location``, naming the location once: an error whose words
    name the store it carries (:attr:`StoreError.location <alliancekit.errors.StoreError.location>`, set
    where the store opens: ``cannot open P: ...``) is shown as it is, any other after ``--db P:``."""
    text = str(why)
    where = why.location if isinstance(why, StoreError) else None
    # the store's own words name the file the way it opened it: "cannot open P: ...", "cannot write P ..."
    if where and re.search(rf"\b(?:open|write|read) {re.escape(where)}(?=[:\s]|$)", text):
        return UsageError(text)
    return UsageError(f"--db {shown(location)}: {text}")


def _why(location: str, refusal: NotAnAlliancekitStore) -> str:
    """Why there is no practice at ``location``, in plain words for a file, else the store's words."""
    path = practice_file(location)
    if path is None:
        return str(refusal)
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "it is a directory"
    if path.stat().st_size == 0:
        return "the file is empty"
    return "the file is something else"


def cli_actor(practice: Practice, args: argparse.Namespace) -> Actor:
    """The CLI acts as a supervisor of the clinic named by ``--clinic``, or of the only clinic there is.

    A ``--clinic`` the practice does not hold is a mistake (most likely a typo), not an empty clinic.
    """
    clinics = practice.clinics()
    clinic = given_clinic(args)
    if clinic is None:
        if len(clinics) > 1:
            raise UsageError(
                f"--clinic: the practice holds {len(clinics)} clinics ({', '.join(clinics)}); name one"
            )
        clinic = clinics[0] if clinics else default_clinic(practice)
    elif clinic not in clinics:
        raise unknown_clinic(clinics)
    return Actor("alliancekit-cli", Role.SUPERVISOR, clinic, Purpose.OPERATIONS)


def default_clinic(practice: Practice) -> str:
    """The clinic a command acts for in a practice without episodes yet: the one a clinic-scoped store acts
    for (the PostgreSQL store's ``?clinic=``, which refuses every other clinic's rows), else ``default``."""
    return practice.clinic_scope or "default"


def unknown_clinic(clinics: list[str]) -> UsageError:
    """A ``--clinic`` the practice does not hold, in one wording for every command: the clinics it does hold,
    never the value given (it may be a client's name typed in the wrong place)."""
    known = ", ".join(clinics) or "none yet"
    return UsageError(f"--clinic: no such clinic in this practice (it holds: {known})")


def given_clinic(args: argparse.Namespace) -> str | None:
    """``--clinic`` as given; blank is a mistake, not a request for the only clinic, and an id the library
    refuses (``" north"``, a zero-width space) is refused by its rule, not reported as an unknown clinic."""
    clinic = getattr(args, "clinic", None)
    if clinic is not None and not clinic.strip():
        raise UsageError("--clinic: empty; name a clinic, or leave the option out")
    return None if clinic is None else check_clinic("clinic", clinic)


def add_clinic(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clinic", metavar="ID", help="clinic id (needed when the practice holds several)")


def add_json(parser: argparse.ArgumentParser, what: str = "print JSON instead of text") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def iso_date(value: str) -> date:
    """An argparse type: a date as YYYY-MM-DD (a wrong one is a usage error, found before anything opens)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def json_value(value: Any) -> Any:
    """``json.dump``'s fallback: ISO 8601 times, records as objects; anything else is a bug, not a str()."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        return attrs.asdict(value, recurse=False)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    raise TypeError(f"no JSON form for {type(value).__name__}")


def print_json(data: Any, *, sort_keys: bool = False) -> None:
    """``data`` as indented JSON on stdout; ``sort_keys`` for data read back from a store, whose maps come
    back in an order of the store's (PostgreSQL's JSONB keeps none), so that every store prints the same."""
    with output(STDOUT) as out:
        json.dump(data, out, indent=2, ensure_ascii=False, default=json_value, sort_keys=sort_keys)
        out.write("\n")


#: One encoder for streamed items (``json.dumps`` with options builds a new one per call).
_ITEM = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=json_value)


#: How much of a streamed document is written at once (whole entries; a stop is taken between two writes).
_CHUNK = 64 * 1024


def print_ndjson(items: Iterable[Any]) -> None:
    """One JSON value per line, written a few lines at a time as they are produced (nothing is collected
    first). A stop is taken between two writes, so that standard output ends with a whole line."""
    with signals.held_until_checked():
        _write_in_chunks(_stdout_writer(), (_ITEM.encode(item) + "\n" for item in items))


def print_json_entries(items: Iterable[Any]) -> None:
    """``{"entries": [...]}`` on stdout, written a few entries at a time: its first entries go out before the
    last are made. A failure after it began (a stop is taken between two writes, never inside one) leaves it
    open, and the command's error object ends it as its ``error`` member
    (:func:`~alliancekit.cli.main.json_error`): stdout is one JSON document either way."""
    with signals.held_until_checked():
        write = _stdout_writer()
        write('{\n  "entries": [')
        json_document_open(True)
        texts = ((",\n    " if n else "\n    ") + _ITEM.encode(item) for n, item in enumerate(items))
        _write_in_chunks(write, texts)
        write("\n  ]\n}\n")
        json_document_open(False)


def _write_in_chunks(write: Callable[[str], None], texts: Iterable[str]) -> None:
    """``texts`` written about :data:`_CHUNK` characters at a time, a held stop taken after each write."""
    chunk: list[str] = []
    size = 0
    for text in texts:
        chunk.append(text)
        size += len(text)
        if size >= _CHUNK:
            write("".join(chunk))
            chunk, size = [], 0
            signals.check()
    write("".join(chunk))


def _stdout_writer() -> Callable[[str], None]:
    """Write text to stdout as UTF-8, all of it or raising; on a file descriptor by ``os.write`` itself, whose
    every partial write is accounted for, so that a signal arriving mid-write loses nothing (through Python's
    buffered layers, a stop taken while a write was blocked on a full pipe lost part of it)."""
    sys.stdout.flush()
    try:
        fd: int | None = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a host's StringIO, pytest's capture
        fd = None

    def write(text: str) -> None:
        if fd is None:
            sys.stdout.write(text)
            return
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]

    return write


#: The first bytes of every SQLite database file (https://www.sqlite.org/fileformat.html, section 1.3).
SQLITE_HEADER = b"SQLite format 3\x00"


def check_output(option: str, name: str) -> None:
    """Refuse an output file ``name`` (given as ``option``) that would replace an SQLite database: a practice
    (the one the command reads, as ``--out`` typed for ``--db`` names it), a backup copy. An earlier output
    is replaced; a database never is: the command's text would destroy it. Called before the practice is
    read, so that a refused command writes nothing, not even an audit entry."""
    if name == STDOUT:
        return
    try:
        # not blocking on a pipe planted at the name; only a regular file's first bytes are read
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return  # nothing there, or nothing readable: the write itself says what is wrong
    try:
        is_database = stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, len(SQLITE_HEADER)) == SQLITE_HEADER
    finally:
        os.close(fd)
    if is_database:
        raise UsageError(
            f"{option} {name}: an SQLite database, never replaced by an output; name another one"
        )


#: The option that lets a command replace what is at its output (see :func:`check_target`).
REPLACE = "--replace"


def add_replace(parser: argparse.ArgumentParser, what: str) -> None:
    """``--replace``, which every command that writes files or folders takes (:func:`check_target`)."""
    parser.add_argument(
        REPLACE, action="store_true", help=f"replace {what} (without it, an existing one is refused)"
    )


def check_target(
    option: str,
    name: str,
    *,
    replace: bool,
    directory: bool = False,
    database: bool = False,
    stdout: str | None = None,
) -> None:
    """The one rule for what a command writes, checked before the practice is opened (a refused command
    writes nothing, not even an audit entry); docs/reference/cli.md, "Output", says it for the user.

    An output that exists is refused (exit 2) unless ``--replace`` is given: a regular file at a file output
    (``directory=False``; a device or a pipe, ``/dev/stdout``, is written in place and replaces nothing), a
    non-empty directory at a directory output (an empty one is used as a new one). A directory at a file
    output, or a file at a directory output, is refused even so. An SQLite database is never replaced
    (:func:`check_output`) but by a command whose output is one (``database=True``: ``backup``). ``-`` is
    standard output where the command writes one there (``stdout`` is None), else refused saying ``stdout``
    (why not); with ``--replace`` it is a mistake (nothing to replace). Written, an output is published by
    renaming it into place once whole, and a link another user planted at its name is refused
    (:mod:`alliancekit.security.private_files`, :mod:`alliancekit.exports.publish`).
    """
    if name == STDOUT:
        if stdout is not None:
            raise UsageError(f"{option} -: not standard output: {stdout}; name a file")
        if replace:
            raise not_with(REPLACE, f"{option} -", "standard output has nothing to replace")
        return
    if directory:
        if os.path.lexists(name) and not os.path.isdir(name):
            raise UsageError(f"{option} {name}: exists and is not a directory")
        if os.path.isdir(name) and not replace and _holds_files(name):
            raise UsageError(
                f"{option} {name}: exists and is not empty; pass {REPLACE} to replace a previous export"
            )
        return
    try:  # a link or FIFO another user planted is refused first (PermissionError), as the write would be
        found = private_files.landing(Path(name))
    except PermissionError:
        raise
    except OSError:  # a file on the way to it, say: the command's own checks, or the write, say what
        found = None
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise UsageError(f"{option} {name}: a directory; name a file")
    if not database:
        check_output(option, name)
    if found is not None and stat.S_ISREG(found.st_mode) and not replace:
        raise UsageError(f"{option} {name}: exists; pass {REPLACE} to replace it")


def _holds_files(directory: str) -> bool:
    with os.scandir(directory) as entries:
        return any(entries)


def check_files_in(option: str, name: str, files: Iterable[str], *, replace: bool) -> None:
    """:func:`check_target` for the files a command writes into the directory ``name`` (``report.html``):
    each is an output; what else the directory holds is left as it is. ``-`` is standard output."""
    if name == STDOUT:
        check_target(option, name, replace=replace)
        return
    if os.path.lexists(name) and not os.path.isdir(name):
        raise UsageError(f"{option} {name}: exists and is not a directory")
    for file in files:
        check_target(option, os.path.join(name, file), replace=replace)


@contextlib.contextmanager
def output(name: str, option: str = "--out") -> Iterator[IO[str]]:
    """The file ``name`` opened for writing text (its directory created; the file published whole or not at
    all), or standard output for ``-``. Whether a file there may be replaced is decided before
    (:func:`check_target`); a database is refused here too (:func:`check_output`).

    Both take UTF-8 whatever the locale (the HTML report and JSON say they are UTF-8); standard output is
    flushed, never closed.
    """
    if name == STDOUT and not hasattr(sys.stdout, "buffer"):  # a text-only stand-in (a host's StringIO)
        yield sys.stdout
        return
    if name == STDOUT:
        sys.stdout.flush()
        stream = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            yield stream
        finally:
            stream.flush()
            stream.detach()  # leaves sys.stdout's buffer open
        return
    check_output(option, name)
    path = Path(name)
    # a full disk or Ctrl-C leaves no half-written file, nor the directories made for it
    with private_files.directory_for(path.parent), private_files.replacing(path) as handle:
        yield handle


def note(text: str, *, to_stderr: bool) -> None:
    """A message for the person at the terminal: on stderr when stdout carries the command's data."""
    print(text, file=sys.stderr if to_stderr else sys.stdout)


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
