"""``alliancekit plugins``: which plugins are registered, from which distribution, with which hooks."""

from __future__ import annotations

import argparse
import sys

import attrs

from alliancekit.cli.common import print_json
from alliancekit.plugins.manager import ALLOW_LIST_ENV, allowed_but_not_installed, get_plugin_host


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("plugins", help="list registered plugins", description="List registered plugins.")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    infos = get_plugin_host().plugin_infos()
    for name in allowed_but_not_installed():  # on stderr: the list (and its JSON) is what is registered
        print(
            f"alliancekit: warning: {ALLOW_LIST_ENV} names {name!r}, which no installed plugin is called: "
            "nothing loads under that name",
            file=sys.stderr,
        )
    if args.json:
        print_json([attrs.asdict(info) for info in infos])
        return 0
    for info in infos:
        print(f"{info.name}  ({info.distribution} {info.version})")
        for hook in info.hooks:
            print(f"    {hook}")
    return 0
