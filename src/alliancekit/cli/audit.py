"""``alliancekit audit verify`` and ``alliancekit audit show``: check and read the audit log.

``verify`` is :mod:`alliancekit.cli.verify` (read-only). ``show`` reads through the facade as an
administrator, so the read is itself audited. Its JSON is streamed entry by entry: a large log is never
built into one document in memory (``--ndjson`` writes one object per line). It is an object,
``{"entries": [...]}``, rather than a bare array, so that a failure after it began can end it as its
``error`` member and standard output stays one JSON document.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

import attrs

from alliancekit import Actor, AuditRecord, Purpose, Role
from alliancekit.cli import verify
from alliancekit.cli.common import (
    UsageError,
    add_clinic,
    add_db,
    cli_actor,
    existing_practice,
    iso_date,
    print_json_entries,
    print_ndjson,
    table,
)


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
    show.add_argument(
        "--client", dest="client_ref", metavar="REF", help="only entries about this client reference"
    )
    show.add_argument("--actor", dest="actor_id", metavar="ID", help="only entries by this actor")
    show.add_argument("--since", metavar="YYYY-MM-DD", type=iso_date, help="from this date")
    show.add_argument("--until", metavar="YYYY-MM-DD", type=iso_date, help="up to this date, inclusive")
    add_clinic(show)
    form = show.add_mutually_exclusive_group()
    form.add_argument(
        "--json",
        action="store_true",
        help='print {"entries": [...]}, streamed entry by entry; a failure midway ends it with its "error"',
    )
    form.add_argument("--ndjson", action="store_true", help="print one JSON object per line (NDJSON)")
    show.set_defaults(run=run_show)


#: An entry's fields, once: ``attrs.asdict`` per entry costs more than the JSON encoding of a large log.
_FIELDS = tuple(f.name for f in attrs.fields(AuditRecord))


def _objects(entries: Iterable[AuditRecord]) -> Iterable[dict[str, Any]]:
    for e in entries:
        item = {name: getattr(e, name) for name in _FIELDS}
        item["at"] = e.at.isoformat()
        yield item


def run_show(args: argparse.Namespace) -> int:
    if args.since is not None and args.until is not None and args.until < args.since:
        raise UsageError("--until: not before --since (the dates are inclusive)")
    with existing_practice(args) as practice:
        clinic = cli_actor(practice, args).clinic_id
        auditor = Actor("alliancekit-cli", Role.ADMINISTRATOR, clinic, Purpose.OPERATIONS)
        entries = practice.audit_entries(
            auditor, client_ref=args.client_ref, actor_id=args.actor_id, since=args.since, until=args.until
        )
    if args.ndjson:
        print_ndjson(_objects(entries))
        return 0
    if args.json:
        print_json_entries(_objects(entries))
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
            e.recipient or "-",
            e.outcome,
        ]
        for e in entries
    ]
    # "to": whom an export or a share went ("(unnamed)": none was named); "-" for every other entry
    print(table(rows, ["#", "at", "actor", "purpose", "action", "record", "client", "to", "outcome"]))
    print(f"{len(entries)} entries")
    return 0
