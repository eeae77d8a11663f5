"""The public face: every type a public method of Practice takes or returns is importable from
``alliancekit`` (svcs-style: a tiny public face, the rest visibly internal)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import typing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import alliancekit
from alliancekit import Practice

#: Not ours to export.
BUILTIN = (str, int, float, bool, bytes, date, datetime, timedelta, type(None), object)


def _named_types(tp: Any) -> set[type]:
    """The classes named in an annotation (through unions, sequences, mappings and callables)."""
    origin = typing.get_origin(tp)
    if origin is not None:
        found: set[type] = set()
        for arg in typing.get_args(tp):
            if isinstance(arg, list):  # Callable[[...], ...]
                for inner in arg:
                    found |= _named_types(inner)
            else:
                found |= _named_types(arg)
        return found
    if tp is Any or tp is Ellipsis or not isinstance(tp, type):
        return set()
    return {tp}


def _public_annotations() -> dict[str, Any]:
    # every public name fetched: the package loads them on first use, so vars() holds only those used so
    # far in this process
    public = {name: getattr(alliancekit, name) for name in alliancekit.__all__}
    namespace = {**public, **vars(alliancekit.practice)}
    out = {}
    # the host's first calls: opening the practice (its options typed by PracticeOptions) and the class
    opening = [("open_practice", alliancekit.open_practice), ("Practice.__init__", Practice.__init__)]
    for name, member in [*opening, *inspect.getmembers(Practice)]:
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        for key, hint in typing.get_type_hints(function, namespace).items():
            out[f"{name}.{key}"] = hint
    return out


# Practice.__init__ as defined: the suite's wrapper (conftest.py) takes ``*args: Any``
@pytest.mark.unclosed_practice
def test_every_type_of_the_public_methods_is_exported() -> None:
    exported = {getattr(alliancekit, name) for name in alliancekit.__all__}
    missing = {}
    for where, hint in _public_annotations().items():
        for tp in _named_types(hint):
            module = tp.__module__
            if tp in BUILTIN or module in ("builtins", "threading", "collections.abc", "typing", "zoneinfo"):
                continue
            if tp not in exported:
                missing[where] = f"{module}.{tp.__qualname__}"
    assert missing == {}


def test_the_core_is_not_part_of_the_public_face() -> None:
    for name in alliancekit.__all__:
        value = getattr(alliancekit, name)
        module = getattr(value, "__module__", "")
        # Recorded, RecordedWithId (the runner's) and GroupSessionRecorded (made of Recorded) are public
        # value types
        public_core = ("Recorded", "RecordedWithId", "GroupSessionRecorded")
        assert not module.startswith("alliancekit.core.") or name in public_core, name


def test_all_lists_only_what_exists() -> None:
    for name in alliancekit.__all__:
        assert hasattr(alliancekit, name), name


def test_every_contract_suite_a_plugin_author_subclasses_is_importable_from_alliancekit_testing() -> None:
    import alliancekit.testing
    from alliancekit.testing.fhir import FhirHookContract
    from alliancekit.testing.measures import MeasureContract
    from alliancekit.testing.notifier import NotifierContract
    from alliancekit.testing.outbox import OutboxStoreContract
    from alliancekit.testing.requests import RequestStoreContract
    from alliancekit.testing.rules import AlertRuleContract
    from alliancekit.testing.store import StoreContract

    suites = [
        AlertRuleContract,
        FhirHookContract,
        MeasureContract,
        NotifierContract,
        OutboxStoreContract,
        RequestStoreContract,
        StoreContract,
    ]
    assert alliancekit.testing.__all__ == sorted(suite.__name__ for suite in suites)
    for suite in suites:
        assert getattr(alliancekit.testing, suite.__name__) is suite


def test_the_lazy_names_are_the_public_names_and_their_type_imports() -> None:
    """``alliancekit`` names each public name three times (``__all__``, where it is defined for the import on
    first use, and the ``TYPE_CHECKING`` import type checkers read): the three must agree, name for name and
    module for module, and each name must be the object its module defines."""
    import ast
    from pathlib import Path

    lazy = alliancekit._DEFINED_IN
    assert set(alliancekit.__all__) == {*lazy, "__version__"}
    tree = ast.parse(Path(alliancekit.__file__).read_text())
    checked = {
        alias.name: node.module
        for block in tree.body
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert checked == lazy
    for name, module in lazy.items():
        assert getattr(alliancekit, name) is getattr(__import__(module, fromlist=[name]), name)


# Practice.__init__ as defined: the suite's wrapper (conftest.py) takes ``*args: Any``
@pytest.mark.unclosed_practice
def test_the_options_of_open_practice_are_the_keyword_parameters_of_practice() -> None:
    """``open_practice(location, **options)`` passes its options on to ``Practice``: ``PracticeOptions``
    types them, so it must name each of Practice's own options, with the same type, and nothing else."""
    from alliancekit import PracticeOptions

    namespace = {**vars(alliancekit.practice)}
    init = typing.get_type_hints(Practice.__init__, namespace)
    parameters = inspect.signature(Practice.__init__).parameters
    options = {name: init[name] for name in parameters if name not in ("self", "store", "plugins")}
    assert typing.get_type_hints(PracticeOptions, namespace) == options
    assert PracticeOptions.__required_keys__ == frozenset()
    assert typing.get_type_hints(alliancekit.open_practice)["options"] == typing.Unpack[PracticeOptions]


