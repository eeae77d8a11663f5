"""The repository's entry points agree with each other: README quickstart, .ci/run, tox.ini."""

from __future__ import annotations

import configparser
import os
import re
import tempfile
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def root(source_root: Path) -> Path:
    return source_root


def _quickstart_commands(readme: str) -> list[str]:
    """The commands in the code blocks of the README's Quickstart section."""
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands(root: Path) -> None:
    commands = _quickstart_commands((root / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "alliancekit demo" in demo
    assert "tox run" in tests


def test_ci_runs_the_readme_test_command_word_for_word(root: Path) -> None:
    _, test_command = _quickstart_commands((root / "README.md").read_text(encoding="utf-8"))
    ci = root / ".ci" / "run"
    lines = [line.strip() for line in ci.read_text(encoding="utf-8").splitlines()]
    assert test_command in lines
    assert "set -euo pipefail" in lines
    assert os.access(ci, os.X_OK), ".ci/run is not executable"


def test_readme_test_command_runs_the_default_tox_environments(root: Path) -> None:
    _, test_command = _quickstart_commands((root / "README.md").read_text(encoding="utf-8"))
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(root / "tox.ini", encoding="utf-8")
    env_list = {e.strip() for e in tox["tox"]["env_list"].split(",")}
    match = re.search(r"tox run(?:-parallel)? -e (\S+)", test_command)
    assert match is not None
    assert set(match.group(1).split(",")) == env_list


def test_tests_run_against_the_installed_package(root: Path) -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(root / "tox.ini", encoding="utf-8")
    assert tox["testenv"]["package"].strip() == "wheel"
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert "--import-mode=importlib" in pyproject
    assert not re.search(r"^\s*pythonpath\s*=", pyproject, flags=re.MULTILINE), "src must not be on sys.path"


def test_classifiers_and_tox_name_every_supported_python(root: Path) -> None:
    """Each Python from ``requires-python`` up to 3.13 is a classifier and a tox environment (3.13 was
    missing though the suite passes on it)."""
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    floor = re.search(r'requires-python = ">=3\.(\d+)"', pyproject)
    assert floor is not None
    minors = set(re.findall(r'"Programming Language :: Python :: 3\.(\d+)"', pyproject))
    assert minors == {str(m) for m in range(int(floor.group(1)), 14)}
    tox = (root / "tox.ini").read_text(encoding="utf-8")
    assert all(f"py3{m}" in tox for m in minors)


def test_the_runs_files_are_in_memory_and_disk_path_is_on_the_disk(tmp_path: Path, disk_path: Path) -> None:
    """tests/conftest.py moves the run's temporary folder into tmpfs where the machine has one (a commit
    waits for no flush there): a change that stops it doing so shows here, not as a CI run three times
    slower on a machine with a slow disk. ``disk_path`` stays on the disk the run started with."""
    in_memory = os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK)
    if os.environ.get("ALLIANCEKIT_TEST_ON_DISK") == "1" or not in_memory:
        pytest.skip("this run keeps its files on the disk (ALLIANCEKIT_TEST_ON_DISK=1, or no /dev/shm)")
    memory = Path("/dev/shm").resolve()
    assert tmp_path.resolve().is_relative_to(memory)
    assert Path(tempfile.mkdtemp(dir=tmp_path)).resolve().is_relative_to(memory)
    assert Path(tempfile.gettempdir()).resolve().is_relative_to(memory)
    assert Path(os.environ["TMPDIR"]).resolve().is_relative_to(memory)  # the commands the tests start too
    assert not disk_path.resolve().is_relative_to(memory)
