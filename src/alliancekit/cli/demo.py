"""``alliancekit demo``: build the deterministic demo practice.

The demo never destroys a practice it did not make. Before touching any file it checks its arguments and
what is at ``--db``: nothing (or an empty file) is filled; an SQLite database the demo made (it carries the
demo mark, ``Practice.mark_demo``) is replaced; any other alliancekit database needs ``--force``, even one
whose clinic is called ``demo-clinic``; a file that is not an alliancekit database is never replaced. At a
store URL (PostgreSQL) the demo fills an empty store only, whose location names the demo's clinic
(``?clinic=demo-clinic``); refused there, interrupted or failed, it removes what it made. A store in
memory (``memory:``, ``:memory:``) is refused: the practice would be gone when the command ends.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import attrs

from alliancekit import Actor, Purpose, Role, open_practice
from alliancekit.cli.common import (
    STDOUT,
    UsageError,
    add_json,
    add_replace,
    check_files_in,
    db_refused,
    iso_date,
    note,
    output,
    output_path,
    shown,
)
from alliancekit.cli.progress import Progress
from alliancekit.cli.signals import Interrupted, signal_of
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import CLINIC, FIRST_TODAY, LAST_TODAY, MAX_CLIENTS, MIN_CLIENTS
from alliancekit.domain.checks import MAX_DATE, MIN_DATE
from alliancekit.errors import (
    NotAnAlliancekitStore,
    StoreError,
    StoreNeedsMigration,
    StoreTooNew,
    ValidationError,
)
from alliancekit.feedback.reports import write_report
from alliancekit.practice import practice_file, practice_files, practice_in_memory, remove_practice_files
from alliancekit.security import bounded_json, private_files


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="create a simulated practice with synthetic clients",
        description="Create a deterministic demo practice: synthetic clients through every lifecycle stage. "
        "An earlier demo database at --db is replaced; any other practice is refused unless --force "
        "is given, and a file that is not an alliancekit database is never replaced.",
    )
    parser.add_argument(
        "--db",
        default="demo.sqlite",
        metavar="LOCATION",
        help="SQLite file (or empty store URL) to create, not a store in memory; never $ALLIANCEKIT_DB "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an alliancekit SQLite database at --db even if the demo did not make it",
    )
    parser.add_argument(
        "--clients",
        type=int,
        default=24,
        metavar="N",
        help=f"number of clients, from {MIN_CLIENTS} to {MAX_CLIENTS:,} (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=7,
        metavar="N",
        help="random seed (default: %(default)s); the same seed gives the same practice",
    )
    parser.add_argument(
        "--today",
        metavar="YYYY-MM-DD",
        type=iso_date,
        help="the clinic's today: intakes fall over the twelve months before it (but one year-long course, "
        "for the twelve-month quality measures), nothing after it (default: today)",
    )
    parser.add_argument(
        "--out",
        type=output_path,
        metavar="DIR",
        help="also write summary.json and report.html into DIR (- prints summary.json)",
    )
    add_replace(parser, "summary.json and report.html in --out")
    add_json(parser, "print the summary as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    parser.set_defaults(run=run)


def _check_out(out: str | None, replace: bool) -> None:
    if out is None:
        if replace:
            raise UsageError("--replace: only with --out (it replaces the files --out names)")
        return
    check_files_in("--out", out, (SUMMARY, "report.html"), replace=replace)


def _make_out(out: str | None) -> list[Path]:
    """Make the ``--out`` directory (a usage error if it cannot be made), so that minutes of simulation are
    not lost to it at the end; return the directories made (removed again if the demo fails)."""
    if out is None or out == STDOUT:
        return []
    try:
        return private_files.make_directory(Path(out))
    except OSError as exc:
        raise UsageError(f"--out {out}: the directory cannot be made ({exc.strerror})") from None


SUMMARY = "summary.json"
MAX_SUMMARY_BYTES = 1 << 20  # a demo's summary is a few KB


def _out_of(out: str | None, location: str) -> bool:
    """Whether ``--out`` holds the summary an earlier demo of the practice at ``location`` wrote."""
    if out is None or out == STDOUT:
        return False
    summary = Path(out) / SUMMARY
    if summary.is_symlink() or not summary.is_file():
        return False
    try:
        with summary.open("rb") as file:
            written = bounded_json.loads(file.read(MAX_SUMMARY_BYTES + 1), max_bytes=MAX_SUMMARY_BYTES)
    except (OSError, ValidationError):
        return False  # not the demo's: --replace decides
    return isinstance(written, dict) and written.get("location") == location


def _replaceable(location: str, force: bool) -> tuple[Path | None, bool]:
    """The SQLite file to remove before the demo writes (``None``: nothing to remove), and whether it is an
    earlier demo's; refuses the rest."""
    if practice_in_memory(location):
        raise UsageError(
            f"--db: {location} is a store in memory, gone when the demo ends; name an SQLite file "
            "(or an empty store URL) to keep the demo practice"
        )
    path = practice_file(location)
    if path is not None and (not path.exists() or (path.is_file() and path.stat().st_size == 0)):
        return None, False  # nothing there, or an empty file: nothing to protect
    if path is not None and not path.is_file():
        raise UsageError(f"--db {location}: not a file")
    try:
        with open_practice(location, read_only=True) as existing:
            clinics, demo = existing.clinics(), existing.is_demo()
    except NotAnAlliancekitStore:
        if path is None:
            return None, False  # an empty store: the demo creates its schema
        raise UsageError(
            f"--db {location}: not an alliancekit database; the demo never replaces other files"
        ) from None
    except (StoreNeedsMigration, StoreTooNew) as exc:  # another version's: whose, it cannot say
        demo, why = False, str(exc)
    except StoreError as exc:
        raise db_refused(location, exc) from None
    else:
        why = f"it holds the clinics {', '.join(clinics)}" if clinics else "it holds no episodes"
    if path is None:
        raise UsageError(
            f"--db {shown(location)}: the store already holds a practice ({why}); the demo fills only an "
            "empty store"
        )
    if demo or force:
        return path, demo
    raise UsageError(
        f"--db {location}: an alliancekit practice the demo did not make ({why}); it is left as it is. "
        "Pass --force to replace it"
    )


