"""The suite's guard (the root conftest.py) fails a test that leaves a file in the source root.

Checked on a copy: the repository's conftest.py in a scratch directory that stands for the root, with one
test that makes a practice at a relative path (a name with odd characters, as the file once found in the
root had) and one that makes it under tmp_path.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

PROBES = """
from alliancekit import open_practice


def test_relative(tmp_path):
    open_practice("odd \\u00e9 name?.sqlite").close()


def test_under_tmp_path(tmp_path):
    open_practice(tmp_path / "fine.sqlite").close()
"""


def test_a_test_that_leaves_a_file_in_the_root_fails_naming_it(source_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(source_root / "conftest.py", root / "conftest.py")
    (root / "test_probe.py").write_text(PROBES, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", "test_probe.py"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed, 1 error" in done.stdout  # the test's own body passed: the guard fails it at teardown
    assert "ERROR at teardown of test_relative" in done.stdout
    assert f"the test left ['odd \u00e9 name?.sqlite'] in {root}: give stores" in done.stdout
    assert "at teardown of test_under_tmp_path" not in done.stdout
    assert {p.name for p in root.iterdir()} - {"__pycache__"} == {
        "conftest.py",
        "test_probe.py",
        "odd \u00e9 name?.sqlite",
    }
