"""``alliancekit backup``: a consistent copy of a live SQLite practice, verified before it is published.

The copy is taken with SQLite's online backup API by the store (:meth:`alliancekit.Practice.back_up`): one
read snapshot, while other processes keep writing; never ``cp``, which can tear a database that a writer is
committing to, or leave its ``-wal`` file behind. The copy is owner-only (mode 0600), and it
is published under ``PATH`` only once SQLite finds its structure sound and ``alliancekit verify``'s checks
pass on it, for every clinic in the file; otherwise nothing is left at ``PATH`` (exit 1), nor on a full disk
or Ctrl-C. A file an older release wrote is copied as it stands, never upgraded first (the copy to keep
before upgrading). A PostgreSQL practice is backed up with the server's own tools (``pg_dump``, base backups).
"""

from __future__ import annotations

import argparse
import os
from contextlib import closing
from pathlib import Path
from typing import Any

from alliancekit import Actor, open_practice
from alliancekit.cli.common import (
    KEY_FILE_NAMED,
    UsageError,
    add_db,
    add_json,
    add_replace,
    check_target,
    existing_practice,
    location_of,
    named_file,
    print_json,
    shown,
)
from alliancekit.cli.progress import Progress
from alliancekit.cli.verify import read_key, reportable, verifier
from alliancekit.domain.vocab import Purpose, Role
from alliancekit.errors import StoreCorrupt
from alliancekit.integrity.verify import IntegrityReport
from alliancekit.practice import practice_file, practice_in_memory, practice_journal

#: Why a file too old to read as it stands is not backed up, and how to keep its copy: the store's advice
#: (open it for writing once, which upgrades it) would lose the copy of the file as the older release left
#: it, which is what a backup before upgrading is for.
TOO_OLD = (
    "written by an alliancekit too old for this one to read without upgrading the file, and a backup never "
    "upgrades what it copies: copy it with the alliancekit release that wrote it, or copy the file (with "
    "its -wal and -shm files, if any) while nothing writes to it"
)


#: Why ``PATH`` cannot be ``-``: a backup is a database, published only once it verifies.
BACKUP_NOT_STDOUT = "the copy is an SQLite file, verified before it is published under its name"


