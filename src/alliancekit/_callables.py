"""Whether a callable a plugin registered can be called the way the library will call it, told when it
registers rather than as a bare ``TypeError`` from every later call. A leaf module (the standard library
only), so that the store registry and the notifier registry, which the plugin host imports, can share it."""

from __future__ import annotations

import inspect
from collections.abc import Callable


def refuses(function: Callable[..., object], *args: object, **kwargs: object) -> bool:
    """Whether ``function``'s signature is known to refuse ``function(*args, **kwargs)``.

    ``False`` when it binds them, and when Python cannot tell its signature (a builtin, a C extension):
    such a callable is taken on trust. The arguments are only bound, never passed.
    """
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(*args, **kwargs)
    except TypeError:
        return True
    return False
