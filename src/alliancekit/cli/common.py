"""Helpers shared by CLI commands: opening a database for reading, the CLI's actor, output."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import ValidationError
from alliancekit.practice import Practice, open_practice


def existing_practice(db: str, *, read_only: bool = False, audit_key: bytes | None = None) -> Practice:
    """Open an existing practice database; never create, migrate or convert one by accident.

    The database is first opened read-only, which refuses a missing, empty or foreign file without
    touching it; a command that writes (every read of clinical content writes its audit entry) then
    opens it again for writing.
    """
    probe = open_practice(db, read_only=True, audit_key=audit_key)
    if read_only:
        return probe
    probe.close()
    return open_practice(db, audit_key=audit_key)


def cli_actor(practice: Practice, args: argparse.Namespace) -> Actor:
    """The CLI acts as a supervisor of the clinic named by ``--clinic``, or of the only clinic there is."""
    clinic = getattr(args, "clinic", None)
    if clinic is None:
        clinics = practice.clinics()
        if len(clinics) > 1:
            raise ValidationError("--clinic", "required", f"the database holds {len(clinics)} clinics")
        clinic = clinics[0] if clinics else "default"
    return Actor("alliancekit-cli", Role.SUPERVISOR, clinic, Purpose.OPERATIONS)


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="PATH", help="the practice's SQLite database")


def add_clinic(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clinic", metavar="ID", help="clinic id (needed when the database holds several)")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def table(rows: list[list[str]], headers: list[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)
