"""``alliancekit audit verify`` and ``alliancekit audit show``: check and read the audit log.

``verify`` is :mod:`alliancekit.cli.verify` (read-only). ``show`` reads through the facade as an
administrator, so the read is itself audited.
"""

from __future__ import annotations

import argparse
from datetime import date

import attrs

from alliancekit.cli import verify
from alliancekit.cli.common import add_clinic, add_db, cli_actor, existing_practice, print_json, table
from alliancekit.domain import Actor, Purpose, Role


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("audit", help="verify and read the audit log", description="The audit log.")
    audit_sub = parser.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    check = audit_sub.add_parser(
        "verify",
        help="the same as `alliancekit verify`",
        description="Check the whole record, the audit log included (the same as `alliancekit verify`).",
    )
    verify.add_verify_arguments(check)
    check.set_defaults(run=verify.run)
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
