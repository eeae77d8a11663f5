"""``schemas/`` is found through ``importlib.resources`` however alliancekit is installed.

The repository keeps the JSON Schemas at the top level (``schemas/``); the package sees them through the
committed symlink ``src/alliancekit/schemas``, and the wheel maps ``schemas/`` in with hatchling's
force-include because sdists carry no symlinks. These tests install the package three ways into fresh
virtual environments and ask the installed package for its schemas:

* a wheel built straight from the source tree (what ``tox`` and ``pip install .`` do);
* a wheel built from an sdist (what a package index serves to a source build);
* an editable install of the source tree (what a developer has).

They need the source tree: tox passes it as ``ALLIANCEKIT_SOURCE_ROOT``; otherwise it is looked for above
this file. They build offline (``--no-build-isolation --no-index``) with the hatchling and pip of the test
environment (both are in the ``test`` extra).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

# Run inside the fresh environment: where alliancekit was imported from, and what its schemas hold.
PROBE = r"""
import json
from importlib.resources import files

import alliancekit

def walk(node, prefix=""):
    for entry in node.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            yield from walk(entry, name + "/")
        else:
            yield name

schemas = files("alliancekit") / "schemas"
print(json.dumps({
    "file": alliancekit.__file__,
    "schemas": str(schemas),
    "schemas_is_dir": schemas.is_dir(),
    "events_is_dir": schemas.is_dir() and (schemas / "events").is_dir(),
    "files": sorted(walk(schemas)) if schemas.is_dir() else [],
}))
"""


# Build and install with what the test environment already has: no downloads, no build isolation.
PIP_OFFLINE = ("--quiet", "--no-deps", "--no-index", "--no-build-isolation")
# The PEP 517 hook pip would call, called directly (pip has no "build an sdist" command).
BUILD_SDIST = "import sys; from hatchling.build import build_sdist; build_sdist(sys.argv[1])"


@pytest.fixture(scope="module")
def committed_schemas(source_root: Path) -> set[str]:
    """The schema files of the source tree, relative to ``schemas/``."""
    schemas = source_root / "schemas"
    return {p.relative_to(schemas).as_posix() for p in schemas.rglob("*.json") if p.is_file()}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(
            f"command failed ({result.returncode}): {' '.join(map(str, args))}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result.stdout


def _fresh_venv(path: Path) -> Path:
    """A new virtual environment without alliancekit, whose python can import this run's dependencies.

    The environment's own site-packages comes first on ``sys.path``, so whatever is installed into it wins
    over the copy of alliancekit installed in the test environment. The test environment's site-packages
    is appended after it by a ``.pth`` file (named to sort after the editable install's ``_alliancekit.pth``)
    so that attrs, pluggy, ..., pip and hatchling are importable without downloading anything.
    """
    _run([sys.executable, "-m", "venv", "--without-pip", path])
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    ours = sysconfig.get_paths()
    deps = dict.fromkeys([ours["purelib"], ours["platlib"]])
    (purelib / "zz_alliancekit_test_deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")
    return python


def _pip_install(python: Path, *target: str | Path) -> None:
    _run([python, "-m", "pip", "install", *PIP_OFFLINE, "--ignore-installed", *target])


def _build_wheel(source: Path, out: Path) -> Path:
    _run([sys.executable, "-m", "pip", "wheel", *PIP_OFFLINE, "--wheel-dir", out, source])
    (wheel,) = out.glob("alliancekit-*.whl")
    return wheel


def _probe(python: Path, cwd: Path) -> dict[str, object]:
    # cwd is a scratch directory so that nothing in the source tree can be imported by accident
    result: dict[str, object] = json.loads(_run([python, "-c", PROBE], cwd=cwd))
    return result


def _check_schemas(found: dict[str, object], committed: set[str]) -> None:
    assert found["schemas_is_dir"], "importlib.resources does not see alliancekit/schemas"
    assert found["events_is_dir"], "alliancekit/schemas/events is missing"
    files = found["files"]
    assert isinstance(files, list)
    missing = committed - set(files)
    assert not missing, f"schema files not shipped: {sorted(missing)}"


def test_wheel_built_from_the_tree_ships_the_schemas(
    source_root: Path, committed_schemas: set[str], tmp_path: Path
) -> None:
    wheel = _build_wheel(source_root, tmp_path / "dist")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names)), "duplicate entries in the wheel"
    assert any(n.startswith("alliancekit/schemas/") for n in names)

    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheel)
    found = _probe(python, cwd=tmp_path)

    assert Path(str(found["file"])).resolve().is_relative_to((tmp_path / "venv").resolve())
    _check_schemas(found, committed_schemas)


def test_wheel_built_from_the_sdist_ships_the_schemas(
    source_root: Path, committed_schemas: set[str], tmp_path: Path
) -> None:
    sdist_dir = tmp_path / "sdist"
    sdist_dir.mkdir()
    _run([sys.executable, "-c", BUILD_SDIST, sdist_dir], cwd=source_root)
    (sdist,) = sdist_dir.glob("alliancekit-*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = archive.getmembers()
    assert not [m.name for m in members if m.issym() or m.islnk()], "the sdist carries links"
    assert any(m.name.endswith("/schemas/events") or "/schemas/events/" in m.name for m in members)

    wheel = _build_wheel(sdist, tmp_path / "dist")
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, wheel)
    found = _probe(python, cwd=tmp_path)

    assert Path(str(found["file"])).resolve().is_relative_to((tmp_path / "venv").resolve())
    _check_schemas(found, committed_schemas)


def test_editable_install_finds_the_schemas_through_the_symlink(
    source_root: Path, committed_schemas: set[str], tmp_path: Path
) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(python, "--editable", source_root)
    found = _probe(python, cwd=tmp_path)

    # imported from the source tree itself, not from a copy, and the schemas are the committed ones
    src = source_root / "src" / "alliancekit"
    assert Path(str(found["file"])).resolve() == (src / "__init__.py").resolve()
    assert Path(str(found["schemas"])).resolve() == (source_root / "schemas").resolve()
    _check_schemas(found, committed_schemas)
