"""``alliancekit demo``: build the deterministic demo practice."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

import attrs

from alliancekit.cli.common import existing_practice
from alliancekit.demo import simulate_practice
from alliancekit.demo.simulate import CLINIC
from alliancekit.domain import Actor, Purpose, Role
from alliancekit.errors import NotAnAlliancekitStore, StoreNeedsMigration, StoreTooNew, ValidationError
from alliancekit.feedback.reports import write_report
from alliancekit.practice import open_practice


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="create a simulated practice with synthetic clients",
        description="Create a deterministic demo practice: synthetic clients through every lifecycle stage.",
    )
    parser.add_argument(
        "--db",
        default="demo.sqlite",
        metavar="PATH",
        help="SQLite file to create (replaced if it "
        "is an earlier alliancekit database; default: %(default)s)",
    )
    parser.add_argument(
        "--clients", type=int, default=24, metavar="N", help="number of clients (default: %(default)s)"
    )
    parser.add_argument(
        "--seed", type=int, default=7, help="random seed; the same seed gives the same practice"
    )
    parser.add_argument("--out", metavar="DIR", help="also write summary.json (and reports) into DIR")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    parser.set_defaults(run=run)


def _replace_earlier_demo(path: Path) -> None:
    """Remove ``path`` only if it is an alliancekit database: never clobber someone else's file."""
    if not path.exists():
        return
    try:
        if path.stat().st_size:  # an empty file holds nothing to protect
            open_practice(path, read_only=True).close()
    except (StoreNeedsMigration, StoreTooNew):
        pass  # an alliancekit database of another version: ours to replace
    except NotAnAlliancekitStore:
        raise ValidationError(
            "--db", "not-ours", f"{path} exists and is not an alliancekit database"
        ) from None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _write_report(db: Path, out: Path, today: str) -> Path:
    """The demo's HTML report, as of the simulation's last day."""
    with existing_practice(str(db)) as practice:
        actor = Actor("demo-supervisor", Role.SUPERVISOR, CLINIC, Purpose.QUALITY_IMPROVEMENT)
        return write_report(practice, actor, out, today=date.fromisoformat(today))


def run(args: argparse.Namespace) -> int:
    path = Path(args.db)
    _replace_earlier_demo(path)
    show_progress = not args.quiet and sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if show_progress:
            sys.stderr.write(f"\rsimulating clients: {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()

    summary = simulate_practice(path, clients=args.clients, seed=args.seed, progress=progress)
    lines = summary.lines()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(
            json.dumps(attrs.asdict(summary), indent=2) + "\n", encoding="utf-8"
        )
        lines.append(f"  wrote {out / 'summary.json'}")
        lines.append(f"  wrote {_write_report(path, out, summary.today)}")
    lines.append(f"  next: alliancekit caseload --db {path}    alliancekit episode show --db {path} ID")
    print("\n".join(lines))
    return 0