def test_a_type_checker_refuses_a_misspelt_or_mistyped_option_of_open_practice(tmp_path: Path) -> None:
    """A host's typo (``time_zon=``) was accepted by ``mypy --strict`` (the options were ``Any``) and
    failed only when the line ran, with a ``TypeError``."""
    host = tmp_path / "host.py"
    host.write_text(
        "from alliancekit import open_practice\n"
        'open_practice("memory:", time_zone="Europe/Berlin", conflict_retries=3).close()\n'
        'open_practice("memory:", time_zon="Europe/Berlin").close()\n'
        'open_practice("memory:", conflict_retries="3").close()\n',
        encoding="utf-8",
    )
    done = _mypy_strict(host)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["3", "4"], done.stdout
    assert '"time_zon"' in errors[0]
    assert '"conflict_retries"' in errors[1]


def test_every_public_method_and_property_of_the_public_classes_has_a_docstring() -> None:
    """What autodoc shows a host for ``practice.policy`` or a policy's ``decide``: a member without a
    docstring is left out of the reference (25 were, ``AccessPolicy.decide`` and six properties of
    ``Practice`` among them)."""
    missing = []
    for name in alliancekit.__all__:
        cls = getattr(alliancekit, name)
        if not inspect.isclass(cls):
            continue
        for member, value in vars(cls).items():
            function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            if not member.startswith("_") and inspect.isfunction(function) and not function.__doc__:
                missing.append(f"{name}.{member}")
    assert missing == []


def test_a_plugin_hosts_registries_are_typed_for_a_type_checker(tmp_path: Path) -> None:
    """``make_plugin_host().measures()`` (the FHIR guide's way to a measure) returned ``Any``, so nothing a
    host did with a measure was checked."""
    host = tmp_path / "host.py"
    host.write_text(
        "from alliancekit.plugins import make_plugin_host\n"
        "plugins = make_plugin_host()\n"
        "reveal_type(plugins.measures())\n"
        "reveal_type(plugins.stores())\n"
        "reveal_type(plugins.notifiers())\n"
        "reveal_type(plugins.protocols())\n"
        'plugins.measures().get("phq-9").no_such_attribute\n',
        encoding="utf-8",
    )
    done = _mypy_strict(host)
    said = [line.split(": ", 2)[-1] for line in done.stdout.splitlines()]
    assert said == [
        'Revealed type is "alliancekit.measures.registry.MeasureRegistry"',
        'Revealed type is "alliancekit.store.registry.StoreRegistry"',
        'Revealed type is "alliancekit.notify.channels.NotifierRegistry"',
        'Revealed type is "alliancekit.protocols.registry.ProtocolRegistry"',
        '"Measure" has no attribute "no_such_attribute"  [attr-defined]',
    ], done.stdout


# Practice.__init__ as defined, not the suite's wrapper (conftest.py)
@pytest.mark.unclosed_practice
def test_every_option_of_practice_is_documented_in_its_constructor() -> None:
    """``PracticeOptions`` points to the constructor's documentation of each option; seven had none."""
    documented = set(re.findall(r":param (\w+):", Practice.__init__.__doc__ or ""))
    parameters = set(inspect.signature(Practice.__init__).parameters) - {"self"}
    assert sorted(parameters - documented) == []


def _mypy_strict(host: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` run on a host's script, as a host's CI would, in the script's own folder."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir", ".c", host.name],
        cwd=host.parent,
        capture_output=True,
        text=True,
        check=False,
    )
