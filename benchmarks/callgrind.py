"""Counting instructions with valgrind's callgrind, for the ``callgrind_*.py`` scripts beside this file.

Each script runs itself under valgrind with ``--drive MODE N`` (one workload of size N) and takes the
total the tool reports; differences of two sizes cancel the interpreter's start-up and imports. The
hash seed is fixed (``PYTHONHASHSEED=0`` unless set): a random one moves a count by up to about 1 % from
run to run (sets and dicts of strings lay out differently), which would hide a change of that size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def instructions(script: str, mode: str, n: int, out: Path) -> int:
    """Instructions ``python SCRIPT --drive MODE N`` runs; its callgrind file stays in ``out``."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/{mode}-{n}.out",  # noqa: S607
         sys.executable, script, "--drive", mode, str(n)],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    assert found, done.stderr[-2000:]
    return int(found.group(1))
