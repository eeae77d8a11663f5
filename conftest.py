"""Suite-wide: every Practice a test makes is closed when the test ends, and Ctrl-C is not ignored.

An unclosed Practice warns (``ResourceWarning``) when it is collected, and the suite turns warnings into
errors. Tests make practices freely, so this closes them for the test; a test that checks the warning
itself is marked ``unclosed_practice`` and is left alone.

A shell without job control starts a background command (``.ci/run &``) with SIGINT ignored, and the
CLI rightly keeps a signal it was started ignoring; the tests that send SIGINT (to the CLI in a child
process, or to themselves) would then see it ignored. The suite takes SIGINT's usual handler back at start,
so each worker, and each child it starts, has the disposition a terminal gives.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from alliancekit import Practice

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
