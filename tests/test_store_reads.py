"""No module outside the storage layer reads a store: exports, reports and the CLI go through the facade,
whose guard decides access and the lockbox and audits the read (datasette-style meta-test)."""

from __future__ import annotations

import ast
from pathlib import Path

import alliancekit
from alliancekit.store.protocol import DefinitionStore, RequestStore, Store

ROOT = Path(alliancekit.__file__).parent
PLUGINS = Path(__file__).parents[1] / "plugins"

#: The Store protocol's read methods (and the optional fast path), and those of the request store.
READ_METHODS = frozenset(
    {
        "load_snapshot",
        "load_events",
        "caseload",
        "closed_outcomes",
        "episode_ids",
        "find_command",
        "audit_records",
        "audit_heads",
        "audit_checkpoints",
        "outbox_status",
        "outbox_records",
        "load_meta",
        "measure_definitions",
        "find_request",
        "get_request",
        "find_code",
        "failures",
    }
)

#: Where reading a store is the job: the backends, the one reader, the scan for verification, and the
#: contract suites that check backends. Store plugins are allowed by the same rule (their store module).
ALLOWED = ("store/", "testing/")


def _reads(path: Path, base: Path = ROOT.parent) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        receiver = node.func.value
        # x.store.load_events(...), store.load_events(...), self.store.caseload(...)
        name = receiver.attr if isinstance(receiver, ast.Attribute) else getattr(receiver, "id", "")
        if node.func.attr in READ_METHODS and name in ("store", "_store"):
            found.append(f"{path.relative_to(base)}:{node.lineno} .{node.func.attr}()")
    return found


def test_the_read_methods_listed_are_the_protocols() -> None:
    protocol = {
        name
        for name in [*vars(Store), *vars(DefinitionStore), *vars(RequestStore)]
        if not name.startswith("_")
    }
    assert READ_METHODS - {"closed_outcomes"} <= protocol


def test_no_module_outside_the_storage_layer_reads_a_store() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(ALLOWED):
            continue
        offenders += _reads(path)
    for path in sorted(PLUGINS.glob("*/src/**/*.py")):
        if path.name in ("store.py", "schema.py"):  # a store plugin's backend
            continue
        offenders += _reads(path, PLUGINS)
    assert offenders == []


def test_the_check_finds_a_read_when_there_is_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f(practice):\n    return practice.store.load_events('e')\n", encoding="utf-8")
    assert _reads(sample, tmp_path) == ["sample.py:2 .load_events()"]


#: The consumers of the facade: they hold a Practice, never a store.
CONSUMERS = ("cli/", "fhir/", "feedback/", "demo/", "exports/")


def _backend(module: str) -> bool:
    # The protocol's types hold no store; a practice is opened only through open_practice, and which file
    # an SQLite location names is asked of the facade (practice_file).
    return module.startswith("alliancekit.store.") and not module.endswith(".protocol")


def _store_handles(path: Path, base: Path = ROOT.parent) -> list[str]:
    """Attribute reads of ``.store``, calls of ``stores()``, and imports of a store backend."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("store", "stores"):
            found.append(f"{path.relative_to(base)}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and _backend(node.module or ""):
            found.append(f"{path.relative_to(base)}:{node.lineno} import {node.module}")
    return found


def test_the_store_handle_check_finds_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from alliancekit.store.sqlite import SQLiteStore\nfrom alliancekit.store.protocol import Store\n"
        "def f(practice):\n    return practice.store\n",
        encoding="utf-8",
    )
    assert _store_handles(sample, tmp_path) == [
        "sample.py:1 import alliancekit.store.sqlite",
        "sample.py:4 .store",
    ]


def test_exports_reports_the_cli_and_the_demo_hold_no_store() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).as_posix().startswith(CONSUMERS):
            offenders += _store_handles(path)
    assert offenders == []
