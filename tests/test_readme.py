"""The examples in README.md and docs/ are code a reader can copy: every ``python`` block passes
``mypy --strict`` as written and runs as it stands, in a temporary directory with the real SQLite store.
Those marked by a ``% runnable`` line before them (and the README's Embedding example) must also print
what their ``print(...)  # comment`` lines say. A block that cannot run as it stands is marked
``% not-runnable: <why>`` and skipped."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import attrs
import pytest

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
RUNNABLE = "% runnable"
#: The marker (a MyST comment, invisible on the page) of a block a reader cannot run as it stands, such as
#: one that reads a file made by the console steps before it or a path in a clone. The reason is required,
#: so a block is never left out without one; every block not so marked runs in the tests below.
NOT_RUNNABLE = "% not-runnable:"
#: The source tree (tests run from it, against the installed package): its pages are the parameters.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


@attrs.frozen
class Example:
    page: str
    line: int
    code: str
    runnable: bool
    skipped: bool = False

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def examples(root: Path) -> list[Example]:
    """Every ``python`` block of README.md and docs/**/*.md, with the line its fence opens on."""
    pages = [root / "README.md", *sorted((root / "docs").rglob("*.md"))]
    found = []
    for page in pages:
        if "_build" in page.parts:
            continue
        text = page.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            found.append(
                Example(
                    str(page.relative_to(root)),
                    text.count("\n", 0, match.start()) + 1,
                    match.group(1),
                    before.strip() == RUNNABLE,
                    before.strip().startswith(NOT_RUNNABLE),
                )
            )
    return found


def embedding_example(source_root: Path) -> str:
    readme = (source_root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Embedding", 1)[1]
    match = _FENCE.search(section)
    assert match, "README's Embedding section has no python block"
    return match.group(1)


def run_and_compare(code: str, where: str) -> list[str]:
    """Run ``code``; what it prints must be what its ``print(...)  # comment`` lines promise."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, where, "exec"), {"__name__": "docs_example"})  # noqa: S102
    promised = [m.strip() for m in re.findall(r"print\(.*\)\s+# (.*)", code)]
    assert out.getvalue().splitlines() == promised
    return promised