class CopyFailedVerification(Exception):
    """The staged copy did not verify: it is not published."""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "backup",
        help="copy a live SQLite practice safely, and verify the copy",
        description="Copy an SQLite practice with SQLite's online backup API (one consistent snapshot, while "
        "other processes keep writing), owner-only (mode 0600), then check the copy as `alliancekit verify` "
        "does (every clinic; with --key-file, the seals too). The copy is published at PATH only if it "
        "verifies: exit 0; exit 1 when it does not (nothing is left at PATH). The backup is audited in the "
        "log of every clinic in the file (as the clinic's administrator, or as the system for a file of "
        "several clinics). A file an older release wrote is copied as it is, at its schema version, not "
        "upgraded (and not audited: the entry would upgrade it). A PostgreSQL practice is backed up with "
        "the server's tools (pg_dump).",
    )
    add_db(parser, help="the practice to copy")
    parser.add_argument("copy", metavar="PATH", help="the copy to write (a new file)")
    add_replace(parser, "an earlier copy at PATH")
    parser.add_argument(
        "--key-file",
        metavar="FILE",
        type=named_file(KEY_FILE_NAMED),
        help="file holding the host's audit checkpoint key",
    )
    add_json(
        parser,
        'print {"ok": ..., "copy": PATH or null, "reports": [the copy\'s report per clinic]} as JSON '
        "(verify's reports)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    location = location_of(args)
    source = practice_file(location)
    if source is None or practice_in_memory(location):
        raise UsageError(
            f"--db {shown(location)}: not an SQLite file; back up a PostgreSQL practice with the server's "
            "tools (pg_dump, base backups)"
        )
    out = Path(args.copy)
    if not args.copy.strip():
        raise UsageError("PATH: empty; name the copy's file")
    check_target("PATH", args.copy, replace=args.replace, database=True, stdout=BACKUP_NOT_STDOUT)
    if out.resolve() == source.resolve():
        raise UsageError(f"PATH {args.copy}: the practice itself; name another file")
    if args.replace and (journal := practice_journal(out)) is not None:  # before the backup is audited
        raise UsageError(
            f"PATH {args.copy}: {journal.name} is beside it: a database in use (or not closed cleanly) is "
            "never replaced, since SQLite would apply that file to the copy; name another file"
        )
    if not out.parent.is_dir():  # before the practice is opened (and the backup audited)
        what = "not a directory" if out.parent.exists() else "no such directory"
        raise UsageError(f"PATH {args.copy}: {what}: {out.parent}")
    if not os.access(out.parent, os.W_OK | os.X_OK):  # before the backup's audit entry is written
        raise UsageError(f"PATH {args.copy}: Permission denied (its directory is not writable)")
    key = read_key(args.key_file)
    reports: list[IntegrityReport] = []

    def verified(staged: str) -> None:
        with open_practice(staged, read_only=True, audit_key=key) as copy:
            for clinic in reportable(list(copy.clinics())) or ["default"]:
                with closing(Progress(f"verifying the copy, clinic {clinic}", unit="episodes")) as progress:
                    reports.append(copy.verify(verifier(clinic), progress=progress))
        if not all(report.ok for report in reports):
            raise CopyFailedVerification

    try:  # a missing, foreign or damaged practice is refused as every command refuses it
        # first read-only, which never upgrades: a file an older release wrote is copied as it stands
        with existing_practice(args, read_only=True, too_old=TOO_OLD) as peek:
            versions = peek.schema_versions
        behind = versions is not None and versions[0] < versions[1]
        # else opened for writing: the backup is audited, in the log of every clinic in the file
        with existing_practice(args, read_only=behind) as practice:
            try:
                practice.back_up(backer(practice.clinics(every_record=True)), out, check=verified)
            except OSError as exc:  # named by the copy's PATH, not by the hidden staging file beside it
                if exc.filename is None or Path(exc.filename).parent != out.parent:
                    raise
                raise UsageError(f"PATH {args.copy}: {exc.strerror or type(exc).__name__}") from None
    except CopyFailedVerification:
        return _said(args, reports, f"the copy did not verify: nothing was written to {args.copy}")
    except StoreCorrupt as exc:
        line = f"record damaged: {exc}; nothing was written to {args.copy}"
        return _said(args, reports, line, damaged=str(exc))
    older = None
    if behind and versions is not None:
        older = (
            f"the copy is at schema version {versions[0]}, as the file is (this alliancekit's is "
            f"{versions[1]}; it upgrades the file when it is first opened for writing); the file's audit log "
            "has no entry for this copy: writing one would have upgraded the file"
        )
    if args.json:
        document: dict[str, Any] = {"ok": True, "copy": args.copy, "reports": [r.as_dict() for r in reports]}
        document["schema_version"] = None if versions is None else versions[0]
        document["audited"] = not behind
        print_json(document)
        return 0
    for report in reports:
        print(f"clinic {report.clinic}: {report.describe()}")
    print(f"wrote {args.copy}")
    if older is not None:
        print(older)
    return 0


def _said(args: Any, reports: list[IntegrityReport], line: str, damaged: str | None = None) -> int:
    """A copy not published (exit 1): the copy's reports and why, as text or, with ``--json``, as verify's
    document with ``"copy": null`` (and verify's ``damaged`` for a damaged record)."""
    if args.json:
        document: dict[str, Any] = {"ok": False, "copy": None, "reports": [r.as_dict() for r in reports]}
        if damaged is not None:
            document["damaged"] = damaged
        print_json(document)
        return 1
    for report in [] if damaged is not None else reports:  # a damaged record: the line says it all
        print(f"clinic {report.clinic}: {report.describe()}")
    print(line)
    return 1


def backer(clinics: list[str]) -> Actor:
    """Who the command backs up as: the administrator of the clinic whose records the file holds, or the
    system actor for a file holding several clinics' (an administrator backs up only their own clinic's)."""
    if len(clinics) == 1:
        return verifier(clinics[0])
    return Actor("alliancekit-cli", Role.SYSTEM, (clinics or ["default"])[0], Purpose.OPERATIONS)
