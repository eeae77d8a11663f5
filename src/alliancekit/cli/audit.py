"""``alliancekit audit verify`` and ``alliancekit audit show``: check and read the audit log.

``verify`` opens the database read-only (never creating, migrating or switching its journal) and checks
the whole record (:mod:`alliancekit.integrity.verify`). ``show`` reads through the facade as an
administrator, so the read is itself audited.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import attrs

from alliancekit.cli.common import add_clinic, add_db, cli_actor, existing_practice, print_json, table
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import ValidationError
from alliancekit.integrity.verify import verify_record
from alliancekit.plugins.manager import get_plugin_host
from alliancekit.practice import Practice
from alliancekit.store.scan import scan_record


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="verify and read the audit log", description="The audit log.")
    audit_sub = parser.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    check = audit_sub.add_parser(
        "verify",
        help="check the record's hash chains (and seals, with the key)",
        description="Check the event chains, snapshots, caseload projections, audit shards, the audit "
        "log's references to the streams and, given the key, the HMAC seals. Opens the database "
        "read-only. Exit 0 when it checks out, 1 with the first bad entry of each failed check.",
    )
    add_db(check)
    check.add_argument("--key-file", metavar="F", help="file holding the host's audit checkpoint key")
    check.set_defaults(run=run_verify)
    show = audit_sub.add_parser(
        "show", help="list audit entries", description="List audit entries, filtered."
    )
    add_db(show)
    show.add_argument("--client", metavar="REF", help="only entries about this client reference")
    show.add_argument("--actor", metavar="ID", help="only entries by this actor")
    show.add_argument("--since", metavar="DATE", type=_date, help="from this date (YYYY-MM-DD)")
    show.add_argument("--until", metavar="DATE", type=_date, help="up to this date, inclusive")
    add_clinic(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.set_defaults(run=run_show)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a date as YYYY-MM-DD") from None


def read_key(path: str | None) -> bytes | None:
    """The key file's bytes (surrounding whitespace removed); at least 32 bytes."""
    if path is None:
        return None
    key = Path(path).read_bytes().strip()
    if len(key) < 32:
        raise ValidationError("--key-file", "min-length", "a key of at least 32 bytes")
    return key


def run_verify(args: argparse.Namespace) -> int:
    key = read_key(args.key_file)
    host = get_plugin_host()
    store = host.stores().open(Path(args.db), read_only=True)
    with Practice(store, plugins=host) as practice:
        episodes, audit, checkpoints = scan_record(store)
        result = verify_record(
            episodes,
            audit,
            checkpoints,
            key=key,
            fold=practice._fold_stored,  # noqa: SLF001 - minimal port; the facade rewrite exposes it
            project=practice._project_snapshot,  # noqa: SLF001
        )
    print(result.describe())
    return 0 if result.ok else 1


def run_show(args: argparse.Namespace) -> int:
    with existing_practice(args.db) as practice:
        clinic = cli_actor(practice, args).clinic_id
        auditor = Actor("alliancekit-cli", Role.ADMINISTRATOR, clinic, Purpose.OPERATIONS)
        entries = practice.audit_entries(
            auditor, client_ref=args.client, actor_id=args.actor, since=args.since, until=args.until
        )
    if args.json:
        print_json([attrs.asdict(e) for e in entries])
        return 0
    rows = [
        [
            str(e.position),
            e.at.isoformat(timespec="seconds"),
            f"{e.actor_role} {e.actor_id}",
            e.purpose,
            e.action,
            f"{e.record_type} {e.record_id[:12]}",
            e.client_ref or "-",
            e.outcome,
        ]
        for e in entries
    ]
    print(table(rows, ["#", "at", "actor", "purpose", "action", "record", "client", "outcome"]))
    print(f"{len(entries)} entries")
    return 0