def _unfinished(location: str) -> str:
    """Remove the demo cut short at an SQLite file (the demo made it, on nothing or on an earlier demo: nobody
    should mistake it for a whole one); at a store URL, say whether the demo removed what it made."""
    path = practice_file(location)
    if path is None:  # the demo removed what it made in the store (simulate_practice), unless it could not
        try:
            open_practice(location, read_only=True).close()
        except NotAnAlliancekitStore:
            return f"the unfinished demo at {shown(location)} was removed"
        except (StoreError, ValidationError):
            pass
        return f"the demo at {shown(location)} is unfinished; empty the store before running the demo again"
    if not path.exists():  # it could not even be created (a missing directory): nothing to remove
        return ""
    remove_practice_files(path)
    return f"the unfinished demo database {location} was removed"


def _write_report(location: str, out: Path, today: str) -> Path:
    """The demo's HTML report, as of the simulation's last day."""
    with open_practice(location) as practice:
        actor = Actor("demo-supervisor", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)
        return write_report(practice, actor, out, today=date.fromisoformat(today))


def run(args: argparse.Namespace) -> int:
    location = str(args.db)
    # Every argument is checked, and what is at --db judged, before any file is touched.
    if args.clients < MIN_CLIENTS:
        raise UsageError(f"--clients: at least {MIN_CLIENTS}, so that every lifecycle stage appears")
    if args.clients > MAX_CLIENTS:
        raise UsageError(f"--clients: at most {MAX_CLIENTS:,} (2,000 take about eight seconds)")
    if args.today is not None and not FIRST_TODAY <= args.today <= LAST_TODAY:
        before, after = (FIRST_TODAY - MIN_DATE).days, (MAX_DATE - LAST_TODAY).days
        raise UsageError(
            f"--today: from {FIRST_TODAY} to {LAST_TODAY} (the demo records dates from {before} days before "
            f"it to {after} days after it)"
        )
    doomed, earlier_demo = _replaceable(location, args.force)
    # The demo run again over its own practice replaces that run's --out files as it replaces its database
    # (so its README command works a second time); any other file there needs --replace.
    _check_out(args.out, args.replace or (earlier_demo and _out_of(args.out, location)))
    made = _make_out(args.out)  # last of the checks: a directory that cannot be made stops the demo first
    written: list[Path] = []  # the --out files this run created (not those it replaced)
    try:
        return _run(args, location, doomed, written)
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        private_files.remove_made(made)
        raise


def _write_out(directory: Path, name: str, write: Callable[[Path], object], written: list[Path]) -> Path:
    """Write ``name`` in the ``--out`` directory with ``write``; noted in ``written`` if it is new."""
    path = directory / name
    new = not path.exists()
    write(path)
    if new:
        written.append(path)
    return path


def _run(args: argparse.Namespace, location: str, doomed: Path | None, written: list[Path]) -> int:
    if doomed is not None:
        for file in practice_files(doomed):
            file.unlink(missing_ok=True)
    json_on_stdout = args.json or args.out == STDOUT
    progress = Progress("simulating clients", unit="clients", stream=sys.stderr, enabled=not args.quiet)
    try:
        summary = simulate_practice(
            location, clients=args.clients, seed=args.seed, progress=progress, today=args.today
        )
    except KeyboardInterrupt as stop:
        raise Interrupted(signal_of(stop), _unfinished(location)) from None
    except StoreError as exc:  # a full disk, say: an SQLite file the demo began is removed all the same
        if practice_file(location) is None:
            raise
        removed = _unfinished(location)
        if not removed:
            raise
        raise StoreError(f"{exc}; {removed}") from exc
    summary = attrs.evolve(summary, location=shown(location))
    text = json.dumps(attrs.asdict(summary), indent=2) + "\n"
    lines = summary.lines()
    if args.out not in (None, STDOUT):
        directory = Path(args.out)
        summary_file = _write_out(
            directory, SUMMARY, lambda path: private_files.write_text(path, text), written
        )
        lines.append(f"  wrote {summary_file}")
        report = _write_out(
            directory, "report.html", lambda _: _write_report(location, directory, summary.today), written
        )
        lines.append(f"  wrote {report}")
    db = shown(location)
    lines.append(f"  next: alliancekit caseload --db {db}    alliancekit episode show --db {db} ID")
    if json_on_stdout:
        with output(STDOUT) as handle:
            handle.write(text)
    if not (args.quiet and json_on_stdout):
        note("\n".join(lines), to_stderr=json_on_stdout)
    return 0
