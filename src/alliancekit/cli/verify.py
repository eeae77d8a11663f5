"""``alliancekit verify``: check the whole record (event chains, snapshots, projections, audit chains, seals).

Opens the database read-only: a missing, empty or foreign file is an error, and nothing is created,
migrated or converted (a copy under investigation stays byte for byte as it was found).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alliancekit.cli.common import add_db, add_json, existing_practice, print_json
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import ValidationError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "verify",
        help="check that the record has not been tampered with",
        description="Check every episode's event chain, snapshot and caseload row, the audit chains and, "
        "given the key, the HMAC checkpoints. Opens the database read-only. Exit 0 when everything checks "
        "out, 1 naming the first bad entry of each failed check.",
    )
    add_verify_arguments(parser)
    parser.set_defaults(run=run)


def add_verify_arguments(parser: argparse.ArgumentParser) -> None:
    add_db(parser)
    parser.add_argument("--key-file", metavar="F", help="file holding the host's audit checkpoint key")
    add_json(parser, "print the report as JSON")


def read_key(path: str | None) -> bytes | None:
    """The key file's bytes (surrounding whitespace removed); at least 32 bytes."""
    if path is None:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError:
        raise ValidationError("--key-file", "readable", "the key file cannot be read") from None
    if len(key) < 32:
        raise ValidationError("--key-file", "min-length", "a key of at least 32 bytes")
    return key


def run(args: argparse.Namespace) -> int:
    key = read_key(args.key_file)
    with existing_practice(args, read_only=True, audit_key=key) as practice:
        clinics = practice.clinics()
        verifier = Actor(
            "alliancekit-cli", Role.ADMINISTRATOR, clinics[0] if clinics else "default", Purpose.OPERATIONS
        )
        report = practice.verify(verifier)
    if args.json:
        print_json(report.as_dict())
    else:
        print(report.describe())
    return 0 if report.ok else 1
