"""``alliancekit caseload``: the open episodes of a clinic or one clinician."""

from __future__ import annotations

import argparse
import json
from typing import Any

import attrs

from alliancekit import CaseloadRow
from alliancekit.cli.common import (
    add_clinic,
    add_db,
    add_json,
    cli_actor,
    existing_practice,
    print_json,
    table,
)

#: Caseload fields that hold JSON text, and the names their decoded values take in ``--json``.
_JSON_FIELDS = {
    "latest_scores_json": "latest_scores",
    "open_alerts_json": "alerts",
    "lockbox_json": "lockbox",
    "missed_measures_json": "missed_measures",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("caseload", help="list open episodes", description="List a caseload.")
    add_db(parser)
    add_clinic(parser)
    parser.add_argument(
        "--clinician", dest="clinician_id", metavar="ID", help="only this clinician's episodes"
    )
    parser.add_argument("--all", action="store_true", help="include closed episodes")
    add_json(parser, "print a JSON array of episodes instead of a table")
    parser.set_defaults(run=run)


def as_json(row: CaseloadRow) -> dict[str, Any]:
    """A caseload row as a JSON object: its JSON-text fields decoded, never a string holding JSON."""
    data = attrs.asdict(row)
    for field, name in _JSON_FIELDS.items():
        data[name] = json.loads(data.pop(field))
    return data


def run(args: argparse.Namespace) -> int:
    with existing_practice(args) as practice:
        actor = cli_actor(practice, args)
        rows = practice.caseload(actor, clinician_id=args.clinician_id, include_closed=args.all)
    if args.json:
        print_json([as_json(r) for r in rows])
        return 0
    if not rows:
        print("no episodes")
        return 0
    body = []
    for r in rows:
        scores = json.loads(r.latest_scores_json)
        body.append(
            [
                r.episode_id[:12],
                r.client_ref,
                r.clinician_id,
                r.stage,
                str(r.sessions_attended),
                r.last_session_on.isoformat() if r.last_session_on else "-",
                " ".join(f"{k} {v:g}" for k, v in scores.items()) or "-",
                "due" if r.review_due else (str(r.next_review_at) if r.next_review_at else "-"),
            ]
        )
    headers = ["episode", "client", "clinician", "stage", "attended", "last session", "latest", "review"]
    print(table(body, headers))
    print(f"{len(rows)} episode(s)")
    return 0
