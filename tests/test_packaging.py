"""``schemas/`` is found through ``importlib.resources`` however alliancekit is installed.

The repository keeps the JSON Schemas at the top level (``schemas/``); the package sees them through the
committed symlink ``src/alliancekit/schemas``, and the wheel maps ``schemas/`` in with hatchling's
force-include because sdists carry no symlinks. These tests install the package three ways into fresh
virtual environments and ask the installed package for its schemas:

* a wheel built straight from the source tree (what ``tox`` and ``pip install .`` do);
* a wheel built from an sdist (what a package index serves to a source build);
* an editable install of the source tree (what a developer has).

The other tests treat every distribution of the tree (the core, ``plugins/*`` and ``examples/*``) the way
someone installing it from built artefacts would: each wheel holds exactly its package's files (so a new
data file cannot be left out), the wheel built from its sdist holds the same files and metadata, the
metadata says what the pyproject says, and the installed wheels run the CLI, load the plugins' entry points
and start the web app's module from a fresh virtual environment. The artefacts are built once per session.

They need the source tree: tox passes it as ``ALLIANCEKIT_SOURCE_ROOT``; otherwise it is looked for above
this file. They build offline (``--no-build-isolation --no-index``) with the hatchling and pip of the test
environment (both are in the ``test`` extra).
"""

from __future__ import annotations

import configparser
import email.parser
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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
# The PEP 517 hook pip would call, called directly (pip has no "build an sdist" command): for each project
# of argv[2:] (hatchling builds the working directory), into the directory argv[1].
BUILD_SDIST = (
    "import os, sys; from hatchling.build import build_sdist\n"
    "for project in sys.argv[2:]:\n    os.chdir(project)\n    build_sdist(sys.argv[1])"
)


@pytest.fixture(scope="module")
def committed_schemas(source_root: Path) -> set[str]:
    """The schema files of the source tree, relative to ``schemas/``."""
    schemas = source_root / "schemas"
    return {p.relative_to(schemas).as_posix() for p in schemas.rglob("*.json") if p.is_file()}


def _clean_env() -> dict[str, str]:
    # ALLIANCEKIT_*: what the suite sets for itself (no plugin autoload, say) is not what a user has
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"} and not k.startswith("ALLIANCEKIT_")
    }
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


@dataclass(frozen=True)
class Built:
    """One distribution of the tree and its artefacts: the wheel and sdist built from the tree, and the
    wheel built from that sdist."""

    project: Path
    pyproject: dict[str, Any]
    packages: tuple[str, ...]  # the wheel's packages, as the pyproject names them (``src/alliancekit``)
    wheel: Path
    sdist: Path
    wheel_from_sdist: Path

    @property
    def name(self) -> str:
        return str(self.pyproject["project"]["name"])

    @property
    def example(self) -> bool:
        return self.project.parent.name == "examples"


def _projects(root: Path) -> list[Path]:
    """Every distribution of the tree: found, not listed, so a new plugin is checked too."""
    found = [root, *sorted(p.parent for p in root.glob("plugins/*/pyproject.toml"))]
    found += sorted(p.parent for p in root.glob("examples/*/pyproject.toml"))
    return found


@pytest.fixture(scope="session")
def distributions(source_root: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Built]:
    # One process per kind of build, not one per distribution: the builds take most of this file's time.
    out = tmp_path_factory.mktemp("dists")
    projects = _projects(source_root)
    _run([sys.executable, "-c", BUILD_SDIST, out / "sdist", *projects])
    pyprojects = [tomllib.loads((p / "pyproject.toml").read_text(encoding="utf-8")) for p in projects]
    stems = [canonicalize_name(p["project"]["name"]).replace("-", "_") for p in pyprojects]
    sdists = [_one(out / "sdist", f"{stem}-*.tar.gz") for stem in stems]
    _run([sys.executable, "-m", "pip", "wheel", *PIP_OFFLINE, "--wheel-dir", out / "tree", *projects])
    _run([sys.executable, "-m", "pip", "wheel", *PIP_OFFLINE, "--wheel-dir", out / "from-sdist", *sdists])
    return [
        Built(
            project=project,
            pyproject=pyproject,
            packages=tuple(pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]),
            wheel=_one(out / "tree", f"{stem}-*.whl"),
            sdist=sdist,
            wheel_from_sdist=_one(out / "from-sdist", f"{stem}-*.whl"),
        )
        for project, pyproject, stem, sdist in zip(projects, pyprojects, stems, sdists, strict=True)
    ]


def _one(folder: Path, pattern: str) -> Path:
    (found,) = folder.glob(pattern)
    return found


@pytest.fixture(scope="session")
def core(distributions: list[Built]) -> Built:
    (found,) = (b for b in distributions if b.name == "alliancekit")
    return found


