"""Run the benchmarks: every ``bench_*.py`` module next to this file, one after another, in one process.

Each module exposes ``run() -> dict[str, float]``: figure name to value, the unit in the name
(``raw_commit_p50_us``, ``record_session_ratio``). Running them in one process on one machine, one after the
other, is what makes the ratios between them meaningful. This is not a timed test: it prints figures, and
fails only when a benchmark raises or returns something that is not a mapping of floats.

The machine's load average (1 minute) is taken before and after each benchmark and printed beside its
figures: on a shared machine it says how far the figures can be trusted (2 cores here: a load above 2
means the benchmark shared the CPU).

Usage: ``python benchmarks/run.py [NAME ...] [--json PATH]`` where NAME selects modules (``sqlite`` runs
``bench_sqlite.py``). ``tox -e bench`` runs it.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def discover(selected: list[str]) -> list[str]:
    """Names of the ``bench_*`` modules to run, sorted; all of them when ``selected`` is empty."""
    names = sorted(path.stem for path in HERE.glob("bench_*.py"))
    if not selected:
        return names
    wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in selected}
    unknown = wanted - set(names)
    if unknown:
        raise SystemExit(
            f"no such benchmark: {', '.join(sorted(unknown))} (have: {', '.join(names) or 'none'})"
        )
    return [name for name in names if name in wanted]


def run_one(name: str) -> dict[str, float]:
    module = importlib.import_module(name)
    run: Callable[[], Mapping[str, Any]] = module.run
    load_before = os.getloadavg()[0]
    figures = run()
    if not isinstance(figures, Mapping):
        raise TypeError(f"{name}.run() returned {type(figures).__name__}, not a mapping")
    result: dict[str, float] = {}
    for key, value in figures.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"{name}.run()[{key!r}] is {type(value).__name__}, not a number")
        result[str(key)] = float(value)
    result["load average 1 min, before"] = load_before
    result["load average 1 min, after"] = os.getloadavg()[0]
    return result


def format_value(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:,.3f}"


def print_table(results: dict[str, dict[str, float]]) -> None:
    rows = [
        (module, key, format_value(value))
        for module, figures in results.items()
        for key, value in figures.items()
    ]
    headers = ("benchmark", "figure", "value")
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(3)]
    line = f"{headers[0]:<{widths[0]}}  {headers[1]:<{widths[1]}}  {headers[2]:>{widths[2]}}"
    print(line)
    print("-" * len(line))
    for module, key, value in rows:
        print(f"{module:<{widths[0]}}  {key:<{widths[1]}}  {value:>{widths[2]}}")


def environment() -> dict[str, str]:
    try:
        from importlib.metadata import version

        alliancekit_version = version("alliancekit")
    except Exception:  # noqa: BLE001 - the benchmarks may run from a checkout without the package
        alliancekit_version = "not installed"
    return {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "alliancekit": alliancekit_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the figures and the environment to this file")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(HERE))  # the bench_* modules and any helpers they share live here
    names = discover(args.names)
    env = environment()
    print(" ".join(f"{k}={v}" for k, v in env.items()))
    if not names:
        print(f"no benchmarks found in {HERE} (bench_*.py)")
        return 0

    results: dict[str, dict[str, float]] = {}
    failed: list[str] = []
    for name in names:
        print(f"running {name} ...", flush=True)
        started = time.perf_counter()
        try:
            results[name] = run_one(name)
        except Exception:  # noqa: BLE001 - report it, run the others, fail at the end
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)

    print()
    print_table(results)
    if args.json:
        args.json.write_text(
            json.dumps({"environment": env, "results": results}, indent=2) + "\n", encoding="utf-8"
        )
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
