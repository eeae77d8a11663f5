"""The public face: every type a public method of Practice takes or returns is importable from
``alliancekit`` (svcs-style: a tiny public face, the rest visibly internal)."""

from __future__ import annotations

import inspect
import typing
from datetime import date, datetime, timedelta
from typing import Any

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
    for name, member in inspect.getmembers(Practice):
        if name.startswith("_"):
            continue
        function = member.fget if isinstance(member, property) else member
        if not callable(function):
            continue
        for key, hint in typing.get_type_hints(function, namespace).items():
            out[f"{name}.{key}"] = hint
    return out


def test_every_type_of_the_public_methods_is_exported() -> None:
    exported = {getattr(alliancekit, name) for name in alliancekit.__all__}
    missing = {}
    for where, hint in _public_annotations().items():
        for tp in _named_types(hint):
            module = tp.__module__
            if tp in BUILTIN or module in ("builtins", "threading", "collections.abc", "typing"):
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
