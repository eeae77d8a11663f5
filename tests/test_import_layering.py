"""alliancekit's modules import each other at the top: no import cycle is dodged inside a function.

A function-local import of an alliancekit module is allowed only for another reason, listed in
:data:`LOCAL_FOR_ANOTHER_REASON` with that reason; imports under ``if TYPE_CHECKING:`` are for annotations.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: (file under src/, module imported) -> why it is imported inside a function.
LOCAL_FOR_ANOTHER_REASON = {
    ("alliancekit/testing/__init__.py", "alliancekit.testing.store"): "needs pytest, an optional dependency",
    ("alliancekit/testing/__init__.py", "alliancekit.testing.outbox"): "needs pytest, an optional dependency",
    (
        "alliancekit/testing/__init__.py",
        "alliancekit.testing.requests",
    ): "needs pytest, an optional dependency",
    (
        "alliancekit/testing/__init__.py",
        "alliancekit.testing.measures",
    ): "needs pytest, an optional dependency",
    (
        "alliancekit/testing/__init__.py",
        "alliancekit.testing.notifier",
    ): "needs pytest, an optional dependency",
    ("alliancekit/testing/__init__.py", "alliancekit.testing.rules"): "needs pytest, an optional dependency",
    ("alliancekit/testing/__init__.py", "alliancekit.testing.fhir"): "needs pytest, an optional dependency",
    # a Batch has the facade's own command methods (the same functions): its module imports Practice, and
    # keeping it apart keeps the facade's module the facade alone
    ("alliancekit/practice.py", "alliancekit.batch"): "Batch is built from Practice's methods",
    # the command's entry point puts its Ctrl-C handling in place before the commands and the library load
    ("alliancekit/cli/main.py", "alliancekit.cli.app"): "a Ctrl-C while the command starts stops it cleanly",
    ("alliancekit/cli/main.py", "alliancekit.cli.signals"): "nothing loads before the Ctrl-C handling",
    ("alliancekit/cli/main.py", "alliancekit.cli.progress"): "nothing loads before the Ctrl-C handling",
}


def _ours(module: str) -> bool:
    return module.split(".")[0] == "alliancekit"


def _local_imports(source: str) -> set[str]:
    """The alliancekit modules ``source`` imports inside a function (``if TYPE_CHECKING:`` blocks aside)."""
    found: set[str] = set()

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    walk(other, in_function)
                continue
            if in_function and isinstance(child, ast.ImportFrom) and child.module:
                found.update(m for m in [child.module] if _ours(m))
            if in_function and isinstance(child, ast.Import):
                found.update(a.name for a in child.names if _ours(a.name))
            walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    walk(ast.parse(source), False)
    return found


def _imports_of(path: Path) -> set[str]:
    """Every alliancekit module ``path`` imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
    return {name for name in names if _ours(name)}


@pytest.fixture(scope="module")
def src(source_root: Path) -> Path:
    return source_root / "src"


def test_local_imports_are_found_in_functions_only() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from alliancekit.errors import ValidationError\n"
        "if TYPE_CHECKING:\n"
        "    from alliancekit.practice import Practice\n"
        "def f():\n"
        "    from alliancekit.batch import Batch\n"
        "    if TYPE_CHECKING:\n"
        "        from alliancekit.domain import Actor\n"
        "    def g():\n"
        "        import alliancekit.i18n\n"
        "    from os import path\n"
        "    import alliancekit_postgres\n"
    )
    assert _local_imports(source) == {"alliancekit.batch", "alliancekit.i18n"}


def test_no_function_imports_an_alliancekit_module_but_for_a_listed_reason(src: Path) -> None:
    found = {
        (path.relative_to(src).as_posix(), module)
        for path in sorted((src / "alliancekit").rglob("*.py"))
        for module in _local_imports(path.read_text(encoding="utf-8"))
    }
    assert found == set(LOCAL_FOR_ANOTHER_REASON)


def test_the_error_hierarchy_imports_no_other_alliancekit_module(src: Path) -> None:
    assert _imports_of(src / "alliancekit" / "errors.py") == set()


def test_the_lifecycle_rules_do_not_import_the_security_layer(src: Path) -> None:
    for path in sorted((src / "alliancekit" / "lifecycle").rglob("*.py")):
        assert not {m for m in _imports_of(path) if m.startswith("alliancekit.security")}, path.name
