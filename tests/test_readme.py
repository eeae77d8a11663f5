"""The README's Embedding example runs as written and prints what its comments say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path


def embedding_example(source_root: Path) -> str:
    readme = (source_root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Embedding", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README's Embedding section has no python block"
    return match.group(1)


def test_embedding_example_runs_and_prints_what_it_says(source_root: Path) -> None:
    code = embedding_example(source_root)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md#embedding", "exec"), {"__name__": "readme_example"})  # noqa: S102
    printed = out.getvalue().splitlines()
    promised = [m.strip() for m in re.findall(r"print\(.*\)\s+# (.*)", code)]
    assert printed == promised
