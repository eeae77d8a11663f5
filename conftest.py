"""Suite-wide: every Practice a test makes is closed when the test ends, and Ctrl-C is not ignored.

An unclosed Practice warns (``ResourceWarning``) when it is collected, and the suite turns warnings into
errors. Tests make practices freely, so this closes them for the test; a test that checks the warning
itself is marked ``unclosed_practice`` and is left alone.

A shell without job control starts a background command (``.ci/run &``) with SIGINT ignored, and the
CLI rightly keeps a signal it was started ignoring; the tests that send SIGINT (to the CLI in a child
process, or to themselves) would then see it ignored. The suite takes SIGINT's usual handler back at start,
so each worker, and each child it starts, has the disposition a terminal gives.

No test may leave a file in the source root (where tox and CI start the suite, so a relative path lands
there): an untracked SQLite file with an odd name was once found there after a run. Each test fails that
ends with an entry in the root that was not there when it started.

Under CI (``CI`` set, as CI services and ``.ci/run``'s callers set it) Hypothesis draws the same examples on
every run (``derandomize``), so a run's result depends on the code alone; elsewhere each run draws new ones,
and what they find is a defect to fix, then to keep as an ``@example``.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from alliancekit import Practice

settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _close_every_practice(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if request.node.get_closest_marker("unclosed_practice"):
        yield
        return
    made: list[Practice] = []
    original = Practice.__init__

    def init(self: Practice, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(Practice, "__init__", init)
    yield
    for practice in made:
        with contextlib.suppress(Exception):
            practice.close()


ROOT = Path(__file__).resolve().parent
#: What tools make in the root (their caches), during a run or beside it (tox -p runs the linters at once).
_CACHES = frozenset(
    {".hypothesis", ".pytest_cache", "__pycache__", ".ruff_cache", ".mypy_cache", ".tox", ".benchmarks"}
)


def _root_entries() -> set[str]:
    return {name for name in os.listdir(ROOT) if name not in _CACHES and not name.startswith(".coverage")}


@pytest.fixture(autouse=True)
def _nothing_left_in_the_source_root() -> Iterator[None]:
    before = _root_entries()
    yield
    new = sorted(_root_entries() - before)
    if new:
        # under xdist a test running at the same time on another worker may be the one that made it
        pytest.fail(
            f"the test left {new!r} in {ROOT}: give stores and the CLI paths under tmp_path", pytrace=False
        )
