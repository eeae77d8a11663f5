"""Suite-wide: every Practice a test makes is closed when the test ends.

An unclosed Practice warns (``ResourceWarning``) when it is collected, and the suite turns warnings into
errors. Tests make practices freely, so this closes them for the test; a test that checks the warning
itself is marked ``unclosed_practice`` and is left alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from alliancekit import Practice


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
