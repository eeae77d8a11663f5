"""Run a command as a user a directory's mode binds: what turns a directory that is not writable into a
refusal for root too.

Root keeps its uid (so it still reads the files it owns: the package, in a tox environment only root may
enter) but loses the capabilities that override file modes (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``):
dropped from the bounding and inheritable sets, the command started cannot have them. Running as another
user instead (``nobody``) failed wherever the interpreter's packages are root's alone. Any other user is
bound by modes already and needs nothing."""

from __future__ import annotations

import os
import shutil

import pytest

_OVERRIDES = "-dac_override,-dac_read_search"


def bound_by_modes() -> list[str]:
    """The prefix that runs a command bound by file modes (nothing for a user who is not root)."""
    return (
        [] if os.geteuid() != 0 else ["setpriv", f"--bounding-set={_OVERRIDES}", f"--inh-caps={_OVERRIDES}"]
    )


#: Skips a test where root cannot be bound by modes (no ``setpriv``), or modes mean nothing (not POSIX).
needs_modes = pytest.mark.skipif(
    os.name != "posix" or (os.geteuid() == 0 and shutil.which("setpriv") is None),
    reason="needs POSIX file modes, and setpriv to bind root by them",
)
