"""Entry point of the ``alliancekit`` command.

Exit codes: 0 success, 1 the library refused (its message names the field and rule), 2 wrong usage.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from alliancekit import __version__
from alliancekit.cli import (
    audit,
    caseload,
    demo,
    episode,
    export,
    measures,
    outbox,
    plugins,
    quality,
    report,
    verify,
)
from alliancekit.errors import AlliancekitError

COMMAND_MODULES = (demo, caseload, episode, measures, plugins, report, quality, export, outbox, audit, verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliancekit",
        description="Feedback-informed psychotherapy care: inspect and exercise an alliancekit practice.",
    )
    parser.add_argument("--version", action="version", version=f"alliancekit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except AlliancekitError as exc:
        print(f"alliancekit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("alliancekit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