@pytest.fixture(scope="session")
def installed(distributions: list[Built], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with every wheel installed (not editable); its python."""
    python = _fresh_venv(tmp_path_factory.mktemp("installed") / "venv")
    _pip_install(python, *(b.wheel for b in distributions))
    return python


def _walk(folder: Path) -> Iterator[Path]:
    # followlinks: the package sees schemas/ through a symlink, and so must the wheel
    for parent, dirs, names in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if not name.endswith((".pyc", ".pyo")):
                yield Path(parent) / name


def _package_files(built: Built) -> set[str]:
    """What the wheel must hold: every file of its packages in the tree, as paths inside the wheel."""
    files = set()
    for package in built.packages:
        folder = built.project / package
        for path in _walk(folder):
            files.add((Path(folder.name) / path.relative_to(folder)).as_posix())
    return files


def _wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (member,) = (
            n for n in archive.namelist() if n.split("/")[0].endswith(".dist-info") and n.endswith(f"/{name}")
        )
        return archive.read(member).decode("utf-8")


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
    core: Built, committed_schemas: set[str], tmp_path: Path
) -> None:
    wheel = core.wheel
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
    core: Built, committed_schemas: set[str], tmp_path: Path
) -> None:
    with tarfile.open(core.sdist) as archive:
        members = archive.getmembers()
    assert not [m.name for m in members if m.issym() or m.islnk()], "the sdist carries links"
    assert any(m.name.endswith("/schemas/events") or "/schemas/events/" in m.name for m in members)

    wheel = core.wheel_from_sdist
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


# ------------------------------------------------------------- every distribution, from built artefacts


def test_every_wheel_holds_exactly_the_files_of_its_packages(distributions: list[Built]) -> None:
    # Enumerated from the tree, not from what the code is known to load: a data file added next to the
    # code (a measure definition, a catalogue, a stylesheet) is checked the day it is added.
    problems = []
    for built in distributions:
        names = _wheel_names(built.wheel)
        assert len(names) == len(set(names)), f"{built.name}: duplicate entries in the wheel"
        shipped = {n for n in names if not n.split("/")[0].endswith(".dist-info")}
        expected = _package_files(built)
        if missing := expected - shipped:
            problems.append(f"{built.name}: not in the wheel: {sorted(missing)}")
        if extra := shipped - expected:
            problems.append(f"{built.name}: in the wheel but not in its packages: {sorted(extra)}")
    assert not problems, "\n".join(problems)


def test_the_wheel_built_from_each_sdist_is_the_wheel_built_from_the_tree(distributions: list[Built]) -> None:
    problems = []
    for built in distributions:
        tree, from_sdist = built.wheel, built.wheel_from_sdist
        if sorted(_wheel_names(tree)) != sorted(_wheel_names(from_sdist)):
            diff = set(_wheel_names(tree)) ^ set(_wheel_names(from_sdist))
            problems.append(f"{built.name}: the files differ: {sorted(diff)}")
        for member in ("METADATA", "entry_points.txt"):
            has = any(n.endswith(f".dist-info/{member}") for n in _wheel_names(tree))
            if has and _dist_info(tree, member) != _dist_info(from_sdist, member):
                problems.append(f"{built.name}: {member} differs")
    assert not problems, "\n".join(problems)


def _metadata_problems(built: Built, licence: bytes) -> list[str]:
    project = built.pyproject["project"]
    meta = email.parser.Parser().parsestr(_dist_info(built.wheel, "METADATA"))
    names = _wheel_names(built.wheel)
    classifiers = meta.get_all("Classifier") or []
    readme = built.project / project["readme"]
    found = {
        "Version": (meta["Version"], project["version"]),
        "Requires-Python": (meta["Requires-Python"], project["requires-python"]),
        "License-Expression": (meta["License-Expression"], project["license"]),
        # Apache-2.0 asks that the licence text goes with every copy
        "License-File": (meta.get_all("License-File"), ["LICENSE"]),
        # (texts compared, not shown: a failure names the field only)
        "the licence text is the repository's": (
            bool(meta["License-File"]) and _dist_info(built.wheel, "licenses/LICENSE").encode() == licence,
            True,
        ),
        "Description-Content-Type": (meta["Description-Content-Type"], "text/markdown"),
        "the description is its README": (
            meta.get_payload().strip() == readme.read_text(encoding="utf-8").strip(),
            True,
        ),
        "Author": (bool(meta["Author"] or meta["Author-email"]), True),
        "Provides-Extra": (
            sorted(meta.get_all("Provides-Extra") or []),
            sorted(canonicalize_name(e) for e in project.get("optional-dependencies", {})),
        ),
        "Requires-Dist": (
            sorted(str(r) for r in map(Requirement, meta.get_all("Requires-Dist") or []) if r.marker is None),
            sorted(str(Requirement(d)) for d in project.get("dependencies", [])),
        ),
    }
    problems = [
        f"{built.name}: {field} is {got!r}, not {want!r}"
        for field, (got, want) in found.items()
        if got != want
    ]
    typed = {f"{Path(p).name}/py.typed" in names for p in built.packages}
    if not built.example and typed != {True}:
        problems.append(f"{built.name}: py.typed is not shipped")
    if ("Typing :: Typed" in classifiers) != (typed == {True}):
        problems.append(f"{built.name}: the Typing :: Typed classifier and py.typed disagree")
    return problems


def test_the_metadata_of_every_wheel_says_what_its_pyproject_says(
    distributions: list[Built], source_root: Path
) -> None:
    licence = (source_root / "LICENSE").read_bytes()
    problems = [p for built in distributions for p in _metadata_problems(built, licence)]
    assert not problems, "\n".join(problems)


def test_the_entry_points_of_every_wheel_are_the_pyprojects(distributions: list[Built]) -> None:
    for built in distributions:
        project = built.pyproject["project"]
        want = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
        parser = configparser.ConfigParser(delimiters=("=",))
        parser.optionxform = str  # entry point names keep their case
        if any(n.endswith(".dist-info/entry_points.txt") for n in _wheel_names(built.wheel)):
            parser.read_string(_dist_info(built.wheel, "entry_points.txt"))
        got = {group: dict(parser[group]) for group in parser.sections()}
        assert got == {group: points for group, points in want.items() if points}, built.name


# Run inside the environment the wheels were installed into: where each package was imported from, and
# that every command and subcommand of the CLI prints its help.
INSTALLED_PROBE = r"""
import argparse
import contextlib
import importlib
import io
import json
import sys

from alliancekit.cli.main import build_parser, main

def commands(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from commands(sub, (*prefix, name))

helped, failed = [], {}
for argv in [(), *commands(build_parser())]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main([*argv, "--help"])
        except SystemExit as exc:
            code = exc.code
    helped.append(" ".join(argv))
    if code != 0 or not out.getvalue().startswith("usage: alliancekit"):
        failed[" ".join(argv)] = code
print(json.dumps({
    "files": {name: importlib.import_module(name).__file__ for name in sys.argv[1:]},
    "helped": helped,
    "failed": failed,
}))
"""


def test_the_installed_wheels_import_from_the_environment_and_every_command_has_help(
    installed: Path, distributions: list[Built], tmp_path: Path
) -> None:
    packages = [Path(p).name for built in distributions for p in built.packages]
    found = json.loads(_run([installed, "-c", INSTALLED_PROBE, *packages], cwd=tmp_path))
    venv = installed.parent.parent.resolve()
    elsewhere = {
        name: file for name, file in found["files"].items() if not Path(file).resolve().is_relative_to(venv)
    }
    assert not elsewhere, f"imported from outside the fresh environment: {elsewhere}"
    assert {"", "demo", "measures show", "export fhir", "verify"} <= set(found["helped"])
    assert not found["failed"], f"--help failed: {found['failed']}"


def test_the_installed_wheels_run_a_practice_end_to_end(
    installed: Path, distributions: list[Built], core: Built, tmp_path: Path
) -> None:
    bin_dir = installed.parent
    alliancekit = bin_dir / "alliancekit"
    version = f"alliancekit {core.pyproject['project']['version']}"
    assert _run([alliancekit, "--version"], cwd=tmp_path).strip() == version
    assert _run([installed, "-m", "alliancekit", "--version"], cwd=tmp_path).strip() == version

    # every plugin is found through its entry point and named with its distribution
    listing = _run([alliancekit, "plugins"], cwd=tmp_path)
    for built in distributions:
        for point in built.pyproject["project"].get("entry-points", {}).get("alliancekit", {}):
            assert f"{point}  ({built.name} " in listing, f"{built.name}: entry point {point} not loaded"
    measures = _run([alliancekit, "measures", "list"], cwd=tmp_path)
    assert "k10 " in measures
    assert "phq-9 " in measures

    db = ["--db", "demo.sqlite"]
    _run([alliancekit, "demo", *db, "--clients", "12", "--today", "2026-06-30", "-q"], cwd=tmp_path)
    _run([alliancekit, "report", *db, "--out", "report", "--today", "2026-06-30"], cwd=tmp_path)
    assert (tmp_path / "report" / "report.html").stat().st_size > 0
    exported = _run(
        [alliancekit, "export", "fhir", *db, "--all", "--out", "fhir", "--validate"], cwd=tmp_path
    )
    assert "every resource passes the FHIR R4 schema" in exported
    assert (tmp_path / "fhir" / "manifest.json").is_file()
    assert "record ok" in _run([alliancekit, "verify", *db], cwd=tmp_path)

    # the web app: its console script, and its module, which reads its stylesheet when imported
    assert _run([bin_dir / "alliancekit-webapp", "--help"], cwd=tmp_path).startswith("usage: ")
    css = "import alliancekit_webapp.app as app; print(len(app.STYLESHEET))"
    assert int(_run([installed, "-c", css], cwd=tmp_path)) > 0
