"""The one check of how a plugin's callable can be called (a store opener, a channel's deliver): it
refuses only what the signature is known to refuse."""

from __future__ import annotations

from typing import Any

from alliancekit._callables import refuses


def opener(location: str, *, read_only: bool = False) -> None: ...


def deliver(message: object) -> None: ...


def anything(*args: Any, **kwargs: Any) -> None: ...


def test_a_signature_that_binds_is_not_refused() -> None:
    assert not refuses(opener, "location", read_only=False)
    assert not refuses(deliver, None)
    assert not refuses(anything, "location", read_only=False)


def test_a_signature_that_does_not_bind_is_refused() -> None:
    assert refuses(opener, "location", "read-only")  # read_only is keyword-only
    assert refuses(deliver, None, None)
    assert refuses(deliver)
    assert refuses(lambda: None, None)


def test_a_callable_without_a_signature_python_can_tell_is_taken_on_trust() -> None:
    assert not refuses(max, None)  # max has no signature: not refused, though it would fail
