"""The examples in README.md and docs/ are code a reader can copy: every ``python`` block passes
``mypy --strict`` as written, and the runnable ones (the README's Embedding example, and each docs block
marked by a ``% runnable`` line before it) run and print what their comments say."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

_FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)
RUNNABLE = "% runnable"
#: The source tree (tests run from it, against the installed package): its pages are the parameters.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


@attrs.frozen
class Example:
    page: str
    line: int
    code: str
    runnable: bool

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


def test_embedding_example_runs_and_prints_what_it_says(
    source_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run_and_compare(embedding_example(source_root), "README.md#embedding")


RUNNABLE_DOCS = [e for e in examples(SOURCE_ROOT) if e.runnable]


@pytest.mark.parametrize("example", RUNNABLE_DOCS, ids=[e.where for e in RUNNABLE_DOCS])
def test_docs_example_runs_and_prints_what_it_says(
    example: Example, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # examples may write files (a database, an export) where they run
    assert run_and_compare(example.code, example.where), f"{example.where} promises no output to check"


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
