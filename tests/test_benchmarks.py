"""The benchmarks run in a plain ``[bench]`` install: none of them needs pytest (nor anything of the
``test`` extra). Each module is imported in a fresh interpreter where importing pytest fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
MODULES = sorted(p.stem for p in BENCHMARKS.glob("bench_*.py"))


def test_there_are_benchmarks() -> None:
    assert "bench_core" in MODULES
    assert "bench_sqlite_writers" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_a_benchmark_imports_without_pytest(module: str) -> None:
    code = (
        "import sys\n"
        "sys.modules['pytest'] = None  # importing pytest raises ImportError, as where it is not installed\n"
        f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        f"import {module}\n"
        f"assert callable({module}.run)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
