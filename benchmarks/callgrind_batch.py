"""The batch path and the CSV importer counted in instructions (valgrind), per command.

Instruction counts do not move with the machine's load, unlike times (the machine running the benchmarks
is shared). For each path, valgrind's callgrind runs an import of ``SMALL`` and of ``LARGE`` clients in
the layouts of ``bench_batch`` (the batch path: 4 commands to open a client's episode, then 20 sessions;
the importer: a synthetic CSV of 3 sessions per client, 3 commands to open an episode and one per
session), and the instructions per command are the difference of the two runs over the difference of
their commands, so the interpreter's start-up and imports cancel out.

Run from the repository root (needs ``valgrind``): ``python benchmarks/callgrind_batch.py``; with
``--keep DIR`` the callgrind files stay in DIR for ``callgrind_annotate``.
"""

from __future__ import annotations

import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import callgrind

SMALL, LARGE = 10, 30
HERE = Path(__file__).resolve().parent


def _commands(path: str, clients: int) -> int:
    """The commands an import of ``clients`` clients runs on ``path``."""
    sys.path.insert(0, str(HERE))
    import bench_batch

    if path == "batch":
        return clients * (4 + bench_batch.SESSIONS)
    return clients * (3 + bench_batch.IMPORT_SESSIONS)


def _drive(path: str, clients: int) -> None:
    """One import of ``clients`` clients through ``path`` (run under valgrind)."""
    sys.path.insert(0, str(HERE))
    import bench_batch

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "batch.sqlite")
        if path == "batch":
            commands = bench_batch._import(db, clients)  # noqa: SLF001 - the benchmark's own import
        else:
            source = Path(tmp) / "history.csv"
            bench_batch._history(source, clients, bench_batch.IMPORT_SESSIONS)  # noqa: SLF001
            commands = bench_batch._import_csv(db, source)[0]  # noqa: SLF001
    assert commands == _commands(path, clients), commands


def _instructions(path: str, clients: int, out: Path) -> int:
    return callgrind.instructions(__file__, path, clients, out)


def main(keep: Path | None) -> None:
    paths = ("batch", "import")
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(2) as pool:
        out = keep or Path(tmp)
        runs = {(p, n): pool.submit(_instructions, p, n, out) for p in paths for n in (SMALL, LARGE)}
        for p in paths:
            commands = _commands(p, LARGE) - _commands(p, SMALL)
            per_command = (runs[p, LARGE].result() - runs[p, SMALL].result()) / commands
            print(f"{p} path instructions per command  {per_command:14,.0f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--drive"]:
        _drive(sys.argv[2], int(sys.argv[3]))
    else:
        main(Path(sys.argv[2]) if sys.argv[1:2] == ["--keep"] else None)