@pytest.fixture
def as_a_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugin_host: None) -> None:
    """Where a reader runs an example: an empty directory (examples may write a database or an export
    there), with the example measure plugin installed (the measure-plugin guide scores a K10 through the
    installed plugins) and no other entry-point plugin."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ALLIANCEKIT_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.setenv("ALLIANCEKIT_PLUGINS", "k10")


@pytest.mark.usefixtures("as_a_reader")
def test_embedding_example_runs_and_prints_what_it_says(source_root: Path) -> None:
    run_and_compare(embedding_example(source_root), "README.md#embedding")


RUNNABLE_DOCS = [e for e in examples(SOURCE_ROOT) if e.runnable]


@pytest.mark.parametrize("example", RUNNABLE_DOCS, ids=[e.where for e in RUNNABLE_DOCS])
@pytest.mark.usefixtures("as_a_reader")
def test_docs_example_runs_and_prints_what_it_says(example: Example) -> None:
    assert run_and_compare(example.code, example.where), f"{example.where} promises no output to check"


#: Every other block (README's Embedding example has a test of its own): run, its output not compared.
RUN_ONLY_DOCS = [
    e
    for e in examples(SOURCE_ROOT)
    if not (e.runnable or e.skipped or e.code == embedding_example(SOURCE_ROOT))
]


@pytest.mark.parametrize("example", RUN_ONLY_DOCS, ids=[e.where for e in RUN_ONLY_DOCS])
@pytest.mark.usefixtures("as_a_reader")
def test_docs_example_runs_as_it_stands(example: Example) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(example.code, example.where, "exec"), {"__name__": "docs_example"})  # noqa: S102


#: Blocks that define a contract test class (``class TestMyStore(StoreContract):``): running them as above
#: only defines the class, so they also run under pytest, as a reader's test module. The measure-plugin
#: guide's run in tests/plugins/test_measure_plugin_guide.py, against the plugin built from the guide.
CONTRACT_DOCS = [
    e
    for e in examples(SOURCE_ROOT)
    if re.search(r"^class Test\w+\(", e.code, re.M)
    and not e.skipped
    and e.page != "docs/guides/writing-a-measure-plugin.md"
]


@pytest.mark.parametrize("example", CONTRACT_DOCS, ids=[e.where for e in CONTRACT_DOCS])
def test_docs_contract_tests_pass_under_pytest(example: Example, tmp_path: Path) -> None:
    (tmp_path / "test_example.py").write_text(example.code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-x"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\d+ passed", done.stdout)


def test_examples_left_out_say_why(source_root: Path) -> None:
    """``% not-runnable`` needs its colon and a reason; a misspelt marker would leave a block running."""
    unexplained = [
        f"{page.name}:{number}"
        for page in [source_root / "README.md", *sorted((source_root / "docs").rglob("*.md"))]
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if line.startswith("% not-runnable")
        and not (line.startswith(NOT_RUNNABLE) and line.removeprefix(NOT_RUNNABLE).strip())
    ]
    assert unexplained == []


def test_the_guides_mark_their_runnable_examples(source_root: Path) -> None:
    marked = {e.page for e in examples(source_root) if e.runnable}
    assert {"docs/guides/embedding.md", "docs/guides/deploying.md", "docs/guides/fhir.md"} <= marked


def test_every_python_example_passes_mypy_strict(source_root: Path, tmp_path: Path) -> None:
    """Each block is its own module, checked as a reader would check a copy of it."""
    where = {}
    for i, example in enumerate(examples(source_root)):
        module = tmp_path / f"example_{i}.py"
        module.write_text(example.code, encoding="utf-8")
        where[module.name] = example
    assert len(where) >= 10
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--no-error-summary",
        "--cache-dir",
        str(tmp_path / ".c"),
    ]
    done = subprocess.run(
        [*command, *sorted(where)], cwd=tmp_path, capture_output=True, text=True, check=False
    )

    def located(m: re.Match[str]) -> str:
        return f"{where[m[1]].page}:{where[m[1]].line + int(m[2])}"

    errors = [re.sub(r"^(example_\d+\.py):(\d+)", located, line) for line in done.stdout.splitlines()]
    assert (errors, done.returncode) == ([], 0), done.stderr


def _has_reference_text(module: ModuleType, name: str) -> bool:
    """What autodoc can show for ``module.name``: a docstring of its own, or a ``#:`` comment on the line
    before the assignment that makes it (a constant, a type alias) in the module's source or its package's."""
    obj = getattr(module, name)
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        return bool(obj.__doc__)
    source = Path(inspect.getfile(module))
    files = sorted(source.parent.rglob("*.py")) if source.name == "__init__.py" else [source]
    comment = re.compile(rf"^#:.*\n{re.escape(name)}\s*[:=]", re.M)
    return any(comment.search(file.read_text(encoding="utf-8")) for file in files)


def test_every_name_the_examples_import_has_reference_text(source_root: Path) -> None:
    """A reader looks up what an example imports; autodoc leaves out a class or alias without a docstring
    (the notifier guide's ``NotifierUnderTest`` and the hooks' ``*Registrar`` types were missing)."""
    automodule = re.compile(r"^\.\. automodule:: (\S+)\n((?:   :.*\n)*)", re.M)
    pages = (source_root / "docs" / "reference" / "api").glob("*.md")
    undoc_members_shown = {
        module
        for page in pages
        for module, options in automodule.findall(page.read_text(encoding="utf-8"))
        if ":undoc-members:" in options
    }
    missing = set()
    for example in examples(source_root):
        for node in ast.walk(ast.parse(example.code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("alliancekit"):
                module = importlib.import_module(str(node.module))
                missing |= {
                    f"{node.module}.{alias.name}"
                    for alias in node.names
                    if not _has_reference_text(module, alias.name)
                    and getattr(getattr(module, alias.name), "__module__", None) not in undoc_members_shown
                }
    assert sorted(missing) == []
