"""Meta-tests: the docs say what the code does, and every hook is documented and tested."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import alliancekit.testing
from alliancekit.lifecycle.rules import transition_table_markdown
from alliancekit.plugins import hookspecs

HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("alliancekit_"))


def test_lifecycle_table_in_docs_matches_the_code(source_root: Path) -> None:
    page = (source_root / "docs" / "reference" / "lifecycle.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- transitions:start -->\n(.*?)<!-- transitions:end -->", page, re.S)
    assert match, "docs/reference/lifecycle.md lost its transitions markers"
    assert match.group(1) == transition_table_markdown(), (
        "the transition table in the docs is out of date: run `python -m alliancekit.lifecycle.rules` "
        "from the repository root"
    )


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_section_in_the_hook_reference(source_root: Path, hook: str) -> None:
    reference = (source_root / "docs" / "reference" / "hooks.md").read_text(encoding="utf-8")
    assert f"({hook})=" in reference, f"{hook} has no labelled section in docs/reference/hooks.md"
    assert f"alliancekit.plugins.hookspecs.{hook}" in reference


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test_of_its_own(source_root: Path, hook: str) -> None:
    """A hook is tested when some test under tests/ (other than this file) defines a test named after it."""
    pattern = re.compile(rf"def test_{hook}\w*\(")
    for path in (source_root / "tests").rglob("test_*.py"):
        if path.name != Path(__file__).name and pattern.search(path.read_text(encoding="utf-8")):
            return
    pytest.fail(f"no test function named test_{hook}... under tests/")


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_parameters_and_return(hook: str) -> None:
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert ":return:" in doc
    assert ":param" in doc or "no parameters" in doc.lower()


# -- the API reference: one page per public module, every exported name documented ----------------------

#: Modules documented elsewhere or not at all: the guarded path (internal), the CLI (its own reference
#: page, generated from the parser), the caseload projection the store writes.
INTERNAL_MODULES = {"core", "cli", "projections", "schemas", "__main__", "_version", "_logging", "_callables"}
_AUTOMODULE = re.compile(r"^\.\. automodule:: (\S+)\n((?:   :.*\n)*)", re.M)
_DATA = re.compile(r"^\.\. py:data:: (\S+)$", re.M)


def _public_modules() -> list[str]:
    import pkgutil

    import alliancekit

    return sorted(
        m.name for m in pkgutil.iter_modules(alliancekit.__path__) if m.name not in INTERNAL_MODULES
    )


def _reference(source_root: Path) -> dict[str, str]:
    folder = source_root / "docs" / "reference" / "api"
    return {page.stem: page.read_text(encoding="utf-8") for page in sorted(folder.glob("*.md"))}


def test_every_public_module_has_a_reference_page_in_the_toctree(source_root: Path) -> None:
    pages = _reference(source_root)
    index = (source_root / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    for module in ["alliancekit", *_public_modules()]:
        assert module in pages, f"no docs/reference/api/{module}.md"
        name = module if module == "alliancekit" else f"alliancekit.{module}"
        assert f".. automodule:: {name}\n" in pages[module], f"{module}.md does not document {name}"
        assert f"api/{module}\n" in index, f"api/{module} is not in the toctree of docs/reference/api.md"


def test_every_name_in_all_is_documented_in_the_reference(source_root: Path) -> None:
    import importlib

    import alliancekit

    # (module, its name, the members listed (None: all), whether members without a docstring are included)
    documented: list[tuple[object, str, set[str] | None, bool]] = []
    data = set()
    for text in _reference(source_root).values():
        data |= set(_DATA.findall(text))
        for module_name, options in _AUTOMODULE.findall(text):
            members = re.search(r":members:(.*)", options)
            if members is None:
                continue
            listed = {m.strip() for m in members.group(1).split(",") if m.strip()} or None
            undocumented_too = ":undoc-members:" in options
            documented.append((importlib.import_module(module_name), module_name, listed, undocumented_too))
    missing = []
    for name in alliancekit.__all__:
        obj = getattr(alliancekit, name)
        if f"alliancekit.{name}" in data:
            continue
        found = any(
            getattr(module, name, None) is obj
            and (
                (listed is not None and name in listed)
                or (
                    listed is None
                    and getattr(obj, "__module__", None) == module_name
                    and (undocumented_too or obj.__doc__)
                )
            )
            for module, module_name, listed, undocumented_too in documented
        )
        if not found:
            missing.append(name)
    assert missing == []


def test_every_error_class_is_in_the_errors_reference() -> None:
    """``automodule:: alliancekit.errors`` documents what ``__all__`` lists: an error missing from it is
    missing from the reference, though hosts catch it (the embedding guide maps ``IdempotencyKeyReused``)."""
    import alliancekit.errors as errors

    defined = {
        name
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    }
    assert sorted(defined - set(errors.__all__)) == []


def test_every_error_alliancekit_raises_is_defined_in_alliancekit_errors() -> None:
    """A host catches by importing from ``alliancekit.errors`` (the embedding guide's "Errors"):
    ``DecryptionError``, which ``Practice.audit_entries`` raises, was defined in
    ``alliancekit.security.encryption`` and could not be imported from there."""
    import importlib
    import pkgutil

    import alliancekit
    import alliancekit.errors as errors

    elsewhere = set()
    for found in pkgutil.walk_packages(alliancekit.__path__, "alliancekit."):
        if found.name == errors.__name__ or found.name.split(".")[1] in INTERNAL_MODULES - {"core"}:
            continue
        module = importlib.import_module(found.name)
        elsewhere |= {
            f"{found.name}.{name}"
            for name, obj in vars(module).items()
            if isinstance(obj, type)
            and issubclass(obj, errors.AlliancekitError)
            and obj.__module__ == found.name
        }
    assert sorted(elsewhere) == []


def test_every_contract_suite_is_in_the_plugin_guide(source_root: Path) -> None:
    """A plugin author learns which suites to pass from the guide's "Testing a plugin": a store plugin's
    author was not told of ``RequestStoreContract``, which every store must pass too."""
    guide = (source_root / "docs" / "guides" / "plugins.md").read_text(encoding="utf-8")
    section = guide.split("## Testing a plugin", 1)[1].split("\n## ", 1)[0]
    missing = [
        name
        for name in alliancekit.testing.__all__
        if name.endswith("Contract")
        and f"`{getattr(alliancekit.testing, name).__module__}.{name}`" not in section
    ]
    assert missing == []
