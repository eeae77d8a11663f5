"""``alliancekit verify``: check the whole record (the schema version against the structure, event chains,
snapshots, projections, audit chains, seals, the measure definitions kept with the data).

Opens the database read-only: a missing, empty or foreign file is an error, and nothing is created,
migrated or converted (a copy under investigation stays byte for byte as it was found).

The file owner's tool: it verifies every clinic in the file (or the one ``--clinic`` names), one report per
clinic, each made as that clinic's administrator would get it through :meth:`alliancekit.Practice.verify`.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from typing import Any

from alliancekit.cli.common import (
    KEY_FILE_NAMED,
    add_db,
    add_json,
    default_clinic,
    existing_practice,
    given_clinic,
    named_file,
    print_json,
    read_key_file,
    unknown_clinic,
)
from alliancekit.cli.progress import Progress
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.domain.checks import check_clinic
from alliancekit.errors import StoreCorrupt, ValidationError
from alliancekit.integrity.verify import IntegrityReport

#: The audit checkpoint key's least length.
MIN_AUDIT_KEY_BYTES = 32


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "verify",
        help="check that the record has not been tampered with",
        description="Check every episode's event chain, snapshot and caseload row, the audit chains, the "
        "measure definitions kept with the data (each against its hash and the installed plugin's definition "
        "of the same version; every administered one present), the idempotency records and administration "
        "requests (each naming an episode the clinic holds, with consistent times and only hashed secrets) "
        "and, given the key, the HMAC checkpoints. "
        "Opens the database read-only. Prints one report per clinic "
        "in the file (each counting and naming that clinic's episodes and audit entries only, and checking "
        "that clinic's audit chains and checkpoints; those a file from before chains per clinic shared are "
        "checked whole in each). Exit 0 when everything checks out, "
        "1 naming the first bad entry of each failed check.",
    )
    add_verify_arguments(parser)
    parser.set_defaults(run=run)


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    parser.add_argument(
        "--key-file",
        metavar="FILE",
        type=named_file(KEY_FILE_NAMED),
        help="file holding the host's audit checkpoint key",
    )
    parser.add_argument(
        "--clinic", metavar="ID", help="verify this clinic only (default: every clinic with episodes)"
    )
    add_json(parser, 'print {"ok": ..., "reports": [one report per clinic]} as JSON')


def read_key(path: str | None) -> bytes | None:
    """The key file's bytes (surrounding whitespace removed); at least 32 bytes."""
    if path is None:
        return None
    return read_key_file(path, min_bytes=MIN_AUDIT_KEY_BYTES, trim=bytes.strip)


def run(args: argparse.Namespace) -> int:
    key = read_key(args.key_file)
    reports: list[IntegrityReport] = []
    damaged: str | None = None
    try:
        with existing_practice(args, read_only=True, audit_key=key) as practice:
            chosen = _clinics(practice.clinics(), given_clinic(args), default_clinic(practice))
            for clinic in chosen:  # a line a clinic, ended even when the walk stops early (Ctrl-C)
                with closing(Progress(f"verifying clinic {clinic}", unit="episodes")) as progress:
                    reports.append(practice.verify(verifier(clinic), progress=progress))
    except StoreCorrupt as exc:  # the file itself is broken: the check failed, it is not a usage error
        damaged = str(exc)
    ok = damaged is None and all(report.ok for report in reports)
    if args.json:
        shown: dict[str, Any] = {"ok": ok, "reports": [report.as_dict() for report in reports]}
        if damaged is not None:
            shown["damaged"] = damaged
        print_json(shown)
    else:
        for report in reports:
            print(f"clinic {report.clinic}: {report.describe()}")
        if damaged is not None:
            print(f"record damaged: {damaged}")
    return 0 if ok else 1


def reportable(known: list[object]) -> list[str]:
    """The clinics a report can be made for among ``known`` (as the caseload rows name them): those that are
    clinic ids. A row whose clinic was changed outside alliancekit into something else names no clinic of
    its own: its episode's events still name its clinic, whose report finds the row."""
    ids = []
    for clinic in known:
        try:
            ids.append(check_clinic("clinic", clinic))
        except ValidationError:
            continue
    return ids


def _clinics(known: list[str], chosen: str | None, default: str) -> list[str]:
    """The clinics to verify: every clinic with episodes, or the one named (a practice without episodes is
    verified as clinic ``default``, its store's own clinic for a clinic-scoped store: its audit chains and
    checkpoints are still checked)."""
    known = reportable(list(known))
    if chosen is None:
        return known or [default]
    if chosen not in known:
        raise unknown_clinic(known)
    return [chosen]


def verifier(clinic: str) -> Actor:
    return Actor("alliancekit-cli", Role.ADMINISTRATOR, clinic, Purpose.OPERATIONS)
